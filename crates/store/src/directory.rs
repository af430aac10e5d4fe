//! Reads the de/para and master rows one message refers to, in a handful of
//! set-based queries, into the pure [`Directory`] the domain resolves with;
//! branches, de/para, warehouses and products come from what earlier
//! transactions kept (the store's `masters`) while the master data stands.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::NaiveDate;
use eai_domain::reservation::ProductInfo;
use eai_domain::{document_internal_id, Directory, Entity};
use eai_protocol::InternalIdEntry;

use crate::db::{json_rows, Conn, Texts};
use crate::mappings::{ON_MAPPING_CONFLICT, SQLITE_ON_MAPPING_CONFLICT};
use crate::masters::{Kept, Rows};
use crate::StoreError;

/// A branch and the parameters the rules read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Branch {
    pub company: String,
    pub branch: String,
    pub closed_until: Option<NaiveDate>,
    pub released_payment_methods: Vec<String>,
    pub reserve_without_stock: bool,
    /// The transactions of the business events ([`crate::events`]) this
    /// branch has destinations for, read with it: a batch does not look for
    /// the destinations of an event its branch has none for.
    pub listened: Vec<String>,
}

impl Branch {
    /// Whether a destination of this branch takes events of `transaction`.
    pub fn listens_to(&self, transaction: &str) -> bool {
        self.listened.iter().any(|listened| listened == transaction)
    }
}

/// What one message's directory is read for: the mappings of its
/// namespace for the `(entity, external)` codes it names, and the
/// warehouses of its branch.
#[derive(Debug, Clone)]
pub struct DirectoryScope<'a> {
    pub namespace: &'a str,
    pub branch: &'a str,
    pub wanted: Vec<(Entity, String)>,
}

/// Keys in the order first given, each once, with the position of each:
/// what a batch's statements send instead of one row per envelope.
struct Distinct<K> {
    keys: Vec<K>,
    positions: HashMap<K, usize>,
}

impl<K: Copy + Eq + Hash> Distinct<K> {
    fn of(keys: impl IntoIterator<Item = K>) -> Distinct<K> {
        let mut distinct = Distinct {
            keys: Vec::new(),
            positions: HashMap::new(),
        };
        for key in keys {
            distinct.positions.entry(key).or_insert_with(|| {
                distinct.keys.push(key);
                distinct.keys.len() - 1
            });
        }
        distinct
    }

    /// The position of a key given to [`Distinct::of`].
    fn position(&self, key: &K) -> usize {
        self.positions[key]
    }
}

/// The directory of each scope, in their order: its mappings and its
/// branch's warehouses (as internal Warehouse codes). Each distinct code
/// and branch is looked up once, however many scopes name it (a batch's
/// envelopes name the same company, branch and products again and again):
/// in what `kept` holds, and those it does not in one statement.
pub async fn load_directories(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    scopes: &[DirectoryScope<'_>],
) -> Result<Vec<Directory>, StoreError> {
    let codes = Distinct::of(scopes.iter().flat_map(|scope| {
        scope
            .wanted
            .iter()
            .map(|(entity, external)| (scope.namespace, *entity, external.as_str()))
    }));
    let branches = Distinct::of(scopes.iter().map(|scope| scope.branch));
    let code_keys: Vec<(String, Entity, String)> = codes
        .keys
        .iter()
        .map(|(namespace, entity, external)| {
            ((*namespace).to_owned(), *entity, (*external).to_owned())
        })
        .collect();
    let branch_keys: Vec<String> = branches
        .keys
        .iter()
        .map(|branch| (*branch).to_owned())
        .collect();
    let mut mapped = kept.get(Rows::mapped, &code_keys);
    let mut warehouses = kept.get(Rows::warehouses, &branch_keys);
    let unmapped = missing(&mapped);
    let unlisted = missing(&warehouses);
    if !unmapped.is_empty() || !unlisted.is_empty() {
        read_directories(
            conn,
            &codes,
            &unmapped,
            &branches,
            &unlisted,
            &mut mapped,
            &mut warehouses,
        )
        .await?;
        kept.keep(
            Rows::mapped,
            unmapped
                .iter()
                .map(|&code| (code_keys[code].clone(), mapped[code].clone().flatten())),
        );
        kept.keep(
            Rows::warehouses,
            unlisted.iter().map(|&branch| {
                (
                    branch_keys[branch].clone(),
                    warehouses[branch].clone().unwrap_or_default(),
                )
            }),
        );
    }
    let mapped = filled(mapped)?;
    let warehouses = filled(warehouses)?;
    Ok(scopes
        .iter()
        .map(|scope| {
            let mut directory = Directory::default();
            for (entity, external) in &scope.wanted {
                let code = codes.position(&(scope.namespace, *entity, external.as_str()));
                if let Some(internal) = &mapped[code] {
                    directory.add_mapping(*entity, external, internal);
                }
            }
            for code in &warehouses[branches.position(&scope.branch)] {
                directory.add_internal(Entity::Warehouse, code);
            }
            directory
        })
        .collect())
}

/// The places of the values not found.
fn missing<V>(values: &[Option<V>]) -> Vec<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, value)| value.is_none())
        .map(|(place, _)| place)
        .collect()
}

/// The values once every one was found.
fn filled<V>(values: Vec<Option<V>>) -> Result<Vec<V>, StoreError> {
    values
        .into_iter()
        .map(|value| value.ok_or(StoreError::Database(sqlx::Error::RowNotFound)))
        .collect()
}

/// Reads, in one statement, the mappings of the codes at the places
/// `unmapped` and the warehouses of the branches at the places `unlisted`,
/// into `mapped` and `warehouses` (each read place gets a value).
async fn read_directories(
    conn: &mut Conn<'_>,
    codes: &Distinct<(&str, Entity, &str)>,
    unmapped: &[usize],
    branches: &Distinct<&str>,
    unlisted: &[usize],
    mapped: &mut [Option<Option<String>>],
    warehouses: &mut [Option<Vec<String>>],
) -> Result<(), StoreError> {
    let wanted: Vec<(i32, &str, &str, &str)> = unmapped
        .iter()
        .map(|&code| {
            let (namespace, entity, external) = codes.keys[code];
            (
                i32::try_from(code).unwrap_or(i32::MAX),
                namespace,
                entity.as_str(),
                external,
            )
        })
        .collect();
    let listed: Vec<&str> = unlisted
        .iter()
        .map(|&branch| branches.keys[branch])
        .collect();
    let rows: Vec<(i32, String)> = match conn {
        Conn::Postgres(conn) => {
            sqlx::query_as(
                "SELECT w.n, m.internal
                   FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])
                     AS w(n, namespace, entity, external)
                   JOIN mappings m
                     ON m.namespace = w.namespace AND m.entity = w.entity AND m.external = w.external
                 UNION ALL
                 SELECT -b.n::int, h.code
                   FROM unnest($5::text[]) WITH ORDINALITY AS b(branch, n)
                   JOIN warehouses h ON h.branch = b.branch",
            )
            .bind(wanted.iter().map(|row| row.0).collect::<Vec<i32>>())
            .bind(wanted.iter().map(|row| row.1).collect::<Vec<&str>>())
            .bind(wanted.iter().map(|row| row.2).collect::<Vec<&str>>())
            .bind(wanted.iter().map(|row| row.3).collect::<Vec<&str>>())
            .bind(&listed)
            .fetch_all(&mut **conn)
            .await?
        }
        Conn::Sqlite(conn) => {
            sqlx::query_as(
                "SELECT json_extract(w.value, '$[0]'), m.internal
                   FROM json_each($1) w
                   JOIN mappings m
                     ON m.namespace = json_extract(w.value, '$[1]')
                    AND m.entity = json_extract(w.value, '$[2]')
                    AND m.external = json_extract(w.value, '$[3]')
                 UNION ALL
                 SELECT -(b.key + 1), h.code
                   FROM json_each($2) b
                   JOIN warehouses h ON h.branch = b.value",
            )
            .bind(json_rows(&wanted)?)
            .bind(json_rows(&listed)?)
            .fetch_all(&mut **conn)
            .await?
        }
    };
    for &code in unmapped {
        mapped[code] = Some(None);
    }
    for &branch in unlisted {
        warehouses[branch] = Some(Vec::new());
    }
    // Non-negative: the internal code of the code at place `n`; negative: a
    // warehouse of the branch `-n - 1`th in `listed`.
    for (n, internal) in rows {
        match usize::try_from(n) {
            Ok(code) => {
                if let Some(slot) = mapped.get_mut(code) {
                    *slot = Some(Some(internal));
                }
            }
            Err(_) => {
                let branch = usize::try_from(-n - 1)
                    .ok()
                    .and_then(|place| unlisted.get(place));
                if let Some(Some(codes)) = branch.and_then(|&branch| warehouses.get_mut(branch)) {
                    codes.push(internal);
                }
            }
        }
    }
    Ok(())
}

impl DirectoryScope<'_> {
    /// The codes `entity`'s master rows may be found by for this scope: each
    /// wanted external code and what `directory` (the scope's) maps it to.
    pub fn candidates<'s>(
        &'s self,
        directory: &'s Directory,
        entity: Entity,
    ) -> impl Iterator<Item = &'s str> {
        self.wanted
            .iter()
            .filter(move |(kind, _)| *kind == entity)
            .flat_map(move |(_, external)| {
                std::iter::once(external.as_str()).chain(directory.resolve(entity, external))
            })
    }
}

/// The codes to look `entity`'s master rows up by, for all the scopes at
/// once: each wanted external code and what its scope's directory maps it
/// to (the domain decides which wins).
pub fn candidate_codes(
    scopes: &[DirectoryScope<'_>],
    directories: &[Directory],
    entity: Entity,
) -> Vec<String> {
    let mut codes: Vec<String> = scopes
        .iter()
        .zip(directories)
        .flat_map(|(scope, directory)| scope.candidates(directory, entity))
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// The internal company each `(namespace, company, branch)` names (de/para,
/// else itself) and its branch, if it has one, answered in their order.
/// Each distinct triple is looked up once: in what `kept` holds, and those
/// it does not in one statement ([`read_located`]).
pub async fn locate_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    wanted: &[(&str, &str, &str)],
) -> Result<Vec<(String, Option<Branch>)>, StoreError> {
    let distinct = Distinct::of(wanted.iter().copied());
    let keys: Vec<(String, String, String)> = distinct
        .keys
        .iter()
        .map(|(namespace, company, branch)| {
            (
                (*namespace).to_owned(),
                (*company).to_owned(),
                (*branch).to_owned(),
            )
        })
        .collect();
    let mut located = kept.get(Rows::located, &keys);
    let unknown = missing(&located);
    if !unknown.is_empty() {
        let triples: Vec<(&str, &str, &str)> =
            unknown.iter().map(|&place| distinct.keys[place]).collect();
        let read = read_located(conn, &triples).await?;
        kept.keep(
            Rows::located,
            unknown
                .iter()
                .zip(&read)
                .map(|(&place, found)| (keys[place].clone(), found.clone())),
        );
        for (&place, found) in unknown.iter().zip(read) {
            located[place] = Some(found);
        }
    }
    let located = filled(located)?;
    Ok(wanted
        .iter()
        .map(|triple| located[distinct.position(triple)].clone())
        .collect())
}

/// Reads distinct `(namespace, company, branch)` triples in one statement,
/// answered in their order: the Company mappings and the branch rows of
/// both candidates are read, the domain's [`Directory`] picks; each branch
/// comes with the events it has destinations for ([`Branch::listened`]).
async fn read_located(
    conn: &mut Conn<'_>,
    triples: &[(&str, &str, &str)],
) -> Result<Vec<(String, Option<Branch>)>, StoreError> {
    let namespaces: Vec<&str> = triples.iter().map(|(namespace, ..)| *namespace).collect();
    let companies: Vec<&str> = triples.iter().map(|(_, company, _)| *company).collect();
    let branches: Vec<&str> = triples.iter().map(|(.., branch)| *branch).collect();
    let rows: Vec<LocatedRow> = match conn {
        Conn::Postgres(conn) => {
            sqlx::query_as(
                "SELECT w.n, m.internal AS mapped, b.company, b.branch, b.closed_until,
                        b.released_payment_methods, b.reserve_without_stock,
                        ARRAY(SELECT DISTINCT d.\"transaction\" FROM destinations d
                               WHERE d.company = b.company AND d.branch = b.branch) AS listened
                   FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
                     AS w(namespace, company, branch, n)
                   LEFT JOIN mappings m
                     ON m.namespace = w.namespace AND m.entity = $4 AND m.external = w.company
                   LEFT JOIN branches b ON b.branch = w.branch AND b.company IN (w.company, m.internal)",
            )
            .bind(&namespaces)
            .bind(&companies)
            .bind(&branches)
            .bind(Entity::Company.as_str())
            .fetch_all(&mut **conn)
            .await?
        }
        Conn::Sqlite(conn) => {
            sqlx::query_as(
                "SELECT w.key + 1 AS n, m.internal AS mapped, b.company, b.branch, b.closed_until,
                        b.released_payment_methods, b.reserve_without_stock,
                        (SELECT json_group_array(DISTINCT d.\"transaction\") FROM destinations d
                          WHERE d.company = b.company AND d.branch = b.branch) AS listened
                   FROM json_each($1) w
                   LEFT JOIN mappings m
                     ON m.namespace = json_extract(w.value, '$[0]') AND m.entity = $2
                    AND m.external = json_extract(w.value, '$[1]')
                   LEFT JOIN branches b
                     ON b.branch = json_extract(w.value, '$[2]')
                    AND b.company IN (json_extract(w.value, '$[1]'), m.internal)",
            )
            .bind(json_rows(triples)?)
            .bind(Entity::Company.as_str())
            .fetch_all(&mut **conn)
            .await?
        }
    };
    let mut by_triple: Vec<Vec<LocatedRow>> = triples.iter().map(|_| Vec::new()).collect();
    for row in rows {
        let n = usize::try_from(row.n - 1).ok();
        if let Some(found) = n.and_then(|n| by_triple.get_mut(n)) {
            found.push(row);
        }
    }
    Ok(triples
        .iter()
        .zip(by_triple)
        .map(|((_, company, _), rows)| {
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
                    released_payment_methods: row
                        .released_payment_methods
                        .map(|methods| methods.0)
                        .unwrap_or_default(),
                    reserve_without_stock: row.reserve_without_stock.unwrap_or_default(),
                    listened: row.listened.0,
                })
            });
            (resolved, found)
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct LocatedRow {
    n: i64,
    mapped: Option<String>,
    company: Option<String>,
    branch: Option<String>,
    closed_until: Option<NaiveDate>,
    released_payment_methods: Option<Texts>,
    reserve_without_stock: Option<bool>,
    listened: Texts,
}

/// Loads the products the scopes can name (their candidate codes), for all
/// of them at once (those `kept` does not hold in one statement), and
/// registers in each scope's directory the internal Product codes that
/// scope names: the work follows the products named, not the batch's size
/// times its products.
pub async fn load_products(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    scopes: &[DirectoryScope<'_>],
    directories: &mut [Directory],
) -> Result<HashMap<String, ProductInfo>, StoreError> {
    let candidates = candidate_codes(scopes, directories, Entity::Product);
    let found = kept.get(Rows::products, &candidates);
    let codes: Vec<String> = missing(&found)
        .into_iter()
        .map(|place| candidates[place].clone())
        .collect();
    let mut products: HashMap<String, ProductInfo> = candidates
        .into_iter()
        .zip(found)
        .filter_map(|(code, found)| Some((code, found.flatten()?)))
        .collect();
    let rows: Vec<(String, bool, Option<String>)> = match conn {
        _ if codes.is_empty() => Vec::new(),
        Conn::Postgres(conn) => {
            sqlx::query_as(
                "SELECT code, blocked, default_warehouse FROM products WHERE code = ANY($1)",
            )
            .bind(&codes)
            .fetch_all(&mut **conn)
            .await?
        }
        Conn::Sqlite(conn) => {
            sqlx::query_as(
                "SELECT code, blocked, default_warehouse FROM products
                  WHERE code IN (SELECT value FROM json_each($1))",
            )
            .bind(Texts(codes.clone()))
            .fetch_all(&mut **conn)
            .await?
        }
    };
    let read: HashMap<String, ProductInfo> = rows
        .into_iter()
        .map(|(code, blocked, default_warehouse)| {
            let product = ProductInfo {
                code: code.clone(),
                blocked,
                default_warehouse,
            };
            (code, product)
        })
        .collect();
    kept.keep(
        Rows::products,
        codes.into_iter().map(|code| {
            let product = read.get(&code).cloned();
            (code, product)
        }),
    );
    products.extend(read);
    for (scope, directory) in scopes.iter().zip(directories.iter_mut()) {
        let found: Vec<&str> = scope
            .candidates(directory, Entity::Product)
            .filter_map(|code| products.get_key_value(code))
            .map(|(code, _)| code.as_str())
            .collect();
        for code in found {
            directory.add_internal(Entity::Product, code);
        }
    }
    Ok(products)
}

/// A document the worker integrated and numbered: the sender's InternalId
/// in its namespace, and ours.
pub struct Numbered<'a> {
    pub namespace: &'a str,
    pub origin: &'a str,
    pub company: &'a str,
    pub branch: &'a str,
    pub number: &'a str,
}

/// The `ListOfInternalId` entry of a document of `entity`: the sender's
/// InternalId and ours, `company|branch|number`.
pub fn numbered_entry(
    entity: Entity,
    origin: &str,
    company: &str,
    branch: &str,
    number: &str,
) -> InternalIdEntry {
    InternalIdEntry {
        name: entity.as_str().to_owned(),
        origin: origin.to_owned(),
        destination: document_internal_id(company, branch, number),
    }
}

/// Records (or moves) the de/para of documents of `entity` the worker
/// integrated, in one statement (each `(namespace, origin)` at most once),
/// and returns their entries ([`numbered_entry`]), in their order.
pub async fn record_numbered(
    conn: &mut Conn<'_>,
    entity: Entity,
    numbered: &[Numbered<'_>],
) -> Result<Vec<InternalIdEntry>, StoreError> {
    let entries: Vec<InternalIdEntry> = numbered
        .iter()
        .map(|document| {
            numbered_entry(
                entity,
                document.origin,
                document.company,
                document.branch,
                document.number,
            )
        })
        .collect();
    if entries.is_empty() {
        return Ok(entries);
    }
    let namespaces: Vec<&str> = numbered.iter().map(|document| document.namespace).collect();
    let externals: Vec<&str> = entries.iter().map(|entry| entry.origin.as_str()).collect();
    let internals: Vec<&str> = entries
        .iter()
        .map(|entry| entry.destination.as_str())
        .collect();
    match conn {
        Conn::Postgres(conn) => {
            sqlx::query(&format!(
                "INSERT INTO mappings (namespace, entity, external, internal)
                 SELECT u.namespace, $1, u.external, u.internal
                   FROM unnest($2::text[], $3::text[], $4::text[]) AS u(namespace, external, internal)
                 {ON_MAPPING_CONFLICT}"
            ))
            .bind(entity.as_str())
            .bind(&namespaces)
            .bind(&externals)
            .bind(&internals)
            .execute(&mut **conn)
            .await?;
        }
        Conn::Sqlite(conn) => {
            let rows: Vec<(&str, &str, &str)> = (0..namespaces.len())
                .map(|n| (namespaces[n], externals[n], internals[n]))
                .collect();
            sqlx::query(&format!(
                "INSERT INTO mappings (namespace, entity, external, internal, written_at)
                 SELECT json_extract(value, '$[0]'), $1, json_extract(value, '$[1]'),
                        json_extract(value, '$[2]'), $3
                   FROM json_each($2) WHERE true
                 {SQLITE_ON_MAPPING_CONFLICT}"
            ))
            .bind(entity.as_str())
            .bind(json_rows(&rows)?)
            .bind(chrono::Utc::now())
            .execute(&mut **conn)
            .await?;
        }
    }
    Ok(entries)
}
