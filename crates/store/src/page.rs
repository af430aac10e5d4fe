//! Keyset paging for the operator lists: every list is ordered newest first
//! by `(time, key, id)`, and a page ends with an opaque cursor naming its
//! last row. The next page starts strictly after it, so rows inserted
//! meanwhile (all newer) never shift or repeat what follows.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Rows a page holds at most.
pub const MAX_LIMIT: i64 = 500;

/// Where the next page starts: the last row of the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub key: String,
    pub id: i64,
}

/// A cursor that this worker did not hand out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from a previous page")]
pub struct BadCursor;

impl fmt::Display for Cursor {
    /// Hex of `micros|key|id`: opaque to clients, readable to us.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = format!("{}|{}|{}", self.at.timestamp_micros(), self.key, self.id);
        for byte in plain.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Cursor, BadCursor> {
        if !text.len().is_multiple_of(2) || text.len() > 512 {
            return Err(BadCursor);
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|at| {
                let pair = text.get(at..at + 2).ok_or(BadCursor)?;
                u8::from_str_radix(pair, 16).map_err(|_| BadCursor)
            })
            .collect::<Result<Vec<u8>, BadCursor>>()?;
        let plain = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (micros, rest) = plain.split_once('|').ok_or(BadCursor)?;
        let (key, id) = rest.rsplit_once('|').ok_or(BadCursor)?;
        let micros: i64 = micros.parse().map_err(|_| BadCursor)?;
        let id: i64 = id.parse().map_err(|_| BadCursor)?;
        if key.contains('\0') {
            return Err(BadCursor);
        }
        let key = key.to_owned();
        let at = DateTime::from_timestamp_micros(micros)
            .filter(|at| (1..=9999).contains(&at.year()))
            .ok_or(BadCursor)?;
        Ok(Cursor { at, key, id })
    }
}

/// One page of a list: `next_cursor` is `""` on the last page (never null).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: String,
}

impl<T> Page<T> {
    /// The page of `rows`, fetched with one row more than `limit` to know
    /// whether another page follows; `cursor_of` names a row's position.
    pub fn of(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match rows.last() {
            Some(last) if more => cursor_of(last).to_string(),
            _ => String::new(),
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nonsense_is_refused() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_764_000_000_123_456).expect("valid"),
            key: "in|a|b".into(),
            id: 42,
        };
        let text = cursor.to_string();
        assert_eq!(text.parse::<Cursor>(), Ok(cursor));
        let ancient = Cursor {
            at: DateTime::from_timestamp_micros(-8_000_000_000_000_000_000)
                .expect("chrono takes it"),
            key: String::new(),
            id: 1,
        };
        assert_eq!(
            ancient.to_string().parse::<Cursor>(),
            Err(BadCursor),
            "PostgreSQL would not"
        );
        for bad in ["", "zz", "abc", "7c7c", "31327c696e7c78"] {
            assert_eq!(bad.parse::<Cursor>(), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn the_last_page_has_an_empty_cursor() {
        let at = Utc::now();
        let cursor_of = |id: &i64| Cursor {
            at,
            key: String::new(),
            id: *id,
        };
        let full = Page::of(vec![5, 4, 3], 2, cursor_of);
        assert_eq!(full.items, vec![5, 4]);
        assert_eq!(full.next_cursor.parse::<Cursor>().map(|c| c.id), Ok(4));
        let last = Page::of(vec![2, 1], 2, cursor_of);
        assert_eq!(last.next_cursor, "");
    }
}
