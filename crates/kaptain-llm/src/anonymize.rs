//! What leaves the process: object names replaced by stable placeholders (per conversation),
//! Secret values and credentials removed.
//!
//! [`Anonymizer`]: the caller hands it the names it knows (namespaces, workloads, pods, nodes,
//! the cluster); each gets a placeholder of its kind (`ns-1`, `deployment-2`, `pod-7`,
//! `node-1`) the first time it is added, and keeps it for the whole conversation. Text going
//! out has every whole-token occurrence replaced (case-insensitive, longest name first, `.`
//! and `/` separate tokens, `-` does not: `checkout` is not replaced inside the pod name
//! `checkout-7d9c-x2`, which has its own placeholder); text and tool-call arguments coming
//! back have the placeholders restored. Names shorter than three characters are left as they
//! are: replacing them would shred ordinary words.
//!
//! [`Privacy`]: applied to everything sent: the literal values the caller says are secret
//! (Secret data found in files) become `***`, then the shared credential scrubber
//! ([`kaptain_model::scrub_text`]: tokens, passwords, kubeconfig keys, JWTs, private keys),
//! then the anonymizer when it is on.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::config::{ProviderKind, ProviderSettings};
use crate::{ChatRequest, Message, ToolSpec};

/// An object the caller knows by name: its kind (`Namespace`, `Deployment`, `Pod`, `Node`,
/// `Cluster`, ...) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    pub kind: String,
    pub name: String,
}

impl NamedObject {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> NamedObject {
        NamedObject {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

/// Names shorter than this are not replaced.
pub const MIN_NAME: usize = 3;
/// Secret values shorter than this are not searched for (they would match ordinary text).
pub const MIN_SECRET: usize = 6;

/// A consistent name ↔ placeholder mapping for one conversation.
#[derive(Debug, Clone, Default)]
pub struct Anonymizer {
    /// lower-case real name → placeholder.
    forward: HashMap<String, String>,
    /// lower-case placeholder → real name.
    backward: HashMap<String, String>,
    /// How many placeholders each prefix has handed out.
    counters: BTreeMap<String, usize>,
}

fn prefix_of(kind: &str) -> String {
    match kind.to_ascii_lowercase().as_str() {
        "namespace" | "ns" => "ns".into(),
        "cluster" | "context" => "cluster".into(),
        "" => "object".into(),
        k => k
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>(),
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Replaces whole tokens of `text` found in `map` (keys lower-case): a token starts at the
/// beginning of a run of name characters (or after a `.` inside one) and ends at a `.` or at
/// the end of the run; the longest match wins.
fn replace_tokens(text: &str, map: &HashMap<String, String>) -> String {
    if map.is_empty() {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let is_run = |b: u8| name_char(b as char) || b == b'.';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if !is_run(bytes[i]) {
            // Copy one whole UTF-8 character.
            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + ch_len]);
            i += ch_len;
            continue;
        }
        // A run of name characters and dots: [i, end).
        let mut end = i;
        while end < bytes.len() && is_run(bytes[end]) {
            end += 1;
        }
        let run = &text[i..end];
        out.push_str(&replace_in_run(run, map));
        i = end;
    }
    out
}

fn replace_in_run(run: &str, map: &HashMap<String, String>) -> String {
    // Token boundaries inside a run: its ends and its dots.
    let dots: Vec<usize> = run.match_indices('.').map(|(p, _)| p).collect();
    let mut starts = vec![0];
    starts.extend(dots.iter().map(|d| d + 1));
    let mut ends: Vec<usize> = dots.clone();
    ends.push(run.len());
    let mut out = String::with_capacity(run.len());
    let mut pos = 0;
    while pos < run.len() {
        let found = if starts.contains(&pos) {
            ends.iter()
                .rev()
                .filter(|&&e| e > pos)
                .find_map(|&e| map.get(&run[pos..e].to_ascii_lowercase()).map(|r| (e, r)))
        } else {
            None
        };
        match found {
            Some((e, r)) => {
                out.push_str(r);
                pos = e;
            }
            None => {
                // Up to the next boundary (a dot, copied too).
                let next = dots
                    .iter()
                    .find(|&&d| d >= pos)
                    .map_or(run.len(), |d| d + 1);
                out.push_str(&run[pos..next]);
                pos = next;
            }
        }
    }
    out
}

impl Anonymizer {
    pub fn new(objects: impl IntoIterator<Item = NamedObject>) -> Anonymizer {
        let mut a = Anonymizer::default();
        for o in objects {
            a.add(&o.kind, &o.name);
        }
        a
    }

    /// Adds `name` (of `kind`) and returns its placeholder; a name already added keeps the
    /// placeholder it has (whatever kind it was first added as). `None` for a name too short
    /// to replace.
    pub fn add(&mut self, kind: &str, name: &str) -> Option<String> {
        let key = name.trim().to_ascii_lowercase();
        if key.chars().count() < MIN_NAME || !key.chars().all(|c| name_char(c) || c == '.') {
            return None;
        }
        if let Some(p) = self.forward.get(&key) {
            return Some(p.clone());
        }
        let prefix = prefix_of(kind);
        let n = self.counters.entry(prefix.clone()).or_default();
        *n += 1;
        let placeholder = format!("{prefix}-{n}");
        self.forward.insert(key, placeholder.clone());
        self.backward
            .insert(placeholder.clone(), name.trim().to_string());
        Some(placeholder)
    }

    /// The placeholder of `name`, when it has one.
    pub fn placeholder(&self, name: &str) -> Option<&str> {
        self.forward
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.forward.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forward.is_empty()
    }

    /// Every known name replaced by its placeholder.
    pub fn anonymize(&self, text: &str) -> String {
        replace_tokens(text, &self.forward)
    }

    /// Every placeholder replaced by its name.
    pub fn restore(&self, text: &str) -> String {
        replace_tokens(text, &self.backward)
    }

    /// [`Anonymizer::anonymize`] on every string (keys too) of a JSON value.
    pub fn anonymize_value(&self, v: &Value) -> Value {
        map_strings(v, &|s| self.anonymize(s))
    }

    /// [`Anonymizer::restore`] on every string (keys too) of a JSON value.
    pub fn restore_value(&self, v: &Value) -> Value {
        map_strings(v, &|s| self.restore(s))
    }
}

fn map_strings(v: &Value, f: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (f(k), map_strings(x, f))).collect())
        }
        other => other.clone(),
    }
}

impl Privacy {
    /// The privacy `settings` ask for: `secrets` are always masked; `names` are anonymized
    /// when [`wanted`].
    pub fn for_settings(
        settings: &ProviderSettings,
        names: Vec<crate::NamedObject>,
        secrets: Vec<String>,
    ) -> Privacy {
        let p = Privacy::new().with_secrets(secrets);
        if wanted(settings) {
            p.with_anonymizer(Anonymizer::new(names))
        } else {
            p
        }
    }
}

/// Whether names are anonymized for `settings`: the `anonymize` setting when given; otherwise
/// on for cloud providers (OpenAI, Anthropic, any OpenAI-compatible server not on this
/// machine) and off for Ollama, the embedded model and a server on loopback.
pub fn wanted(settings: &ProviderSettings) -> bool {
    if let Some(on) = settings.anonymize {
        return on;
    }
    match settings.provider {
        Some(ProviderKind::Anthropic) => true,
        Some(ProviderKind::OpenAi) => !settings.base_url.as_deref().is_some_and(is_loopback),
        Some(ProviderKind::Ollama) | Some(ProviderKind::Embedded) | Some(ProviderKind::None) => {
            false
        }
        None => true,
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// What is done to everything sent to a model, and undone on what comes back.
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    anonymizer: Option<Anonymizer>,
    /// Literal values that must never be sent (longest first).
    secrets: Vec<String>,
}

impl Privacy {
    /// Credentials scrubbed, no anonymization, no literal secrets yet.
    pub fn new() -> Privacy {
        Privacy::default()
    }

    pub fn with_anonymizer(mut self, a: Anonymizer) -> Privacy {
        self.anonymizer = Some(a);
        self
    }

    /// Values (Secret data, tokens) to remove wherever they appear; values shorter than
    /// [`MIN_SECRET`] are ignored.
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = String>) -> Privacy {
        for s in secrets {
            if s.trim().chars().count() < MIN_SECRET {
                continue;
            }
            // As it appears inside a JSON string (a tool result) too.
            if let Ok(quoted) = serde_json::to_string(&s) {
                let inner = quoted.trim_matches('"');
                if inner != s {
                    self.secrets.push(inner.to_string());
                }
            }
            self.secrets.push(s);
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets.dedup();
        self
    }

    pub fn anonymizer(&self) -> Option<&Anonymizer> {
        self.anonymizer.as_ref()
    }

    pub fn anonymizes(&self) -> bool {
        self.anonymizer.is_some()
    }

    /// Text as it may leave the process.
    pub fn outgoing(&self, text: &str) -> String {
        let mut s = text.to_string();
        for secret in &self.secrets {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), kaptain_model::scrub::MASK);
            }
        }
        let s = kaptain_model::scrub_text(&s);
        match &self.anonymizer {
            Some(a) => a.anonymize(&s),
            None => s,
        }
    }

    /// Text as it came back, names restored.
    pub fn incoming(&self, text: &str) -> String {
        match &self.anonymizer {
            Some(a) => a.restore(text),
            None => text.to_string(),
        }
    }

    fn outgoing_value(&self, v: &Value) -> Value {
        map_strings(v, &|s| self.outgoing(s))
    }

    /// A JSON value (tool-call arguments) as it came back, names restored.
    pub fn incoming_value(&self, v: &Value) -> Value {
        match &self.anonymizer {
            Some(a) => a.restore_value(v),
            None => v.clone(),
        }
    }

    /// A message as it may be sent.
    pub fn outgoing_message(&self, m: &Message) -> Message {
        let mut m = m.clone();
        m.content = self.outgoing(&m.content);
        for c in &mut m.tool_calls {
            c.arguments = self.outgoing_value(&c.arguments);
        }
        m
    }

    /// A message as it came back: content and tool-call arguments restored.
    pub fn incoming_message(&self, m: &Message) -> Message {
        let mut m = m.clone();
        m.content = self.incoming(&m.content);
        for c in &mut m.tool_calls {
            c.arguments = self.incoming_value(&c.arguments);
        }
        m
    }

    /// A request as it may be sent: every message's text and arguments, and the tools'
    /// descriptions (Kaptain's own words, whose examples may name real objects).
    pub fn outgoing_request(&self, req: &ChatRequest) -> ChatRequest {
        ChatRequest {
            messages: req
                .messages
                .iter()
                .map(|m| self.outgoing_message(m))
                .collect(),
            tools: req
                .tools
                .iter()
                .map(|t| ToolSpec {
                    name: t.name.clone(),
                    description: self.outgoing(&t.description),
                    parameters: self.outgoing_descriptions(&t.parameters),
                })
                .collect(),
            ..req.clone()
        }
    }

    /// The `description` strings of a JSON Schema, through [`Privacy::outgoing`]; property
    /// names and everything else unchanged.
    fn outgoing_descriptions(&self, schema: &Value) -> Value {
        match schema {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v) {
                            ("description", Value::String(s)) => Value::String(self.outgoing(s)),
                            _ => self.outgoing_descriptions(v),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.outgoing_descriptions(x)).collect())
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shop() -> Anonymizer {
        Anonymizer::new([
            NamedObject::new("Namespace", "shop"),
            NamedObject::new("Deployment", "checkout"),
            NamedObject::new("ConfigMap", "checkout-config"),
            NamedObject::new("Pod", "checkout-7d9c-x2"),
            NamedObject::new("Node", "ip-10-0-1-7.ec2.internal"),
            NamedObject::new("Service", "checkout"),
            NamedObject::new("Namespace", "db"),
        ])
    }

    #[test]
    fn whole_tokens_longest_first_and_back() {
        let a = shop();
        let text = "Pod shop/checkout-7d9c-x2 on ip-10-0-1-7.ec2.internal misses checkout-config; \
                    Checkout in shop.svc fails. checkouts stay.";
        let out = a.anonymize(text);
        for real in [
            "checkout-7d9c",
            "ip-10",
            "checkout-config",
            "shop/",
            "Checkout ",
        ] {
            assert!(!out.contains(real), "{real} left in {out}");
        }
        assert!(
            out.contains("ns-1/pod-1 on node-1 misses configmap-1"),
            "{out}"
        );
        assert!(out.contains("deployment-1 in ns-1.svc"), "{out}");
        assert!(out.contains("checkouts stay"), "{out}");
        // The Service shares the Deployment's name, so its placeholder.
        assert_eq!(a.placeholder("checkout"), Some("deployment-1"));
        // Too short to replace.
        assert_eq!(a.placeholder("db"), None);
        let back = a.restore(&out);
        assert_eq!(back, text.replace("Checkout", "checkout"));
    }

    #[test]
    fn values_are_restored_recursively() {
        let a = shop();
        let args = json!({"namespace": "ns-1", "names": ["deployment-1", "pod-1"], "n": 3});
        assert_eq!(
            a.restore_value(&args),
            json!({"namespace": "shop", "names": ["checkout", "checkout-7d9c-x2"], "n": 3})
        );
        assert_eq!(a.anonymize_value(&a.restore_value(&args)), args);
    }

    #[test]
    fn privacy_removes_secrets_and_credentials_before_names() {
        let p = Privacy::new()
            .with_anonymizer(shop())
            .with_secrets(["s3cr3t-value".to_string(), "abc".to_string()]);
        let out = p.outgoing("checkout logs: password=hunter2 value s3cr3t-value token abc");
        assert_eq!(
            out, "deployment-1 logs: password=*** value *** token abc",
            "short literals are not searched"
        );
        assert_eq!(p.incoming("restart deployment-1"), "restart checkout");
    }

    #[test]
    fn cloud_providers_anonymize_by_default_local_ones_do_not() {
        let s = |p, url: Option<&str>, on: Option<bool>| ProviderSettings {
            provider: Some(p),
            base_url: url.map(str::to_string),
            anonymize: on,
            ..ProviderSettings::default()
        };
        assert!(wanted(&s(ProviderKind::OpenAi, None, None)));
        assert!(wanted(&s(ProviderKind::Anthropic, None, None)));
        assert!(!wanted(&s(
            ProviderKind::OpenAi,
            Some("http://127.0.0.1:8080/v1"),
            None
        )));
        assert!(!wanted(&s(
            ProviderKind::OpenAi,
            Some("http://[::1]:8080"),
            None
        )));
        assert!(wanted(&s(
            ProviderKind::OpenAi,
            Some("https://gw.example/v1"),
            None
        )));
        assert!(!wanted(&s(ProviderKind::Ollama, None, None)));
        assert!(!wanted(&s(ProviderKind::Embedded, None, None)));
        assert!(!wanted(&s(ProviderKind::OpenAi, None, Some(false))));
        assert!(wanted(&s(ProviderKind::Embedded, None, Some(true))));
    }
}
