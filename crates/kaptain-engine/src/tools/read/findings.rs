//! `diagnose`, `why`, `explain_check`, `list_findings`: answers from the latest report.

use kaptain_chat::{Intent, Request};
use kaptain_model::{Category, Finding, Severity, Summary};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, given};
use crate::tools::bound::{Bounded, row_cap, short};
use crate::tools::error::ToolError;
use crate::tools::objects::parse_kind;
use crate::tools::registry::{Mark, TypedTool};
use crate::tools::view::{FindingView, ObjectView};

fn severity(s: &Option<String>) -> Result<Option<Severity>, ToolError> {
    given(s)
        .map(|s| {
            s.parse::<Severity>().map_err(|_| {
                ToolError::InvalidInput(format!(
                    "severity {s:?}: use critical, high, medium, low or info"
                ))
            })
        })
        .transpose()
}

/// Root causes first, then by urgency and severity (most severe first), then by object.
fn root_causes_first(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.root_cause
        .cmp(&a.root_cause)
        .then_with(|| b.urgency().cmp(&a.urgency()))
        .then_with(|| b.severity.cmp(&a.severity))
        .then_with(|| a.object.cmp(&b.object))
        .then_with(|| a.id.cmp(&b.id))
}

/// Whether `f` is grouped under its workload and holds on pod `name`.
fn on_pod(f: &Finding, name: &str) -> bool {
    f.instances.iter().any(|i| i.object.name == name)
}

/// Whether check `id` is picked by `only` (ids, domains like `pod`, categories like
/// `network`), as `kaptain diagnose --only` picks checks.
fn check_selected(only: &[String], id: &str, category: Category) -> bool {
    only.is_empty()
        || only.iter().map(|t| t.trim()).any(|t| {
            id == t
                || id.split('.').next() == Some(t)
                || t.parse::<Category>().ok() == Some(category)
        })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseInput {
    /// Cluster (kubeconfig context) to diagnose; default: the only or current one.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Only this namespace (cluster-scoped findings such as nodes are left out).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only these checks: ids (`pod.crash-loop`), domains (`pod`) or categories (`network`).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Only findings at or above this severity: critical, high, medium, low, info.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// At most this many findings (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A diagnosis: counts, then findings with root causes first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiagnoseOutput {
    pub cluster: String,
    /// When the analysis ran (RFC 3339).
    pub generated_at: String,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub root_causes: usize,
    /// Root causes first (fix those: their symptoms follow), then the rest by severity.
    pub findings: Bounded<FindingView>,
    /// APIs not read (not served or forbidden): their checks could not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

pub struct Diagnose;

#[async_trait::async_trait]
impl TypedTool for Diagnose {
    type Input = DiagnoseInput;
    type Output = DiagnoseOutput;
    const NAME: &'static str = "diagnose";
    const DESCRIPTION: &'static str = "Diagnose a Kubernetes cluster: what is broken and why. Returns findings from Kaptain's deterministic checks with root causes first (a missing ConfigMap before the pods and Service it breaks), each with evidence and a concrete fix. Filter by namespace, checks and minimum severity. Start here when asked what is wrong.";
    const MARK: Mark = Mark::ReadOnly;

    async fn run(&self, ctx: &Ctx<'_>, input: DiagnoseInput) -> Result<DiagnoseOutput, ToolError> {
        let cluster = ctx.cluster(input.cluster.as_deref())?;
        let ns = given(&input.namespace);
        if let Some(ns) = ns {
            ctx.ensure(&cluster, Some(ns))?;
        }
        let min = severity(&input.min_severity)?;
        for t in &input.checks {
            kaptain_analyze::select(&kaptain_analyze::Selection {
                only: vec![t.clone()],
            })
            .map_err(ToolError::InvalidInput)?;
        }
        let report = ctx.report(&cluster)?;
        let mut found: Vec<Finding> = ctx
            .visible_findings(&cluster)?
            .into_iter()
            .filter(|f| ns.is_none_or(|ns| f.object.namespace.as_deref() == Some(ns)))
            .filter(|f| min.is_none_or(|m| f.severity >= m))
            .filter(|f| check_selected(&input.checks, &f.id, f.category))
            .collect();
        found.sort_by(root_causes_first);
        let s = Summary::of(&found);
        let views: Vec<FindingView> = found.iter().map(FindingView::from).collect();
        Ok(DiagnoseOutput {
            cluster,
            generated_at: report.generated_at.clone(),
            critical: s.critical,
            high: s.high,
            medium: s.medium,
            low: s.low,
            info: s.info,
            root_causes: s.root_causes,
            findings: Bounded::cap(
                views,
                row_cap(input.limit),
                "raise `limit`, or narrow with namespace, checks or min_severity",
            ),
            skipped: report
                .skipped
                .iter()
                .map(|s| format!("{}: {}", s.api, short(&s.reason)))
                .collect(),
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhyInput {
    #[serde(default)]
    pub cluster: Option<String>,
    /// The object's kind: Deployment, Pod, Service, ... (kubectl short names work).
    pub kind: String,
    /// The object's name; a prefix matches its pods too (`checkout` → `checkout-7d9c-x2`).
    pub name: String,
    /// The object's namespace (absent for cluster-scoped kinds such as Node).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A finding on a cause chain, in short.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LinkView {
    pub fingerprint: String,
    pub severity: String,
    pub object: ObjectView,
    pub title: String,
}

/// One root cause of the object's trouble and the chain that leads to it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Cause {
    pub root: FindingView,
    /// From the asked-about object's finding down to the root cause (not repeated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<LinkView>,
    /// How many findings about the object trace back to this root cause.
    pub symptoms: usize,
}

/// Why an object fails: its cause chains down to their root causes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WhyOutput {
    pub cluster: String,
    /// One sentence that answers it.
    pub headline: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    pub causes: Vec<Cause>,
    /// How many more causes matched than are listed.
    pub more: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<String>,
}

pub struct Why;

#[async_trait::async_trait]
impl TypedTool for Why {
    type Input = WhyInput;
    type Output = WhyOutput;
    const NAME: &'static str = "why";
    const DESCRIPTION: &'static str = "Explain why one Kubernetes object is failing: the cause chain from its findings down to the root cause (e.g. Deployment checkout ← its pods cannot start ← ConfigMap checkout-config is missing), with the fix of the root cause.";
    const MARK: Mark = Mark::ReadOnly;

    async fn run(&self, ctx: &Ctx<'_>, input: WhyInput) -> Result<WhyOutput, ToolError> {
        let cluster = ctx.cluster(input.cluster.as_deref())?;
        let kind = parse_kind(&input.kind)
            .ok_or_else(|| ToolError::InvalidInput(format!("unknown kind {:?}", input.kind)))?;
        let ns = given(&input.namespace).filter(|_| kind.namespaced());
        ctx.ensure(&cluster, ns)?;
        let findings = ctx.visible_findings(&cluster)?;
        let mut r = Request::new(Intent::Why);
        r.cluster = Some(cluster.clone());
        r.namespace = ns.map(str::to_string);
        r.kind = Some(kind.name().to_string());
        r.name = Some(input.name.trim().to_string());
        let a = kaptain_chat::answer(&r, Some(&findings));
        Ok(WhyOutput {
            cluster,
            headline: short(&a.headline),
            details: a.details.iter().map(|d| short(d)).collect(),
            causes: a
                .items
                .iter()
                .map(|i| Cause {
                    root: FindingView::from(&i.finding),
                    via: i
                        .via
                        .iter()
                        .map(|l| LinkView {
                            fingerprint: l.fingerprint.clone(),
                            severity: l.severity.as_str().to_string(),
                            object: ObjectView::from(&l.object),
                            title: short(&l.title),
                        })
                        .collect(),
                    symptoms: i.symptoms,
                })
                .collect(),
            more: a.more,
            next: a.suggestions,
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainInput {
    /// A check id such as `pod.crash-loop` (`list_findings` and `diagnose` name them).
    pub check: String,
    /// Also count where it fires now in this cluster (default: the only or current one).
    #[serde(default)]
    pub cluster: Option<String>,
}

/// What a check means.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExplainOutput {
    pub check: String,
    pub category: String,
    /// Default severity.
    pub severity: String,
    pub description: String,
    /// Kinds the check reads.
    pub reads: Vec<String>,
    /// Findings of this check the caller may see now (absent when no cluster was looked at).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firing_now: Option<usize>,
}

pub struct ExplainCheck;

#[async_trait::async_trait]
impl TypedTool for ExplainCheck {
    type Input = ExplainInput;
    type Output = ExplainOutput;
    const NAME: &'static str = "explain_check";
    const DESCRIPTION: &'static str = "Explain what one of Kaptain's checks (e.g. pod.crash-loop, config.missing-configmap) detects, its category and default severity, and how many findings of it the cluster has now.";
    const MARK: Mark = Mark::ReadOnly;

    async fn run(&self, ctx: &Ctx<'_>, input: ExplainInput) -> Result<ExplainOutput, ToolError> {
        let id = input.check.trim();
        let check = kaptain_analyze::catalog()
            .iter()
            .find(|c| c.info.id == id)
            .ok_or_else(|| {
                ToolError::NotFound(format!(
                    "no check {id:?}; ids look like pod.crash-loop (see the kaptain://checks resource)"
                ))
            })?;
        let firing_now = match ctx.cluster(input.cluster.as_deref()) {
            Ok(c) => ctx
                .visible_findings(&c)
                .ok()
                .map(|f| f.iter().filter(|f| f.id == id).count()),
            Err(_) => None,
        };
        Ok(ExplainOutput {
            check: check.info.id.to_string(),
            category: check.info.category.as_str().to_string(),
            severity: check.info.severity.as_str().to_string(),
            description: check.info.description.to_string(),
            reads: check
                .info
                .needs
                .iter()
                .map(|k| k.name().to_string())
                .collect(),
            firing_now,
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFindingsInput {
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// A check id (`pod.crash-loop`), domain (`pod`) or category (`network`).
    #[serde(default)]
    pub check: Option<String>,
    /// Minimum severity: critical, high, medium, low, info.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Only findings on objects of this kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only findings on objects with this name.
    #[serde(default)]
    pub name: Option<String>,
    /// Only root causes.
    #[serde(default)]
    pub root_causes_only: bool,
    /// Only the finding with this fingerprint.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

pub struct ListFindings;

#[async_trait::async_trait]
impl TypedTool for ListFindings {
    type Input = ListFindingsInput;
    type Output = Bounded<FindingView>;
    const NAME: &'static str = "list_findings";
    const DESCRIPTION: &'static str = "List current findings filtered by namespace, check, severity, kind, object name or root causes only, most severe first.";
    const MARK: Mark = Mark::ReadOnly;

    async fn run(
        &self,
        ctx: &Ctx<'_>,
        input: ListFindingsInput,
    ) -> Result<Bounded<FindingView>, ToolError> {
        let cluster = ctx.cluster(input.cluster.as_deref())?;
        let ns = given(&input.namespace);
        if let Some(ns) = ns {
            ctx.ensure(&cluster, Some(ns))?;
        }
        let min = severity(&input.min_severity)?;
        let kind = given(&input.kind)
            .map(|k| {
                parse_kind(k).ok_or_else(|| ToolError::InvalidInput(format!("unknown kind {k:?}")))
            })
            .transpose()?;
        let checks: Vec<String> = given(&input.check)
            .map(str::to_string)
            .into_iter()
            .collect();
        let mut found: Vec<Finding> = ctx
            .visible_findings(&cluster)?
            .into_iter()
            .filter(|f| ns.is_none_or(|ns| f.object.namespace.as_deref() == Some(ns)))
            .filter(|f| min.is_none_or(|m| f.severity >= m))
            .filter(|f| {
                kind.is_none_or(|k| {
                    f.object.kind == k.name()
                        || (k == kaptain_index::Kind::Pod && !f.instances.is_empty())
                })
            })
            .filter(|f| given(&input.name).is_none_or(|n| f.object.name == n || on_pod(f, n)))
            .filter(|f| !input.root_causes_only || f.root_cause)
            .filter(|f| given(&input.fingerprint).is_none_or(|fp| f.answers_to(fp)))
            .filter(|f| check_selected(&checks, &f.id, f.category))
            .collect();
        found.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.object.cmp(&b.object))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(Bounded::cap(
            found.iter().map(FindingView::from).collect(),
            row_cap(input.limit),
            "raise `limit` or narrow the filters",
        ))
    }
}
