//! What an investigation shows the model: the root causes that matter for the question first
//! and, for a model with a small context window, fewer of them, fewer evidence lines and
//! lean tool schemas — so that the prompt leaves room to work. (With everything in, the
//! broken shop's prompt was ~6,100 of SmolLM2's 8,192 tokens: 12 root causes with 6 evidence
//! lines each, and 13 tools with every parameter described.)

use serde_json::Value;

use crate::investigate::{Hypothesis, Limits};
use crate::prompts;
use crate::types::{ToolBox, ToolSpec};

/// Context windows up to this many tokens get the small prompt.
pub const SMALL_CONTEXT: u32 = 16_384;

/// How much of the cluster an investigation's prompt carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Focus {
    /// Root causes shown, the most relevant to the question first.
    pub max_hypotheses: usize,
    /// Evidence lines per root cause.
    pub max_evidence: usize,
    /// Only the tool box's essential tools, each with its description's first sentence and
    /// lean schemas (see [`lean_schema`]; what they accept is unchanged).
    pub lean_tools: bool,
    /// Caps on the investigation's [`Limits`]: model calls, bytes of a tool result, output
    /// tokens per call (a small model's answer does not get better for being long, and on a
    /// CPU every token read or written is time).
    pub max_steps: usize,
    pub max_tool_bytes: usize,
    pub max_output_tokens: u32,
}

impl Focus {
    /// Everything, for a model with a large (or unknown) context window.
    pub const FULL: Focus = Focus {
        max_hypotheses: usize::MAX,
        max_evidence: prompts::MAX_EVIDENCE,
        lean_tools: false,
        max_steps: usize::MAX,
        max_tool_bytes: usize::MAX,
        max_output_tokens: u32::MAX,
    };
    /// The small prompt.
    pub const SMALL: Focus = Focus {
        max_hypotheses: 4,
        max_evidence: 3,
        lean_tools: true,
        max_steps: 3,
        max_tool_bytes: 2 * 1024,
        max_output_tokens: 192,
    };

    /// The focus for a model whose context holds `context` tokens (`None`: unknown, which
    /// hosted models are; they hold far more than a prompt needs).
    pub fn for_context(context: Option<u32>) -> Focus {
        match context {
            Some(c) if c <= SMALL_CONTEXT => Focus::SMALL,
            _ => Focus::FULL,
        }
    }

    /// `limits` within this focus's caps.
    pub fn limit(&self, limits: Limits) -> Limits {
        Limits {
            max_steps: limits.max_steps.min(self.max_steps),
            max_tool_bytes: limits.max_tool_bytes.min(self.max_tool_bytes),
            max_output_tokens: limits.max_output_tokens.min(self.max_output_tokens),
            ..limits
        }
    }

    /// `all` ranked for `question` (see [`rank`]), cut to this focus.
    pub fn hypotheses(&self, question: &str, all: &[Hypothesis]) -> Vec<Hypothesis> {
        rank(question, all)
            .into_iter()
            .take(self.max_hypotheses)
            .map(|mut h| {
                h.evidence.truncate(self.max_evidence);
                h
            })
            .collect()
    }

    /// The tools to offer from `tb`: all of them, or its lean essentials (only the one it
    /// needs is asked for).
    pub fn tools(&self, tb: &dyn ToolBox) -> Vec<ToolSpec> {
        if !self.lean_tools {
            return tb.specs();
        }
        tb.essentials()
            .into_iter()
            .map(|t| ToolSpec {
                description: first_sentence(&t.description).to_string(),
                parameters: lean_schema(t.parameters),
                name: t.name,
            })
            .collect()
    }
}

/// Words that say nothing about which object is meant.
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "why",
    "what",
    "which",
    "who",
    "how",
    "when",
    "where",
    "does",
    "did",
    "not",
    "are",
    "was",
    "were",
    "is",
    "its",
    "it's",
    "this",
    "that",
    "with",
    "from",
    "into",
    "since",
    "all",
    "any",
    "fail",
    "fails",
    "failing",
    "failed",
    "broken",
    "down",
    "wrong",
    "problem",
    "problems",
    "issue",
    "issues",
    "error",
    "errors",
    "slow",
    "happening",
    "there",
    "cluster",
    "kubernetes",
    "please",
    "fix",
    "can",
    "you",
    "tell",
    "show",
    "explain",
];

fn words(question: &str) -> Vec<String> {
    question
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.'))
        .map(|w| w.trim_matches(|c| c == '-' || c == '.'))
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(w))
        .map(str::to_string)
        .collect()
}

/// How many of `words` name `h`'s object: its namespace or name (not its kind: "pod" in a
/// question says little) contains the word, or its check id does.
fn score(words: &[String], h: &Hypothesis) -> usize {
    let object = h.object.to_lowercase();
    let parts: Vec<&str> = object.split('/').skip(1).collect();
    let check = h.check.to_lowercase();
    words
        .iter()
        .filter(|w| parts.iter().any(|p| p.contains(w.as_str())) || check.contains(w.as_str()))
        .count()
}

/// `all` with the root causes whose object (namespace, name) or check the question names
/// first, the more words the earlier; otherwise in their given order (most severe first).
pub fn rank(question: &str, all: &[Hypothesis]) -> Vec<Hypothesis> {
    let words = words(question);
    let mut ranked: Vec<(usize, &Hypothesis)> = all.iter().map(|h| (score(&words, h), h)).collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    ranked.into_iter().map(|(_, h)| h.clone()).collect()
}

fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    match text.find(". ") {
        Some(i) => &text[..=i],
        None => text,
    }
}

/// `schema` without what does not help a model fill it in: `$schema`, `title`, a `default`
/// of null, and the top-level description (the tool's description says it). Property
/// descriptions stay: without "Deployment, Pod, Service, ..." a small model writes `"kind":
/// "string"`. Property names are names, never keywords: a property called `title` stays.
fn lean_schema(schema: Value) -> Value {
    fn walk(v: Value, top: bool) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, v)| match k.as_str() {
                        "$schema" | "title" => !v.is_string(),
                        "default" => !v.is_null(),
                        "description" => !(top && v.is_string()),
                        _ => true,
                    })
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v) {
                            ("properties", Value::Object(props)) => Value::Object(
                                props
                                    .into_iter()
                                    .map(|(n, s)| (n, walk(s, false)))
                                    .collect(),
                            ),
                            (_, v) => walk(v, false),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|x| walk(x, false)).collect())
            }
            other => other,
        }
    }
    walk(schema, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hyp(check: &str, object: &str, evidence: usize) -> Hypothesis {
        Hypothesis {
            fingerprint: format!("{check}{object}"),
            check: check.into(),
            object: object.into(),
            severity: "high".into(),
            title: String::new(),
            summary: String::new(),
            evidence: (0..evidence).map(|i| format!("line {i}")).collect(),
            remediation: None,
        }
    }

    fn shop() -> Vec<Hypothesis> {
        vec![
            hyp("node.not-ready", "Node/worker-2", 6),
            hyp("workload.crash-loop", "Pod/shop/cart-5f7", 6),
            hyp("config.missing-configmap", "Pod/shop/checkout-7d9f-x", 6),
            hyp("service.selector-no-match", "Service/web/frontend", 6),
            hyp("storage.pvc-pending", "PersistentVolumeClaim/shop/data", 6),
            hyp("node.disk-pressure", "Node/worker-3", 6),
        ]
    }

    fn objects(hs: &[Hypothesis]) -> Vec<&str> {
        hs.iter().map(|h| h.object.as_str()).collect()
    }

    #[test]
    fn the_named_object_comes_first_and_the_rest_keep_their_order() {
        let r = rank("Why is checkout failing?", &shop());
        assert_eq!(r[0].object, "Pod/shop/checkout-7d9f-x");
        assert_eq!(
            objects(&r[1..]),
            [
                "Node/worker-2",
                "Pod/shop/cart-5f7",
                "Service/web/frontend",
                "PersistentVolumeClaim/shop/data",
                "Node/worker-3"
            ]
        );
        // A namespace counts once per root cause; two words beat one.
        let r = rank("what is wrong in shop with the pvc data?", &shop());
        assert_eq!(r[0].object, "PersistentVolumeClaim/shop/data");
        assert_eq!(
            objects(&r[1..3]),
            ["Pod/shop/cart-5f7", "Pod/shop/checkout-7d9f-x"]
        );
        // A check's words count; a kind alone does not ("node" is every Node's kind).
        let r = rank("any disk-pressure?", &shop());
        assert_eq!(r[0].object, "Node/worker-3");
        assert_eq!(rank("why is my pod failing?", &shop()), shop());
        let r = rank("why is the node failing?", &shop());
        assert_eq!(
            objects(&r[..2]),
            ["Node/worker-2", "Node/worker-3"],
            "node.* checks"
        );
        // Nothing named: the given order (most severe first).
        assert_eq!(rank("what is broken?", &shop()), shop());
    }

    #[test]
    fn a_small_context_gets_fewer_root_causes_and_evidence_lines() {
        let small = Focus::for_context(Some(8192));
        assert_eq!(small, Focus::SMALL);
        let h = small.hypotheses("why is checkout failing?", &shop());
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].object, "Pod/shop/checkout-7d9f-x");
        assert!(h.iter().all(|h| h.evidence.len() == 3));
        let l = small.limit(Limits::default());
        assert_eq!(
            (l.max_steps, l.max_tool_bytes, l.max_output_tokens),
            (3, 2048, 192)
        );
        assert_eq!(l.token_budget, Limits::default().token_budget);
        let tighter = Limits {
            max_steps: 2,
            max_output_tokens: 64,
            ..Limits::default()
        };
        assert_eq!(
            small.limit(tighter).max_steps,
            2,
            "settings tighter than the focus stay"
        );
        assert_eq!(small.limit(tighter).max_output_tokens, 64);
        for big in [None, Some(128_000)] {
            let full = Focus::for_context(big);
            let h = full.hypotheses("why is checkout failing?", &shop());
            assert_eq!(h.len(), 6);
            assert!(h.iter().all(|h| h.evidence.len() == prompts::MAX_EVIDENCE));
            assert_eq!(full.limit(Limits::default()), Limits::default());
        }
    }

    #[test]
    fn lean_tools_are_the_essentials_with_short_descriptions_and_the_same_schemas() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "WhyInput",
            "type": "object",
            "description": "Arguments.",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "description": "The object's name."},
                "title": {"type": "string", "default": null, "description": "A property so named."},
                "cluster": {"type": ["string", "null"], "default": null},
                "kinds": {"type": "array", "items": {"enum": ["Pod"], "title": "Kind"}}
            }
        });
        let all = vec![
            ToolSpec {
                name: "why".into(),
                description: "Explain why one object fails. It reads the index and the chain."
                    .into(),
                parameters: schema.clone(),
            },
            ToolSpec {
                name: "diagnose".into(),
                description: "Scan.".into(),
                parameters: json!({"type": "object"}),
            },
        ];
        struct Tb(Vec<ToolSpec>);
        #[async_trait::async_trait]
        impl ToolBox for Tb {
            fn specs(&self) -> Vec<ToolSpec> {
                self.0.clone()
            }
            fn essentials(&self) -> Vec<ToolSpec> {
                self.0[..1].to_vec()
            }
            async fn call(&self, _: &str, _: Value) -> Result<Value, String> {
                Err("not called".into())
            }
        }
        let tb = Tb(all.clone());
        assert_eq!(Focus::FULL.tools(&tb), all);
        let lean = Focus::SMALL.tools(&tb);
        assert_eq!(lean.len(), 1);
        assert_eq!(lean[0].description, "Explain why one object fails.");
        assert_eq!(
            lean[0].parameters,
            json!({
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "The object's name."},
                    "title": {"type": "string", "description": "A property so named."},
                    "cluster": {"type": ["string", "null"]},
                    "kinds": {"type": "array", "items": {"enum": ["Pod"]}}
                }
            })
        );
    }
}
