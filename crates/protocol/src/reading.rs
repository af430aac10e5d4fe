//! What every content reader shares ([`crate::item_reserve`],
//! [`crate::retail_sales`], [`crate::cancellation`], [`crate::stock_request`]): one collector of
//! problems, so reading goes on after the first and every problem is reported
//! at once, and the text and list readers.

use crate::code::Detail;
use crate::json::Json;
use crate::node::Node;

/// Collects details while reading, so reading goes on after the first problem.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Detail>);

impl Problems {
    /// The value, or `T::default()` (absent) after recording the problem.
    pub(crate) fn take<T: Default>(&mut self, result: Result<T, Detail>) -> T {
        result.unwrap_or_else(|detail| {
            self.0.push(detail);
            T::default()
        })
    }

    /// A required text: the value, or `None` after recording either the type
    /// error or the `missing` detail.
    pub(crate) fn required(
        &mut self,
        result: Result<Option<String>, Detail>,
        missing: impl FnOnce() -> Detail,
    ) -> Option<String> {
        match result {
            Ok(Some(text)) => Some(text),
            Ok(None) => {
                self.0.push(missing());
                None
            }
            Err(detail) => {
                self.0.push(detail);
                None
            }
        }
    }

    pub(crate) fn push(&mut self, detail: Detail) {
        self.0.push(detail);
    }

    /// `value` when nothing was recorded, else every problem.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, Vec<Detail>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// The first of alternative text fields that is present; a malformed field is
/// reported rather than silently replaced by the next alternative.
pub(crate) fn first_text(node: &Node<'_>, keys: &[&str]) -> Result<Option<String>, Detail> {
    for key in keys {
        if let Some(text) = node.text(key)? {
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// A field no rule reads, kept as sent: a string trimmed (blank is `None`),
/// any other value as its JSON text. Never a problem: a field only recorded
/// for people must not refuse the envelope it came with.
pub(crate) fn kept(node: &Node<'_>, key: &str) -> Option<String> {
    let field = node.get(key)?;
    match field.value() {
        Json::Null => None,
        Json::String(text) => Some(text.trim())
            .filter(|text| !text.is_empty())
            .map(str::to_owned),
        other => Some(other.to_string()),
    }
}

/// The next 1-based number after `count` elements kept. A 30 MiB envelope
/// cannot hold `u32::MAX` elements, so saturating never happens in practice.
fn next_number(count: usize) -> u32 {
    u32::try_from(count).map_or(u32::MAX, |count| count.saturating_add(1))
}

/// The elements of the list `key` (plain, or wrapped under `item`), read in
/// document order by `read` with the next 1-based number among those kept.
/// An element that is not an object is recorded as `INVALID_FIELD` and
/// skipped; one that `read` drops (`None`) takes no number.
pub(crate) fn read_list<T>(
    content: &Node<'_>,
    key: &str,
    item: &str,
    problems: &mut Problems,
    mut read: impl FnMut(&Node<'_>, u32, &mut Problems) -> Option<T>,
) -> Vec<T> {
    let mut kept = Vec::new();
    for node in problems.take(content.list(key, item)) {
        if !node.value().is_object() {
            problems.push(Detail::invalid_field(
                node.path(),
                "an object",
                node.value(),
            ));
            continue;
        }
        if let Some(element) = read(&node, next_number(kept.len()), problems) {
            kept.push(element);
        }
    }
    kept
}
