//! De/para: external codes of a sender's namespace resolved to internal codes,
//! and back.
//!
//! A mapping `(namespace, entity, external) → internal` wins; where an entity
//! has no mapping, an external value equal to an existing internal code is
//! accepted, as Protheus does. The store fills a [`Directory`] with just the
//! mappings and codes one message needs, so resolution itself stays pure.
//!
//! On the way out ([`Outgoing`]) a code of ours goes to a destination as the
//! system behind it knows it: the external value its namespace maps to ours,
//! and ours where it maps none.

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

/// Our InternalId of a document we numbered, `<company>|<branch>|<number>`
/// (Protheus' `cEmpAnt|cFilAnt|number`), in our own codes.
pub fn document_internal_id(company: &str, branch: &str, number: &str) -> String {
    format!("{company}|{branch}|{number}")
}

/// Our codes as one namespace knows them (reverse de/para), for the codes
/// one outgoing message names. Where several external values map to one
/// code of ours, the first recorded wins: the store records them newest
/// mapping first.
#[derive(Debug, Default, Clone)]
pub struct Outgoing {
    codes: HashMap<Entity, HashMap<String, String>>,
}

impl Outgoing {
    /// Records that the namespace calls our `internal` code of `entity`
    /// `external`, unless a value was recorded for it already.
    pub fn add(&mut self, entity: Entity, internal: &str, external: &str) {
        self.codes
            .entry(entity)
            .or_default()
            .entry(internal.to_owned())
            .or_insert_with(|| external.to_owned());
    }

    /// How the namespace knows our `code`: its mapped value, else `code` itself.
    pub fn code<'a>(&'a self, entity: Entity, code: &'a str) -> &'a str {
        self.codes
            .get(&entity)
            .and_then(|codes| codes.get(code))
            .map_or(code, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever was recorded, an unmapped code goes out as ours and a
        /// mapped one as the first value recorded for it, entity by entity.
        #[test]
        fn outgoing_codes_are_the_first_mapping_else_ours(
            rows in proptest::collection::vec((0..3usize, "[A-C]{1,2}", "[a-z]{1,3}"), 0..20),
            asked in "[A-D]{1,2}",
        ) {
            let entities = [Entity::Product, Entity::Warehouse, Entity::Company];
            let mut outgoing = Outgoing::default();
            for (entity, internal, external) in &rows {
                outgoing.add(entities[*entity], internal, external);
            }
            for (index, entity) in entities.into_iter().enumerate() {
                let first = rows
                    .iter()
                    .find(|(e, internal, _)| *e == index && *internal == asked)
                    .map(|(_, _, external)| external.as_str());
                prop_assert_eq!(outgoing.code(entity, &asked), first.unwrap_or(&asked));
            }
        }
    }

    #[test]
    fn a_destination_without_mappings_gets_our_codes() {
        let outgoing = Outgoing::default();
        assert_eq!(outgoing.code(Entity::Product, "P001"), "P001");
    }

    #[test]
    fn a_mapped_code_goes_out_as_the_destination_knows_it() {
        let mut outgoing = Outgoing::default();
        outgoing.add(
            Entity::Product,
            "P001",
            "d077bf8a-bbbb-4549-9b00-1a203cfe4428",
        );
        outgoing.add(Entity::Product, "P001", "older-sku");
        assert_eq!(
            outgoing.code(Entity::Product, "P001"),
            "d077bf8a-bbbb-4549-9b00-1a203cfe4428"
        );
        assert_eq!(outgoing.code(Entity::Warehouse, "P001"), "P001");
    }

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
