//! RetailSales against the database: read what the sale names, let the
//! domain judge it, and write sale, items with their lots, payments,
//! receivables, the reservations it used and its de/para — or nothing.
//!
//! Advisory locks on the sale's InternalId and DocumentCode serialise two
//! messages about the same sale; the reservations it uses are locked in id
//! order before they are read, so a concurrent ItemReserve change waits and
//! then finds them used.

use std::collections::HashMap;

use eai_domain::sale::{
    judge, FinancialManager, ItemLot, ReservationInfo, ReservedLot, SaleMasterData, SalePlan,
    SaleProduct,
};
use eai_domain::{Directory, Entity};
use eai_protocol::{Code, Detail, InternalIdEntry, ReceiptOrigin, RetailSale};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::directory::{self, Branch};
use crate::events;
use crate::StoreError;

/// Where a sale is being integrated.
#[derive(Debug, Clone)]
pub struct SaleContext<'a> {
    /// Who we are in the events we emit.
    pub origin: &'a ReceiptOrigin,
    pub namespace: &'a str,
    pub branch: &'a Branch,
    pub tolerance: Decimal,
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

/// Judges and, when it passes, persists one sale inside the caller's transaction.
#[tracing::instrument(skip_all, fields(internal_id = sale.internal_id.as_deref().unwrap_or("")))]
pub async fn integrate(
    conn: &mut PgConnection,
    ctx: &SaleContext<'_>,
    sale: &RetailSale,
) -> Result<SaleOutcome, StoreError> {
    let Some(internal_id) = sale.internal_id.clone() else {
        return Ok(SaleOutcome::Rejected(vec![Detail::invalid_field(
            "$.Content.InternalId",
            "the sale's InternalId",
            &serde_json::Value::Null,
        )]));
    };
    let branch = ctx.branch;
    let mut keys = vec![format!("RetailSales|{}|{internal_id}", ctx.namespace)];
    if let Some(document) = &sale.document_code {
        keys.push(format!(
            "Document|{}|{}|{document}",
            branch.company, branch.branch
        ));
    }
    keys.sort();
    for key in &keys {
        directory::lock_document(conn, key).await?;
    }
    let integrated: Option<(String,)> =
        sqlx::query_as("SELECT number FROM sales WHERE namespace = $1 AND internal_id = $2")
            .bind(ctx.namespace)
            .bind(&internal_id)
            .fetch_optional(&mut *conn)
            .await?;
    let master = load(conn, ctx, sale).await?;
    let verdict = judge(sale, &master);
    let mut details = verdict.errors;
    if let Some((number,)) = &integrated {
        details.push(Detail::error(
            Code::DocumentDuplicate,
            format!("$.Content.InternalId: sale '{internal_id}' was already integrated as number {number}"),
        ));
    }
    let warnings = verdict.warnings;
    if verdict.may_wait && integrated.is_none() {
        details.extend(warnings);
        return Ok(SaleOutcome::Waiting(verdict.missing_reservations, details));
    }
    let plan = match verdict.plan {
        Some(plan) if details.is_empty() => plan,
        _ => {
            details.extend(warnings);
            return Ok(SaleOutcome::Rejected(details));
        }
    };
    let (sale_id, number) = persist(conn, ctx, sale, &internal_id, &plan).await?;
    events::traceability(conn, ctx.origin, sale_id).await?;
    Ok(SaleOutcome::Integrated(
        vec![InternalIdEntry {
            name: "RetailSales".to_owned(),
            origin: internal_id,
            destination: format!("{}|{}|{number}", branch.company, branch.branch),
        }],
        warnings,
    ))
}

/// Reads every master row, mapping and reservation the sale can name.
async fn load(
    conn: &mut PgConnection,
    ctx: &SaleContext<'_>,
    sale: &RetailSale,
) -> Result<SaleMasterData, StoreError> {
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
    let mut directory =
        directory::load_directory(conn, ctx.namespace, &wanted, &ctx.branch.branch).await?;
    let codes = |entity: Entity| directory::candidate_codes(&directory, &wanted, entity);
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT 'product', to_jsonb(r) FROM (SELECT code, blocked, tes, default_warehouse
                                               FROM products WHERE code = ANY($1)) r
         UNION ALL
         SELECT 'customer', to_jsonb(r) FROM (SELECT code, blocked FROM customers
                                               WHERE code = ANY($2)) r
         UNION ALL
         SELECT 'station', to_jsonb(r) FROM (SELECT code, series FROM stations
                                              WHERE branch = $3 AND code = ANY($4)) r
         UNION ALL
         SELECT 'operator', to_jsonb(r) FROM (SELECT code FROM operators WHERE code = ANY($5)) r
         UNION ALL
         SELECT 'carrier', to_jsonb(r) FROM (SELECT code FROM carriers WHERE code = ANY($6)) r
         UNION ALL
         SELECT 'payment_method', to_jsonb(r)
           FROM (SELECT code, requires_financial_manager FROM payment_methods
                  WHERE code = ANY($7)) r
         UNION ALL
         SELECT 'financial_manager', to_jsonb(r)
           FROM (SELECT code, days, own_financing FROM financial_managers
                  WHERE code = ANY($8)) r
         UNION ALL
         SELECT 'operation', to_jsonb(r) FROM (SELECT operation AS code, tes FROM operations
                                                WHERE operation = ANY($9)) r
         UNION ALL
         SELECT 'document_used', to_jsonb(r)
           FROM (SELECT document_code AS code FROM sales
                  WHERE company = $10 AND branch = $3 AND document_code = $11 LIMIT 1) r",
    )
    .bind(codes(Entity::Product))
    .bind(codes(Entity::Customer))
    .bind(&ctx.branch.branch)
    .bind(codes(Entity::Station))
    .bind(codes(Entity::Operator))
    .bind(codes(Entity::Carrier))
    .bind(codes(Entity::PaymentMethod))
    .bind(codes(Entity::FinancialManager))
    .bind(codes(Entity::Operation))
    .bind(&ctx.branch.company)
    .bind(&sale.document_code)
    .fetch_all(&mut *conn)
    .await?;
    let mut master = MasterRows::default();
    for (kind, row) in rows {
        master.add(&mut directory, &kind, row)?;
    }
    let MasterRows {
        products,
        customers,
        stations,
        payment_methods,
        financial_managers,
        operations,
        document_used,
    } = master;
    Ok(SaleMasterData {
        directory,
        closed_until: ctx.branch.closed_until,
        released_payment_methods: ctx.branch.released_payment_methods.clone(),
        products,
        customers,
        stations,
        payment_methods,
        financial_managers,
        operations,
        reservations: reservations(conn, ctx.namespace, sale).await?,
        document_used,
        tolerance: ctx.tolerance,
    })
}

/// The master rows a sale names, as the one statement of [`load`] returns
/// them: a kind and the row as JSON.
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

#[derive(serde::Deserialize)]
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
}

impl MasterRows {
    /// Files one row, registering its code as an internal code of its entity.
    fn add(
        &mut self,
        directory: &mut Directory,
        kind: &str,
        row: serde_json::Value,
    ) -> Result<(), StoreError> {
        let row: CodeRow = serde_json::from_value(row)
            .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))?;
        let code = row.code.clone();
        let entity = match kind {
            "product" => {
                self.products.insert(
                    code.clone(),
                    SaleProduct {
                        code: row.code,
                        blocked: row.blocked,
                        tes: row.tes,
                        default_warehouse: row.default_warehouse,
                    },
                );
                Entity::Product
            }
            "customer" => {
                self.customers.insert(code.clone(), row.blocked);
                Entity::Customer
            }
            "station" => {
                self.stations.insert(code.clone(), row.series);
                Entity::Station
            }
            "operator" => Entity::Operator,
            "carrier" => Entity::Carrier,
            "payment_method" => {
                self.payment_methods
                    .insert(code.clone(), row.requires_financial_manager);
                Entity::PaymentMethod
            }
            "financial_manager" => {
                self.financial_managers.insert(
                    code.clone(),
                    FinancialManager {
                        code: row.code,
                        days: row.days,
                        own_financing: row.own_financing,
                    },
                );
                Entity::FinancialManager
            }
            "operation" => {
                self.operations
                    .insert(code.clone(), row.tes.unwrap_or_default());
                Entity::Operation
            }
            _ => {
                self.document_used = true;
                return Ok(());
            }
        };
        directory.add_internal(entity, &code);
        Ok(())
    }
}

/// The reservations the sale's items name, locked in id order, with their open lines.
async fn reservations(
    conn: &mut PgConnection,
    namespace: &str,
    sale: &RetailSale,
) -> Result<HashMap<String, ReservationInfo>, StoreError> {
    let mut named: Vec<&str> = sale
        .items
        .iter()
        .filter_map(|item| item.reserve_internal_id.as_deref())
        .collect();
    named.sort_unstable();
    named.dedup();
    if named.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT internal_id, id, number, status FROM reservations
          WHERE namespace = $1 AND internal_id = ANY($2)
          ORDER BY id FOR UPDATE",
    )
    .bind(namespace)
    .bind(&named)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|(_, id, _, _)| *id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT reservation_id, product, warehouse, lot_id, lot, sublot, quantity
           FROM reservation_lines
          WHERE reservation_id = ANY($1) AND released_at IS NULL
          ORDER BY reservation_id, line_no",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(internal_id, id, number, status)| {
            let lines = lines
                .iter()
                .filter(|line| line.reservation_id == id)
                .map(|line| ReservedLot {
                    product: line.product.clone(),
                    warehouse: line.warehouse.clone(),
                    lot_id: line.lot_id,
                    lot: line.lot.clone(),
                    sublot: line.sublot.clone(),
                    quantity: line.quantity.normalize(),
                })
                .collect();
            (
                internal_id,
                ReservationInfo {
                    id,
                    number,
                    status,
                    lines,
                },
            )
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct LineRow {
    reservation_id: i64,
    product: String,
    warehouse: String,
    lot_id: Option<i64>,
    lot: String,
    sublot: String,
    quantity: Decimal,
}

/// Writes the items and the lots they take with one statement each, so a
/// sale of hundreds of items costs two round trips, not hundreds.
async fn insert_items(
    conn: &mut PgConnection,
    sale_id: i64,
    plan: &SalePlan,
) -> Result<(), StoreError> {
    let items = &plan.items;
    let item_no: Vec<i32> = items.iter().map(|item| item.item_no as i32).collect();
    let product: Vec<&str> = items.iter().map(|item| item.product.as_str()).collect();
    let warehouse: Vec<Option<&str>> = items.iter().map(|item| item.warehouse.as_deref()).collect();
    let quantity: Vec<Decimal> = items.iter().map(|item| item.quantity).collect();
    let unit_price: Vec<Decimal> = items.iter().map(|item| item.unit_price).collect();
    let table_price: Vec<Decimal> = items.iter().map(|item| item.table_price).collect();
    let item_price: Vec<Decimal> = items.iter().map(|item| item.item_price).collect();
    let discount: Vec<Decimal> = items.iter().map(|item| item.discount_amount).collect();
    let freight: Vec<Decimal> = items.iter().map(|item| item.freight_prorated).collect();
    let increase: Vec<Decimal> = items.iter().map(|item| item.increase_prorated).collect();
    let operation: Vec<&str> = items
        .iter()
        .map(|item| item.operation_code.as_str())
        .collect();
    let tes: Vec<&str> = items.iter().map(|item| item.tes.as_str()).collect();
    let reservation: Vec<Option<i64>> = items.iter().map(|item| item.reservation_id).collect();
    sqlx::query(
        "INSERT INTO sale_items
            (sale_id, item_no, product, warehouse, quantity, unit_price, table_price, item_price,
             discount_amount, freight_prorated, increase_prorated, operation_code, tes, reservation_id)
         SELECT $1, i.* FROM unnest($2::int[], $3::text[], $4::text[], $5::numeric[], $6::numeric[],
                                    $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[],
                                    $11::numeric[], $12::text[], $13::text[], $14::bigint[]) AS i",
    )
    .bind(sale_id)
    .bind(&item_no)
    .bind(&product)
    .bind(&warehouse)
    .bind(&quantity)
    .bind(&unit_price)
    .bind(&table_price)
    .bind(&item_price)
    .bind(&discount)
    .bind(&freight)
    .bind(&increase)
    .bind(&operation)
    .bind(&tes)
    .bind(&reservation)
    .execute(&mut *conn)
    .await?;
    let lots: Vec<(i32, i32, &ItemLot)> = items
        .iter()
        .flat_map(|item| {
            item.lots
                .iter()
                .enumerate()
                .map(|(seq, lot)| (item.item_no as i32, seq as i32 + 1, lot))
        })
        .collect();
    if lots.is_empty() {
        return Ok(());
    }
    let lot_item: Vec<i32> = lots.iter().map(|(item_no, ..)| *item_no).collect();
    let lot_seq: Vec<i32> = lots.iter().map(|(_, seq, _)| *seq).collect();
    let lot_id: Vec<Option<i64>> = lots.iter().map(|(.., lot)| lot.lot_id).collect();
    let lot_code: Vec<&str> = lots.iter().map(|(.., lot)| lot.lot.as_str()).collect();
    let sublot: Vec<&str> = lots.iter().map(|(.., lot)| lot.sublot.as_str()).collect();
    let lot_quantity: Vec<Decimal> = lots.iter().map(|(.., lot)| lot.quantity).collect();
    sqlx::query(
        "INSERT INTO sale_item_lots (sale_id, item_no, seq, lot_id, lot, sublot, quantity)
         SELECT $1, l.* FROM unnest($2::int[], $3::int[], $4::bigint[], $5::text[], $6::text[],
                                    $7::numeric[]) AS l",
    )
    .bind(sale_id)
    .bind(&lot_item)
    .bind(&lot_seq)
    .bind(&lot_id)
    .bind(&lot_code)
    .bind(&sublot)
    .bind(&lot_quantity)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the judged sale; returns its id and number.
async fn persist(
    conn: &mut PgConnection,
    ctx: &SaleContext<'_>,
    sale: &RetailSale,
    internal_id: &str,
    plan: &SalePlan,
) -> Result<(i64, String), StoreError> {
    let branch = ctx.branch;
    let (sale_id, number): (i64, String) = sqlx::query_as(
        "INSERT INTO sales
            (company, branch, number, namespace, internal_id, document_code, ecommerce_order,
             issue_date, customer, station, series, operator, carrier, sale_type,
             total_price, net_price, gross_price, commodity_price, discount_value,
             freight_value, increase_value, status)
         VALUES ($1, $2, (SELECT lpad(n::text, greatest(6, length(n::text)), '0')
                            FROM nextval('sale_numbers') AS n),
                 $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
         RETURNING id, number",
    )
    .bind(&branch.company)
    .bind(&branch.branch)
    .bind(ctx.namespace)
    .bind(internal_id)
    .bind(&sale.document_code)
    .bind(&sale.ecommerce_order)
    .bind(plan.issue_date)
    .bind(&plan.customer)
    .bind(&plan.station)
    .bind(&plan.series)
    .bind(&plan.operator)
    .bind(&plan.carrier)
    .bind(&sale.sale_type)
    .bind(sale.total_price.unwrap_or_default())
    .bind(sale.net_price.unwrap_or_default())
    .bind(sale.gross_price.unwrap_or_default())
    .bind(sale.commodity_price)
    .bind(sale.discount_value)
    .bind(sale.freight_value)
    .bind(sale.increase_value)
    .bind(plan.status.as_str())
    .fetch_one(&mut *conn)
    .await?;
    insert_items(conn, sale_id, plan).await?;
    for payment in &plan.payments {
        sqlx::query(
            "INSERT INTO sale_payments
                (sale_id, payment_no, method, financial_manager, value, paid_on, serial_number, instalment)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(sale_id)
        .bind(payment.payment_no as i32)
        .bind(&payment.method)
        .bind(&payment.financial_manager)
        .bind(payment.value)
        .bind(payment.date)
        .bind(&payment.serial_number)
        .bind(&payment.instalment)
        .execute(&mut *conn)
        .await?;
    }
    for receivable in &plan.receivables {
        sqlx::query(
            "INSERT INTO receivables
                (sale_id, payment_no, prefix, number, debtor_kind, debtor, amount, due_date)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(sale_id)
        .bind(receivable.payment_no as i32)
        .bind(&plan.series)
        .bind(&number)
        .bind(receivable.debtor_kind.as_str())
        .bind(&receivable.debtor)
        .bind(receivable.amount)
        .bind(receivable.due_date)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE reservations SET status = 'used', sale_id = $2, updated_at = now() WHERE id = ANY($1)",
    )
    .bind(&plan.reservations_used)
    .bind(sale_id)
    .execute(&mut *conn)
    .await?;
    directory::record_mapping(
        conn,
        ctx.namespace,
        Entity::RetailSales,
        internal_id,
        &format!("{}|{}|{number}", branch.company, branch.branch),
    )
    .await?;
    Ok((sale_id, number))
}
