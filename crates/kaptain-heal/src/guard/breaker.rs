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

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::config::{BreakerConfig, secs};

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
