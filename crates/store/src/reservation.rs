//! ItemReserve against the database: de/para, lots locked in id order, the
//! FEFO plan applied, the reservation and its lines written.
//!
//! Lots are locked with one `SELECT … ORDER BY id FOR UPDATE`, so any number of
//! workers reserving overlapping lots queue up instead of deadlocking, and the
//! `reserved_within_on_hand` CHECK stands behind the arithmetic. A
//! transaction-scoped advisory lock on the sender's InternalId serialises two
//! messages about the same reservation.

use chrono::{DateTime, NaiveDate, Utc};
use eai_domain::fefo::LotStock;
use eai_domain::reservation::{Plan, ReservationRequest};
use eai_domain::Entity;
use eai_protocol::{Code, Detail, Event, InternalIdEntry, ItemReserve, ReceiptOrigin};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::directory::{self, Branch};
use crate::events;
use crate::StoreError;

/// Where a reservation is being made, after the envelope's header was resolved.
#[derive(Debug, Clone)]
pub struct ReserveContext<'a> {
    /// Who we are in the events we emit.
    pub origin: &'a ReceiptOrigin,
    pub namespace: &'a str,
    pub branch: &'a Branch,
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
    company: String,
    branch: String,
    number: String,
    status: String,
}

/// Applies an ItemReserve upsert or delete inside the caller's transaction.
#[tracing::instrument(skip_all, fields(internal_id = %reserve.internal_id, ?event))]
pub async fn apply(
    conn: &mut PgConnection,
    ctx: &ReserveContext<'_>,
    reserve: &ItemReserve,
    event: Event,
) -> Result<Outcome, StoreError> {
    directory::lock_document(
        conn,
        &format!("ItemReserve|{}|{}", ctx.namespace, reserve.internal_id),
    )
    .await?;
    let existing: Option<Existing> = sqlx::query_as(
        "SELECT id, company, branch, number, status FROM reservations
          WHERE namespace = $1 AND internal_id = $2 FOR UPDATE",
    )
    .bind(ctx.namespace)
    .bind(&reserve.internal_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(existing) = &existing {
        if existing.status == "used" {
            return Ok(Outcome::Rejected(vec![Detail::error(
                Code::ReserveAlreadyUsed,
                format!(
                    "$.Content.InternalId: reservation '{}' ({}) was already used by a sale and cannot change",
                    reserve.internal_id, existing.number
                ),
            )]));
        }
    }
    match (event, existing) {
        (Event::Delete, None) => Ok(Outcome::Rejected(vec![Detail::error(
            Code::ReserveNotFound,
            format!(
                "$.Content.InternalId: no reservation '{}' was integrated for {}",
                reserve.internal_id, ctx.namespace
            ),
        )])),
        (Event::Delete, Some(existing)) => {
            let released = release_lines(conn, existing.id).await?;
            events::stock_levels(
                conn,
                ctx.origin,
                &existing.company,
                &existing.branch,
                &released,
            )
            .await?;
            sqlx::query(
                "UPDATE reservations SET status = 'cancelled', updated_at = now() WHERE id = $1",
            )
            .bind(existing.id)
            .execute(&mut *conn)
            .await?;
            Ok(Outcome::Done(vec![entry(
                reserve,
                &existing.company,
                &existing.branch,
                &existing.number,
            )]))
        }
        (Event::Upsert, existing) => upsert(conn, ctx, reserve, existing).await,
    }
}

async fn upsert(
    conn: &mut PgConnection,
    ctx: &ReserveContext<'_>,
    reserve: &ItemReserve,
    existing: Option<Existing>,
) -> Result<Outcome, StoreError> {
    let request = match resolve(conn, ctx, reserve).await? {
        Ok(request) => request,
        Err(details) => return Ok(Outcome::Rejected(details)),
    };
    let previous: Vec<(i64, Decimal)> = match &existing {
        Some(existing) => {
            sqlx::query_as(
                "SELECT lot_id, quantity FROM reservation_lines
              WHERE reservation_id = $1 AND lot_id IS NOT NULL AND released_at IS NULL",
            )
            .bind(existing.id)
            .fetch_all(&mut *conn)
            .await?
        }
        None => Vec::new(),
    };
    let mut lots = lock_lots(conn, &ctx.branch.branch, &request, &previous).await?;
    for lot in &mut lots {
        let released: Decimal = previous
            .iter()
            .filter(|(id, _)| *id == lot.id)
            .map(|(_, quantity)| *quantity)
            .sum();
        lot.reserved -= released;
    }
    let plan = match request.plan(&lots, ctx.branch.reserve_without_stock) {
        Ok(plan) => plan,
        Err(details) => return Ok(Outcome::Rejected(details)),
    };
    let changed = apply_deltas(conn, &previous, &plan).await?;
    let mut keys: Vec<(String, String)> = lots
        .iter()
        .filter(|lot| changed.contains(&lot.id))
        .map(|lot| (lot.product.clone(), lot.warehouse.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    events::stock_levels(
        conn,
        ctx.origin,
        &ctx.branch.company,
        &ctx.branch.branch,
        &keys,
    )
    .await?;
    let (id, number) = match existing {
        Some(existing) => {
            sqlx::query(
                "UPDATE reservations
                    SET status = 'active', company = $2, branch = $3, reserve_type = $4,
                        document_reserve = $5, requester = $6, updated_at = now()
                  WHERE id = $1",
            )
            .bind(existing.id)
            .bind(&ctx.branch.company)
            .bind(&ctx.branch.branch)
            .bind(reserve.reserve_type.map(|kind| kind.as_str()))
            .bind(&reserve.document_reserve)
            .bind(&reserve.requester)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM reservation_lines WHERE reservation_id = $1")
                .bind(existing.id)
                .execute(&mut *conn)
                .await?;
            (existing.id, existing.number)
        }
        None => {
            sqlx::query_as(
                "INSERT INTO reservations
                    (company, branch, number, namespace, internal_id, reserve_type,
                     document_reserve, requester, status)
                 VALUES ($1, $2, (SELECT lpad(n::text, greatest(6, length(n::text)), '0')
                                  FROM nextval('reservation_numbers') AS n),
                         $3, $4, $5, $6, $7, 'active')
                 RETURNING id, number",
            )
            .bind(&ctx.branch.company)
            .bind(&ctx.branch.branch)
            .bind(ctx.namespace)
            .bind(&reserve.internal_id)
            .bind(reserve.reserve_type.map(|kind| kind.as_str()))
            .bind(&reserve.document_reserve)
            .bind(&reserve.requester)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    insert_lines(conn, id, &request, &plan).await?;
    let entry = entry(reserve, &ctx.branch.company, &ctx.branch.branch, &number);
    directory::record_mapping(
        conn,
        ctx.namespace,
        Entity::ItemReserve,
        &reserve.internal_id,
        &entry.destination,
    )
    .await?;
    Ok(Outcome::Done(vec![entry]))
}

/// De/para of the items' products and warehouses.
async fn resolve(
    conn: &mut PgConnection,
    ctx: &ReserveContext<'_>,
    reserve: &ItemReserve,
) -> Result<Result<ReservationRequest, Vec<Detail>>, StoreError> {
    let mut wanted: Vec<(Entity, String)> = Vec::new();
    for item in &reserve.items {
        wanted.push((Entity::Product, item.item_code.clone()));
        if let Some(warehouse) = &item.warehouse {
            wanted.push((Entity::Warehouse, warehouse.clone()));
        }
    }
    let mut directory =
        directory::load_directory(conn, ctx.namespace, &wanted, &ctx.branch.branch).await?;
    let codes = directory::candidate_codes(&directory, &wanted, Entity::Product);
    let products = directory::load_products(conn, &mut directory, &codes).await?;
    Ok(ReservationRequest::resolve(
        reserve, &directory, &products, ctx.today,
    ))
}

/// Locks, in id order, the lots the plan may touch: the requested products'
/// lots in the branch and the lots the previous version of the reservation held.
/// Both are found through indexes (an `OR` of the two would scan every lot
/// of the branch), so the cost follows the items, not the branch's size.
async fn lock_lots(
    conn: &mut PgConnection,
    branch: &str,
    request: &ReservationRequest,
    previous: &[(i64, Decimal)],
) -> Result<Vec<LotStock>, StoreError> {
    let keys = request.stock_keys();
    let products: Vec<&str> = keys.iter().map(|(product, _)| product.as_str()).collect();
    let warehouses: Vec<&str> = keys
        .iter()
        .map(|(_, warehouse)| warehouse.as_str())
        .collect();
    let held: Vec<i64> = previous.iter().map(|(id, _)| *id).collect();
    let rows: Vec<LotRow> = sqlx::query_as(
        "SELECT id, product, warehouse, lot, sublot, expires_on, received_on, quantity, reserved
           FROM lots
          WHERE id IN (SELECT unnest($4::bigint[])
                       UNION ALL
                       SELECT l.id
                         FROM unnest($2::text[], $3::text[]) AS k(product, warehouse)
                         JOIN lots l
                           ON l.branch = $1 AND l.product = k.product AND l.warehouse = k.warehouse)
          ORDER BY id
            FOR UPDATE",
    )
    .bind(branch)
    .bind(&products)
    .bind(&warehouses)
    .bind(&held)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(LotStock::from).collect())
}

#[derive(sqlx::FromRow)]
struct LotRow {
    id: i64,
    product: String,
    warehouse: String,
    lot: String,
    sublot: String,
    expires_on: Option<NaiveDate>,
    received_on: Option<NaiveDate>,
    quantity: Decimal,
    reserved: Decimal,
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
            on_hand: row.quantity.normalize(),
            reserved: row.reserved.normalize(),
        }
    }
}

/// Moves each lot's reserved quantity from the previous lines to the new
/// plan; returns the lots whose reserved quantity changed.
async fn apply_deltas(
    conn: &mut PgConnection,
    previous: &[(i64, Decimal)],
    plan: &Plan,
) -> Result<Vec<i64>, StoreError> {
    let mut deltas: Vec<(i64, Decimal)> = plan.reserved_by_lot();
    for (lot_id, quantity) in previous {
        match deltas.iter_mut().find(|(id, _)| id == lot_id) {
            Some((_, delta)) => *delta -= *quantity,
            None => deltas.push((*lot_id, -*quantity)),
        }
    }
    deltas.retain(|(_, delta)| !delta.is_zero());
    adjust_reserved(conn, &deltas).await?;
    Ok(deltas.into_iter().map(|(id, _)| id).collect())
}

/// Adds each delta to its lot's reserved quantity in one statement (deltas of one lot are summed).
pub(crate) async fn adjust_reserved(
    conn: &mut PgConnection,
    deltas: &[(i64, Decimal)],
) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = deltas.iter().map(|(id, _)| *id).collect();
    let amounts: Vec<Decimal> = deltas.iter().map(|(_, delta)| *delta).collect();
    sqlx::query(
        "UPDATE lots SET reserved = lots.reserved + d.delta
           FROM (SELECT id, sum(delta) AS delta
                   FROM unnest($1::bigint[], $2::numeric[]) AS u(id, delta)
                  GROUP BY id) AS d
          WHERE lots.id = d.id",
    )
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_lines(
    conn: &mut PgConnection,
    reservation_id: i64,
    request: &ReservationRequest,
    plan: &Plan,
) -> Result<(), StoreError> {
    let count = plan.lines.len();
    let mut line_no: Vec<i32> = Vec::with_capacity(count);
    let mut item_no: Vec<i32> = Vec::with_capacity(count);
    let mut product: Vec<&str> = Vec::with_capacity(count);
    let mut warehouse: Vec<&str> = Vec::with_capacity(count);
    let mut lot_id: Vec<Option<i64>> = Vec::with_capacity(count);
    let mut lot: Vec<&str> = Vec::with_capacity(count);
    let mut sublot: Vec<&str> = Vec::with_capacity(count);
    let mut quantity: Vec<Decimal> = Vec::with_capacity(count);
    let mut issued_on: Vec<NaiveDate> = Vec::with_capacity(count);
    let mut expires_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(count);
    for (index, line) in plan.lines.iter().enumerate() {
        let item = &request.items[line.item];
        line_no.push(index as i32 + 1);
        item_no.push(item.item_no as i32);
        product.push(&line.product);
        warehouse.push(&line.warehouse);
        lot_id.push(line.lot_id);
        lot.push(&line.lot);
        sublot.push(&line.sublot);
        quantity.push(line.quantity);
        issued_on.push(item.issue_date);
        expires_at.push(item.expires_at);
    }
    sqlx::query(
        "INSERT INTO reservation_lines
            (reservation_id, line_no, item_no, product, warehouse, lot_id, lot, sublot,
             quantity, backorder, issued_on, expires_at)
         SELECT $1, l.line_no, l.item_no, l.product, l.warehouse, l.lot_id, l.lot, l.sublot,
                l.quantity, l.lot_id IS NULL, l.issued_on, l.expires_at
           FROM unnest($2::int[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                       $8::text[], $9::numeric[], $10::date[], $11::timestamptz[])
             AS l(line_no, item_no, product, warehouse, lot_id, lot, sublot, quantity, issued_on, expires_at)",
    )
    .bind(reservation_id)
    .bind(&line_no)
    .bind(&item_no)
    .bind(&product)
    .bind(&warehouse)
    .bind(&lot_id)
    .bind(&lot)
    .bind(&sublot)
    .bind(&quantity)
    .bind(&issued_on)
    .bind(&expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Returns a reservation's lots to stock and marks its lines released;
/// returns the `(product, warehouse)` pairs whose availability changed.
pub(crate) async fn release_lines(
    conn: &mut PgConnection,
    reservation_id: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let held: Vec<(i64, Decimal, String, String)> = sqlx::query_as(
        "SELECT lot_id, quantity, product, warehouse FROM reservation_lines
          WHERE reservation_id = $1 AND lot_id IS NOT NULL AND released_at IS NULL
          ORDER BY lot_id",
    )
    .bind(reservation_id)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = held.iter().map(|(id, ..)| *id).collect();
    sqlx::query("SELECT id FROM lots WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    let deltas: Vec<(i64, Decimal)> = held
        .iter()
        .map(|(id, quantity, ..)| (*id, -*quantity))
        .collect();
    adjust_reserved(conn, &deltas).await?;
    sqlx::query(
        "UPDATE reservation_lines SET released_at = now()
          WHERE reservation_id = $1 AND released_at IS NULL",
    )
    .bind(reservation_id)
    .execute(&mut *conn)
    .await?;
    let mut keys: Vec<(String, String)> = held
        .into_iter()
        .map(|(_, _, product, warehouse)| (product, warehouse))
        .collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

fn entry(reserve: &ItemReserve, company: &str, branch: &str, number: &str) -> InternalIdEntry {
    InternalIdEntry {
        name: "ItemReserve".to_owned(),
        origin: reserve.internal_id.clone(),
        destination: format!("{company}|{branch}|{number}"),
    }
}

impl crate::Store {
    /// Releases the lines of active reservations whose `ReserveExpiration`
    /// passed before `now`, returning their quantities to the lots; a
    /// reservation with nothing left becomes `expired`. Returns the lines released.
    ///
    /// Works in batches under `SKIP LOCKED`, so several workers can sweep at
    /// once and a reservation being changed right now is simply left for the
    /// next pass.
    #[tracing::instrument(skip(self))]
    pub async fn release_expired_reservations(
        &self,
        origin: &ReceiptOrigin,
        now: DateTime<Utc>,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let expired: Vec<ExpiredLine> = sqlx::query_as(
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
        .fetch_all(&mut *tx)
        .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let mut lot_ids: Vec<i64> = expired.iter().filter_map(|line| line.lot_id).collect();
        lot_ids.sort_unstable();
        lot_ids.dedup();
        sqlx::query("SELECT id FROM lots WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&lot_ids)
            .execute(&mut *tx)
            .await?;
        let deltas: Vec<(i64, Decimal)> = expired
            .iter()
            .filter_map(|line| line.lot_id.map(|lot| (lot, -line.quantity)))
            .collect();
        adjust_reserved(&mut tx, &deltas).await?;
        let reservations: Vec<i64> = expired.iter().map(|line| line.reservation_id).collect();
        let lines: Vec<i32> = expired.iter().map(|line| line.line_no).collect();
        sqlx::query(
            "UPDATE reservation_lines SET released_at = $3
               FROM unnest($1::bigint[], $2::int[]) AS e(reservation_id, line_no)
              WHERE reservation_lines.reservation_id = e.reservation_id
                AND reservation_lines.line_no = e.line_no",
        )
        .bind(&reservations)
        .bind(&lines)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE reservations r SET status = 'expired', updated_at = $2
              WHERE r.id = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM reservation_lines l
                                 WHERE l.reservation_id = r.id AND l.released_at IS NULL)",
        )
        .bind(&reservations)
        .bind(now)
        .execute(&mut *tx)
        .await?;
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
            events::stock_levels(&mut tx, origin, company, branch, &keys).await?;
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
    quantity: Decimal,
    company: String,
    branch: String,
    product: String,
    warehouse: String,
}
