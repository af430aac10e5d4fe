//! The sender's tests' common ground: the route their messages take (company
//! T1, a branch no event of the worker is routed for, StockLevel), the
//! destinations they import, enqueueing, and reading a message's status and
//! attempt history as it changes. Used by `sender.rs` (either backend) and
//! `sender_amqp.rs` (the broker's destinations).

use std::time::{Duration, Instant};

use eai_store::log::{Attempt, ItemId, LogEntry};
use serde_json::{json, Value};

use crate::TestApp;

pub const COMPANY: &str = "T1";

/// A branch no event of the worker is routed for, so only these tests feed its destinations.
pub const BRANCH: &str = "SENDER TESTS";

pub const TRANSACTION: &str = "StockLevel";

/// A business message of `document` (its InternalId), `sequence` telling them
/// apart, as an operator enqueues it (`eai send`): it goes out as given.
pub fn envelope(uuid: &str, document: &str, sequence: usize) -> String {
    json!({
        "Header": {"UUID": uuid, "Type": "BusinessMessage", "Transaction": TRANSACTION,
                   "Version": "3.003", "SourceApplication": "OPERATOR", "ProductName": "OPERATOR",
                   "CompanyId": COMPANY, "BranchId": BRANCH,
                   "GeneratedOn": "2024-05-02T10:00:00.000000+00:00", "DeliveryType": "async"},
        "Content": {"InternalId": document, "Sequence": sequence,
                    "ReturnItem": {"ItemCode": "P001", "WarehouseCode": "01", "Lots": []}}
    })
    .to_string()
}

pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn http_destination(name: &str, url: &str, timeout_ms: u64, max_attempts: u32) -> Value {
    json!({"name": name, "company": COMPANY, "branch": BRANCH, "transaction": TRANSACTION,
           "kind": "http", "url": url, "timeout_ms": timeout_ms, "max_attempts": max_attempts})
}

/// Loads destinations the way `eai import` does.
pub async fn import_destinations(app: &TestApp, rows: Value) {
    app.import(&json!({ "destinations": rows })).await;
}

/// Enqueues a message with `uuid` for the named destination; returns its outbox id.
pub async fn enqueue_with(
    app: &TestApp,
    destination: &str,
    uuid: &str,
    document: &str,
    sequence: usize,
) -> i64 {
    let created = app
        .db
        .store
        .enqueue_for(
            destination,
            uuid,
            TRANSACTION,
            &envelope(uuid, document, sequence),
            document,
        )
        .await
        .expect("enqueue runs");
    assert_eq!(created, Some(true), "{destination} takes {uuid}");
    message_id(app, destination, uuid).await
}

/// Enqueues a fresh message for the named destination; returns its id and UUID.
pub async fn enqueue(app: &TestApp, destination: &str, document: &str) -> (i64, String) {
    let uuid = new_uuid();
    (
        enqueue_with(app, destination, &uuid, document, 1).await,
        uuid,
    )
}

pub async fn message_id(app: &TestApp, destination: &str, uuid: &str) -> i64 {
    let ids: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT o.id FROM outbox o JOIN destinations d ON d.id = o.destination_id
              WHERE d.name = '{destination}' AND o.uuid = '{uuid}'"
        ))
        .await;
    match ids.as_slice() {
        [(id,)] => *id,
        other => panic!("the enqueued message is in the outbox once: {other:?}"),
    }
}

pub async fn message(app: &TestApp, id: i64) -> LogEntry {
    detail(app, id).await.entry
}

pub async fn detail(app: &TestApp, id: i64) -> eai_store::log::MessageDetail {
    app.db
        .store
        .message_detail(ItemId::Outbound(id))
        .await
        .expect("message query")
        .expect("the message exists")
}

pub async fn history(app: &TestApp, id: i64) -> Vec<Attempt> {
    detail(app, id).await.attempt_history
}

pub fn statuses(attempts: &[Attempt]) -> Vec<&str> {
    attempts
        .iter()
        .map(|attempt| attempt.status.as_str())
        .collect()
}

/// Polls message `id` until `done` holds (or `timeout` passes, failing the
/// test), recording every distinct (status, attempts) state it was seen in.
pub async fn track(
    app: &TestApp,
    id: i64,
    timeout: Duration,
    done: impl Fn(&LogEntry) -> bool,
) -> (LogEntry, Vec<(String, i32)>) {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<(String, i32)> = Vec::new();
    loop {
        let row = message(app, id).await;
        let state = (row.status.to_string(), row.attempts);
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        if done(&row) {
            return (row, seen);
        }
        assert!(
            Instant::now() < deadline,
            "message {id} is still {} after {} attempt(s), {timeout:?} on; seen {seen:?}",
            row.status,
            row.attempts
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls message `id` until `done` holds.
pub async fn wait_for(
    app: &TestApp,
    id: i64,
    timeout: Duration,
    done: impl Fn(&LogEntry) -> bool,
) -> LogEntry {
    track(app, id, timeout, done).await.0
}

/// Every state seen is a step of `expected`, in order, ending on its last step
/// (polling may miss short-lived steps, never invent or reorder them).
pub fn assert_transitions(what: &str, seen: &[(String, i32)], expected: &[(&str, i32)]) {
    let mut steps = expected.iter();
    for (status, attempts) in seen {
        assert!(
            steps.any(|(step, count)| step == status && count == attempts),
            "{what}: seen {seen:?} is not a run of {expected:?}"
        );
    }
    let last = seen
        .last()
        .map(|(status, attempts)| (status.as_str(), *attempts));
    assert_eq!(last, expected.last().copied(), "{what}: final state");
}

pub fn attempts_series(destination: &str, status: &str) -> String {
    format!(r#"eai_outbound_attempts_total{{destination="{destination}",status="{status}"}}"#)
}

pub fn amqp_destination(
    name: &str,
    exchange: &str,
    routing_key: &str,
    timeout_ms: u64,
    max_attempts: u32,
) -> Value {
    json!({"name": name, "company": COMPANY, "branch": BRANCH, "transaction": TRANSACTION,
           "kind": "amqp", "exchange": exchange, "routing_key": routing_key,
           "timeout_ms": timeout_ms, "max_attempts": max_attempts})
}
