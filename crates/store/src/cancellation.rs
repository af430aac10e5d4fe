//! RetailSalesCancellation: an integrated sale cancelled, its receivables
//! voided and the quantities its reservations held returned to their lots.
//! On SQLite the transaction is the only writer, so no row is locked and
//! the times are written by the store.

use chrono::Utc;
use eai_domain::document_internal_id;
use eai_protocol::{Code, Detail, InternalIdEntry, ReceiptOrigin, SaleCancellation};

use crate::db::{on_conn, Conn};
use crate::events::{self, EventBranch};
use crate::locks;
use crate::reservation::release_lines;
use crate::StoreError;

/// The business result of one cancellation.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    Cancelled(Vec<InternalIdEntry>),
    Rejected(Vec<Detail>),
}

/// Cancels the sale named by `cancellation` inside the caller's transaction.
#[tracing::instrument(skip_all, fields(sale = %cancellation.sale_internal_id))]
pub async fn cancel(
    conn: &mut Conn<'_>,
    origin: &ReceiptOrigin,
    namespace: &str,
    cancellation: &SaleCancellation,
) -> Result<CancelOutcome, StoreError> {
    let internal_id = &cancellation.sale_internal_id;
    locks::lock_document(conn, &format!("RetailSales|{namespace}|{internal_id}")).await?;
    let sale: Option<(i64, String, String, String, String)> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT id, company, branch, number, status FROM sales
          WHERE namespace = $1 AND internal_id = $2 FOR UPDATE",
            )
            .bind(namespace)
            .bind(internal_id)
            .fetch_optional(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_as(
                "SELECT id, company, branch, number, status FROM sales
                  WHERE namespace = $1 AND internal_id = $2",
            )
            .bind(namespace)
            .bind(internal_id)
            .fetch_optional(&mut **c)
            .await?
        }
    };
    let Some((sale_id, company, branch, number, status)) = sale else {
        return Ok(CancelOutcome::Rejected(vec![Detail::error(
            Code::SaleNotFound,
            format!("$.Content.RetailSalesInternalId: no sale '{internal_id}' was integrated for {namespace}"),
        )]));
    };
    if status == "cancelled" {
        return Ok(CancelOutcome::Rejected(vec![Detail::error(
            Code::SaleAlreadyCancelled,
            format!("$.Content.RetailSalesInternalId: sale '{internal_id}' ({number}) is already cancelled"),
        )]));
    }
    let reservations: Vec<i64> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar(
                "SELECT id FROM reservations WHERE sale_id = $1 ORDER BY id FOR UPDATE",
            )
            .bind(sale_id)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_scalar("SELECT id FROM reservations WHERE sale_id = $1 ORDER BY id")
                .bind(sale_id)
                .fetch_all(&mut **c)
                .await?
        }
    };
    let mut released: Vec<(String, String)> = Vec::new();
    for reservation in reservations {
        released.extend(release_lines(conn, reservation).await?);
    }
    released.sort();
    released.dedup();
    let cancelled_on = cancellation.cancel_date.map(|date| date.date());
    match conn {
        Conn::Postgres(c) => {
            sqlx::query(
                "UPDATE reservations SET status = 'cancelled', updated_at = now() WHERE sale_id = $1",
            )
            .bind(sale_id)
            .execute(&mut **c)
            .await?;
        }
        Conn::Sqlite(c) => {
            sqlx::query(
                "UPDATE reservations SET status = 'cancelled', updated_at = $2 WHERE sale_id = $1",
            )
            .bind(sale_id)
            .bind(Utc::now())
            .execute(&mut **c)
            .await?;
        }
    }
    on_conn!(conn, c => {
        sqlx::query("UPDATE receivables SET status = 'void' WHERE sale_id = $1")
            .bind(sale_id)
            .execute(c)
            .await
            .map(drop)?
    });
    match conn {
        Conn::Postgres(c) => {
            sqlx::query(
                "UPDATE sales SET status_before_cancel = status, status = 'cancelled',
                cancelled_at = now(), cancelled_on = $2
          WHERE id = $1",
            )
            .bind(sale_id)
            .bind(cancelled_on)
            .execute(&mut **c)
            .await?;
        }
        Conn::Sqlite(c) => {
            sqlx::query(
                "UPDATE sales SET status_before_cancel = status, status = 'cancelled',
                                  cancelled_at = $3, cancelled_on = $2
                  WHERE id = $1",
            )
            .bind(sale_id)
            .bind(cancelled_on)
            .bind(Utc::now())
            .execute(&mut **c)
            .await?;
        }
    }
    let place = EventBranch::Named {
        company: &company,
        branch: &branch,
    };
    events::stock_levels(conn, origin, place, &released).await?;
    events::traceability_all(conn, origin, &[(sale_id, place)]).await?;
    Ok(CancelOutcome::Cancelled(vec![InternalIdEntry {
        name: "RetailSalesCancellation".to_owned(),
        origin: internal_id.clone(),
        destination: document_internal_id(&company, &branch, &number),
    }]))
}
