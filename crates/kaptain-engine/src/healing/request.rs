//! A person's request to act ("scale web to 5", "fix it") → the HealingAction it becomes,
//! with what it would change, the safety guard's verdict and how it will be verified; then,
//! when the asker confirms, the action created and approved by them so the operator executes
//! and verifies it like any other. Nothing here writes to a target: only HealingActions are
//! created, and only the operator's executor changes the cluster.
//!
//! [`propose`] is pure (an index, findings, the existing actions and the safety state in; a
//! [`Proposed`] out); [`load`], [`submit`], [`dry_run`] and [`wait`] talk to the API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use kaptain_chat::{ActRequest, Amount, Verb};
use kaptain_heal::Proposal;
use kaptain_heal::crd::{ActionKind, Change, HealingAction, Operation, PatchType, Phase};
use kaptain_heal::guard::{ActionRecord, Breakers, GuardContext, SafetyConfig, evaluate};
use kaptain_heal::planner::{object_name, observe};
use kaptain_heal::request::{self as req, Asker, Replicas, Want};
use kaptain_index::{ClusterIndex, Kind, ObjKey};
use kaptain_model::Finding;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde_json::Value;

use super::{Error, KEY_LABEL, Result};

/// What a request is judged against: the cluster as indexed, its findings, the HealingActions
/// that exist (rate limits, undo), and the operator's safety configuration and breaker.
#[derive(Debug, Clone, Copy)]
pub struct Scene<'a> {
    pub idx: &'a ClusterIndex,
    pub findings: &'a [Finding],
    pub actions: &'a [HealingAction],
    pub safety: &'a SafetyConfig,
    pub breakers: &'a Breakers,
    /// Where actions on cluster-scoped objects (nodes) are recorded.
    pub operator_namespace: &'a str,
}

/// Why a request becomes no action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The request must be said more precisely (which object, how much): ask back.
    #[error("{0}")]
    Unclear(String),
    /// There is nothing Kaptain can do for it (nothing to fix, already so, not an action
    /// Kaptain takes).
    #[error("{0}")]
    Cannot(String),
}

/// One field the action changes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    #[schema(value_type = Object)]
    pub before: Value,
    #[schema(value_type = Object)]
    pub after: Value,
}

/// The safety guard's verdict, were the asker to confirm.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    /// `allow`, `allow-dry-run`, `needs-approval` or `deny`.
    pub decision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub reason: String,
}

impl Verdict {
    /// Whether confirming makes a real change.
    pub fn allows(&self) -> bool {
        self.decision == "allow"
    }
}

/// What a request would do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Proposed {
    /// How the request was read.
    pub read: String,
    /// The HealingAction it becomes (namespace and name).
    pub namespace: String,
    pub name: String,
    /// `Scale`, `SetImage`, ...
    pub action: String,
    /// `Kind/namespace/name`.
    pub target: String,
    /// The finding it answers (`check on object`).
    pub finding: String,
    pub reasoning: String,
    pub diff: Vec<FieldChange>,
    pub verdict: Verdict,
    /// How the change will be verified, and what happens otherwise.
    pub verification: String,
    /// Whether the change is reversed when it does not verify.
    pub reversible: bool,
    /// The HealingAction to create (no status: the asker's approval or the operator decides).
    #[serde(skip)]
    pub object: HealingAction,
}

/// Turns a request into the HealingAction it would be. Pure.
pub fn propose(scene: &Scene, r: &ActRequest, who: &Asker) -> Result<Proposed, AskError> {
    let (proposal, undoes) = match r.verb {
        Verb::Undo => {
            let (p, name) = undo(scene, who)?;
            (p, Some(name))
        }
        Verb::Fix => (fix(scene, r, who)?, None),
        verb => {
            let want = want(verb, r)?;
            let target = resolve(scene.idx, r, kinds_for(verb))?;
            (
                req::build(scene.idx, &target, &want, who).map_err(AskError::Cannot)?,
                None,
            )
        }
    };
    Ok(finish(scene, r, who, proposal, undoes))
}

fn want(verb: Verb, r: &ActRequest) -> Result<Want, AskError> {
    Ok(match verb {
        Verb::Scale => Want::Scale(match r.amount {
            Some(Amount::To(n)) => Replicas::To(
                i32::try_from(n)
                    .map_err(|_| AskError::Unclear(format!("{n} replicas is too many")))?,
            ),
            Some(Amount::By(n)) => Replicas::By(n),
            Some(Amount::Percent(p)) => Replicas::Percent(p),
            None => return Err(AskError::Unclear("scale to how many replicas?".into())),
        }),
        Verb::Restart => Want::RolloutRestart,
        Verb::Rollback => Want::Rollback,
        Verb::SetImage => Want::SetImage {
            container: r.container.clone(),
            image: r
                .image
                .clone()
                .ok_or_else(|| AskError::Unclear("set the image to what?".into()))?,
        },
        Verb::Cordon => Want::Cordon,
        Verb::Fix | Verb::Undo => return Err(AskError::Unclear("not a direct change".into())),
    })
}

/// The kinds a verb acts on, in the order a bare name is looked up.
fn kinds_for(verb: Verb) -> &'static [Kind] {
    match verb {
        Verb::Scale => &[Kind::Deployment, Kind::StatefulSet],
        Verb::Restart | Verb::SetImage => &[Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet],
        Verb::Rollback => &[Kind::Deployment],
        Verb::Cordon => &[Kind::Node],
        Verb::Fix | Verb::Undo => &[Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet],
    }
}

/// The (namespace, name) of every object of `kind` in the index.
fn names_of(idx: &ClusterIndex, kind: Kind) -> Vec<(String, String)> {
    fn keys<'a, K: kube::Resource + 'a>(it: impl Iterator<Item = &'a K>) -> Vec<(String, String)> {
        it.map(|o| {
            let m = o.meta();
            (
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default(),
            )
        })
        .collect()
    }
    let s = &idx.objects;
    match kind {
        Kind::Deployment => keys(s.deployments.iter()),
        Kind::StatefulSet => keys(s.statefulsets.iter()),
        Kind::DaemonSet => keys(s.daemonsets.iter()),
        Kind::Node => keys(s.nodes.iter()),
        _ => Vec::new(),
    }
}

/// The one object a request names, or a question back: "which web? Deployment web in shop or
/// Deployment web in staging".
pub fn resolve(idx: &ClusterIndex, r: &ActRequest, kinds: &[Kind]) -> Result<ObjKey, AskError> {
    let name = r
        .name
        .as_deref()
        .ok_or_else(|| AskError::Unclear(format!("{} what? name the object", r.verb.as_str())))?;
    let asked_kind = match r.kind.as_deref() {
        Some(k) => {
            Some(Kind::parse(k).ok_or_else(|| AskError::Unclear(format!("unknown kind {k}")))?)
        }
        None => None,
    };
    let kinds: Vec<Kind> = match asked_kind {
        Some(k) if kinds.contains(&k) => vec![k],
        Some(k) => {
            return Err(AskError::Cannot(format!(
                "Kaptain does not {} a {} (only {})",
                r.verb.as_str(),
                k.name(),
                kinds
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => kinds.to_vec(),
    };
    let found: Vec<ObjKey> = kinds
        .iter()
        .flat_map(|&k| {
            names_of(idx, k)
                .into_iter()
                .filter(move |(ns, n)| {
                    n == name
                        && (!k.namespaced() || r.namespace.as_deref().is_none_or(|want| want == ns))
                })
                .map(move |(ns, n)| ObjKey::new(k, &ns, &n))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(AskError::Unclear(format!(
            "there is no {} named {name}{}",
            kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(" or "),
            r.namespace
                .as_deref()
                .map(|ns| format!(" in namespace {ns}"))
                .unwrap_or_default()
        ))),
        many => Err(AskError::Unclear(format!(
            "which {name}? {}",
            many.iter()
                .map(|k| match k.kind.namespaced() {
                    true => format!("{} {} in {}", k.kind.name(), k.name, k.namespace),
                    false => format!("{} {}", k.kind.name(), k.name),
                })
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

/// "fix it" / "fix the checkout deployment": the root causes of what fails on the object (or
/// in scope), and the first one an action Kaptain takes answers.
fn fix(scene: &Scene, r: &ActRequest, who: &Asker) -> Result<Proposal, AskError> {
    let in_scope = |f: &Finding| {
        r.namespace
            .as_deref()
            .is_none_or(|ns| f.object.namespace.as_deref() == Some(ns))
    };
    let by_fp: BTreeMap<&str, &Finding> = scene
        .findings
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let about: Vec<&Finding> = match r.name.as_deref() {
        Some(name) => {
            let on: Vec<&Finding> = scene
                .findings
                .iter()
                .filter(|f| in_scope(f) && names_object(scene.idx, f, r.kind.as_deref(), name))
                .collect();
            let namespaces: BTreeSet<&str> = on
                .iter()
                .filter_map(|f| f.object.namespace.as_deref())
                .collect();
            if namespaces.len() > 1 {
                return Err(AskError::Unclear(format!(
                    "which {name}? the one in {}",
                    namespaces
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(" or the one in ")
                )));
            }
            if on.is_empty() {
                return Err(AskError::Cannot(format!(
                    "Kaptain finds nothing wrong with {name}{}: there is nothing to fix",
                    r.namespace
                        .as_deref()
                        .map(|n| format!(" in {n}"))
                        .unwrap_or_default()
                )));
            }
            on
        }
        None => scene.findings.iter().filter(|f| in_scope(f)).collect(),
    };
    // The root causes behind them, most severe first.
    let mut roots: Vec<&Finding> = Vec::new();
    for f in &about {
        let mut seen = BTreeSet::new();
        let mut stack = vec![*f];
        while let Some(x) = stack.pop() {
            if !seen.insert(x.fingerprint.as_str()) {
                continue;
            }
            let causes: Vec<&Finding> = x
                .caused_by
                .iter()
                .filter_map(|fp| by_fp.get(fp.as_str()).copied())
                .collect();
            if (causes.is_empty() || x.root_cause)
                && !roots.iter().any(|r| r.fingerprint == x.fingerprint)
            {
                roots.push(x);
            }
            stack.extend(causes);
        }
    }
    roots.sort_by(|a, b| {
        b.root_cause
            .cmp(&a.root_cause)
            .then(b.severity.cmp(&a.severity))
            .then(a.object.cmp(&b.object))
    });
    if roots.is_empty() {
        return Err(AskError::Cannot(format!(
            "Kaptain finds nothing wrong{}: there is nothing to fix",
            r.namespace
                .as_deref()
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default()
        )));
    }
    let mut fixes = Vec::new();
    let mut why = Vec::new();
    for f in &roots {
        match req::fix(scene.idx, f, who) {
            Ok(p) => fixes.push(p),
            Err(e) => why.push(format!(
                "{} on {}: {e} (try: {})",
                f.id,
                f.object.display(),
                f.remediation.summary
            )),
        }
    }
    if r.name.is_none() && fixes.len() > 1 {
        return Err(AskError::Unclear(format!(
            "fix which? {}",
            fixes
                .iter()
                .map(|p| format!(
                    "{} ({} on {})",
                    p.finding.object.display(),
                    p.finding.id,
                    p.action
                ))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    fixes.into_iter().next().ok_or_else(|| {
        AskError::Cannot(format!(
            "no action Kaptain takes fixes this; {}",
            why.join("; ")
        ))
    })
}

/// Whether finding `f` is about the object `name` (of `kind`), or one of its pods.
fn names_object(idx: &ClusterIndex, f: &Finding, kind: Option<&str>, name: &str) -> bool {
    let o = &f.object;
    if o.name == name && kind.is_none_or(|k| k == o.kind) {
        return true;
    }
    if o.kind != "Pod" {
        return false;
    }
    let Some(pod) = idx
        .objects
        .pods
        .get(o.namespace.as_deref().unwrap_or(""), &o.name)
    else {
        return false;
    };
    let w = idx.workload_of_pod(pod);
    w.name == name && kind.is_none_or(|k| k == w.kind.name())
}

/// The asker's last action that changed something, and the proposal that reverses it.
fn undo(scene: &Scene, who: &Asker) -> Result<(Proposal, String), AskError> {
    let last = scene
        .actions
        .iter()
        .filter(|a| {
            a.metadata
                .annotations
                .as_ref()
                .and_then(|m| m.get(req::PROPOSED_BY_ANNOTATION))
                .is_some_and(|by| by == who.actor)
        })
        .filter(|a| {
            matches!(
                a.status.as_ref().map(|s| s.phase).unwrap_or_default(),
                Phase::Succeeded | Phase::Verifying
            )
        })
        .max_by_key(|a| super::ops::last_change(a))
        .ok_or_else(|| {
            AskError::Cannot(format!(
                "{} has no action that changed something to undo",
                who.actor
            ))
        })?;
    let p = req::undo(scene.idx, last, who).map_err(AskError::Cannot)?;
    let name = format!(
        "{}/{}",
        last.metadata.namespace.as_deref().unwrap_or(""),
        last.metadata.name.as_deref().unwrap_or("")
    );
    Ok((p, name))
}

fn finish(
    scene: &Scene,
    r: &ActRequest,
    who: &Asker,
    p: Proposal,
    undoes: Option<String>,
) -> Proposed {
    let history: Vec<ActionRecord> = scene
        .actions
        .iter()
        .filter_map(ActionRecord::from_action)
        .collect();
    let policy = req::policy(&p.policy);
    let facts = observe(scene.idx, &p);
    let d = evaluate(
        &GuardContext {
            now: who.now,
            config: scene.safety,
            policy: Some(&policy.spec),
            history: &history,
            breakers: scene.breakers,
            facts: &facts,
            approved_by: Some(who.actor),
        },
        &p,
    );
    let namespace = p
        .change
        .target
        .namespace
        .clone()
        .or_else(|| p.finding.object.namespace.clone())
        .unwrap_or_else(|| scene.operator_namespace.to_string());
    let name = object_name(&p);
    let mut annotations = BTreeMap::from([
        (
            req::PROPOSED_BY_ANNOTATION.to_string(),
            who.actor.to_string(),
        ),
        (
            req::REQUEST_ANNOTATION.to_string(),
            who.text.trim().chars().take(500).collect(),
        ),
    ]);
    if let Some(u) = &undoes {
        annotations.insert(req::UNDOES_ANNOTATION.to_string(), u.clone());
    }
    let object = HealingAction {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([
                (KEY_LABEL.to_string(), p.idempotency_key.clone()),
                (
                    "kaptain.dev/action".to_string(),
                    p.action.as_str().to_string(),
                ),
            ])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: p.clone(),
        status: None,
    };
    Proposed {
        read: r.describe(),
        namespace,
        name,
        action: p.action.as_str().to_string(),
        target: p.target.clone(),
        finding: format!("{} on {}", p.finding.id, p.finding.object.display()),
        reasoning: p.reasoning.clone(),
        diff: diff(&p.change),
        verdict: Verdict {
            decision: d.as_str().to_string(),
            rule: d.rule().map(|r| r.as_str().to_string()),
            reason: d.reason().to_string(),
        },
        verification: verification(&p),
        reversible: p.action.reversible() && p.change.reverse_patch.is_some(),
        object,
    }
}

/// The fields a change moves, before and after, in the object's own terms.
pub fn diff(c: &Change) -> Vec<FieldChange> {
    if !c.resources.is_empty() {
        return c
            .resources
            .iter()
            .map(|r| FieldChange {
                field: format!(
                    "containers[{}].resources.{}.{}",
                    r.container,
                    match r.field {
                        kaptain_heal::crd::ResourceField::Limits => "limits",
                        kaptain_heal::crd::ResourceField::Requests => "requests",
                    },
                    r.resource.as_str()
                ),
                before: Value::String(r.before.clone()),
                after: Value::String(r.after.clone()),
            })
            .collect();
    }
    if c.operation == Operation::Create {
        return vec![FieldChange {
            field: format!("{} (created)", c.target.display()),
            before: Value::Null,
            after: c.manifest.clone().unwrap_or(Value::Null),
        }];
    }
    let (before, after) = (
        c.before.clone().unwrap_or(Value::Null),
        c.after.clone().unwrap_or(Value::Null),
    );
    let mut out = Vec::new();
    let keys: BTreeSet<String> = [&before, &after]
        .into_iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().cloned())
        .collect();
    for k in keys {
        let b = before.get(&k).cloned().unwrap_or(Value::Null);
        let a = after.get(&k).cloned().unwrap_or(Value::Null);
        if k == "images" {
            let by_name = |v: &Value| -> BTreeMap<String, Value> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        Some((
                            c.get("name")?.as_str()?.to_string(),
                            c.get("image")?.clone(),
                        ))
                    })
                    .collect()
            };
            let (bi, ai) = (by_name(&b), by_name(&a));
            for n in bi.keys().chain(ai.keys()).collect::<BTreeSet<_>>() {
                let (x, y) = (
                    bi.get(n).cloned().unwrap_or(Value::Null),
                    ai.get(n).cloned().unwrap_or(Value::Null),
                );
                if x != y {
                    out.push(FieldChange {
                        field: format!("containers[{n}].image"),
                        before: x,
                        after: y,
                    });
                }
            }
            continue;
        }
        if b == a {
            continue;
        }
        let field = match k.as_str() {
            "replicas" | "unschedulable" => format!("spec.{k}"),
            "restartedAt" => format!(
                "spec.template.metadata.annotations[{}]",
                kaptain_heal::guard::RESTARTED_AT
            ),
            other => other.to_string(),
        };
        out.push(FieldChange {
            field,
            before: b,
            after: a,
        });
    }
    out
}

/// How an action will be verified, in a sentence.
pub fn verification(p: &Proposal) -> String {
    let secs = std::time::Duration::from(p.verify_within).as_secs();
    let within = if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    };
    let otherwise = if p.action.reversible() && p.change.reverse_patch.is_some() {
        "otherwise Kaptain reverses the change"
    } else {
        "otherwise the action fails (this change cannot be reversed)"
    };
    let target = p.change.target.display();
    match p.action {
        ActionKind::CordonNode => format!(
            "verified once node {} is unschedulable (within {within}); {otherwise}",
            p.change.target.name
        ),
        ActionKind::SuggestManifest => format!(
            "a person reviews the manifest first; verified when {} no longer holds on {} (within {within})",
            p.finding.id,
            p.finding.object.display()
        ),
        _ if req::own_finding(p) => format!(
            "verified when {target} runs all its replicas updated and available (within {within}); {otherwise}"
        ),
        _ => format!(
            "verified when {} no longer holds on {} and {target} has rolled out (within {within}); {otherwise}",
            p.finding.id,
            p.finding.object.display()
        ),
    }
}

/// Everything [`propose`] needs, read from the cluster: the objects healing reads (in
/// `namespace`, or everywhere), their findings, every HealingAction, the operator's safety
/// configuration and breaker.
pub struct Loaded {
    pub idx: ClusterIndex,
    pub findings: Vec<Finding>,
    pub actions: Vec<HealingAction>,
    pub safety: SafetyConfig,
    pub breakers: Breakers,
    /// What could not be read (defaults were used).
    pub notes: Vec<String>,
}

impl Loaded {
    pub fn scene<'a>(&'a self, operator_namespace: &'a str) -> Scene<'a> {
        Scene {
            idx: &self.idx,
            findings: &self.findings,
            actions: &self.actions,
            safety: &self.safety,
            breakers: &self.breakers,
            operator_namespace,
        }
    }
}

/// The operator's safety configuration and circuit breaker as they are in the cluster
/// (defaults where they cannot be read, with the reason in the notes).
pub async fn guard_state(
    client: &kube::Client,
    operator_namespace: &str,
) -> (SafetyConfig, Breakers, Vec<String>) {
    let mut notes = Vec::new();
    let (safety, st) =
        super::ops::operator_context(client, operator_namespace, None, &mut notes).await;
    (safety, st.breakers, notes)
}

/// Reads what a request is judged against.
pub async fn load(
    client: &kube::Client,
    namespace: Option<&str>,
    operator_namespace: &str,
) -> Result<Loaded> {
    let (safety, breakers, mut notes) = guard_state(client, operator_namespace).await;
    let cluster = kaptain_sources::live::Cluster {
        client: client.clone(),
        context: None,
        default_namespace: "default".into(),
    };
    let opts = kaptain_sources::live::LiveOptions {
        namespace: namespace.map(str::to_string),
        page_size: 500,
        ..Default::default()
    };
    let (idx, info) = cluster
        .load(&super::watched_kinds(false), &opts, &|_| {})
        .await?;
    for s in info.skipped {
        notes.push(format!("not read: {} ({})", s.api, s.reason));
    }
    let checks: Vec<_> = kaptain_analyze::catalog().iter().collect();
    let findings = crate::scan::findings(&idx, &checks, Timestamp::now());
    let actions = match super::ops::list_actions(client, None).await {
        Ok(a) => a,
        Err(e) if e.category() == "forbidden" => {
            notes.push("HealingActions of other namespaces: forbidden".into());
            super::ops::list_actions(client, namespace).await?
        }
        Err(e) if e.category() == "not-found" => {
            return Err(Error::CrdsMissing("HealingAction is not served".into()));
        }
        Err(e) => return Err(e),
    };
    Ok(Loaded {
        idx,
        findings,
        actions,
        safety,
        breakers,
        notes,
    })
}

/// Creates the proposed HealingAction; with `approve`, approves it as `actor` right away
/// (through [`super::ops::approve`]: the guard again, with the current state), so the
/// operator executes it. An action with the same name already there is returned as it is.
pub async fn submit(
    client: &kube::Client,
    p: &Proposed,
    approve: bool,
    actor: &str,
    operator_namespace: &str,
) -> Result<HealingAction> {
    let api: Api<HealingAction> = Api::namespaced(client.clone(), &p.namespace);
    let created = match api.create(&PostParams::default(), &p.object).await {
        Ok(a) => a,
        Err(kube::Error::Api(s)) if s.code == 409 => api.get(&p.name).await?,
        Err(e) => return Err(e.into()),
    };
    super::Recorder::new(client.clone(), &format!("ask/{actor}"))
        .action(
            &created,
            super::Level::Normal,
            "HealingRequested",
            &format!("{actor} asked: {}", p.read),
        )
        .await;
    if !approve {
        return Ok(created);
    }
    let phase = created.status.as_ref().map(|s| s.phase).unwrap_or_default();
    if phase != Phase::Proposed {
        return Ok(created);
    }
    super::ops::approve(
        client,
        &p.name,
        Some(&p.namespace),
        actor,
        operator_namespace,
        None,
    )
    .await
}

/// Tries the change on the server's dry-run path (nothing is persisted) and returns the object
/// as the server would have it.
pub async fn dry_run(client: &kube::Client, c: &Change) -> Result<Value> {
    let kind = Kind::parse(&c.target.kind).ok_or_else(|| Error::UnknownKind(c.target.display()))?;
    let resource = ApiResource {
        group: kind.group().to_string(),
        version: kind.version().to_string(),
        api_version: kind.api_version(),
        kind: kind.name().to_string(),
        plural: kind.plural().to_string(),
    };
    let api: Api<DynamicObject> = match c.target.namespace.as_deref() {
        Some(ns) if kind.namespaced() => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    };
    let name = &c.target.name;
    let obj = match c.operation {
        Operation::Patch => {
            let patch = c
                .patch
                .as_ref()
                .ok_or_else(|| Error::Invalid("the change has no patch".into()))?;
            let pp = PatchParams {
                dry_run: true,
                field_manager: Some(super::MANAGER.to_string()),
                ..PatchParams::default()
            };
            match c.patch_type.unwrap_or(PatchType::Strategic) {
                PatchType::Strategic => api.patch(name, &pp, &Patch::Strategic(patch)).await?,
                PatchType::Merge => api.patch(name, &pp, &Patch::Merge(patch)).await?,
                PatchType::Json => {
                    let p: json_patch::Patch = serde_json::from_value(patch.clone())?;
                    api.patch(name, &pp, &Patch::<()>::Json(p)).await?
                }
            }
        }
        Operation::Create => {
            let manifest = c
                .manifest
                .as_ref()
                .ok_or_else(|| Error::Invalid("the change has no manifest".into()))?;
            let obj: DynamicObject = serde_json::from_value(manifest.clone())?;
            let pp = PostParams {
                dry_run: true,
                field_manager: Some(super::MANAGER.to_string()),
            };
            api.create(&pp, &obj).await?
        }
        Operation::Delete => {
            return Err(Error::Invalid(
                "a delete is not dry-run from a request".into(),
            ));
        }
    };
    let mut v = serde_json::to_value(obj)?;
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    Ok(v)
}

/// What became of an action the asker waited for.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub action: HealingAction,
    /// The action reached no final phase before the timeout.
    pub timed_out: bool,
}

impl Outcome {
    pub fn phase(&self) -> Phase {
        self.action
            .status
            .as_ref()
            .map(|s| s.phase)
            .unwrap_or_default()
    }

    /// Verified: the change was made and its check held.
    pub fn verified(&self) -> bool {
        !self.timed_out && self.phase() == Phase::Succeeded
    }
}

/// Waits until the action is Succeeded, Failed (and its rollback settled), RolledBack or
/// Rejected, or `timeout` passes; `progress` hears each new phase.
pub async fn wait(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    mut progress: impl FnMut(&HealingAction),
) -> Result<Outcome> {
    let api: Api<HealingAction> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<(Phase, Option<String>)> = None;
    loop {
        let a = api.get(name).await?;
        let st = a.status.clone().unwrap_or_default();
        let now = (st.phase, st.message.clone());
        if last.as_ref() != Some(&now) {
            progress(&a);
            last = Some(now);
        }
        let settled = match st.phase {
            Phase::Succeeded | Phase::RolledBack | Phase::Rejected => true,
            // A failed action may still be rolled back: wait until that is decided.
            Phase::Failed => {
                st.reason.as_deref() != Some("NotVerified")
                    || !a.spec.action.reversible()
                    || st.rollback_attempts.iter().any(|r| r.succeeded)
                    || st.reason.as_deref() == Some("RollbackFailed")
            }
            _ => false,
        };
        if settled {
            return Ok(Outcome {
                action: a,
                timed_out: false,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Outcome {
                action: a,
                timed_out: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests;
