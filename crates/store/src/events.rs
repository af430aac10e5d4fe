//! The business events the worker emits, enqueued in the transaction that
//! caused them (so an event exists exactly when its change was committed):
//! `StockLevel` when reservations change what a lot has available, and
//! `DocumentTraceabilityOrder` when a sale is integrated or cancelled.
//!
//! Events go to the destinations configured for their (company, branch,
//! transaction); where none is configured nothing is written.

use chrono::{NaiveDate, Utc};
use eai_protocol::events::{LotLevel, Outbound, StockLevel, Traceability, TracedItem};
use eai_protocol::ReceiptOrigin;
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::outbound::enqueue_routed;
use crate::StoreError;

/// Whether any destination wants `transaction` from this branch (skips building events nobody receives).
async fn wanted(
    conn: &mut PgConnection,
    company: &str,
    branch: &str,
    transaction: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM destinations WHERE company = $1 AND branch = $2 AND transaction = $3)",
    )
    .bind(company)
    .bind(branch)
    .bind(transaction)
    .fetch_one(&mut *conn)
    .await?)
}

/// Enqueues one `StockLevel` per `(product, warehouse)` of the branch, read
/// from the lots as this transaction sees them. Returns how many messages were created.
pub async fn stock_levels(
    conn: &mut PgConnection,
    origin: &ReceiptOrigin,
    company: &str,
    branch: &str,
    keys: &[(String, String)],
) -> Result<u64, StoreError> {
    if keys.is_empty() || !wanted(conn, company, branch, StockLevel::TRANSACTION).await? {
        return Ok(0);
    }
    let products: Vec<&str> = keys.iter().map(|(product, _)| product.as_str()).collect();
    let warehouses: Vec<&str> = keys
        .iter()
        .map(|(_, warehouse)| warehouse.as_str())
        .collect();
    let lots: Vec<LotRow> = sqlx::query_as(
        "SELECT product, warehouse, lot, sublot, expires_on, quantity, reserved
           FROM lots
          WHERE branch = $1 AND (product, warehouse) IN
                (SELECT * FROM unnest($2::text[], $3::text[]))
          ORDER BY product, warehouse, expires_on NULLS LAST, lot, sublot",
    )
    .bind(branch)
    .bind(&products)
    .bind(&warehouses)
    .fetch_all(&mut *conn)
    .await?;
    let now = Utc::now();
    let mut created = 0;
    for (product, warehouse) in keys {
        let level = StockLevel {
            product: product.clone(),
            warehouse: warehouse.clone(),
            reference_date: now.date_naive(),
            lots: lots
                .iter()
                .filter(|lot| &lot.product == product && &lot.warehouse == warehouse)
                .map(|lot| LotLevel {
                    lot: lot.lot.clone(),
                    sublot: lot.sublot.clone(),
                    expires_on: lot.expires_on,
                    on_hand: lot.quantity,
                    booked: lot.reserved,
                })
                .collect(),
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let body = level.envelope(&Outbound {
            origin,
            uuid: &uuid,
            company,
            branch,
            generated_on: now,
        });
        created += enqueue_routed(
            conn,
            company,
            branch,
            StockLevel::TRANSACTION,
            &uuid,
            &String::from_utf8_lossy(&body),
            &format!("StockLevel|{branch}|{product}|{warehouse}"),
        )
        .await?;
    }
    Ok(created)
}

/// Enqueues the `DocumentTraceabilityOrder` of a sale as it now stands.
pub async fn traceability(
    conn: &mut PgConnection,
    origin: &ReceiptOrigin,
    sale_id: i64,
) -> Result<u64, StoreError> {
    traceability_all(conn, origin, &[sale_id]).await
}

/// [`traceability`] for several sales: the sales some destination wants and
/// their items are read in one statement each.
pub async fn traceability_all(
    conn: &mut PgConnection,
    origin: &ReceiptOrigin,
    sale_ids: &[i64],
) -> Result<u64, StoreError> {
    let sales: Vec<SaleRow> = sqlx::query_as(
        "SELECT s.id, s.company, s.branch, s.internal_id, s.number, s.status, s.issue_date,
                s.customer, s.net_price
           FROM sales s
          WHERE s.id = ANY($1)
            AND EXISTS (SELECT 1 FROM destinations d
                         WHERE d.company = s.company AND d.branch = s.branch
                           AND d.transaction = $2)
          ORDER BY s.id",
    )
    .bind(sale_ids)
    .bind(Traceability::TRANSACTION)
    .fetch_all(&mut *conn)
    .await?;
    if sales.is_empty() {
        return Ok(0);
    }
    let wanted: Vec<i64> = sales.iter().map(|sale| sale.id).collect();
    let items: Vec<ItemRow> = sqlx::query_as(
        "SELECT sale_id, item_no, product, quantity, unit_price, item_price, warehouse
           FROM sale_items WHERE sale_id = ANY($1) ORDER BY sale_id, item_no",
    )
    .bind(&wanted)
    .fetch_all(&mut *conn)
    .await?;
    let mut created = 0;
    for sale in sales {
        let trace = Traceability {
            internal_id: sale.internal_id.clone(),
            number: sale.number,
            status: sale.status,
            register_date: sale.issue_date,
            customer: sale.customer,
            value: sale.net_price,
            items: items
                .iter()
                .filter(|item| item.sale_id == sale.id)
                .map(|item| TracedItem {
                    number: u32::try_from(item.item_no).unwrap_or_default(),
                    product: item.product.clone(),
                    quantity: item.quantity,
                    unit_price: item.unit_price,
                    total_price: item.item_price,
                    warehouse: item.warehouse.clone(),
                })
                .collect(),
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let body = trace.envelope(&Outbound {
            origin,
            uuid: &uuid,
            company: &sale.company,
            branch: &sale.branch,
            generated_on: Utc::now(),
        });
        created += enqueue_routed(
            conn,
            &sale.company,
            &sale.branch,
            Traceability::TRANSACTION,
            &uuid,
            &String::from_utf8_lossy(&body),
            &format!("RetailSales|{}", sale.internal_id),
        )
        .await?;
    }
    Ok(created)
}

#[derive(sqlx::FromRow)]
struct LotRow {
    product: String,
    warehouse: String,
    lot: String,
    sublot: String,
    expires_on: Option<NaiveDate>,
    quantity: Decimal,
    reserved: Decimal,
}

#[derive(sqlx::FromRow)]
struct SaleRow {
    id: i64,
    company: String,
    branch: String,
    internal_id: String,
    number: String,
    status: String,
    issue_date: NaiveDate,
    customer: String,
    net_price: Decimal,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    sale_id: i64,
    item_no: i32,
    product: String,
    quantity: Decimal,
    unit_price: Decimal,
    item_price: Decimal,
    warehouse: Option<String>,
}

impl crate::Store {
    /// The full StockLevel load (seed 001's "carga completa de estoque"): every
    /// product and warehouse of every branch with a StockLevel destination.
    /// Runs when no worker ran it within `interval`; returns the messages
    /// enqueued, or `None` when it was not this worker's turn.
    pub async fn full_stock_load(
        &self,
        origin: &ReceiptOrigin,
        interval: std::time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let due: Option<String> = sqlx::query_scalar(
            "INSERT INTO schedules (name, last_run_at) VALUES ('stock_full_load', now())
             ON CONFLICT (name) DO UPDATE SET last_run_at = now()
              WHERE schedules.last_run_at <= now() - make_interval(secs => $1)
             RETURNING name",
        )
        .bind(interval.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        if due.is_none() {
            return Ok(None);
        }
        let branches: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT company, branch FROM destinations WHERE transaction = $1",
        )
        .bind(StockLevel::TRANSACTION)
        .fetch_all(&mut *tx)
        .await?;
        let mut created = 0;
        for (company, branch) in branches {
            let keys: Vec<(String, String)> = sqlx::query_as(
                "SELECT DISTINCT product, warehouse FROM lots WHERE branch = $1 ORDER BY 1, 2",
            )
            .bind(&branch)
            .fetch_all(&mut *tx)
            .await?;
            created += stock_levels(&mut tx, origin, &company, &branch, &keys).await?;
        }
        tx.commit().await?;
        Ok(Some(created))
    }
}
