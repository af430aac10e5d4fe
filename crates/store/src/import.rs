//! `eai import`: master data and de/para mappings from one JSON file (SPEC §3).
//!
//! Every row is an upsert by its natural key, so importing the same file twice
//! changes nothing. Rows are checked first and written second, all in one
//! transaction: one bad row means nothing is loaded, and the report names
//! every bad row by its JSON path (`$.lots[3].quantity`), not just the first.

use chrono::NaiveDate;
use eai_domain::Entity;
use eai_protocol::{Json, ListStyle};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use sqlx::error::{DatabaseError, ErrorKind};

use crate::db::{on_conn, quantity, Conn, Exact, Texts};
use crate::mappings::upsert_mapping;
use crate::{Store, StoreError};

/// A row that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub path: String,
    pub message: String,
}

/// What an import did: rows upserted per section, or why nothing was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub upserted: Vec<(&'static str, usize)>,
    pub errors: Vec<RowError>,
}

impl ImportReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn total(&self) -> usize {
        self.upserted.iter().map(|(_, count)| count).sum()
    }
}

/// Counts the rows of a parsed file, to size a progress bar.
pub fn row_count(document: &Value) -> u64 {
    SECTIONS
        .iter()
        .filter_map(|section| document.get(section).and_then(Value::as_array))
        .map(|rows| rows.len() as u64)
        .sum()
}

impl Store {
    /// Loads `document`, calling `progress` after each row written.
    pub async fn import(
        &self,
        document: &Value,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        let Some(root) = document.as_object() else {
            report.errors.push(RowError {
                path: "$".into(),
                message: "expected an object with sections such as \"products\" and \"lots\""
                    .into(),
            });
            return Ok(report);
        };
        for key in root.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                report.errors.push(RowError {
                    path: format!("$.{key}"),
                    message: format!("unknown section; expected one of {}", SECTIONS.join(", ")),
                });
            }
        }
        // Rows that parsed are still written (then rolled back) when others did
        // not, so what only the database can check is reported in the same pass.
        let rows = Rows::parse(root, &mut report.errors);
        let mut tx = self.begin().await?;
        let mut written = 0;
        let mut write = |count: usize| {
            written += count as u64;
            progress(written);
        };
        report.upserted = rows
            .write(&mut tx.conn(), &mut report.errors, &mut write)
            .await?;
        if report.errors.is_empty() {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
            report.upserted.clear();
        }
        Ok(report)
    }
}

/// Writes each row in a savepoint, so a database error on one row is reported
/// with its path and the others are still checked.
async fn write_all<R: Row>(
    conn: &mut Conn<'_>,
    rows: &[(String, R)],
    errors: &mut Vec<RowError>,
    progress: &mut impl FnMut(usize),
) -> Result<usize, StoreError> {
    for (path, row) in rows {
        let mut savepoint = conn.savepoint().await?;
        match row.upsert(&mut savepoint.conn()).await {
            Ok(()) => savepoint.commit().await?,
            Err(sqlx::Error::Database(error)) => {
                savepoint.rollback().await?;
                errors.push(RowError {
                    path: path.clone(),
                    message: R::explain(error.as_ref()),
                });
            }
            Err(other) => return Err(other.into()),
        }
        progress(1);
    }
    Ok(rows.len())
}

/// One kind of import row.
trait Row: DeserializeOwned {
    /// Checks what serde cannot (enumerations, decimals); an error names the field.
    fn check(&self) -> Result<(), (String, String)> {
        Ok(())
    }

    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error>;

    /// A database refusal in the import file's terms.
    fn explain(error: &dyn DatabaseError) -> String {
        error.message().to_owned()
    }
}

/// The constraint a refusal names: PostgreSQL reports it apart, SQLite at
/// the end of its message (`CHECK constraint failed: reserved_within_on_hand`).
fn constraint(error: &dyn DatabaseError) -> Option<&str> {
    error
        .constraint()
        .or_else(|| error.message().strip_prefix("CHECK constraint failed: "))
}

/// Declares the sections of an import file once: their order (which
/// satisfies foreign keys), their row types, how they are parsed and written.
macro_rules! sections {
    ($($name:ident: $row:ty),* $(,)?) => {
        /// The sections of an import file, in the order they are written.
        pub const SECTIONS: &[&str] = &[$(stringify!($name)),*];

        struct Rows {
            $($name: Vec<(String, $row)>,)*
        }

        impl Rows {
            fn parse(root: &serde_json::Map<String, Value>, errors: &mut Vec<RowError>) -> Rows {
                Rows {
                    $($name: section(root, stringify!($name), errors),)*
                }
            }

            async fn write(
                &self,
                conn: &mut Conn<'_>,
                errors: &mut Vec<RowError>,
                progress: &mut impl FnMut(usize),
            ) -> Result<Vec<(&'static str, usize)>, StoreError> {
                Ok(vec![
                    $((stringify!($name), write_all(conn, &self.$name, errors, progress).await?),)*
                ])
            }
        }
    };
}

sections! {
    companies: CompanyRow,
    branches: BranchRow,
    products: ProductRow,
    customers: CustomerRow,
    warehouses: WarehouseRow,
    stations: StationRow,
    operators: CodeRow<Operators>,
    payment_methods: PaymentMethodRow,
    financial_managers: FinancialManagerRow,
    carriers: CodeRow<Carriers>,
    operations: OperationRow,
    lots: LotRow,
    mappings: MappingRow,
    destinations: DestinationRow,
}

fn section<R: Row>(
    root: &serde_json::Map<String, Value>,
    name: &str,
    errors: &mut Vec<RowError>,
) -> Vec<(String, R)> {
    let rows = match root.get(name) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(rows)) => rows,
        Some(_) => {
            errors.push(RowError {
                path: format!("$.{name}"),
                message: "expected a list of rows".into(),
            });
            return Vec::new();
        }
    };
    let mut parsed = Vec::with_capacity(rows.len());
    for (index, value) in rows.iter().enumerate() {
        let path = format!("$.{name}[{index}]");
        match R::deserialize(value).map_err(|error| (String::new(), error.to_string())) {
            Ok(row) => match row.check() {
                Ok(()) => parsed.push((path, row)),
                Err((field, message)) => errors.push(RowError {
                    path: format!("{path}.{field}"),
                    message,
                }),
            },
            Err((_, message)) => errors.push(RowError { path, message }),
        }
    }
    parsed
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyRow {
    code: String,
    #[serde(default)]
    name: String,
    cnpj: Option<String>,
}

impl Row for CompanyRow {
    fn check(&self) -> Result<(), (String, String)> {
        match &self.cnpj {
            Some(cnpj) if cnpj.chars().filter(char::is_ascii_digit).count() != 14 => Err((
                "cnpj".to_owned(),
                "expected a CNPJ: 14 digits, punctuation allowed".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO companies (code, name, cnpj) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, cnpj = EXCLUDED.cnpj",
            )
            .bind(&self.code)
            .bind(&self.name)
            .bind(&self.cnpj)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchRow {
    company: String,
    branch: String,
    closed_until: Option<NaiveDate>,
    #[serde(default)]
    released_payment_methods: Vec<String>,
    #[serde(default)]
    reserve_without_stock: bool,
}

impl Row for BranchRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO branches (company, branch, closed_until, released_payment_methods, reserve_without_stock)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (company, branch) DO UPDATE SET closed_until = EXCLUDED.closed_until,
                 released_payment_methods = EXCLUDED.released_payment_methods,
                 reserve_without_stock = EXCLUDED.reserve_without_stock",
            )
            .bind(&self.company)
            .bind(&self.branch)
            .bind(self.closed_until)
            .bind(Texts(self.released_payment_methods.clone()))
            .bind(self.reserve_without_stock)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductRow {
    code: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    blocked: bool,
    default_warehouse: Option<String>,
    tes: Option<String>,
    #[serde(default = "yes")]
    lot_tracked: bool,
}

fn yes() -> bool {
    true
}

impl Row for ProductRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO products (code, description, blocked, default_warehouse, tes, lot_tracked)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (code) DO UPDATE SET description = EXCLUDED.description,
                 blocked = EXCLUDED.blocked, default_warehouse = EXCLUDED.default_warehouse,
                 tes = EXCLUDED.tes, lot_tracked = EXCLUDED.lot_tracked",
            )
            .bind(&self.code)
            .bind(&self.description)
            .bind(self.blocked)
            .bind(&self.default_warehouse)
            .bind(&self.tes)
            .bind(self.lot_tracked)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerRow {
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    blocked: bool,
}

impl Row for CustomerRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO customers (code, name, blocked) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, blocked = EXCLUDED.blocked",
            )
            .bind(&self.code)
            .bind(&self.name)
            .bind(self.blocked)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WarehouseRow {
    branch: String,
    code: String,
}

impl Row for WarehouseRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query("INSERT INTO warehouses (branch, code) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&self.branch)
                .bind(&self.code)
                .execute(c)
                .await
                .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StationRow {
    branch: String,
    code: String,
    #[serde(default)]
    series: String,
}

impl Row for StationRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO stations (branch, code, series) VALUES ($1, $2, $3)
             ON CONFLICT (branch, code) DO UPDATE SET series = EXCLUDED.series",
            )
            .bind(&self.branch)
            .bind(&self.code)
            .bind(&self.series)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

/// The tables whose rows are a bare code.
trait CodeTable {
    const INSERT: &'static str;
}

struct Operators;
impl CodeTable for Operators {
    const INSERT: &'static str = "INSERT INTO operators (code) VALUES ($1) ON CONFLICT DO NOTHING";
}

struct Carriers;
impl CodeTable for Carriers {
    const INSERT: &'static str = "INSERT INTO carriers (code) VALUES ($1) ON CONFLICT DO NOTHING";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRow<T> {
    code: String,
    #[serde(skip)]
    table: std::marker::PhantomData<T>,
}

impl<T: CodeTable> Row for CodeRow<T> {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(T::INSERT)
                .bind(&self.code)
                .execute(c)
                .await
                .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentMethodRow {
    code: String,
    #[serde(default)]
    requires_financial_manager: bool,
}

impl Row for PaymentMethodRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO payment_methods (code, requires_financial_manager) VALUES ($1, $2)
             ON CONFLICT (code) DO UPDATE SET requires_financial_manager = EXCLUDED.requires_financial_manager",
            )
            .bind(&self.code)
            .bind(self.requires_financial_manager)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinancialManagerRow {
    code: String,
    #[serde(default)]
    days: i32,
    #[serde(default)]
    own_financing: bool,
}

impl Row for FinancialManagerRow {
    fn check(&self) -> Result<(), (String, String)> {
        if self.days < 0 {
            return Err((
                "days".into(),
                format!("expected 0 or more days, got {}", self.days),
            ));
        }
        Ok(())
    }

    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO financial_managers (code, days, own_financing) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET days = EXCLUDED.days, own_financing = EXCLUDED.own_financing",
            )
            .bind(&self.code)
            .bind(self.days)
            .bind(self.own_financing)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationRow {
    operation: String,
    tes: String,
}

impl Row for OperationRow {
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO operations (operation, tes) VALUES ($1, $2)
             ON CONFLICT (operation) DO UPDATE SET tes = EXCLUDED.tes",
            )
            .bind(&self.operation)
            .bind(&self.tes)
            .execute(c)
            .await
            .map(drop)
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LotRow {
    branch: String,
    product: String,
    warehouse: String,
    lot: String,
    #[serde(default)]
    sublot: String,
    expires_on: Option<NaiveDate>,
    received_on: Option<NaiveDate>,
    /// Read with the envelope's tolerant number rules ("100,5" is fine).
    quantity: Value,
}

impl LotRow {
    fn quantity(&self) -> Option<Decimal> {
        eai_protocol::number::parse_decimal(&Json::from(&self.quantity))
            .ok()
            .flatten()
            .filter(|quantity| *quantity >= Decimal::ZERO)
    }
}

impl Row for LotRow {
    fn check(&self) -> Result<(), (String, String)> {
        match self.quantity() {
            Some(_) => Ok(()),
            None => Err((
                "quantity".into(),
                format!(
                    "expected a decimal quantity of 0 or more, got {}",
                    self.quantity
                ),
            )),
        }
    }

    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO lots (branch, product, warehouse, lot, sublot, expires_on, received_on, quantity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (branch, product, warehouse, lot, sublot) DO UPDATE SET
                 expires_on = EXCLUDED.expires_on, received_on = EXCLUDED.received_on,
                 quantity = EXCLUDED.quantity",
            )
            .bind(&self.branch)
            .bind(&self.product)
            .bind(&self.warehouse)
            .bind(&self.lot)
            .bind(&self.sublot)
            .bind(self.expires_on)
            .bind(self.received_on)
            .bind(Exact(quantity(self.quantity().unwrap_or_default())))
            .execute(c)
            .await
            .map(drop)
        })
    }

    /// A lot's only foreign key is its product's (SQLite does not name it).
    fn explain(error: &dyn DatabaseError) -> String {
        match (constraint(error), error.kind()) {
            (Some("reserved_within_on_hand"), _) => {
                "quantity is below what is already reserved from this lot".into()
            }
            (_, ErrorKind::ForeignKeyViolation) => {
                "product is not registered (add it to \"products\")".into()
            }
            _ => error.message().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingRow {
    namespace: String,
    entity: String,
    external: String,
    internal: String,
}

impl Row for MappingRow {
    fn check(&self) -> Result<(), (String, String)> {
        match Entity::parse(&self.entity) {
            Some(_) => Ok(()),
            None => Err((
                "entity".into(),
                format!(
                    "expected one of {}, got {:?}",
                    Entity::ALL.map(Entity::as_str).join(", "),
                    self.entity
                ),
            )),
        }
    }

    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        let entity: &str = match Entity::parse(&self.entity) {
            Some(entity) => entity.as_str(),
            None => &self.entity,
        };
        upsert_mapping(
            conn,
            &self.namespace,
            entity,
            &self.external,
            &self.internal,
        )
        .await
        .map(drop)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationRow {
    name: String,
    company: String,
    branch: String,
    transaction: String,
    kind: String,
    exchange: Option<String>,
    #[serde(default)]
    routing_key: String,
    url: Option<String>,
    auth_header: Option<String>,
    auth_value: Option<String>,
    timeout_ms: Option<i32>,
    max_attempts: Option<i32>,
    namespace: Option<String>,
    list_style: Option<String>,
}

impl Row for DestinationRow {
    fn check(&self) -> Result<(), (String, String)> {
        match (self.kind.as_str(), &self.exchange, &self.url) {
            ("amqp", Some(_), _) | ("http", _, Some(_)) => {}
            ("amqp", None, _) => {
                return Err((
                    "exchange".into(),
                    "an AMQP destination needs an exchange".into(),
                ))
            }
            ("http", _, None) => {
                return Err(("url".into(), "an HTTP destination needs a url".into()))
            }
            (other, _, _) => {
                return Err((
                    "kind".into(),
                    format!("expected \"amqp\" or \"http\", got {other:?}"),
                ))
            }
        }
        if self.auth_header.is_some() != self.auth_value.is_some() {
            return Err((
                "auth_value".into(),
                "auth_header and auth_value go together".into(),
            ));
        }
        if let Some(timeout) = self.timeout_ms.filter(|timeout| *timeout <= 0) {
            return Err((
                "timeout_ms".into(),
                format!("expected a positive number of milliseconds, got {timeout}"),
            ));
        }
        if let Some(attempts) = self.max_attempts.filter(|attempts| *attempts <= 0) {
            return Err((
                "max_attempts".into(),
                format!("expected at least 1, got {attempts}"),
            ));
        }
        if let Some(style) = self
            .list_style
            .as_deref()
            .filter(|style| ListStyle::parse(style).is_none())
        {
            return Err((
                "list_style".into(),
                format!(
                    "expected one of {}, got {style:?}",
                    ListStyle::ALL.map(ListStyle::as_str).join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// New credentials unblock a destination blocked for refusing the old ones.
    async fn upsert(&self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        let statement = upsert_destination(if conn.is_sqlite() {
            "\"transaction\""
        } else {
            "transaction"
        });
        let unblocked: Option<i64> = on_conn!(conn, c => {
            sqlx::query_scalar(&statement)
            .bind(&self.name)
            .bind(&self.company)
            .bind(&self.branch)
            .bind(&self.transaction)
            .bind(&self.kind)
            .bind(&self.exchange)
            .bind(&self.routing_key)
            .bind(&self.url)
            .bind(&self.auth_header)
            .bind(&self.auth_value)
            .bind(self.timeout_ms)
            .bind(self.max_attempts)
            .bind(&self.namespace)
            .bind(
                self.list_style
                    .as_deref()
                    .and_then(ListStyle::parse)
                    .unwrap_or_default()
                    .as_str(),
            )
            .fetch_one(c)
            .await?
        });
        if let Some(id) = unblocked {
            crate::outbound::release_blocked(conn, id).await?;
        }
        Ok(())
    }
}

/// The upsert of a destination, its id back unless it stays blocked; the
/// `transaction` column as the backend spells it (SQLite quotes its keyword).
fn upsert_destination(transaction: &str) -> String {
    format!(
        "INSERT INTO destinations
                (name, company, branch, {transaction}, kind, exchange, routing_key, url,
                 auth_header, auth_value, timeout_ms, max_attempts, namespace, list_style)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, 30000), coalesce($12, 4),
                     $13, $14)
             ON CONFLICT (name) DO UPDATE SET
                 company = EXCLUDED.company, branch = EXCLUDED.branch,
                 {transaction} = EXCLUDED.{transaction}, kind = EXCLUDED.kind,
                 exchange = EXCLUDED.exchange, routing_key = EXCLUDED.routing_key, url = EXCLUDED.url,
                 auth_header = EXCLUDED.auth_header, auth_value = EXCLUDED.auth_value,
                 timeout_ms = EXCLUDED.timeout_ms, max_attempts = EXCLUDED.max_attempts,
                 namespace = EXCLUDED.namespace, list_style = EXCLUDED.list_style,
                 blocked = destinations.blocked
                           AND destinations.auth_value IS NOT DISTINCT FROM EXCLUDED.auth_value,
                 blocked_reason = CASE WHEN destinations.auth_value IS NOT DISTINCT FROM EXCLUDED.auth_value
                                       THEN destinations.blocked_reason END,
                 blocked_at = CASE WHEN destinations.auth_value IS NOT DISTINCT FROM EXCLUDED.auth_value
                                   THEN destinations.blocked_at END
             RETURNING CASE WHEN blocked THEN NULL ELSE id END"
    )
}
