//! The export of integrated sales with confirmation (seed 003, the Senior
//! ERP's "exportar" with integration control), per consumer system:
//!
//! - `all`: every sale, in id order, `limit` at a time; after a confirmed
//!   batch that said more records were pending, the next `all` goes on
//!   where it stopped, else it starts over.
//! - `changed`: every sale the consumer has not confirmed in its current
//!   state (new, or cancelled since).
//! - `one`: the sale with that `DocumentCode` (or `InternalId`).
//!
//! Each batch is numbered and handed out again, same number and sales,
//! until the consumer confirms it; a consumer has one open batch at a time
//! (on PostgreSQL an advisory lock per consumer makes sure of it; SQLite's
//! transactions run one at a time anyway).

use chrono::{DateTime, NaiveDate, Utc};
use eai_domain::money::two_decimals;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::db::{on_conn, Conn, Exact};
use crate::log::Acted;
use crate::{Store, StoreError};

/// Which sales a batch takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportMode {
    All,
    Changed,
    One,
}

impl ExportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportMode::All => "all",
            ExportMode::Changed => "changed",
            ExportMode::One => "one",
        }
    }
}

impl std::str::FromStr for ExportMode {
    type Err = String;

    fn from_str(text: &str) -> Result<ExportMode, String> {
        match text {
            "all" => Ok(ExportMode::All),
            "changed" => Ok(ExportMode::Changed),
            "one" => Ok(ExportMode::One),
            _ => Err("\"all\", \"changed\" or \"one\"".to_owned()),
        }
    }
}

/// An export request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The consumer system's id (seed 003's `IdentificadorSistema`).
    pub consumer: String,
    pub mode: ExportMode,
    /// For `one`: the sale's DocumentCode or InternalId.
    pub document: Option<String>,
    /// Sales per batch.
    pub limit: i64,
}

/// A batch as handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Batch {
    /// The number to confirm; `None` when there was nothing to export.
    pub batch: Option<i64>,
    pub consumer: String,
    pub mode: ExportMode,
    /// More records are pending after this batch (seed 003's `FinalizaramRegistros`).
    pub more: bool,
    /// This batch was handed out before and is not confirmed yet.
    pub again: bool,
    pub sales: Vec<ExportedSale>,
}

/// A sale as exported; money has exactly two decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExportedSale {
    pub company: String,
    pub branch: String,
    pub number: String,
    pub internal_id: String,
    pub document_code: String,
    pub issue_date: NaiveDate,
    pub customer: String,
    pub status: String,
    pub cancelled_on: Option<NaiveDate>,
    pub total_price: String,
    pub net_price: String,
    pub gross_price: String,
    pub discount_value: String,
    pub freight_value: String,
    pub increase_value: String,
    /// The NT 2020.006 fields, as the shop sent them.
    #[serde(flatten)]
    pub fiscal: SaleFiscal,
    pub items: Vec<ExportedItem>,
    pub payments: Vec<ExportedPayment>,
}

/// A sale's NT 2020.006 fields (`IntermediaryCode`, `PresencialIndicator`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, FromRow)]
pub struct SaleFiscal {
    pub intermediary_code: Option<String>,
    pub presencial_indicator: Option<String>,
}

/// An item's delivery and RetailSales 2.010 fields, as the shop sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, FromRow)]
pub struct ItemDelivery {
    pub delivery_type: Option<String>,
    pub delivery_date: Option<String>,
    pub lot_number: Option<String>,
    pub sublot_number: Option<String>,
    pub serial: Option<String>,
    pub address: Option<String>,
    pub carrier: Option<String>,
}

/// A payment's card data for reconciliation: the NSU (`UniqueSerialNumber`),
/// the instalment and the EFT fields, as the shop sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, FromRow)]
pub struct PaymentCard {
    pub nsu: Option<String>,
    pub instalment: Option<String>,
    pub eft_authorization: Option<String>,
    pub eft_institute: Option<String>,
    pub eft_document: Option<String>,
    pub eft_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExportedItem {
    pub item: i32,
    pub product: String,
    pub warehouse: Option<String>,
    /// Four decimals, as the stock keeps it.
    pub quantity: String,
    pub unit_price: String,
    pub item_price: String,
    pub discount_amount: String,
    pub operation_code: String,
    pub tes: String,
    #[serde(flatten)]
    pub delivery: ItemDelivery,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExportedPayment {
    pub payment: i32,
    pub method: String,
    pub financial_manager: Option<String>,
    pub value: String,
    pub paid_on: NaiveDate,
    #[serde(flatten)]
    pub card: PaymentCard,
}

#[derive(FromRow)]
struct SaleRow {
    id: i64,
    company: String,
    branch: String,
    number: String,
    internal_id: String,
    document_code: String,
    issue_date: NaiveDate,
    customer: String,
    status: String,
    cancelled_on: Option<NaiveDate>,
    total_price: Exact,
    net_price: Exact,
    gross_price: Exact,
    discount_value: Exact,
    freight_value: Exact,
    increase_value: Exact,
    #[sqlx(flatten)]
    fiscal: SaleFiscal,
}

#[derive(FromRow)]
struct ItemRow {
    sale_id: i64,
    item_no: i32,
    product: String,
    warehouse: Option<String>,
    quantity: Exact,
    unit_price: Exact,
    item_price: Exact,
    discount_amount: Exact,
    operation_code: String,
    tes: String,
    #[sqlx(flatten)]
    delivery: ItemDelivery,
}

#[derive(FromRow)]
struct PaymentRow {
    sale_id: i64,
    payment_no: i32,
    method: String,
    financial_manager: Option<String>,
    value: Exact,
    paid_on: NaiveDate,
    #[sqlx(flatten)]
    card: PaymentCard,
}

/// A sale's version: when it last changed.
const VERSION: &str = "coalesce(s.cancelled_at, s.created_at)";

impl Store {
    /// Hands out the consumer's open batch again, or makes the next one.
    pub async fn export(&self, request: &ExportRequest) -> Result<Batch, StoreError> {
        let mut tx = self.begin().await?;
        let mut conn = tx.conn();
        if let Conn::Postgres(c) = &mut conn {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('export:' || $1))")
                .bind(&request.consumer)
                .execute(&mut **c)
                .await?;
        }
        let open: Option<(i64, String, bool)> = on_conn!(&mut conn, c => {
            sqlx::query_as(
                "SELECT number, mode, more FROM export_batches
              WHERE consumer = $1 AND confirmed_at IS NULL",
            )
            .bind(&request.consumer)
            .fetch_optional(c)
            .await?
        });
        if let Some((number, mode, more)) = open {
            let ids: Vec<i64> = on_conn!(&mut conn, c => {
                sqlx::query_scalar(
                    "SELECT sale_id FROM export_batch_sales WHERE number = $1 ORDER BY sale_id",
                )
                .bind(number)
                .fetch_all(c)
                .await?
            });
            let sales = exported(&mut conn, &ids).await?;
            tx.commit().await?;
            return Ok(Batch {
                batch: Some(number),
                consumer: request.consumer.clone(),
                mode: mode.parse().unwrap_or(request.mode),
                more,
                again: true,
                sales,
            });
        }
        let mut picked: Vec<(i64, DateTime<Utc>)> = match request.mode {
            ExportMode::All => {
                // Where the last `all` stopped, if it said more were pending.
                let last: Option<(bool, Option<i64>)> = on_conn!(&mut conn, c => {
                    sqlx::query_as(
                        "SELECT b.more, (SELECT max(sale_id) FROM export_batch_sales s
                                      WHERE s.number = b.number)
                       FROM export_batches b
                      WHERE b.consumer = $1 AND b.mode = 'all'
                      ORDER BY b.number DESC LIMIT 1",
                    )
                    .bind(&request.consumer)
                    .fetch_optional(c)
                    .await?
                });
                let after = match last {
                    Some((true, Some(id))) => id,
                    _ => 0,
                };
                on_conn!(&mut conn, c => {
                    sqlx::query_as(&format!(
                        "SELECT s.id, {VERSION} FROM sales s WHERE s.id > $1 ORDER BY s.id LIMIT $2"
                    ))
                    .bind(after)
                    .bind(request.limit + 1)
                    .fetch_all(c)
                    .await?
                })
            }
            ExportMode::Changed => {
                on_conn!(&mut conn, c => {
                    sqlx::query_as(&format!(
                        "SELECT s.id, {VERSION} FROM sales s
                      WHERE NOT EXISTS (SELECT 1 FROM export_confirmed c
                                         WHERE c.consumer = $1 AND c.sale_id = s.id
                                           AND c.version >= {VERSION})
                      ORDER BY s.id LIMIT $2"
                    ))
                    .bind(&request.consumer)
                    .bind(request.limit + 1)
                    .fetch_all(c)
                    .await?
                })
            }
            ExportMode::One => {
                on_conn!(&mut conn, c => {
                    sqlx::query_as(&format!(
                        "SELECT s.id, {VERSION} FROM sales s
                      WHERE s.document_code = $1 OR s.internal_id = $1
                      ORDER BY s.id LIMIT $2"
                    ))
                    .bind(&request.document)
                    .bind(request.limit + 1)
                    .fetch_all(c)
                    .await?
                })
            }
        };
        let limit = usize::try_from(request.limit).unwrap_or(0);
        let more = picked.len() > limit;
        picked.truncate(limit);
        if picked.is_empty() {
            tx.commit().await?;
            return Ok(Batch {
                batch: None,
                consumer: request.consumer.clone(),
                mode: request.mode,
                more: false,
                again: false,
                sales: Vec::new(),
            });
        }
        let (ids, versions): (Vec<i64>, Vec<DateTime<Utc>>) = picked.into_iter().unzip();
        let number: i64 = match &mut conn {
            Conn::Postgres(c) => {
                let number: i64 = sqlx::query_scalar(
                    "INSERT INTO export_batches (consumer, mode, document, more) VALUES ($1, $2, $3, $4)
             RETURNING number",
                )
                .bind(&request.consumer)
                .bind(request.mode.as_str())
                .bind(&request.document)
                .bind(more)
                .fetch_one(&mut **c)
                .await?;
                sqlx::query(
                    "INSERT INTO export_batch_sales (number, sale_id, version)
             SELECT $1, id, version FROM unnest($2::bigint[], $3::timestamptz[]) AS t(id, version)",
                )
                .bind(number)
                .bind(&ids)
                .bind(&versions)
                .execute(&mut **c)
                .await?;
                number
            }
            Conn::Sqlite(c) => {
                let number: i64 = sqlx::query_scalar(
                    "UPDATE sequences SET value = value + 1 WHERE name = 'export_batch_numbers'
                     RETURNING value",
                )
                .fetch_one(&mut **c)
                .await?;
                sqlx::query(
                    "INSERT INTO export_batches (number, consumer, mode, document, more, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(number)
                .bind(&request.consumer)
                .bind(request.mode.as_str())
                .bind(&request.document)
                .bind(more)
                .bind(Utc::now())
                .execute(&mut **c)
                .await?;
                // The versions as the sales keep them: the text compared at
                // the next `changed` is the text copied here.
                sqlx::query(&format!(
                    "INSERT INTO export_batch_sales (number, sale_id, version)
                     SELECT $1, s.id, {VERSION} FROM sales s
                      WHERE s.id IN (SELECT value FROM json_each($2))"
                ))
                .bind(number)
                .bind(serde_json::json!(ids).to_string())
                .execute(&mut **c)
                .await?;
                number
            }
        };
        let sales = exported(&mut conn, &ids).await?;
        tx.commit().await?;
        Ok(Batch {
            batch: Some(number),
            consumer: request.consumer.clone(),
            mode: request.mode,
            more,
            again: false,
            sales,
        })
    }

    /// Confirms batch `number`: its sales count as received by its consumer
    /// in the state they were exported in.
    pub async fn confirm_export(&self, number: i64) -> Result<Acted, StoreError> {
        let mut tx = self.begin().await?;
        let mut conn = tx.conn();
        let consumer: Option<(String, Option<DateTime<Utc>>)> = match &mut conn {
            Conn::Postgres(c) => sqlx::query_as(
                "SELECT consumer, confirmed_at FROM export_batches WHERE number = $1 FOR UPDATE",
            )
            .bind(number)
            .fetch_optional(&mut **c)
            .await?,
            Conn::Sqlite(c) => {
                sqlx::query_as(
                    "SELECT consumer, confirmed_at FROM export_batches WHERE number = $1",
                )
                .bind(number)
                .fetch_optional(&mut **c)
                .await?
            }
        };
        let Some((consumer, confirmed)) = consumer else {
            return Ok(Acted::NotFound);
        };
        if let Some(at) = confirmed {
            return Ok(Acted::Refused(format!(
                "batch {number} was confirmed at {at}"
            )));
        }
        match &mut conn {
            Conn::Postgres(c) => {
                sqlx::query("UPDATE export_batches SET confirmed_at = now() WHERE number = $1")
                    .bind(number)
                    .execute(&mut **c)
                    .await?;
                sqlx::query(
                    "INSERT INTO export_confirmed (consumer, sale_id, version)
             SELECT $2, sale_id, version FROM export_batch_sales WHERE number = $1
             ON CONFLICT (consumer, sale_id)
             DO UPDATE SET version = greatest(export_confirmed.version, EXCLUDED.version)",
                )
                .bind(number)
                .bind(&consumer)
                .execute(&mut **c)
                .await?;
            }
            Conn::Sqlite(c) => {
                sqlx::query("UPDATE export_batches SET confirmed_at = $2 WHERE number = $1")
                    .bind(number)
                    .bind(Utc::now())
                    .execute(&mut **c)
                    .await?;
                // `WHERE true` tells SQLite's parser the SELECT ends before ON CONFLICT.
                sqlx::query(
                    "INSERT INTO export_confirmed (consumer, sale_id, version)
                     SELECT $2, sale_id, version FROM export_batch_sales WHERE number = $1 AND true
                     ON CONFLICT (consumer, sale_id)
                     DO UPDATE SET version = max(export_confirmed.version, excluded.version)",
                )
                .bind(number)
                .bind(&consumer)
                .execute(&mut **c)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Acted::Done)
    }
}

/// The sales `ids` as exported, in id order.
pub(crate) async fn exported(
    conn: &mut Conn<'_>,
    ids: &[i64],
) -> Result<Vec<ExportedSale>, StoreError> {
    let sales: Vec<SaleRow> = of_sales(
        conn,
        "SELECT id, company, branch, number, internal_id, document_code, issue_date, customer,
                status, cancelled_on, total_price, net_price, gross_price, discount_value,
                freight_value, increase_value, intermediary_code, presencial_indicator
           FROM sales WHERE id {IN_IDS} ORDER BY id",
        ids,
    )
    .await?;
    let items: Vec<ItemRow> = of_sales(
        conn,
        "SELECT sale_id, item_no, product, warehouse, quantity, unit_price, item_price,
                discount_amount, operation_code, tes, delivery_type, delivery_date, lot_number,
                sublot_number, serial, address, carrier
           FROM sale_items WHERE sale_id {IN_IDS} ORDER BY sale_id, item_no",
        ids,
    )
    .await?;
    let payments: Vec<PaymentRow> = of_sales(
        conn,
        "SELECT sale_id, payment_no, method, financial_manager, value, paid_on,
                serial_number AS nsu, instalment, eft_authorization, eft_institute, eft_document,
                eft_date
           FROM sale_payments WHERE sale_id {IN_IDS} ORDER BY sale_id, payment_no",
        ids,
    )
    .await?;
    Ok(sales
        .into_iter()
        .map(|sale| ExportedSale {
            items: items
                .iter()
                .filter(|item| item.sale_id == sale.id)
                .map(|item| ExportedItem {
                    item: item.item_no,
                    product: item.product.clone(),
                    warehouse: item.warehouse.clone(),
                    quantity: format!("{:.4}", item.quantity.0),
                    unit_price: two_decimals(item.unit_price.0),
                    item_price: two_decimals(item.item_price.0),
                    discount_amount: two_decimals(item.discount_amount.0),
                    operation_code: item.operation_code.clone(),
                    tes: item.tes.clone(),
                    delivery: item.delivery.clone(),
                })
                .collect(),
            payments: payments
                .iter()
                .filter(|payment| payment.sale_id == sale.id)
                .map(|payment| ExportedPayment {
                    payment: payment.payment_no,
                    method: payment.method.clone(),
                    financial_manager: payment.financial_manager.clone(),
                    value: two_decimals(payment.value.0),
                    paid_on: payment.paid_on,
                    card: payment.card.clone(),
                })
                .collect(),
            company: sale.company,
            branch: sale.branch,
            number: sale.number,
            internal_id: sale.internal_id,
            document_code: sale.document_code,
            issue_date: sale.issue_date,
            customer: sale.customer,
            status: sale.status,
            cancelled_on: sale.cancelled_on,
            total_price: two_decimals(sale.total_price.0),
            net_price: two_decimals(sale.net_price.0),
            gross_price: two_decimals(sale.gross_price.0),
            discount_value: two_decimals(sale.discount_value.0),
            freight_value: two_decimals(sale.freight_value.0),
            increase_value: two_decimals(sale.increase_value.0),
            fiscal: sale.fiscal,
        })
        .collect())
}

/// The rows `select` reads for the sales `ids`: its `{IN_IDS}` is where the
/// list goes, a bound array on PostgreSQL, a JSON array on SQLite.
async fn of_sales<T>(conn: &mut Conn<'_>, select: &str, ids: &[i64]) -> Result<Vec<T>, StoreError>
where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
{
    Ok(match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(&select.replace("{IN_IDS}", "= ANY($1)"))
                .bind(ids)
                .fetch_all(&mut **c)
                .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_as(&select.replace("{IN_IDS}", "IN (SELECT value FROM json_each($1))"))
                .bind(serde_json::json!(ids).to_string())
                .fetch_all(&mut **c)
                .await?
        }
    })
}
