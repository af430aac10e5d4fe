//! De/para: external codes of a sender's namespace resolved to internal codes.
//!
//! A mapping `(namespace, entity, external) → internal` wins; where an entity
//! has no mapping, an external value equal to an existing internal code is
//! accepted, as Protheus does. The store fills a [`Directory`] with just the
//! mappings and codes one message needs, so resolution itself stays pure.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// The kinds of code a sender can name (SPEC §3), plus the documents the worker maps itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Company,
    Product,
    Customer,
    Station,
    Operator,
    PaymentMethod,
    FinancialManager,
    Warehouse,
    Carrier,
    Operation,
    ItemReserve,
    RetailSales,
}

impl Entity {
    pub const ALL: [Entity; 12] = [
        Entity::Company,
        Entity::Product,
        Entity::Customer,
        Entity::Station,
        Entity::Operator,
        Entity::PaymentMethod,
        Entity::FinancialManager,
        Entity::Warehouse,
        Entity::Carrier,
        Entity::Operation,
        Entity::ItemReserve,
        Entity::RetailSales,
    ];

    /// The name stored in the `mappings.entity` column and used in import files.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Company => "Company",
            Entity::Product => "Product",
            Entity::Customer => "Customer",
            Entity::Station => "Station",
            Entity::Operator => "Operator",
            Entity::PaymentMethod => "PaymentMethod",
            Entity::FinancialManager => "FinancialManager",
            Entity::Warehouse => "Warehouse",
            Entity::Carrier => "Carrier",
            Entity::Operation => "Operation",
            Entity::ItemReserve => "ItemReserve",
            Entity::RetailSales => "RetailSales",
        }
    }

    /// Case-insensitive, so hand-written import files need not match our spelling.
    pub fn parse(text: &str) -> Option<Entity> {
        Entity::ALL
            .into_iter()
            .find(|entity| entity.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The mappings and internal codes one message may refer to, by entity, so
/// a lookup by a borrowed code allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    mappings: HashMap<Entity, HashMap<String, String>>,
    internal: HashMap<Entity, HashSet<String>>,
}

impl Directory {
    /// Records `external → internal` for `entity`.
    pub fn add_mapping(&mut self, entity: Entity, external: &str, internal: &str) {
        self.mappings
            .entry(entity)
            .or_default()
            .insert(external.to_owned(), internal.to_owned());
    }

    /// Records that `code` exists as an internal code of `entity`.
    pub fn add_internal(&mut self, entity: Entity, code: &str) {
        self.internal
            .entry(entity)
            .or_default()
            .insert(code.to_owned());
    }

    /// Whether `code` is a known internal code of `entity`.
    pub fn is_internal(&self, entity: Entity, code: &str) -> bool {
        self.internal
            .get(&entity)
            .is_some_and(|codes| codes.contains(code))
    }

    /// The internal code for `external`: its mapping, else itself when it is a known internal code.
    pub fn resolve(&self, entity: Entity, external: &str) -> Option<&str> {
        self.mappings
            .get(&entity)
            .and_then(|mappings| mappings.get(external))
            .or_else(|| {
                self.internal
                    .get(&entity)
                    .and_then(|codes| codes.get(external))
            })
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_wins_over_an_equal_internal_code() {
        let mut directory = Directory::default();
        directory.add_internal(Entity::Product, "P001");
        directory.add_internal(Entity::Product, "P002");
        directory.add_mapping(Entity::Product, "P001", "P002");
        assert_eq!(directory.resolve(Entity::Product, "P001"), Some("P002"));
    }

    #[test]
    fn an_unmapped_external_equal_to_an_internal_code_is_accepted() {
        let mut directory = Directory::default();
        directory.add_internal(Entity::Warehouse, "01");
        assert_eq!(directory.resolve(Entity::Warehouse, "01"), Some("01"));
        assert_eq!(directory.resolve(Entity::Warehouse, "02"), None);
        assert_eq!(directory.resolve(Entity::Product, "01"), None);
    }

    #[test]
    fn entity_names_round_trip_case_insensitively() {
        for entity in Entity::ALL {
            assert_eq!(Entity::parse(&entity.as_str().to_lowercase()), Some(entity));
        }
        assert_eq!(Entity::parse("Nonsense"), None);
    }
}
