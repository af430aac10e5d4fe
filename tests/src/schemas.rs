//! Every envelope the worker emits, checked against its official TOTVS
//! schema (copies in `tests/schemas/`, read as its README says): the events it
//! sends, the connection test, and the `ReturnContent` of its receipts.
//!
//! [`check`] names the schema an envelope answers to and returns what is
//! wrong with it; [`TestApp`](crate::TestApp) runs it on every message its
//! worker wrote when the test ends, so the whole end-to-end suite is checked.

use std::sync::OnceLock;

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

const STOCK_LEVEL: &str = include_str!("../schemas/StockLevel_3_003.json");
const TRACEABILITY: &str = include_str!("../schemas/DocumentTraceabilityOrder_1_001.json");
const ENVIRONMENT_TEST: &str = include_str!("../schemas/EAIEnvironmentTest_1_000.json");
const INTERNAL_IDS: &str = include_str!("../schemas/ListOfInternalId_1_000.json");

/// The part of an envelope a schema checks, and the schema's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Checked {
    /// A pushed StockLevel: `Content` against `ReturnContentType`.
    StockLevelEvent,
    /// A DocumentTraceabilityOrder: `Content` against `ReturnContentType`.
    TraceabilityEvent,
    /// An EAIEnvironmentTest: `Content` against `BusinessContentType`.
    EnvironmentTest,
    /// A receipt's `ReturnContent.ListOfInternalId` against `ListOfInternalIdType`.
    ReceiptInternalIds,
    /// A StockLevel request's receipt: `ReturnContent` against `ReturnContentType`.
    StockLevelReceipt,
    /// A receipt with nothing to return: its header and processing only.
    ReceiptWithoutReturn,
}

impl Checked {
    /// What schema checks `envelope`, or `None` for an envelope of a kind
    /// the worker does not emit.
    pub fn of(envelope: &Value) -> Option<Checked> {
        let header = &envelope["Header"];
        let transaction = header["Transaction"].as_str()?;
        match header["Type"].as_str()? {
            "BusinessMessage" => match transaction {
                "StockLevel" => Some(Checked::StockLevelEvent),
                "DocumentTraceabilityOrder" => Some(Checked::TraceabilityEvent),
                "EAIEnvironmentTest" => Some(Checked::EnvironmentTest),
                _ => None,
            },
            "ReceiptMessage" => {
                let returned = envelope["Content"].get("ReturnContent");
                Some(match returned {
                    None => Checked::ReceiptWithoutReturn,
                    Some(_) if transaction.eq_ignore_ascii_case("StockLevel") => {
                        Checked::StockLevelReceipt
                    }
                    Some(_) => Checked::ReceiptInternalIds,
                })
            }
            _ => None,
        }
    }
}

/// Compiled once per test binary.
struct Validators {
    stock_level: Validator,
    traceability: Validator,
    environment_test: Validator,
    internal_ids: Validator,
}

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(|| Validators {
        stock_level: compile(STOCK_LEVEL, "ReturnContentType"),
        traceability: compile(TRACEABILITY, "ReturnContentType"),
        environment_test: compile(ENVIRONMENT_TEST, "BusinessContentType"),
        internal_ids: compile(INTERNAL_IDS, "ListOfInternalIdType"),
    })
}

/// The problems of `envelope` against its schema (none when it is valid), as
/// `instance path: message` lines; an envelope no schema covers is a problem.
pub fn check(envelope: &Value) -> Result<Checked, Vec<String>> {
    let Some(checked) = Checked::of(envelope) else {
        return Err(vec![format!(
            "no schema for a {} {}",
            envelope["Header"]["Type"], envelope["Header"]["Transaction"]
        )]);
    };
    let validators = validators();
    let content = &envelope["Content"];
    let (validator, instance) = match checked {
        Checked::StockLevelEvent => (&validators.stock_level, unwrapped(content)),
        Checked::TraceabilityEvent => (&validators.traceability, unwrapped(content)),
        Checked::EnvironmentTest => (&validators.environment_test, content.clone()),
        Checked::StockLevelReceipt => (
            &validators.stock_level,
            unwrapped(&content["ReturnContent"]),
        ),
        Checked::ReceiptInternalIds => (
            &validators.internal_ids,
            lower_keys(&content["ReturnContent"]["ListOfInternalId"]),
        ),
        Checked::ReceiptWithoutReturn => return Ok(checked),
    };
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|error| {
            let path = error.instance_path().to_string();
            format!("{}: {error}", if path.is_empty() { "/" } else { &path })
        })
        .collect();
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems)
    }
}

/// A validator for `definition` of a schema file, the file read as the
/// README of `tests/schemas/` says.
fn compile(text: &str, definition: &str) -> Validator {
    let file: Value = serde_json::from_str(text).expect("the schema copies are JSON");
    let definitions = file["definitions"].clone();
    let mut read = Map::new();
    for (name, schema) in definitions.as_object().expect("definitions") {
        read.insert(name.clone(), standard(schema, &definitions));
    }
    let root = serde_json::json!({
        "$ref": format!("#/definitions/{definition}"),
        "definitions": Value::Object(read),
    });
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|error| panic!("{definition} compiles: {error}"))
}

/// `schema` as plain JSON Schema: notes dropped, the non-standard types
/// mapped, a list's `items` read as its element, and no undeclared keys.
fn standard(schema: &Value, definitions: &Value) -> Value {
    match schema {
        Value::Object(object) => {
            let mut read = Map::new();
            for (key, value) in object {
                match key.as_str() {
                    "x-totvs" | "description" => {}
                    "type" => match value.as_str() {
                        Some(kind) if kind.eq_ignore_ascii_case("decimal") => {
                            read.insert(key.clone(), Value::from("number"));
                        }
                        Some(kind) if kind.eq_ignore_ascii_case("dateTime") => {
                            read.insert(key.clone(), Value::from("string"));
                            read.insert("format".into(), Value::from("date-time"));
                        }
                        _ => {
                            read.insert(key.clone(), value.clone());
                        }
                    },
                    "items" => {
                        read.insert(
                            key.clone(),
                            standard(element(value, definitions), definitions),
                        );
                    }
                    _ => {
                        read.insert(key.clone(), standard(value, definitions));
                    }
                }
            }
            if read.contains_key("properties") {
                read.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(read)
        }
        Value::Array(values) => Value::Array(
            values
                .iter()
                .map(|value| standard(value, definitions))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The element schema of a list's `items`: a reference to a list type is
/// read as that type's own `items`.
fn element<'a>(items: &'a Value, definitions: &'a Value) -> &'a Value {
    let listed = items["$ref"]
        .as_str()
        .and_then(|reference| reference.strip_prefix("#/definitions/"))
        .map(|name| &definitions[name])
        .filter(|definition| definition["type"] == "array");
    match listed {
        Some(list) => &list["items"],
        None => items,
    }
}

/// `value` with every wrapped list (`"ListOfX": {"X": [...]}`) made a plain array.
fn unwrapped(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let plain = match value {
                        Value::Object(wrapper)
                            if key.starts_with("ListOf") && wrapper.len() == 1 =>
                        {
                            match wrapper.values().next() {
                                Some(list @ Value::Array(_)) => list,
                                _ => value,
                            }
                        }
                        _ => value,
                    };
                    (key.clone(), unwrapped(plain))
                })
                .collect(),
        ),
        Value::Array(values) => Value::Array(values.iter().map(unwrapped).collect()),
        other => other.clone(),
    }
}

/// `value` with the keys of its objects in lower case (`ListOfInternalId`
/// entries are `Name/Origin/Destination` in traffic, lower case in the schema).
fn lower_keys(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (key.to_lowercase(), lower_keys(value)))
                .collect(),
        ),
        Value::Array(values) => Value::Array(values.iter().map(lower_keys).collect()),
        other => other.clone(),
    }
}
