//! The advisory locks a transaction takes before it reads what it will
//! change: documents (two messages about one reservation, sale or document
//! code go one after the other) and stock (two reservations planning on the
//! same free quantity go one after the other).
//!
//! A transaction takes all of them in one statement, in one global order
//! (by the lock's hash), so transactions locking overlapping sets queue up
//! instead of deadlocking.
//!
//! Stock is locked by (branch, product, warehouse), exclusively, under its
//! branch's lock taken shared. PostgreSQL's lock table is shared by every
//! session and bounded (`max_locks_per_transaction` × connections), so a
//! transaction with more than [`MAX_STOCK_KEYS`] keys (a reservation of
//! thousands of items) locks each branch exclusively instead: a handful of
//! locks, and every other planner of that branch waits for it.
//!
//! # Layout
//!
//! - [`Lock`]: one lock and its mode.
//! - [`stock_locks`]: the locks planning on some stock takes.
//! - [`lock_keys`], [`lock_document`]: taking them.

use std::collections::{BTreeMap, BTreeSet};

use crate::db::Conn;
use crate::StoreError;

/// The most (branch, product, warehouse) keys one transaction locks one by
/// one; above it, it locks their branches.
pub const MAX_STOCK_KEYS: usize = 256;

/// One advisory lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    key: String,
    shared: bool,
}

impl Lock {
    /// A document (`ItemReserve|namespace|InternalId`, …): one transaction
    /// at a time.
    pub fn document(key: String) -> Lock {
        Lock { key, shared: false }
    }
}

/// The locks that entitle a transaction to plan on the free quantity of
/// each (branch, product, warehouse) in `keys`.
pub fn stock_locks<'k>(keys: impl IntoIterator<Item = (&'k str, &'k str, &'k str)>) -> Vec<Lock> {
    let mut by_branch: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for (branch, product, warehouse) in keys {
        by_branch
            .entry(branch)
            .or_default()
            .insert((product, warehouse));
    }
    let count: usize = by_branch.values().map(BTreeSet::len).sum();
    let whole_branches = count > MAX_STOCK_KEYS;
    let mut locks = Vec::new();
    for (branch, stock) in by_branch {
        locks.push(Lock {
            key: format!("Stock|{branch}"),
            shared: !whole_branches,
        });
        if !whole_branches {
            locks.extend(stock.into_iter().map(|(product, warehouse)| Lock {
                key: format!("Stock|{branch}|{product}|{warehouse}"),
                shared: false,
            }));
        }
    }
    locks
}

/// Serialises the transactions about one document (a reservation, a sale, a
/// document code).
pub async fn lock_document(conn: &mut Conn<'_>, key: &str) -> Result<(), StoreError> {
    lock_keys(conn, &[Lock::document(key.to_owned())]).await
}

/// Takes `locks` in one statement, in the global order (see the module
/// documentation); a key asked for both shared and exclusive is taken
/// exclusive.
pub async fn lock_keys(conn: &mut Conn<'_>, locks: &[Lock]) -> Result<(), StoreError> {
    // An SQLite transaction holds the database's only write lock from its
    // start: nothing else can change a document or stock meanwhile.
    let Conn::Postgres(conn) = conn else {
        return Ok(());
    };
    let keys: Vec<&str> = locks.iter().map(|lock| lock.key.as_str()).collect();
    let shared: Vec<bool> = locks.iter().map(|lock| lock.shared).collect();
    sqlx::query(
        "SELECT CASE WHEN k.shared THEN pg_advisory_xact_lock_shared(k.hash)::text
                     ELSE pg_advisory_xact_lock(k.hash)::text END
           FROM (SELECT hashtextextended(u.key, 0) AS hash, bool_and(u.shared) AS shared
                   FROM unnest($1::text[], $2::bool[]) AS u(key, shared)
                  GROUP BY 1
                  ORDER BY 1 OFFSET 0) AS k",
    )
    .bind(&keys)
    .bind(&shared)
    .execute(&mut **conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(count: usize) -> Vec<(String, String)> {
        (0..count)
            .map(|n| (format!("P{n:05}"), "01".to_owned()))
            .collect()
    }

    #[test]
    fn stock_is_locked_key_by_key_under_its_branch_shared() {
        let stock = keys(3);
        let locks = stock_locks(stock.iter().map(|(p, w)| ("B1", p.as_str(), w.as_str())));
        assert_eq!(locks.len(), 4);
        assert_eq!(
            locks[0],
            Lock {
                key: "Stock|B1".into(),
                shared: true
            }
        );
        assert!(locks[1..].iter().all(|lock| !lock.shared));
        assert_eq!(locks[1].key, "Stock|B1|P00000|01");
    }

    #[test]
    fn the_same_stock_twice_is_one_lock() {
        let locks = stock_locks([("B1", "P1", "01"), ("B1", "P1", "01")]);
        assert_eq!(locks.len(), 2);
    }

    #[test]
    fn more_keys_than_the_limit_lock_their_branches_whole() {
        let stock = keys(MAX_STOCK_KEYS + 1);
        let locks = stock_locks(
            stock
                .iter()
                .map(|(p, w)| ("B1", p.as_str(), w.as_str()))
                .chain([("B2", "P1", "01")]),
        );
        assert_eq!(
            locks,
            vec![
                Lock {
                    key: "Stock|B1".into(),
                    shared: false
                },
                Lock {
                    key: "Stock|B2".into(),
                    shared: false
                },
            ]
        );
    }
}
