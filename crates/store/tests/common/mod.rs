//! Shared helpers of the store's integration tests: a seeded database, one
//! ItemReserve envelope builder, receipts read as JSON, and the rows a test
//! checks effects on.
//!
//! Each test file compiles its own copy of this module and uses part of it.
#![allow(dead_code)]

use chrono::Utc;
use eai_protocol::Envelope;
use eai_store::testing::TestDatabase;
use eai_store::{Answer, Inbound, Received, ReplyRoute, Store, StoreError, WorkerIdentity};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// The example master data of the repository (SPEC §3).
pub const EXAMPLE: &str = include_str!("../../../../examples/master-data.json");

/// The example file as JSON.
pub fn example() -> Value {
    serde_json::from_str(EXAMPLE).expect("examples/master-data.json is JSON")
}

/// A fresh database, on the backend the environment names, loaded with
/// the example master data.
pub async fn seeded() -> TestDatabase {
    seed(TestDatabase::create().await).await
}

/// `db` loaded with the example master data.
pub async fn seed(db: TestDatabase) -> TestDatabase {
    import_ok(&db.store, &example()).await;
    db
}

/// Imports `document`, failing the test on any reported row error.
pub async fn import_ok(store: &Store, document: &Value) {
    let report = store.import(document, &|_| {}).await.expect("import runs");
    assert!(
        report.errors.is_empty(),
        "import refused: {:?}",
        report.errors
    );
}

/// An exact decimal from its text (`"2.5"`).
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("test decimal")
}

// ---------------------------------------------------------------------------
// Envelopes

/// An ItemReserve upsert from ECOMMERCE for company T1, branch D MG 01, with a
/// fresh UUID; `items` is the list that goes under `ReserveItemType.Item`.
/// Tests adjust anything else with [`set`] / [`remove`].
pub fn reserve(internal_id: &str, items: Value) -> Value {
    json!({
        "Header": {
            "UUID": uuid::Uuid::new_v4().to_string(),
            "Type": "BusinessMessage",
            "Transaction": "ItemReserve",
            "Version": "2.000",
            "SourceApplication": "ECOMMERCE",
            "ProductName": "ECOMMERCE",
            "CompanyId": "T1",
            "BranchId": "D MG 01",
            "GeneratedOn": "2026-11-22T10:00:00.000000+00:00",
            "DeliveryType": "async"
        },
        "Content": {
            "InternalId": internal_id,
            "ReserveType": "VD",
            "DocumentReserve": format!("DOC-{internal_id}"),
            "Requester": "ECOMMERCE",
            "ReserveItemType": {"Item": items}
        }
    })
}

/// The delete of reservation `internal_id` (Content.Event = delete, no items).
pub fn delete(internal_id: &str) -> Value {
    let mut envelope = reserve(internal_id, json!([]));
    set(&mut envelope, "/Content/Event", json!("delete"));
    envelope
}

/// Sets the value at a JSON pointer (`/Header/Version`), creating the key if
/// its parent object exists.
pub fn set(envelope: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let object = envelope
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"));
    object.insert(key.to_owned(), value);
}

/// Removes the key at a JSON pointer.
pub fn remove(envelope: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    envelope
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"))
        .remove(key);
}

/// The envelope's Header.UUID.
pub fn uuid_of(envelope: &Value) -> String {
    envelope["Header"]["UUID"]
        .as_str()
        .expect("envelope has a UUID")
        .to_owned()
}

// ---------------------------------------------------------------------------
// Receiving

/// Who the worker says it is in its receipts.
pub fn identity() -> WorkerIdentity {
    WorkerIdentity {
        source_application: "EAIWORKER".into(),
        product_name: "EAIWORKER".into(),
        max_details: eai_protocol::receipt::DEFAULT_MAX_DETAILS,
    }
}

/// A receipt as the sender sees it: the store's answer and its body as JSON.
#[derive(Debug)]
pub struct Reply {
    pub answer: Answer,
    pub json: Value,
}

impl Reply {
    /// `Content.ProcessingInformation.Status`.
    pub fn status(&self) -> &str {
        self.json["Content"]["ProcessingInformation"]["Status"]
            .as_str()
            .expect("receipt has a Status")
    }

    /// `Content.ProcessingInformation.Details`.
    pub fn details(&self) -> Vec<Value> {
        self.json["Content"]["ProcessingInformation"]["Details"]
            .as_array()
            .expect("receipt has Details")
            .clone()
    }

    /// The codes of the details, in receipt order.
    pub fn codes(&self) -> Vec<String> {
        self.details()
            .iter()
            .map(|detail| detail["Code"].as_str().expect("detail Code").to_owned())
            .collect()
    }

    /// The first detail with `code`; fails the test if there is none.
    pub fn detail(&self, code: &str) -> Value {
        self.details()
            .into_iter()
            .find(|detail| detail["Code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {:#}", self.json))
    }

    /// `Content.ReturnContent.ListOfInternalId`.
    pub fn internal_ids(&self) -> Vec<Value> {
        self.json["Content"]["ReturnContent"]["ListOfInternalId"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Fails the test, showing the receipt, unless Status is ok.
    pub fn assert_ok(&self) {
        assert!(
            self.answer.ok && self.status() == "ok",
            "expected an ok receipt, got {:#}",
            self.json
        );
    }

    /// Fails the test, showing the receipt, unless it is an error receipt whose
    /// details all carry `code`.
    pub fn assert_only(&self, code: &str) {
        assert!(
            !self.answer.ok && self.status() == "error",
            "expected {code}, got {:#}",
            self.json
        );
        assert!(
            !self.codes().is_empty() && self.codes().iter().all(|c| c == code),
            "expected only {code}, got {:#}",
            self.json
        );
    }
}

/// `envelope` (parsed from `body`) as a delivery whose receipt goes to the
/// receipts exchange, allowed to wait `max_waits` times for its reservations.
pub fn inbound<'a>(envelope: &'a Envelope, body: &'a [u8], max_waits: usize) -> Inbound<'a> {
    Inbound {
        envelope,
        body,
        received_at: Utc::now(),
        route: ReplyRoute {
            exchange: "eai.receipts".into(),
            routing_key: "ECOMMERCE".into(),
            correlation_id: None,
        },
        max_waits,
    }
}

/// Receives `envelope` on `store` as a delivery from the receipts exchange.
pub async fn send(store: &Store, envelope: &Value) -> Reply {
    try_send(store, envelope)
        .await
        .unwrap_or_else(|error| panic!("receive failed: {error}"))
}

/// Like [`send`], but hands back the store's error instead of failing.
pub async fn try_send(store: &Store, envelope: &Value) -> Result<Reply, eai_store::StoreError> {
    let bytes = serde_json::to_vec(envelope).expect("serializable envelope");
    let parsed = Envelope::parse(&bytes).expect("test envelopes have a UUID");
    let inbound = inbound(&parsed, &bytes, 0);
    let answer = store
        .receive(&identity(), &inbound)
        .await?
        .answered()
        .expect("without waiting, every envelope is answered");
    let json = serde_json::from_str(&answer.body).expect("the receipt body is JSON");
    Ok(Reply { answer, json })
}

/// Receives `envelopes` as one batch ([`Store::receive_batch`]), each allowed
/// to wait `max_waits` times.
pub async fn receive_batch(
    store: &Store,
    envelopes: &[Value],
    max_waits: usize,
) -> Vec<Result<Received, StoreError>> {
    let bodies: Vec<Vec<u8>> = envelopes
        .iter()
        .map(|envelope| serde_json::to_vec(envelope).expect("serializable envelope"))
        .collect();
    let parsed: Vec<Envelope> = bodies
        .iter()
        .map(|body| Envelope::parse(body).expect("test envelopes have a UUID"))
        .collect();
    let inbounds: Vec<_> = parsed
        .iter()
        .zip(&bodies)
        .map(|(envelope, body)| inbound(envelope, body, max_waits))
        .collect();
    store.receive_batch(&identity(), &inbounds).await
}

// ---------------------------------------------------------------------------
// Rows
//
// Read through [`TestDatabase::any`], on either backend, with SQL both speak:
// decimals as text, flags as 0 or 1.

/// An exact decimal the database wrote as text.
fn exact(text: &str) -> Decimal {
    text.parse::<Decimal>()
        .unwrap_or_else(|error| panic!("decimal {text:?}: {error}"))
        .normalize()
}

/// What is reserved from the lot with this code (lot codes are unique in the example).
pub async fn reserved(pool: &AnyPool, lot: &str) -> Decimal {
    let reserved: String =
        sqlx::query_scalar("SELECT CAST(reserved AS TEXT) FROM lots WHERE lot = $1")
            .bind(lot)
            .fetch_one(pool)
            .await
            .unwrap_or_else(|error| panic!("lot {lot}: {error}"));
    exact(&reserved)
}

/// One reservation line as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_no: i32,
    pub item_no: i32,
    pub product: String,
    pub warehouse: String,
    pub lot_id: Option<i64>,
    pub lot: String,
    pub sublot: String,
    pub quantity: Decimal,
    pub backorder: bool,
    pub released: bool,
}

/// The lines of reservation `internal_id` of namespace ECOMMERCE, in line order.
pub async fn lines(pool: &AnyPool, internal_id: &str) -> Vec<Line> {
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT l.line_no, l.item_no, l.product, l.warehouse, l.lot_id, l.lot, l.sublot,
                CAST(l.quantity AS TEXT) AS quantity,
                CASE WHEN l.backorder THEN 1 ELSE 0 END AS backorder,
                CASE WHEN l.released_at IS NULL THEN 0 ELSE 1 END AS released
           FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
          WHERE r.namespace = 'ECOMMERCE' AND r.internal_id = $1
          ORDER BY l.line_no",
    )
    .bind(internal_id)
    .fetch_all(pool)
    .await
    .expect("reservation lines");
    rows.iter()
        .map(|row| Line {
            line_no: row.get("line_no"),
            item_no: row.get("item_no"),
            product: row.get("product"),
            warehouse: row.get("warehouse"),
            lot_id: row.get("lot_id"),
            lot: row.get("lot"),
            sublot: row.get("sublot"),
            quantity: exact(row.get("quantity")),
            backorder: row.get::<i32, _>("backorder") != 0,
            released: row.get::<i32, _>("released") != 0,
        })
        .collect()
}

/// `(lot, quantity)` of each line, for compact assertions.
pub fn lots_taken(lines: &[Line]) -> Vec<(String, Decimal)> {
    lines
        .iter()
        .map(|line| (line.lot.clone(), line.quantity))
        .collect()
}

/// A reservation header as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reservation {
    pub company: String,
    pub branch: String,
    pub number: String,
    pub status: String,
}

/// Reservation `internal_id` of namespace ECOMMERCE, if any.
pub async fn reservation(pool: &AnyPool, internal_id: &str) -> Option<Reservation> {
    sqlx::query_as(
        "SELECT company, branch, number, status FROM reservations
          WHERE namespace = 'ECOMMERCE' AND internal_id = $1",
    )
    .bind(internal_id)
    .fetch_optional(pool)
    .await
    .expect("reservations")
}

/// A row count, through this database's [`AnyPool`] or (in the tests of
/// PostgreSQL alone) its `PgPool`.
pub async fn count<DB>(pool: &sqlx::Pool<DB>, table: &str) -> i64
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    sqlx::query_scalar::<DB, i64>(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("count {table}: {error}"))
}

/// Every row of `table` as text (its `columns`, as the backend writes them
/// as text), sorted: equal snapshots mean equal contents.
pub async fn columns_text(pool: &AnyPool, table: &str, columns: &str) -> String {
    let row = columns
        .split(", ")
        .map(|column| format!("coalesce(CAST({column} AS TEXT), '<null>')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM {table}"))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|error| panic!("snapshot {table}: {error}"));
    rows.sort();
    rows.join("\n")
}

/// The stock and reservation tables, with every column, a refused message
/// must leave untouched.
const BUSINESS_TABLES: [(&str, &str); 4] = [
    (
        "lots",
        "id, branch, product, warehouse, lot, sublot, expires_on, received_on, quantity, reserved",
    ),
    (
        "reservations",
        "id, company, branch, number, namespace, internal_id, reserve_type, document_reserve, \
         requester, status, created_at, updated_at, sale_id",
    ),
    (
        "reservation_lines",
        "reservation_id, line_no, item_no, product, warehouse, lot_id, lot, sublot, quantity, \
         backorder, issued_on, expires_at, released_at",
    ),
    (
        "mappings",
        "namespace, entity, external, internal, written_at",
    ),
];

/// The stock and reservation state a refused message must leave untouched.
pub async fn business_state(pool: &AnyPool) -> String {
    let mut state = String::new();
    for (table, columns) in BUSINESS_TABLES {
        state.push_str(&format!(
            "== {table}\n{}\n",
            columns_text(pool, table, columns).await
        ));
    }
    state
}

/// Checks the stock invariants that must hold whatever interleaving happened.
pub async fn assert_stock_consistent(pool: &AnyPool) {
    let lots: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, lot, CAST(quantity AS TEXT), CAST(reserved AS TEXT) FROM lots ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("lots");
    let held: Vec<(i64, String)> = sqlx::query_as(
        "SELECT rl.lot_id, CAST(rl.quantity AS TEXT)
           FROM reservation_lines rl JOIN reservations r ON r.id = rl.reservation_id
          WHERE rl.lot_id IS NOT NULL AND rl.released_at IS NULL AND r.status = 'active'",
    )
    .fetch_all(pool)
    .await
    .expect("active lines");
    for (id, lot, quantity, reserved) in lots {
        let (quantity, reserved) = (exact(&quantity), exact(&reserved));
        let held: Decimal = held
            .iter()
            .filter(|(lot_id, _)| *lot_id == id)
            .map(|(_, quantity)| exact(quantity))
            .sum();
        assert!(
            reserved <= quantity,
            "lot {lot}: reserved {reserved} > on hand {quantity}"
        );
        assert_eq!(
            reserved,
            held.normalize(),
            "lot {lot}: reserved {reserved} but active lines hold {held}"
        );
    }
    let dangling: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservation_lines rl JOIN reservations r ON r.id = rl.reservation_id
          WHERE r.status = 'cancelled' AND rl.released_at IS NULL",
    )
    .fetch_one(pool)
    .await
    .expect("cancelled lines");
    assert_eq!(dangling, 0, "a cancelled reservation still holds stock");
}

/// `bytes` of words in no repeating order: text that compresses like an
/// order's descriptions (to about a third), not like a run of one letter.
pub fn words(bytes: usize, seed: u64) -> String {
    const WORDS: [&str; 8] = [
        "caixa ",
        "frasco ",
        "lote ",
        "validade ",
        "embalagem ",
        "unidade ",
        "pacote ",
        "refil ",
    ];
    let mut state = seed;
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        text.push_str(WORDS[(state >> 61) as usize]);
        text.push_str(&(state >> 40).to_string());
    }
    text
}

/// Asserts the inbox keeps `envelope`'s body (64 KiB or more) compressed,
/// and that the message log gives it back as sent.
pub async fn assert_body_kept(db: &TestDatabase, envelope: &Value) {
    let uuid = uuid_of(envelope);
    let sent = serde_json::to_vec(envelope).expect("JSON").len();
    let stored = columns_text(
        &db.any().await,
        &format!("inbox WHERE uuid = '{uuid}'"),
        "CASE WHEN body_zstd THEN 1 ELSE 0 END, length(body)",
    )
    .await;
    let (zstd, length) = stored.split_once('|').expect("two columns");
    assert_eq!(zstd, "1", "{uuid} is stored compressed");
    let length: usize = length.parse().expect("a length");
    assert!(length * 2 < sent, "{length} bytes stored for {sent}");
    assert_eq!(
        &logged_body(db, &uuid).await,
        envelope,
        "{uuid} read back as sent"
    );
}

/// The body the message log shows for the envelope of `uuid`.
pub async fn logged_body(db: &TestDatabase, uuid: &str) -> Value {
    let page = db
        .store
        .messages(&eai_store::log::LogFilter {
            uuid: Some(uuid.to_owned()),
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("found in the log");
    let detail = db
        .store
        .message_detail(page.items[0].id)
        .await
        .expect("detail")
        .expect("found");
    detail.body
}
