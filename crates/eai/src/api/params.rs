//! Query parameters read strictly: an unknown or repeated parameter, or a
//! value of the wrong form, is a 400 naming it — never silently ignored.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use eai_store::page::{Cursor, MAX_LIMIT};

use super::error::ApiError;

/// The longest parameter value taken (a UUID, a code, a cursor).
const MAX_VALUE_CHARS: usize = 512;

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 50;

/// A request's query parameters.
pub struct Params(HashMap<String, String>);

impl Params {
    /// Takes `pairs`, refusing names not in `allowed` and repeated names.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_parameter(
                    &name,
                    &format!("one of the parameters {}", allowed.join(", ")),
                    &value,
                ));
            }
            if value.contains('\0') || value.chars().count() > MAX_VALUE_CHARS {
                return Err(ApiError::bad_parameter(
                    &name,
                    &format!("text of at most {MAX_VALUE_CHARS} characters without NUL"),
                    &value
                        .replace('\0', "\\0")
                        .chars()
                        .take(40)
                        .collect::<String>(),
                ));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad_parameter(&name, "one value", "several"));
            }
        }
        Ok(Params(map))
    }

    /// A text parameter; empty counts as absent.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|value| !value.is_empty()).cloned()
    }

    /// A parameter parsed by its type, whose error says what is expected.
    pub fn parse<T: FromStr<Err = String>>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.text(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|expected: String| ApiError::bad_parameter(name, &expected, &value))
            })
            .transpose()
    }

    /// A time: RFC 3339 (`2026-12-03T10:00:00Z`) or a date (`2026-12-03`, midnight UTC).
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name)
            .map(|value| {
                parse_time(&value).ok_or_else(|| {
                    ApiError::bad_parameter(name, "an RFC 3339 time or a YYYY-MM-DD date", &value)
                })
            })
            .transpose()
    }

    /// `limit`: 1 to 500, default 50.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.text("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(value) => value
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::bad_parameter(
                        "limit",
                        &format!("an integer from 1 to {MAX_LIMIT}"),
                        &value,
                    )
                }),
        }
    }

    /// `cursor`: the `next_cursor` of a previous page.
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.text("cursor")
            .map(|value| {
                value.parse().map_err(|_| {
                    ApiError::bad_parameter("cursor", "the next_cursor of a previous page", &value)
                })
            })
            .transpose()
    }
}

/// RFC 3339, or a date meaning its midnight UTC; years 1 to 9999.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some(date.and_hms_opt(0, 0, 0)?.and_utc())
        })
        .filter(|time| (1..=9999).contains(&time.year()))
}
