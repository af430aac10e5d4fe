//! Master data kept between transactions: the branches, de/para, warehouses
//! and products a batch resolves its envelopes with, read from the database
//! once and used again for as long as the database's master-data version
//! stays the one they were read at.
//!
//! Every transaction that changes those rows moves the version
//! (`master_data_version`, by triggers: PostgreSQL's migration 0018,
//! SQLite's 0004), whoever makes the change: `eai import`, the API, another
//! worker of the fleet, an `UPDATE` typed in `psql`. A message transaction
//! reads the version in its first statement (the inbox look-up,
//! [`crate::receive::look_up_all`]) and uses what is kept only if it was
//! kept at that version; what it reads from the database it keeps at that
//! version. So it sees the master data as it stood when it began, or later,
//! as its own reads from the database would.
//!
//! # Layout
//!
//! - [`Masters`]: what is kept, shared by a store's clones.
//! - [`Rows`]: the rows kept and their version, one map per kind of row.
//! - [`Kept`]: what one transaction may use, at the version it read.
//! - [`Shelf`]: one kind of row kept, by its key.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use eai_domain::reservation::ProductInfo;
use eai_domain::Entity;

use crate::directory::Branch;

/// More rows kept than this and they are all dropped, to be read again as
/// needed: the worker's memory does not grow with the master data of every
/// branch it ever served.
const MOST_KEPT: usize = 100_000;

/// The master data a store's transactions have read, at one version;
/// shared by the store's clones (a receiver's lanes and its deliveries).
#[derive(Default)]
pub struct Masters {
    rows: Mutex<Rows>,
}

impl std::fmt::Debug for Masters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows = self.rows();
        f.debug_struct("Masters")
            .field("version", &rows.version)
            .field("rows", &rows.len())
            .finish()
    }
}

/// The rows kept and the version they were read at.
#[derive(Debug, Default)]
pub struct Rows {
    version: i64,
    /// `(namespace, company, branch)`: the internal company and its branch, if any.
    located: HashMap<(String, String, String), (String, Option<Branch>)>,
    /// `(namespace, entity, external)`: the internal code, if mapped.
    mapped: HashMap<(String, Entity, String), Option<String>>,
    /// A branch's warehouses (internal codes).
    warehouses: HashMap<String, Vec<String>>,
    /// A product by its code, if there is one.
    products: HashMap<String, Option<ProductInfo>>,
}

/// One kind of row kept: picks its map out of the rows.
pub type Shelf<K, V> = fn(&mut Rows) -> &mut HashMap<K, V>;

impl Rows {
    pub fn located(&mut self) -> &mut HashMap<(String, String, String), (String, Option<Branch>)> {
        &mut self.located
    }

    pub fn mapped(&mut self) -> &mut HashMap<(String, Entity, String), Option<String>> {
        &mut self.mapped
    }

    pub fn warehouses(&mut self) -> &mut HashMap<String, Vec<String>> {
        &mut self.warehouses
    }

    pub fn products(&mut self) -> &mut HashMap<String, Option<ProductInfo>> {
        &mut self.products
    }

    fn len(&self) -> usize {
        self.located.len() + self.mapped.len() + self.warehouses.len() + self.products.len()
    }

    fn at(version: i64) -> Rows {
        Rows {
            version,
            ..Rows::default()
        }
    }
}

impl Masters {
    /// What a transaction that read `version` may use (none when the
    /// database had no version to read).
    pub(crate) fn at(&self, version: Option<i64>) -> Kept<'_> {
        Kept {
            masters: self,
            version,
        }
    }

    fn rows(&self) -> MutexGuard<'_, Rows> {
        // Rows are only ever inserted whole: a panic elsewhere leaves them usable.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The master data kept, as one transaction at its version may use it.
#[derive(Debug, Clone, Copy)]
pub struct Kept<'m> {
    masters: &'m Masters,
    version: Option<i64>,
}

impl Kept<'_> {
    /// What `shelf` keeps of each of `keys`, in their order: `None` where
    /// it keeps nothing at this transaction's version.
    pub(crate) fn get<K: Hash + Eq, V: Clone>(
        &self,
        shelf: Shelf<K, V>,
        keys: &[K],
    ) -> Vec<Option<V>> {
        let mut rows = self.masters.rows();
        match self.version {
            Some(version) if rows.version == version => {
                let kept = shelf(&mut rows);
                keys.iter().map(|key| kept.get(key).cloned()).collect()
            }
            _ => keys.iter().map(|_| None).collect(),
        }
    }

    /// Keeps `entries`, read by this transaction, on `shelf`. Rows kept at
    /// an older version are dropped first; a transaction that began before
    /// the version kept keeps nothing (the rows kept stay for the newer ones).
    pub(crate) fn keep<K: Hash + Eq, V>(
        &self,
        shelf: Shelf<K, V>,
        entries: impl IntoIterator<Item = (K, V)>,
    ) {
        let Some(version) = self.version else {
            return;
        };
        let mut rows = self.masters.rows();
        if version < rows.version {
            return;
        }
        if version > rows.version {
            *rows = Rows::at(version);
        }
        shelf(&mut rows).extend(entries);
        if rows.len() > MOST_KEPT {
            *rows = Rows::at(version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(code: &str, blocked: bool) -> Option<ProductInfo> {
        Some(ProductInfo {
            code: code.to_owned(),
            blocked,
            default_warehouse: None,
        })
    }

    #[test]
    fn rows_kept_at_one_version_are_not_used_at_another() {
        let masters = Masters::default();
        masters
            .at(Some(1))
            .keep(Rows::products, [("P".to_owned(), product("P", false))]);
        assert_eq!(
            masters.at(Some(1)).get(Rows::products, &["P".to_owned()]),
            vec![Some(product("P", false))]
        );
        assert_eq!(
            masters.at(Some(2)).get(Rows::products, &["P".to_owned()]),
            vec![None]
        );
        assert_eq!(
            masters.at(None).get(Rows::products, &["P".to_owned()]),
            vec![None]
        );
    }

    #[test]
    fn keeping_at_a_new_version_drops_what_was_kept_at_the_old_one() {
        let masters = Masters::default();
        masters
            .at(Some(1))
            .keep(Rows::products, [("P".to_owned(), product("P", false))]);
        masters
            .at(Some(2))
            .keep(Rows::products, [("Q".to_owned(), product("Q", true))]);
        assert_eq!(
            masters
                .at(Some(2))
                .get(Rows::products, &["P".to_owned(), "Q".to_owned()]),
            vec![None, Some(product("Q", true))]
        );
        assert_eq!(
            masters.at(Some(1)).get(Rows::products, &["P".to_owned()]),
            vec![None]
        );
    }

    #[test]
    fn a_transaction_older_than_the_rows_kept_keeps_nothing_and_drops_nothing() {
        let masters = Masters::default();
        masters
            .at(Some(2))
            .keep(Rows::products, [("Q".to_owned(), product("Q", true))]);
        masters
            .at(Some(1))
            .keep(Rows::products, [("P".to_owned(), product("P", false))]);
        assert_eq!(
            masters
                .at(Some(2))
                .get(Rows::products, &["P".to_owned(), "Q".to_owned()]),
            vec![None, Some(product("Q", true))]
        );
    }

    #[test]
    fn a_transaction_without_a_version_keeps_nothing() {
        let masters = Masters::default();
        masters
            .at(None)
            .keep(Rows::products, [("P".to_owned(), product("P", false))]);
        assert_eq!(masters.rows().len(), 0);
    }

    #[test]
    fn more_rows_than_the_most_kept_are_all_dropped() {
        let masters = Masters::default();
        let kept = masters.at(Some(7));
        kept.keep(
            Rows::warehouses,
            (0..MOST_KEPT).map(|n| (n.to_string(), Vec::new())),
        );
        assert_eq!(masters.rows().len(), MOST_KEPT);
        kept.keep(Rows::warehouses, [("one more".to_owned(), Vec::new())]);
        assert_eq!(masters.rows().len(), 0);
        assert_eq!(masters.rows().version, 7);
    }
}
