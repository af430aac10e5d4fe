//! RetailSales against the database, several sales in one transaction: read
//! what the sales name (one statement per kind of row for them all), let
//! the domain judge each in turn, and write the accepted sales with their
//! items, the items' lots, payments, receivables and the reservations they
//! used (one statement on PostgreSQL), and their de/para — or nothing for a
//! refused one.
//!
//! Advisory locks on each sale's InternalId and DocumentCode serialise two
//! messages about the same sale; the reservations the sales use are locked
//! in id order before they are read, so a concurrent ItemReserve change
//! waits and then finds them used. Within a batch each sale is judged on
//! what the earlier ones left: a reservation one used is used, a
//! DocumentCode one took is taken.
//!
//! On SQLite the transaction is the only writer: nothing is locked, and the
//! reads and writes are simple statements in loops, numbers taken from the
//! `sequences` table.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use eai_domain::sale::{
    judge, FinancialManager, ItemLot, PlannedItem, PlannedPayment, Receivable, ReservationInfo,
    ReservedLot, SaleMasterData, SalePlan, SaleProduct,
};
use eai_domain::{Directory, Entity};
use eai_protocol::{Code, Detail, InternalIdEntry, Json, ReceiptOrigin, RetailSale};
use rust_decimal::Decimal;

use crate::db::{self, json_rows, Conn, Exact};
use crate::directory::{self, Branch, DirectoryScope, Numbered};
use crate::events::{self, EventBranch};
use crate::locks::{self, Lock};
use crate::masters::Kept;
use crate::reservation::{next_number, NUMBER};
use crate::StoreError;

/// One RetailSales for [`integrate_all`], its envelope's branch resolved.
#[derive(Debug, Clone)]
pub struct SaleRequest<'a> {
    pub namespace: &'a str,
    pub branch: &'a Branch,
    pub sale: &'a RetailSale,
}

/// The business result of one RetailSales.
#[derive(Debug, Clone, PartialEq)]
pub enum SaleOutcome {
    /// Integrated: the ids to return and the warnings to report.
    Integrated(Vec<InternalIdEntry>, Vec<Detail>),
    /// Refused: every error and warning.
    Rejected(Vec<Detail>),
    /// Refused only for now, perhaps: its only errors are these reservations,
    /// never integrated (the ItemReserve may still be on its way). The
    /// details are the answer to give when no retry is left.
    Waiting(Vec<String>, Vec<Detail>),
}

/// A sale the domain accepted, waiting to be written.
struct Accepted {
    index: usize,
    internal_id: String,
    plan: SalePlan,
    warnings: Vec<Detail>,
}

/// Judges the sales in their order and persists those that pass, inside the
/// caller's transaction; one outcome per request. No two requests may carry
/// the same InternalId: the caller puts such a pair in different transactions.
#[tracing::instrument(skip_all, fields(sales = requests.len()))]
pub async fn integrate_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    origin: &ReceiptOrigin,
    tolerance: Decimal,
    requests: &[SaleRequest<'_>],
) -> Result<Vec<SaleOutcome>, StoreError> {
    let mut keys: Vec<String> = Vec::new();
    for request in requests {
        let Some(internal_id) = &request.sale.internal_id else {
            continue;
        };
        keys.push(format!("RetailSales|{}|{internal_id}", request.namespace));
        if let Some(document) = &request.sale.document_code {
            keys.push(document_key(request.branch, document));
        }
    }
    let locks: Vec<Lock> = keys.into_iter().map(Lock::document).collect();
    locks::lock_keys(conn, &locks).await?;
    let integrated = load_integrated(conn, requests).await?;
    let mut masters = load_all(conn, kept, tolerance, requests).await?;
    let mut outcomes: Vec<SaleOutcome> = Vec::with_capacity(requests.len());
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut used: HashSet<i64> = HashSet::new();
    let mut documents_taken: HashSet<String> = HashSet::new();
    for (index, (request, master)) in requests.iter().zip(&mut masters).enumerate() {
        let sale = request.sale;
        let Some(internal_id) = sale.internal_id.clone() else {
            outcomes.push(SaleOutcome::Rejected(vec![Detail::invalid_field(
                "$.Content.InternalId",
                "the sale's InternalId",
                &Json::Null,
            )]));
            continue;
        };
        for reservation in master.reservations.values_mut() {
            if used.contains(&reservation.id) {
                reservation.status = "used".to_owned();
            }
        }
        let document = sale
            .document_code
            .as_ref()
            .map(|document| document_key(request.branch, document));
        if document
            .as_ref()
            .is_some_and(|document| documents_taken.contains(document))
        {
            master.document_used = true;
        }
        let verdict = judge(sale, master);
        let mut details = verdict.errors;
        let number = integrated.get(&(request.namespace.to_owned(), internal_id.clone()));
        if let Some(number) = number {
            details.push(Detail::error(
                Code::DocumentDuplicate,
                format!("$.Content.InternalId: sale '{internal_id}' was already integrated as number {number}"),
            ));
        }
        let warnings = verdict.warnings;
        if verdict.may_wait && number.is_none() {
            details.extend(warnings);
            outcomes.push(SaleOutcome::Waiting(verdict.missing_reservations, details));
            continue;
        }
        let plan = match verdict.plan {
            Some(plan) if details.is_empty() => plan,
            _ => {
                details.extend(warnings);
                outcomes.push(SaleOutcome::Rejected(details));
                continue;
            }
        };
        used.extend(plan.reservations_used.iter().copied());
        documents_taken.extend(document);
        // Completed below, once the sale has its number.
        outcomes.push(SaleOutcome::Integrated(Vec::new(), Vec::new()));
        accepted.push(Accepted {
            index,
            internal_id,
            plan,
            warnings,
        });
    }
    if accepted.is_empty() {
        return Ok(outcomes);
    }
    let written = persist_all(conn, requests, &accepted).await?;
    let traced: Vec<(i64, EventBranch<'_>)> = accepted
        .iter()
        .zip(&written)
        .map(|(sale, (id, _))| (*id, EventBranch::Read(requests[sale.index].branch)))
        .collect();
    events::traceability_all(conn, origin, &traced).await?;
    let numbered: Vec<Numbered<'_>> = accepted
        .iter()
        .zip(&written)
        .map(|(sale, (_, number))| {
            let request = &requests[sale.index];
            Numbered {
                namespace: request.namespace,
                origin: &sale.internal_id,
                company: &request.branch.company,
                branch: &request.branch.branch,
                number,
            }
        })
        .collect();
    let entries = directory::record_numbered(conn, Entity::RetailSales, &numbered).await?;
    for (sale, entry) in accepted.into_iter().zip(entries) {
        outcomes[sale.index] = SaleOutcome::Integrated(vec![entry], sale.warnings);
    }
    Ok(outcomes)
}

/// The advisory lock key of a DocumentCode in a branch.
fn document_key(branch: &Branch, document: &str) -> String {
    format!("Document|{}|{}|{document}", branch.company, branch.branch)
}

/// The numbers of the sales already integrated under the requests' InternalIds.
async fn load_integrated(
    conn: &mut Conn<'_>,
    requests: &[SaleRequest<'_>],
) -> Result<HashMap<(String, String), String>, StoreError> {
    let (namespaces, internal_ids): (Vec<&str>, Vec<&str>) = requests
        .iter()
        .filter_map(|request| {
            let internal_id = request.sale.internal_id.as_deref()?;
            Some((request.namespace, internal_id))
        })
        .unzip();
    let rows: Vec<(String, String, String)> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT s.namespace, s.internal_id, s.number
           FROM sales s
           JOIN unnest($1::text[], $2::text[]) AS w(namespace, internal_id)
             ON s.namespace = w.namespace AND s.internal_id = w.internal_id",
            )
            .bind(&namespaces)
            .bind(&internal_ids)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            let mut rows = Vec::new();
            for (namespace, internal_id) in namespaces.iter().zip(&internal_ids) {
                let row: Option<(String, String, String)> = sqlx::query_as(
                    "SELECT namespace, internal_id, number FROM sales
                      WHERE namespace = $1 AND internal_id = $2",
                )
                .bind(namespace)
                .bind(internal_id)
                .fetch_optional(&mut **c)
                .await?;
                rows.extend(row);
            }
            rows
        }
    };
    Ok(rows
        .into_iter()
        .map(|(namespace, internal_id, number)| ((namespace, internal_id), number))
        .collect())
}

/// The `(entity, external)` codes a sale names.
fn wanted_of(sale: &RetailSale) -> Vec<(Entity, String)> {
    let mut wanted: Vec<(Entity, String)> = vec![
        (Entity::Station, sale.station.clone()),
        (Entity::Operator, sale.operator.clone()),
    ];
    wanted.extend(
        sale.customer
            .iter()
            .map(|code| (Entity::Customer, code.clone())),
    );
    wanted.extend(
        sale.carrier
            .iter()
            .map(|code| (Entity::Carrier, code.clone())),
    );
    for item in &sale.items {
        wanted.extend(
            item.product
                .iter()
                .map(|code| (Entity::Product, code.clone())),
        );
        wanted.extend(
            item.warehouse
                .iter()
                .map(|code| (Entity::Warehouse, code.clone())),
        );
        wanted.extend(
            item.operation_code
                .iter()
                .map(|code| (Entity::Operation, code.clone())),
        );
    }
    for payment in &sale.payments {
        wanted.extend(
            payment
                .method
                .iter()
                .map(|code| (Entity::PaymentMethod, code.clone())),
        );
        wanted.extend(
            payment
                .financial_manager
                .iter()
                .map(|code| (Entity::FinancialManager, code.clone())),
        );
    }
    wanted
}

/// Reads every master row, mapping and reservation the sales can name: one
/// statement for the de/para, one for the master rows of every kind, two
/// for the reservations; one [`SaleMasterData`] per request.
async fn load_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    tolerance: Decimal,
    requests: &[SaleRequest<'_>],
) -> Result<Vec<SaleMasterData>, StoreError> {
    let scopes: Vec<DirectoryScope<'_>> = requests
        .iter()
        .map(|request| DirectoryScope {
            namespace: request.namespace,
            branch: &request.branch.branch,
            wanted: wanted_of(request.sale),
        })
        .collect();
    let directories = directory::load_directories(conn, kept, &scopes).await?;
    let codes = |entity: Entity| directory::candidate_codes(&scopes, &directories, entity);
    let branches: Vec<&str> = requests
        .iter()
        .map(|request| request.branch.branch.as_str())
        .collect();
    let (document_companies, (document_branches, document_codes)): (
        Vec<&str>,
        (Vec<&str>, Vec<&str>),
    ) = requests
        .iter()
        .filter_map(|request| {
            let document = request.sale.document_code.as_deref()?;
            Some((
                request.branch.company.as_str(),
                (request.branch.branch.as_str(), document),
            ))
        })
        .unzip();
    let rows: Vec<(String, serde_json::Value)> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT 'Product', to_jsonb(r) FROM (SELECT code, blocked, tes, default_warehouse
                                               FROM products WHERE code = ANY($1)) r
         UNION ALL
         SELECT 'Customer', to_jsonb(r) FROM (SELECT code, blocked FROM customers
                                               WHERE code = ANY($2)) r
         UNION ALL
         SELECT 'Station', to_jsonb(r) FROM (SELECT code, series, branch FROM stations
                                              WHERE branch = ANY($3) AND code = ANY($4)) r
         UNION ALL
         SELECT 'Operator', to_jsonb(r) FROM (SELECT code FROM operators WHERE code = ANY($5)) r
         UNION ALL
         SELECT 'Carrier', to_jsonb(r) FROM (SELECT code FROM carriers WHERE code = ANY($6)) r
         UNION ALL
         SELECT 'PaymentMethod', to_jsonb(r)
           FROM (SELECT code, requires_financial_manager FROM payment_methods
                  WHERE code = ANY($7)) r
         UNION ALL
         SELECT 'FinancialManager', to_jsonb(r)
           FROM (SELECT code, days, own_financing FROM financial_managers
                  WHERE code = ANY($8)) r
         UNION ALL
         SELECT 'Operation', to_jsonb(r) FROM (SELECT operation AS code, tes FROM operations
                                                WHERE operation = ANY($9)) r
         UNION ALL
         SELECT 'document_used', to_jsonb(r)
           FROM (SELECT DISTINCT s.company, s.branch, s.document_code AS code
                   FROM unnest($10::text[], $11::text[], $12::text[])
                     AS d(company, branch, document_code)
                   JOIN sales s
                     ON s.company = d.company AND s.branch = d.branch
                    AND s.document_code = d.document_code) r",
            )
            .bind(codes(Entity::Product))
            .bind(codes(Entity::Customer))
            .bind(&branches)
            .bind(codes(Entity::Station))
            .bind(codes(Entity::Operator))
            .bind(codes(Entity::Carrier))
            .bind(codes(Entity::PaymentMethod))
            .bind(codes(Entity::FinancialManager))
            .bind(codes(Entity::Operation))
            .bind(&document_companies)
            .bind(&document_branches)
            .bind(&document_codes)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            let documents: Vec<[&str; 3]> = document_companies
                .iter()
                .zip(&document_branches)
                .zip(&document_codes)
                .map(|((company, branch), code)| [*company, *branch, *code])
                .collect();
            sqlx::query_as(
                "SELECT 'Product', json_object('code', code,
                                               'blocked', json(CASE WHEN blocked THEN 'true' ELSE 'false' END),
                                               'tes', tes, 'default_warehouse', default_warehouse)
                   FROM products WHERE code IN (SELECT value FROM json_each($1))
                 UNION ALL
                 SELECT 'Customer', json_object('code', code,
                                                'blocked', json(CASE WHEN blocked THEN 'true' ELSE 'false' END))
                   FROM customers WHERE code IN (SELECT value FROM json_each($2))
                 UNION ALL
                 SELECT 'Station', json_object('code', code, 'series', series, 'branch', branch)
                   FROM stations
                  WHERE branch IN (SELECT value FROM json_each($3))
                    AND code IN (SELECT value FROM json_each($4))
                 UNION ALL
                 SELECT 'Operator', json_object('code', code)
                   FROM operators WHERE code IN (SELECT value FROM json_each($5))
                 UNION ALL
                 SELECT 'Carrier', json_object('code', code)
                   FROM carriers WHERE code IN (SELECT value FROM json_each($6))
                 UNION ALL
                 SELECT 'PaymentMethod',
                        json_object('code', code, 'requires_financial_manager',
                                    json(CASE WHEN requires_financial_manager THEN 'true' ELSE 'false' END))
                   FROM payment_methods WHERE code IN (SELECT value FROM json_each($7))
                 UNION ALL
                 SELECT 'FinancialManager',
                        json_object('code', code, 'days', days, 'own_financing',
                                    json(CASE WHEN own_financing THEN 'true' ELSE 'false' END))
                   FROM financial_managers WHERE code IN (SELECT value FROM json_each($8))
                 UNION ALL
                 SELECT 'Operation', json_object('code', operation, 'tes', tes)
                   FROM operations WHERE operation IN (SELECT value FROM json_each($9))
                 UNION ALL
                 SELECT 'document_used', json_object('company', company, 'branch', branch, 'code', code)
                   FROM (SELECT DISTINCT s.company, s.branch, s.document_code AS code
                           FROM json_each($10) AS d
                           JOIN sales s
                             ON s.company = json_extract(d.value, '$[0]')
                            AND s.branch = json_extract(d.value, '$[1]')
                            AND s.document_code = json_extract(d.value, '$[2]'))",
            )
            .bind(db::Texts(codes(Entity::Product)))
            .bind(db::Texts(codes(Entity::Customer)))
            .bind(db::Texts(branches.iter().map(|branch| (*branch).to_owned()).collect()))
            .bind(db::Texts(codes(Entity::Station)))
            .bind(db::Texts(codes(Entity::Operator)))
            .bind(db::Texts(codes(Entity::Carrier)))
            .bind(db::Texts(codes(Entity::PaymentMethod)))
            .bind(db::Texts(codes(Entity::FinancialManager)))
            .bind(db::Texts(codes(Entity::Operation)))
            .bind(json_rows(&documents)?)
            .fetch_all(&mut **c)
            .await?
        }
    };
    let rows: Vec<(String, CodeRow)> = rows
        .into_iter()
        .map(|(kind, row)| {
            serde_json::from_value(row)
                .map(|row| (kind, row))
                .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))
        })
        .collect::<Result<_, _>>()?;
    // The rows by kind and code: each sale files only the rows it names, so
    // the work follows the rows named, not the batch's size times its rows.
    let mut by_code: HashMap<(&str, &str), Vec<&CodeRow>> = HashMap::new();
    for (kind, row) in &rows {
        by_code
            .entry((kind.as_str(), row.code.as_str()))
            .or_default()
            .push(row);
    }
    let mut reservations = reservations_all(conn, requests).await?;
    let mut masters = Vec::with_capacity(requests.len());
    for (((request, scope), mut directory), reservations) in requests
        .iter()
        .zip(&scopes)
        .zip(directories)
        .zip(reservations.drain(..))
    {
        let branch = request.branch;
        let mut master = MasterRows::default();
        for entity in MasterRows::ENTITIES {
            let named: Vec<&CodeRow> = scope
                .candidates(&directory, entity)
                .filter_map(|code| by_code.get(&(entity.as_str(), code)))
                .flatten()
                .copied()
                .filter(|row| {
                    entity != Entity::Station
                        || row.branch.as_deref() == Some(branch.branch.as_str())
                })
                .collect();
            for row in named {
                master.add(&mut directory, entity, row.clone());
            }
        }
        master.document_used = request
            .sale
            .document_code
            .as_deref()
            .and_then(|code| by_code.get(&(DOCUMENT_USED, code)))
            .is_some_and(|rows| {
                rows.iter().any(|row| {
                    row.company.as_deref() == Some(branch.company.as_str())
                        && row.branch.as_deref() == Some(branch.branch.as_str())
                })
            });
        let MasterRows {
            products,
            customers,
            stations,
            payment_methods,
            financial_managers,
            operations,
            document_used,
        } = master;
        masters.push(SaleMasterData {
            directory,
            closed_until: branch.closed_until,
            released_payment_methods: branch.released_payment_methods.clone(),
            products,
            customers,
            stations,
            payment_methods,
            financial_managers,
            operations,
            reservations,
            document_used,
            tolerance,
        });
    }
    Ok(masters)
}

/// The master rows a sale names, as the one statement of [`load_all`]
/// returns them: a kind and the row.
#[derive(Default)]
struct MasterRows {
    products: HashMap<String, SaleProduct>,
    customers: HashMap<String, bool>,
    stations: HashMap<String, String>,
    payment_methods: HashMap<String, bool>,
    financial_managers: HashMap<String, FinancialManager>,
    operations: HashMap<String, String>,
    document_used: bool,
}

#[derive(Clone, serde::Deserialize)]
struct CodeRow {
    code: String,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    tes: Option<String>,
    #[serde(default)]
    default_warehouse: Option<String>,
    #[serde(default)]
    series: String,
    #[serde(default)]
    requires_financial_manager: bool,
    #[serde(default)]
    days: i32,
    #[serde(default)]
    own_financing: bool,
    /// A station's branch, a used DocumentCode's branch.
    #[serde(default)]
    branch: Option<String>,
    /// A used DocumentCode's company.
    #[serde(default)]
    company: Option<String>,
}

/// The kind of the rows of [`load_all`] that say a DocumentCode is in use
/// (the others are named after their entity).
const DOCUMENT_USED: &str = "document_used";

impl MasterRows {
    /// The entities whose master rows a sale names.
    const ENTITIES: [Entity; 8] = [
        Entity::Product,
        Entity::Customer,
        Entity::Station,
        Entity::Operator,
        Entity::Carrier,
        Entity::PaymentMethod,
        Entity::FinancialManager,
        Entity::Operation,
    ];

    /// Files one row of `entity`, registering its code as an internal code.
    fn add(&mut self, directory: &mut Directory, entity: Entity, row: CodeRow) {
        directory.add_internal(entity, &row.code);
        match entity {
            Entity::Product => {
                self.products.insert(
                    row.code.clone(),
                    SaleProduct {
                        code: row.code,
                        blocked: row.blocked,
                        tes: row.tes,
                        default_warehouse: row.default_warehouse,
                    },
                );
            }
            Entity::Customer => {
                self.customers.insert(row.code, row.blocked);
            }
            Entity::Station => {
                self.stations.insert(row.code, row.series);
            }
            Entity::PaymentMethod => {
                self.payment_methods
                    .insert(row.code, row.requires_financial_manager);
            }
            Entity::FinancialManager => {
                self.financial_managers.insert(
                    row.code.clone(),
                    FinancialManager {
                        code: row.code,
                        days: row.days,
                        own_financing: row.own_financing,
                    },
                );
            }
            Entity::Operation => {
                self.operations
                    .insert(row.code, row.tes.unwrap_or_default());
            }
            _ => {}
        }
    }
}

/// The reservations each sale's items name, locked in id order (all of
/// them at once), with their open lines; one map per request.
async fn reservations_all(
    conn: &mut Conn<'_>,
    requests: &[SaleRequest<'_>],
) -> Result<Vec<HashMap<String, ReservationInfo>>, StoreError> {
    let named: Vec<Vec<&str>> = requests
        .iter()
        .map(|request| {
            let mut named: Vec<&str> = request
                .sale
                .items
                .iter()
                .filter_map(|item| item.reserve_internal_id.as_deref())
                .collect();
            named.sort_unstable();
            named.dedup();
            named
        })
        .collect();
    let (namespaces, internal_ids): (Vec<&str>, Vec<&str>) = requests
        .iter()
        .zip(&named)
        .flat_map(|(request, named)| named.iter().map(|id| (request.namespace, *id)))
        .unzip();
    if internal_ids.is_empty() {
        return Ok(requests.iter().map(|_| HashMap::new()).collect());
    }
    let (rows, lines): (Vec<ReservationRow>, Vec<LineRow>) = match conn {
        Conn::Postgres(c) => {
            let rows: Vec<ReservationRow> = sqlx::query_as(
                "SELECT r.namespace, r.internal_id, r.id, r.number, r.status
           FROM reservations r
           JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS w(namespace, internal_id)
             ON r.namespace = w.namespace AND r.internal_id = w.internal_id
          ORDER BY r.id
            FOR UPDATE OF r",
            )
            .bind(&namespaces)
            .bind(&internal_ids)
            .fetch_all(&mut **c)
            .await?;
            let ids: Vec<i64> = rows.iter().map(|(_, _, id, ..)| *id).collect();
            let lines: Vec<LineRow> = sqlx::query_as(
                "SELECT reservation_id, product, warehouse, lot_id, lot, sublot, quantity
           FROM reservation_lines
          WHERE reservation_id = ANY($1) AND released_at IS NULL
          ORDER BY reservation_id, line_no",
            )
            .bind(&ids)
            .fetch_all(&mut **c)
            .await?;
            (rows, lines)
        }
        Conn::Sqlite(c) => {
            let mut wanted: Vec<(&str, &str)> = namespaces
                .iter()
                .copied()
                .zip(internal_ids.iter().copied())
                .collect();
            wanted.sort_unstable();
            wanted.dedup();
            let mut rows: Vec<ReservationRow> = Vec::new();
            for (namespace, internal_id) in wanted {
                let row: Option<ReservationRow> = sqlx::query_as(
                    "SELECT namespace, internal_id, id, number, status FROM reservations
                      WHERE namespace = $1 AND internal_id = $2",
                )
                .bind(namespace)
                .bind(internal_id)
                .fetch_optional(&mut **c)
                .await?;
                rows.extend(row);
            }
            rows.sort_unstable_by_key(|(_, _, id, ..)| *id);
            let ids: Vec<i64> = rows.iter().map(|(_, _, id, ..)| *id).collect();
            let lines: Vec<LineRow> = sqlx::query_as(
                "SELECT reservation_id, product, warehouse, lot_id, lot, sublot, quantity
                   FROM reservation_lines
                  WHERE reservation_id IN (SELECT value FROM json_each($1))
                    AND released_at IS NULL
                  ORDER BY reservation_id, line_no",
            )
            .bind(json_rows(&ids)?)
            .fetch_all(&mut **c)
            .await?;
            (rows, lines)
        }
    };
    let info = |id: i64, number: &str, status: &str| ReservationInfo {
        id,
        number: number.to_owned(),
        status: status.to_owned(),
        lines: lines
            .iter()
            .filter(|line| line.reservation_id == id)
            .map(|line| ReservedLot {
                product: line.product.clone(),
                warehouse: line.warehouse.clone(),
                lot_id: line.lot_id,
                lot: line.lot.clone(),
                sublot: line.sublot.clone(),
                quantity: line.quantity.0.normalize(),
            })
            .collect(),
    };
    Ok(requests
        .iter()
        .zip(&named)
        .map(|(request, named)| {
            rows.iter()
                .filter(|(namespace, internal_id, ..)| {
                    namespace == request.namespace && named.contains(&internal_id.as_str())
                })
                .map(|(_, internal_id, id, number, status)| {
                    (internal_id.clone(), info(*id, number, status))
                })
                .collect()
        })
        .collect())
}

/// A reservation a sale names: namespace, InternalId, id, number, status.
type ReservationRow = (String, String, i64, String, String);

#[derive(sqlx::FromRow)]
struct LineRow {
    reservation_id: i64,
    product: String,
    warehouse: String,
    lot_id: Option<i64>,
    lot: String,
    sublot: String,
    quantity: Exact,
}

/// One value of each row, for a statement that binds its rows by column.
fn column<'r, R, T>(rows: &'r [R], value: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

/// Writes the accepted sales and everything they own ([`SaleChildren`]);
/// returns each one's id and number, in their order. On PostgreSQL that is
/// one statement (their de/para aside): its first part draws each sale's id
/// and number from their sequences, and the rows a sale owns are joined to
/// it by its place in the batch (an integer, not its name).
async fn persist_all(
    conn: &mut Conn<'_>,
    requests: &[SaleRequest<'_>],
    accepted: &[Accepted],
) -> Result<Vec<(i64, String)>, StoreError> {
    let sale_rows: Vec<SaleRow<'_>> = accepted
        .iter()
        .map(|sale| SaleRow::of(&requests[sale.index], sale))
        .collect();
    let children = SaleChildren::of(accepted);
    let written: Vec<(i64, String)> = match conn {
        Conn::Postgres(c) => children.write_with(c, &sale_rows).await?,
        Conn::Sqlite(c) => {
            let mut written = Vec::with_capacity(sale_rows.len());
            for row in &sale_rows {
                let number = next_number(c, "sale_numbers").await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sales
                        (company, branch, number, namespace, internal_id, document_code,
                         ecommerce_order, issue_date, customer, station, series, operator, carrier,
                         sale_type, total_price, net_price, gross_price, commodity_price,
                         discount_value, freight_value, increase_value, status, intermediary_code,
                         presencial_indicator)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             $16, $17, $18, $19, $20, $21, $22, $23, $24)
                     RETURNING id",
                )
                .bind(row.company)
                .bind(row.branch)
                .bind(&number)
                .bind(row.namespace)
                .bind(row.internal_id)
                .bind(row.document_code)
                .bind(row.ecommerce_order)
                .bind(row.issue_date)
                .bind(row.customer)
                .bind(row.station)
                .bind(row.series)
                .bind(row.operator)
                .bind(row.carrier)
                .bind(row.sale_type)
                .bind(row.total_price.map(Exact))
                .bind(row.net_price.map(Exact))
                .bind(row.gross_price.map(Exact))
                .bind(row.commodity_price.map(Exact))
                .bind(row.discount_value.map(Exact))
                .bind(row.freight_value.map(Exact))
                .bind(row.increase_value.map(Exact))
                .bind(row.status)
                .bind(row.intermediary_code)
                .bind(row.presencial_indicator)
                .fetch_one(&mut **c)
                .await?;
                written.push((id, number));
            }
            children.write_one_by_one(c, &written).await?;
            written
        }
    };
    if written.len() != accepted.len() {
        return Err(StoreError::Database(sqlx::Error::RowNotFound));
    }
    Ok(written)
}

/// One accepted sale's `sales` row, as either backend writes it.
struct SaleRow<'a> {
    company: &'a str,
    branch: &'a str,
    namespace: &'a str,
    internal_id: &'a str,
    document_code: Option<&'a str>,
    ecommerce_order: Option<&'a str>,
    issue_date: NaiveDate,
    customer: &'a str,
    station: &'a str,
    series: &'a str,
    operator: &'a str,
    carrier: Option<&'a str>,
    sale_type: Option<&'a str>,
    total_price: Option<Decimal>,
    net_price: Option<Decimal>,
    gross_price: Option<Decimal>,
    commodity_price: Option<Decimal>,
    discount_value: Option<Decimal>,
    freight_value: Option<Decimal>,
    increase_value: Option<Decimal>,
    status: &'a str,
    intermediary_code: Option<&'a str>,
    presencial_indicator: Option<&'a str>,
}

impl<'a> SaleRow<'a> {
    /// The row of `sale`, accepted for `request`: the domain's plan, the
    /// sale's own fields, absent totals as zero.
    fn of(request: &SaleRequest<'a>, sale: &'a Accepted) -> SaleRow<'a> {
        let message = request.sale;
        SaleRow {
            company: request.branch.company.as_str(),
            branch: request.branch.branch.as_str(),
            namespace: request.namespace,
            internal_id: sale.internal_id.as_str(),
            document_code: message.document_code.as_deref(),
            ecommerce_order: message.ecommerce_order.as_deref(),
            issue_date: sale.plan.issue_date,
            customer: sale.plan.customer.as_str(),
            station: sale.plan.station.as_str(),
            series: sale.plan.series.as_str(),
            operator: sale.plan.operator.as_str(),
            carrier: sale.plan.carrier.as_deref(),
            sale_type: message.sale_type.as_deref(),
            total_price: Some(message.total_price.unwrap_or_default()),
            net_price: Some(message.net_price.unwrap_or_default()),
            gross_price: Some(message.gross_price.unwrap_or_default()),
            commodity_price: message.commodity_price,
            discount_value: Some(message.discount_value),
            freight_value: Some(message.freight_value),
            increase_value: Some(message.increase_value),
            status: sale.plan.status.as_str(),
            intermediary_code: message.intermediary_code.as_deref(),
            presencial_indicator: message.presencial_indicator.as_deref(),
        }
    }
}

/// What accepted sales write besides their `sales` rows, each row with its
/// sale's place among them (from 1; not its id, which the statement that
/// writes them draws): items, the lots they take, payments, receivables,
/// and the reservations the sales use. A place that named no sale would
/// leave its row without a sale, which the `NOT NULL` of `sale_id` refuses.
struct SaleChildren<'a> {
    items: Vec<(i64, &'a PlannedItem)>,
    /// Each item's lots: sale, item number, sequence and lot.
    lots: Vec<(i64, i32, i32, &'a ItemLot)>,
    payments: Vec<(i64, &'a PlannedPayment)>,
    /// Each receivable with its sale's series (its number is the sale's).
    receivables: Vec<(i64, &'a str, &'a Receivable)>,
    /// Each reservation used (its id), with the place of the sale that used it.
    used: Vec<(i64, i64)>,
}

impl<'a> SaleChildren<'a> {
    /// The rows of the accepted sales' plans.
    fn of(accepted: &'a [Accepted]) -> SaleChildren<'a> {
        let mut rows = SaleChildren {
            items: Vec::new(),
            lots: Vec::new(),
            payments: Vec::new(),
            receivables: Vec::new(),
            used: Vec::new(),
        };
        for (sale, plan) in (1..).zip(accepted.iter().map(|sale| &sale.plan)) {
            for item in &plan.items {
                rows.items.push((sale, item));
                rows.lots.extend(
                    item.lots
                        .iter()
                        .enumerate()
                        .map(|(seq, lot)| (sale, item.item_no as i32, seq as i32 + 1, lot)),
                );
            }
            rows.payments
                .extend(plan.payments.iter().map(|payment| (sale, payment)));
            rows.receivables.extend(
                plan.receivables
                    .iter()
                    .map(|receivable| (sale, plan.series.as_str(), receivable)),
            );
            rows.used
                .extend(plan.reservations_used.iter().map(|used| (*used, sale)));
        }
        rows
    }

    /// Writes the `sales` rows and every row they own in one statement, each
    /// table's rows bound as arrays, so a batch of sales of hundreds of items
    /// costs one round trip; returns each sale's id and number. A row joins
    /// its sale by its place, so one that names no sale fails on `sale_id
    /// NOT NULL`; the rows' references to their sale are not foreign keys on
    /// PostgreSQL (migration 0017): this statement is what makes them true.
    /// The references out of the sale (reservations, lots) are checked at
    /// the statement's end.
    async fn write_with(
        &self,
        c: &mut sqlx::PgConnection,
        sales: &[SaleRow<'_>],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let items = &self.items;
        let payments = &self.payments;
        let receivables = &self.receivables;
        let written = sqlx::query_as(&format!(
            "WITH numbered AS MATERIALIZED (
                 SELECT v.*, {NUMBER}
                             AS number
                   FROM (SELECT u.*, nextval('sales_id_seq') AS id,
                                nextval('sale_numbers') AS sequence
                           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                       $5::text[], $6::text[], $7::date[], $8::text[],
                                       $9::text[], $10::text[], $11::text[], $12::text[],
                                       $13::text[], $14::numeric[], $15::numeric[],
                                       $16::numeric[], $17::numeric[], $18::numeric[],
                                       $19::numeric[], $20::numeric[], $21::text[],
                                       $22::text[], $23::text[]) WITH ORDINALITY
                             AS u(company, branch, namespace, internal_id, document_code,
                                  ecommerce_order, issue_date, customer, station, series,
                                  operator, carrier, sale_type, total_price, net_price,
                                  gross_price, commodity_price, discount_value, freight_value,
                                  increase_value, status, intermediary_code,
                                  presencial_indicator, position)
                          ORDER BY u.position OFFSET 0) AS v),
             sales AS (
                 INSERT INTO sales
                     (id, company, branch, number, namespace, internal_id, document_code,
                      ecommerce_order, issue_date, customer, station, series, operator, carrier,
                      sale_type, total_price, net_price, gross_price, commodity_price,
                      discount_value, freight_value, increase_value, status, intermediary_code,
                      presencial_indicator)
                 SELECT n.id, n.company, n.branch, n.number, n.namespace, n.internal_id,
                        n.document_code, n.ecommerce_order, n.issue_date, n.customer, n.station,
                        n.series, n.operator, n.carrier, n.sale_type, n.total_price,
                        n.net_price, n.gross_price, n.commodity_price, n.discount_value,
                        n.freight_value, n.increase_value, n.status, n.intermediary_code,
                        n.presencial_indicator
                   FROM numbered n ORDER BY n.position),
             items AS (
                 INSERT INTO sale_items
                     (sale_id, item_no, product, warehouse, quantity, unit_price, table_price,
                      item_price, discount_amount, freight_prorated, increase_prorated,
                      operation_code, tes, reservation_id, delivery_type, delivery_date,
                      lot_number, sublot_number, serial, address, carrier)
                 SELECT n.id, i.item_no, i.product, i.warehouse, i.quantity, i.unit_price,
                        i.table_price, i.item_price, i.discount_amount, i.freight_prorated,
                        i.increase_prorated, i.operation_code, i.tes, i.reservation_id,
                        i.delivery_type, i.delivery_date, i.lot_number, i.sublot_number,
                        i.serial, i.address, i.carrier
                   FROM unnest($24::bigint[], $25::int[], $26::text[], $27::text[],
                               $28::numeric[], $29::numeric[], $30::numeric[], $31::numeric[],
                               $32::numeric[], $33::numeric[], $34::numeric[], $35::text[],
                               $36::text[], $37::bigint[], $38::text[], $39::text[],
                               $40::text[], $41::text[], $42::text[], $43::text[],
                               $44::text[])
                     AS i(sale, item_no, product, warehouse, quantity, unit_price, table_price,
                          item_price, discount_amount, freight_prorated, increase_prorated,
                          operation_code, tes, reservation_id, delivery_type, delivery_date,
                          lot_number, sublot_number, serial, address, carrier)
                   LEFT JOIN numbered n ON n.position = i.sale),
             item_lots AS (
                 INSERT INTO sale_item_lots (sale_id, item_no, seq, lot_id, lot, sublot, quantity)
                 SELECT n.id, l.item_no, l.seq, l.lot_id, l.lot, l.sublot, l.quantity
                   FROM unnest($45::bigint[], $46::int[], $47::int[], $48::bigint[],
                               $49::text[], $50::text[], $51::numeric[])
                     AS l(sale, item_no, seq, lot_id, lot, sublot, quantity)
                   LEFT JOIN numbered n ON n.position = l.sale),
             payments AS (
                 INSERT INTO sale_payments
                     (sale_id, payment_no, method, financial_manager, value, paid_on,
                      serial_number, instalment, eft_authorization, eft_institute, eft_document,
                      eft_date)
                 SELECT n.id, p.payment_no, p.method, p.financial_manager, p.value, p.paid_on,
                        p.serial_number, p.instalment, p.eft_authorization, p.eft_institute,
                        p.eft_document, p.eft_date
                   FROM unnest($52::bigint[], $53::int[], $54::text[], $55::text[],
                               $56::numeric[], $57::date[], $58::text[], $59::text[],
                               $60::text[], $61::text[], $62::text[], $63::text[])
                     AS p(sale, payment_no, method, financial_manager, value, paid_on,
                          serial_number, instalment, eft_authorization, eft_institute,
                          eft_document, eft_date)
                   LEFT JOIN numbered n ON n.position = p.sale),
             receivables AS (
                 INSERT INTO receivables
                     (sale_id, payment_no, prefix, number, debtor_kind, debtor, amount, due_date)
                 SELECT n.id, r.payment_no, r.prefix, n.number, r.debtor_kind, r.debtor,
                        r.amount, r.due_date
                   FROM unnest($64::bigint[], $65::int[], $66::text[], $67::text[],
                               $68::text[], $69::numeric[], $70::date[])
                     AS r(sale, payment_no, prefix, debtor_kind, debtor, amount, due_date)
                   LEFT JOIN numbered n ON n.position = r.sale),
             used AS (
                 UPDATE reservations r SET status = 'used', sale_id = n.id, updated_at = now()
                   FROM unnest($71::bigint[], $72::bigint[]) AS u(id, sale)
                   JOIN numbered n ON n.position = u.sale
                  WHERE r.id = u.id)
             SELECT id, number FROM numbered ORDER BY position"
        ))
        .bind(column(sales, |row| row.company))
        .bind(column(sales, |row| row.branch))
        .bind(column(sales, |row| row.namespace))
        .bind(column(sales, |row| row.internal_id))
        .bind(column(sales, |row| row.document_code))
        .bind(column(sales, |row| row.ecommerce_order))
        .bind(column(sales, |row| row.issue_date))
        .bind(column(sales, |row| row.customer))
        .bind(column(sales, |row| row.station))
        .bind(column(sales, |row| row.series))
        .bind(column(sales, |row| row.operator))
        .bind(column(sales, |row| row.carrier))
        .bind(column(sales, |row| row.sale_type))
        .bind(column(sales, |row| row.total_price))
        .bind(column(sales, |row| row.net_price))
        .bind(column(sales, |row| row.gross_price))
        .bind(column(sales, |row| row.commodity_price))
        .bind(column(sales, |row| row.discount_value))
        .bind(column(sales, |row| row.freight_value))
        .bind(column(sales, |row| row.increase_value))
        .bind(column(sales, |row| row.status))
        .bind(column(sales, |row| row.intermediary_code))
        .bind(column(sales, |row| row.presencial_indicator))
        .bind(column(items, |(sale, _)| *sale))
        .bind(column(items, |(_, item)| item.item_no as i32))
        .bind(column(items, |(_, item)| item.product.as_str()))
        .bind(column(items, |(_, item)| item.warehouse.as_deref()))
        .bind(column(items, |(_, item)| item.quantity))
        .bind(column(items, |(_, item)| item.unit_price))
        .bind(column(items, |(_, item)| item.table_price))
        .bind(column(items, |(_, item)| item.item_price))
        .bind(column(items, |(_, item)| item.discount_amount))
        .bind(column(items, |(_, item)| item.freight_prorated))
        .bind(column(items, |(_, item)| item.increase_prorated))
        .bind(column(items, |(_, item)| item.operation_code.as_str()))
        .bind(column(items, |(_, item)| item.tes.as_str()))
        .bind(column(items, |(_, item)| item.reservation_id))
        .bind(column(items, |(_, item)| item.delivery_type.as_deref()))
        .bind(column(items, |(_, item)| {
            item.information.delivery_date.as_deref()
        }))
        .bind(column(items, |(_, item)| item.information.lot.as_deref()))
        .bind(column(items, |(_, item)| {
            item.information.sublot.as_deref()
        }))
        .bind(column(items, |(_, item)| {
            item.information.serial.as_deref()
        }))
        .bind(column(items, |(_, item)| {
            item.information.address.as_deref()
        }))
        .bind(column(items, |(_, item)| {
            item.information.carrier.as_deref()
        }))
        .bind(column(&self.lots, |(sale, ..)| *sale))
        .bind(column(&self.lots, |(_, item_no, ..)| *item_no))
        .bind(column(&self.lots, |(_, _, seq, _)| *seq))
        .bind(column(&self.lots, |(.., lot)| lot.lot_id))
        .bind(column(&self.lots, |(.., lot)| lot.lot.as_str()))
        .bind(column(&self.lots, |(.., lot)| lot.sublot.as_str()))
        .bind(column(&self.lots, |(.., lot)| lot.quantity))
        .bind(column(payments, |(sale, _)| *sale))
        .bind(column(payments, |(_, payment)| payment.payment_no as i32))
        .bind(column(payments, |(_, payment)| payment.method.as_str()))
        .bind(column(payments, |(_, payment)| {
            payment.financial_manager.as_deref()
        }))
        .bind(column(payments, |(_, payment)| payment.value))
        .bind(column(payments, |(_, payment)| payment.date))
        .bind(column(payments, |(_, payment)| {
            payment.serial_number.as_deref()
        }))
        .bind(column(payments, |(_, payment)| {
            payment.instalment.as_deref()
        }))
        .bind(column(payments, |(_, payment)| {
            payment.card.authorization.as_deref()
        }))
        .bind(column(payments, |(_, payment)| {
            payment.card.institute.as_deref()
        }))
        .bind(column(payments, |(_, payment)| {
            payment.card.document.as_deref()
        }))
        .bind(column(payments, |(_, payment)| {
            payment.card.date.as_deref()
        }))
        .bind(column(receivables, |(sale, ..)| *sale))
        .bind(column(receivables, |(.., receivable)| {
            receivable.payment_no as i32
        }))
        .bind(column(receivables, |(_, series, _)| *series))
        .bind(column(receivables, |(.., receivable)| {
            receivable.debtor_kind.as_str()
        }))
        .bind(column(receivables, |(.., receivable)| {
            receivable.debtor.as_str()
        }))
        .bind(column(receivables, |(.., receivable)| receivable.amount))
        .bind(column(receivables, |(.., receivable)| receivable.due_date))
        .bind(column(&self.used, |(reservation, _)| *reservation))
        .bind(column(&self.used, |(_, sale)| *sale))
        .fetch_all(&mut *c)
        .await?;
        Ok(written)
    }

    /// The rows on SQLite, one statement each, once the sales are `written`
    /// (their ids and numbers, in their order).
    async fn write_one_by_one(
        &self,
        conn: &mut sqlx::SqliteConnection,
        written: &[(i64, String)],
    ) -> Result<(), StoreError> {
        let sale = |position: &i64| db::at_place(written, *position);
        for (position, item) in &self.items {
            let (sale_id, _) = sale(position)?;
            sqlx::query(
                "INSERT INTO sale_items
                    (sale_id, item_no, product, warehouse, quantity, unit_price, table_price,
                     item_price, discount_amount, freight_prorated, increase_prorated,
                     operation_code, tes, reservation_id, delivery_type, delivery_date, lot_number,
                     sublot_number, serial, address, carrier)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                         $17, $18, $19, $20, $21)",
            )
            .bind(sale_id)
            .bind(item.item_no as i32)
            .bind(&item.product)
            .bind(&item.warehouse)
            .bind(Exact(db::quantity(item.quantity)))
            .bind(Exact(item.unit_price))
            .bind(Exact(item.table_price))
            .bind(Exact(item.item_price))
            .bind(Exact(item.discount_amount))
            .bind(Exact(item.freight_prorated))
            .bind(Exact(item.increase_prorated))
            .bind(&item.operation_code)
            .bind(&item.tes)
            .bind(item.reservation_id)
            .bind(&item.delivery_type)
            .bind(&item.information.delivery_date)
            .bind(&item.information.lot)
            .bind(&item.information.sublot)
            .bind(&item.information.serial)
            .bind(&item.information.address)
            .bind(&item.information.carrier)
            .execute(&mut *conn)
            .await?;
        }
        for (position, item_no, seq, lot) in &self.lots {
            let (sale_id, _) = sale(position)?;
            sqlx::query(
                "INSERT INTO sale_item_lots (sale_id, item_no, seq, lot_id, lot, sublot, quantity)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sale_id)
            .bind(item_no)
            .bind(seq)
            .bind(lot.lot_id)
            .bind(&lot.lot)
            .bind(&lot.sublot)
            .bind(Exact(db::quantity(lot.quantity)))
            .execute(&mut *conn)
            .await?;
        }
        for (position, payment) in &self.payments {
            let (sale_id, _) = sale(position)?;
            sqlx::query(
                "INSERT INTO sale_payments
                    (sale_id, payment_no, method, financial_manager, value, paid_on, serial_number,
                     instalment, eft_authorization, eft_institute, eft_document, eft_date)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(sale_id)
            .bind(payment.payment_no as i32)
            .bind(&payment.method)
            .bind(&payment.financial_manager)
            .bind(Exact(payment.value))
            .bind(payment.date)
            .bind(&payment.serial_number)
            .bind(&payment.instalment)
            .bind(&payment.card.authorization)
            .bind(&payment.card.institute)
            .bind(&payment.card.document)
            .bind(&payment.card.date)
            .execute(&mut *conn)
            .await?;
        }
        for (position, series, receivable) in &self.receivables {
            let (sale_id, number) = sale(position)?;
            sqlx::query(
                "INSERT INTO receivables
                    (sale_id, payment_no, prefix, number, debtor_kind, debtor, amount, due_date)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(sale_id)
            .bind(receivable.payment_no as i32)
            .bind(series)
            .bind(number)
            .bind(receivable.debtor_kind.as_str())
            .bind(&receivable.debtor)
            .bind(Exact(receivable.amount))
            .bind(receivable.due_date)
            .execute(&mut *conn)
            .await?;
        }
        let now = Utc::now();
        for (reservation, position) in &self.used {
            let (sale_id, _) = sale(position)?;
            sqlx::query(
                "UPDATE reservations SET status = 'used', sale_id = $2, updated_at = $3
                  WHERE id = $1",
            )
            .bind(reservation)
            .bind(sale_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
