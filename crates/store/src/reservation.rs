//! ItemReserve against the database, several envelopes in one transaction:
//! de/para, the documents and stock keys locked, the FEFO plans made one
//! after another on the lots as the earlier envelopes of the batch left
//! them, then every change written in one statement per table or fewer (the
//! new reservations and every line in one), the StockLevel events enqueued
//! only for branches with destinations for them ([`Branch::listened`]).
//!
//! One statement takes the transaction's advisory locks ([`crate::locks`]),
//! in one fixed order: each sender's InternalId (serialising two messages
//! about the same reservation) and the stock the items reserve from, each
//! (branch, product, warehouse) or, for thousands of items, their branches
//! (serialising the planners of that stock), so any number of workers
//! reserving overlapping stock queue up instead of deadlocking. Lot rows are
//! read, not locked: the lock follows the items, not the lots, and the
//! `reserved_within_on_hand` CHECK stands behind the arithmetic.
//! Rejections are decided before anything is written, so a rejected
//! envelope leaves no trace among its neighbours' changes.
//!
//! On SQLite the transaction is the only writer, so nothing is locked; the
//! statements are simple ones in loops, and the reserved quantities are
//! added here in exact decimals, a result out of the lot's bounds refused
//! as PostgreSQL's CHECKs refuse it ([`adjust_reserved`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use eai_domain::fefo::LotStock;
use eai_domain::reservation::{Plan, ReservationRequest};
use eai_domain::Entity;
use eai_protocol::{Code, Detail, Event, InternalIdEntry, ItemReserve, ReceiptOrigin};
use rust_decimal::Decimal;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::SqliteConnection;

use crate::db::{self, json_rows, on_conn, Conn, Exact};
use crate::directory::{self, numbered_entry, Branch, DirectoryScope, Numbered};
use crate::events::{self, EventBranch};
use crate::locks::{self, stock_locks, Lock};
use crate::masters::Kept;
use crate::StoreError;

/// One ItemReserve for [`apply_all`], its envelope's branch resolved.
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    pub namespace: &'a str,
    pub branch: &'a Branch,
    pub reserve: &'a ItemReserve,
    pub event: Event,
    /// The date lots must not be expired on when an item gives no issue date.
    pub today: NaiveDate,
}

/// The business result of one ItemReserve.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(Vec<InternalIdEntry>),
    Rejected(Vec<Detail>),
}

#[derive(Debug, sqlx::FromRow)]
struct Existing {
    id: i64,
    namespace: String,
    internal_id: String,
    company: String,
    branch: String,
    number: String,
    status: String,
}

/// A locked lot and the branch it belongs to.
struct BranchLot {
    branch: String,
    stock: LotStock,
}

/// An accepted upsert: what its reservation becomes.
struct Replacement<'r> {
    index: usize,
    existing: Option<&'r Existing>,
    request: ReservationRequest,
    plan: Plan,
}

/// Applies ItemReserve upserts and deletes inside the caller's transaction,
/// as if one after another in their order; one outcome per request. No two
/// requests may name the same reservation (`namespace`, InternalId): the
/// caller puts such a pair in different transactions.
#[tracing::instrument(skip_all, fields(requests = requests.len()))]
pub async fn apply_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    origin: &ReceiptOrigin,
    requests: &[ReserveRequest<'_>],
) -> Result<Vec<Outcome>, StoreError> {
    let resolved = resolve_all(conn, kept, requests).await?;
    let mut locks: Vec<Lock> = requests
        .iter()
        .map(|request| {
            Lock::document(format!(
                "ItemReserve|{}|{}",
                request.namespace, request.reserve.internal_id
            ))
        })
        .collect();
    let planned = planned_stock(requests, &resolved);
    locks.extend(stock_locks(planned.iter().map(
        |(branch, product, warehouse)| (*branch, product.as_str(), warehouse.as_str()),
    )));
    locks::lock_keys(conn, &locks).await?;
    let existing = load_existing(conn, requests).await?;
    let held = load_held(conn, &existing).await?;
    let mut lots = read_lots(conn, &planned, &held).await?;
    let by_stock = lots_by_stock(&lots);
    let none: Vec<(i64, Decimal)> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(requests.len());
    let mut deltas: Vec<(i64, Decimal)> = Vec::new();
    let mut touched: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    let mut released: Vec<i64> = Vec::new();
    let mut replacements: Vec<Replacement<'_>> = Vec::new();
    for ((index, request), resolution) in requests.iter().enumerate().zip(resolved) {
        let existing = existing[index].as_ref();
        let previous = existing
            .and_then(|existing| held.get(&existing.id))
            .unwrap_or(&none);
        let reserve = request.reserve;
        if let Some(existing) = existing.filter(|existing| existing.status == "used") {
            outcomes.push(Outcome::Rejected(vec![Detail::error(
                Code::ReserveAlreadyUsed,
                format!(
                    "$.Content.InternalId: reservation '{}' ({}) was already used by a sale and cannot change",
                    reserve.internal_id, existing.number
                ),
            )]));
            continue;
        }
        match (request.event, existing) {
            (Event::Delete, None) => outcomes.push(Outcome::Rejected(vec![Detail::error(
                Code::ReserveNotFound,
                format!(
                    "$.Content.InternalId: no reservation '{}' was integrated for {}",
                    reserve.internal_id, request.namespace
                ),
            )])),
            (Event::Delete, Some(existing)) => {
                let moved: Vec<(i64, Decimal)> = previous
                    .iter()
                    .map(|(lot, quantity)| (*lot, -*quantity))
                    .collect();
                move_reserved(
                    &mut lots,
                    &moved,
                    &mut deltas,
                    &mut touched,
                    &[(&existing.company, &existing.branch)],
                );
                released.push(existing.id);
                outcomes.push(Outcome::Done(vec![numbered_entry(
                    Entity::ItemReserve,
                    &reserve.internal_id,
                    &existing.company,
                    &existing.branch,
                    &existing.number,
                )]));
            }
            (Event::Upsert, existing) => {
                let request_rules = match resolution {
                    Ok(rules) => rules,
                    Err(details) => {
                        outcomes.push(Outcome::Rejected(details));
                        continue;
                    }
                };
                let mut ids: Vec<i64> = request_rules
                    .stock_keys()
                    .into_iter()
                    .filter_map(|(product, warehouse)| {
                        by_stock.get(&(request.branch.branch.clone(), product, warehouse))
                    })
                    .flatten()
                    .copied()
                    .collect();
                ids.sort_unstable();
                let candidates: Vec<LotStock> = ids
                    .iter()
                    .filter_map(|id| lots.get(id))
                    .map(|lot| {
                        let mut stock = lot.stock.clone();
                        stock.reserved -= previous
                            .iter()
                            .filter(|(id, _)| *id == stock.id)
                            .map(|(_, quantity)| *quantity)
                            .sum::<Decimal>();
                        stock
                    })
                    .collect();
                let plan =
                    match request_rules.plan(&candidates, request.branch.reserve_without_stock) {
                        Ok(plan) => plan,
                        Err(details) => {
                            outcomes.push(Outcome::Rejected(details));
                            continue;
                        }
                    };
                let mut moved: Vec<(i64, Decimal)> = plan.reserved_by_lot();
                for (lot_id, quantity) in previous {
                    match moved.iter_mut().find(|(id, _)| id == lot_id) {
                        Some((_, delta)) => *delta -= *quantity,
                        None => moved.push((*lot_id, -*quantity)),
                    }
                }
                moved.retain(|(_, delta)| !delta.is_zero());
                let mut places = vec![(
                    request.branch.company.as_str(),
                    request.branch.branch.as_str(),
                )];
                places.extend(
                    existing.map(|existing| (existing.company.as_str(), existing.branch.as_str())),
                );
                move_reserved(&mut lots, &moved, &mut deltas, &mut touched, &places);
                // Completed below, once the reservation has its number.
                outcomes.push(Outcome::Done(Vec::new()));
                replacements.push(Replacement {
                    index,
                    existing,
                    request: request_rules,
                    plan,
                });
            }
        }
    }
    adjust_reserved(conn, &deltas).await?;
    let read: Vec<&Branch> = requests.iter().map(|request| request.branch).collect();
    for ((company, branch), mut keys) in touched {
        keys.sort();
        keys.dedup();
        let place = EventBranch::among(&read, &company, &branch);
        events::stock_levels(conn, origin, place, &keys).await?;
    }
    release_all(conn, &released).await?;
    let numbers = write_replacements(conn, requests, &replacements).await?;
    let numbered: Vec<Numbered<'_>> = replacements
        .iter()
        .zip(&numbers)
        .map(|(replacement, number)| {
            let request = &requests[replacement.index];
            Numbered {
                namespace: request.namespace,
                origin: &request.reserve.internal_id,
                company: &request.branch.company,
                branch: &request.branch.branch,
                number,
            }
        })
        .collect();
    let entries = directory::record_numbered(conn, Entity::ItemReserve, &numbered).await?;
    for (replacement, entry) in replacements.iter().zip(entries) {
        outcomes[replacement.index] = Outcome::Done(vec![entry]);
    }
    Ok(outcomes)
}

/// The reservations the requests name, locked, in the requests' order.
async fn load_existing(
    conn: &mut Conn<'_>,
    requests: &[ReserveRequest<'_>],
) -> Result<Vec<Option<Existing>>, StoreError> {
    let namespaces: Vec<&str> = requests.iter().map(|request| request.namespace).collect();
    let internal_ids: Vec<&str> = requests
        .iter()
        .map(|request| request.reserve.internal_id.as_str())
        .collect();
    let rows: Vec<Existing> =
        match conn {
            Conn::Postgres(c) => sqlx::query_as(
                "SELECT r.id, r.namespace, r.internal_id, r.company, r.branch, r.number, r.status
           FROM reservations r
           JOIN unnest($1::text[], $2::text[]) AS w(namespace, internal_id)
             ON r.namespace = w.namespace AND r.internal_id = w.internal_id
          ORDER BY r.id
            FOR UPDATE OF r",
            )
            .bind(&namespaces)
            .bind(&internal_ids)
            .fetch_all(&mut **c)
            .await?,
            Conn::Sqlite(c) => {
                let mut rows = Vec::with_capacity(requests.len());
                for (namespace, internal_id) in namespaces.iter().zip(&internal_ids) {
                    let row: Option<Existing> = sqlx::query_as(
                        "SELECT id, namespace, internal_id, company, branch, number, status
                       FROM reservations WHERE namespace = $1 AND internal_id = $2",
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
    let mut rows: HashMap<(String, String), Existing> = rows
        .into_iter()
        .map(|row| ((row.namespace.clone(), row.internal_id.clone()), row))
        .collect();
    Ok(requests
        .iter()
        .map(|request| {
            rows.remove(&(
                request.namespace.to_owned(),
                request.reserve.internal_id.clone(),
            ))
        })
        .collect())
}

/// De/para of every upsert's products and warehouses, in two statements;
/// a delete's entry is never read.
async fn resolve_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    requests: &[ReserveRequest<'_>],
) -> Result<Vec<Result<ReservationRequest, Vec<Detail>>>, StoreError> {
    let scopes: Vec<DirectoryScope<'_>> = requests
        .iter()
        .map(|request| {
            let mut wanted = Vec::new();
            if request.event == Event::Upsert {
                for item in &request.reserve.items {
                    wanted.push((Entity::Product, item.item_code.clone()));
                    if let Some(warehouse) = &item.warehouse {
                        wanted.push((Entity::Warehouse, warehouse.clone()));
                    }
                }
            }
            DirectoryScope {
                namespace: request.namespace,
                branch: &request.branch.branch,
                wanted,
            }
        })
        .collect();
    let mut directories = directory::load_directories(conn, kept, &scopes).await?;
    let products = directory::load_products(conn, kept, &scopes, &mut directories).await?;
    Ok(requests
        .iter()
        .zip(&directories)
        .map(|(request, directory)| {
            ReservationRequest::resolve(request.reserve, directory, &products, request.today)
        })
        .collect())
}

/// The lots each existing reservation holds now, with their quantities.
async fn load_held(
    conn: &mut Conn<'_>,
    existing: &[Option<Existing>],
) -> Result<HashMap<i64, Vec<(i64, Decimal)>>, StoreError> {
    let ids: Vec<i64> = existing.iter().flatten().map(|row| row.id).collect();
    let mut held: HashMap<i64, Vec<(i64, Decimal)>> = HashMap::new();
    if ids.is_empty() {
        return Ok(held);
    }
    let rows: Vec<(i64, i64, Exact)> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT reservation_id, lot_id, quantity FROM reservation_lines
          WHERE reservation_id = ANY($1) AND lot_id IS NOT NULL AND released_at IS NULL",
            )
            .bind(&ids)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_as(
                "SELECT reservation_id, lot_id, quantity FROM reservation_lines
                  WHERE reservation_id IN (SELECT value FROM json_each($1))
                    AND lot_id IS NOT NULL AND released_at IS NULL",
            )
            .bind(json_rows(&ids)?)
            .fetch_all(&mut **c)
            .await?
        }
    };
    for (reservation, lot, Exact(quantity)) in rows {
        held.entry(reservation).or_default().push((lot, quantity));
    }
    Ok(held)
}

/// The ids of the lots read, by (branch, product, warehouse), in no order.
fn lots_by_stock(lots: &HashMap<i64, BranchLot>) -> HashMap<(String, String, String), Vec<i64>> {
    let mut by_stock: HashMap<(String, String, String), Vec<i64>> = HashMap::new();
    for (id, lot) in lots {
        let stock = (
            lot.branch.clone(),
            lot.stock.product.clone(),
            lot.stock.warehouse.clone(),
        );
        by_stock.entry(stock).or_default().push(*id);
    }
    by_stock
}

/// Moves reserved quantities between lots in memory (so the next plan sees
/// them), adding them to the deltas to write and each lot's `(product,
/// warehouse)` to the keys whose stock level changed, under the place of
/// `places` (company, branch) that is the lot's branch: a reservation moved
/// to another branch changes the stock of both.
fn move_reserved(
    lots: &mut HashMap<i64, BranchLot>,
    moved: &[(i64, Decimal)],
    deltas: &mut Vec<(i64, Decimal)>,
    touched: &mut BTreeMap<(String, String), Vec<(String, String)>>,
    places: &[(&str, &str)],
) {
    for (lot_id, delta) in moved {
        if let Some(lot) = lots.get_mut(lot_id) {
            lot.stock.reserved += *delta;
            let place = places
                .iter()
                .find(|(_, branch)| *branch == lot.branch)
                .or(places.first());
            if let Some((company, branch)) = place {
                touched
                    .entry(((*company).to_owned(), (*branch).to_owned()))
                    .or_default()
                    .push((lot.stock.product.clone(), lot.stock.warehouse.clone()));
            }
        }
        deltas.push((*lot_id, *delta));
    }
}

/// Returns released reservations' lines and marks the reservations cancelled.
async fn release_all(conn: &mut Conn<'_>, released: &[i64]) -> Result<(), StoreError> {
    if released.is_empty() {
        return Ok(());
    }
    match conn {
        Conn::Postgres(c) => {
            sqlx::query(
                "WITH lines AS (UPDATE reservation_lines SET released_at = now()
                         WHERE reservation_id = ANY($1) AND released_at IS NULL)
         UPDATE reservations SET status = 'cancelled', updated_at = now() WHERE id = ANY($1)",
            )
            .bind(released)
            .execute(&mut **c)
            .await?;
        }
        Conn::Sqlite(c) => {
            let now = Utc::now();
            let ids = json_rows(released)?;
            sqlx::query(
                "UPDATE reservation_lines SET released_at = $2
                  WHERE reservation_id IN (SELECT value FROM json_each($1))
                    AND released_at IS NULL",
            )
            .bind(&ids)
            .bind(now)
            .execute(&mut **c)
            .await?;
            sqlx::query(
                "UPDATE reservations SET status = 'cancelled', updated_at = $2
                  WHERE id IN (SELECT value FROM json_each($1))",
            )
            .bind(&ids)
            .bind(now)
            .execute(&mut **c)
            .await?;
        }
    }
    Ok(())
}

/// The reservation columns of accepted upserts, one entry per reservation.
#[derive(Default)]
struct ReservationRows<'a> {
    company: Vec<&'a str>,
    branch: Vec<&'a str>,
    namespace: Vec<&'a str>,
    internal_id: Vec<&'a str>,
    reserve_type: Vec<Option<&'static str>>,
    document_reserve: Vec<Option<&'a str>>,
    requester: Vec<Option<&'a str>>,
}

impl<'a> ReservationRows<'a> {
    fn push(&mut self, request: &ReserveRequest<'a>) {
        self.company.push(&request.branch.company);
        self.branch.push(&request.branch.branch);
        self.namespace.push(request.namespace);
        self.internal_id.push(&request.reserve.internal_id);
        self.reserve_type
            .push(request.reserve.reserve_type.map(|kind| kind.as_str()));
        self.document_reserve
            .push(request.reserve.document_reserve.as_deref());
        self.requester.push(request.reserve.requester.as_deref());
    }

    fn len(&self) -> usize {
        self.company.len()
    }
}

/// Writes the accepted upserts: existing reservations updated and their
/// lines replaced, new ones inserted with the next numbers, and every line.
/// On PostgreSQL the new reservations and all the lines are one statement:
/// its first part draws each new reservation's id and number from their
/// sequences, and a new reservation's lines are joined to it by its place
/// among them (an integer, not its name). Returns each replacement's
/// reservation number.
async fn write_replacements(
    conn: &mut Conn<'_>,
    requests: &[ReserveRequest<'_>],
    replacements: &[Replacement<'_>],
) -> Result<Vec<String>, StoreError> {
    if replacements.is_empty() {
        return Ok(Vec::new());
    }
    let mut changed_ids: Vec<i64> = Vec::new();
    let mut changed = ReservationRows::default();
    let mut created = ReservationRows::default();
    for replacement in replacements {
        let request = &requests[replacement.index];
        match replacement.existing {
            Some(existing) => {
                changed_ids.push(existing.id);
                changed.push(request);
            }
            None => created.push(request),
        }
    }
    match conn {
        _ if changed_ids.is_empty() => {}
        Conn::Postgres(c) => {
            sqlx::query(
                "WITH lines AS (DELETE FROM reservation_lines WHERE reservation_id = ANY($1))
             UPDATE reservations r
                SET status = 'active', company = u.company, branch = u.branch,
                    reserve_type = u.reserve_type, document_reserve = u.document_reserve,
                    requester = u.requester, updated_at = now()
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                 AS u(id, company, branch, reserve_type, document_reserve, requester)
              WHERE r.id = u.id",
            )
            .bind(&changed_ids)
            .bind(&changed.company)
            .bind(&changed.branch)
            .bind(&changed.reserve_type)
            .bind(&changed.document_reserve)
            .bind(&changed.requester)
            .execute(&mut **c)
            .await?;
        }
        Conn::Sqlite(c) => {
            let now = Utc::now();
            for (index, id) in changed_ids.iter().enumerate() {
                sqlx::query("DELETE FROM reservation_lines WHERE reservation_id = $1")
                    .bind(id)
                    .execute(&mut **c)
                    .await?;
                sqlx::query(
                    "UPDATE reservations
                        SET status = 'active', company = $2, branch = $3, reserve_type = $4,
                            document_reserve = $5, requester = $6, updated_at = $7
                      WHERE id = $1",
                )
                .bind(id)
                .bind(changed.company[index])
                .bind(changed.branch[index])
                .bind(changed.reserve_type[index])
                .bind(changed.document_reserve[index])
                .bind(changed.requester[index])
                .bind(now)
                .execute(&mut **c)
                .await?;
            }
        }
    }
    let mut lines = LineRows::of(replacements);
    let numbers: Vec<String> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar(&format!(
                "WITH numbered AS MATERIALIZED (
                     SELECT v.*, {NUMBER}
                                 AS number
                       FROM (SELECT u.*, nextval('reservations_id_seq') AS id,
                                    nextval('reservation_numbers') AS sequence
                               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                           $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
                                 AS u(company, branch, namespace, internal_id, reserve_type,
                                      document_reserve, requester, position)
                              ORDER BY u.position OFFSET 0) AS v),
                 created AS (
                     INSERT INTO reservations
                         (id, company, branch, number, namespace, internal_id, reserve_type,
                          document_reserve, requester, status)
                     SELECT n.id, n.company, n.branch, n.number, n.namespace, n.internal_id,
                            n.reserve_type, n.document_reserve, n.requester, 'active'
                       FROM numbered n ORDER BY n.position),
                 lines AS (
                     INSERT INTO reservation_lines
                         (reservation_id, line_no, item_no, product, warehouse, lot_id, lot,
                          sublot, quantity, backorder, issued_on, expires_at)
                     SELECT coalesce(l.reservation_id, n.id), l.line_no, l.item_no,
                            l.product, l.warehouse, l.lot_id, l.lot, l.sublot, l.quantity,
                            l.lot_id IS NULL, l.issued_on, l.expires_at
                       FROM unnest($8::bigint[], $9::bigint[], $10::int[], $11::int[],
                                   $12::text[], $13::text[], $14::bigint[], $15::text[],
                                   $16::text[], $17::numeric[], $18::date[],
                                   $19::timestamptz[])
                         AS l(reservation_id, created, line_no, item_no, product, warehouse,
                              lot_id, lot, sublot, quantity, issued_on, expires_at)
                       LEFT JOIN numbered n ON n.position = l.created)
                 SELECT number FROM numbered ORDER BY position"
            ))
            .bind(&created.company)
            .bind(&created.branch)
            .bind(&created.namespace)
            .bind(&created.internal_id)
            .bind(&created.reserve_type)
            .bind(&created.document_reserve)
            .bind(&created.requester)
            .bind(&lines.reservation_id)
            .bind(&lines.created)
            .bind(&lines.line_no)
            .bind(&lines.item_no)
            .bind(&lines.product)
            .bind(&lines.warehouse)
            .bind(&lines.lot_id)
            .bind(&lines.lot)
            .bind(&lines.sublot)
            .bind(&lines.quantity)
            .bind(&lines.issued_on)
            .bind(&lines.expires_at)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            let mut ids = Vec::with_capacity(created.len());
            let mut numbers = Vec::with_capacity(created.len());
            for index in 0..created.len() {
                let number = next_number(c, "reservation_numbers").await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO reservations
                        (company, branch, number, namespace, internal_id, reserve_type,
                         document_reserve, requester, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active')
                     RETURNING id",
                )
                .bind(created.company[index])
                .bind(created.branch[index])
                .bind(&number)
                .bind(created.namespace[index])
                .bind(created.internal_id[index])
                .bind(created.reserve_type[index])
                .bind(created.document_reserve[index])
                .bind(created.requester[index])
                .fetch_one(&mut **c)
                .await?;
                ids.push(id);
                numbers.push(number);
            }
            lines.name_created(&ids)?;
            lines.write_one_by_one(c).await?;
            numbers
        }
    };
    if numbers.len() != created.len() {
        return Err(StoreError::Database(sqlx::Error::RowNotFound));
    }
    let mut numbers = numbers.into_iter();
    Ok(replacements
        .iter()
        .filter_map(|replacement| match replacement.existing {
            Some(existing) => Some(existing.number.clone()),
            None => numbers.next(),
        })
        .collect())
}

/// The stock the upserts plan on: each (branch, product, warehouse) of
/// their items. Holding its lock ([`stock_locks`]) is what entitles a
/// transaction to plan on that stock's free quantity.
fn planned_stock<'r>(
    requests: &[ReserveRequest<'r>],
    resolved: &[Result<ReservationRequest, Vec<Detail>>],
) -> Vec<(&'r str, String, String)> {
    requests
        .iter()
        .zip(resolved)
        .filter(|(request, _)| request.event == Event::Upsert)
        .filter_map(|(request, resolution)| Some((request, resolution.as_ref().ok()?)))
        .flat_map(|(request, rules)| {
            let branch = request.branch.branch.as_str();
            rules
                .stock_keys()
                .into_iter()
                .map(move |(product, warehouse)| (branch, product, warehouse))
        })
        .collect()
}

/// Reads the lots the plans may touch: each upsert's products' lots in its
/// branch (their stock keys are locked) and the lots the existing
/// reservations hold (those are only given back, which never
/// over-reserves). Both are found through indexes (an `OR` of the two would
/// scan every lot of the branch), so the cost follows the items, not the
/// branch's size. A lot found both ways comes twice and is kept once (by
/// id): `UNION ALL` spares PostgreSQL sorting every row to find the
/// duplicates, 40 % of the statement for a batch of 128. No row is locked:
/// the stock keys serialise the planners, the UPDATE adds deltas to the
/// rows as they are then, and the `reserved_within_on_hand` CHECK stands
/// behind the arithmetic.
async fn read_lots(
    conn: &mut Conn<'_>,
    planned: &[(&str, String, String)],
    held: &HashMap<i64, Vec<(i64, Decimal)>>,
) -> Result<HashMap<i64, BranchLot>, StoreError> {
    let branches: Vec<&str> = planned.iter().map(|(branch, ..)| *branch).collect();
    let products: Vec<&str> = planned
        .iter()
        .map(|(_, product, _)| product.as_str())
        .collect();
    let warehouses: Vec<&str> = planned
        .iter()
        .map(|(.., warehouse)| warehouse.as_str())
        .collect();
    let held: Vec<i64> = held.values().flatten().map(|(id, _)| *id).collect();
    let rows: Vec<LotRow> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_as(
                "SELECT l.id, l.branch, l.product, l.warehouse, l.lot, l.sublot, l.expires_on,
                l.received_on, l.quantity, l.reserved
           FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[]))
             AS k(branch, product, warehouse)
           JOIN lots l
             ON l.branch = k.branch AND l.product = k.product AND l.warehouse = k.warehouse
         UNION ALL
         SELECT id, branch, product, warehouse, lot, sublot, expires_on, received_on, quantity,
                reserved
           FROM lots
          WHERE id = ANY($4)",
            )
            .bind(&branches)
            .bind(&products)
            .bind(&warehouses)
            .bind(&held)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Sqlite(c) => {
            let mut keys: Vec<&(&str, String, String)> = planned.iter().collect();
            keys.sort();
            keys.dedup();
            let mut rows: Vec<LotRow> = Vec::new();
            for (branch, product, warehouse) in keys {
                rows.extend(
                    sqlx::query_as::<_, LotRow>(
                        "SELECT id, branch, product, warehouse, lot, sublot, expires_on,
                                received_on, quantity, reserved
                           FROM lots WHERE branch = $1 AND product = $2 AND warehouse = $3",
                    )
                    .bind(branch)
                    .bind(product)
                    .bind(warehouse)
                    .fetch_all(&mut **c)
                    .await?,
                );
            }
            rows.extend(
                sqlx::query_as::<_, LotRow>(
                    "SELECT id, branch, product, warehouse, lot, sublot, expires_on, received_on,
                            quantity, reserved
                       FROM lots WHERE id IN (SELECT value FROM json_each($1))",
                )
                .bind(json_rows(&held)?)
                .fetch_all(&mut **c)
                .await?,
            );
            rows
        }
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.id;
            let branch = row.branch.clone();
            let stock = LotStock::from(row);
            (id, BranchLot { branch, stock })
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct LotRow {
    id: i64,
    branch: String,
    product: String,
    warehouse: String,
    lot: String,
    sublot: String,
    expires_on: Option<NaiveDate>,
    received_on: Option<NaiveDate>,
    quantity: Exact,
    reserved: Exact,
}

impl From<LotRow> for LotStock {
    fn from(row: LotRow) -> LotStock {
        LotStock {
            id: row.id,
            product: row.product,
            warehouse: row.warehouse,
            lot: row.lot,
            sublot: row.sublot,
            expires_on: row.expires_on,
            received_on: row.received_on,
            on_hand: row.quantity.0.normalize(),
            reserved: row.reserved.0.normalize(),
        }
    }
}

/// Adds each delta to its lot's reserved quantity in one statement (deltas
/// of one lot are summed), locking the lots in id order first, so
/// transactions adjusting overlapping lots queue up instead of deadlocking.
///
/// On SQLite each lot is read, its sum computed here in exact decimals and
/// written back; a sum above the lot's quantity or below zero fails like
/// PostgreSQL's CHECKs do ([`StockCheck`]).
pub(crate) async fn adjust_reserved(
    conn: &mut Conn<'_>,
    deltas: &[(i64, Decimal)],
) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let c = match conn {
        Conn::Postgres(c) => c,
        Conn::Sqlite(c) => return adjust_reserved_one_by_one(c, deltas).await,
    };
    let ids: Vec<i64> = deltas.iter().map(|(id, _)| *id).collect();
    let amounts: Vec<Decimal> = deltas.iter().map(|(_, delta)| *delta).collect();
    sqlx::query(
        "WITH d AS (SELECT id, sum(delta) AS delta
                      FROM unnest($1::bigint[], $2::numeric[]) AS u(id, delta)
                     GROUP BY id),
              locked AS (SELECT l.id FROM lots l WHERE l.id IN (SELECT id FROM d)
                          ORDER BY l.id FOR UPDATE)
         UPDATE lots SET reserved = lots.reserved + d.delta
           FROM d JOIN locked USING (id)
          WHERE lots.id = d.id",
    )
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut **c)
    .await?;
    Ok(())
}

/// [`adjust_reserved`] on SQLite: each lot's deltas summed, added to what
/// it reserves and written back, in lot id order.
async fn adjust_reserved_one_by_one(
    conn: &mut SqliteConnection,
    deltas: &[(i64, Decimal)],
) -> Result<(), StoreError> {
    let mut summed: BTreeMap<i64, Decimal> = BTreeMap::new();
    for (id, delta) in deltas {
        *summed.entry(*id).or_default() += *delta;
    }
    for (id, delta) in summed {
        let lot: Option<(Exact, Exact)> =
            sqlx::query_as("SELECT quantity, reserved FROM lots WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some((Exact(on_hand), Exact(reserved))) = lot else {
            continue;
        };
        let reserved = db::quantity(reserved + delta);
        if reserved < Decimal::ZERO {
            return Err(StockCheck::refused(RESERVED_NOT_NEGATIVE));
        }
        if reserved > on_hand {
            return Err(StockCheck::refused(RESERVED_WITHIN_ON_HAND));
        }
        sqlx::query("UPDATE lots SET reserved = $2 WHERE id = $1")
            .bind(id)
            .bind(Exact(reserved))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// PostgreSQL's name of the lots' CHECK that reserved is not negative.
const RESERVED_NOT_NEGATIVE: &str = "lots_reserved_check";

/// The lots' CHECK that reserved never exceeds on hand.
const RESERVED_WITHIN_ON_HAND: &str = "reserved_within_on_hand";

/// A lot's reserved quantity pushed out of its bounds, refused on SQLite as
/// PostgreSQL refuses it: a check violation (SQLSTATE 23514) naming the
/// same constraint, so [`StoreError::failure`] and every caller answer the
/// same on both backends.
#[derive(Debug)]
struct StockCheck {
    constraint: &'static str,
    message: String,
}

impl StockCheck {
    fn refused(constraint: &'static str) -> StoreError {
        StoreError::Database(sqlx::Error::Database(Box::new(StockCheck {
            constraint,
            message: format!(
                "new row for relation \"lots\" violates check constraint \"{constraint}\""
            ),
        })))
    }
}

impl fmt::Display for StockCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StockCheck {}

impl DatabaseError for StockCheck {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some("23514".into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::CheckViolation
    }

    fn constraint(&self) -> Option<&str> {
        Some(self.constraint)
    }

    fn table(&self) -> Option<&str> {
        Some("lots")
    }
}

/// A document's number in PostgreSQL's statements that number documents:
/// the value `v.sequence` drew from its sequence, zero-padded to six digits
/// at least ([`next_number`] on SQLite).
pub(crate) const NUMBER: &str =
    "lpad(v.sequence::text, greatest(6, length(v.sequence::text)), '0')";

/// The next value of SQLite's `sequence` as a document number, zero-padded
/// to six digits at least: [`NUMBER`] in SQLite's SQL.
pub(crate) async fn next_number(
    conn: &mut SqliteConnection,
    sequence: &str,
) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE sequences SET value = value + 1 WHERE name = $1 RETURNING printf('%06d', value)",
    )
    .bind(sequence)
    .fetch_one(conn)
    .await?)
}

/// The planned lines of every replacement, one entry per line. A line of
/// an existing reservation carries its id; a new reservation's lines carry
/// none, and name it by its place among the batch's new reservations
/// (from 1, in the replacements' order) instead.
#[derive(Default)]
struct LineRows<'a> {
    reservation_id: Vec<Option<i64>>,
    created: Vec<Option<i64>>,
    line_no: Vec<i32>,
    item_no: Vec<i32>,
    product: Vec<&'a str>,
    warehouse: Vec<&'a str>,
    lot_id: Vec<Option<i64>>,
    lot: Vec<&'a str>,
    sublot: Vec<&'a str>,
    quantity: Vec<Decimal>,
    issued_on: Vec<NaiveDate>,
    expires_at: Vec<Option<DateTime<Utc>>>,
}

impl<'a> LineRows<'a> {
    fn of(replacements: &'a [Replacement<'_>]) -> LineRows<'a> {
        let mut rows = LineRows::default();
        let mut created = 0;
        for replacement in replacements {
            if replacement.existing.is_none() {
                created += 1;
            }
            for (index, line) in replacement.plan.lines.iter().enumerate() {
                let item = &replacement.request.items[line.item];
                rows.reservation_id
                    .push(replacement.existing.map(|existing| existing.id));
                rows.created
                    .push(replacement.existing.is_none().then_some(created));
                rows.line_no.push(index as i32 + 1);
                rows.item_no.push(item.item_no as i32);
                rows.product.push(&line.product);
                rows.warehouse.push(&line.warehouse);
                rows.lot_id.push(line.lot_id);
                rows.lot.push(&line.lot);
                rows.sublot.push(&line.sublot);
                rows.quantity.push(line.quantity);
                rows.issued_on.push(item.issue_date);
                rows.expires_at.push(item.expires_at);
            }
        }
        rows
    }

    /// Gives the lines of new reservations the ids the batch's new
    /// reservations were inserted with, in their order.
    fn name_created(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        for (reservation_id, created) in self.reservation_id.iter_mut().zip(&self.created) {
            if let Some(created) = created {
                *reservation_id = Some(*db::at_place(ids, *created)?);
            }
        }
        Ok(())
    }

    /// The lines one by one, every one naming its reservation's id (SQLite).
    async fn write_one_by_one(&self, c: &mut SqliteConnection) -> Result<(), StoreError> {
        for index in 0..self.reservation_id.len() {
            sqlx::query(
                "INSERT INTO reservation_lines
                    (reservation_id, line_no, item_no, product, warehouse, lot_id, lot, sublot,
                     quantity, backorder, issued_on, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $6 IS NULL, $10, $11)",
            )
            .bind(self.reservation_id[index])
            .bind(self.line_no[index])
            .bind(self.item_no[index])
            .bind(self.product[index])
            .bind(self.warehouse[index])
            .bind(self.lot_id[index])
            .bind(self.lot[index])
            .bind(self.sublot[index])
            .bind(Exact(db::quantity(self.quantity[index])))
            .bind(self.issued_on[index])
            .bind(self.expires_at[index])
            .execute(&mut *c)
            .await?;
        }
        Ok(())
    }
}

/// Returns a reservation's lots to stock and marks its lines released;
/// returns the `(product, warehouse)` pairs whose availability changed.
pub(crate) async fn release_lines(
    conn: &mut Conn<'_>,
    reservation_id: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let held: Vec<(i64, Exact, String, String)> = on_conn!(conn, c => {
        sqlx::query_as(
            "SELECT lot_id, quantity, product, warehouse FROM reservation_lines
          WHERE reservation_id = $1 AND lot_id IS NOT NULL AND released_at IS NULL
          ORDER BY lot_id",
        )
        .bind(reservation_id)
        .fetch_all(c)
        .await?
    });
    let deltas: Vec<(i64, Decimal)> = held
        .iter()
        .map(|(id, Exact(quantity), ..)| (*id, -*quantity))
        .collect();
    adjust_reserved(conn, &deltas).await?;
    match conn {
        Conn::Postgres(c) => {
            sqlx::query(
                "UPDATE reservation_lines SET released_at = now()
          WHERE reservation_id = $1 AND released_at IS NULL",
            )
            .bind(reservation_id)
            .execute(&mut **c)
            .await?;
        }
        Conn::Sqlite(c) => {
            sqlx::query(
                "UPDATE reservation_lines SET released_at = $2
                  WHERE reservation_id = $1 AND released_at IS NULL",
            )
            .bind(reservation_id)
            .bind(Utc::now())
            .execute(&mut **c)
            .await?;
        }
    }
    let mut keys: Vec<(String, String)> = held
        .into_iter()
        .map(|(_, _, product, warehouse)| (product, warehouse))
        .collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

impl crate::Store {
    /// Releases the lines of active reservations whose `ReserveExpiration`
    /// passed before `now`, returning their quantities to the lots; a
    /// reservation with nothing left becomes `expired`. Returns the lines released.
    ///
    /// Works in batches under `SKIP LOCKED`, so several workers can sweep at
    /// once and a reservation being changed right now is simply left for the
    /// next pass. On SQLite the sweep's transaction is the only writer, so
    /// it locks and skips nothing.
    #[tracing::instrument(skip(self))]
    pub async fn release_expired_reservations(
        &self,
        origin: &ReceiptOrigin,
        now: DateTime<Utc>,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let expired: Vec<ExpiredLine> =
            match tx.conn() {
                Conn::Postgres(c) => sqlx::query_as(
                    "SELECT l.reservation_id, l.line_no, l.lot_id, l.quantity, r.company, r.branch,
                    l.product, l.warehouse
               FROM reservation_lines l
               JOIN reservations r ON r.id = l.reservation_id
              WHERE l.released_at IS NULL AND l.expires_at < $1 AND r.status = 'active'
              ORDER BY l.reservation_id, l.line_no
              LIMIT $2
                FOR UPDATE OF l, r SKIP LOCKED",
                )
                .bind(now)
                .bind(batch)
                .fetch_all(c)
                .await?,
                Conn::Sqlite(c) => {
                    sqlx::query_as(
                        "SELECT l.reservation_id, l.line_no, l.lot_id, l.quantity, r.company,
                            r.branch, l.product, l.warehouse
                       FROM reservation_lines l
                       JOIN reservations r ON r.id = l.reservation_id
                      WHERE l.released_at IS NULL AND l.expires_at < $1 AND r.status = 'active'
                      ORDER BY l.reservation_id, l.line_no
                      LIMIT $2",
                    )
                    .bind(now)
                    .bind(batch)
                    .fetch_all(c)
                    .await?
                }
            };
        if expired.is_empty() {
            return Ok(0);
        }
        let deltas: Vec<(i64, Decimal)> = expired
            .iter()
            .filter_map(|line| line.lot_id.map(|lot| (lot, -line.quantity.0)))
            .collect();
        adjust_reserved(&mut tx.conn(), &deltas).await?;
        let reservations: Vec<i64> = expired.iter().map(|line| line.reservation_id).collect();
        let lines: Vec<i32> = expired.iter().map(|line| line.line_no).collect();
        match tx.conn() {
            Conn::Postgres(c) => {
                sqlx::query(
                    "UPDATE reservation_lines SET released_at = $3
               FROM unnest($1::bigint[], $2::int[]) AS e(reservation_id, line_no)
              WHERE reservation_lines.reservation_id = e.reservation_id
                AND reservation_lines.line_no = e.line_no",
                )
                .bind(&reservations)
                .bind(&lines)
                .bind(now)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "UPDATE reservations r SET status = 'expired', updated_at = $2
              WHERE r.id = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM reservation_lines l
                                 WHERE l.reservation_id = r.id AND l.released_at IS NULL)",
                )
                .bind(&reservations)
                .bind(now)
                .execute(c)
                .await?;
            }
            Conn::Sqlite(c) => {
                for (reservation, line) in reservations.iter().zip(&lines) {
                    sqlx::query(
                        "UPDATE reservation_lines SET released_at = $3
                          WHERE reservation_id = $1 AND line_no = $2",
                    )
                    .bind(reservation)
                    .bind(line)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                }
                sqlx::query(
                    "UPDATE reservations SET status = 'expired', updated_at = $2
                      WHERE id IN (SELECT value FROM json_each($1))
                        AND NOT EXISTS (SELECT 1 FROM reservation_lines l
                                         WHERE l.reservation_id = reservations.id
                                           AND l.released_at IS NULL)",
                )
                .bind(json_rows(&reservations)?)
                .bind(now)
                .execute(c)
                .await?;
            }
        }
        let mut branches: Vec<(&str, &str)> = expired
            .iter()
            .map(|line| (line.company.as_str(), line.branch.as_str()))
            .collect();
        branches.sort_unstable();
        branches.dedup();
        for (company, branch) in branches {
            let mut keys: Vec<(String, String)> = expired
                .iter()
                .filter(|line| {
                    line.lot_id.is_some() && line.company == company && line.branch == branch
                })
                .map(|line| (line.product.clone(), line.warehouse.clone()))
                .collect();
            keys.sort();
            keys.dedup();
            let place = EventBranch::Named { company, branch };
            events::stock_levels(&mut tx.conn(), origin, place, &keys).await?;
        }
        tx.commit().await?;
        Ok(expired.len() as u64)
    }
}

/// A reservation line the sweep releases.
#[derive(sqlx::FromRow)]
struct ExpiredLine {
    reservation_id: i64,
    line_no: i32,
    lot_id: Option<i64>,
    quantity: Exact,
    company: String,
    branch: String,
    product: String,
    warehouse: String,
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::Failure;

    /// An SQLite database in memory with the schema and one lot: 10 on
    /// hand, 4 reserved.
    async fn one_lot() -> SqliteConnection {
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("an SQLite database in memory");
        sqlx::raw_sql(include_str!("../migrations_sqlite/0001_schema.sql"))
            .execute(&mut conn)
            .await
            .expect("schema");
        sqlx::raw_sql(
            "INSERT INTO products (code) VALUES ('P');
             INSERT INTO lots (id, branch, product, warehouse, lot, quantity, reserved)
             VALUES (1, 'B', 'P', '01', 'L', '10.0000', '4.0000');",
        )
        .execute(&mut conn)
        .await
        .expect("lot");
        conn
    }

    async fn reserved(conn: &mut SqliteConnection) -> Decimal {
        let (Exact(reserved),): (Exact,) = sqlx::query_as("SELECT reserved FROM lots WHERE id = 1")
            .fetch_one(conn)
            .await
            .expect("lot");
        reserved
    }

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("decimal")
    }

    #[tokio::test]
    async fn on_sqlite_a_lot_reserves_up_to_its_quantity_exactly_and_never_beyond_or_below() {
        let mut conn = one_lot().await;
        adjust_reserved(
            &mut Conn::Sqlite(&mut conn),
            &[(1, decimal("5.99995")), (1, decimal("0.00005"))],
        )
        .await
        .expect("up to what is on hand");
        assert_eq!(reserved(&mut conn).await, decimal("10.0000"));

        let above = adjust_reserved(&mut Conn::Sqlite(&mut conn), &[(1, decimal("0.0001"))])
            .await
            .expect_err("beyond what is on hand");
        let StoreError::Database(sqlx::Error::Database(refusal)) = &above else {
            panic!("{above:?}");
        };
        assert_eq!(refusal.constraint(), Some("reserved_within_on_hand"));
        assert_eq!(refusal.kind(), ErrorKind::CheckViolation);
        assert_eq!(
            above.failure(),
            Failure::Transient,
            "planning again cures it"
        );
        assert_eq!(reserved(&mut conn).await, decimal("10.0000"));

        let below = adjust_reserved(&mut Conn::Sqlite(&mut conn), &[(1, decimal("-10.0001"))])
            .await
            .expect_err("below zero");
        let StoreError::Database(sqlx::Error::Database(refusal)) = &below else {
            panic!("{below:?}");
        };
        assert_eq!(refusal.constraint(), Some("lots_reserved_check"));
        assert_eq!(below.failure(), Failure::Permanent);

        adjust_reserved(&mut Conn::Sqlite(&mut conn), &[(1, decimal("-10"))])
            .await
            .expect("everything given back");
        assert_eq!(reserved(&mut conn).await, Decimal::ZERO);
    }
}
