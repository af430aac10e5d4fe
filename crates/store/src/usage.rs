//! The usage report (seed 004, the TSS billing API): per company and
//! period, per transaction, the envelopes answered and the attempts they
//! took, split by environment. Counted from the inbox, so it covers the
//! retention window (`retention.window`). On SQLite, the received times
//! compare as text with the bound bounds of the period.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{on_pool, Pool};
use crate::page::{Cursor, Page};
use crate::{Environment, Store, StoreError};

/// Companies per page (seed 004: 100 CNPJs per request).
pub const COMPANIES_PER_PAGE: i64 = 100;

/// Which envelopes a report counts.
#[derive(Debug, Clone)]
pub struct UsageFilter {
    /// Received at or after...
    pub from: DateTime<Utc>,
    /// ... and before.
    pub to: DateTime<Utc>,
    /// `Header.CompanyId` as received.
    pub company: Option<String>,
    /// The company's CNPJ as imported (`companies` section), digits and punctuation as written.
    pub cnpj: Option<String>,
    pub cursor: Option<Cursor>,
}

/// One transaction's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransactionUsage {
    pub transaction: String,
    /// Envelopes answered (ok or error).
    pub envelopes: i64,
    /// Processing attempts they took: one each, plus every wait, failure,
    /// redelivery and operator retry.
    pub attempts: i64,
}

/// One environment's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, ToSchema)]
pub struct EnvironmentUsage {
    pub transactions: Vec<TransactionUsage>,
    pub envelopes: i64,
    pub attempts: i64,
}

/// One company's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CompanyUsage {
    pub company: String,
    pub cnpj: Option<String>,
    pub production: EnvironmentUsage,
    pub homologation: EnvironmentUsage,
}

/// The companies of one page, their counts per environment and transaction.
const USAGE: &str = "WITH page AS (
                 SELECT DISTINCT i.company FROM inbox i LEFT JOIN companies c ON c.code = i.company
                  WHERE i.received_at >= $1 AND i.received_at < $2 AND i.status IN ('ok', 'error')
                    AND ($3::text IS NULL OR i.company = $3) AND ($4::text IS NULL OR c.cnpj = $4)
                    AND ($5::text IS NULL OR i.company > $5)
                  ORDER BY i.company LIMIT $6)
             SELECT i.company, c.cnpj, i.environment, i.transaction, count(*)::bigint,
                    sum(i.earlier_attempts + 1 + coalesce(r.waits + r.failures + r.redeliveries, 0))::bigint
               FROM inbox i
               JOIN page p ON p.company = i.company
               LEFT JOIN companies c ON c.code = i.company
               LEFT JOIN inbox_retries r ON r.uuid = i.uuid
              WHERE i.received_at >= $1 AND i.received_at < $2 AND i.status IN ('ok', 'error')
              GROUP BY 1, 2, 3, 4
              ORDER BY 1, 3, 4";

/// [`USAGE`] in SQLite's terms.
const USAGE_SQLITE: &str = "WITH page AS (
                 SELECT DISTINCT i.company FROM inbox i LEFT JOIN companies c ON c.code = i.company
                  WHERE i.received_at >= $1 AND i.received_at < $2 AND i.status IN ('ok', 'error')
                    AND ($3 IS NULL OR i.company = $3) AND ($4 IS NULL OR c.cnpj = $4)
                    AND ($5 IS NULL OR i.company > $5)
                  ORDER BY i.company LIMIT $6)
             SELECT i.company, c.cnpj, i.environment, i.\"transaction\", count(*),
                    sum(i.earlier_attempts + 1 + coalesce(r.waits + r.failures + r.redeliveries, 0))
               FROM inbox i
               JOIN page p ON p.company = i.company
               LEFT JOIN companies c ON c.code = i.company
               LEFT JOIN inbox_retries r ON r.uuid = i.uuid
              WHERE i.received_at >= $1 AND i.received_at < $2 AND i.status IN ('ok', 'error')
              GROUP BY 1, 2, 3, 4
              ORDER BY 1, 3, 4";

impl Store {
    /// One page of the report: up to [`COMPANIES_PER_PAGE`] companies, by code.
    pub async fn usage(&self, filter: &UsageFilter) -> Result<Page<CompanyUsage>, StoreError> {
        let statement = match &self.pool {
            Pool::Postgres(_) => USAGE,
            Pool::Sqlite(_) => USAGE_SQLITE,
        };
        let rows: Vec<(String, Option<String>, String, String, i64, i64)> = on_pool!(&self.pool, pool => {
            sqlx::query_as(statement)
                    .bind(filter.from)
                    .bind(filter.to)
                    .bind(&filter.company)
                    .bind(&filter.cnpj)
                    .bind(filter.cursor.as_ref().map(|cursor| cursor.key.clone()))
                    .bind(COMPANIES_PER_PAGE + 1)
                    .fetch_all(pool)
                    .await?
        });
        let mut companies: Vec<CompanyUsage> = Vec::new();
        for (company, cnpj, environment, transaction, envelopes, attempts) in rows {
            if companies.last().is_none_or(|last| last.company != company) {
                companies.push(CompanyUsage {
                    company,
                    cnpj,
                    production: EnvironmentUsage::default(),
                    homologation: EnvironmentUsage::default(),
                });
            }
            let Some(usage) = companies.last_mut() else {
                continue;
            };
            let counts = if environment == Environment::Homologation.as_str() {
                &mut usage.homologation
            } else {
                &mut usage.production
            };
            counts.envelopes += envelopes;
            counts.attempts += attempts;
            counts.transactions.push(TransactionUsage {
                transaction,
                envelopes,
                attempts,
            });
        }
        Ok(Page::of(
            companies,
            COMPANIES_PER_PAGE,
            |usage: &CompanyUsage| Cursor {
                at: DateTime::UNIX_EPOCH,
                key: usage.company.clone(),
                id: 0,
            },
        ))
    }
}
