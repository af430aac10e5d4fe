//! The audits after a stream went through a worker that was hurt on the
//! way: every UUID answered, every copy of an answer the same, one inbox row
//! and one effect per UUID, and stock that adds up.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::AnyPool;

use crate::shop::Receipts;
use crate::stream::StreamEnvelope;

/// What the audit counted, for the test's report.
#[derive(Debug, Default)]
pub struct Audit {
    pub envelopes: usize,
    pub receipts: usize,
    /// Receipts beyond the first for a UUID (redeliveries after a kill).
    pub repeated: usize,
    pub ok: usize,
    pub errors: usize,
}

/// Checks everything (panicking with the first discrepancy) and counts.
pub async fn audit(pool: &AnyPool, stream: &[StreamEnvelope], receipts: &Receipts) -> Audit {
    let mut audit = Audit {
        envelopes: stream.len(),
        ..Audit::default()
    };
    let mut ok_by_transaction: HashMap<&str, i64> = HashMap::new();
    let mut status_by_uuid: HashMap<&str, String> = HashMap::new();
    for envelope in stream {
        let copies = receipts
            .get(&envelope.uuid)
            .unwrap_or_else(|| panic!("{} was never answered", envelope.uuid));
        audit.receipts += copies.len();
        audit.repeated += copies.len() - 1;
        assert!(
            copies.iter().all(|copy| copy == &copies[0]),
            "every copy of the answer to {} is the same, byte for byte",
            envelope.uuid
        );
        let receipt: Value = serde_json::from_slice(&copies[0]).expect("a receipt is JSON");
        let status = receipt["Content"]["ProcessingInformation"]["Status"]
            .as_str()
            .expect("a status")
            .to_owned();
        if status == "ok" {
            audit.ok += 1;
            *ok_by_transaction.entry(envelope.transaction).or_default() += 1;
        } else {
            audit.errors += 1;
        }
        status_by_uuid.insert(&envelope.uuid, status);
    }

    let inbox: Vec<(String, Option<String>)> = sqlx::query_as("SELECT uuid, status FROM inbox")
        .fetch_all(pool)
        .await
        .expect("inbox");
    assert_eq!(inbox.len(), stream.len(), "one inbox row per UUID");
    for (uuid, status) in &inbox {
        assert_eq!(
            status.as_deref(),
            status_by_uuid.get(uuid.as_str()).map(String::as_str),
            "the inbox keeps the status its receipt says, for {uuid}"
        );
    }

    let count = |sql: &'static str| async move {
        let count: i64 = sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .expect("count");
        count
    };
    let ok = |transaction: &str| ok_by_transaction.get(transaction).copied().unwrap_or(0);
    assert_eq!(
        count("SELECT count(*) FROM reservations").await,
        ok("ItemReserve"),
        "one reservation per accepted ItemReserve"
    );
    assert_eq!(
        count("SELECT count(*) FROM sales").await,
        ok("RetailSales"),
        "one sale per accepted RetailSales"
    );
    assert_eq!(
        count("SELECT count(*) FROM sales WHERE status = 'cancelled'").await,
        ok("RetailSalesCancellation"),
        "one cancellation per accepted RetailSalesCancellation"
    );
    assert_eq!(
        count("SELECT count(*) FROM receivables").await,
        ok("RetailSales"),
        "one receivable per sale (one payment each)"
    );

    let lots: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, lot, CAST(quantity AS TEXT), CAST(reserved AS TEXT) FROM lots")
            .fetch_all(pool)
            .await
            .expect("lots");
    let lines: Vec<(i64, String)> = sqlx::query_as(
        "SELECT lot_id, CAST(quantity AS TEXT) FROM reservation_lines
          WHERE lot_id IS NOT NULL AND released_at IS NULL",
    )
    .fetch_all(pool)
    .await
    .expect("reservation lines");
    let mut held: HashMap<i64, Decimal> = HashMap::new();
    for (lot, quantity) in &lines {
        *held.entry(*lot).or_default() += crate::decimal(quantity);
    }
    for (id, lot, quantity, reserved) in lots {
        let (quantity, reserved) = (crate::decimal(&quantity), crate::decimal(&reserved));
        assert_eq!(
            reserved,
            held.get(&id).copied().unwrap_or_default().normalize(),
            "lot {lot}: reserved is what its active lines hold"
        );
        assert!(reserved <= quantity, "lot {lot}: reserved within on hand");
    }
    audit
}
