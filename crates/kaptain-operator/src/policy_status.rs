//! What the operator reports on each policy: real actions started in the last hour, the last
//! one's time, the generation it read (the `Actions/h` and `Last Action` columns of `kubectl
//! get healingpolicies`), and two standard conditions:
//!
//! - `Ready`: `True` (reason `Valid`) when the spec holds together, `False` (reason
//!   `InvalidSpec`, every problem in the message) when it does not — such a policy proposes
//!   nothing;
//! - `Active`: whether the policy can act now and how — `True` with reason `Auto`,
//!   `ApprovalMode`, `DryRun` or `CircuitHalfOpen`; `False` with reason `Paused`,
//!   `CircuitOpen` (the operator-wide circuit breaker stops every real action until it
//!   half-opens) or `InvalidSpec`.
//!
//! `openCircuits` lists the workloads on which the policy's own breakers are open or
//! half-open (repeated failed actions there stop its actions on them only); the `Active`
//! message names them too.
//!
//! `lastTransitionTime` moves only when a condition's status changes.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kaptain_heal::crd::{
    ClusterHealingPolicy, HealingPolicy, HealingPolicyStatus, Mode, OpenCircuit, Policy,
    PolicyKind, PolicyRef,
};
use kaptain_heal::guard::{
    ActionRecord, BreakerConfig, BreakerState, Breakers, CircuitBreaker, SafetyConfig,
    scope_policy, scope_workload,
};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::config::MANAGER;
use kaptain_engine::healing::Result;

pub const READY: &str = "Ready";
pub const ACTIVE: &str = "Active";

/// What decides a policy's conditions besides its history.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFacts<'a> {
    /// Problems of the spec (see `HealingPolicySpec::problems`); empty when valid.
    pub problems: &'a [String],
    pub mode: Mode,
    pub min_confidence: f64,
    /// The operator-wide circuit breaker now, and when an open one half-opens.
    pub breaker: BreakerState,
    pub half_open_at: Option<Timestamp>,
    /// The policy's own breakers that are not closed, per workload.
    pub open_circuits: Vec<OpenCircuit>,
    /// The operator's safety configuration makes every action a dry-run.
    pub global_dry_run: bool,
}

/// The status `reference` should report, if it differs from `current`.
pub fn wanted(
    reference: &PolicyRef,
    facts: &PolicyFacts,
    history: &[ActionRecord],
    now: Timestamp,
    current: Option<&HealingPolicyStatus>,
) -> Option<HealingPolicyStatus> {
    let mine: Vec<&ActionRecord> = history
        .iter()
        .filter(|r| r.policy.same_policy(reference))
        .collect();
    let last_hour = mine
        .iter()
        .filter(|r| now.as_second() - r.started_at.as_second() < 3600)
        .count();
    let last = mine.iter().map(|r| r.started_at).max();
    let mut want = current.cloned().unwrap_or_default();
    want.actions_in_last_hour = u32::try_from(last_hour).unwrap_or(u32::MAX);
    want.last_action_time = last.map(Time).or(want.last_action_time);
    want.observed_generation = Some(reference.generation);
    want.open_circuits = facts.open_circuits.clone();
    want.conditions = conditions(facts, reference.generation, now, &want.conditions);
    (Some(&want) != current).then_some(want)
}

/// `(status, reason, message)` of the Ready and Active conditions.
fn verdicts(f: &PolicyFacts) -> [(&'static str, bool, &'static str, String); 2] {
    let ready = if f.problems.is_empty() {
        (READY, true, "Valid", "the spec is valid".to_string())
    } else {
        (READY, false, "InvalidSpec", f.problems.join("; "))
    };
    let active = if !f.problems.is_empty() {
        (
            ACTIVE,
            false,
            "InvalidSpec",
            "the policy proposes nothing until its spec is fixed".to_string(),
        )
    } else if f.mode == Mode::Paused {
        (
            ACTIVE,
            false,
            "Paused",
            "mode is paused: the policy proposes nothing".to_string(),
        )
    } else if f.mode == Mode::DryRun || f.global_dry_run {
        let why = if f.mode == Mode::DryRun {
            "mode is dry-run"
        } else {
            "the operator's safety configuration is dry-run"
        };
        (
            ACTIVE,
            true,
            "DryRun",
            format!(
                "{why}: actions are only tried on the server (server-side dry-run) and recorded; nothing changes"
            ),
        )
    } else if f.breaker == BreakerState::Open {
        let until = f
            .half_open_at
            .map(|t| format!(" (at {t})"))
            .unwrap_or_default();
        (
            ACTIVE,
            false,
            "CircuitOpen",
            format!(
                "the operator-wide circuit breaker opened after failed actions on many workloads: no action runs until it half-opens{until}"
            ),
        )
    } else if f.breaker == BreakerState::HalfOpen {
        (
            ACTIVE,
            true,
            "CircuitHalfOpen",
            "the operator-wide circuit breaker is half-open: one trial action may run; its outcome closes or re-opens the breaker".to_string(),
        )
    } else if f.mode == Mode::Approval {
        (
            ACTIVE,
            true,
            "ApprovalMode",
            format!(
                "actions are proposed and each waits for a person's approval{}",
                circuits_note(&f.open_circuits)
            ),
        )
    } else {
        (
            ACTIVE,
            true,
            "Auto",
            format!(
                "acts on its own on findings with confidence at least {:.2}; below that, actions wait for approval{}",
                f.min_confidence,
                circuits_note(&f.open_circuits)
            ),
        )
    };
    [ready, active]
}

/// What the Active message says of the policy's open breakers ("" when there are none).
fn circuits_note(open: &[OpenCircuit]) -> String {
    if open.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = open.iter().map(|c| c.workload.as_str()).collect();
    format!(
        "; its circuit breaker is open after repeated failed actions on {} (no action there until it half-opens; other workloads are still healed)",
        names.join(", ")
    )
}

/// The policy `reference`'s breakers that are not closed, per workload.
pub fn open_circuits(
    reference: &PolicyRef,
    breakers: &Breakers,
    cfg: &BreakerConfig,
    now: Timestamp,
) -> Vec<OpenCircuit> {
    let me = reference.display();
    breakers
        .scoped
        .iter()
        .filter(|(key, _)| scope_policy(key) == me)
        .filter_map(|(key, b)| {
            let state = b.state_at(cfg, now);
            (state != BreakerState::Closed).then(|| OpenCircuit {
                workload: scope_workload(key).to_string(),
                state: state.as_str().to_string(),
                half_open_at: (state == BreakerState::Open)
                    .then(|| half_open_at(b, cfg))
                    .flatten()
                    .map(Time),
            })
        })
        .collect()
}

/// When an open breaker half-opens.
fn half_open_at(b: &CircuitBreaker, cfg: &BreakerConfig) -> Option<Timestamp> {
    let cool_off =
        jiff::SignedDuration::try_from(std::time::Duration::from(cfg.cool_off)).unwrap_or_default();
    b.opened_at.and_then(|t| t.checked_add(cool_off).ok())
}

/// The conditions for `facts`, keeping each one's `lastTransitionTime` (and any condition of
/// another type) from `current` unless its status changed.
pub fn conditions(
    facts: &PolicyFacts,
    generation: i64,
    now: Timestamp,
    current: &[Condition],
) -> Vec<Condition> {
    let mut out: Vec<Condition> = current
        .iter()
        .filter(|c| c.type_ != READY && c.type_ != ACTIVE)
        .cloned()
        .collect();
    for (type_, ok, reason, message) in verdicts(facts) {
        let status = if ok { "True" } else { "False" };
        let since = current
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        out.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            observed_generation: Some(generation),
            last_transition_time: since,
        });
    }
    out
}

/// Brings every policy's status up to date (best effort: failures are logged). `checked`
/// holds each policy with the problems of its spec.
pub async fn report(
    client: &kube::Client,
    checked: &[(Policy, Vec<String>)],
    statuses: Vec<(PolicyRef, Option<HealingPolicyStatus>)>,
    history: &[ActionRecord],
    breakers: &Breakers,
    safety: &SafetyConfig,
    now: Timestamp,
) {
    let state = breakers.global.state_at(&safety.global_breaker, now);
    let half_open_at = half_open_at(&breakers.global, &safety.global_breaker);
    for (reference, current) in statuses {
        // A policy that changed between the two reads of the store waits for the next round.
        let Some((p, problems)) = checked.iter().find(|(p, _)| p.reference == reference) else {
            continue;
        };
        let facts = PolicyFacts {
            problems,
            mode: p.spec.mode,
            min_confidence: p.spec.min_confidence,
            breaker: state,
            half_open_at,
            open_circuits: open_circuits(&reference, breakers, &safety.breaker, now),
            global_dry_run: safety.dry_run,
        };
        let Some(st) = wanted(&reference, &facts, history, now, current.as_ref()) else {
            continue;
        };
        let was_invalid = current
            .as_ref()
            .is_some_and(|c| c.conditions.iter().any(|c| c.reason == "InvalidSpec"));
        if !problems.is_empty() && !was_invalid {
            tracing::warn!(
                policy = %reference.display(),
                problems = %problems.join("; "),
                "invalid policy: it proposes nothing until its spec is fixed"
            );
        }
        if let Err(e) = write(client, &reference, &st).await {
            tracing::warn!(policy = %reference.display(), error = %e, "cannot update a policy's status");
        }
    }
}

/// Writes a policy's status (merge patch of the status subresource).
pub async fn write(
    client: &kube::Client,
    reference: &PolicyRef,
    st: &HealingPolicyStatus,
) -> Result<()> {
    let patch = serde_json::json!({ "status": st });
    let pp = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    match reference.kind {
        PolicyKind::HealingPolicy => {
            let ns = reference.namespace.as_deref().unwrap_or("default");
            let api: Api<HealingPolicy> = Api::namespaced(client.clone(), ns);
            api.patch_status(&reference.name, &pp, &Patch::Merge(&patch))
                .await?;
        }
        PolicyKind::ClusterHealingPolicy => {
            let api: Api<ClusterHealingPolicy> = Api::all(client.clone());
            api.patch_status(&reference.name, &pp, &Patch::Merge(&patch))
                .await?;
        }
        // A request's built-in policy is no object: nothing to report on.
        PolicyKind::Request => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaptain_heal::crd::ActionKind;
    use kaptain_model::ObjectRef;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    fn policy(name: &str, generation: i64) -> PolicyRef {
        PolicyRef {
            kind: PolicyKind::HealingPolicy,
            namespace: Some("shop".into()),
            name: name.into(),
            generation,
        }
    }

    fn record(p: &PolicyRef, at: i64) -> ActionRecord {
        ActionRecord {
            idempotency_key: format!("k{at}"),
            policy: p.clone(),
            action: ActionKind::RestartPod,
            target: ObjectRef::new("v1", "Pod", Some("shop"), "x"),
            started_at: t(at),
        }
    }

    fn facts(mode: Mode) -> PolicyFacts<'static> {
        PolicyFacts {
            problems: &[],
            mode,
            min_confidence: 0.9,
            breaker: BreakerState::Closed,
            half_open_at: None,
            open_circuits: Vec::new(),
            global_dry_run: false,
        }
    }

    fn get<'a>(cs: &'a [Condition], type_: &str) -> &'a Condition {
        cs.iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} in {cs:?}"))
    }

    #[test]
    fn counts_the_last_hour_of_this_policy_only() {
        let a = policy("a", 2);
        let b = policy("b", 1);
        let history = [record(&a, 0), record(&a, 3000), record(&b, 3500)];
        let f = facts(Mode::Auto);
        let st = wanted(&a, &f, &history, t(4000), None).expect("changed");
        assert_eq!(st.actions_in_last_hour, 1);
        assert_eq!(st.last_action_time, Some(Time(t(3000))));
        assert_eq!(st.observed_generation, Some(2));
        assert_eq!(wanted(&a, &f, &history, t(4000), Some(&st)), None);
        let later = wanted(&a, &f, &history, t(7000), Some(&st)).expect("the hour passed");
        assert_eq!(later.actions_in_last_hour, 0);
        assert_eq!(later.last_action_time, Some(Time(t(3000))));
    }

    #[test]
    fn conditions_follow_validity_mode_and_breaker() {
        let problems = vec!["match.checks: no check or domain is called \"x\"".to_string()];
        let cases: Vec<(PolicyFacts, bool, &str, bool, &str)> = vec![
            (facts(Mode::Auto), true, "Valid", true, "Auto"),
            (facts(Mode::Approval), true, "Valid", true, "ApprovalMode"),
            (facts(Mode::DryRun), true, "Valid", true, "DryRun"),
            (facts(Mode::Paused), true, "Valid", false, "Paused"),
            (
                PolicyFacts {
                    problems: &problems,
                    ..facts(Mode::Auto)
                },
                false,
                "InvalidSpec",
                false,
                "InvalidSpec",
            ),
            (
                PolicyFacts {
                    breaker: BreakerState::Open,
                    half_open_at: Some(t(600)),
                    ..facts(Mode::Auto)
                },
                true,
                "Valid",
                false,
                "CircuitOpen",
            ),
            (
                PolicyFacts {
                    breaker: BreakerState::Open,
                    ..facts(Mode::DryRun)
                },
                true,
                "Valid",
                true,
                "DryRun",
            ),
            (
                PolicyFacts {
                    breaker: BreakerState::HalfOpen,
                    ..facts(Mode::Approval)
                },
                true,
                "Valid",
                true,
                "CircuitHalfOpen",
            ),
            (
                PolicyFacts {
                    global_dry_run: true,
                    ..facts(Mode::Auto)
                },
                true,
                "Valid",
                true,
                "DryRun",
            ),
        ];
        for (f, ready, ready_reason, active, active_reason) in cases {
            let cs = conditions(&f, 3, t(0), &[]);
            let (r, a) = (get(&cs, READY), get(&cs, ACTIVE));
            let word = |b: bool| if b { "True" } else { "False" };
            assert_eq!(
                (r.status.as_str(), r.reason.as_str()),
                (word(ready), ready_reason),
                "{f:?}"
            );
            assert_eq!(
                (a.status.as_str(), a.reason.as_str()),
                (word(active), active_reason),
                "{f:?}"
            );
            assert_eq!(r.observed_generation, Some(3));
            assert!(!a.message.is_empty());
        }
        let bad = PolicyFacts {
            problems: &problems,
            ..facts(Mode::Auto)
        };
        let cs = conditions(&bad, 1, t(0), &[]);
        assert_eq!(get(&cs, READY).message, problems[0]);
        let open = PolicyFacts {
            breaker: BreakerState::Open,
            half_open_at: Some(t(600)),
            ..facts(Mode::Auto)
        };
        let cs = conditions(&open, 1, t(0), &[]);
        assert!(get(&cs, ACTIVE).message.contains(&t(600).to_string()));
    }

    #[test]
    fn a_policys_open_workloads_are_listed_and_named_and_others_are_not() {
        let safety = SafetyConfig::default();
        let mine = policy("oom", 2);
        let mut b = Breakers::default();
        let api = ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
        let web = ObjectRef::new("apps/v1", "Deployment", Some("shop"), "web");
        for s in 0..3 {
            b.on_failure(&safety, &kaptain_heal::guard::scope_key(&mine, &api), t(s));
        }
        // One failure on web (still closed), three of another policy on web.
        b.on_failure(&safety, &kaptain_heal::guard::scope_key(&mine, &web), t(4));
        for s in 5..8 {
            b.on_failure(
                &safety,
                &kaptain_heal::guard::scope_key(&policy("other", 1), &web),
                t(s),
            );
        }
        let open = open_circuits(&mine, &b, &safety.breaker, t(10));
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].workload, "Deployment/shop/api");
        assert_eq!(open[0].state, "open");
        assert_eq!(open[0].half_open_at, Some(Time(t(2 + 900))));
        let f = PolicyFacts {
            open_circuits: open.clone(),
            ..facts(Mode::Auto)
        };
        let cs = conditions(&f, 1, t(10), &[]);
        let active = get(&cs, ACTIVE);
        assert_eq!(
            (active.status.as_str(), active.reason.as_str()),
            ("True", "Auto")
        );
        assert!(
            active.message.contains("Deployment/shop/api"),
            "{}",
            active.message
        );
        let st = wanted(&mine, &f, &[], t(10), None).expect("a status");
        assert_eq!(st.open_circuits, open);
        // After the cool-off: half-open, no time.
        let later = open_circuits(&mine, &b, &safety.breaker, t(2 + 900));
        assert_eq!(
            (later[0].state.as_str(), later[0].half_open_at.as_ref()),
            ("half-open", None)
        );
    }

    #[test]
    fn transition_times_move_only_when_the_status_changes() {
        let first = conditions(&facts(Mode::Auto), 1, t(0), &[]);
        // Another reason, same status: the time stays.
        let approval = conditions(&facts(Mode::Approval), 2, t(50), &first);
        assert_eq!(
            get(&approval, ACTIVE).last_transition_time,
            Time(t(0)),
            "{approval:?}"
        );
        assert_eq!(get(&approval, ACTIVE).observed_generation, Some(2));
        // Paused: Active turns False now; Ready stays as it was.
        let paused = conditions(&facts(Mode::Paused), 3, t(100), &approval);
        assert_eq!(get(&paused, ACTIVE).last_transition_time, Time(t(100)));
        assert_eq!(get(&paused, READY).last_transition_time, Time(t(0)));
        // Conditions of other types are kept.
        let mut other = paused.clone();
        other.push(Condition {
            type_: "Custom".into(),
            status: "True".into(),
            reason: "X".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(t(5)),
        });
        let again = conditions(&facts(Mode::Paused), 3, t(200), &other);
        assert_eq!(again.len(), 3);
        assert_eq!(get(&again, ACTIVE).last_transition_time, Time(t(100)));
    }
}
