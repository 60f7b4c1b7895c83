//! Property tests over SEQUENCES of decisions: a stream of proposals over hours, each allowed
//! change executed (recorded in the history, started on the breaker) and its outcome fed back
//! to the breaker, as the operator does. Over the whole run, the allowed changes must respect
//! the rate limits (global and per policy, in every rolling hour), the per-object cool-down,
//! and the circuit breakers' cool-off after a burst of failures — of one policy on one
//! workload (its scope's breaker), or of all of them (the operator-wide breaker, at a higher
//! threshold). The oracles look only at the
//! sequence of allowed changes and their outcomes, not at the guard's or breaker's state.
//!
//! Cases: `PROPTEST_CASES` when set (CI runs 10,000; `scripts/prop-guard.sh` 100,000), else 500.

use proptest::prelude::*;

use super::testkit::*;
use super::*;
use crate::crd::{ActionKind, Mode};

/// The number of cases: `PROPTEST_CASES`, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One step of a run: seconds since the previous step, which target, which policy, and how
/// the change would turn out if it were executed.
#[derive(Debug, Clone)]
struct Step {
    gap: i64,
    target: usize,
    policy: &'static str,
    fails: bool,
}

fn arb_step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![3 => 0i64..120, 2 => 120i64..900, 1 => 900i64..4000],
        0usize..3,
        prop::sample::select(vec!["p", "q"]),
        prop::bool::weighted(0.4),
    )
        .prop_map(|(gap, target, policy, fails)| Step {
            gap,
            target,
            policy,
            fails,
        })
}

#[derive(Debug, Clone)]
struct Limits {
    global_per_hour: u32,
    policy_per_hour: u32,
    cooldown: i64,
    threshold: u32,
    /// The operator-wide breaker's threshold (its window and cool-off are the scopes').
    global_threshold: u32,
    window: i64,
    cool_off: i64,
}

fn arb_limits() -> impl Strategy<Value = Limits> {
    (
        1u32..12,
        1u32..8,
        0i64..1800,
        (1u32..4, 1u32..6),
        60i64..1800,
        60i64..2400,
    )
        .prop_map(
            |(global_per_hour, policy_per_hour, cooldown, (threshold, more), window, cool_off)| {
                Limits {
                    global_per_hour,
                    policy_per_hour,
                    cooldown,
                    threshold,
                    global_threshold: threshold + more,
                    window,
                    cool_off,
                }
            },
        )
}

/// An allowed change: when, on what, by which policy, and whether it failed.
#[derive(Debug, Clone)]
struct Done {
    t: i64,
    target: usize,
    policy: &'static str,
    failed: bool,
}

/// Runs `steps` through the guard as the operator would; the allowed changes.
fn run(limits: &Limits, steps: &[Step]) -> Vec<Done> {
    run_with_refusals(limits, steps).0
}

/// [`run`], with the rule of each refusal.
fn run_with_refusals(limits: &Limits, steps: &[Step]) -> (Vec<Done>, Vec<&'static str>) {
    let mut w = World::new(Mode::Auto);
    w.config.max_actions_per_hour = limits.global_per_hour;
    let breaker = |failure_threshold| BreakerConfig {
        failure_threshold,
        window: std::time::Duration::from_secs(limits.window as u64).into(),
        cool_off: std::time::Duration::from_secs(limits.cool_off as u64).into(),
    };
    w.config.breaker = breaker(limits.threshold);
    w.config.global_breaker = breaker(limits.global_threshold);
    if let Some(p) = w.policy.as_mut() {
        p.rate_limit.actions_per_hour = limits.policy_per_hour;
        p.rate_limit.cooldown_per_object =
            std::time::Duration::from_secs(limits.cooldown as u64).into();
        p.blast_radius.max_pods = 10;
    }
    let names = ["api", "web", "worker"];
    let mut t = 0i64;
    let mut done = Vec::new();
    let mut refusals = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        t += s.gap;
        w.now = at(t);
        let mut p = proposal(ActionKind::RolloutRestart, "shop");
        p.change.target.name = names[s.target].to_string();
        p.target = p.change.target.display();
        p.policy = policy_ref(s.policy);
        p.idempotency_key = format!("step-{i}");
        let decision = w.eval(&p);
        if !decision.allows_change() {
            refusals.push(decision.rule().map_or("none", |r| r.as_str()));
            continue;
        }
        // Executed: recorded, started on the breaker, verified at once.
        w.history.push(ActionRecord {
            idempotency_key: p.idempotency_key.clone(),
            policy: p.policy.clone(),
            action: p.action,
            target: p.change.target.clone(),
            started_at: w.now,
        });
        let cfg = w.config.clone();
        let scope = super::breaker_scope(&p, &w.facts);
        w.breakers.on_start(&cfg, &scope, w.now, &p.idempotency_key);
        if s.fails {
            w.breakers.on_failure(&cfg, &scope, w.now);
        } else {
            w.breakers.on_success(&cfg, &scope, w.now);
        }
        done.push(Done {
            t,
            target: s.target,
            policy: s.policy,
            failed: s.fails,
        });
    }
    (done, refusals)
}

/// The first rule the allowed changes break, if any.
fn violation(limits: &Limits, done: &[Done]) -> Option<String> {
    for (i, d) in done.iter().enumerate() {
        let earlier = &done[..i];
        let in_hour: Vec<&Done> = earlier.iter().filter(|e| d.t - e.t < 3600).collect();
        if in_hour.len() >= limits.global_per_hour as usize {
            return Some(format!(
                "change {i} at {}s: {} others in the hour (global)",
                d.t,
                in_hour.len()
            ));
        }
        let mine = in_hour.iter().filter(|e| e.policy == d.policy).count();
        if mine >= limits.policy_per_hour as usize {
            return Some(format!(
                "change {i} at {}s: {mine} of policy {} in the hour",
                d.t, d.policy
            ));
        }
        if let Some(e) = earlier
            .iter()
            .rev()
            .find(|e| e.target == d.target && d.t - e.t < limits.cooldown)
        {
            return Some(format!(
                "change {i} at {}s: same object changed at {}s (cool-down {}s)",
                d.t, e.t, limits.cooldown
            ));
        }
        // A burst opens a breaker at its last failure, for the cool-off: `threshold` failures
        // of this change's scope (its policy on its target) within the window with no success
        // of that scope between them; or `global_threshold` failures of any scopes with no
        // success at all between them.
        let scope: Vec<&Done> = earlier
            .iter()
            .filter(|e| e.policy == d.policy && e.target == d.target)
            .collect();
        if let Some(why) = burst(&scope, d.t, limits.threshold, limits) {
            return Some(format!("change {i} at {}s: the scope's breaker {why}", d.t));
        }
        let all: Vec<&Done> = earlier.iter().collect();
        if let Some(why) = burst(&all, d.t, limits.global_threshold, limits) {
            return Some(format!(
                "change {i} at {}s: the operator-wide breaker {why}",
                d.t
            ));
        }
    }
    None
}

/// Whether `threshold` failures in a row among `earlier` (within the window) opened a breaker
/// whose cool-off has not passed at `t`: how.
fn burst(earlier: &[&Done], t: i64, threshold: u32, limits: &Limits) -> Option<String> {
    let n = threshold.max(1) as usize;
    for (j, last) in earlier.iter().enumerate() {
        if !last.failed || t - last.t >= limits.cool_off {
            continue;
        }
        let run: Vec<&&Done> = earlier[..=j]
            .iter()
            .rev()
            .take_while(|e| e.failed)
            .take(n)
            .collect();
        if run.len() == n && run.iter().all(|e| last.t - e.t < limits.window) {
            return Some(format!(
                "opened at {}s after {n} failures (cool-off {}s)",
                last.t, limits.cool_off
            ));
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    #[test]
    fn a_run_of_decisions_respects_rates_cooldowns_and_the_breaker(
        limits in arb_limits(),
        steps in prop::collection::vec(arb_step(), 1..60),
    ) {
        let done = run(&limits, &steps);
        if let Some(why) = violation(&limits, &done) {
            prop_assert!(false, "{why}\nlimits {limits:?}\nallowed {done:?}");
        }
    }
}

/// The oracle is not vacuous: it catches a run that ignores each rule, and the generated runs
/// reach every limit.
#[test]
fn the_oracle_catches_each_broken_rule() {
    let l = Limits {
        global_per_hour: 3,
        policy_per_hour: 2,
        cooldown: 300,
        threshold: 2,
        global_threshold: 3,
        window: 600,
        cool_off: 900,
    };
    let d = |t, target, policy, failed| Done {
        t,
        target,
        policy,
        failed,
    };
    assert!(
        violation(
            &l,
            &[
                d(0, 0, "p", false),
                d(400, 1, "q", false),
                d(800, 2, "p", false),
                d(1200, 0, "q", false)
            ]
        )
        .is_some_and(|w| w.contains("global"))
    );
    assert!(
        violation(
            &l,
            &[
                d(0, 0, "p", false),
                d(400, 1, "p", false),
                d(800, 2, "p", false)
            ]
        )
        .is_some_and(|w| w.contains("policy"))
    );
    assert!(
        violation(&l, &[d(0, 0, "p", false), d(100, 0, "q", false)])
            .is_some_and(|w| w.contains("cool-down"))
    );
    // The breakers, with rate limits out of the way.
    let l = Limits {
        global_per_hour: 100,
        policy_per_hour: 100,
        ..l
    };
    // Two failures of one scope stop that scope...
    assert!(
        violation(
            &l,
            &[
                d(0, 0, "p", true),
                d(400, 0, "p", true),
                d(800, 0, "p", false)
            ]
        )
        .is_some_and(|w| w.contains("scope's breaker"))
    );
    // ...and not another one (another target, another policy on the same target).
    assert!(
        violation(
            &l,
            &[
                d(0, 0, "p", true),
                d(400, 0, "p", true),
                d(800, 1, "p", false),
                d(900, 0, "q", false)
            ]
        )
        .is_none()
    );
    // Three failures of different scopes stop everything.
    assert!(
        violation(
            &l,
            &[
                d(0, 0, "p", true),
                d(100, 1, "q", true),
                d(400, 2, "p", true),
                d(800, 2, "q", false)
            ]
        )
        .is_some_and(|w| w.contains("operator-wide"))
    );
    // A success between them: no burst.
    assert!(
        violation(
            &l,
            &[
                d(0, 0, "p", true),
                d(100, 1, "q", false),
                d(500, 2, "p", true),
                d(900, 1, "p", false)
            ]
        )
        .is_none()
    );

    // The generated runs do reach every limit: steps are refused for each reason.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut refused = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..300 {
        let (limits, steps) = (arb_limits(), prop::collection::vec(arb_step(), 1..60))
            .new_tree(&mut runner)
            .expect("generate")
            .current();
        for r in run_with_refusals(&limits, &steps).1 {
            *refused.entry(r).or_default() += 1;
        }
    }
    for rule in ["rate-limit", "cooldown", "circuit-open"] {
        assert!(
            refused.contains_key(rule),
            "no step refused for {rule}: {refused:?}"
        );
    }
}
