//! Compact, schema-described views of findings and objects for tool outputs.

use kaptain_model::{Finding, ObjectRef};
use schemars::JsonSchema;
use serde::Serialize;

use super::bound::short;

/// Evidence lines kept per finding.
const MAX_EVIDENCE: usize = 5;
/// Fix commands kept per finding.
const MAX_COMMANDS: usize = 4;

/// An object reference: `kind`, `namespace` (absent for cluster-scoped objects), `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ObjectView {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl From<&ObjectRef> for ObjectView {
    fn from(o: &ObjectRef) -> Self {
        ObjectView {
            kind: o.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        }
    }
}

/// One finding, compact: what, where, why, and the fix.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FindingView {
    /// The check id (`pod.crash-loop`); `explain_check` says what it means.
    pub check: String,
    /// Stable id of this finding (`caused_by` refers to it).
    pub fingerprint: String,
    /// `critical`, `high`, `medium`, `low` or `info`.
    pub severity: String,
    pub category: String,
    pub object: ObjectView,
    pub title: String,
    pub message: String,
    /// True when nothing else found explains it: fix these first.
    pub root_cause: bool,
    /// Fingerprints of the findings this one is a symptom of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caused_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    pub fix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> Self {
        FindingView {
            check: f.id.clone(),
            fingerprint: f.fingerprint.clone(),
            severity: f.severity.as_str().to_string(),
            category: f.category.as_str().to_string(),
            object: ObjectView::from(&f.object),
            title: short(&f.title),
            message: short(&f.message),
            root_cause: f.root_cause,
            caused_by: f.caused_by.clone(),
            evidence: f
                .evidence
                .iter()
                .take(MAX_EVIDENCE)
                .map(|e| short(&format!("{:?}: {}", e.source, e.detail).to_lowercase_first()))
                .collect(),
            fix: short(&f.remediation.summary),
            commands: f
                .remediation
                .commands
                .iter()
                .take(MAX_COMMANDS)
                .map(|c| short(c))
                .collect(),
        }
    }
}

trait LowerFirst {
    fn to_lowercase_first(&self) -> String;
}

impl LowerFirst for String {
    fn to_lowercase_first(&self) -> String {
        let mut c = self.chars();
        match c.next() {
            Some(first) => first.to_lowercase().chain(c).collect(),
            None => String::new(),
        }
    }
}
