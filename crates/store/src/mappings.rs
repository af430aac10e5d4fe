//! De/para mappings as operators list and edit them one by one (`eai import`
//! loads them in bulk), on either backend.

use chrono::Utc;
use eai_domain::Entity;
use serde::Serialize;
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::db::{on_pool, Conn, Pool};
use crate::page::{Cursor, Page};

/// How every write of a mapping meets an existing one: the new internal code
/// wins, and `written_at` moves only when the code changed (of several
/// external values of ours, reverse de/para sends the newest).
pub(crate) const ON_MAPPING_CONFLICT: &str = "ON CONFLICT (namespace, entity, external)
     DO UPDATE SET internal = EXCLUDED.internal,
         written_at = CASE WHEN mappings.internal = EXCLUDED.internal
                           THEN mappings.written_at ELSE clock_timestamp() END";

/// [`ON_MAPPING_CONFLICT`] in SQLite, whose statements bind the time they
/// write as `written_at`.
pub(crate) const SQLITE_ON_MAPPING_CONFLICT: &str = "ON CONFLICT (namespace, entity, external)
     DO UPDATE SET internal = excluded.internal,
         written_at = CASE WHEN mappings.internal = excluded.internal
                           THEN mappings.written_at ELSE excluded.written_at END";

/// Creates or replaces one mapping; true when it is new (SQLite looks
/// first: it has no `xmax` to tell an insert from an update).
pub(crate) async fn upsert_mapping(
    conn: &mut Conn<'_>,
    namespace: &str,
    entity: &str,
    external: &str,
    internal: &str,
) -> Result<bool, sqlx::Error> {
    match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar(&format!(
            "INSERT INTO mappings (namespace, entity, external, internal) VALUES ($1, $2, $3, $4)
         {ON_MAPPING_CONFLICT}
         RETURNING (xmax = 0)"
        ))
            .bind(namespace)
            .bind(entity)
            .bind(external)
            .bind(internal)
            .fetch_one(&mut **c)
            .await
        }
        Conn::Sqlite(c) => {
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM mappings WHERE namespace = $1 AND entity = $2 AND external = $3",
            )
            .bind(namespace)
            .bind(entity)
            .bind(external)
            .fetch_optional(&mut **c)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO mappings (namespace, entity, external, internal, written_at)
                 VALUES ($1, $2, $3, $4, $5)
                 {SQLITE_ON_MAPPING_CONFLICT}"
            ))
            .bind(namespace)
            .bind(entity)
            .bind(external)
            .bind(internal)
            .bind(Utc::now())
            .execute(&mut **c)
            .await?;
            Ok(existing.is_none())
        }
    }
}
use crate::{Store, StoreError};

/// `(namespace, entity, external) → internal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, ToSchema)]
pub struct Mapping {
    pub namespace: String,
    pub entity: String,
    pub external: String,
    pub internal: String,
}

/// Which mappings a list takes; ordered by namespace, entity, external.
#[derive(Debug, Clone, Default)]
pub struct MappingFilter {
    pub namespace: Option<String>,
    pub entity: Option<Entity>,
    pub external: Option<String>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

/// A mapping's position in the list, as a cursor key.
fn key_of(mapping: &Mapping) -> String {
    serde_json::json!([mapping.namespace, mapping.entity, mapping.external]).to_string()
}

/// The position a cursor of this list names; `None` for a cursor of another list.
pub fn position(cursor: &Cursor) -> Option<(String, String, String)> {
    serde_json::from_str(&cursor.key).ok()
}

/// One page of mappings, after the cursor's position.
const MAPPINGS: &str = "SELECT namespace, entity, external, internal FROM mappings
              WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR entity = $2)
                AND ($3::text IS NULL OR external = $3)
                AND ($4::text IS NULL OR (namespace, entity, external) > ($4, $5, $6))
              ORDER BY namespace, entity, external
              LIMIT $7";

/// [`MAPPINGS`] in SQLite's terms.
const MAPPINGS_SQLITE: &str = "SELECT namespace, entity, external, internal FROM mappings
                      WHERE ($1 IS NULL OR namespace = $1) AND ($2 IS NULL OR entity = $2)
                        AND ($3 IS NULL OR external = $3)
                        AND ($4 IS NULL OR (namespace, entity, external) > ($4, $5, $6))
                      ORDER BY namespace, entity, external
                      LIMIT $7";

impl Store {
    /// Mappings, one page.
    pub async fn mappings(&self, filter: &MappingFilter) -> Result<Page<Mapping>, StoreError> {
        let after = filter.cursor.as_ref().and_then(position);
        let statement = match &self.pool {
            Pool::Postgres(_) => MAPPINGS,
            Pool::Sqlite(_) => MAPPINGS_SQLITE,
        };
        let rows: Vec<Mapping> = on_pool!(&self.pool, pool => {
            sqlx::query_as(statement)
                    .bind(&filter.namespace)
                    .bind(filter.entity.map(Entity::as_str))
                    .bind(&filter.external)
                    .bind(after.as_ref().map(|key| key.0.clone()))
                    .bind(after.as_ref().map(|key| key.1.clone()))
                    .bind(after.as_ref().map(|key| key.2.clone()))
                    .bind(filter.limit + 1)
                    .fetch_all(pool)
                    .await?
        });
        Ok(Page::of(rows, filter.limit, |mapping: &Mapping| Cursor {
            at: chrono::DateTime::UNIX_EPOCH,
            key: key_of(mapping),
            id: 0,
        }))
    }

    /// Creates or replaces a mapping; true when it is new.
    pub async fn set_mapping(
        &self,
        namespace: &str,
        entity: Entity,
        external: &str,
        internal: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let new = upsert_mapping(
            &mut tx.conn(),
            namespace,
            entity.as_str(),
            external,
            internal,
        )
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Deletes a mapping; false when there was none.
    pub async fn delete_mapping(
        &self,
        namespace: &str,
        entity: Entity,
        external: &str,
    ) -> Result<bool, StoreError> {
        let deleted = on_pool!(&self.pool, pool => {
            sqlx::query(
                "DELETE FROM mappings WHERE namespace = $1 AND entity = $2 AND external = $3",
            )
            .bind(namespace)
            .bind(entity.as_str())
            .bind(external)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(deleted == 1)
    }
}
