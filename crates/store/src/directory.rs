//! Reads the de/para and master rows one message refers to, in a handful of
//! set-based queries, into the pure [`Directory`] the domain resolves with.

use std::collections::HashMap;

use chrono::NaiveDate;
use eai_domain::reservation::ProductInfo;
use eai_domain::{Directory, Entity};
use sqlx::PgConnection;

use crate::StoreError;

/// A branch and the parameters the rules read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Branch {
    pub company: String,
    pub branch: String,
    pub closed_until: Option<NaiveDate>,
    pub released_payment_methods: Vec<String>,
    pub reserve_without_stock: bool,
}

/// Reads, in one statement, the mappings of `namespace` for the given
/// `(entity, external)` pairs and the warehouses of `branch` (as internal
/// Warehouse codes).
pub async fn load_directory(
    conn: &mut PgConnection,
    namespace: &str,
    wanted: &[(Entity, String)],
    branch: &str,
) -> Result<Directory, StoreError> {
    let entities: Vec<&str> = wanted.iter().map(|(entity, _)| entity.as_str()).collect();
    let externals: Vec<&str> = wanted
        .iter()
        .map(|(_, external)| external.as_str())
        .collect();
    let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT m.entity, m.external, m.internal
           FROM mappings m
           JOIN unnest($2::text[], $3::text[]) AS w(entity, external)
             ON m.entity = w.entity AND m.external = w.external
          WHERE m.namespace = $1
         UNION ALL
         SELECT 'Warehouse', NULL, code FROM warehouses WHERE branch = $4",
    )
    .bind(namespace)
    .bind(&entities)
    .bind(&externals)
    .bind(branch)
    .fetch_all(&mut *conn)
    .await?;
    let mut directory = Directory::default();
    for (entity, external, internal) in rows {
        match (Entity::parse(&entity), external) {
            (Some(entity), Some(external)) => directory.add_mapping(entity, &external, &internal),
            (Some(entity), None) => directory.add_internal(entity, &internal),
            (None, _) => {}
        }
    }
    Ok(directory)
}

/// The codes to look `entity`'s master rows up by: each wanted external
/// code and what the directory maps it to (the domain decides which wins).
pub fn candidate_codes(
    directory: &Directory,
    wanted: &[(Entity, String)],
    entity: Entity,
) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for (_, external) in wanted.iter().filter(|(kind, _)| *kind == entity) {
        codes.push(external.clone());
        if let Some(internal) = directory.resolve(entity, external) {
            codes.push(internal.to_owned());
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

/// The internal company an envelope's `CompanyId` names (de/para, else
/// itself) and its branch `branch`, if it has one — in one statement: the
/// Company mapping and the branch rows of both candidates are read, the
/// domain's [`Directory`] picks.
pub async fn locate(
    conn: &mut PgConnection,
    namespace: &str,
    company: &str,
    branch: &str,
) -> Result<(String, Option<Branch>), StoreError> {
    let rows: Vec<LocatedRow> = sqlx::query_as(
        "SELECT m.internal AS mapped, b.company, b.branch, b.closed_until,
                b.released_payment_methods, b.reserve_without_stock
           FROM (SELECT (SELECT internal FROM mappings
                          WHERE namespace = $1 AND entity = $4 AND external = $2) AS internal) m
           LEFT JOIN branches b ON b.branch = $3 AND b.company IN ($2, m.internal)",
    )
    .bind(namespace)
    .bind(company)
    .bind(branch)
    .bind(Entity::Company.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut directory = Directory::default();
    directory.add_internal(Entity::Company, company);
    if let Some(mapped) = rows.first().and_then(|row| row.mapped.as_deref()) {
        directory.add_mapping(Entity::Company, company, mapped);
    }
    let resolved = directory
        .resolve(Entity::Company, company)
        .unwrap_or(company)
        .to_owned();
    let found = rows.into_iter().find_map(|row| {
        let company = row.company?;
        (company == resolved).then(|| Branch {
            company,
            branch: row.branch.unwrap_or_default(),
            closed_until: row.closed_until,
            released_payment_methods: row.released_payment_methods.unwrap_or_default(),
            reserve_without_stock: row.reserve_without_stock.unwrap_or_default(),
        })
    });
    Ok((resolved, found))
}

#[derive(sqlx::FromRow)]
struct LocatedRow {
    mapped: Option<String>,
    company: Option<String>,
    branch: Option<String>,
    closed_until: Option<NaiveDate>,
    released_payment_methods: Option<Vec<String>>,
    reserve_without_stock: Option<bool>,
}

/// Loads the products whose code is any of `codes`, registering them as internal Product codes.
pub async fn load_products(
    conn: &mut PgConnection,
    directory: &mut Directory,
    codes: &[String],
) -> Result<HashMap<String, ProductInfo>, StoreError> {
    let rows: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT code, blocked, default_warehouse FROM products WHERE code = ANY($1)",
    )
    .bind(codes)
    .fetch_all(&mut *conn)
    .await?;
    let mut products = HashMap::with_capacity(rows.len());
    for (code, blocked, default_warehouse) in rows {
        directory.add_internal(Entity::Product, &code);
        products.insert(
            code.clone(),
            ProductInfo {
                code,
                blocked,
                default_warehouse,
            },
        );
    }
    Ok(products)
}

/// Records (or moves) the de/para of a document the worker integrated.
pub async fn record_mapping(
    conn: &mut PgConnection,
    namespace: &str,
    entity: Entity,
    external: &str,
    internal: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mappings (namespace, entity, external, internal) VALUES ($1, $2, $3, $4)
         ON CONFLICT (namespace, entity, external) DO UPDATE SET internal = EXCLUDED.internal",
    )
    .bind(namespace)
    .bind(entity.as_str())
    .bind(external)
    .bind(internal)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Serialises the transactions about one document (a reservation, a sale, a
/// document code) with a transaction-scoped advisory lock on `key`.
pub async fn lock_document(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
