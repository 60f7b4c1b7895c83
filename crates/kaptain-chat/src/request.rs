//! The structured request a question becomes.

use kaptain_model::{Category, Severity};
use serde::{Deserialize, Serialize};

/// What a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// What is wrong: the root causes in scope, each with how many findings trace back to it.
    Diagnose,
    /// Why an object is failing: the cause chain from its findings to their root causes.
    Why,
    /// How to fix what is wrong: the root causes' remediations and commands.
    Fix,
    /// A filtered list of findings (severity, category, check, kind).
    Findings,
    /// What a check means, and where it fires now.
    Explain,
    /// What can be asked.
    Help,
    /// A request to act ("scale web to 5"): see [`Request::act`].
    Act,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Diagnose => "diagnose",
            Intent::Why => "why",
            Intent::Fix => "fix",
            Intent::Findings => "findings",
            Intent::Explain => "explain",
            Intent::Help => "help",
            Intent::Act => "act",
        }
    }
}

/// A question, understood: an intent and the filters that narrow it. Every field but `intent`
/// is optional; an absent filter means "all".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Request {
    pub intent: Intent,
    /// The cluster (kubeconfig context) asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// An object kind (`Deployment`, `Service`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// An object name, or the start of one (`checkout` also matches the pods `checkout-7d9c-x2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only findings at or above this severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// A check id (`pod.crash-loop`) or domain (`pod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Words of the question that were not understood (said back, so the asker can rephrase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// For [`Intent::Act`]: what to do, on which object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<crate::act::ActRequest>,
}

impl Request {
    pub fn new(intent: Intent) -> Self {
        Request {
            intent,
            cluster: None,
            namespace: None,
            kind: None,
            name: None,
            min_severity: None,
            category: None,
            check: None,
            ignored: Vec::new(),
            act: None,
        }
    }

    /// A request to act, with the filters it names (so answers about it stay in scope).
    pub fn act(act: crate::act::ActRequest) -> Self {
        let mut r = Request::new(Intent::Act);
        r.cluster = act.cluster.clone();
        r.namespace = act.namespace.clone();
        r.kind = act.kind.clone();
        r.name = act.name.clone();
        r.act = Some(act);
        r
    }

    /// How the question was read, in a few words: `why · namespace shop · Deployment checkout`.
    pub fn describe(&self) -> String {
        if let Some(a) = &self.act {
            return a.describe();
        }
        let mut parts = vec![self.intent.as_str().to_string()];
        if let Some(c) = &self.cluster {
            parts.push(format!("cluster {c}"));
        }
        if let Some(ns) = &self.namespace {
            parts.push(format!("namespace {ns}"));
        }
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => parts.push(format!("{k} {n}")),
            (Some(k), None) => parts.push(format!("kind {k}")),
            (None, Some(n)) => parts.push(format!("object {n}")),
            (None, None) => {}
        }
        if let Some(s) = self.min_severity {
            parts.push(format!("severity ≥ {}", s.as_str()));
        }
        if let Some(c) = self.category {
            parts.push(format!("category {}", c.as_str()));
        }
        if let Some(c) = &self.check {
            parts.push(format!("check {c}"));
        }
        parts.join(" · ")
    }

    /// The `kaptain` command that shows the findings this answer is drawn from (an object
    /// filter has no flag: it narrows what the answer shows). None for help.
    pub fn cli(&self) -> Option<String> {
        match self.intent {
            Intent::Help | Intent::Act => None,
            Intent::Explain if self.namespace.is_none() && self.name.is_none() => {
                Some("kaptain checks".to_string())
            }
            _ => {
                let mut cmd = vec!["kaptain diagnose".to_string()];
                if let Some(c) = &self.cluster {
                    cmd.push(format!("--context {}", shell_word(c)));
                }
                match &self.namespace {
                    Some(ns) => cmd.push(format!("-n {}", shell_word(ns))),
                    None => cmd.push("-A".to_string()),
                }
                let only: Vec<&str> = self
                    .check
                    .as_deref()
                    .into_iter()
                    .chain(self.category.map(Category::as_str))
                    .collect();
                if !only.is_empty() {
                    cmd.push(format!("--only {}", only.join(",")));
                }
                if let Some(s) = self.min_severity {
                    cmd.push(format!("--min-severity {}", s.as_str()));
                }
                Some(cmd.join(" "))
            }
        }
    }
}

/// A word as a shell would read it back (names here are DNS labels, so quoting is rare).
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_command_carries_every_filter_that_has_a_flag() {
        let mut r = Request::new(Intent::Findings);
        assert_eq!(r.cli().as_deref(), Some("kaptain diagnose -A"));
        r.cluster = Some("prod".into());
        r.namespace = Some("shop".into());
        r.check = Some("pod.crash-loop".into());
        r.category = Some(Category::Network);
        r.min_severity = Some(Severity::High);
        assert_eq!(
            r.cli().as_deref(),
            Some(
                "kaptain diagnose --context prod -n shop --only pod.crash-loop,network \
                 --min-severity high"
            )
        );
        r.cluster = Some("it's mine".into());
        assert!(
            r.cli()
                .unwrap_or_default()
                .contains(r"--context 'it'\''s mine'")
        );
        assert_eq!(Request::new(Intent::Help).cli(), None);
        let mut e = Request::new(Intent::Explain);
        e.check = Some("pod.oom-killed".into());
        assert_eq!(e.cli().as_deref(), Some("kaptain checks"));
    }

    #[test]
    fn describe_names_each_filter_once() {
        let mut r = Request::new(Intent::Why);
        r.namespace = Some("shop".into());
        r.kind = Some("Deployment".into());
        r.name = Some("checkout".into());
        assert_eq!(r.describe(), "why · namespace shop · Deployment checkout");
    }
}
