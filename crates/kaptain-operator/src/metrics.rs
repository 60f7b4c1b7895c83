//! Prometheus metrics (prometheus-client), served as OpenMetrics text on `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use kaptain_heal::guard::{BreakerState, Breakers, SafetyConfig, scope_policy};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    /// `succeeded`, `failed`, `rolled-back`, `rejected`.
    pub result: String,
    pub mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProposalLabels {
    pub action: String,
    /// The guard's decision: `allow`, `allow-dry-run`, `needs-approval`, `deny`.
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// `HealingPolicy/namespace/name` or `ClusterHealingPolicy/name`.
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `ok` or the error category.
    pub error_category: String,
}

fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric the operator exports.
#[derive(Clone)]
pub struct Metrics {
    pub actions: Family<ActionLabels, Counter>,
    pub proposals: Family<ProposalLabels, Counter>,
    pub rejections: Family<RuleLabels, Counter>,
    pub breaker: Family<StateLabels, Gauge>,
    pub open_circuits: Family<PolicyLabels, Gauge>,
    pub reconcile: Family<ReconcileLabels, Histogram, fn() -> Histogram>,
    pub finding_to_action: Histogram,
    pub leader: Gauge,
    pub findings: Gauge,
    pub watched_objects: Gauge<u64, AtomicU64>,
    /// Policies that had a workload's breaker open at some point (their gauge is kept, at 0
    /// once none is open).
    open_policies: Arc<Mutex<BTreeSet<String>>>,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("kaptain");
        let actions = Family::<ActionLabels, Counter>::default();
        r.register(
            "heal_actions",
            "Healing actions that finished, by action kind, result and policy mode",
            actions.clone(),
        );
        let proposals = Family::<ProposalLabels, Counter>::default();
        r.register(
            "heal_proposals",
            "HealingActions created from the planner's proposals, by the guard's decision",
            proposals.clone(),
        );
        let rejections = Family::<RuleLabels, Counter>::default();
        r.register(
            "heal_rejections",
            "Proposals or executions the safety guard refused or deferred, by safety rule",
            rejections.clone(),
        );
        let breaker = Family::<StateLabels, Gauge>::default();
        r.register(
            "heal_circuit_breaker_state",
            "1 for the operator-wide circuit breaker's current state (closed, open, half-open)",
            breaker.clone(),
        );
        let open_circuits = Family::<PolicyLabels, Gauge>::default();
        r.register(
            "heal_open_circuits",
            "Workloads on which a policy's own circuit breaker is open or half-open, by policy",
            open_circuits.clone(),
        );
        let reconcile: Family<ReconcileLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(reconcile_histogram);
        r.register(
            "operator_reconcile_duration_seconds",
            "Time of one reconcile (index, analysis, plan, guard, execution steps)",
            reconcile.clone(),
        );
        let finding_to_action = Histogram::new(exponential_buckets(0.25, 2.0, 14));
        r.register(
            "heal_finding_to_action_seconds",
            "Time from a finding being first seen to its HealingAction being created",
            finding_to_action.clone(),
        );
        let leader = Gauge::default();
        r.register(
            "operator_leader",
            "1 while this instance holds the leader Lease",
            leader.clone(),
        );
        let findings = Gauge::default();
        r.register(
            "operator_findings",
            "Findings of the last analysis",
            findings.clone(),
        );
        let watched_objects = Gauge::<u64, AtomicU64>::default();
        r.register(
            "operator_watched_objects",
            "Objects held by the reflectors at the last reconcile",
            watched_objects.clone(),
        );
        Metrics {
            actions,
            proposals,
            rejections,
            breaker,
            open_circuits,
            reconcile,
            finding_to_action,
            leader,
            findings,
            watched_objects,
            open_policies: Arc::default(),
            registry: Arc::new(r),
        }
    }

    /// Sets the breaker gauges: the operator-wide state, and per policy the workloads whose
    /// breaker is not closed (policies that had some and have none now go to 0).
    pub fn set_breakers(&self, breakers: &Breakers, safety: &SafetyConfig, now: Timestamp) {
        self.set_breaker(breakers.global.state_at(&safety.global_breaker, now));
        let mut open: BTreeMap<String, i64> = BTreeMap::new();
        for (key, b) in &breakers.scoped {
            if b.state_at(&safety.breaker, now) != BreakerState::Closed {
                *open.entry(scope_policy(key).to_string()).or_default() += 1;
            }
        }
        let mut known = self.open_policies.lock().unwrap_or_else(|e| e.into_inner());
        known.extend(open.keys().cloned());
        for policy in known.iter() {
            self.open_circuits
                .get_or_create(&PolicyLabels {
                    policy: policy.clone(),
                })
                .set(open.get(policy).copied().unwrap_or(0));
        }
    }

    /// Sets the breaker gauge: 1 for `state`, 0 for the others.
    pub fn set_breaker(&self, state: BreakerState) {
        for s in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            self.breaker
                .get_or_create(&StateLabels {
                    state: s.as_str().to_string(),
                })
                .set(i64::from(s == state));
        }
    }

    pub fn finished(&self, action: &str, result: &str, mode: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.to_string(),
                result: result.to_string(),
                mode: mode.to_string(),
            })
            .inc();
    }

    pub fn proposed(&self, action: &str, decision: &str) {
        self.proposals
            .get_or_create(&ProposalLabels {
                action: action.to_string(),
                decision: decision.to_string(),
            })
            .inc();
    }

    pub fn rejected(&self, rule: &str) {
        self.rejections
            .get_or_create(&RuleLabels {
                rule: rule.to_string(),
            })
            .inc();
    }

    pub fn reconciled(&self, seconds: f64, category: &str) {
        self.reconcile
            .get_or_create(&ReconcileLabels {
                error_category: category.to_string(),
            })
            .observe(seconds);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The sum of a counter family's values whose labels contain `needle` (for tests).
    pub fn proposals_total(&self) -> u64 {
        count_lines(&self.encode(), "kaptain_heal_proposals_total")
    }
}

/// Sums the values of the samples of `metric` in OpenMetrics text.
pub fn count_lines(text: &str, metric: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .map(|v| v.max(0.0) as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_with_their_names_and_labels() {
        let m = Metrics::new();
        m.finished("RaiseResources", "succeeded", "auto");
        m.proposed("RaiseResources", "allow");
        m.proposed("RestartPod", "deny");
        m.rejected("protected-label");
        m.set_breaker(BreakerState::Open);
        m.reconciled(0.01, "ok");
        m.finding_to_action.observe(1.5);
        let text = m.encode();
        for want in [
            "kaptain_heal_actions_total{action=\"RaiseResources\",result=\"succeeded\",mode=\"auto\"} 1",
            "kaptain_heal_rejections_total{rule=\"protected-label\"} 1",
            "kaptain_heal_circuit_breaker_state{state=\"open\"} 1",
            "kaptain_heal_circuit_breaker_state{state=\"closed\"} 0",
            "kaptain_operator_reconcile_duration_seconds_count{error_category=\"ok\"} 1",
            "kaptain_heal_finding_to_action_seconds_count 1",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert_eq!(m.proposals_total(), 2);
    }

    #[test]
    fn open_circuits_are_counted_per_policy_and_go_back_to_zero() {
        let m = Metrics::new();
        let safety = SafetyConfig::default();
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).expect("valid");
        let mut b = Breakers::default();
        for w in ["api", "web"] {
            for s in 0..3 {
                b.on_failure(
                    &safety,
                    &format!("HealingPolicy/shop/p Deployment/shop/{w}"),
                    t(s),
                );
            }
        }
        b.on_failure(&safety, "HealingPolicy/shop/q Deployment/shop/api", t(3));
        m.set_breakers(&b, &safety, t(10));
        let text = m.encode();
        for want in [
            "kaptain_heal_open_circuits{policy=\"HealingPolicy/shop/p\"} 2",
            "kaptain_heal_circuit_breaker_state{state=\"closed\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert!(!text.contains("policy=\"HealingPolicy/shop/q\""), "{text}");
        m.set_breakers(&Breakers::default(), &safety, t(20));
        assert!(
            m.encode()
                .contains("kaptain_heal_open_circuits{policy=\"HealingPolicy/shop/p\"} 0")
        );
    }
}
