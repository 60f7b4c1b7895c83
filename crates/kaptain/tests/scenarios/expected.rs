//! `expected.yaml` of a scenario, and the checks of its manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expected {
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) nodes: Vec<NodeSpec>,
    #[serde(default)]
    pub(crate) wait_for: Vec<Wait>,
    #[serde(default)]
    pub(crate) phases: Vec<Phase>,
    pub(crate) root_causes: Vec<Match>,
    #[serde(default)]
    pub(crate) symptoms: Vec<Symptom>,
    /// Findings that must not be reported (wrong conclusions a check is prone to here).
    #[serde(default)]
    pub(crate) absent: Vec<Match>,
    #[serde(default)]
    pub(crate) unserved: Option<Unserved>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) cpu: String,
    pub(crate) memory: String,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) taints: Vec<Taint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Taint {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) value: Option<String>,
    pub(crate) effect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Phase {
    #[serde(default)]
    pub(crate) apply: Option<String>,
    #[serde(default)]
    pub(crate) set_node_ready: Option<NodeReady>,
    #[serde(default)]
    pub(crate) wait_for: Vec<Wait>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeReady {
    pub(crate) node: String,
    pub(crate) ready: bool,
}

/// A finding (`id` set) or an object that must be ready (`ready: true`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wait {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) name_prefix: Option<String>,
    #[serde(default)]
    pub(crate) ready: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Match {
    pub(crate) id: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) name_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Symptom {
    pub(crate) id: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) name_prefix: Option<String>,
    /// Id of the root cause the symptom must trace back to.
    pub(crate) root: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Unserved {
    pub(crate) api: String,
    pub(crate) root_causes: Vec<Match>,
}

impl Symptom {
    pub(crate) fn matcher(&self) -> Match {
        Match {
            id: self.id.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            name_prefix: self.name_prefix.clone(),
        }
    }
}

impl Match {
    pub(crate) fn name_matches(&self, name: &str) -> bool {
        match (&self.name, &self.name_prefix) {
            (Some(n), _) => n == name,
            (None, Some(p)) => name.starts_with(p.as_str()),
            (None, None) => true,
        }
    }

    /// Whether a finding is this one: same id, kind and name, in the scenario's namespace
    /// (or cluster-scoped).
    pub(crate) fn matches(&self, f: &Value, ns: &str) -> bool {
        f["id"] == self.id.as_str()
            && f["object"]["kind"] == self.kind.as_str()
            && f["object"]["namespace"].as_str().is_none_or(|n| n == ns)
            && self.name_matches(f["object"]["name"].as_str().unwrap_or(""))
    }

    pub(crate) fn display(&self) -> String {
        let name = match (&self.name, &self.name_prefix) {
            (Some(n), _) => n.clone(),
            (None, Some(p)) => format!("{p}*"),
            (None, None) => "*".into(),
        };
        format!("{} {}/{name}", self.id, self.kind)
    }
}

impl Wait {
    pub(crate) fn finding(&self) -> Option<Match> {
        self.id.as_ref().map(|id| Match {
            id: id.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            name_prefix: self.name_prefix.clone(),
        })
    }
}

pub(crate) struct Scenario {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) expected: Expected,
}

pub(crate) fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

pub(crate) fn load(name: &str) -> Scenario {
    let dir = scenarios_dir().join(name);
    let path = dir.join("expected.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let expected: Expected = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert!(
        !expected.description.trim().is_empty(),
        "{name}: empty description"
    );
    assert!(
        expected.phases.is_empty() || expected.wait_for.is_empty(),
        "{name}: give either wait_for or phases, not both"
    );
    for w in expected
        .wait_for
        .iter()
        .chain(expected.phases.iter().flat_map(|p| &p.wait_for))
    {
        assert!(
            w.id.is_some() != w.ready,
            "{name}: a wait_for entry needs either an id or ready: true: {w:?}"
        );
        assert!(
            w.id.is_some() || w.name.is_some(),
            "{name}: ready: true needs a name: {w:?}"
        );
    }
    for p in &expected.phases {
        assert!(
            p.apply.is_some() != p.set_node_ready.is_some(),
            "{name}: a phase does exactly one thing (apply or set_node_ready): {p:?}"
        );
    }
    Scenario {
        name: name.to_string(),
        dir,
        expected,
    }
}

impl Scenario {
    pub(crate) fn first_manifest(&self) -> Option<PathBuf> {
        match self.expected.phases.first() {
            None => Some(self.dir.join("manifests.yaml")),
            Some(p) => p.apply.as_ref().map(|f| self.dir.join(f)),
        }
    }

    pub(crate) fn manifest_files(&self) -> Vec<PathBuf> {
        if self.expected.phases.is_empty() {
            vec![self.dir.join("manifests.yaml")]
        } else {
            self.expected
                .phases
                .iter()
                .filter_map(|p| p.apply.as_ref().map(|f| self.dir.join(f)))
                .collect()
        }
    }
}

/// Every scenario directory, sorted.
pub(crate) fn all_scenario_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(scenarios_dir())
        .expect("tests/scenarios")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("expected.yaml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Every namespaced object of a scenario lives in its namespace, and manifests.yaml creates
/// that Namespace first.
pub(crate) fn check_manifests(name: &str, path: &Path, text: &str) {
    let cluster_scoped = [
        "Namespace",
        "Node",
        "IngressClass",
        "StorageClass",
        "PersistentVolume",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
    ];
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect();
    if path.ends_with("manifests.yaml") {
        let first = docs.first().expect("a document");
        assert!(
            first["kind"] == "Namespace" && first["metadata"]["name"] == name,
            "{}: the first document must be Namespace {name}",
            path.display()
        );
    }
    for d in &docs {
        let kind = d["kind"].as_str().unwrap_or("");
        if !cluster_scoped.contains(&kind) {
            assert_eq!(
                d["metadata"]["namespace"],
                name,
                "{}: {kind} {} must be in namespace {name}",
                path.display(),
                d["metadata"]["name"]
            );
        }
    }
}
