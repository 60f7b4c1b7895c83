//! The circuit breaker, as a pure state machine over explicit times:
//!
//! ```text
//! Closed ──N failures within window──▶ Open ──cool-off elapsed──▶ HalfOpen
//!   ▲                                   ▲                            │ one trial action
//!   └──────────── success ──────────────┼──────── failure ───────────┘
//! ```
//!
//! The state is plain data (serde) the operator keeps in the API (a Lease or ConfigMap
//! annotation), so it survives restarts and is shared by replicas.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kaptain_model::ObjectRef;
use serde::{Deserialize, Serialize};

use super::config::{BreakerConfig, SafetyConfig, secs};
use crate::crd::PolicyRef;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BreakerState {
    /// Automatic actions run.
    #[default]
    Closed,
    /// Too many recent failures: no action runs until the cool-off has passed.
    Open,
    /// The cool-off has passed: one trial action may run; its outcome closes or re-opens.
    HalfOpen,
}

impl BreakerState {
    /// For metrics (`kaptain_circuit_breaker_state{state=...}`).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// The breaker's whole state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    pub state: BreakerState,
    /// Times of failures inside the window (while closed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Timestamp>,
    /// The idempotency key of the trial action running while half-open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

impl CircuitBreaker {
    /// The state as of `now`: an Open breaker whose cool-off has passed reads as HalfOpen.
    pub fn state_at(&self, cfg: &BreakerConfig, now: Timestamp) -> BreakerState {
        match (self.state, self.opened_at) {
            (BreakerState::Open, Some(t)) if elapsed(t, now) >= secs(&cfg.cool_off) => {
                BreakerState::HalfOpen
            }
            (BreakerState::Open, None) => BreakerState::HalfOpen,
            (s, _) => s,
        }
    }

    /// Whether an action may start now: always when closed, never when open, and when
    /// half-open only if no trial action is already running.
    pub fn admits(&self, cfg: &BreakerConfig, now: Timestamp) -> bool {
        match self.state_at(cfg, now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => self.probe.is_none(),
        }
    }

    /// Makes time-driven changes explicit (Open → HalfOpen) and forgets failures that left
    /// the window.
    pub fn advance(&mut self, cfg: &BreakerConfig, now: Timestamp) {
        let state = self.state_at(cfg, now);
        if state == BreakerState::HalfOpen && self.state == BreakerState::Open {
            self.state = BreakerState::HalfOpen;
            self.probe = None;
        }
        let window = secs(&cfg.window);
        self.failures.retain(|t| elapsed(*t, now) < window);
    }

    /// Records that an action starts (call after the guard allowed it). While half-open it
    /// becomes the one trial action.
    pub fn on_start(&mut self, cfg: &BreakerConfig, now: Timestamp, key: &str) {
        self.advance(cfg, now);
        if self.state == BreakerState::HalfOpen {
            self.probe = Some(key.to_string());
        }
    }

    /// Records a failed (or rolled back) action.
    pub fn on_failure(&mut self, cfg: &BreakerConfig, now: Timestamp) {
        self.advance(cfg, now);
        match self.state {
            BreakerState::Closed => {
                self.failures.push(now);
                if self.failures.len() >= cfg.failure_threshold.max(1) as usize {
                    self.open(now);
                }
            }
            // A failure while open (of an action started before) keeps it open longer.
            BreakerState::Open | BreakerState::HalfOpen => self.open(now),
        }
    }

    /// Records a succeeded action.
    pub fn on_success(&mut self, cfg: &BreakerConfig, now: Timestamp) {
        self.advance(cfg, now);
        if self.state == BreakerState::HalfOpen {
            *self = CircuitBreaker::default();
        }
    }

    fn open(&mut self, now: Timestamp) {
        self.state = BreakerState::Open;
        self.opened_at = Some(now);
        self.failures.clear();
        self.probe = None;
    }

    /// The state as JSON, for an annotation.
    pub fn to_json(&self) -> Result<String, crate::Error> {
        serde_json::to_string(self).map_err(crate::Error::BreakerState)
    }

    pub fn from_json(s: &str) -> Result<Self, crate::Error> {
        serde_json::from_str(s).map_err(crate::Error::BreakerState)
    }
}

/// The operator's circuit breakers: one per scope — a policy acting on one workload — so that
/// an application no action can fix (three failed restarts of a crash loop) stops only its
/// own healing, and one for the whole operator at a higher threshold, for systemic failure
/// (many workloads failing at once). An action needs both to admit it; its outcome counts in
/// both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakers {
    /// Operator-wide ([`SafetyConfig::global_breaker`]).
    pub global: CircuitBreaker,
    /// Per scope (see [`scope_key`]; [`SafetyConfig::breaker`]). Closed breakers with no
    /// recent failure are forgotten.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scoped: BTreeMap<String, CircuitBreaker>,
}

/// The scope of an action's breaker: the proposing policy (whatever its generation) and the
/// workload acted on (a pod's controller, or the target itself).
pub fn scope_key(policy: &PolicyRef, workload: &ObjectRef) -> String {
    format!("{} {}", policy.display(), workload.display())
}

/// The policy part of a scope key ([`PolicyRef::display`]; for a policy's status).
pub fn scope_policy(key: &str) -> &str {
    key.split_once(' ').map_or(key, |(p, _)| p)
}

/// The workload part of a scope key.
pub fn scope_workload(key: &str) -> &str {
    key.split_once(' ').map_or("", |(_, w)| w)
}

impl Breakers {
    /// Why an action in `scope` may not start now (the operator-wide breaker first), or
    /// `None` when both breakers admit it.
    pub fn refusal(&self, cfg: &SafetyConfig, scope: &str, now: Timestamp) -> Option<String> {
        if !self.global.admits(&cfg.global_breaker, now) {
            return Some(format!(
                "the operator-wide circuit breaker is {} after {} or more failed actions within {}s (systemic failure); no automatic action runs",
                self.global.state_at(&cfg.global_breaker, now).as_str(),
                cfg.global_breaker.failure_threshold,
                secs(&cfg.global_breaker.window)
            ));
        }
        let b = self.scoped.get(scope)?;
        (!b.admits(&cfg.breaker, now)).then(|| {
            format!(
                "the circuit breaker of policy {} on {} is {} after repeated failed actions there; other workloads are still healed",
                scope_policy(scope),
                scope_workload(scope),
                b.state_at(&cfg.breaker, now).as_str()
            )
        })
    }

    /// Time-driven changes of every breaker; forgets scopes with nothing to remember.
    pub fn advance(&mut self, cfg: &SafetyConfig, now: Timestamp) {
        self.global.advance(&cfg.global_breaker, now);
        for b in self.scoped.values_mut() {
            b.advance(&cfg.breaker, now);
        }
        self.scoped.retain(|_, b| *b != CircuitBreaker::default());
    }

    /// An action of `scope` with idempotency key `key` starts.
    pub fn on_start(&mut self, cfg: &SafetyConfig, scope: &str, now: Timestamp, key: &str) {
        self.global.on_start(&cfg.global_breaker, now, key);
        self.scoped
            .entry(scope.to_string())
            .or_default()
            .on_start(&cfg.breaker, now, key);
    }

    /// An action of `scope` failed (or was rolled back).
    pub fn on_failure(&mut self, cfg: &SafetyConfig, scope: &str, now: Timestamp) {
        self.global.on_failure(&cfg.global_breaker, now);
        self.scoped
            .entry(scope.to_string())
            .or_default()
            .on_failure(&cfg.breaker, now);
    }

    /// An action of `scope` succeeded.
    pub fn on_success(&mut self, cfg: &SafetyConfig, scope: &str, now: Timestamp) {
        self.global.on_success(&cfg.global_breaker, now);
        if let Some(b) = self.scoped.get_mut(scope) {
            b.on_success(&cfg.breaker, now);
        }
    }

    /// The breakers as the action with idempotency key `key` sees them once it has started:
    /// it is not kept out by a half-open breaker whose trial action it is.
    pub fn for_started(&self, key: &str) -> Breakers {
        let mut b = self.clone();
        for one in std::iter::once(&mut b.global).chain(b.scoped.values_mut()) {
            if one.probe.as_deref() == Some(key) {
                one.probe = None;
            }
        }
        b
    }

    /// The state as JSON, for the operator's state ConfigMap.
    pub fn to_json(&self) -> Result<String, crate::Error> {
        serde_json::to_string(self).map_err(crate::Error::BreakerState)
    }

    /// Reads [`Breakers::to_json`]'s form, or the single operator-wide breaker that operators
    /// before scoped breakers wrote (it becomes the operator-wide one).
    pub fn from_json(s: &str) -> Result<Self, crate::Error> {
        let v: serde_json::Value = serde_json::from_str(s).map_err(crate::Error::BreakerState)?;
        if v.get("state").is_some() {
            let global = serde_json::from_value(v).map_err(crate::Error::BreakerState)?;
            return Ok(Breakers {
                global,
                scoped: BTreeMap::new(),
            });
        }
        serde_json::from_value(v).map_err(crate::Error::BreakerState)
    }
}

/// Seconds from `from` to `to` (negative if `to` is earlier).
pub(crate) fn elapsed(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second().saturating_sub(from.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    fn cfg() -> BreakerConfig {
        BreakerConfig::default() // 3 failures in 10m, 15m cool-off
    }

    #[test]
    fn opens_after_n_failures_within_the_window_only() {
        let c = cfg();
        let mut b = CircuitBreaker::default();
        b.on_failure(&c, t(0));
        b.on_failure(&c, t(60));
        assert_eq!(b.state_at(&c, t(61)), BreakerState::Closed);
        // The first failure leaves the window before the third arrives.
        b.on_failure(&c, t(601));
        assert_eq!(b.state_at(&c, t(601)), BreakerState::Closed);
        b.on_failure(&c, t(620));
        assert_eq!(b.state_at(&c, t(620)), BreakerState::Open);
        assert!(!b.admits(&c, t(620)));
    }

    #[test]
    fn half_opens_after_cool_off_and_admits_one_probe() {
        let c = cfg();
        let mut b = CircuitBreaker::default();
        for s in [0, 1, 2] {
            b.on_failure(&c, t(s));
        }
        assert!(!b.admits(&c, t(899)));
        assert_eq!(b.state_at(&c, t(902)), BreakerState::HalfOpen);
        assert!(b.admits(&c, t(902)));
        b.on_start(&c, t(903), "key-1");
        assert_eq!(b.state, BreakerState::HalfOpen);
        assert!(!b.admits(&c, t(904)), "a second trial while one runs");
        b.on_success(&c, t(1000));
        assert_eq!(b, CircuitBreaker::default());
        assert!(b.admits(&c, t(1000)));
    }

    #[test]
    fn a_failed_probe_reopens() {
        let c = cfg();
        let mut b = CircuitBreaker::default();
        for s in [0, 1, 2] {
            b.on_failure(&c, t(s));
        }
        b.on_start(&c, t(1000), "probe");
        b.on_failure(&c, t(1100));
        assert_eq!(b.state_at(&c, t(1100)), BreakerState::Open);
        assert_eq!(b.opened_at, Some(t(1100)));
        assert!(!b.admits(&c, t(1100 + 899)));
        assert!(b.admits(&c, t(1100 + 900)));
    }

    #[test]
    fn success_while_open_keeps_it_open_and_closed_success_changes_nothing() {
        let c = cfg();
        let mut b = CircuitBreaker::default();
        b.on_failure(&c, t(0));
        b.on_success(&c, t(1));
        assert_eq!(
            b.failures.len(),
            1,
            "a success does not erase recent failures"
        );
        b.on_failure(&c, t(2));
        b.on_failure(&c, t(3));
        b.on_success(&c, t(4));
        assert_eq!(b.state_at(&c, t(4)), BreakerState::Open);
    }

    fn scoped() -> (SafetyConfig, String, String) {
        let cfg = SafetyConfig::default(); // scopes: 3 in 10m; operator-wide: 10 in 10m
        let policy = |name: &str| PolicyRef {
            kind: crate::crd::PolicyKind::HealingPolicy,
            namespace: Some("shop".into()),
            name: name.into(),
            generation: 4,
        };
        let w = |name: &str| ObjectRef::new("apps/v1", "Deployment", Some("shop"), name);
        (
            cfg,
            scope_key(&policy("restart-crashloops"), &w("api")),
            scope_key(&policy("rollback-bad-rollouts"), &w("web")),
        )
    }

    #[test]
    fn one_failing_workload_opens_only_its_own_scope() {
        let (cfg, api, web) = scoped();
        assert_eq!(scope_policy(&api), "HealingPolicy/shop/restart-crashloops");
        assert_eq!(scope_workload(&api), "Deployment/shop/api");
        let mut b = Breakers::default();
        for s in 0..3 {
            b.on_start(&cfg, &api, t(s * 60), "k");
            b.on_failure(&cfg, &api, t(s * 60 + 30));
        }
        let why = b
            .refusal(&cfg, &api, t(200))
            .expect("the api scope is open");
        assert!(
            why.contains("restart-crashloops") && why.contains("Deployment/shop/api"),
            "{why}"
        );
        assert_eq!(
            b.refusal(&cfg, &web, t(200)),
            None,
            "another workload is still healed"
        );
        assert_eq!(
            b.global.state_at(&cfg.global_breaker, t(200)),
            BreakerState::Closed
        );
        // The same policy on another workload is another scope too.
        let other = format!("{} Deployment/shop/cart", scope_policy(&api));
        assert_eq!(b.refusal(&cfg, &other, t(200)), None);
        // Cool-off: half-open, one trial; its success closes and forgets the scope.
        assert_eq!(b.refusal(&cfg, &api, t(150 + 900)), None);
        b.advance(&cfg, t(150 + 900));
        b.on_start(&cfg, &api, t(1100), "trial");
        assert!(
            b.refusal(&cfg, &api, t(1101)).is_some(),
            "one trial at a time"
        );
        assert_eq!(b.for_started("trial").refusal(&cfg, &api, t(1101)), None);
        b.on_success(&cfg, &api, t(1200));
        b.advance(&cfg, t(1200));
        assert!(b.scoped.is_empty(), "{:?}", b.scoped);
    }

    #[test]
    fn failures_across_many_workloads_open_the_operator_wide_breaker() {
        let (cfg, _, _) = scoped();
        let mut b = Breakers::default();
        // Ten workloads, one failure each: no scope opens, the operator-wide breaker does.
        for i in 0..10 {
            let scope = format!("HealingPolicy/shop/p Deployment/shop/w{i}");
            assert_eq!(
                b.refusal(&cfg, &scope, t(i * 10)),
                None,
                "before failure {i}"
            );
            b.on_failure(&cfg, &scope, t(i * 10));
        }
        assert!(b.scoped.values().all(|s| s.state == BreakerState::Closed));
        let why = b.refusal(&cfg, "HealingPolicy/shop/p Deployment/shop/fresh", t(100));
        assert!(why.is_some_and(|w| w.contains("operator-wide")));
    }

    #[test]
    fn the_single_breaker_of_older_operators_is_read_as_the_operator_wide_one() {
        let c = cfg();
        let mut old = CircuitBreaker::default();
        for s in [0, 1, 2] {
            old.on_failure(&c, t(s));
        }
        let b = Breakers::from_json(&old.to_json().expect("json")).expect("reads");
        assert_eq!(b.global, old);
        assert!(b.scoped.is_empty());
        let (cfg, api, _) = scoped();
        let mut b = Breakers::default();
        b.on_failure(&cfg, &api, t(0));
        let json = b.to_json().expect("json");
        assert_eq!(Breakers::from_json(&json).expect("reads"), b);
        assert!(Breakers::from_json("[").is_err());
    }

    #[test]
    fn state_round_trips_through_json() {
        let c = cfg();
        let mut b = CircuitBreaker::default();
        for s in [0, 1, 2] {
            b.on_failure(&c, t(s));
        }
        let json = b.to_json().expect("json");
        assert!(json.contains("\"state\":\"Open\""), "{json}");
        assert_eq!(CircuitBreaker::from_json(&json).expect("parse"), b);
        assert!(CircuitBreaker::from_json("{").is_err());
    }
}
