//! Opaque pagination cursors: base64url (no padding) of `TAG:n1:n2:...`, where `TAG` names
//! the listing so a cursor of one listing is rejected by another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One page of a listing: `next_cursor` is `Some` when more items follow; pass it back as
/// the query's `cursor` to get them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items of this page, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page starts, or `None` after the last page.
    pub next_cursor: Option<String>,
}

/// The default page size when a query asks for 0.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page size; larger requests are clamped to it.
pub const MAX_LIMIT: u32 = 1000;

/// The page size to use for a requested `limit` (0 means the default).
pub(crate) fn effective_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

pub(crate) fn encode(tag: &str, values: &[i64]) -> String {
    let mut text = tag.to_owned();
    for v in values {
        text.push(':');
        text.push_str(&v.to_string());
    }
    URL_SAFE_NO_PAD.encode(text)
}

pub(crate) fn decode<const N: usize>(tag: &str, cursor: &str) -> Result<[i64; N]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| Error::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::InvalidCursor)?;
    let mut parts = text.split(':');
    if parts.next() != Some(tag) {
        return Err(Error::InvalidCursor);
    }
    let mut out = [0i64; N];
    for slot in &mut out {
        *slot = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(Error::InvalidCursor)?;
    }
    if parts.next().is_some() {
        return Err(Error::InvalidCursor);
    }
    Ok(out)
}

/// Splits `rows` (fetched with one extra row beyond `limit`) into a page, building the next
/// cursor from the last item kept.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_cursors() {
        let c = encode("f1", &[4, -17, 99]);
        assert_eq!(decode::<3>("f1", &c).expect("decode"), [4, -17, 99]);
        assert!(decode::<3>("r1", &c).is_err());
        assert!(decode::<2>("f1", &c).is_err());
        assert!(decode::<1>("f1", "not base64!").is_err());
        assert!(decode::<1>("f1", &URL_SAFE_NO_PAD.encode("f1:x")).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(effective_limit(0), DEFAULT_LIMIT);
        assert_eq!(effective_limit(5), 5);
        assert_eq!(effective_limit(100_000), MAX_LIMIT);
    }

    #[test]
    fn pages() {
        let p = page(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next_cursor.as_deref(), Some("2"));
        let p = page(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(p.next_cursor, None);
    }
}
