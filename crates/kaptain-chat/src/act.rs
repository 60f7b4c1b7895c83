//! Requests to act, read by rules: "scale web-app in scale-test by 100%", "restart deployment
//! api", "roll back checkout", "set the image of web to nginx:1.27", "cordon node n1", "fix
//! the checkout deployment", "undo that".
//!
//! A request starts with its verb (after "please", "kaptain", "can you"); a question about
//! fixing ("how do I fix ...") stays a question. What is read here is only what was said: which
//! object it names is settled against the cluster by the engine, which asks back when a name
//! fits several objects ("which web? web in shop or web in staging"). Nothing here acts.

use serde::{Deserialize, Serialize};

use crate::words;

/// What a request asks Kaptain to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    /// Take the action that remedies the root cause of what fails on the object (or in scope).
    Fix,
    /// Change a Deployment's or StatefulSet's replicas.
    Scale,
    /// Restart every pod of a workload, one by one (a rollout restart).
    Restart,
    /// Roll a Deployment back to its previous revision.
    Rollback,
    /// Set the image of a workload's container.
    SetImage,
    /// Mark a node unschedulable.
    Cordon,
    /// Reverse the asker's last action, where its kind allows.
    Undo,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Fix => "fix",
            Verb::Scale => "scale",
            Verb::Restart => "restart",
            Verb::Rollback => "rollback",
            Verb::SetImage => "set-image",
            Verb::Cordon => "cordon",
            Verb::Undo => "undo",
        }
    }
}

/// How many replicas a scale asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Amount {
    /// Exactly this many ("to 5", "down to 0").
    To(u32),
    /// This many more, fewer when negative ("by 2", "down by 1").
    By(i32),
    /// This percentage more, fewer when negative ("by 100%", "double", "halve").
    Percent(i32),
}

/// A request to act, as said: the verb, the object it names (each part only when said) and
/// what the verb needs (the amount of a scale, the image of a set-image).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActRequest {
    pub verb: Verb,
    /// The object's kind (`Deployment`, `Node`), when said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The image of a set-image, as written (case kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The container of a set-image, when said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl ActRequest {
    pub fn new(verb: Verb) -> Self {
        ActRequest {
            verb,
            kind: None,
            name: None,
            namespace: None,
            cluster: None,
            amount: None,
            image: None,
            container: None,
        }
    }

    /// How the request was read: `scale · Deployment web-app · namespace scale-test · by 100%`.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.verb.as_str().to_string()];
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => parts.push(format!("{k} {n}")),
            (None, Some(n)) => parts.push(n.clone()),
            (Some(k), None) => parts.push(format!("a {k}")),
            (None, None) => {}
        }
        if let Some(ns) = &self.namespace {
            parts.push(format!("namespace {ns}"));
        }
        if let Some(c) = &self.cluster {
            parts.push(format!("cluster {c}"));
        }
        match self.amount {
            Some(Amount::To(n)) => parts.push(format!("to {n}")),
            Some(Amount::By(n)) => parts.push(format!("by {n:+}")),
            Some(Amount::Percent(p)) => parts.push(format!("by {p:+}%")),
            None => {}
        }
        if let Some(c) = &self.container {
            parts.push(format!("container {c}"));
        }
        if let Some(i) = &self.image {
            parts.push(format!("image {i}"));
        }
        parts.join(" · ")
    }
}

/// One word of the request: as written and lowercased.
#[derive(Debug, Clone)]
struct Word {
    raw: String,
    low: String,
}

fn split(text: &str) -> Vec<Word> {
    text.replace(['’', '‘'], "'")
        .replace('—', "--")
        .replace('–', "-")
        .split(|c: char| c.is_whitespace() || ",;!?()[]{}\"“”`<>=".contains(c))
        .map(|w| w.trim_matches(|c: char| "'.".contains(c)))
        .filter(|w| !w.is_empty())
        .map(|w| Word {
            raw: w.to_string(),
            low: w.to_lowercase(),
        })
        .collect()
}

/// Words said to be polite or to address Kaptain, at the start.
const LEAD: &[&str] = &[
    "please", "pls", "kaptain", "hey", "ok", "okay", "now", "just", "go", "can", "could", "would",
    "will", "you", "u",
];
/// Words that carry nothing in a request.
const FILLER: &[&str] = &[
    "the",
    "a",
    "an",
    "my",
    "our",
    "this",
    "that",
    "it",
    "please",
    "pls",
    "now",
    "for",
    "me",
    "us",
    "of",
    "named",
    "called",
    "replicas",
    "replica",
    "pods",
    "instances",
    "again",
];

/// Reads `text` as a request to act: `None` when it is not one (a question), an error naming
/// what is missing when it is one that cannot be read.
pub fn parse_act(text: &str, known_clusters: &[String]) -> Option<Result<ActRequest, String>> {
    let all = split(text);
    let start = all.iter().position(|w| !LEAD.contains(&w.low.as_str()))?;
    let ws = &all[start..];
    let first = ws[0].low.as_str();
    let second = ws.get(1).map(|w| w.low.as_str());
    let (verb, skip) = match (first, second) {
        ("fix" | "heal" | "remediate" | "repair", _) => (Verb::Fix, 1),
        ("scale" | "resize", _) => (Verb::Scale, 1),
        ("double", _) => (Verb::Scale, 1),
        ("halve", _) => (Verb::Scale, 1),
        ("restart" | "bounce" | "redeploy" | "recycle", _) => (Verb::Restart, 1),
        ("rollout" | "roll-out", Some("restart")) => (Verb::Restart, 2),
        ("rollback", _) => (Verb::Rollback, 1),
        ("roll", Some("back")) => (Verb::Rollback, 2),
        ("undo" | "revert", Some("the")) if ws.get(2).is_some_and(|w| w.low == "rollout") => {
            (Verb::Rollback, 3)
        }
        ("undo" | "revert", Some("rollout")) => (Verb::Rollback, 2),
        ("undo" | "revert", _) => (Verb::Undo, 1),
        ("set" | "change" | "update" | "bump", _)
            if ws
                .iter()
                .any(|w| matches!(w.low.as_str(), "image" | "images")) =>
        {
            (Verb::SetImage, 1)
        }
        ("cordon", _) => (Verb::Cordon, 1),
        _ => return None,
    };
    // "fix everything", "fix all": a list of fixes to read, not one action to take.
    if verb == Verb::Fix
        && ws[skip..]
            .iter()
            .any(|w| matches!(w.low.as_str(), "everything" | "all" | "anything"))
    {
        return None;
    }
    let mut req = ActRequest::new(verb);
    let mut rest: Vec<Word> = ws[skip..].to_vec();
    let read = match verb {
        Verb::Scale => amount(&mut rest, first).map(|a| req.amount = a),
        Verb::SetImage => image(&mut rest).map(|(c, i)| {
            req.container = c;
            req.image = Some(i);
        }),
        Verb::Undo => {
            // "undo that", "undo my last action", "undo the last change".
            let extra: Vec<&str> = rest
                .iter()
                .map(|w| w.low.as_str())
                .filter(|w| {
                    !FILLER.contains(w)
                        && !matches!(
                            *w,
                            "last" | "action" | "change" | "what" | "you" | "did" | "i"
                        )
                })
                .collect();
            return Some(if extra.is_empty() {
                Ok(req)
            } else {
                Err(format!(
                    "\"undo\" reverses your last action; to undo something else name the change \
                     (\"roll back checkout\", \"scale web to 3\"), not \"{}\"",
                    extra.join(" ")
                ))
            });
        }
        _ => Ok(()),
    };
    if let Err(e) = read {
        return Some(Err(e));
    }
    Some(target(&mut req, &rest, known_clusters).map(|()| req))
}

fn number(w: &str) -> Option<i64> {
    let w = w.trim_start_matches('+');
    w.parse::<i64>().ok().or_else(|| {
        Some(match w {
            "zero" | "none" => 0,
            "one" => 1,
            "two" => 2,
            "three" => 3,
            "four" => 4,
            "five" => 5,
            "six" => 6,
            "seven" => 7,
            "eight" => 8,
            "nine" => 9,
            "ten" => 10,
            _ => return None,
        })
    })
}

fn as_i32(n: i64) -> Result<i32, String> {
    i32::try_from(n).map_err(|_| format!("{n} is out of range"))
}

/// Takes the amount of a scale out of `rest`: `to N`, `by N`, `by N%`, `by N percent`, `up
/// by N`, `down by N`, `down to N`, `N replicas`, "double", "halve".
fn amount(rest: &mut Vec<Word>, verb_word: &str) -> Result<Option<Amount>, String> {
    let mut direction = 0i64;
    let mut found: Option<Amount> = None;
    let mut i = 0;
    let mut keep = Vec::new();
    while i < rest.len() {
        let w = rest[i].low.clone();
        match w.as_str() {
            "up" | "out" => direction = 1,
            "down" => direction = -1,
            "to" | "by" if i + 1 < rest.len() => {
                let (n, pct, used) = quantity(&rest[i + 1..])?;
                if let Some(n) = n {
                    let signed = if direction < 0 { -n } else { n };
                    found = Some(match (w.as_str(), pct) {
                        ("to", false) => Amount::To(
                            u32::try_from(n)
                                .map_err(|_| format!("cannot scale to {n} replicas"))?,
                        ),
                        ("to", true) => {
                            return Err("scale to a number of replicas, or by a percentage".into());
                        }
                        (_, true) => Amount::Percent(as_i32(signed)?),
                        _ => Amount::By(as_i32(signed)?),
                    });
                    i += 1 + used;
                    continue;
                }
                keep.push(rest[i].clone());
            }
            _ => {
                // "scale web 5", "scale web to 5 replicas": a bare number is the target count.
                if found.is_none()
                    && let Some(n) = number(&w)
                    && w.chars().all(|c| c.is_ascii_digit())
                {
                    found = Some(Amount::To(
                        u32::try_from(n).map_err(|_| format!("cannot scale to {n} replicas"))?,
                    ));
                } else {
                    keep.push(rest[i].clone());
                }
            }
        }
        i += 1;
    }
    *rest = keep;
    if found.is_none() {
        found = match verb_word {
            "double" => Some(Amount::Percent(100)),
            "halve" => Some(Amount::Percent(-50)),
            _ => None,
        };
    }
    match found {
        Some(a) => Ok(Some(a)),
        None => Err(match direction {
            1 => "scale up by how much? e.g. \"scale web up by 2\" or \"scale web to 5\"".into(),
            -1 => "scale down by how much? e.g. \"scale web down by 1\" or \"scale web down to 0\""
                .into(),
            _ => "scale to how many replicas? e.g. \"scale web to 5\", \"by 2\" or \"by 100%\""
                .into(),
        }),
    }
}

/// A number after `to`/`by`: (value, whether a percentage, words used).
fn quantity(ws: &[Word]) -> Result<(Option<i64>, bool, usize), String> {
    let Some(w) = ws.first() else {
        return Ok((None, false, 0));
    };
    if let Some(p) = w.low.strip_suffix('%') {
        let n = number(p).ok_or_else(|| format!("{} is not a percentage", w.raw))?;
        return Ok((Some(n), true, 1));
    }
    let Some(n) = number(&w.low) else {
        return Ok((None, false, 0));
    };
    let pct = ws
        .get(1)
        .is_some_and(|x| matches!(x.low.as_str(), "percent" | "pct" | "%"));
    Ok((Some(n), pct, if pct { 2 } else { 1 }))
}

/// Takes the image (and the container, when said) out of a set-image request: `set the image
/// of web to nginx:1.27`, `set image web nginx:1.27`, `set the image of container app in web
/// to repo/app:2`.
fn image(rest: &mut Vec<Word>) -> Result<(Option<String>, String), String> {
    // The image is the word after the last "to", else the last word that looks like one.
    let at = rest
        .iter()
        .rposition(|w| w.low == "to")
        .filter(|i| i + 1 < rest.len())
        .map(|i| i + 1)
        .or_else(|| {
            rest.iter()
                .rposition(|w| w.raw.contains(':') || w.raw.contains('/') || w.raw.contains('@'))
        })
        .ok_or("set the image to what? e.g. \"set the image of web to nginx:1.27\"")?;
    let img = rest[at].raw.clone();
    if img.contains("://") || !img.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!("{img} is not an image reference"));
    }
    let mut drop = vec![at];
    if at > 0 && rest[at - 1].low == "to" {
        drop.push(at - 1);
    }
    let mut container = None;
    if let Some(c) = rest
        .iter()
        .position(|w| w.low == "container")
        .filter(|&c| c + 1 < rest.len() && !drop.contains(&(c + 1)))
    {
        container = Some(rest[c + 1].low.clone());
        drop.extend([c, c + 1]);
        // "container app in api": the object follows, not a namespace.
        if rest
            .get(c + 2)
            .is_some_and(|w| matches!(w.low.as_str(), "in" | "of"))
        {
            drop.push(c + 2);
        }
    }
    for (i, w) in rest.iter().enumerate() {
        if matches!(w.low.as_str(), "image" | "images") {
            drop.push(i);
        }
    }
    let kept: Vec<Word> = rest
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, w)| w.clone())
        .collect();
    *rest = kept;
    Ok((container, img))
}

/// Reads the object the request names from what is left: `in shop`, `-n shop`, `namespace
/// shop`, `deployment api`, `the api deployment`, `deploy/api`, `shop/api`, a bare name.
fn target(req: &mut ActRequest, rest: &[Word], clusters: &[String]) -> Result<(), String> {
    let ws: Vec<&str> = rest.iter().map(|w| w.low.as_str()).collect();
    let mut used = vec![false; ws.len()];
    let mut names: Vec<String> = Vec::new();
    for i in 0..ws.len() {
        if used[i] {
            continue;
        }
        let w = ws[i];
        let next = ws
            .get(i + 1)
            .copied()
            .filter(|_| i + 1 < ws.len() && !used[i + 1]);
        match w {
            "in" | "on" | "-n" | "--namespace" | "namespace" | "ns" | "inside" => {
                let Some(mut j) = next.map(|_| i + 1) else {
                    return Err(format!("\"{w}\" what? name the namespace"));
                };
                if ws[j] == "the" && j + 1 < ws.len() {
                    j += 1;
                }
                // "in namespace prod": the keyword names what follows.
                let mut named_ns = matches!(w, "namespace" | "ns");
                if matches!(ws[j], "namespace" | "ns") && j + 1 < ws.len() {
                    used[j] = true;
                    j += 1;
                    named_ns = true;
                }
                let v = ws[j];
                used[i] = true;
                used[j] = true;
                // "in the shop namespace"
                if ws
                    .get(j + 1)
                    .is_some_and(|n| matches!(*n, "namespace" | "ns"))
                {
                    used[j + 1] = true;
                }
                if matches!(v, "cluster" | "context") && j + 1 < ws.len() {
                    req.cluster = Some(ws[j + 1].to_string());
                    used[j + 1] = true;
                } else if !named_ns && clusters.iter().any(|c| c == v) {
                    req.cluster = Some(v.to_string());
                } else if !words::is_name(v) {
                    return Err(format!("{v} is not a namespace name"));
                } else {
                    set_once(&mut req.namespace, v, "namespace")?;
                }
            }
            "cluster" | "context" | "--context" => {
                let Some(v) = next else {
                    return Err("which cluster? name it".into());
                };
                used[i] = true;
                used[i + 1] = true;
                req.cluster = Some(v.to_string());
            }
            _ => {}
        }
    }
    for i in 0..ws.len() {
        if used[i] {
            continue;
        }
        let w = ws[i];
        if let Some((k, n)) = w.split_once('/') {
            used[i] = true;
            let group_less = k.split('.').next().unwrap_or_default();
            if let Some(kind) = words::kind(group_less) {
                req.kind = Some(kind.to_string());
            } else if words::is_name(k) {
                set_once(&mut req.namespace, k, "namespace")?;
            } else {
                return Err(format!("{w} is not kind/name nor namespace/name"));
            }
            names.push(n.to_string());
        } else if let Some(kind) = words::kind(w) {
            used[i] = true;
            if req.kind.as_deref().is_some_and(|k| k != kind) {
                return Err(format!(
                    "one object at a time: a {} or a {kind}?",
                    req.kind.clone().unwrap_or_default()
                ));
            }
            req.kind = Some(kind.to_string());
        } else if FILLER.contains(&w) || matches!(w, "and" | "up" | "down") {
            used[i] = true;
        } else if words::is_name(w) {
            used[i] = true;
            names.push(w.to_string());
        } else {
            return Err(format!("{} is not a name Kubernetes allows", rest[i].raw));
        }
    }
    names.dedup();
    match names.as_slice() {
        [] => {}
        [one] => req.name = Some(one.clone()),
        many => {
            return Err(format!(
                "one object at a time: which of {}?",
                many.join(", ")
            ));
        }
    }
    match req.verb {
        Verb::Fix => {}
        Verb::Cordon => {
            if req.kind.as_deref().is_some_and(|k| k != "Node") {
                return Err(format!(
                    "only nodes are cordoned, not a {}",
                    req.kind.clone().unwrap_or_default()
                ));
            }
            req.kind = Some("Node".into());
            if req.name.is_none() {
                return Err("cordon which node? e.g. \"cordon node n1\"".into());
            }
        }
        _ if req.name.is_none() => {
            let phrase = match req.verb {
                Verb::Rollback => "roll back",
                Verb::SetImage => "set the image of",
                v => v.as_str(),
            };
            return Err(format!(
                "{phrase} what? name the object, e.g. \"{phrase} web in shop\""
            ));
        }
        _ => {}
    }
    Ok(())
}

fn set_once(slot: &mut Option<String>, v: &str, what: &str) -> Result<(), String> {
    match slot {
        Some(old) if old != v => Err(format!("one {what} at a time: {old} or {v}?")),
        _ => {
            *slot = Some(v.to_string());
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "act_tests.rs"]
mod tests;
