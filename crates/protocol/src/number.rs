//! Exact decimals from the many ways senders write money and quantities.
//!
//! Traffic carries amounts as JSON numbers (`18.6`) and as strings
//! (`"885"`, `"350,20"`), with `.` or `,` as the decimal separator and never a
//! thousands separator. Amounts must add up to the cent, so they are parsed into
//! [`Decimal`] straight from their text: the workspace enables serde_json's
//! `arbitrary_precision`, so a JSON number keeps the digits the sender wrote and
//! never passes through `f64`. A number in exponent form (`1.5e2`) is written
//! out in plain form (`150`) and read like one, so it too is exact or refused,
//! never rounded.

use std::borrow::Cow;
use std::num::IntErrorKind;

use crate::json::Json;
use rust_decimal::Decimal;

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
/// JSON numbers are read from their original text. Exponent forms (`1e3`) are
/// valid JSON, so they are accepted too, even if no sender is known to use
/// them, but only when exact: `1.5e2` is 150, while a form with more digits
/// than a [`Decimal`] holds (`0.1000000000000000055511151231257827e0`,
/// `1e400`, `1e-400`) is [`NumberError::OutOfRange`], exactly as its plain
/// form is.
pub fn parse_decimal(value: &Json<'_>) -> Result<Option<Decimal>, NumberError> {
    match value {
        Json::Null => Ok(None),
        Json::String(text) if text.trim().is_empty() => Ok(None),
        Json::String(text) => parse_decimal_str(text).map(Some),
        Json::Number(number) => parse_json_number(number).map(Some),
        Json::Bool(_) => Err(NumberError::NotANumber { kind: "boolean" }),
        Json::Array(_) => Err(NumberError::NotANumber { kind: "array" }),
        Json::Object(_) => Err(NumberError::NotANumber { kind: "object" }),
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

/// Most digits the integer part of a [`Decimal`] has: [`Decimal::MAX`] is
/// 79228162514264337593543950335.
const MAX_INTEGER_DIGITS: i64 = 29;

/// A JSON number's text (already validated by serde_json) to an exact decimal.
/// More digits than a [`Decimal`] holds is an error, not a silent rounding: an
/// exponent form is first written out in plain form ([`plain_form`]), so
/// `0.1000000000000000055511151231257827e0` is refused like
/// `0.1000000000000000055511151231257827`.
fn parse_json_number(text: &str) -> Result<Decimal, NumberError> {
    let out_of_range = || NumberError::OutOfRange {
        text: text.to_owned(),
    };
    let plain = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            Cow::Owned(plain_form(mantissa, exponent).ok_or_else(out_of_range)?)
        }
        None => Cow::Borrowed(text),
    };
    Decimal::from_str_exact(&plain).map_err(|_| out_of_range())
}

/// The plain decimal that `mantissa` × 10^`exponent` is, written with the
/// mantissa's digits: (`1.5`, `2`) is `150`, (`15`, `-1`) is `1.5`, (`1.50`,
/// `1`) is `15.0`, (`-0`, `0`) is `-0`.
///
/// `None` when that would take more integer digits than [`MAX_INTEGER_DIGITS`]
/// or more fraction digits than [`Decimal::MAX_SCALE`] (`1e400`, `1e-400`):
/// no [`Decimal`] holds it, and refusing before writing it out keeps
/// `1e-999999999` from allocating a gigabyte of zeros. A zero mantissa with a
/// positive exponent is zero however large the exponent (`0e400` is `0`); a
/// negative one gives it fraction digits like any other (`0e-400` is refused,
/// as its plain form `0.000…` with 400 zeros is).
fn plain_form(mantissa: &str, exponent: &str) -> Option<String> {
    let shift = match exponent.parse::<i64>() {
        Ok(shift) => shift,
        Err(error) => match error.kind() {
            IntErrorKind::PosOverflow => i64::MAX,
            IntErrorKind::NegOverflow => i64::MIN,
            _ => return None,
        },
    };
    let (sign, unsigned) = match mantissa.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", mantissa),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = [integer, fraction].concat();
    let length = i64::try_from(digits.len()).ok()?;
    // Where the decimal point falls in `digits` once shifted.
    let point = i64::try_from(integer.len()).ok()?.saturating_add(shift);
    let fraction_digits = length.saturating_sub(point).max(0);
    let (head, tail) = digits.split_at_checked(usize::try_from(point.clamp(0, length)).ok()?)?;
    let head = head.trim_start_matches('0');
    let trailing_zeros = if head.is_empty() {
        0
    } else {
        point.saturating_sub(length).max(0)
    };
    let integer_digits = i64::try_from(head.len())
        .ok()?
        .saturating_add(trailing_zeros);
    if integer_digits > MAX_INTEGER_DIGITS || fraction_digits > i64::from(Decimal::MAX_SCALE) {
        return None;
    }
    let zeros = |count: i64| "0".repeat(usize::try_from(count).unwrap_or_default());
    let mut plain = String::from(sign);
    if head.is_empty() {
        plain.push('0');
    } else {
        plain.push_str(head);
        plain.push_str(&zeros(trailing_zeros));
    }
    if fraction_digits > 0 {
        plain.push('.');
        plain.push_str(&zeros(point.saturating_neg().max(0)));
        plain.push_str(tail);
    }
    Some(plain)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use serde_json::{json, Value};

    use super::*;

    /// [`super::parse_decimal`] of a `serde_json::Value`.
    fn parse_decimal(value: &Value) -> Result<Option<Decimal>, NumberError> {
        super::parse_decimal(&Json::from(value))
    }

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

    /// `parse_decimal` of the JSON number `text`, as its decimal text.
    fn json_number(text: &str) -> Result<Option<String>, NumberError> {
        let value: Value = serde_json::from_str(text).expect("valid JSON");
        parse_decimal(&value).map(|number| number.map(|number| number.to_string()))
    }

    /// The error `parse_decimal` gives the JSON number `text` (as serde_json
    /// hands it over: exponents are spelled `e+28`, `e-1`).
    fn out_of_range(text: &str) -> Result<Option<String>, NumberError> {
        let value: Value = serde_json::from_str(text).expect("valid JSON");
        Err(NumberError::OutOfRange {
            text: value.to_string(),
        })
    }

    #[test]
    fn json_exponent_numbers_are_their_exact_plain_value() {
        assert_eq!(json_number("1.5e2"), Ok(Some("150".into())));
        assert_eq!(json_number("15e-1"), Ok(Some("1.5".into())));
        assert_eq!(json_number("1e3"), Ok(Some("1000".into())));
        assert_eq!(json_number("2.5E-1"), Ok(Some("0.25".into())));
        assert_eq!(json_number("-1.25e1"), Ok(Some("-12.5".into())));
        assert_eq!(
            json_number("1.50e1"),
            Ok(Some("15.0".into())),
            "digits as written"
        );
        assert_eq!(json_number("0.015e2"), Ok(Some("1.5".into())));
        assert_eq!(
            json_number("1E+28"),
            Ok(Some(format!("1{}", "0".repeat(28))))
        );
        assert_eq!(
            json_number("7.9228162514264337593543950335e28"),
            Ok(Some(Decimal::MAX.to_string()))
        );
        assert_eq!(
            json_number("1e-28"),
            Ok(Some(format!("0.{}1", "0".repeat(27))))
        );
        assert_eq!(json_number("1e0001"), Ok(Some("10".into())));
    }

    #[test]
    fn negative_zero_is_zero_in_either_form() {
        assert_eq!(json_number("-0e0"), Ok(Some("0".into())));
        assert_eq!(json_number("-0e0"), json_number("-0"));
        assert_eq!(json_number("0e400"), Ok(Some("0".into())));
        assert_eq!(json_number("0.00e1"), Ok(Some("0.0".into())));
    }

    #[test]
    fn exponent_numbers_that_a_decimal_cannot_hold_are_refused_not_rounded() {
        let precise = "0.1000000000000000055511151231257827";
        assert_eq!(json_number(precise), out_of_range(precise));
        let exponent = format!("{precise}e0");
        assert_eq!(json_number(&exponent), out_of_range(&exponent));
        for text in [
            "1e400",
            "1e-400",
            "1e29",
            "1e-29",
            "7.9228162514264337593543950336e28",
            "1.00000000000000000000000000000e0",
            "0e-400",
            "1e-999999999",
            "1e999999999",
            "1e99999999999999999999999999",
            "1e-99999999999999999999999999",
        ] {
            assert_eq!(json_number(text), out_of_range(text), "{text}");
        }
    }

    #[test]
    fn huge_exponents_are_refused_without_writing_them_out() {
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(json_number("1e-999999999").is_err());
            assert!(json_number("9e999999999").is_err());
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
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
    }
}
