//! Parsing one LIST page from the bytes the API server sent, without ever building what no
//! check reads.
//!
//! `metadata.managedFields` and the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation are often the larger half of an object; they are skipped inside the parser, so
//! they are never allocated (dropping them after a typed parse still pays for building them).
//! For a scan (not a snapshot) the values of ConfigMaps and Secrets are skipped too: checks
//! read their keys, and a certificate's `tls.crt`.
//!
//! This works with any generated k8s-openapi type: a thin proxy around the JSON deserializer
//! watches the keys of the top-level object, of its `metadata` and of its annotations, and
//! hands every other value to the type's own `Deserialize` untouched.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

/// The annotation `kubectl apply` writes: a full copy of the object (with Secret values).
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What to leave out while parsing, besides managedFields and the last-applied annotation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Values {
    /// Keep every `data` / `binaryData` value (snapshots, and kinds without values).
    All,
    /// Keep the keys of `data` / `binaryData` but only these keys' values; the others become
    /// empty (a scan: checks only ask whether a key exists, and read certificates).
    Only(&'static [&'static str]),
}

/// One parsed page: its objects and the token of the next page, if any.
pub(crate) struct Page<T> {
    pub items: Vec<Arc<T>>,
    pub continue_: Option<String>,
    /// How many objects the following pages hold (the server's estimate).
    pub remaining: usize,
}

/// Parses a LIST response body (`{"metadata":{"continue":..},"items":[..]}`).
pub(crate) fn parse<T>(body: &[u8], values: Values) -> Result<Page<T>, serde_json::Error>
where
    T: for<'de> de::Deserialize<'de>,
{
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = PageSeed::<T> {
        values,
        marker: PhantomData,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

/// The `continue` token of a LIST response, read from the bytes before `"items"` without
/// parsing the page: `Some(None)` for the last page, `None` when the head does not have the
/// shape the API server writes (the caller then waits for the full parse).
pub(crate) fn continue_token(body: &[u8]) -> Option<Option<String>> {
    const ITEMS: &[u8] = b"\"items\":";
    const KEY: &[u8] = b"\"continue\":\"";
    let head_len = find(body, ITEMS)?;
    let head = &body[..head_len];
    let Some(at) = find(head, KEY) else {
        return Some(None);
    };
    let rest = &head[at + KEY.len()..];
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[end] == b'\\' {
        // An escaped token: leave it to the real parser.
        return None;
    }
    let token = std::str::from_utf8(&rest[..end]).ok()?;
    Some((!token.is_empty()).then(|| token.to_string()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct PageSeed<T> {
    values: Values,
    marker: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for PageSeed<T> {
    type Value = Page<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Page<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for PageSeed<T> {
    type Value = Page<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes List")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page<T>, A::Error> {
        #[derive(serde::Deserialize)]
        struct ListMeta {
            #[serde(rename = "continue", default)]
            continue_: Option<String>,
            #[serde(rename = "remainingItemCount", default)]
            remaining: Option<u64>,
        }
        let mut page = Page {
            items: Vec::new(),
            continue_: None,
            remaining: 0,
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key.0.as_ref() {
                "metadata" => {
                    if let Some(m) = map.next_value::<Option<ListMeta>>()? {
                        page.continue_ = m.continue_.filter(|c| !c.is_empty());
                        page.remaining = m.remaining.unwrap_or(0).try_into().unwrap_or(0);
                    }
                }
                "items" => {
                    page.items = map.next_value_seed(ItemsSeed::<T> {
                        values: self.values,
                        marker: PhantomData,
                    })?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

struct ItemsSeed<T> {
    values: Values,
    marker: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for ItemsSeed<T> {
    type Value = Vec<Arc<T>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Arc<T>>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for ItemsSeed<T> {
    type Value = Vec<Arc<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<Arc<T>>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<Arc<T>>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Arc<T>>, D::Error> {
        d.deserialize_seq(self)
    }

    /// Each object gets its own allocation: a vector of pointers grows cheaply, where one of
    /// objects (a Pod is 3 KB before anything it points to) doubles, copies and leaves up to
    /// half of itself unused — per page, and again when the pages are joined.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Arc<T>>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(o) = seq.next_element_seed(Trimmed::<T> {
            level: Level::Object(self.values),
            marker: PhantomData,
        })? {
            out.push(Arc::new(o));
        }
        Ok(out)
    }
}

/// Parses one object of a generated type, skipping what [`Level`] says at each depth.
pub(crate) struct Trimmed<T> {
    level: Level,
    marker: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Trimmed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(Proxy {
            inner: d,
            level: self.level,
        })
    }
}

/// Where in an object the proxy is, and so which keys it skips.
#[derive(Debug, Clone, Copy)]
enum Level {
    /// The object itself: watch for `metadata`, and for `data`/`binaryData` when trimming values.
    Object(Values),
    /// `metadata`: skip `managedFields`, watch for `annotations`.
    Meta,
    /// `metadata.annotations`: skip the last-applied copy.
    Annotations,
    /// `data` / `binaryData`: keep keys, empty the values not asked for.
    Data(&'static [&'static str]),
}

/// What happens to the entry under a key.
enum Entry {
    /// Left out: its value is skipped unparsed.
    Skip,
    /// Parsed by the type as it is.
    Plain,
    /// Parsed through the proxy at a deeper level.
    Nested(Level),
    /// Kept with an empty value (the real one skipped unparsed).
    Empty,
}

impl Level {
    fn entry(self, key: &str) -> Entry {
        match self {
            Level::Object(values) => match (key, values) {
                ("metadata", _) => Entry::Nested(Level::Meta),
                ("data" | "binaryData", Values::Only(keep)) => Entry::Nested(Level::Data(keep)),
                _ => Entry::Plain,
            },
            Level::Meta => match key {
                "managedFields" => Entry::Skip,
                "annotations" => Entry::Nested(Level::Annotations),
                _ => Entry::Plain,
            },
            Level::Annotations if key == LAST_APPLIED => Entry::Skip,
            Level::Annotations => Entry::Plain,
            Level::Data(keep) if keep.contains(&key) => Entry::Plain,
            Level::Data(_) => Entry::Empty,
        }
    }
}

/// A map key, borrowed from the input where it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The deserializer handed to a generated type: maps go through [`ProxyMap`]; everything
/// else is the JSON deserializer's own.
struct Proxy<D> {
    inner: D,
    level: Level,
}

macro_rules! forward {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Proxy<D> {
    type Error = D::Error;

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(ProxyVisitor {
            inner: v,
            level: self.level,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            ProxyVisitor {
                inner: v,
                level: self.level,
            },
        )
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_option(ProxyVisitor {
            inner: v,
            level: self.level,
        })
    }

    forward! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_seq
        deserialize_identifier deserialize_ignored_any deserialize_i128 deserialize_u128
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_unit_struct(name, v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_newtype_struct(name, v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple(len, v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple_struct(name, len, v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_enum(name, variants, v)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Wraps the generated type's visitor so the map it is given skips entries.
struct ProxyVisitor<V> {
    inner: V,
    level: Level,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for ProxyVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(ProxyMap {
            inner: map,
            level: self.level,
            next: Entry::Plain,
        })
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Proxy {
            inner: d,
            level: self.level,
        })
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.inner.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        self.inner.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.inner.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        self.inner.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.inner.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.inner.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.inner.visit_string(v)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// A map that reads each key first, then skips the entry, empties its value, or passes it on.
struct ProxyMap<A> {
    inner: A,
    level: Level,
    /// What to do with the value of the key just returned.
    next: Entry,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ProxyMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.inner.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            self.next = self.level.entry(&key.0);
            if let Entry::Skip = self.next {
                self.inner.next_value::<IgnoredAny>()?;
                continue;
            }
            return match key.0 {
                Cow::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some),
                Cow::Owned(k) => seed.deserialize(StringDeserializer::new(k)).map(Some),
            };
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match std::mem::replace(&mut self.next, Entry::Plain) {
            Entry::Plain | Entry::Skip => self.inner.next_value_seed(seed),
            Entry::Nested(level) => self.inner.next_value_seed(ProxySeed { inner: seed, level }),
            Entry::Empty => {
                self.inner.next_value::<IgnoredAny>()?;
                seed.deserialize(BorrowedStrDeserializer::new(""))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct ProxySeed<S> {
    inner: S,
    level: Level,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for ProxySeed<S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Proxy {
            inner: d,
            level: self.level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret};

    const POD_PAGE: &str = r#"{"kind":"PodList","apiVersion":"v1",
      "metadata":{"resourceVersion":"42","continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ","remainingItemCount":7},
      "items":[{"metadata":{"name":"a","namespace":"shop",
          "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"big\":1}","keep":"me"},
          "managedFields":[{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1",
                            "fieldsV1":{"f:metadata":{"f:labels":{".":{}}}}}],
          "labels":{"app":"a"}},
        "spec":{"containers":[{"name":"c","image":"i"}],"nodeName":"n1"},
        "status":{"phase":"Running"}},
        {"metadata":{"name":"b","namespace":"shop"},"spec":{"containers":[]}}]}"#;

    #[test]
    fn drops_managed_fields_and_last_applied_keeps_the_rest() {
        let page: Page<Pod> = parse(POD_PAGE.as_bytes(), Values::All).expect("parse");
        assert_eq!(
            page.continue_.as_deref(),
            Some("eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ")
        );
        assert_eq!((page.items.len(), page.remaining), (2, 7));
        let a = &page.items[0];
        assert!(a.metadata.managed_fields.is_none());
        let ann = a.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(ann.len(), 1);
        assert_eq!(ann["keep"], "me");
        assert_eq!(a.metadata.labels.as_ref().expect("labels")["app"], "a");
        assert_eq!(
            a.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some("n1")
        );
        assert_eq!(
            a.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Running")
        );
        // Everything but the dropped fields is what a plain parse gives.
        let full: serde_json::Value = serde_json::from_str(POD_PAGE).expect("json");
        let mut plain: Pod = serde_json::from_value(full["items"][0].clone()).expect("plain");
        plain.metadata.managed_fields = None;
        if let Some(a) = plain.metadata.annotations.as_mut() {
            a.remove(LAST_APPLIED);
        }
        assert_eq!(&plain, &**a);
    }

    #[test]
    fn values_are_emptied_only_when_asked_and_keys_stay() {
        let body = r#"{"metadata":{},"items":[{"metadata":{"name":"s"},"type":"kubernetes.io/tls",
            "data":{"tls.crt":"Q0VSVA==","tls.key":"S0VZ"}}]}"#;
        let all: Page<Secret> = parse(body.as_bytes(), Values::All).expect("parse");
        let data = all.items[0].data.as_ref().expect("data");
        assert_eq!(data["tls.key"].0, b"KEY");
        let some: Page<Secret> = parse(body.as_bytes(), Values::Only(&["tls.crt"])).expect("parse");
        assert_eq!(some.continue_, None);
        let data = some.items[0].data.as_ref().expect("data");
        assert_eq!(data["tls.crt"].0, b"CERT");
        assert!(data["tls.key"].0.is_empty());

        let cm = r#"{"items":[{"metadata":{"name":"c"},"data":{"a":"x","b":"y"},"binaryData":{"z":"AAE="}}]}"#;
        let page: Page<ConfigMap> = parse(cm.as_bytes(), Values::Only(&[])).expect("parse");
        let c = &page.items[0];
        let data = c.data.as_ref().expect("data");
        assert_eq!((data["a"].as_str(), data["b"].as_str()), ("", ""));
        assert!(c.binary_data.as_ref().expect("binary")["z"].0.is_empty());
    }

    #[test]
    fn empty_and_null_items_and_bad_json() {
        let p: Page<Event> =
            parse(br#"{"metadata":{"continue":""},"items":null}"#, Values::All).expect("parse");
        assert!(p.items.is_empty() && p.continue_.is_none());
        let p: Page<Event> = parse(br#"{"items":[]}"#, Values::All).expect("parse");
        assert!(p.items.is_empty());
        assert!(parse::<Event>(br#"{"items":[{"metadata":{"name":1}}]}"#, Values::All).is_err());
        assert!(parse::<Event>(br#"{"items":[]} x"#, Values::All).is_err());
        assert!(parse::<Event>(br#"{"items":[{"count":"x"}]}"#, Values::All).is_err());
    }

    #[test]
    fn continue_token_is_read_from_the_head() {
        assert_eq!(
            continue_token(POD_PAGE.as_bytes()),
            Some(Some("eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ".to_string()))
        );
        assert_eq!(
            continue_token(br#"{"metadata":{"resourceVersion":"1"},"items":[]}"#),
            Some(None)
        );
        assert_eq!(
            continue_token(br#"{"metadata":{"continue":""},"items":[]}"#),
            Some(None)
        );
        // A `continue` inside the items is not the page's.
        assert_eq!(
            continue_token(br#"{"metadata":{},"items":[{"continue":"x"}]}"#),
            Some(None)
        );
        assert_eq!(continue_token(br#"{"metadata":{"continue":"a\"b"}}"#), None);
        assert_eq!(
            continue_token(br#"{"metadata":{"continue":"a\u0041"},"items":[]}"#),
            None
        );
    }
}
