//! The safety guard: every proposed action passes [`evaluate`], whoever proposed it (a
//! policy, a person, an LLM). It is pure: the operator passes the time, the current policy,
//! the recent actions (read from HealingAction objects), the breaker state and the facts it
//! observed about the target, and gets a [`Decision`].
//!
//! Rules, in the order they apply (the first that fires decides):
//! 1. hard protections — no policy, protected namespace / kind / label, never-allow → Deny;
//! 2. the change itself — shape of its kind, listed by the policy, within bounds → Deny;
//! 3. paused policy, already-executed idempotency key → Deny;
//! 4. dry-run (policy mode or global switch) → `Allow { dry_run: true }`;
//! 5. circuit breaker, rate limits (global and per policy), per-object cool-down, blast
//!    radius → Deny;
//! 6. human-only kinds, approval mode, confidence below the policy's threshold →
//!    NeedsApproval (unless a person approved);
//! 7. otherwise `Allow { dry_run: false }`.

mod breaker;
mod config;
mod rules;
mod shape;

#[cfg(test)]
mod props;
#[cfg(test)]
mod seq_props;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kaptain_model::ObjectRef;

pub use breaker::{
    BreakerState, Breakers, CircuitBreaker, scope_key, scope_policy, scope_workload,
};
pub use config::{BreakerConfig, NeverAllow, PROTECTED_LABEL, SafetyConfig};
pub use rules::SafetyRule;
pub use shape::{MAX_FACTOR, RESTARTED_AT};

use crate::Proposal;
use crate::crd::{ActionKind, GuardVerdict, HealingAction, HealingPolicySpec, Mode, PolicyRef};
use breaker::elapsed;
use config::secs;
pub(crate) use config::secs as duration_secs;

/// What the guard decides about one proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Go ahead; with `dry_run`, only as a server-side dry-run (no real change).
    Allow { dry_run: bool },
    /// Only after a person approves.
    NeedsApproval { rule: SafetyRule, reason: String },
    /// Not now (transient rules) or not ever.
    Deny { rule: SafetyRule, reason: String },
}

impl Decision {
    /// Whether this decision lets a real change happen.
    pub fn allows_change(&self) -> bool {
        matches!(self, Decision::Allow { dry_run: false })
    }

    pub fn rule(&self) -> Option<SafetyRule> {
        match self {
            Decision::Allow { dry_run: true } => Some(SafetyRule::DryRunMode),
            Decision::Allow { dry_run: false } => None,
            Decision::NeedsApproval { rule, .. } | Decision::Deny { rule, .. } => Some(*rule),
        }
    }

    /// `allow`, `allow-dry-run`, `needs-approval` or `deny` (metrics label, status field).
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allow { dry_run: false } => "allow",
            Decision::Allow { dry_run: true } => "allow-dry-run",
            Decision::NeedsApproval { .. } => "needs-approval",
            Decision::Deny { .. } => "deny",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow { dry_run: false } => "all safety rules pass",
            Decision::Allow { dry_run: true } => "dry-run: the change is only tried on the server",
            Decision::NeedsApproval { reason, .. } | Decision::Deny { reason, .. } => reason,
        }
    }

    /// The decision as recorded on a HealingAction's status.
    pub fn verdict(&self, now: Timestamp) -> GuardVerdict {
        GuardVerdict {
            decision: self.as_str().to_string(),
            rule: self.rule().map(|r| r.as_str().to_string()),
            reason: self.reason().to_string(),
            time: Some(Time(now)),
        }
    }
}

/// What the operator observed about the target (from its own index, not from the proposer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetFacts {
    pub target_labels: BTreeMap<String, String>,
    /// Labels of the target's namespace (a protected namespace label protects everything in it).
    pub namespace_labels: BTreeMap<String, String>,
    /// Labels of the other objects involved: the finding's object, the target's owners.
    pub related_labels: Vec<BTreeMap<String, String>>,
    /// The target's controller, if any (a pod without one is not re-created when deleted).
    pub owner: Option<ObjectRef>,
    /// Pods the change deletes or re-creates.
    pub pods_affected: u32,
    /// Replicas of the workload those pods belong to, when known.
    pub workload_replicas: Option<u32>,
    /// The target's `metadata.deletionTimestamp`, if it is being deleted.
    pub deletion_timestamp: Option<Timestamp>,
    /// For a rollback: the revision of the Deployment's earlier ReplicaSet whose pod template
    /// the rollback puts back; `None` when no earlier revision has that template (a rollback
    /// may only restore what the Deployment really ran before).
    pub rollback_revision: Option<i64>,
    /// The workload the change acts on: a pod's controller (up to its Deployment), or the
    /// target itself. `None`: the target itself.
    pub workload: Option<ObjectRef>,
}

/// The scope of `p`'s circuit breaker: its policy on the workload of `facts`.
pub fn breaker_scope(p: &Proposal, facts: &TargetFacts) -> String {
    scope_key(
        &p.policy,
        facts.workload.as_ref().unwrap_or(&p.change.target),
    )
}

/// One action that made (or began to make) a real change, as read from a HealingAction.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRecord {
    pub idempotency_key: String,
    pub policy: PolicyRef,
    pub action: ActionKind,
    pub target: ObjectRef,
    /// When the change started (the action's `Executing` time).
    pub started_at: Timestamp,
}

impl ActionRecord {
    /// The record of an action that started a real change; `None` for actions that never
    /// executed (proposed, rejected, dry-run).
    pub fn from_action(a: &HealingAction) -> Option<ActionRecord> {
        let started = a.status.as_ref()?.times.executing.as_ref()?.0;
        Some(ActionRecord {
            idempotency_key: a.spec.idempotency_key.clone(),
            policy: a.spec.policy.clone(),
            action: a.spec.action,
            target: a.spec.change.target.clone(),
            started_at: started,
        })
    }
}

/// Everything the guard reads besides the proposal.
#[derive(Debug, Clone, Copy)]
pub struct GuardContext<'a> {
    pub now: Timestamp,
    pub config: &'a SafetyConfig,
    /// The proposing policy as it is now (it may have been paused since the proposal);
    /// `None` if it no longer exists.
    pub policy: Option<&'a HealingPolicySpec>,
    /// Recent real actions (at least the last hour and the longest cool-down).
    pub history: &'a [ActionRecord],
    /// The operator's breakers (operator-wide and per scope).
    pub breakers: &'a Breakers,
    pub facts: &'a TargetFacts,
    /// Who approved the action, if a person did.
    pub approved_by: Option<&'a str>,
}

fn deny(rule: SafetyRule, reason: impl Into<String>) -> Decision {
    Decision::Deny {
        rule,
        reason: reason.into(),
    }
}

fn approval(rule: SafetyRule, reason: impl Into<String>) -> Decision {
    Decision::NeedsApproval {
        rule,
        reason: reason.into(),
    }
}

/// `x >= min`, false when either is NaN.
fn at_least(x: f64, min: f64) -> bool {
    matches!(
        x.partial_cmp(&min),
        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
    )
}

/// Decides whether `proposal` may run. See the module documentation for the rules.
pub fn evaluate(ctx: &GuardContext, proposal: &Proposal) -> Decision {
    let change = &proposal.change;
    let target = &change.target;
    let cfg = ctx.config;
    let Some(policy) = ctx.policy else {
        return deny(
            SafetyRule::NoPolicy,
            format!("policy {} no longer exists", proposal.policy.display()),
        );
    };

    // 1. Hard protections.
    for ns in [
        target.namespace.as_deref(),
        proposal.finding.object.namespace.as_deref(),
    ] {
        if cfg.namespace_protected(ns) {
            return deny(
                SafetyRule::ProtectedNamespace,
                format!("namespace {} is protected", ns.unwrap_or_default()),
            );
        }
    }
    if cfg.kind_protected(&target.kind) {
        return deny(
            SafetyRule::ProtectedKind,
            format!("{} objects are protected", target.kind),
        );
    }
    let f = ctx.facts;
    for (whose, labels) in [
        ("target", &f.target_labels),
        ("namespace", &f.namespace_labels),
    ]
    .into_iter()
    .chain(f.related_labels.iter().map(|l| ("related object", l)))
    {
        if let Some(label) = cfg.protected_label(labels) {
            return deny(
                SafetyRule::ProtectedLabel,
                format!("the {whose} carries the protected label {label}"),
            );
        }
    }
    if let Some(n) = cfg.never_allowed(change.operation, target) {
        return deny(
            SafetyRule::NeverAllow,
            format!(
                "{} on {} is never allowed",
                n.operation.map_or("any change", |o| o.as_str()),
                n.kind
            ),
        );
    }

    // 2. The change itself.
    if let Err(why) = shape::check_shape(proposal) {
        return deny(SafetyRule::ChangeMismatch, why);
    }
    if proposal.action == ActionKind::RollbackDeployment && f.rollback_revision.is_none() {
        return deny(
            SafetyRule::ChangeMismatch,
            format!(
                "the rollback's pod template is not the template of an earlier revision of {}",
                target.display()
            ),
        );
    }
    // A policy may list a kind more than once (two grace periods): any of them may allow it.
    let bounds: Vec<Result<(), String>> = policy
        .actions
        .iter()
        .filter(|t| t.kind() == proposal.action)
        .map(|t| shape::check_bounds(ctx, proposal, t))
        .collect();
    if bounds.is_empty() {
        return deny(
            SafetyRule::NotInPolicy,
            format!("the policy does not list {}", proposal.action),
        );
    }
    if !bounds.iter().any(Result::is_ok) {
        let why = bounds.into_iter().find_map(Result::err).unwrap_or_default();
        return deny(SafetyRule::OutOfBounds, why);
    }

    // 3. Paused, duplicate.
    if policy.mode == Mode::Paused {
        return deny(SafetyRule::Paused, "the policy is paused");
    }
    if ctx
        .history
        .iter()
        .any(|r| r.idempotency_key == proposal.idempotency_key)
    {
        return deny(
            SafetyRule::Duplicate,
            format!(
                "an action with key {} already ran",
                proposal.idempotency_key
            ),
        );
    }

    // 4. Dry-run changes nothing, so the limits below do not apply to it.
    if cfg.dry_run || policy.mode == Mode::DryRun {
        return Decision::Allow { dry_run: true };
    }

    // 5. Breaker, rate limits, cool-down, blast radius.
    let now = ctx.now;
    if let Some(why) = ctx
        .breakers
        .refusal(cfg, &breaker_scope(proposal, ctx.facts), now)
    {
        return deny(SafetyRule::CircuitOpen, why);
    }
    let last_hour: Vec<&ActionRecord> = ctx
        .history
        .iter()
        .filter(|r| elapsed(r.started_at, now) < 3600)
        .collect();
    if last_hour.len() >= cfg.max_actions_per_hour as usize {
        return deny(
            SafetyRule::RateLimit,
            format!(
                "{} actions in the last hour (global limit {})",
                last_hour.len(),
                cfg.max_actions_per_hour
            ),
        );
    }
    let mine = last_hour
        .iter()
        .filter(|r| r.policy.same_policy(&proposal.policy))
        .count();
    if mine >= policy.rate_limit.actions_per_hour as usize {
        return deny(
            SafetyRule::RateLimit,
            format!(
                "{mine} actions of this policy in the last hour (limit {})",
                policy.rate_limit.actions_per_hour
            ),
        );
    }
    let cooldown = secs(&policy.rate_limit.cooldown_per_object);
    if let Some(r) = ctx
        .history
        .iter()
        .find(|r| r.target.same_object(target) && elapsed(r.started_at, now) < cooldown)
    {
        return deny(
            SafetyRule::Cooldown,
            format!(
                "{} was changed {}s ago ({}); cool-down is {cooldown}s",
                target.display(),
                elapsed(r.started_at, now).max(0),
                r.action
            ),
        );
    }
    let max_pods = policy.blast_radius.max_pods.min(cfg.max_pods_per_action);
    if f.pods_affected > max_pods {
        return deny(
            SafetyRule::BlastRadius,
            format!("touches {} pods (at most {max_pods})", f.pods_affected),
        );
    }
    let pct = policy.blast_radius.max_percent_of_replicas;
    if let Some(replicas) = f.workload_replicas
        && u64::from(f.pods_affected) * 100 > u64::from(pct) * u64::from(replicas)
    {
        return deny(
            SafetyRule::BlastRadius,
            format!(
                "touches {} of {replicas} replicas (at most {pct}%)",
                f.pods_affected
            ),
        );
    }

    // 6. Approval.
    if ctx.approved_by.is_none_or(str::is_empty) {
        if proposal.action == ActionKind::SuggestManifest {
            return approval(
                SafetyRule::HumanOnly,
                "Kaptain never invents configuration: a person must review the suggested manifest",
            );
        }
        if let Some(why) = &proposal.requires_approval {
            return approval(SafetyRule::HumanOnly, why.clone());
        }
        if policy.mode == Mode::Approval {
            return approval(SafetyRule::ApprovalMode, "the policy is in approval mode");
        }
        if !at_least(proposal.confidence, policy.min_confidence) {
            return approval(
                SafetyRule::LowConfidence,
                format!(
                    "confidence {:.2} is below the policy's threshold {:.2}",
                    proposal.confidence, policy.min_confidence
                ),
            );
        }
    }
    Decision::Allow { dry_run: false }
}
