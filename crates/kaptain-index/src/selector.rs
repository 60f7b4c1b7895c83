//! Label selectors: kubectl's `-l` text (for filtering objects read from files; live scans
//! pass it to the API server instead) and the API's `LabelSelector` (Services, workloads,
//! NetworkPolicies, PDBs) are matched by one function, [`Requirement::holds`].

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    reqs: Vec<Req>,
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e,!f,g in (x,y),h notin (z)`.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let bad = || format!("invalid label selector {s:?}: cannot parse {p:?}");
            let req = if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(key(k.trim()).ok_or_else(bad)?)
            } else if let Some((k, v)) = p.split_once("!=") {
                Req::NotEq(key(k.trim()).ok_or_else(bad)?, v.trim().to_string())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Req::Eq(key(k.trim()).ok_or_else(bad)?, v.trim().to_string())
            } else if let Some((k, rest)) = split_word(p, " notin ") {
                Req::NotIn(key(k).ok_or_else(bad)?, set(rest).ok_or_else(bad)?)
            } else if let Some((k, rest)) = split_word(p, " in ") {
                Req::In(key(k).ok_or_else(bad)?, set(rest).ok_or_else(bad)?)
            } else {
                Req::Exists(key(p).ok_or_else(bad)?)
            };
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.reqs.iter().all(|r| r.borrowed().holds(labels))
    }
}

impl Req {
    fn borrowed(&self) -> Requirement<'_> {
        match self {
            Req::Eq(k, v) => Requirement::Eq(k, v),
            Req::NotEq(k, v) => Requirement::NotEq(k, v),
            Req::In(k, vs) => Requirement::In(k, vs),
            Req::NotIn(k, vs) => Requirement::NotIn(k, vs),
            Req::Exists(k) => Requirement::Exists(k),
            Req::NotExists(k) => Requirement::NotExists(k),
        }
    }
}

/// One requirement on an object's labels, borrowed from either form of selector.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Requirement<'a> {
    Eq(&'a str, &'a str),
    NotEq(&'a str, &'a str),
    In(&'a str, &'a [String]),
    NotIn(&'a str, &'a [String]),
    Exists(&'a str),
    NotExists(&'a str),
    /// An operator the API does not define: selects nothing.
    Never,
}

impl Requirement<'_> {
    /// Whether `labels` meet the requirement (no labels: as if empty).
    pub(crate) fn holds(self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        match self {
            Requirement::Eq(k, v) => get(k) == Some(v),
            Requirement::NotEq(k, v) => get(k) != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::Never => false,
        }
    }

    /// The requirement of one of the API's `matchExpressions`.
    pub(crate) fn of_expression(
        e: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement,
    ) -> Requirement<'_> {
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => Requirement::In(&e.key, values),
            "NotIn" => Requirement::NotIn(&e.key, values),
            "Exists" => Requirement::Exists(&e.key),
            "DoesNotExist" => Requirement::NotExists(&e.key),
            _ => Requirement::Never,
        }
    }
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn split_word<'a>(p: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    p.find(word)
        .map(|i| (p[..i].trim(), p[i + word.len()..].trim()))
}

fn key(k: &str) -> Option<String> {
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then(|| k.to_string())
}

fn set(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_forms() {
        let l = labels(&[("app", "shop"), ("tier", "web")]);
        let m = |s: &str| LabelSelector::parse(s).expect(s).matches(Some(&l));
        assert!(m("app=shop"));
        assert!(m("app==shop,tier"));
        assert!(!m("app=other"));
        assert!(m("app!=other"));
        assert!(m("tier in (web,api)"));
        assert!(!m("tier notin (web)"));
        assert!(m("!canary"));
        assert!(!m("!tier"));
        assert!(m(""));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn api_selectors_match_like_the_text_form() {
        use crate::selector_matches;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
            LabelSelector as ApiSelector, LabelSelectorRequirement,
        };
        let l = labels(&[("app", "shop"), ("tier", "web")]);
        let expr = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let sel = |ml: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>| ApiSelector {
            match_labels: Some(labels(ml)),
            match_expressions: Some(exprs),
        };
        let cases = [
            (sel(&[("app", "shop")], vec![]), "app=shop", true),
            (sel(&[("app", "x")], vec![]), "app=x", false),
            (
                sel(&[], vec![expr("tier", "In", &["web", "api"])]),
                "tier in (web,api)",
                true,
            ),
            (
                sel(&[], vec![expr("tier", "NotIn", &["web"])]),
                "tier notin (web)",
                false,
            ),
            (
                sel(&[], vec![expr("canary", "DoesNotExist", &[])]),
                "!canary",
                true,
            ),
            (sel(&[], vec![expr("tier", "Exists", &[])]), "tier", true),
            (
                sel(&[("app", "shop")], vec![expr("tier", "Exists", &[])]),
                "app=shop,tier",
                true,
            ),
        ];
        for (api, text, want) in cases {
            assert_eq!(selector_matches(&api, Some(&l)), want, "{text}");
            let parsed = LabelSelector::parse(text).expect(text);
            assert_eq!(parsed.matches(Some(&l)), want, "{text}");
        }
        // An operator the API does not define selects nothing.
        assert!(!selector_matches(
            &sel(&[], vec![expr("tier", "Like", &["w"])]),
            Some(&l)
        ));
        // No labels at all: only absence requirements hold.
        assert!(selector_matches(
            &sel(&[], vec![expr("x", "DoesNotExist", &[])]),
            None
        ));
        assert!(!selector_matches(&sel(&[("app", "shop")], vec![]), None));
    }
}
