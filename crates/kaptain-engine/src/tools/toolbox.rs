//! The engine's tools as the LLM layer sees them: a [`kaptain_llm::ToolBox`] over the
//! [`ToolRegistry`], a [`ToolHost`] and a [`Caller`], and what an investigation needs from the
//! host: the deterministic root causes (as hypotheses), the names to anonymize, and the
//! Secret values that must never be sent.
//!
//! The tool box offers the read-only tools, plus `propose_action` when the caller may
//! propose — never any other tool that changes something. Every call runs through the
//! registry with the caller's role and scopes, exactly as an MCP call would; errors come back
//! as one scrubbed line for the model to read.

use std::sync::Arc;

use kaptain_index::Kind;
use kaptain_llm::{Hypothesis, NamedObject, ToolSpec};
use serde_json::Value;

use super::access::Caller;
use super::host::ToolHost;
use super::registry::{Mark, ToolRegistry};
use super::scrub_text;

/// The one tool that may lead to a change (through the safety guard).
pub const PROPOSE: &str = "propose_action";
/// The tools a model with a small context window is offered: those that confirm or refute a
/// root cause on one object, and the proposal (when the caller may propose). The findings
/// are in its prompt already; `get_resource` repeats `describe`. (Each schema is ~150–350
/// prompt tokens, read at ~220 tokens/s by the embedded 135M model on two cores.)
pub const ESSENTIALS: &[&str] = &["why", "describe", "events", "logs", PROPOSE];
/// Root causes handed to a model as hypotheses, at most.
pub const MAX_HYPOTHESES: usize = 12;

/// The engine's tools for one caller.
#[derive(Clone)]
pub struct EngineToolBox {
    registry: ToolRegistry,
    host: Arc<dyn ToolHost>,
    caller: Caller,
}

impl EngineToolBox {
    /// Kaptain's standard tools for `caller` on `host`.
    pub fn new(host: Arc<dyn ToolHost>, caller: Caller) -> EngineToolBox {
        EngineToolBox::with_registry(ToolRegistry::standard(), host, caller)
    }

    pub fn with_registry(
        registry: ToolRegistry,
        host: Arc<dyn ToolHost>,
        caller: Caller,
    ) -> EngineToolBox {
        EngineToolBox {
            registry,
            host,
            caller,
        }
    }

    /// Read-only tools only, even for an operator (no proposals).
    pub fn read_only(mut self) -> EngineToolBox {
        self.registry = self.registry.read_only();
        self
    }

    fn offered(&self, name: &str) -> bool {
        self.registry.visible(&self.caller).iter().any(|t| {
            t.name() == name
                && (t.mark() == Mark::ReadOnly
                    || (t.name() == PROPOSE && self.caller.may_propose()))
        })
    }
}

#[async_trait::async_trait]
impl kaptain_llm::ToolBox for EngineToolBox {
    fn specs(&self) -> Vec<ToolSpec> {
        self.registry
            .visible(&self.caller)
            .into_iter()
            .filter(|t| t.mark() == Mark::ReadOnly || t.name() == PROPOSE)
            .map(|t| ToolSpec {
                name: t.name().to_string(),
                description: t.description().to_string(),
                parameters: Value::Object(t.input_schema()),
            })
            .collect()
    }

    /// The [`ESSENTIALS`]; with one cluster, without their `cluster` argument (a small model
    /// fills it with a namespace; left out, the tools use the one cluster), a free-text `kind`
    /// argument limited to the kinds the cluster has objects of (a small model wrote `"kind":
    /// "string"`; under constrained decoding an enum makes it a real kind), and names no
    /// longer than Kubernetes allows.
    fn essentials(&self) -> Vec<ToolSpec> {
        let one_cluster = self.host.clusters().len() == 1;
        let kinds: Vec<Value> = match self
            .host
            .default_cluster()
            .and_then(|c| self.host.index(&c))
        {
            Some(idx) => Kind::ALL
                .iter()
                .filter(|k| idx.count(**k) > 0)
                .map(|k| Value::from(k.name()))
                .collect(),
            None => Vec::new(),
        };
        self.specs()
            .into_iter()
            .filter(|t| ESSENTIALS.contains(&t.name.as_str()))
            .map(|mut t| {
                let required = |p: &Value| {
                    p.get("required")
                        .and_then(Value::as_array)
                        .is_some_and(|r| r.iter().any(|x| x == "cluster"))
                };
                if one_cluster
                    && !required(&t.parameters)
                    && let Some(props) = t
                        .parameters
                        .get_mut("properties")
                        .and_then(Value::as_object_mut)
                {
                    props.remove("cluster");
                }
                if let Some(kind) = t
                    .parameters
                    .get_mut("properties")
                    .and_then(|p| p.get_mut("kind"))
                    .and_then(Value::as_object_mut)
                    && !kinds.is_empty()
                    && kind.get("type") == Some(&Value::from("string"))
                    && !kind.contains_key("enum")
                {
                    kind.insert("enum".into(), Value::Array(kinds.clone()));
                }
                // Kubernetes' own limits, so that a small model's name ends (SmolLM2 wrote a
                // namespace of 189 tokens, to the end of its output budget).
                for (field, limit) in [("namespace", 63), ("name", 253)] {
                    if let Some(p) = t
                        .parameters
                        .get_mut("properties")
                        .and_then(|p| p.get_mut(field))
                        .and_then(Value::as_object_mut)
                    {
                        p.entry("maxLength").or_insert(Value::from(limit));
                    }
                }
                t
            })
            .collect()
    }

    async fn call(&self, name: &str, args: Value) -> Result<Value, String> {
        if !self.offered(name) {
            return Err(format!("{name} is not one of the tools offered"));
        }
        self.registry
            .call(self.host.as_ref(), &self.caller, name, args)
            .await
            .map_err(|e| scrub_text(&e.to_string()))
    }
}

/// What an investigation of `cluster` needs from the host, for `caller`.
#[derive(Debug, Clone, Default)]
pub struct InvestigationInputs {
    /// The cluster's root causes the caller may see, most severe first.
    pub hypotheses: Vec<Hypothesis>,
    /// Names to anonymize: the cluster, namespaces, workloads, pods, nodes and the other
    /// objects of the index (namespaces first, so a name shared by several kinds gets the
    /// most telling placeholder).
    pub names: Vec<NamedObject>,
    /// Secret values the index holds (files may carry them; live scans never keep them).
    pub secrets: Vec<String>,
}

macro_rules! names_of {
    ($idx:expr, $out:expr; $( $field:ident => $kind:literal ),* $(,)?) => {
        $(
            for o in $idx.objects.$field.iter() {
                if let Some(n) = &o.metadata.name {
                    $out.push(NamedObject::new($kind, n.clone()));
                }
            }
        )*
    };
}

/// The hypotheses, names and Secret values of `cluster` (the host's default cluster when
/// `None`); empty when the host has no such cluster.
pub fn investigation_inputs(
    host: &dyn ToolHost,
    caller: &Caller,
    cluster: Option<&str>,
) -> InvestigationInputs {
    let Some(cluster) = cluster
        .map(str::to_string)
        .or_else(|| host.default_cluster())
    else {
        return InvestigationInputs::default();
    };
    let mut out = InvestigationInputs::default();
    if let Some(report) = host.report(&cluster) {
        let mut roots: Vec<&kaptain_model::Finding> = report
            .findings
            .iter()
            .filter(|f| f.root_cause && caller.covers(&cluster, f.object.namespace.as_deref()))
            .collect();
        roots.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.object.cmp(&b.object)));
        out.hypotheses = roots
            .into_iter()
            .take(MAX_HYPOTHESES)
            .map(Hypothesis::from)
            .collect();
    }
    out.names.push(NamedObject::new("Cluster", cluster.clone()));
    // What the findings name (their objects and the objects their causes may be on), after
    // the index's own names below have had their say on kinds.
    let mut finding_names = Vec::new();
    if let Some(report) = host.report(&cluster) {
        for f in &report.findings {
            for o in std::iter::once(&f.object).chain(&f.cause_hints) {
                finding_names.push(NamedObject::new(o.kind.clone(), o.name.clone()));
            }
        }
    }
    if let Some(idx) = host.index(&cluster) {
        names_of!(idx, out.names;
            namespaces => "Namespace",
            deployments => "Deployment",
            statefulsets => "StatefulSet",
            daemonsets => "DaemonSet",
            cronjobs => "CronJob",
            jobs => "Job",
            replicasets => "ReplicaSet",
            pods => "Pod",
            nodes => "Node",
            services => "Service",
            ingresses => "Ingress",
            configmaps => "ConfigMap",
            secrets => "Secret",
            pvcs => "PersistentVolumeClaim",
            pvs => "PersistentVolume",
            serviceaccounts => "ServiceAccount",
            hpas => "HorizontalPodAutoscaler",
            pdbs => "PodDisruptionBudget",
            networkpolicies => "NetworkPolicy",
            validating_webhooks => "ValidatingWebhookConfiguration",
            mutating_webhooks => "MutatingWebhookConfiguration",
        );
        // Objects referenced but missing (a ConfigMap that does not exist) have names too.
        for r in idx.references() {
            out.names.push(NamedObject::new(
                r.target.kind.name(),
                r.target.name.clone(),
            ));
        }
        for s in idx.objects.secrets.iter() {
            for v in s.data.iter().flatten().map(|(_, v)| &v.0) {
                if let Ok(text) = std::str::from_utf8(v) {
                    out.secrets.push(text.to_string());
                }
                use base64::Engine as _;
                out.secrets
                    .push(base64::engine::general_purpose::STANDARD.encode(v));
            }
            out.secrets
                .extend(s.string_data.iter().flatten().map(|(_, v)| v.clone()));
        }
    }
    out.names.extend(finding_names);
    out
}
