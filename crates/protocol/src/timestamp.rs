//! The date and time forms seen in traffic, kept as the sender wrote them.
//!
//! The same sender mixes forms inside one envelope (seed 001: RFC 2822 in
//! `Header.GeneratedOn`, RFC 3339 with offset in `IssueDateDocument`, a local
//! date-time in `DateOfPayment`, a bare date in 10.4.x). A zone-less value is
//! not silently given a zone: [`Timestamp`] keeps which form arrived, so the
//! business rules decide how to read it.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Local date-time layouts, with `T` or a space; `%.f` also matches no fraction.
const LOCAL_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];

/// A date/time in one of the accepted forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    /// An instant with its offset: RFC 3339 (`2020-04-23T17:01:06.625349+00:00`,
    /// `...Z`) or RFC 2822 (`Thu, 23 Apr 2020 17:02:20 GMT`).
    Zoned(DateTime<FixedOffset>),
    /// A wall-clock date-time with no zone (`2022-03-30T00:00:00`, optional fraction).
    Local(NaiveDateTime),
    /// A calendar date (`2021-06-18`).
    Date(NaiveDate),
}

/// The text matched none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a date/time (RFC 3339, YYYY-MM-DDTHH:MM:SS, YYYY-MM-DD or RFC 2822)")]
pub struct TimestampError {
    /// The offending text, trimmed.
    pub text: String,
}

impl Timestamp {
    /// Parses one of the forms, trying the most specific first. Empty text is an
    /// error here: "absent" is decided by [`crate::Node::timestamp`].
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let text = text.trim();
        if let Ok(zoned) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp::Zoned(zoned));
        }
        if let Some(local) = LOCAL_FORMATS
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        {
            return Ok(Timestamp::Local(local));
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Timestamp::Date(date));
        }
        DateTime::parse_from_rfc2822(text)
            .map(Timestamp::Zoned)
            .map_err(|_| TimestampError {
                text: text.to_owned(),
            })
    }

    /// The calendar date as the sender wrote it (zoned: in its own offset), which
    /// is what closing-date and expiry rules compare against.
    pub fn date(&self) -> NaiveDate {
        match self {
            Timestamp::Zoned(zoned) => zoned.date_naive(),
            Timestamp::Local(local) => local.date(),
            Timestamp::Date(date) => *date,
        }
    }

    /// An instant for storage and ordering, reading zone-less forms as UTC
    /// (a bare date at 00:00).
    pub fn to_utc(&self) -> DateTime<Utc> {
        match self {
            Timestamp::Zoned(zoned) => zoned.with_timezone(&Utc),
            Timestamp::Local(local) => local.and_utc(),
            Timestamp::Date(date) => date.and_time(NaiveTime::MIN).and_utc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Timelike};

    use super::*;

    fn parse(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("accepted form")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn rfc3339_with_offset_keeps_offset_and_microseconds() {
        let ts = parse("2020-04-23T17:01:06.625349+00:00");
        let Timestamp::Zoned(zoned) = ts else {
            panic!("expected zoned, got {ts:?}");
        };
        assert_eq!(zoned.offset().local_minus_utc(), 0);
        assert_eq!(zoned.nanosecond(), 625_349_000);
        assert_eq!(ts.to_utc().to_rfc3339(), "2020-04-23T17:01:06.625349+00:00");
    }

    #[test]
    fn rfc3339_with_z_and_with_negative_offset() {
        assert_eq!(parse("2022-03-30T17:00:39Z").to_utc().hour(), 17);
        let brazil = parse("2022-03-30T23:30:00-03:00");
        assert_eq!(
            brazil.date(),
            date(2022, 3, 30),
            "date as the sender wrote it"
        );
        assert_eq!(brazil.to_utc().date_naive(), date(2022, 3, 31));
    }

    #[test]
    fn local_date_time_without_zone() {
        let ts = parse("2022-03-30T00:00:00");
        assert_eq!(
            ts,
            Timestamp::Local(date(2022, 3, 30).and_time(NaiveTime::MIN))
        );
        assert_eq!(ts.to_utc().to_rfc3339(), "2022-03-30T00:00:00+00:00");
    }

    #[test]
    fn local_date_time_with_fraction_or_space_separator() {
        let Timestamp::Local(with_fraction) = parse("2022-03-30T00:00:00.123") else {
            panic!("expected local");
        };
        assert_eq!(with_fraction.nanosecond(), 123_000_000);
        assert!(matches!(parse("2020-11-26 13:45:02"), Timestamp::Local(_)));
    }

    #[test]
    fn bare_date() {
        let ts = parse("2021-06-18");
        assert_eq!(ts, Timestamp::Date(date(2021, 6, 18)));
        assert_eq!(ts.date(), date(2021, 6, 18));
        assert_eq!(ts.to_utc().to_rfc3339(), "2021-06-18T00:00:00+00:00");
    }

    #[test]
    fn rfc2822_with_gmt() {
        let ts = parse("Thu, 23 Apr 2020 17:02:20 GMT");
        assert!(matches!(ts, Timestamp::Zoned(_)));
        assert_eq!(ts.to_utc().to_rfc3339(), "2020-04-23T17:02:20+00:00");
        assert_eq!(ts.date().day(), 23);
    }

    #[test]
    fn other_text_is_an_error_naming_it() {
        for bad in [
            "",
            "30/03/2022",
            "2022-13-01",
            "2022-02-30",
            "yesterday",
            "2022-03-30T25:00:00",
        ] {
            let error = Timestamp::parse(bad).expect_err(bad);
            assert_eq!(error.text, bad);
        }
    }
}
