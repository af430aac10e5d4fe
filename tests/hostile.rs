//! The hostile corpus of `tests/corpus/` against a whole worker: every body of
//! `cases.json` is published with its routing key, each followed by a good
//! ItemReserve, and each must get exactly the outcome its case expects — a
//! coded receipt on `reply_to`, or a dead letter with its `x-eai-code` plus the
//! error receipt — while every good envelope is still answered ok, every
//! receipt is JSON of at most 30 MiB and the worker stays ready.
//!
//! `tests/corpus/README.md` describes the manifest and the generators that
//! build the bodies too large to commit.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eai_protocol::{MAX_ENVELOPE_BYTES, MAX_UUID_BYTES};
use eai_tests::shop::Shop;
use eai_tests::{header, spawn_app, stream, TestApp};
use eai_transport::lapin::options::BasicGetOptions;
use eai_transport::lapin::Channel;
use eai_transport::topology::declare_private_queue;
use eai_transport::Outgoing;
use serde_json::Value;

/// How long every outcome may take to arrive once everything is published.
const OUTCOMES_WITHIN: Duration = Duration::from_secs(60);

/// How long to keep listening after the last expected outcome, to catch
/// extra receipts and dead letters.
const SETTLE: Duration = Duration::from_millis(1500);

/// What a case must get.
#[derive(Debug, Clone)]
enum Expect {
    /// An error receipt with a detail of `code`.
    Receipt {
        code: String,
        /// The first detail with `code` has this in its `Message`.
        path: Option<String>,
        /// Codes that must be in the receipt too.
        also: Vec<String>,
        /// Most details the receipt may list.
        max_details: Option<usize>,
        /// Largest the receipt may be, in bytes.
        max_bytes: Option<usize>,
        /// The envelope waited out every `reserve_retry_delays_secs` first.
        waited_every_retry: bool,
    },
    /// A receipt with `Status: ok`.
    Ok,
    /// A dead letter with `x-eai-code: code` and an error receipt of `code`.
    DeadLetter { code: String },
}

impl Expect {
    fn parse(expect: &Value) -> Result<Expect, String> {
        let text = |key: &str| expect.get(key).and_then(Value::as_str).map(str::to_owned);
        let count = |key: &str| {
            expect
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
        };
        if let Some(code) = text("receipt") {
            let also = match expect.get("also") {
                None => Vec::new(),
                Some(Value::Array(codes)) => codes
                    .iter()
                    .map(|code| code.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("\"also\" must list codes")?,
                Some(_) => return Err("\"also\" must be a list".to_owned()),
            };
            return Ok(Expect::Receipt {
                code,
                path: text("path"),
                also,
                max_details: count("max_details"),
                max_bytes: count("max_bytes"),
                waited_every_retry: expect
                    .get("waited_every_retry")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
        match (text("receipt_status").as_deref(), text("dead_letter")) {
            (Some("ok"), None) => Ok(Expect::Ok),
            (None, Some(code)) => Ok(Expect::DeadLetter { code }),
            _ => Err(format!("unknown expectation {expect}")),
        }
    }

    fn describe(&self) -> String {
        match self {
            Expect::Receipt { code, .. } => format!("receipt {code}"),
            Expect::Ok => "receipt ok".to_owned(),
            Expect::DeadLetter { code } => format!("dead letter {code}"),
        }
    }
}

/// One hostile body, ready to publish.
struct Case {
    name: String,
    body: Vec<u8>,
    routing_key: String,
    headers: Vec<(String, String)>,
    expect: Expect,
    /// Its usable `Header.UUID`, else a fresh UUID: the AMQP
    /// `correlation_id` and `message_id` it is published with, and what its
    /// receipt (and dead letter) must be correlated by.
    correlation: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Every case of the manifest, bodies read or generated.
fn load_cases() -> Vec<Case> {
    let dir = corpus_dir();
    let manifest = std::fs::read(dir.join("cases.json")).expect("tests/corpus/cases.json exists");
    let manifest: Value = serde_json::from_slice(&manifest).expect("cases.json is JSON");
    let entries = manifest.as_array().expect("cases.json is a list");
    let mut cases = Vec::new();
    let mut names = std::collections::HashSet::new();
    for entry in entries {
        let name = entry["name"]
            .as_str()
            .expect("every case has a name")
            .to_owned();
        assert!(names.insert(name.clone()), "case {name} appears twice");
        let body = match (entry.get("body"), entry.get("generate")) {
            (Some(Value::String(file)), None) => std::fs::read(dir.join("bodies").join(file))
                .unwrap_or_else(|error| panic!("{name}: body {file}: {error}")),
            (None, Some(generate)) => {
                generate_body(&dir, generate).unwrap_or_else(|error| panic!("{name}: {error}"))
            }
            _ => panic!("{name}: needs exactly one of \"body\" and \"generate\""),
        };
        let routing_key = entry["routing_key"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: routing_key missing"))
            .to_owned();
        let headers = match entry.get("headers") {
            None => Vec::new(),
            Some(Value::Object(headers)) => headers
                .iter()
                .map(|(key, value)| {
                    let value = value
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: header {key}"));
                    (key.clone(), value.to_owned())
                })
                .collect(),
            Some(_) => panic!("{name}: headers must be an object of strings"),
        };
        let expect =
            Expect::parse(&entry["expect"]).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(
            entry["why"].as_str().is_some_and(|why| !why.is_empty()),
            "{name}: says why"
        );
        let correlation = usable_uuid(&body).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        cases.push(Case {
            name,
            body,
            routing_key,
            headers,
            expect,
            correlation,
        });
    }
    cases
}

/// The body a generator describes (see `tests/corpus/README.md`).
fn generate_body(dir: &Path, generate: &Value) -> Result<Vec<u8>, String> {
    let kind = generate["kind"].as_str().ok_or("generate.kind missing")?;
    let number = |key: &str| {
        generate[key]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(format!("generate.{key} must be a count"))
    };
    let field = || {
        generate["field"]
            .as_str()
            .map(str::to_owned)
            .ok_or("generate.field (a JSON pointer) missing".to_owned())
    };
    let base = || -> Result<Value, String> {
        let file = generate["base"].as_str().ok_or("generate.base missing")?;
        let bytes =
            std::fs::read(dir.join("bodies").join(file)).map_err(|e| format!("{file}: {e}"))?;
        let mut base: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{file} is not JSON: {e}"))?;
        // A body built from a base is its own message: a fresh UUID keeps it
        // apart from the base and every other case built from it.
        set_pointer(
            &mut base,
            "/Header/UUID",
            Value::String(uuid::Uuid::new_v4().to_string()),
        )?;
        match generate.get("set") {
            None => {}
            Some(Value::Object(fields)) => {
                for (pointer, value) in fields {
                    set_pointer(&mut base, pointer, value.clone())?;
                }
            }
            Some(_) => return Err("generate.set must map JSON pointers to values".to_owned()),
        }
        Ok(base)
    };
    match kind {
        "pad" => {
            let total = number("total_bytes")?;
            let mut body = serde_json::to_vec(&base()?).map_err(|e| e.to_string())?;
            if body.len() > total {
                return Err(format!("the base is already {} bytes", body.len()));
            }
            body.resize(total, b' ');
            Ok(body)
        }
        "nest" => {
            let depth = number("depth")?;
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            if generate.get("base").is_none() {
                return Ok(nested.into_bytes());
            }
            const PLACEHOLDER: &str = "__hostile_nest_placeholder__";
            let mut base = base()?;
            set_pointer(&mut base, &field()?, Value::String(PLACEHOLDER.to_owned()))?;
            let text = base.to_string();
            Ok(text
                .replacen(&format!("\"{PLACEHOLDER}\""), &nested, 1)
                .into_bytes())
        }
        "long_field" => {
            let chars = number("chars")?;
            let fill = generate["fill"].as_str().unwrap_or("x");
            let value: String = fill.chars().cycle().take(chars).collect();
            let mut base = base()?;
            set_pointer(&mut base, &field()?, Value::String(value))?;
            Ok(base.to_string().into_bytes())
        }
        "items" => {
            let count = number("count")?;
            let template = generate.get("item").ok_or("generate.item missing")?;
            let items = (0..count)
                .map(|index| numbered(template, index))
                .collect::<Vec<_>>();
            let mut base = base()?;
            set_pointer(&mut base, &field()?, Value::Array(items))?;
            Ok(base.to_string().into_bytes())
        }
        other => Err(format!("unknown generator {other:?}")),
    }
}

/// `template` with `{i}` in its strings replaced by `index`.
fn numbered(template: &Value, index: usize) -> Value {
    match template {
        Value::String(text) => Value::String(text.replace("{i}", &index.to_string())),
        Value::Array(values) => Value::Array(values.iter().map(|v| numbered(v, index)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), numbered(value, index)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Sets the value at a JSON pointer whose parent exists (an object member is
/// added when missing).
fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let (parent, last) = pointer
        .rsplit_once('/')
        .ok_or(format!("{pointer:?} is not a JSON pointer"))?;
    let last = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(values)) => {
            let slot = last
                .parse::<usize>()
                .ok()
                .and_then(|index| values.get_mut(index))
                .ok_or(format!("{pointer}: no such element"))?;
            *slot = value;
            Ok(())
        }
        _ => Err(format!("{pointer}: the parent is not an object or array")),
    }
}

/// Case-insensitive member, first match, `null` as absent (as the worker reads).
fn member<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
        .filter(|value| !value.is_null())
}

/// `Header.UUID`, trimmed, when the body plainly has one the worker can use:
/// JSON (after a BOM), a string, not blank, at most 255 bytes (an AMQP short
/// string), no control character other than TAB/LF/CR. Lenient about everything else
/// (repeated keys): what matters is that receipts and dead letters come back
/// under the id the case was published with.
fn usable_uuid(body: &[u8]) -> Option<String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let root: Value = serde_json::from_slice(body).ok()?;
    let uuid = member(member(&root, "Header")?, "UUID")?.as_str()?;
    let refused = |c: char| c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    if uuid.chars().any(refused) {
        return None;
    }
    let uuid = uuid.trim();
    (!uuid.is_empty() && uuid.len() <= MAX_UUID_BYTES).then(|| uuid.to_owned())
}

/// A message taken from the dead-letter tap.
struct DeadLetter {
    correlation: Option<String>,
    code: Option<String>,
    reason: Option<String>,
    body: Vec<u8>,
}

/// Takes every message waiting in `queue`.
async fn drain(
    channel: &Channel,
    queue: &str,
) -> Vec<eai_transport::lapin::message::BasicGetMessage> {
    let mut taken = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get works")
    {
        taken.push(message);
    }
    taken
}

fn correlation_of(message: &eai_transport::lapin::message::BasicGetMessage) -> Option<String> {
    message
        .delivery
        .properties
        .correlation_id()
        .as_ref()
        .map(|id| id.to_string())
}

/// The receipts and dead letters seen so far.
#[derive(Default)]
struct Seen {
    dead: Vec<DeadLetter>,
    /// Receipts to the side reply queue (cases with headers), by correlation.
    side: HashMap<String, Vec<Vec<u8>>>,
}

/// The queues a run polls besides the shop's: the dead-letter tap and the side reply queue.
struct Listeners {
    dead: (Channel, String),
    side: (Channel, String),
}

impl Listeners {
    async fn poll(&self, seen: &mut Seen) {
        for message in drain(&self.dead.0, &self.dead.1).await {
            seen.dead.push(DeadLetter {
                correlation: correlation_of(&message),
                code: header(&message, "x-eai-code").or_else(|| {
                    // Dead-lettered by the broker (a rejected delivery), not by the worker.
                    header(&message, "x-first-death-reason")
                        .map(|reason| format!("(no x-eai-code; broker: {reason})"))
                }),
                reason: header(&message, "x-eai-reason"),
                body: message.delivery.data,
            });
        }
        for message in drain(&self.side.0, &self.side.1).await {
            if let Some(correlation) = correlation_of(&message) {
                seen.side
                    .entry(correlation)
                    .or_default()
                    .push(message.delivery.data);
            }
        }
    }
}

/// Every receipt for `case`, from the shop's or the side reply queue.
fn receipts_for(seen: &Seen, shop: &HashMap<String, Vec<Vec<u8>>>, case: &Case) -> Vec<Vec<u8>> {
    let id = case.correlation.as_str();
    shop.get(id)
        .into_iter()
        .chain(seen.side.get(id))
        .flatten()
        .cloned()
        .collect()
}

fn details(receipt: &Value) -> Vec<&Value> {
    receipt["Content"]["ProcessingInformation"]["Details"]
        .as_array()
        .map(|details| details.iter().collect())
        .unwrap_or_default()
}

fn status(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Status"]
        .as_str()
        .unwrap_or("?")
}

/// `error [INVALID_FIELD, DETAILS_TRUNCATED] "first message"`, for the table.
fn summarize(receipt: &Value) -> String {
    let mut codes: Vec<&str> = Vec::new();
    for detail in details(receipt) {
        let code = detail["Code"].as_str().unwrap_or("?");
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let first = details(receipt)
        .first()
        .and_then(|detail| detail["Message"].as_str())
        .map(|message| {
            let cut: String = message.chars().take(90).collect();
            if cut.len() < message.len() {
                format!(" {cut:?}…")
            } else {
                format!(" {cut:?}")
            }
        })
        .unwrap_or_default();
    format!("{} [{}]{first}", status(receipt), codes.join(", "))
}

/// What a run observed for one correlation id.
struct Observed {
    receipts: Vec<Vec<u8>>,
    dead: Vec<usize>,
}

/// Checks one case against what was observed; returns the problems and a
/// one-line description of the outcome.
async fn judge(
    app: &TestApp,
    case: &Case,
    observed: &Observed,
    seen: &Seen,
) -> (Vec<String>, String) {
    let mut problems = Vec::new();
    let receipt = observed
        .receipts
        .first()
        .and_then(|body| serde_json::from_slice::<Value>(body).ok());
    let mut outcome = Vec::new();
    for index in &observed.dead {
        let dead = &seen.dead[*index];
        outcome.push(format!(
            "dead letter {}",
            dead.code.as_deref().unwrap_or("(no x-eai-code)")
        ));
    }
    match &receipt {
        Some(receipt) => outcome.push(format!("receipt {}", summarize(receipt))),
        None if observed.receipts.is_empty() => outcome.push("no receipt".to_owned()),
        None => outcome.push("a receipt that is not JSON".to_owned()),
    }
    let outcome = outcome.join(" + ");
    if observed.receipts.windows(2).any(|pair| pair[0] != pair[1]) {
        problems.push(format!("{} different receipts", observed.receipts.len()));
    }
    let Some(receipt) = receipt else {
        problems.push("no receipt on reply_to".to_owned());
        return (problems, outcome);
    };
    if receipt["Content"]["ReceivedMessage"]["UUID"].as_str() != Some(case.correlation.as_str()) {
        problems.push(format!(
            "the receipt answers {} instead of {}",
            receipt["Content"]["ReceivedMessage"]["UUID"], case.correlation
        ));
    }
    let has = |code: &str| {
        details(&receipt)
            .iter()
            .any(|detail| detail["Code"] == code)
    };
    match &case.expect {
        Expect::Ok => {
            if status(&receipt) != "ok" {
                problems.push("expected an ok receipt".to_owned());
            }
        }
        Expect::Receipt {
            code,
            path,
            also,
            max_details,
            max_bytes,
            waited_every_retry,
        } => {
            let found = details(&receipt)
                .into_iter()
                .find(|detail| detail["Code"] == *code.as_str());
            match found {
                None => problems.push(format!("no {code} detail")),
                Some(detail) => {
                    let message = detail["Message"].as_str().unwrap_or_default();
                    if let Some(path) = path.as_deref().filter(|path| !message.contains(path)) {
                        problems.push(format!(
                            "the {code} message {message:?} does not contain {path:?}"
                        ));
                    }
                }
            }
            if status(&receipt) != "error" {
                problems.push("expected an error receipt".to_owned());
            }
            for code in also.iter().filter(|code| !has(code)) {
                problems.push(format!("no {code} detail"));
            }
            if let Some(max) = max_details {
                let listed = details(&receipt).len();
                if listed > *max {
                    problems.push(format!("{listed} details listed, at most {max} expected"));
                }
            }
            if let Some(max) = max_bytes {
                let size = observed.receipts[0].len();
                if size > *max {
                    problems.push(format!(
                        "the receipt is {size} bytes, at most {max} expected"
                    ));
                }
            }
            if *waited_every_retry {
                let waits: Option<i32> =
                    sqlx::query_scalar("SELECT waits FROM inbox_retries WHERE uuid = $1")
                        .bind(&case.correlation)
                        .fetch_optional(app.db.pool())
                        .await
                        .expect("inbox_retries query");
                let expected = app.settings.receiver.reserve_retry_delays.len();
                if waits.and_then(|w| usize::try_from(w).ok()) != Some(expected) {
                    problems.push(format!("waited {waits:?} times, expected {expected}"));
                }
            }
        }
        Expect::DeadLetter { code } => {
            if !has(code) || status(&receipt) != "error" {
                problems.push(format!(
                    "the receipt on reply_to is not an error with {code}"
                ));
            }
            match observed.dead.as_slice() {
                [] => problems.push("not dead-lettered".to_owned()),
                [index] => {
                    let dead = &seen.dead[*index];
                    if dead.code.as_deref() != Some(code.as_str()) {
                        problems.push(format!("dead-lettered with x-eai-code {:?}", dead.code));
                    }
                    if dead.body != case.body {
                        problems.push(format!(
                            "the dead letter's body ({} bytes) is not the body sent ({} bytes)",
                            dead.body.len(),
                            case.body.len()
                        ));
                    }
                }
                more => problems.push(format!("dead-lettered {} times", more.len())),
            }
        }
    }
    if !matches!(case.expect, Expect::DeadLetter { .. }) {
        for index in &observed.dead {
            let dead = &seen.dead[*index];
            problems.push(format!(
                "unexpectedly dead-lettered: {} ({})",
                dead.code.as_deref().unwrap_or("?"),
                dead.reason.as_deref().unwrap_or("no reason")
            ));
        }
    }
    (problems, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_body_gets_its_documented_outcome_and_the_worker_keeps_answering() {
    let started = Instant::now();
    let cases = load_cases();
    let app = spawn_app().await;
    app.import(&stream::bulk_stock()).await;
    let shop = Shop::connect(&app.settings).await;
    let dead = app.tap(&app.topology.dead_letter_exchange, "").await;
    // Cases with AMQP headers go through a publisher of their own (the shop
    // sets none), answered on a private queue.
    let side_channel = app.channel().await;
    let side_queue = declare_private_queue(&side_channel)
        .await
        .expect("side reply queue");
    let side_broker = eai::app::open_broker(&app.settings, None)
        .await
        .expect("side broker");
    let side_publisher = eai::app::publisher_for(&app.settings, &side_broker);
    let listeners = Listeners {
        dead,
        side: (side_channel, side_queue.clone()),
    };
    let loaded = started.elapsed();

    let mut goods: Vec<String> = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        if case.headers.is_empty() {
            shop.publish(&case.body, &case.routing_key, &case.correlation)
                .await;
        } else {
            side_publisher
                .publish(&Outgoing {
                    exchange: &app.topology.inbound_exchange,
                    routing_key: &case.routing_key,
                    body: &case.body,
                    correlation_id: Some(&case.correlation),
                    message_id: Some(&case.correlation),
                    reply_to: Some(&side_queue),
                    headers: case
                        .headers
                        .iter()
                        .map(|(key, value)| (key.as_str(), value.clone()))
                        .collect(),
                    ..Outgoing::default()
                })
                .await
                .unwrap_or_else(|error| panic!("{}: publishing failed: {error}", case.name));
        }
        let good = stream::reservation(&format!("hostile-good-{index}"), stream::ITEM, 1);
        let uuid = good["Header"]["UUID"].as_str().expect("UUID").to_owned();
        shop.publish(good.to_string().as_bytes(), "ItemReserve", &uuid)
            .await;
        goods.push(uuid);
    }
    let published = started.elapsed();

    let mut seen = Seen::default();
    let deadline = Instant::now() + OUTCOMES_WITHIN;
    loop {
        listeners.poll(&mut seen).await;
        let receipts = shop.receipts();
        let dead_for = |correlation: &str| {
            seen.dead
                .iter()
                .any(|dead| dead.correlation.as_deref() == Some(correlation))
        };
        let waiting = cases
            .iter()
            .filter(|case| {
                let answered = !receipts_for(&seen, &receipts, case).is_empty();
                let dead_lettered = !matches!(case.expect, Expect::DeadLetter { .. })
                    || dead_for(&case.correlation);
                !(answered && dead_lettered)
            })
            .count()
            + goods
                .iter()
                .filter(|uuid| !receipts.contains_key(*uuid))
                .count();
        if waiting == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(SETTLE).await;
    listeners.poll(&mut seen).await;
    let receipts = shop.receipts();
    let answered = started.elapsed();

    let mut mismatches: Vec<String> = Vec::new();
    let mut table = String::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &cases {
        let observed = Observed {
            receipts: receipts_for(&seen, &receipts, case),
            dead: seen
                .dead
                .iter()
                .enumerate()
                .filter(|(_, dead)| dead.correlation.as_deref() == Some(case.correlation.as_str()))
                .map(|(index, _)| index)
                .collect(),
        };
        let (problems, outcome) = judge(&app, case, &observed, &seen).await;
        *tally
            .entry(match case.expect {
                Expect::Receipt { .. } => "error receipt",
                Expect::Ok => "ok receipt",
                Expect::DeadLetter { .. } => "dead letter",
            })
            .or_default() += 1;
        let verdict = if problems.is_empty() {
            "ok"
        } else {
            "MISMATCH"
        };
        let _ = writeln!(
            table,
            "{verdict:<8} {:<32} {:<24} {:<28} {outcome}",
            case.name,
            case.routing_key,
            case.expect.describe()
        );
        if !problems.is_empty() {
            mismatches.push(format!(
                "{} (expected {}, observed {outcome}): {}",
                case.name,
                case.expect.describe(),
                problems.join("; ")
            ));
        }
    }

    // Dead letters of no case (a good envelope's, an unknown correlation); a
    // case's own are judged with the case.
    for dead in &seen.dead {
        let known = cases
            .iter()
            .any(|case| dead.correlation.as_deref() == Some(case.correlation.as_str()));
        if !known {
            mismatches.push(format!(
                "an unexpected dead letter {:?} correlated {:?}: {}",
                dead.code,
                dead.correlation,
                dead.reason.as_deref().unwrap_or("no reason")
            ));
        }
    }
    // Every good envelope answered ok despite the hostile one before it.
    let mut goods_ok = 0;
    for (index, uuid) in goods.iter().enumerate() {
        let receipt = receipts
            .get(uuid)
            .and_then(|copies| copies.first())
            .and_then(|body| serde_json::from_slice::<Value>(body).ok());
        match receipt {
            Some(receipt) if status(&receipt) == "ok" => goods_ok += 1,
            Some(receipt) => mismatches.push(format!(
                "the good envelope after {} was answered {}",
                cases[index].name,
                summarize(&receipt)
            )),
            None => mismatches.push(format!(
                "the good envelope after {} got no receipt",
                cases[index].name
            )),
        }
    }
    // Every receipt is JSON and within the envelope limit.
    let mut largest = 0;
    let all = receipts.values().chain(seen.side.values()).flatten();
    for body in all {
        largest = largest.max(body.len());
        if body.len() > MAX_ENVELOPE_BYTES {
            mismatches.push(format!("a receipt of {} bytes exceeds 30 MiB", body.len()));
        }
        if serde_json::from_slice::<Value>(body).is_err() {
            mismatches.push(format!(
                "a receipt is not JSON: {:?}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
    }
    let (ready, ready_body) = app.http_get("/readyz").await;
    if ready != 200 {
        mismatches.push(format!("/readyz answered {ready}: {ready_body}"));
    }

    eprintln!(
        "\nhostile corpus: {} cases ({}), {goods_ok}/{} good envelopes ok, {} dead letters, largest receipt {largest} bytes",
        cases.len(),
        tally
            .iter()
            .map(|(kind, count)| format!("{count} {kind}"))
            .collect::<Vec<_>>()
            .join(", "),
        goods.len(),
        seen.dead.len()
    );
    eprintln!(
        "{:<8} {:<32} {:<24} {:<28} observed\n{table}",
        "verdict", "case", "routing key", "expected"
    );
    eprintln!(
        "set up {:.1?}, published {:.1?}, answered {:.1?}, checked {:.1?}",
        loaded,
        published - loaded,
        answered - published,
        started.elapsed() - answered
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );
}
