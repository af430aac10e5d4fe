//! What operators and consumer systems read and edit besides messages: the
//! de/para mappings one by one, destinations re-imported with new
//! credentials, integrated sales exported in confirmed batches, and the
//! usage report. On either backend (`EAI_TEST_BACKEND`).
//!
//! The sales and inbox rows the export and the report read are written
//! here directly, so each operation is checked on its own.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use eai_domain::Entity;
use eai_store::export::{ExportMode, ExportRequest};
use eai_store::log::Acted;
use eai_store::mappings::MappingFilter;
use eai_store::page::Cursor;
use eai_store::testing::TestDatabase;
use eai_store::usage::UsageFilter;
use serde_json::json;
use sqlx::AnyPool;

/// The example file's mappings, as `(entity, external, internal)` in list order.
fn example_mappings() -> Vec<(String, String, String)> {
    let mut mappings: Vec<(String, String, String)> = example()["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .map(|row| {
            let text = |key: &str| row[key].as_str().expect("text").to_owned();
            (text("entity"), text("external"), text("internal"))
        })
        .collect();
    mappings.sort();
    mappings
}

/// `(entity, external, internal)` of each mapping of a page.
fn listed(
    page: &eai_store::page::Page<eai_store::mappings::Mapping>,
) -> Vec<(String, String, String)> {
    page.items
        .iter()
        .map(|mapping| {
            assert_eq!(mapping.namespace, "ECOMMERCE");
            (
                mapping.entity.clone(),
                mapping.external.clone(),
                mapping.internal.clone(),
            )
        })
        .collect()
}

/// When the mapping was last given another internal code, as text.
async fn written_at(pool: &AnyPool, external: &str) -> String {
    sqlx::query_scalar("SELECT CAST(written_at AS TEXT) FROM mappings WHERE external = $1")
        .bind(external)
        .fetch_one(pool)
        .await
        .expect("written_at")
}

#[tokio::test]
async fn mappings_are_listed_in_pages_filtered_and_edited_one_by_one() {
    let db = seeded().await;
    let store = &db.store;

    // Every imported mapping, four at a time, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .mappings(&MappingFilter {
                limit: 4,
                cursor: cursor.clone(),
                ..MappingFilter::default()
            })
            .await
            .expect("a page of mappings");
        assert!(page.items.len() <= 4);
        seen.extend(listed(&page));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = Some(page.next_cursor.parse().expect("a cursor"));
    }
    assert_eq!(seen, example_mappings());

    let customers = store
        .mappings(&MappingFilter {
            namespace: Some("ECOMMERCE".into()),
            entity: Some(Entity::Customer),
            limit: 50,
            ..MappingFilter::default()
        })
        .await
        .expect("customers");
    assert_eq!(
        listed(&customers)
            .into_iter()
            .map(|(_, _, internal)| internal)
            .collect::<Vec<_>>(),
        ["C001", "C002"]
    );
    let by_external = store
        .mappings(&MappingFilter {
            external: Some("ARMAZEM-CENTRAL".into()),
            limit: 50,
            ..MappingFilter::default()
        })
        .await
        .expect("by external");
    assert_eq!(
        listed(&by_external),
        [("Warehouse".into(), "ARMAZEM-CENTRAL".into(), "01".into())]
    );

    // A new mapping, then the same one given again and given another code.
    let pool = &db.any().await;
    assert!(store
        .set_mapping("ECOMMERCE", Entity::Product, "SKU-9", "P002")
        .await
        .expect("set"));
    let first = written_at(pool, "SKU-9").await;
    assert!(!store
        .set_mapping("ECOMMERCE", Entity::Product, "SKU-9", "P002")
        .await
        .expect("set again"));
    assert_eq!(
        written_at(pool, "SKU-9").await,
        first,
        "the same code leaves written_at alone"
    );
    assert!(!store
        .set_mapping("ECOMMERCE", Entity::Product, "SKU-9", "P003")
        .await
        .expect("replace"));
    assert_ne!(
        written_at(pool, "SKU-9").await,
        first,
        "another code moves written_at"
    );
    let page = store
        .mappings(&MappingFilter {
            external: Some("SKU-9".into()),
            limit: 50,
            ..MappingFilter::default()
        })
        .await
        .expect("SKU-9");
    assert_eq!(
        listed(&page),
        [("Product".into(), "SKU-9".into(), "P003".into())]
    );

    assert!(store
        .delete_mapping("ECOMMERCE", Entity::Product, "SKU-9")
        .await
        .expect("delete"));
    assert!(!store
        .delete_mapping("ECOMMERCE", Entity::Product, "SKU-9")
        .await
        .expect("delete again"));
    let page = store
        .mappings(&MappingFilter {
            external: Some("SKU-9".into()),
            limit: 50,
            ..MappingFilter::default()
        })
        .await
        .expect("SKU-9 gone");
    assert!(page.items.is_empty());
}

/// The destinations of the repository's example file.
fn destinations() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../examples/destinations.json"))
        .expect("examples/destinations.json is JSON")
}

/// `(blocked, blocked_reason)` of a destination, the flag as a word.
async fn blocked(pool: &AnyPool, name: &str) -> (String, Option<String>) {
    sqlx::query_as(
        "SELECT CASE WHEN blocked THEN 'blocked' ELSE 'open' END, blocked_reason
           FROM destinations WHERE name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("destination")
}

#[tokio::test]
async fn new_credentials_on_import_unblock_a_destination_and_send_its_messages_again() {
    let db = TestDatabase::create().await;
    let pool = &db.any().await;
    import_ok(&db.store, &destinations()).await;
    assert_eq!(rows_in(pool, "destinations").await, 3);

    // vtex-stock refused its credentials: blocked, with two messages held back.
    sqlx::query(
        "UPDATE destinations SET blocked = true, blocked_reason = 'HTTP 401'
          WHERE name = 'vtex-stock'",
    )
    .execute(pool)
    .await
    .expect("block");
    for (uuid, attempts) in [("u-1", 1), ("u-2", 9)] {
        sqlx::query(
            "INSERT INTO outbox (uuid, kind, \"transaction\", exchange, routing_key, body, status,
                                 attempts, destination_id)
             SELECT $1, 'message', 'StockLevel', '', '', '{}', 'blocked', $2, id
               FROM destinations WHERE name = 'vtex-stock'",
        )
        .bind(uuid)
        .bind(attempts)
        .execute(pool)
        .await
        .expect("a blocked message");
    }

    // The same credentials again: still blocked, nothing goes out.
    import_ok(&db.store, &destinations()).await;
    assert_eq!(
        blocked(pool, "vtex-stock").await,
        ("blocked".into(), Some("HTTP 401".into()))
    );
    let statuses = || async {
        sqlx::query_as::<_, (String, String, i32)>(
            "SELECT uuid, status, attempts FROM outbox ORDER BY uuid",
        )
        .fetch_all(pool)
        .await
        .expect("outbox")
    };
    assert_eq!(
        statuses().await,
        [
            ("u-1".into(), "blocked".into(), 1),
            ("u-2".into(), "blocked".into(), 9)
        ]
    );

    // New credentials: unblocked, both messages wait to go, each with an attempt left.
    let mut renewed = destinations();
    renewed["destinations"][0]["auth_value"] = json!("Bearer renewed");
    import_ok(&db.store, &renewed).await;
    assert_eq!(blocked(pool, "vtex-stock").await, ("open".into(), None));
    assert_eq!(
        statuses().await,
        [
            ("u-1".into(), "waiting".into(), 1),
            ("u-2".into(), "waiting".into(), 3)
        ]
    );
}

/// A row count.
async fn rows_in(pool: &AnyPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("count {table}: {error}"))
}

/// Records an integrated sale of T1/D MG 01 as the sale path leaves it: two
/// items and one payment, created at `created_at`.
async fn sale(pool: &AnyPool, document: &str, created_at: &str) {
    sqlx::query(&format!(
        "INSERT INTO sales (company, branch, number, namespace, internal_id, document_code,
                            issue_date, customer, station, series, operator, total_price,
                            net_price, gross_price, discount_value, freight_value,
                            increase_value, status, created_at, intermediary_code)
         VALUES ('T1', 'D MG 01', 'N-{document}', 'ECOMMERCE', 'I-{document}', '{document}',
                 '2026-11-22', 'C001', 'AUTOMATICO', 'A01', 'AUTOMATICO', '30.5', '30.5',
                 '31', '0.5', '0', '0', 'released', '{created_at}', 'MKT')"
    ))
    .execute(pool)
    .await
    .expect("a sale");
    for (item, product, quantity, price) in
        [(1, "P001", "2.0000", "20"), (2, "P002", "1.5000", "10.5")]
    {
        sqlx::query(&format!(
            "INSERT INTO sale_items (sale_id, item_no, product, warehouse, quantity, unit_price,
                                     table_price, item_price, discount_amount, freight_prorated,
                                     increase_prorated, operation_code, tes, lot_number)
             SELECT id, {item}, '{product}', '01', '{quantity}', '10', '10', '{price}', '0', '0',
                    '0', '01', '501', 'L-{item}'
               FROM sales WHERE document_code = '{document}'"
        ))
        .execute(pool)
        .await
        .expect("an item");
    }
    sqlx::query(&format!(
        "INSERT INTO sale_payments (sale_id, payment_no, method, financial_manager, value, paid_on,
                                    serial_number)
         SELECT id, 1, 'CC', 'CAR', '30.5', '2026-11-22', 'NSU-{document}'
           FROM sales WHERE document_code = '{document}'"
    ))
    .execute(pool)
    .await
    .expect("a payment");
}

/// The document codes of a batch's sales, in order.
fn documents(batch: &eai_store::export::Batch) -> Vec<&str> {
    batch
        .sales
        .iter()
        .map(|sale| sale.document_code.as_str())
        .collect()
}

fn request(consumer: &str, mode: ExportMode, limit: i64) -> ExportRequest {
    ExportRequest {
        consumer: consumer.into(),
        mode,
        document: None,
        limit,
    }
}

#[tokio::test]
async fn all_hands_a_batch_out_until_it_is_confirmed_then_goes_on_where_it_stopped() {
    let db = seeded().await;
    let pool = &db.any().await;
    for (document, at) in [
        ("D-1", "2026-11-22T10:00:01+00:00"),
        ("D-2", "2026-11-22T10:00:02+00:00"),
        ("D-3", "2026-11-22T10:00:03+00:00"),
    ] {
        sale(pool, document, at).await;
    }
    let store = &db.store;

    let first = store
        .export(&request("ERP", ExportMode::All, 2))
        .await
        .expect("export");
    let number = first.batch.expect("a numbered batch");
    assert_eq!(documents(&first), ["D-1", "D-2"]);
    assert!(first.more && !first.again);

    // The sale as exported: money with two decimals, quantities with four.
    let exported = &first.sales[0];
    assert_eq!(
        (
            exported.total_price.as_str(),
            exported.gross_price.as_str(),
            exported.discount_value.as_str(),
            exported.status.as_str(),
        ),
        ("30.50", "31.00", "0.50", "released")
    );
    assert_eq!(exported.fiscal.intermediary_code.as_deref(), Some("MKT"));
    let items: Vec<_> = exported
        .items
        .iter()
        .map(|item| {
            (
                item.item,
                item.product.as_str(),
                item.quantity.as_str(),
                item.item_price.as_str(),
                item.delivery.lot_number.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            (1, "P001", "2.0000", "20.00", Some("L-1")),
            (2, "P002", "1.5000", "10.50", Some("L-2"))
        ]
    );
    assert_eq!(exported.payments.len(), 1);
    assert_eq!(exported.payments[0].value, "30.50");
    assert_eq!(exported.payments[0].card.nsu.as_deref(), Some("NSU-D-1"));
    assert_eq!(
        first.sales[1].payments[0].card.nsu.as_deref(),
        Some("NSU-D-2")
    );

    // Not confirmed: the same batch again, whatever is asked.
    let again = store
        .export(&request("ERP", ExportMode::Changed, 10))
        .await
        .expect("export again");
    assert_eq!(again.batch, Some(number));
    assert_eq!(again.mode, ExportMode::All);
    assert!(again.again && again.more);
    assert_eq!(again.sales, first.sales);

    assert_eq!(
        store.confirm_export(number).await.expect("confirm"),
        Acted::Done
    );
    assert!(matches!(
        store.confirm_export(number).await.expect("confirm twice"),
        Acted::Refused(reason) if reason.contains("confirmed")
    ));
    assert_eq!(
        store.confirm_export(number + 100).await.expect("unknown"),
        Acted::NotFound
    );

    // Where the last batch stopped; then, nothing more pending, from the start.
    let rest = store
        .export(&request("ERP", ExportMode::All, 2))
        .await
        .expect("the rest");
    assert!(rest.batch.expect("numbered") > number);
    assert_eq!(documents(&rest), ["D-3"]);
    assert!(!rest.more && !rest.again);
    store
        .confirm_export(rest.batch.expect("numbered"))
        .await
        .expect("confirm the rest");
    let over = store
        .export(&request("ERP", ExportMode::All, 2))
        .await
        .expect("over again");
    assert_eq!(documents(&over), ["D-1", "D-2"]);
}

#[tokio::test]
async fn changed_hands_out_what_the_consumer_has_not_confirmed_in_its_current_state() {
    let db = seeded().await;
    let pool = &db.any().await;
    sale(pool, "D-1", "2026-11-22T10:00:01.5+00:00").await;
    sale(pool, "D-2", "2026-11-22T10:00:02+00:00").await;
    let store = &db.store;

    let batch = store
        .export(&request("BI", ExportMode::Changed, 10))
        .await
        .expect("changed");
    assert_eq!(documents(&batch), ["D-1", "D-2"]);
    assert!(!batch.more);
    store
        .confirm_export(batch.batch.expect("numbered"))
        .await
        .expect("confirm");
    let none = store
        .export(&request("BI", ExportMode::Changed, 10))
        .await
        .expect("nothing changed");
    assert_eq!(none.batch, None);
    assert!(none.sales.is_empty());

    // Another consumer has confirmed nothing yet.
    let other = store
        .export(&request("ERP", ExportMode::Changed, 10))
        .await
        .expect("another consumer");
    assert_eq!(documents(&other), ["D-1", "D-2"]);

    // A cancellation is a new state to hand out.
    sqlx::query(
        "UPDATE sales SET status = 'cancelled', status_before_cancel = status,
                          cancelled_on = '2026-11-23', cancelled_at = '2026-11-23T09:00:00+00:00'
          WHERE document_code = 'D-2'",
    )
    .execute(pool)
    .await
    .expect("cancel");
    let cancelled = store
        .export(&request("BI", ExportMode::Changed, 10))
        .await
        .expect("changed again");
    assert_eq!(documents(&cancelled), ["D-2"]);
    assert_eq!(cancelled.sales[0].status, "cancelled");
    assert_eq!(
        cancelled.sales[0].cancelled_on.map(|day| day.to_string()),
        Some("2026-11-23".into())
    );
    store
        .confirm_export(cancelled.batch.expect("numbered"))
        .await
        .expect("confirm");
    let settled = store
        .export(&request("BI", ExportMode::Changed, 10))
        .await
        .expect("settled");
    assert_eq!(settled.batch, None);
}

#[tokio::test]
async fn one_hands_out_the_sale_of_a_document_code_or_internal_id() {
    let db = seeded().await;
    let pool = &db.any().await;
    sale(pool, "D-1", "2026-11-22T10:00:01+00:00").await;
    sale(pool, "D-2", "2026-11-22T10:00:02+00:00").await;
    let store = &db.store;
    let by_code = store
        .export(&ExportRequest {
            document: Some("D-2".into()),
            ..request("ERP", ExportMode::One, 10)
        })
        .await
        .expect("one");
    assert_eq!(documents(&by_code), ["D-2"]);
    store
        .confirm_export(by_code.batch.expect("numbered"))
        .await
        .expect("confirm");
    let by_internal_id = store
        .export(&ExportRequest {
            document: Some("I-D-1".into()),
            ..request("ERP", ExportMode::One, 10)
        })
        .await
        .expect("one by internal id");
    assert_eq!(documents(&by_internal_id), ["D-1"]);
    assert_eq!(by_internal_id.sales[0].internal_id, "I-D-1");
}

/// Records an answered (or not yet answered) envelope in the inbox.
async fn envelope(
    pool: &AnyPool,
    (company, transaction, environment, status, received_at, earlier_attempts): (
        &str,
        &str,
        &str,
        &str,
        &str,
        i32,
    ),
) -> String {
    let uuid = uuid::Uuid::new_v4().to_string();
    sqlx::query(&format!(
        "INSERT INTO inbox (uuid, \"transaction\", company, branch, status, received_at,
                            environment, earlier_attempts)
         VALUES ($1, $2, $3, 'D MG 01', $4, '{received_at}', $5, $6)"
    ))
    .bind(&uuid)
    .bind(transaction)
    .bind(company)
    .bind(status)
    .bind(environment)
    .bind(earlier_attempts)
    .execute(pool)
    .await
    .expect("an inbox row");
    uuid
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("a timestamp")
}

#[tokio::test]
async fn usage_counts_answered_envelopes_and_their_attempts_per_company_and_environment() {
    let db = seeded().await;
    let pool = &db.any().await;
    let november = "2026-11-22T10:00:00+00:00";
    envelope(pool, ("T1", "ItemReserve", "production", "ok", november, 0)).await;
    envelope(
        pool,
        ("T1", "ItemReserve", "production", "error", november, 1),
    )
    .await;
    let retried = envelope(pool, ("T1", "RetailSales", "production", "ok", november, 0)).await;
    envelope(
        pool,
        ("T1", "ItemReserve", "homologation", "ok", november, 0),
    )
    .await;
    envelope(pool, ("T2", "RetailSales", "production", "ok", november, 0)).await;
    // Not counted: not answered yet, or outside the period.
    envelope(
        pool,
        ("T1", "ItemReserve", "production", "waiting", november, 0),
    )
    .await;
    envelope(
        pool,
        (
            "T1",
            "ItemReserve",
            "production",
            "ok",
            "2026-12-01T00:00:00+00:00",
            0,
        ),
    )
    .await;
    sqlx::query(
        "INSERT INTO inbox_retries (uuid, waits, failures, redeliveries) VALUES ($1, 1, 2, 1)",
    )
    .bind(&retried)
    .execute(pool)
    .await
    .expect("retries");

    let filter = UsageFilter {
        from: at("2026-11-01T00:00:00Z"),
        to: at("2026-12-01T00:00:00Z"),
        company: None,
        cnpj: None,
        cursor: None,
    };
    let page = db.store.usage(&filter).await.expect("usage");
    assert!(page.next_cursor.is_empty());
    let companies: Vec<_> = page
        .items
        .iter()
        .map(|usage| (usage.company.as_str(), usage.cnpj.as_deref()))
        .collect();
    assert_eq!(
        companies,
        [("T1", Some("11.222.333/0001-81")), ("T2", None)]
    );
    let t1 = &page.items[0];
    let counts = |usage: &eai_store::usage::EnvironmentUsage| {
        usage
            .transactions
            .iter()
            .map(|counts| {
                (
                    counts.transaction.clone(),
                    counts.envelopes,
                    counts.attempts,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        counts(&t1.production),
        [("ItemReserve".into(), 2, 3), ("RetailSales".into(), 1, 5)]
    );
    assert_eq!((t1.production.envelopes, t1.production.attempts), (3, 8));
    assert_eq!(counts(&t1.homologation), [("ItemReserve".into(), 1, 1)]);
    assert_eq!(
        (
            page.items[1].production.envelopes,
            page.items[1].homologation.envelopes
        ),
        (1, 0)
    );

    let by_cnpj = db
        .store
        .usage(&UsageFilter {
            cnpj: Some("11.222.333/0001-81".into()),
            ..filter.clone()
        })
        .await
        .expect("by CNPJ");
    assert_eq!(by_cnpj.items.len(), 1);
    assert_eq!(by_cnpj.items[0].company, "T1");
    let by_company = db
        .store
        .usage(&UsageFilter {
            company: Some("T2".into()),
            ..filter.clone()
        })
        .await
        .expect("by company");
    assert_eq!(by_company.items.len(), 1);
    assert_eq!(by_company.items[0].company, "T2");
    let after_t1 = db
        .store
        .usage(&UsageFilter {
            cursor: Some(Cursor {
                at: DateTime::UNIX_EPOCH,
                key: "T1".into(),
                id: 0,
            }),
            ..filter
        })
        .await
        .expect("after T1");
    assert_eq!(after_t1.items.len(), 1);
    assert_eq!(after_t1.items[0].company, "T2");
}

#[tokio::test]
async fn sales_integrated_through_messages_are_exported_and_counted() {
    use eai_store::testing::envelopes::{bulk_stock, cancellation, reservation, sale, ITEM};
    let db = seeded().await;
    import_ok(&db.store, &bulk_stock()).await;
    let store = &db.store;
    let from = Utc::now() - chrono::Duration::minutes(1);
    send(store, &reservation("R-1", ITEM, 1)).await.assert_ok();
    send(store, &sale("S-1", "NF-1", "R-1")).await.assert_ok();

    let batch = store
        .export(&request("ERP", ExportMode::Changed, 10))
        .await
        .expect("export");
    assert_eq!(documents(&batch), ["NF-1"]);
    let exported = &batch.sales[0];
    assert_eq!(
        (
            exported.internal_id.as_str(),
            exported.status.as_str(),
            exported.total_price.as_str()
        ),
        ("S-1", "released", "700.00")
    );
    assert_eq!(exported.items.len(), 1);
    assert_eq!(
        (
            exported.items[0].product.as_str(),
            exported.items[0].quantity.as_str(),
            exported.items[0].item_price.as_str()
        ),
        ("P004", "1.0000", "700.00")
    );
    assert_eq!(exported.payments.len(), 1);
    assert_eq!(exported.payments[0].value, "700.00");
    store
        .confirm_export(batch.batch.expect("numbered"))
        .await
        .expect("confirm");
    let none = store
        .export(&request("ERP", ExportMode::Changed, 10))
        .await
        .expect("nothing new");
    assert_eq!(none.batch, None);

    send(store, &cancellation("S-1")).await.assert_ok();
    let cancelled = store
        .export(&request("ERP", ExportMode::Changed, 10))
        .await
        .expect("the cancellation");
    assert_eq!(documents(&cancelled), ["NF-1"]);
    assert_eq!(cancelled.sales[0].status, "cancelled");

    let usage = store
        .usage(&UsageFilter {
            from,
            to: Utc::now() + chrono::Duration::minutes(1),
            company: None,
            cnpj: None,
            cursor: None,
        })
        .await
        .expect("usage");
    assert_eq!(usage.items.len(), 1);
    let t1 = &usage.items[0];
    assert_eq!(t1.company, "T1");
    let transactions: Vec<_> = t1
        .production
        .transactions
        .iter()
        .map(|counts| {
            (
                counts.transaction.as_str(),
                counts.envelopes,
                counts.attempts,
            )
        })
        .collect();
    assert_eq!(
        transactions,
        [
            ("ItemReserve", 1, 1),
            ("RetailSales", 1, 1),
            ("RetailSalesCancellation", 1, 1)
        ]
    );
}
