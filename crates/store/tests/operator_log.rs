//! What an operator sees and does, on either backend: the message log of
//! both directions (filters, pages, details), the pending items and the
//! actions on them with their audit, dead letters, the overview, the
//! retention purge and the retry counts.

mod common;

use std::time::Duration;

use chrono::{SecondsFormat, TimeDelta, Utc};
use eai_protocol::{Code, Detail, Envelope};
use eai_store::dead_letters::{DeadLetterFilter, DeadLetterIn};
use eai_store::log::{Acted, Direction, ItemId, LogFilter, Status};
use eai_store::testing::{TestBackend, TestDatabase};
use serde_json::json;

use common::{identity, inbound, reserve, uuid_of};

/// A time `minutes` ago as both backends read it in SQL text.
fn ago(minutes: i64) -> String {
    (Utc::now() - TimeDelta::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Answers a fresh ItemReserve `internal_id` with an error `code`; returns
/// its UUID and its log id.
async fn refused(db: &TestDatabase, internal_id: &str, code: Code) -> (String, ItemId) {
    let envelope = reserve(internal_id, json!([]));
    let bytes = serde_json::to_vec(&envelope).expect("JSON");
    let parsed = Envelope::parse(&bytes).expect("envelope");
    let detail = Detail::error(code, format!("{internal_id} cannot be processed"));
    let answer = db
        .store
        .refuse(&identity(), &inbound(&parsed, &bytes, 0), &detail)
        .await
        .expect("refused");
    assert!(!answer.ok);
    let uuid = uuid_of(&envelope);
    let id: i64 = sqlx::query_scalar("SELECT id FROM inbox WHERE uuid = $1")
        .bind(&uuid)
        .fetch_one(&db.any().await)
        .await
        .expect("inbox row");
    (uuid, ItemId::Inbound(id))
}

/// Destination `name` (blocked or not) and one outbound message to it per
/// `(document, status, attempts, minutes ago)`; returns their log ids.
async fn outbound(
    db: &TestDatabase,
    name: &str,
    blocked: bool,
    messages: &[(&str, &str, i32, i64)],
) -> Vec<ItemId> {
    let any = db.any().await;
    sqlx::query(&format!(
        "INSERT INTO destinations (name, company, branch, \"transaction\", kind, exchange,
                                   max_attempts, blocked, blocked_reason)
         VALUES ($1, 'T1', 'D MG 01', 'StockLevel', 'amqp', 'erp', 4, {blocked}, $2)"
    ))
    .bind(name)
    .bind(blocked.then_some("the ERP is down"))
    .execute(&any)
    .await
    .expect("destination");
    let mut ids = Vec::new();
    for (document, status, attempts, minutes) in messages {
        let id: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO outbox (uuid, kind, \"transaction\", exchange, routing_key, body, status,
                                 attempts, destination_id, document_key, last_error, created_at)
             SELECT $1, 'message', 'StockLevel', 'erp', 'stock', $2, $3, $4, id, $5,
                    CASE WHEN $3 = 'failed' THEN 'refused by the ERP' END, '{}'
               FROM destinations WHERE name = $6
             RETURNING id",
            ago(*minutes)
        ))
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(json!({"Document": document}).to_string())
        .bind(*status)
        .bind(*attempts)
        .bind(*document)
        .bind(name)
        .fetch_one(&any)
        .await
        .expect("outbound message");
        ids.push(ItemId::Outbound(id));
    }
    ids
}

fn dead_letter<'a>(id: &'a str, uuid: Option<&'a str>, code: &'a str) -> DeadLetterIn<'a> {
    DeadLetterIn {
        dead_letter_id: Some(id),
        uuid,
        code,
        reason: "gave up",
        exchange: "eai.inbound",
        routing_key: "ItemReserve",
        correlation_id: uuid,
        message_id: None,
        reply_to: None,
        body: br#"{"Header": {"Transaction": "ItemReserve"}}"#,
    }
}

#[tokio::test]
async fn the_log_lists_both_directions_newest_first_filters_pages_and_details() {
    let db = TestDatabase::create().await;
    let (first_uuid, first) = refused(&db, "D-1", Code::ProductNotFound).await;
    let (_, second) = refused(&db, "D-2", Code::BranchNotFound).await;
    let out = outbound(
        &db,
        "erp",
        false,
        &[("DOC-A", "failed", 2, 30), ("DOC-B", "done", 1, 60)],
    )
    .await;

    let all = db
        .store
        .messages(&LogFilter {
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("log");
    let ids: Vec<ItemId> = all.items.iter().map(|entry| entry.id).collect();
    assert_eq!(ids, vec![second, first, out[0], out[1]], "newest first");
    assert_eq!(all.next_cursor, "", "one page holds them all");
    let entry = &all.items[1];
    assert_eq!(
        (entry.direction, entry.status, entry.uuid.as_str()),
        (Direction::In, Status::Error, first_uuid.as_str())
    );
    assert_eq!(entry.error_codes, vec!["PRODUCT_NOT_FOUND"]);
    assert_eq!(entry.internal_id.as_deref(), Some("D-1"));
    let failed = &all.items[2];
    assert_eq!(
        (
            failed.status,
            failed.attempts,
            failed.destination.as_deref()
        ),
        (Status::Failed, 2, Some("erp"))
    );
    assert_eq!(failed.last_error.as_deref(), Some("refused by the ERP"));

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .store
            .messages(&LogFilter {
                limit: 3,
                cursor,
                ..LogFilter::default()
            })
            .await
            .expect("page");
        paged.extend(page.items.iter().map(|entry| entry.id));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = Some(page.next_cursor.parse().expect("cursor"));
    }
    assert_eq!(paged, ids, "pages neither skip nor repeat");

    let only = |filter: LogFilter| {
        let store = db.store.clone();
        async move {
            let page = store
                .messages(&LogFilter {
                    limit: 10,
                    ..filter
                })
                .await
                .expect("filtered");
            page.items.iter().map(|entry| entry.id).collect::<Vec<_>>()
        }
    };
    let cases = [
        (
            LogFilter {
                direction: Some(Direction::Out),
                ..LogFilter::default()
            },
            vec![out[0], out[1]],
        ),
        (
            LogFilter {
                status: Some(Status::Done),
                ..LogFilter::default()
            },
            vec![out[1]],
        ),
        (
            LogFilter {
                error_code: Some(Code::BranchNotFound),
                ..LogFilter::default()
            },
            vec![second],
        ),
        (
            LogFilter {
                document: Some("D-1".into()),
                ..LogFilter::default()
            },
            vec![first],
        ),
        (
            LogFilter {
                document: Some("DOC-B".into()),
                ..LogFilter::default()
            },
            vec![out[1]],
        ),
        (
            LogFilter {
                destination: Some("erp".into()),
                ..LogFilter::default()
            },
            vec![out[0], out[1]],
        ),
        (
            LogFilter {
                transaction: Some("ItemReserve".into()),
                company: Some("T1".into()),
                ..LogFilter::default()
            },
            vec![second, first],
        ),
        (
            LogFilter {
                from: Some(Utc::now() - TimeDelta::minutes(45)),
                to: Some(Utc::now() - TimeDelta::minutes(5)),
                ..LogFilter::default()
            },
            vec![out[0]],
        ),
        (
            LogFilter {
                uuid: Some(first_uuid.clone()),
                ..LogFilter::default()
            },
            vec![first],
        ),
    ];
    for (filter, expected) in cases {
        let shown = format!("{filter:?}");
        assert_eq!(only(filter).await, expected, "{shown}");
    }

    let detail = db
        .store
        .message_detail(first)
        .await
        .expect("detail")
        .expect("found");
    assert_eq!(detail.body["Content"]["InternalId"], "D-1");
    let receipt = detail.receipt.expect("its receipt");
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PRODUCT_NOT_FOUND"
    );
    assert_eq!(detail.tries, Some(Default::default()));
    assert!(detail.sale.is_none());
    let detail = db
        .store
        .message_detail(out[0])
        .await
        .expect("detail")
        .expect("found");
    assert_eq!(detail.body, json!({"Document": "DOC-A"}));
    assert!(detail.receipt.is_none() && detail.tries.is_none());
    assert_eq!(
        db.store
            .message_detail(ItemId::Outbound(999_999))
            .await
            .expect("detail"),
        None
    );
}

#[tokio::test]
async fn pending_items_leave_the_list_when_acted_on_and_every_action_is_audited() {
    let db = TestDatabase::create().await;
    let (_, error) = refused(&db, "D-1", Code::ProductNotFound).await;
    let out = outbound(
        &db,
        "erp",
        false,
        &[
            ("DOC-A", "failed", 4, 30),
            ("DOC-B", "waiting", 3, 40),
            ("DOC-C", "done", 1, 50),
        ],
    )
    .await;

    let pending = db
        .store
        .pending(&LogFilter {
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("pending");
    let ids: Vec<ItemId> = pending.items.iter().map(|item| item.id).collect();
    assert_eq!(
        ids,
        vec![error, out[0]],
        "what needs a person, newest first"
    );
    let item = &pending.items[0];
    assert_eq!((item.kind, item.direction), ("error", Direction::In));
    assert_eq!(item.codes, vec!["PRODUCT_NOT_FOUND"]);
    assert_eq!(item.reason, "D-1 cannot be processed", "from its receipt");
    assert_eq!(item.actions, vec!["retry", "discard"]);
    assert_eq!(pending.items[1].reason, "refused by the ERP");
    let outbound_only = db
        .store
        .pending(&LogFilter {
            direction: Some(Direction::Out),
            limit: 1,
            ..LogFilter::default()
        })
        .await
        .expect("pending");
    assert_eq!(outbound_only.items[0].id, out[0]);
    assert_eq!(outbound_only.next_cursor, "");

    assert_eq!(
        db.store
            .discard(error, "ana", "known")
            .await
            .expect("discard"),
        Acted::Done
    );
    assert!(matches!(
        db.store
            .discard(error, "ana", "again")
            .await
            .expect("discard"),
        Acted::Refused(_)
    ));
    assert_eq!(
        db.store
            .discard(ItemId::Inbound(999_999), "ana", "none")
            .await
            .expect("discard"),
        Acted::NotFound
    );
    let entry = db
        .store
        .message_detail(error)
        .await
        .expect("detail")
        .expect("found");
    let discarded = entry.entry.discarded.expect("discarded");
    assert_eq!(
        (discarded.by.as_str(), discarded.note.as_str()),
        ("ana", "known")
    );
    let actions = entry.actions;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(
        (
            actions[0].action.as_str(),
            actions[0].actor.as_str(),
            actions[0].note.as_str()
        ),
        ("discard", "ana", "known")
    );

    assert_eq!(
        db.store.hold(out[1], "bia", "wait").await.expect("hold"),
        Acted::Done
    );
    let status = |id: ItemId| {
        let store = db.store.clone();
        async move {
            let detail = store
                .message_detail(id)
                .await
                .expect("detail")
                .expect("found");
            (detail.entry.status, detail.entry.attempts)
        }
    };
    assert_eq!(status(out[1]).await, (Status::Blocked, 3));
    let held = db
        .store
        .pending(&LogFilter {
            status: Some(Status::Blocked),
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("pending");
    assert_eq!(held.items.len(), 1);
    assert_eq!(held.items[0].actions, vec!["unblock", "retry", "discard"]);
    assert!(matches!(
        db.store.hold(out[2], "bia", "done").await.expect("hold"),
        Acted::Refused(_)
    ));
    assert!(matches!(
        db.store.hold(error, "bia", "in").await.expect("hold"),
        Acted::Refused(_)
    ));
    assert_eq!(
        db.store
            .release(out[1], "bia", "go")
            .await
            .expect("release"),
        Acted::Done
    );
    assert_eq!(
        status(out[1]).await,
        (Status::Waiting, 3),
        "below the 4 allowed"
    );
    assert_eq!(
        db.store
            .retry_outbound(out[0], "caio", "again")
            .await
            .expect("retry"),
        Acted::Done
    );
    assert_eq!(status(out[0]).await, (Status::Waiting, 0), "a fresh budget");
    assert!(matches!(
        db.store
            .retry_outbound(out[2], "caio", "done")
            .await
            .expect("retry"),
        Acted::Refused(_)
    ));
    let audit = db.store.actions(out[1]).await.expect("actions");
    let done: Vec<(&str, &str)> = audit
        .iter()
        .map(|action| (action.action.as_str(), action.actor.as_str()))
        .collect();
    assert_eq!(done, vec![("block", "bia"), ("unblock", "bia")]);
    assert!(
        db.store
            .pending(&LogFilter {
                limit: 10,
                ..LogFilter::default()
            })
            .await
            .expect("pending")
            .items
            .is_empty(),
        "nothing left for a person"
    );
}

#[tokio::test]
async fn reprocessing_marks_the_envelope_retrying_and_settles_its_dead_letters() {
    let db = TestDatabase::create().await;
    let (uuid, id) = refused(&db, "D-1", Code::ProcessingFailed).await;
    db.store
        .record_failure(&uuid, "a lock held elsewhere")
        .await
        .expect("failure");
    db.store
        .record_dead_letter(&dead_letter("dl-1", Some(&uuid), "PROCESSING_FAILED"))
        .await
        .expect("dead letter");
    let entry = |store: eai_store::Store| async move {
        store
            .message_detail(id)
            .await
            .expect("detail")
            .expect("found")
    };
    let before = entry(db.store.clone()).await;
    assert_eq!(before.entry.status, Status::Dead);
    assert_eq!(before.entry.attempts, 2, "its try and its failure");
    let pending = db
        .store
        .pending(&LogFilter {
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("pending");
    assert_eq!(pending.items.len(), 1, "the dead letter stands for it");
    assert_eq!(pending.items[0].kind, "dead_letter");
    assert_eq!(pending.items[0].related, Some(id));

    let mut republished = Vec::new();
    let acted = db
        .store
        .reprocess(id, "ana", "mapped", |again| {
            republished.push((again.transaction, again.reply_exchange));
            async { Ok(()) }
        })
        .await
        .expect("reprocess");
    assert_eq!(acted, Acted::Done);
    match db.backend() {
        TestBackend::Postgres => assert_eq!(
            republished,
            vec![("ItemReserve".to_owned(), "eai.receipts".to_owned())]
        ),
        TestBackend::Sqlite => {
            assert!(republished.is_empty(), "SQLite has no broker to publish to");
            assert_eq!(
                queued(&db).await,
                vec![("ItemReserve".to_owned(), None)],
                "queued in the database, in the retry's transaction"
            );
        }
    }
    let after = entry(db.store.clone()).await;
    assert_eq!(after.entry.status, Status::Retrying);
    assert_eq!(
        after.entry.attempts, 3,
        "the try, its failure and the retry"
    );
    assert_eq!(after.tries, Some(Default::default()), "a fresh budget");
    assert_eq!(after.actions[0].action, "retry");
    let open = db
        .store
        .dead_letters(&DeadLetterFilter {
            open_only: true,
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .expect("dead letters");
    assert!(open.items.is_empty(), "the retry answers its dead letter");
    assert!(matches!(
        db.store
            .reprocess(id, "ana", "twice", |_| async { Ok(()) })
            .await
            .expect("reprocess"),
        Acted::Refused(_)
    ));
    // A broker that refuses the envelope: only PostgreSQL runs with one.
    if db.backend() == TestBackend::Postgres {
        let failed_publish = refused(&db, "D-2", Code::ProductNotFound).await.1;
        assert!(matches!(
            db.store
                .reprocess(failed_publish, "ana", "x", |_| async {
                    Err("no broker".to_owned())
                })
                .await
                .expect("reprocess"),
            Acted::Unavailable(_)
        ));
        assert_eq!(
            entry_status(&db, failed_publish).await,
            Status::Error,
            "nothing changed"
        );
    }
}

async fn entry_status(db: &TestDatabase, id: ItemId) -> Status {
    db.store
        .message_detail(id)
        .await
        .expect("detail")
        .expect("found")
        .entry
        .status
}

#[tokio::test]
async fn dead_letters_are_recorded_once_listed_replayed_and_discarded() {
    let db = TestDatabase::create().await;
    for (name, code) in [
        ("dl-1", "PROCESSING_FAILED"),
        ("dl-2", "REDELIVERY_LIMIT"),
        ("dl-3", "RECEIPT_UNDELIVERABLE"),
        ("dl-1", "PROCESSING_FAILED"),
    ] {
        db.store
            .record_dead_letter(&dead_letter(name, Some(name), code))
            .await
            .expect("recorded");
    }
    let all = db
        .store
        .dead_letters(&DeadLetterFilter {
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(all.items.len(), 3, "dl-1 once however often it came");
    let uuids: Vec<Option<&str>> = all.items.iter().map(|dead| dead.uuid.as_deref()).collect();
    assert_eq!(
        uuids,
        vec![Some("dl-3"), Some("dl-2"), Some("dl-1")],
        "newest first"
    );
    let first_page = db
        .store
        .dead_letters(&DeadLetterFilter {
            limit: 2,
            ..DeadLetterFilter::default()
        })
        .await
        .expect("page");
    let second_page = db
        .store
        .dead_letters(&DeadLetterFilter {
            limit: 2,
            cursor: Some(first_page.next_cursor.parse().expect("cursor")),
            ..DeadLetterFilter::default()
        })
        .await
        .expect("page");
    assert_eq!(second_page.items.len(), 1);
    assert_eq!(second_page.items[0].id, all.items[2].id);
    assert_eq!(second_page.next_cursor, "");
    let coded = db
        .store
        .dead_letters(&DeadLetterFilter {
            code: Some("REDELIVERY_LIMIT".into()),
            from: Some(Utc::now() - TimeDelta::hours(1)),
            to: Some(Utc::now() + TimeDelta::hours(1)),
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(coded.items.len(), 1);
    let undeliverable = db
        .store
        .pending(&LogFilter {
            direction: Some(Direction::Out),
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("pending");
    assert_eq!(undeliverable.items.len(), 1);
    assert_eq!(undeliverable.items[0].codes, vec!["RECEIPT_UNDELIVERABLE"]);
    assert_eq!(undeliverable.items[0].actions, vec!["replay", "discard"]);

    let number = all.items[2].id.number();
    let one = db
        .store
        .dead_letter(number)
        .await
        .expect("one")
        .expect("found");
    assert_eq!(
        one.body,
        Some(json!({"Header": {"Transaction": "ItemReserve"}}))
    );
    let mut sent = Vec::new();
    let acted = db
        .store
        .replay_dead_letter(number, "ana", true, |replay| {
            sent.push((replay.exchange, replay.routing_key, replay.correlation_id));
            async { Ok(()) }
        })
        .await
        .expect("replay");
    assert_eq!(acted, Acted::Done);
    match db.backend() {
        TestBackend::Postgres => assert_eq!(
            sent,
            vec![(
                "eai.inbound".to_owned(),
                "ItemReserve".to_owned(),
                Some("dl-1".to_owned())
            )]
        ),
        TestBackend::Sqlite => {
            assert!(sent.is_empty(), "SQLite has no broker to publish to");
            assert_eq!(
                queued(&db).await,
                vec![("ItemReserve".to_owned(), Some("dl-1".to_owned()))],
                "queued in the database, in the replay's transaction"
            );
        }
    }
    let replayed = db
        .store
        .dead_letter(number)
        .await
        .expect("one")
        .expect("found");
    assert_eq!(replayed.replays, 1);
    assert!(replayed.replayed_at.is_some());
    assert!(matches!(
        db.store
            .replay_dead_letter(number, "ana", true, |_| async { Ok(()) })
            .await
            .expect("replay"),
        Acted::Refused(_)
    ));
    assert_eq!(
        db.store
            .replay_dead_letter(number, "ana", false, |_| async { Ok(()) })
            .await
            .expect("replay"),
        Acted::Done,
        "one by one, again"
    );
    let discarded = all.items[1].id;
    assert_eq!(
        db.store
            .discard(discarded, "bia", "known")
            .await
            .expect("discard"),
        Acted::Done
    );
    assert!(matches!(
        db.store
            .replay_dead_letter(discarded.number(), "bia", false, |_| async { Ok(()) })
            .await
            .expect("replay"),
        Acted::Refused(_)
    ));
    let open = db
        .store
        .dead_letters(&DeadLetterFilter {
            open_only: true,
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .expect("list");
    let open: Vec<ItemId> = open.items.iter().map(|dead| dead.id).collect();
    assert_eq!(open, vec![all.items[0].id]);
    let audit = db
        .store
        .actions(ItemId::DeadLetter(number))
        .await
        .expect("audit");
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|action| action.action == "replay"));
    assert_eq!(
        db.store
            .replay_dead_letter(999_999, "ana", false, |_| async { Ok(()) })
            .await
            .expect("replay"),
        Acted::NotFound
    );
}

#[tokio::test]
async fn the_overview_counts_the_last_hour_and_day_the_backlog_and_what_is_pending() {
    let db = TestDatabase::create().await;
    refused(&db, "D-1", Code::ProductNotFound).await;
    refused(&db, "D-2", Code::ProductNotFound).await;
    let (uuid, id) = refused(&db, "D-3", Code::ProductNotFound).await;
    let any = db.any().await;
    for (minutes, row) in [
        (180, id),
        (60 * 30, refused(&db, "D-4", Code::ProductNotFound).await.1),
    ] {
        sqlx::query(&format!(
            "UPDATE inbox SET received_at = '{}' WHERE id = $1",
            ago(minutes)
        ))
        .bind(row.number())
        .execute(&any)
        .await
        .expect("older");
    }
    outbound(
        &db,
        "erp",
        true,
        &[("DOC-A", "waiting", 0, 90), ("DOC-B", "done", 1, 10)],
    )
    .await;
    db.store
        .record_dead_letter(&dead_letter("dl-1", Some(&uuid), "PROCESSING_FAILED"))
        .await
        .expect("dead letter");

    let overview = db.store.overview().await.expect("overview");
    assert_eq!(overview.envelopes.len(), 1, "{:?}", overview.envelopes);
    let counted = &overview.envelopes[0];
    assert_eq!(
        (counted.transaction.as_str(), counted.status.as_str()),
        ("ItemReserve", "error")
    );
    assert_eq!(
        (counted.last_hour, counted.last_day),
        (2, 3),
        "D-4 is older than a day"
    );
    assert_eq!(
        overview.backlog, 1,
        "the waiting message; receipts were delivered"
    );
    let oldest = overview.oldest.expect("oldest");
    let age = Utc::now() - oldest;
    assert!(
        age > TimeDelta::minutes(89) && age < TimeDelta::minutes(91),
        "{oldest}"
    );
    assert_eq!(overview.blocked_destinations, vec!["erp"]);
    assert_eq!(
        overview.inbound_problems, 5,
        "four errors and a dead letter"
    );
}

#[tokio::test]
async fn the_purge_goes_past_the_window_only_and_keeps_what_still_needs_someone() {
    let db = TestDatabase::create().await;
    let any = db.any().await;
    let (_, kept) = refused(&db, "D-NEW", Code::ProductNotFound).await;
    let (old_uuid, old) = refused(&db, "D-OLD", Code::ProductNotFound).await;
    let old_day = ago(60 * 24 * 40);
    sqlx::query(&format!(
        "UPDATE inbox SET received_at = '{old_day}' WHERE id = $1"
    ))
    .bind(old.number())
    .execute(&any)
    .await
    .expect("old envelope");
    let messages = outbound(
        &db,
        "erp",
        false,
        &[
            ("DOC-A", "done", 1, 60 * 24 * 40),
            ("DOC-B", "failed", 4, 60 * 24 * 40),
            ("DOC-C", "done", 1, 10),
        ],
    )
    .await;
    sqlx::query(&format!(
        "INSERT INTO outbox_attempts (outbox_id, attempt, sender, started_at, status)
         VALUES ($1, 1, 'worker-1', '{old_day}', 'done')"
    ))
    .bind(messages[0].number())
    .execute(&any)
    .await
    .expect("attempt");
    db.store.record_wait(&old_uuid).await.expect("wait");
    sqlx::query(&format!(
        "UPDATE inbox_retries SET updated_at = '{old_day}' WHERE uuid = $1"
    ))
    .bind(&old_uuid)
    .execute(&any)
    .await
    .expect("old retries");
    for (name, settle) in [("dl-settled", true), ("dl-open", false)] {
        db.store
            .record_dead_letter(&dead_letter(name, Some(name), "REDELIVERY_LIMIT"))
            .await
            .expect("dead letter");
        if settle {
            let id: i64 = sqlx::query_scalar("SELECT id FROM dead_letters WHERE uuid = $1")
                .bind(name)
                .fetch_one(&any)
                .await
                .expect("id");
            db.store
                .discard(ItemId::DeadLetter(id), "ana", "known")
                .await
                .expect("discard");
        }
    }
    for sql in [
        "UPDATE dead_letters SET dead_at = '{}'",
        "UPDATE operator_actions SET at = '{}'",
    ] {
        sqlx::query(&sql.replace("{}", &old_day))
            .execute(&any)
            .await
            .expect("old history");
    }

    let purged = db
        .store
        .purge(Duration::from_secs(30 * 86_400), 1000)
        .await
        .expect("purge");
    assert_eq!(purged.inbox, 1, "the old envelope with its receipt");
    assert_eq!(purged.messages, 1, "the old message settled for good");
    assert_eq!(purged.retries, 1);
    assert_eq!(purged.history, 2, "the settled dead letter and the discard");
    let count = |sql: &'static str| {
        let any = any.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&any)
                .await
                .expect("count")
        }
    };
    assert_eq!(count("SELECT count(*) FROM inbox").await, 1);
    assert_eq!(count("SELECT count(*) FROM outbox_attempts").await, 0);
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE kind = 'message'").await,
        2,
        "the failed one still needs someone"
    );
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE kind = 'receipt'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM dead_letters").await,
        1,
        "the open one"
    );
    assert!(db
        .store
        .message_detail(kept)
        .await
        .expect("detail")
        .is_some());
    assert_eq!(
        db.store
            .purge(Duration::from_secs(30 * 86_400), 1000)
            .await
            .expect("purge")
            .total(),
        0,
        "nothing more past the window"
    );
}

#[tokio::test]
async fn retry_counts_rise_per_uuid_and_show_in_the_log() {
    let db = TestDatabase::create().await;
    let (uuid, id) = refused(&db, "D-1", Code::ProductNotFound).await;
    assert_eq!(db.store.record_wait(&uuid).await.expect("wait"), 1);
    assert_eq!(db.store.record_wait(&uuid).await.expect("wait"), 2);
    assert_eq!(
        db.store
            .record_failure(&uuid, "lock\0timeout")
            .await
            .expect("failure"),
        1
    );
    assert_eq!(
        db.store.record_redelivery(&uuid).await.expect("redelivery"),
        1
    );
    assert_eq!(
        db.store
            .record_failure(&uuid, "again")
            .await
            .expect("failure"),
        2
    );
    assert_eq!(db.store.record_wait("another").await.expect("wait"), 1);
    let detail = db
        .store
        .message_detail(id)
        .await
        .expect("detail")
        .expect("found");
    let tries = detail.tries.expect("tries");
    assert_eq!((tries.waits, tries.failures, tries.redeliveries), (2, 2, 1));
    assert_eq!(tries.last_error.as_deref(), Some("again"));
    assert_eq!(detail.entry.attempts, 6, "its try and five more");
    assert_eq!(detail.entry.last_error.as_deref(), Some("again"));
    db.store.record_redelivery(&uuid).await.expect("redelivery");
    let tries = db
        .store
        .message_detail(id)
        .await
        .expect("detail")
        .expect("found")
        .tries
        .expect("tries");
    assert_eq!(
        tries.last_error.as_deref(),
        Some("again"),
        "kept when none is given"
    );
}

/// The inbound queue's envelopes: routing key and correlation id, in order.
async fn queued(db: &TestDatabase) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT routing_key, correlation_id FROM inbound_queue ORDER BY id")
        .fetch_all(&db.any().await)
        .await
        .expect("the inbound queue reads")
}
