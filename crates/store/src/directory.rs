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

/// Adds the mappings of `namespace` for the given `(entity, external)` pairs.
pub async fn load_mappings(
    conn: &mut PgConnection,
    directory: &mut Directory,
    namespace: &str,
    wanted: &[(Entity, String)],
) -> Result<(), StoreError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let entities: Vec<&str> = wanted.iter().map(|(entity, _)| entity.as_str()).collect();
    let externals: Vec<&str> = wanted
        .iter()
        .map(|(_, external)| external.as_str())
        .collect();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.entity, m.external, m.internal
           FROM mappings m
           JOIN unnest($2::text[], $3::text[]) AS w(entity, external)
             ON m.entity = w.entity AND m.external = w.external
          WHERE m.namespace = $1",
    )
    .bind(namespace)
    .bind(&entities)
    .bind(&externals)
    .fetch_all(&mut *conn)
    .await?;
    for (entity, external, internal) in rows {
        if let Some(entity) = Entity::parse(&entity) {
            directory.add_mapping(entity, &external, &internal);
        }
    }
    Ok(())
}

/// The internal company for an envelope's `CompanyId` (de/para, else itself).
pub async fn resolve_company(
    conn: &mut PgConnection,
    namespace: &str,
    external: &str,
) -> Result<String, StoreError> {
    let mut directory = Directory::default();
    load_mappings(
        conn,
        &mut directory,
        namespace,
        &[(Entity::Company, external.to_owned())],
    )
    .await?;
    directory.add_internal(Entity::Company, external);
    Ok(directory
        .resolve(Entity::Company, external)
        .unwrap_or(external)
        .to_owned())
}

/// The branch row, if the company has that branch.
pub async fn branch(
    conn: &mut PgConnection,
    company: &str,
    branch: &str,
) -> Result<Option<Branch>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT company, branch, closed_until, released_payment_methods, reserve_without_stock
           FROM branches WHERE company = $1 AND branch = $2",
    )
    .bind(company)
    .bind(branch)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Registers the branch's warehouses as internal Warehouse codes.
pub async fn load_warehouses(
    conn: &mut PgConnection,
    directory: &mut Directory,
    branch: &str,
) -> Result<(), StoreError> {
    let codes: Vec<(String,)> = sqlx::query_as("SELECT code FROM warehouses WHERE branch = $1")
        .bind(branch)
        .fetch_all(&mut *conn)
        .await?;
    for (code,) in codes {
        directory.add_internal(Entity::Warehouse, &code);
    }
    Ok(())
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
