use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (expected critical, high, medium, low or info)"
            )),
        }
    }
}

/// What area of operations a finding belongs to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Reliability,
    Config,
    Scheduling,
    Network,
    Storage,
    Security,
    Cost,
    Certificate,
    Capacity,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Reliability,
        Category::Config,
        Category::Scheduling,
        Category::Network,
        Category::Storage,
        Category::Security,
        Category::Cost,
        Category::Certificate,
        Category::Capacity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Reliability => "reliability",
            Category::Config => "config",
            Category::Scheduling => "scheduling",
            Category::Network => "network",
            Category::Storage => "storage",
            Category::Security => "security",
            Category::Cost => "cost",
            Category::Certificate => "certificate",
            Category::Capacity => "capacity",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown category {s:?}"))
    }
}

/// A reference to one Kubernetes object (which may not exist, e.g. a missing ConfigMap).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// `Kind/name` or `Kind/namespace/name`, the form used in tables and messages.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The lower-case `kind/name` form kubectl accepts, e.g. `deployment/api`.
    pub fn kubectl_name(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }

    /// `-n ns ` (with trailing space) for kubectl commands, or empty for cluster-scoped objects.
    pub fn kubectl_ns(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("-n {ns} "),
            None => String::new(),
        }
    }

    /// Same object, ignoring apiVersion (v1beta1 and v1 of one kind name the same object).
    pub fn same_object(&self, other: &ObjectRef) -> bool {
        self.kind == other.kind && self.namespace == other.namespace && self.name == other.name
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceSource {
    Status,
    Event,
    Spec,
    Log,
    Metric,
    Reference,
}

/// One fact that supports a finding: which status field, which event, which reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub source: EvidenceSource,
    pub detail: String,
}

impl Evidence {
    pub fn status(detail: impl Into<String>) -> Self {
        Evidence {
            source: EvidenceSource::Status,
            detail: detail.into(),
        }
    }
    pub fn event(detail: impl Into<String>) -> Self {
        Evidence {
            source: EvidenceSource::Event,
            detail: detail.into(),
        }
    }
    pub fn spec(detail: impl Into<String>) -> Self {
        Evidence {
            source: EvidenceSource::Spec,
            detail: detail.into(),
        }
    }
    pub fn reference(detail: impl Into<String>) -> Self {
        Evidence {
            source: EvidenceSource::Reference,
            detail: detail.into(),
        }
    }
    pub fn log(detail: impl Into<String>) -> Self {
        Evidence {
            source: EvidenceSource::Log,
            detail: detail.into(),
        }
    }
}

/// What a person can do about a finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Remediation {
    pub summary: String,
    #[serde(default)]
    pub commands: Vec<String>,
    /// A strategic-merge or JSON patch, as text, when the fix is a change to the object.
    #[serde(default)]
    pub patch: Option<String>,
}

/// One pod of a finding grouped under its workload: the pod, and the fingerprint the finding
/// had on that pod alone (what earlier versions reported, and the store and the healing
/// operator may still hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Instance {
    pub object: ObjectRef,
    pub fingerprint: String,
}

/// One problem found in a cluster, with evidence, a fix, and its place in a cause chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub id: String,
    pub fingerprint: String,
    pub severity: Severity,
    pub category: Category,
    pub object: ObjectRef,
    pub title: String,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub root_cause: bool,
    pub caused_by: Vec<String>,
    pub remediation: Remediation,
    pub confidence: f64,
    /// What tells several findings of one check on one object apart (a container name);
    /// part of the fingerprint. Empty when the check has one finding per object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The worst severity of this finding and of every finding it causes, directly or not:
    /// how urgent the cause is. A `high` missing ConfigMap that keeps two pods from starting
    /// (`critical`) is `critical` here; `severity` stays the check's own. Set by the
    /// correlator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_severity: Option<Severity>,
    /// For a finding grouped under its workload (the cause is in the workload's spec: a
    /// memory limit, an image, a missing reference, a probe), the pods it holds on, each with
    /// the fingerprint the finding had on that pod alone. Empty for other findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<Instance>,
    /// Objects on which this finding's cause may be found (its pods, its backend Service,
    /// the ConfigMap it misses, its node). Used by the correlator; not part of the report.
    #[serde(skip)]
    pub cause_hints: Vec<ObjectRef>,
}

impl Finding {
    /// The confidence of a finding made by [`Finding::new`] (the analyzers' default too).
    pub const DEFAULT_CONFIDENCE: f64 = 0.9;

    /// A root-cause finding of check `id` on `object`: fingerprint
    /// `fingerprint(id, &object, "")`, empty title, message and evidence, no causes, default
    /// remediation, confidence [`Finding::DEFAULT_CONFIDENCE`] and no cause hints. Set the
    /// rest with struct update syntax (`Finding { title, ..Finding::new(..) }`) or
    /// [`Finding::caused_by`].
    pub fn new(
        id: impl Into<String>,
        severity: Severity,
        category: Category,
        object: ObjectRef,
    ) -> Finding {
        let id = id.into();
        Finding {
            fingerprint: fingerprint(&id, &object, ""),
            id,
            severity,
            category,
            object,
            title: String::new(),
            message: String::new(),
            evidence: Vec::new(),
            root_cause: true,
            caused_by: Vec::new(),
            remediation: Remediation::default(),
            confidence: Self::DEFAULT_CONFIDENCE,
            key: String::new(),
            chain_severity: None,
            instances: Vec::new(),
            cause_hints: Vec::new(),
        }
    }

    /// How urgent the finding is: the worst severity in the chain it starts (see
    /// [`Finding::chain_severity`]), never below its own.
    pub fn urgency(&self) -> Severity {
        self.chain_severity
            .map_or(self.severity, |c| c.max(self.severity))
    }

    /// Whether this finding is the one `fingerprint` names: its own, or, for a finding grouped
    /// under its workload, the fingerprint one of its pods had on its own.
    pub fn answers_to(&self, fingerprint: &str) -> bool {
        self.fingerprint == fingerprint
            || self.instances.iter().any(|i| i.fingerprint == fingerprint)
    }

    /// Adds the fingerprints of findings that cause this one; it is a root cause only while it
    /// has none (so an empty `causes` leaves it as it was).
    #[must_use]
    pub fn caused_by(mut self, causes: impl IntoIterator<Item = impl Into<String>>) -> Finding {
        self.caused_by.extend(causes.into_iter().map(Into::into));
        self.root_cause = self.caused_by.is_empty();
        self
    }
}

/// A stable 16-hex-digit fingerprint (FNV-1a 64) of a check id, an object and a key detail.
/// Stable across runs and versions, so findings can be tracked over time.
pub fn fingerprint(id: &str, object: &ObjectRef, key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        id,
        &object.kind,
        object.namespace.as_deref().unwrap_or(""),
        &object.name,
        key,
    ] {
        for b in part.as_bytes().iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn fingerprint_depends_on_every_part() {
        let a = ObjectRef::new("v1", "Pod", Some("ns"), "a");
        let b = ObjectRef::new("v1", "Pod", Some("ns"), "b");
        assert_eq!(fingerprint("x", &a, "k"), fingerprint("x", &a, "k"));
        assert_ne!(fingerprint("x", &a, "k"), fingerprint("x", &b, "k"));
        assert_ne!(fingerprint("x", &a, "k"), fingerprint("y", &a, "k"));
        assert_ne!(fingerprint("x", &a, "k"), fingerprint("x", &a, "j"));
        // Separators keep ("ab","c") apart from ("a","bc").
        let c = ObjectRef::new("v1", "Pod", Some("nsa"), "b");
        let d = ObjectRef::new("v1", "Pod", Some("ns"), "ab");
        assert_ne!(fingerprint("x", &c, ""), fingerprint("x", &d, ""));
    }

    #[test]
    fn new_is_a_root_cause_fingerprinted_by_id_and_object() {
        let o = ObjectRef::new("v1", "Pod", Some("shop"), "api");
        let f = Finding::new(
            "pod.crash-loop",
            Severity::High,
            Category::Reliability,
            o.clone(),
        );
        assert_eq!(f.id, "pod.crash-loop");
        assert_eq!(f.fingerprint, fingerprint("pod.crash-loop", &o, ""));
        assert_eq!(
            (f.severity, f.category),
            (Severity::High, Category::Reliability)
        );
        assert_eq!(f.object, o);
        assert!(f.title.is_empty() && f.message.is_empty() && f.evidence.is_empty());
        assert!(f.root_cause && f.caused_by.is_empty() && f.cause_hints.is_empty());
        assert_eq!(f.remediation, Remediation::default());
        assert_eq!(f.confidence, Finding::DEFAULT_CONFIDENCE);
    }

    #[test]
    fn caused_by_makes_a_symptom_unless_empty() {
        let o = ObjectRef::new("v1", "Pod", Some("shop"), "api");
        let root = Finding::new("x", Severity::Low, Category::Config, o.clone());
        let same = root.clone().caused_by(Vec::<String>::new());
        assert_eq!(same, root);
        let sym = Finding::new("y", Severity::Low, Category::Config, o)
            .caused_by([root.fingerprint.as_str()])
            .caused_by(["other".to_string()]);
        assert!(!sym.root_cause);
        assert_eq!(sym.caused_by, [root.fingerprint.clone(), "other".into()]);
    }

    #[test]
    fn object_ref_serializes_with_kubernetes_field_names() {
        let o = ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
        let v = serde_json::to_value(&o).expect("serialize");
        assert_eq!(v["apiVersion"], "apps/v1");
        assert_eq!(v["namespace"], "shop");
        let n = ObjectRef::new("v1", "Node", None, "n1");
        assert!(
            serde_json::to_value(&n)
                .expect("serialize")
                .get("namespace")
                .is_none()
        );
    }
}
