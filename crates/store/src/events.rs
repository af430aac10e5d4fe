//! The business events the worker emits, enqueued in the transaction that
//! caused them (so an event exists exactly when its change was committed):
//! `StockLevel` when reservations change what a lot has available, and
//! `DocumentTraceabilityOrder` when a sale is integrated or cancelled.
//!
//! Events go to the destinations configured for their (company, branch,
//! transaction); where none is configured nothing is written. Each
//! destination gets its own copy (its own UUID), in its own words: our codes
//! translated back into the values of the de/para namespace it names (reverse
//! de/para; ours where it maps none) and its lists in the style it asked for.
//!
//! On SQLite the lists a statement takes are JSON arrays (`json_each`) and
//! the amounts are read as exact decimals ([`Exact`]), as everywhere else.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use eai_domain::{document_internal_id, Entity, Outgoing};
use eai_protocol::events::{
    ListStyle, LotLevel, Outbound, StockLevel, StockReturn, Traceability, TracedItem,
    WarehouseLevel,
};
use eai_protocol::ReceiptOrigin;

use crate::db::{on_conn, Conn, Exact};
use crate::directory::Branch;
use crate::outbound::{enqueue_to, Destination};
use crate::StoreError;

/// The branch an event is about. A branch the transaction has read
/// ([`crate::directory::locate_all`]) knows which events it has destinations
/// for ([`Branch::listened`]), so its destinations are looked for only when
/// it has some; a branch named by its codes alone is looked up.
#[derive(Debug, Clone, Copy)]
pub enum EventBranch<'a> {
    Read(&'a Branch),
    Named { company: &'a str, branch: &'a str },
}

impl<'a> EventBranch<'a> {
    /// (company, branch) as one of `read` if the transaction read it, else
    /// by its codes.
    pub fn among(read: &[&'a Branch], company: &'a str, branch: &'a str) -> EventBranch<'a> {
        read.iter()
            .find(|known| known.company == company && known.branch == branch)
            .map_or(EventBranch::Named { company, branch }, |known| {
                EventBranch::Read(known)
            })
    }

    fn company(&self) -> &'a str {
        match self {
            EventBranch::Read(known) => &known.company,
            EventBranch::Named { company, .. } => company,
        }
    }

    fn branch(&self) -> &'a str {
        match self {
            EventBranch::Read(known) => &known.branch,
            EventBranch::Named { branch, .. } => branch,
        }
    }

    /// Whether a destination of this branch may want `transaction`: false
    /// only when the branch was read with none for it.
    fn may_be_heard(&self, transaction: &str) -> bool {
        match self {
            EventBranch::Read(known) => known.listens_to(transaction),
            EventBranch::Named { .. } => true,
        }
    }
}

/// A destination an event goes to, and how it wants it.
#[derive(Debug)]
struct Audience {
    id: i64,
    namespace: Option<String>,
    style: ListStyle,
}

impl Audience {
    /// Enqueues for this destination the envelope `envelope` writes, given a
    /// fresh UUID and the destination's list style.
    async fn enqueue(
        &self,
        conn: &mut Conn<'_>,
        transaction: &str,
        document_key: &str,
        envelope: impl FnOnce(&str, ListStyle) -> Vec<u8>,
    ) -> Result<u64, StoreError> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let body = envelope(&uuid, self.style);
        enqueue_to(
            conn,
            &[self.id],
            transaction,
            &uuid,
            &String::from_utf8_lossy(&body),
            document_key,
        )
        .await
    }
}

/// The destinations that want `transaction` from this branch.
async fn audiences(
    conn: &mut Conn<'_>,
    company: &str,
    branch: &str,
    transaction: &str,
) -> Result<Vec<Audience>, StoreError> {
    let rows: Vec<(i64, Option<String>, String)> = on_conn!(conn, c => {
        sqlx::query_as(
            "SELECT id, namespace, list_style FROM destinations
              WHERE company = $1 AND branch = $2 AND \"transaction\" = $3 ORDER BY id",
        )
        .bind(company)
        .bind(branch)
        .bind(transaction)
        .fetch_all(c)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, namespace, style)| Audience {
            id,
            namespace,
            style: ListStyle::parse(&style).unwrap_or_default(),
        })
        .collect())
}

/// Our `codes` as `namespace` knows them, newest mapping first.
pub(crate) async fn outgoing(
    conn: &mut Conn<'_>,
    namespace: &str,
    codes: &[(Entity, &str)],
) -> Result<Outgoing, StoreError> {
    let entities: Vec<&str> = codes.iter().map(|(entity, _)| entity.as_str()).collect();
    let internals: Vec<&str> = codes.iter().map(|(_, code)| *code).collect();
    let rows: Vec<(String, String, String)> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT m.entity, m.internal, m.external
           FROM mappings m
           JOIN (SELECT DISTINCT * FROM unnest($2::text[], $3::text[])) AS w(entity, internal)
             ON m.entity = w.entity AND m.internal = w.internal
          WHERE m.namespace = $1
          ORDER BY m.written_at DESC, m.external",
            )
            .bind(namespace)
            .bind(&entities)
            .bind(&internals)
            .fetch_all(&mut **c)
            .await?
        }
        // The wanted codes as one JSON array of `[entity, internal]` pairs.
        Conn::Sqlite(c) => {
            sqlx::query_as(
                "SELECT m.entity, m.internal, m.external
               FROM mappings m
               JOIN (SELECT DISTINCT value ->> 0 AS entity, value ->> 1 AS internal
                       FROM json_each($2)) AS w
                 ON m.entity = w.entity AND m.internal = w.internal
              WHERE m.namespace = $1
              ORDER BY m.written_at DESC, m.external",
            )
            .bind(namespace)
            .bind(sqlx::types::Json(
                entities.iter().zip(&internals).collect::<Vec<_>>(),
            ))
            .fetch_all(&mut **c)
            .await?
        }
    };
    let mut outgoing = Outgoing::default();
    for (entity, internal, external) in &rows {
        if let Some(entity) = Entity::parse(entity) {
            outgoing.add(entity, internal, external);
        }
    }
    Ok(outgoing)
}

/// [`outgoing`] once per namespace among `audiences`; a destination naming
/// no namespace gets our codes.
async fn outgoing_by_namespace(
    conn: &mut Conn<'_>,
    audiences: &[Audience],
    codes: &[(Entity, &str)],
) -> Result<HashMap<Option<String>, Outgoing>, StoreError> {
    let mut by_namespace = HashMap::new();
    for audience in audiences {
        if by_namespace.contains_key(&audience.namespace) {
            continue;
        }
        let translated = match &audience.namespace {
            Some(namespace) => outgoing(conn, namespace, codes).await?,
            None => Outgoing::default(),
        };
        by_namespace.insert(audience.namespace.clone(), translated);
    }
    Ok(by_namespace)
}

/// Enqueues one `StockLevel` per `(product, warehouse)` of the branch for
/// each destination that wants it, read from the lots as this transaction
/// sees them. Returns how many messages were created.
pub async fn stock_levels(
    conn: &mut Conn<'_>,
    origin: &ReceiptOrigin,
    place: EventBranch<'_>,
    keys: &[(String, String)],
) -> Result<u64, StoreError> {
    if keys.is_empty() || !place.may_be_heard(StockReturn::TRANSACTION) {
        return Ok(0);
    }
    let (company, branch) = (place.company(), place.branch());
    let audiences = audiences(conn, company, branch, StockReturn::TRANSACTION).await?;
    if audiences.is_empty() {
        return Ok(0);
    }
    let products: Vec<&str> = keys.iter().map(|(product, _)| product.as_str()).collect();
    let warehouses: Vec<&str> = keys
        .iter()
        .map(|(_, warehouse)| warehouse.as_str())
        .collect();
    let mut lots: HashMap<(&str, &str), Vec<LotLevel>> = HashMap::new();
    let read = stock_lots(conn, branch, &products).await?;
    for lot in &read {
        lots.entry((lot.product.as_str(), lot.warehouse.as_str()))
            .or_default()
            .push(lot.level());
    }
    let closing_stock_date = closing_stock_date(conn, company, branch).await?;
    let codes: Vec<(Entity, &str)> = std::iter::once((Entity::Company, company))
        .chain(products.iter().map(|product| (Entity::Product, *product)))
        .chain(
            warehouses
                .iter()
                .map(|warehouse| (Entity::Warehouse, *warehouse)),
        )
        .collect();
    let outgoing = outgoing_by_namespace(conn, &audiences, &codes).await?;
    let now = Utc::now();
    let mut created = 0;
    for audience in &audiences {
        let codes = &outgoing[&audience.namespace];
        let their_company = codes.code(Entity::Company, company);
        for (product, warehouse) in keys {
            let level = StockReturn {
                closing_stock_date,
                items: vec![StockLevel {
                    company: their_company.to_owned(),
                    branch: branch.to_owned(),
                    product: codes.code(Entity::Product, product).to_owned(),
                    reference_date: now.date_naive(),
                    warehouses: vec![WarehouseLevel {
                        warehouse: codes.code(Entity::Warehouse, warehouse).to_owned(),
                        lots: lots
                            .get(&(product.as_str(), warehouse.as_str()))
                            .cloned()
                            .unwrap_or_default(),
                    }],
                }],
            };
            created += audience
                .enqueue(
                    conn,
                    StockReturn::TRANSACTION,
                    &format!("StockLevel|{branch}|{product}|{warehouse}"),
                    |uuid, style| {
                        level.envelope(
                            &Outbound {
                                origin,
                                uuid,
                                company: their_company,
                                branch,
                                generated_on: now,
                            },
                            style,
                        )
                    },
                )
                .await?;
        }
    }
    Ok(created)
}

/// The lots of `products` in the branch, every warehouse, as this
/// transaction sees them: by product and warehouse, soonest expiry first.
pub(crate) async fn stock_lots(
    conn: &mut Conn<'_>,
    branch: &str,
    products: &[&str],
) -> Result<Vec<StockLot>, StoreError> {
    Ok(match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT product, warehouse, lot, sublot, expires_on, quantity, reserved
           FROM lots
          WHERE branch = $1 AND product = ANY($2)
          ORDER BY product, warehouse, expires_on NULLS LAST, lot, sublot",
            )
            .bind(branch)
            .bind(products)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_as(
                "SELECT product, warehouse, lot, sublot, expires_on, quantity, reserved
               FROM lots
              WHERE branch = $1 AND product IN (SELECT value FROM json_each($2))
              ORDER BY product, warehouse, expires_on NULLS LAST, lot, sublot",
            )
            .bind(branch)
            .bind(sqlx::types::Json(products))
            .fetch_all(&mut **c)
            .await?
        }
    })
}

/// The branch's last closed day: StockLevel's `ClosingStockDate`.
pub(crate) async fn closing_stock_date(
    conn: &mut Conn<'_>,
    company: &str,
    branch: &str,
) -> Result<Option<NaiveDate>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar("SELECT closed_until FROM branches WHERE company = $1 AND branch = $2")
            .bind(company)
            .bind(branch)
            .fetch_optional(c)
            .await?
            .flatten()
    }))
}

/// Enqueues the `DocumentTraceabilityOrder` of each sale (by id, with its
/// branch: a branch read with no traceability destination is skipped
/// without a statement) as it now stands: the sales some destination wants
/// and their items are read in one statement each.
pub async fn traceability_all(
    conn: &mut Conn<'_>,
    origin: &ReceiptOrigin,
    sales: &[(i64, EventBranch<'_>)],
) -> Result<u64, StoreError> {
    let sale_ids: Vec<i64> = sales
        .iter()
        .filter(|(_, place)| place.may_be_heard(Traceability::TRANSACTION))
        .map(|(id, _)| *id)
        .collect();
    if sale_ids.is_empty() {
        return Ok(0);
    }
    let sales: Vec<SaleRow> =
        match conn {
            Conn::Postgres(c) => sqlx::query_as(
                "SELECT s.id, s.company, s.branch, s.internal_id, s.number, s.status, s.issue_date,
                s.series, s.customer, s.net_price, s.created_at
           FROM sales s
          WHERE s.id = ANY($1)
            AND EXISTS (SELECT 1 FROM destinations d
                         WHERE d.company = s.company AND d.branch = s.branch
                           AND d.transaction = $2)
          ORDER BY s.id",
            )
            .bind(&sale_ids)
            .bind(Traceability::TRANSACTION)
            .fetch_all(&mut **c)
            .await?,
            Conn::Sqlite(c) => sqlx::query_as(
                "SELECT s.id, s.company, s.branch, s.internal_id, s.number, s.status, s.issue_date,
                    s.series, s.customer, s.net_price, s.created_at
               FROM sales s
              WHERE s.id IN (SELECT value FROM json_each($1))
                AND EXISTS (SELECT 1 FROM destinations d
                             WHERE d.company = s.company AND d.branch = s.branch
                               AND d.\"transaction\" = $2)
              ORDER BY s.id",
            )
            .bind(sqlx::types::Json(&sale_ids))
            .bind(Traceability::TRANSACTION)
            .fetch_all(&mut **c)
            .await?,
        };
    if sales.is_empty() {
        return Ok(0);
    }
    let wanted: Vec<i64> = sales.iter().map(|sale| sale.id).collect();
    let items: Vec<ItemRow> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT sale_id, item_no, product, quantity, unit_price, item_price, warehouse
           FROM sale_items WHERE sale_id = ANY($1) ORDER BY sale_id, item_no",
            )
            .bind(&wanted)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_as(
                "SELECT sale_id, item_no, product, quantity, unit_price, item_price, warehouse
               FROM sale_items WHERE sale_id IN (SELECT value FROM json_each($1))
              ORDER BY sale_id, item_no",
            )
            .bind(sqlx::types::Json(&wanted))
            .fetch_all(&mut **c)
            .await?
        }
    };
    let mut lines: HashMap<i64, Vec<&ItemRow>> = HashMap::new();
    for item in &items {
        lines.entry(item.sale_id).or_default().push(item);
    }
    let mut by_branch: BTreeMap<(&str, &str), Vec<&SaleRow>> = BTreeMap::new();
    for sale in &sales {
        by_branch
            .entry((sale.company.as_str(), sale.branch.as_str()))
            .or_default()
            .push(sale);
    }
    let mut created = 0;
    for ((company, branch), sales) in by_branch {
        let audiences = audiences(conn, company, branch, Traceability::TRANSACTION).await?;
        let codes: Vec<(Entity, &str)> = std::iter::once((Entity::Company, company))
            .chain(
                sales
                    .iter()
                    .map(|sale| (Entity::Customer, sale.customer.as_str())),
            )
            .chain(sales.iter().flat_map(|sale| {
                lines.get(&sale.id).into_iter().flatten().flat_map(|item| {
                    std::iter::once((Entity::Product, item.product.as_str())).chain(
                        item.warehouse
                            .as_deref()
                            .map(|warehouse| (Entity::Warehouse, warehouse)),
                    )
                })
            }))
            .collect();
        let outgoing = outgoing_by_namespace(conn, &audiences, &codes).await?;
        for sale in sales {
            let sale_lines = lines.get(&sale.id).map(Vec::as_slice).unwrap_or_default();
            for audience in &audiences {
                let codes = &outgoing[&audience.namespace];
                let their_company = codes.code(Entity::Company, company);
                let trace = Traceability {
                    company: their_company.to_owned(),
                    branch: branch.to_owned(),
                    internal_id: document_internal_id(company, branch, &sale.number),
                    number: sale.number.clone(),
                    status: sale.status.clone(),
                    registered_at: sale.created_at,
                    issue_date: sale.issue_date,
                    series: sale.series.clone(),
                    customer: codes.code(Entity::Customer, &sale.customer).to_owned(),
                    value: sale.net_price.0,
                    retail_sales_internal_id: sale.internal_id.clone(),
                    items: sale_lines
                        .iter()
                        .map(|item| TracedItem {
                            number: u32::try_from(item.item_no).unwrap_or_default(),
                            product: codes.code(Entity::Product, &item.product).to_owned(),
                            quantity: item.quantity.0,
                            unit_price: item.unit_price.0,
                            total_price: item.item_price.0,
                            warehouse: item.warehouse.as_deref().map(|warehouse| {
                                codes.code(Entity::Warehouse, warehouse).to_owned()
                            }),
                        })
                        .collect(),
                };
                created += audience
                    .enqueue(
                        conn,
                        Traceability::TRANSACTION,
                        &format!("RetailSales|{}", sale.internal_id),
                        |uuid, style| {
                            trace.envelope(
                                &Outbound {
                                    origin,
                                    uuid,
                                    company: their_company,
                                    branch,
                                    generated_on: Utc::now(),
                                },
                                style,
                            )
                        },
                    )
                    .await?;
            }
        }
    }
    Ok(created)
}

/// One lot of a stock query.
#[derive(sqlx::FromRow)]
pub(crate) struct StockLot {
    pub(crate) product: String,
    pub(crate) warehouse: String,
    pub(crate) lot: String,
    pub(crate) sublot: String,
    expires_on: Option<NaiveDate>,
    quantity: Exact,
    reserved: Exact,
}

impl StockLot {
    pub(crate) fn level(&self) -> LotLevel {
        LotLevel {
            lot: self.lot.clone(),
            sublot: self.sublot.clone(),
            expires_on: self.expires_on,
            on_hand: self.quantity.0,
            booked: self.reserved.0,
        }
    }
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
    series: String,
    customer: String,
    net_price: Exact,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    sale_id: i64,
    item_no: i32,
    product: String,
    quantity: Exact,
    unit_price: Exact,
    item_price: Exact,
    warehouse: Option<String>,
}

impl crate::Store {
    /// Our company as `destination`'s system knows it: through the reverse
    /// de/para of its namespace, ours without one (for the connection test,
    /// which carries no other code).
    pub async fn company_for(&self, destination: &Destination) -> Result<String, StoreError> {
        let Some(namespace) = &destination.namespace else {
            return Ok(destination.company.clone());
        };
        let mut conn = self.pool.acquire().await?;
        let theirs = outgoing(
            &mut conn.conn(),
            namespace,
            &[(Entity::Company, destination.company.as_str())],
        )
        .await?;
        Ok(theirs
            .code(Entity::Company, &destination.company)
            .to_owned())
    }

    /// The full StockLevel load (seed 001's "carga completa de estoque"): every
    /// product and warehouse of every branch with a StockLevel destination.
    /// Runs when no worker ran it within `interval`; returns the messages
    /// enqueued, or `None` when it was not this worker's turn.
    pub async fn full_stock_load(
        &self,
        origin: &ReceiptOrigin,
        interval: std::time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin().await?;
        let due: Option<String> =
            match tx.conn() {
                Conn::Postgres(c) => sqlx::query_scalar(
                    "INSERT INTO schedules (name, last_run_at) VALUES ('stock_full_load', now())
             ON CONFLICT (name) DO UPDATE SET last_run_at = now()
              WHERE schedules.last_run_at <= now() - make_interval(secs => $1)
             RETURNING name",
                )
                .bind(interval.as_secs_f64())
                .fetch_optional(c)
                .await?,
                Conn::Sqlite(c) => {
                    let now = Utc::now();
                    sqlx::query_scalar(
                        "INSERT INTO schedules (name, last_run_at) VALUES ('stock_full_load', $1)
                     ON CONFLICT (name) DO UPDATE SET last_run_at = $1
                      WHERE schedules.last_run_at <= $2
                     RETURNING name",
                    )
                    .bind(now)
                    .bind(
                        chrono::Duration::from_std(interval)
                            .ok()
                            .and_then(|interval| now.checked_sub_signed(interval))
                            .unwrap_or(DateTime::<Utc>::MIN_UTC),
                    )
                    .fetch_optional(c)
                    .await?
                }
            };
        if due.is_none() {
            return Ok(None);
        }
        let branches: Vec<(String, String)> = on_conn!(&mut tx.conn(), c => {
            sqlx::query_as(
                "SELECT DISTINCT company, branch FROM destinations WHERE \"transaction\" = $1",
            )
            .bind(StockReturn::TRANSACTION)
            .fetch_all(c)
            .await?
        });
        let mut created = 0;
        for (company, branch) in branches {
            let keys: Vec<(String, String)> = on_conn!(&mut tx.conn(), c => {
                sqlx::query_as(
                    "SELECT DISTINCT product, warehouse FROM lots WHERE branch = $1 ORDER BY 1, 2",
                )
                .bind(&branch)
                .fetch_all(c)
                .await?
            });
            let place = EventBranch::Named {
                company: &company,
                branch: &branch,
            };
            created += stock_levels(&mut tx.conn(), origin, place, &keys).await?;
        }
        tx.commit().await?;
        Ok(Some(created))
    }
}
