//! Exact decimals from the many ways senders write money and quantities.
//!
//! Traffic carries amounts as JSON numbers (`18.6`) and as strings
//! (`"885"`, `"350,20"`), with `.` or `,` as the decimal separator and never a
//! thousands separator. Amounts must add up to the cent, so they are parsed into
//! [`Decimal`] straight from their text: the workspace enables serde_json's
//! `arbitrary_precision`, so a JSON number keeps the digits the sender wrote and
//! never passes through `f64`.

use rust_decimal::Decimal;
use serde_json::Value;

/// Why a value is not an exact decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// A string that is empty once trimmed, where a number is required.
    #[error("empty text where a number was expected")]
    Empty,
    /// Not digits with at most one `.` or `,` (e.g. `"1.234,5"`, `"1 234"`, `"12a"`).
    #[error(
        "{text:?} is not a number with '.' or ',' as decimal separator and no thousands separator"
    )]
    Malformed {
        /// The offending text, trimmed.
        text: String,
    },
    /// Well-formed, but beyond what a [`Decimal`] holds exactly (28 digits).
    #[error("{text:?} is out of the exact decimal range")]
    OutOfRange {
        /// The offending text, trimmed.
        text: String,
    },
    /// A JSON value that is neither a number nor a string (bool, array, object).
    #[error("a JSON {kind} is not a number")]
    NotANumber {
        /// The JSON type received.
        kind: &'static str,
    },
}

/// Exact decimal from a JSON value: `Ok(None)` for `null` and `""` (senders use
/// both for "not informed"), the value for JSON numbers and numeric strings.
///
/// JSON numbers are read from their original text; exponent forms (`1e3`) are
/// accepted because they are valid JSON, even if no sender is known to use them.
pub fn parse_decimal(value: &Value) -> Result<Option<Decimal>, NumberError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => parse_decimal_str(text).map(Some),
        Value::Number(number) => parse_json_number(&number.to_string()).map(Some),
        Value::Bool(_) => Err(NumberError::NotANumber { kind: "boolean" }),
        Value::Array(_) => Err(NumberError::NotANumber { kind: "array" }),
        Value::Object(_) => Err(NumberError::NotANumber { kind: "object" }),
    }
}

/// Exact decimal from text: trimmed, an optional sign, then digits with at most one
/// separator (`.` or `,`) that has digits on both sides. `"350,20"` is 350.20 and
/// `"1.234"` is 1.234 — since senders never use thousands separators, a lone
/// separator is always the decimal one, and anything with two separators
/// (`"1.234,5"`, `"1,234.5"`) is refused rather than guessed.
pub fn parse_decimal_str(text: &str) -> Result<Decimal, NumberError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(NumberError::Empty);
    }
    let malformed = || NumberError::Malformed {
        text: trimmed.to_owned(),
    };
    let unsigned = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    let (integer, fraction) = match unsigned.split_once(['.', ',']) {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer) || !fraction.is_none_or(all_digits) {
        return Err(malformed());
    }
    let negative = trimmed.starts_with('-');
    let canonical = match fraction {
        Some(fraction) => format!("{}{integer}.{fraction}", if negative { "-" } else { "" }),
        None => format!("{}{integer}", if negative { "-" } else { "" }),
    };
    Decimal::from_str_exact(&canonical).map_err(|_| NumberError::OutOfRange {
        text: trimmed.to_owned(),
    })
}

/// A JSON number's text (already validated by serde_json) to an exact decimal.
/// More digits than a [`Decimal`] holds is an error, not a silent rounding.
fn parse_json_number(text: &str) -> Result<Decimal, NumberError> {
    let out_of_range = |_| NumberError::OutOfRange {
        text: text.to_owned(),
    };
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).map_err(out_of_range)
    } else {
        Decimal::from_str_exact(text).map_err(out_of_range)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use serde_json::json;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("valid decimal")
    }

    #[test]
    fn comma_decimal_string_is_exact() {
        assert_eq!(parse_decimal_str("350,20"), Ok(dec("350.20")));
        assert_eq!(
            parse_decimal_str("350,20").map(|d| d.to_string()),
            Ok("350.20".into())
        );
    }

    #[test]
    fn dot_decimal_and_integer_strings() {
        assert_eq!(parse_decimal_str("18.6"), Ok(dec("18.6")));
        assert_eq!(parse_decimal_str(" 885 "), Ok(dec("885")));
        assert_eq!(parse_decimal_str("-5"), Ok(dec("-5")));
        assert_eq!(parse_decimal_str("+0,5"), Ok(dec("0.5")));
    }

    #[test]
    fn lone_separator_is_the_decimal_one_never_thousands() {
        assert_eq!(parse_decimal_str("1.234"), Ok(dec("1.234")));
        assert_eq!(parse_decimal_str("1,234"), Ok(dec("1.234")));
    }

    #[test]
    fn thousands_separators_and_junk_are_rejected() {
        for bad in [
            "1.234,5", "1,234.5", "1 234", "12a", "1.2.3", ",5", "5,", "-", "--1", "1_000", "0x10",
            "1e3",
        ] {
            assert!(
                matches!(parse_decimal_str(bad), Err(NumberError::Malformed { .. })),
                "{bad} should be malformed"
            );
        }
        assert_eq!(parse_decimal_str("  "), Err(NumberError::Empty));
    }

    #[test]
    fn json_numbers_keep_their_exact_text() {
        assert_eq!(parse_decimal(&json!(18.6)), Ok(Some(dec("18.6"))));
        let value: Value = serde_json::from_str("41.92").expect("valid JSON");
        assert_eq!(parse_decimal(&value), Ok(Some(dec("41.92"))));
        let precise: Value =
            serde_json::from_str("0.1000000000000000055511151231257827").expect("valid JSON");
        assert!(matches!(
            parse_decimal(&precise),
            Err(NumberError::OutOfRange { .. })
        ));
        let value: Value = serde_json::from_str("1234567890.123456789").expect("valid JSON");
        assert_eq!(parse_decimal(&value), Ok(Some(dec("1234567890.123456789"))));
    }

    #[test]
    fn json_exponent_numbers_are_accepted() {
        let value: Value = serde_json::from_str("1e3").expect("valid JSON");
        assert_eq!(parse_decimal(&value), Ok(Some(dec("1000"))));
        let value: Value = serde_json::from_str("2.5E-1").expect("valid JSON");
        assert_eq!(parse_decimal(&value), Ok(Some(dec("0.25"))));
    }

    #[test]
    fn null_and_empty_string_are_absent_other_types_are_errors() {
        assert_eq!(parse_decimal(&Value::Null), Ok(None));
        assert_eq!(parse_decimal(&json!("  ")), Ok(None));
        assert_eq!(parse_decimal(&json!("350,20")), Ok(Some(dec("350.20"))));
        assert_eq!(
            parse_decimal(&json!(true)),
            Err(NumberError::NotANumber { kind: "boolean" })
        );
        assert!(matches!(
            parse_decimal(&json!([1])),
            Err(NumberError::NotANumber { .. })
        ));
    }

    #[test]
    fn numbers_beyond_decimal_range_are_errors_not_panics() {
        let huge = "9".repeat(40);
        assert!(matches!(
            parse_decimal_str(&huge),
            Err(NumberError::OutOfRange { .. })
        ));
        let value: Value = serde_json::from_str(&huge).expect("valid JSON");
        assert!(matches!(
            parse_decimal(&value),
            Err(NumberError::OutOfRange { .. })
        ));
        let value: Value = serde_json::from_str("1e400").expect("valid JSON");
        assert!(matches!(
            parse_decimal(&value),
            Err(NumberError::OutOfRange { .. })
        ));
    }
}
