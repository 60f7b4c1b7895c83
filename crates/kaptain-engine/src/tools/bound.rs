//! Bounds on what a tool returns, so a model with a small context can use it.

use schemars::JsonSchema;
use serde::Serialize;

/// Rows a listing returns unless asked for fewer or more.
pub const DEFAULT_ROWS: usize = 50;
/// The most rows any listing returns.
pub const MAX_ROWS: usize = 500;
/// The longest text a single field carries (messages, evidence) before it is cut.
pub const MAX_FIELD_BYTES: usize = 600;

/// The row cap for a request: `requested` within 1..=[`MAX_ROWS`], else [`DEFAULT_ROWS`].
pub fn row_cap(requested: Option<usize>) -> usize {
    requested.unwrap_or(DEFAULT_ROWS).clamp(1, MAX_ROWS)
}

/// A capped listing: the rows, how many matched, and a note when some were cut.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Bounded<T> {
    pub items: Vec<T>,
    /// How many matched (`items` holds at most the cap).
    pub total: usize,
    /// Set when rows were cut: how many, and how to see them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl<T> Bounded<T> {
    /// The first `cap` of `all`.
    pub fn cap(all: Vec<T>, cap: usize, how: &str) -> Bounded<T> {
        let total = all.len();
        let mut items = all;
        let note = if total > cap {
            items.truncate(cap);
            Some(format!("{} of {total} shown; {how}", cap.min(total)))
        } else {
            None
        };
        Bounded { items, total, note }
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), and whether it was cut.
pub fn cut(s: &str, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s.to_string(), false);
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), true)
}

/// `s` cut to [`MAX_FIELD_BYTES`], with `…` marking the cut.
pub fn short(s: &str) -> String {
    match cut(s, MAX_FIELD_BYTES) {
        (t, true) => format!("{t}…"),
        (t, false) => t,
    }
}

/// The last bytes of `s` within `max` (logs keep their end), starting on a line when it can,
/// and how many bytes were dropped from the front.
pub fn tail_bytes(s: &str, max: usize) -> (String, usize) {
    if s.len() <= max {
        return (s.to_string(), 0);
    }
    let mut start = s.len() - max;
    while start < s.len() && !s.is_char_boundary(start) {
        start += 1;
    }
    let rest = &s[start..];
    let rest = match rest.find('\n') {
        Some(i) if i + 1 < rest.len() => &rest[i + 1..],
        _ => rest,
    };
    (rest.to_string(), s.len() - rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_cuts() {
        assert_eq!(row_cap(None), DEFAULT_ROWS);
        assert_eq!(row_cap(Some(0)), 1);
        assert_eq!(row_cap(Some(10_000)), MAX_ROWS);
        let b = Bounded::cap((0..10).collect(), 3, "narrow it");
        assert_eq!((b.items.len(), b.total), (3, 10));
        assert!(b.note.as_deref().is_some_and(|n| n.contains("3 of 10")));
        assert!(Bounded::cap(vec![1], 3, "x").note.is_none());
        assert_eq!(cut("héllo", 2), ("h".to_string(), true));
        let (t, dropped) = tail_bytes("line1\nline2\nline3\n", 9);
        assert_eq!(t, "line3\n");
        assert_eq!(dropped, 12);
    }
}
