//! The healing operator against the real control plane (v1.20) and the simulated kubelet:
//! one namespace and one (or two) operator instances per test, each test its own scenario.

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kaptain_operator::{FailPoint, PersistedState, count_lines};
use kube::Api;

use common::*;
use kaptain_heal::crd::{ActionKind, Phase};
use kaptain_testenv::apply_yaml;

/// OOMKilled crash loop + auto policy with raiseResources → the memory limit is raised, the
/// new pod is healthy, the action Succeeded; prints the time from failure to HealingAction.
#[tokio::test]
async fn oom_crash_loop_gets_more_memory_and_succeeds() -> TestResult {
    let client = setup().await?;
    let ns = "op-oom";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let op = start(&client, operator(&client, ns, "oom-op"));
    eventually("the operator to lead", TIMEOUT, || async {
        Ok((*op.leader.borrow()).then_some(()))
    })
    .await?;

    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    // The failure, as the test sees it, and the action, timed by the same clock.
    let began = Instant::now();
    let failed_at = std::cell::Cell::new(None);
    let created_at = eventually("a HealingAction after the OOM kill", TIMEOUT, || {
        let failed_at = &failed_at;
        let client = &client;
        async move {
            if failed_at.get().is_none() && pods(client, ns).await?.iter().any(oom_killed) {
                failed_at.set(Some(began.elapsed()));
            }
            Ok((!actions(client, ns).await?.is_empty()).then(|| began.elapsed()))
        }
    })
    .await?;
    let failed_at = failed_at.get().unwrap_or(created_at);
    println!(
        "OOM kill seen at {:.2}s, HealingAction seen at {:.2}s: failure → action {:.2}s (≤ polling 0.2s)",
        failed_at.as_secs_f64(),
        created_at.as_secs_f64(),
        created_at.saturating_sub(failed_at).as_secs_f64()
    );

    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(done.spec.action, ActionKind::RaiseResources);
    assert_eq!(done.spec.target, format!("Deployment/{ns}/search"));
    let st = done.status.clone().unwrap_or_default();
    assert!(st.observed_before.is_some(), "no observedBefore: {st:?}");
    assert!(
        st.dry_run_result.as_ref().is_some_and(|d| d.succeeded),
        "no successful dry-run: {st:?}"
    );
    assert!(st.times.executing.is_some() && st.times.verifying.is_some());
    assert_eq!(memory_limit(&client, ns, "search").await?, "768Mi");
    // The new pod runs and is ready; no pod is OOM-killed any more.
    let ps = pods(&client, ns).await?;
    assert_eq!(
        ps.len(),
        1,
        "{:?}",
        ps.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
    );
    assert!(!oom_killed(&ps[0]));
    // Every decision is an Event on the target (HealingSucceeded is recorded right after
    // the phase is written).
    events_with(
        &client,
        ns,
        &[
            "HealingApproved",
            "HealingIntent",
            "HealingApplied",
            "HealingSucceeded",
        ],
    )
    .await?;
    // Metrics: one succeeded action (counted after its Event), the breaker closed, a
    // finding→action time observed.
    let text = metrics_with(
        &op,
        "kaptain_heal_actions_total{action=\"RaiseResources\",result=\"succeeded\",mode=\"auto\"} 1",
    )
    .await?;
    assert!(
        text.contains("kaptain_heal_circuit_breaker_state{state=\"closed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("kaptain_heal_finding_to_action_seconds_count 1"),
        "{text}"
    );
    // The policy reports its action (kubectl get healingpolicies: Actions/h, Last Action).
    let hp: Api<kaptain_heal::crd::HealingPolicy> = Api::namespaced(client.clone(), ns);
    let st = eventually("the policy's status", TIMEOUT, || async {
        Ok(hp
            .get("oom")
            .await?
            .status
            .filter(|s| s.actions_in_last_hour == 1))
    })
    .await?;
    assert!(
        st.last_action_time.is_some() && st.observed_generation == Some(1),
        "{st:?}"
    );
    if let Some(line) = text
        .lines()
        .find(|l| l.starts_with("kaptain_heal_finding_to_action_seconds_sum"))
    {
        println!("operator metric: {line}");
    }
    op.stop().await?;
    Ok(())
}

/// A raise that does not help (usage far above any bounded limit) is reversed: Failed →
/// RolledBack, the limit restored.
#[tokio::test]
async fn a_fix_that_does_not_help_is_rolled_back() -> TestResult {
    let client = setup().await?;
    let ns = "op-rollback";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 2.0, "512Mi", "15s")).await?;
    let op = start(&client, operator(&client, ns, "rollback-op"));
    apply_yaml(&client, &oom_deployment(ns, "hog", "4Gi", "256Mi")).await?;

    // The raise happens (the limit is 512Mi for a while) ...
    eventually("the limit raised to 512Mi", TIMEOUT, || async {
        Ok((memory_limit(&client, ns, "hog").await? == "512Mi").then_some(()))
    })
    .await?;
    // ... does not help, and is reversed.
    let done = action_in(&client, ns, Phase::RolledBack, TIMEOUT).await?;
    let st = done.status.clone().unwrap_or_default();
    assert!(
        st.times.failed.is_some() && st.times.rolled_back.is_some(),
        "{st:?}"
    );
    assert_eq!(st.error_category.as_deref(), Some("not-verified"));
    let msg = st.message.unwrap_or_default();
    assert!(
        msg.contains("pod.oom-killed") && msg.contains("reversed"),
        "{msg}"
    );
    assert_eq!(memory_limit(&client, ns, "hog").await?, "256Mi");
    events_with(
        &client,
        ns,
        &["HealingIntent", "HealingFailed", "HealingRolledBack"],
    )
    .await?;
    // The failure fed the breaker, persisted in the API.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let state = PersistedState::from_configmap(
        cms.get_opt(kaptain_operator::STATE_CONFIGMAP)
            .await?
            .as_ref(),
    );
    assert_eq!(
        state.breakers.global.failures.len(),
        1,
        "{:?}",
        state.breakers
    );
    let scope = format!("HealingPolicy/{ns}/oom Deployment/{ns}/hog");
    assert_eq!(
        state.breakers.scoped.get(&scope).map(|b| b.failures.len()),
        Some(1),
        "the failure counts in its scope too: {:?}",
        state.breakers
    );
    metrics_with(
        &op,
        "kaptain_heal_actions_total{action=\"RaiseResources\",result=\"rolled-back\",mode=\"auto\"} 1",
    )
    .await?;
    op.stop().await?;
    Ok(())
}

/// The action on one workload of a policy, once it reaches `want`.
async fn action_on(
    client: &kube::Client,
    ns: &str,
    name: &str,
    want: Phase,
) -> Result<kaptain_heal::crd::HealingAction, BoxError> {
    let target = format!("Deployment/{ns}/{name}");
    Ok(eventually(
        &format!("the action on {target} reaching {want}"),
        TIMEOUT,
        || async {
            Ok(actions(client, ns)
                .await?
                .into_iter()
                .find(|a| a.spec.target == target && phase(a) == want))
        },
    )
    .await?)
}

/// Circuit breakers have scopes. A failed action on one workload (threshold 1 here) opens the
/// breaker of that policy on that workload only: the same policy still heals another
/// workload, the policy's status and metrics name the open one. Failures on two workloads
/// (the operator-wide threshold, 2 here) open the operator-wide breaker: then no automatic
/// action runs anywhere — a third, fixable OOM waits as Proposed with rule circuit-open,
/// untouched — and the policy's Active condition says CircuitOpen.
#[tokio::test]
async fn circuit_breakers_stop_one_workload_then_everything() -> TestResult {
    let client = setup().await?;
    let ns = "op-breaker";
    namespace(&client, ns, "{}").await?;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: kaptain-operator-config, namespace: {ns}}}
data:
  safety.yaml: |
    breaker: {{failureThreshold: 1, window: 1h, coolOff: 1h}}
    globalBreaker: {{failureThreshold: 2, window: 1h, coolOff: 1h}}
"#
        ),
    )
    .await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 2.0, "512Mi", "10s")).await?;
    let op = start(&client, operator(&client, ns, "breaker-op"));
    let policy = format!("HealingPolicy/{ns}/oom");

    // 1. A raise that cannot help (4Gi used): rolled back; its scope opens, nothing else.
    apply_yaml(&client, &oom_deployment(ns, "hog", "4Gi", "256Mi")).await?;
    action_on(&client, ns, "hog", Phase::RolledBack).await?;
    metrics_with(
        &op,
        &format!("kaptain_heal_open_circuits{{policy=\"{policy}\"}} 1"),
    )
    .await?;
    assert!(
        op.metrics
            .encode()
            .contains("kaptain_heal_circuit_breaker_state{state=\"closed\"} 1")
    );
    let hp: Api<kaptain_heal::crd::HealingPolicy> = Api::namespaced(client.clone(), ns);
    let st = eventually("the policy's openCircuits", TIMEOUT, || async {
        Ok(hp
            .get("oom")
            .await?
            .status
            .filter(|s| !s.open_circuits.is_empty()))
    })
    .await?;
    assert_eq!(st.open_circuits.len(), 1, "{st:?}");
    assert_eq!(st.open_circuits[0].workload, format!("Deployment/{ns}/hog"));
    assert_eq!(st.open_circuits[0].state, "open");
    assert!(st.open_circuits[0].half_open_at.is_some());
    let active = st.conditions.iter().find(|c| c.type_ == "Active");
    assert!(
        active.is_some_and(|c| c.status == "True" && c.message.contains("hog")),
        "{active:?}"
    );

    // 2. The same policy still heals another workload.
    apply_yaml(&client, &oom_deployment(ns, "fixable", "400Mi", "256Mi")).await?;
    action_on(&client, ns, "fixable", Phase::Succeeded).await?;
    assert_eq!(memory_limit(&client, ns, "fixable").await?, "512Mi");

    // 3. A second workload failing: the operator-wide breaker opens.
    apply_yaml(&client, &oom_deployment(ns, "hog2", "4Gi", "256Mi")).await?;
    action_on(&client, ns, "hog2", Phase::RolledBack).await?;
    metrics_with(&op, "kaptain_heal_circuit_breaker_state{state=\"open\"} 1").await?;
    metrics_with(
        &op,
        &format!("kaptain_heal_open_circuits{{policy=\"{policy}\"}} 2"),
    )
    .await?;

    // 4. Now nothing runs, not even a fixable OOM on a fresh workload.
    apply_yaml(&client, &oom_deployment(ns, "fixable2", "400Mi", "256Mi")).await?;
    let waiting = eventually(
        "the fixable Deployment's action deferred by the breaker",
        TIMEOUT,
        || async {
            Ok(actions(&client, ns).await?.into_iter().find(|a| {
                a.spec.target == format!("Deployment/{ns}/fixable2")
                    && phase(a) == Phase::Proposed
                    && a.status
                        .as_ref()
                        .and_then(|s| s.decision.as_ref())
                        .is_some_and(|d| {
                            d.rule.as_deref() == Some("circuit-open")
                                && d.reason.contains("operator-wide")
                        })
            }))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(memory_limit(&client, ns, "fixable2").await?, "256Mi");
    assert_eq!(generation(&client, ns, "fixable2").await?, 1);
    let again: Api<kaptain_heal::crd::HealingAction> = Api::namespaced(client.clone(), ns);
    let name = waiting.metadata.name.clone().unwrap_or_default();
    assert_eq!(phase(&again.get(&name).await?), Phase::Proposed);
    assert!(
        op.metrics
            .encode()
            .contains("kaptain_heal_rejections_total{rule=\"circuit-open\"}")
    );
    // The policy says so: Active=False, reason CircuitOpen.
    eventually("the policy's Active condition", TIMEOUT, || async {
        Ok(hp.get("oom").await?.status.and_then(|s| {
            s.conditions
                .into_iter()
                .find(|c| c.type_ == "Active" && c.status == "False" && c.reason == "CircuitOpen")
        }))
    })
    .await?;
    op.stop().await?;
    Ok(())
}

/// A namespace labelled kaptain.dev/protected=true: the action is rejected by the guard
/// (rule protected-label) and the workload never changes.
#[tokio::test]
async fn protected_namespace_is_untouched() -> TestResult {
    let client = setup().await?;
    let ns = "op-protected";
    namespace(&client, ns, "{kaptain.dev/protected: \"true\"}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let op = start(&client, operator(&client, ns, "protected-op"));
    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    let a = action_in(&client, ns, Phase::Rejected, TIMEOUT).await?;
    let st = a.status.clone().unwrap_or_default();
    assert_eq!(
        st.rejected_by.as_deref(),
        Some(kaptain_operator::GUARD_ACTOR)
    );
    assert_eq!(
        st.decision.as_ref().and_then(|d| d.rule.as_deref()),
        Some("protected-label"),
        "{st:?}"
    );
    assert!(st.times.executing.is_none() && st.observed_before.is_none());
    // Still crash-looping a while later, and never changed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(generation(&client, ns, "search").await?, 1);
    assert_eq!(memory_limit(&client, ns, "search").await?, "256Mi");
    assert!(pods(&client, ns).await?.iter().any(oom_killed));
    events_with(&client, ns, &["HealingRejected"]).await?;
    assert!(
        op.metrics
            .encode()
            .contains("kaptain_heal_rejections_total{rule=\"protected-label\"} 1")
    );
    op.stop().await?;
    Ok(())
}

/// A namespace listed in the safety configuration (ConfigMap kaptain-operator-config):
/// rejected with rule protected-namespace, untouched.
#[tokio::test]
async fn namespace_listed_in_the_safety_config_is_untouched() -> TestResult {
    let client = setup().await?;
    let ns = "op-listed";
    namespace(&client, ns, "{}").await?;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: kaptain-operator-config, namespace: {ns}}}
data:
  safety.yaml: |
    protectedNamespaces: [kube-system, {ns}]
"#
        ),
    )
    .await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let op = start(&client, operator(&client, ns, "listed-op"));
    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    let a = action_in(&client, ns, Phase::Rejected, TIMEOUT).await?;
    assert_eq!(
        a.status
            .as_ref()
            .and_then(|s| s.decision.as_ref())
            .and_then(|d| d.rule.as_deref()),
        Some("protected-namespace")
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(generation(&client, ns, "search").await?, 1);
    assert_eq!(memory_limit(&client, ns, "search").await?, "256Mi");
    op.stop().await?;
    Ok(())
}

/// Two instances: only the Lease holder reconciles and acts; the other stays warm and takes
/// over when the leader stops.
#[tokio::test]
async fn two_instances_only_the_leader_acts() -> TestResult {
    let client = setup().await?;
    let ns = "op-leader";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let a = start(&client, operator(&client, ns, "leader-a"));
    let b = start(&client, operator(&client, ns, "leader-b"));
    let holder = eventually("a leader", TIMEOUT, || async {
        Ok(kaptain_operator::lease_holder(&client, ns, kaptain_operator::LEASE_NAME).await)
    })
    .await?;
    // Give the other instance a few renewals to (wrongly) grab the Lease.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        kaptain_operator::lease_holder(&client, ns, kaptain_operator::LEASE_NAME)
            .await
            .as_deref(),
        Some(holder.as_str())
    );
    let (leader, follower) = if holder == "leader-a" { (a, b) } else { (b, a) };
    assert!(*leader.leader.borrow() && !*follower.leader.borrow());

    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    let all = actions(&client, ns).await?;
    assert_eq!(
        all.len(),
        1,
        "{:?}",
        all.iter().map(|a| &a.metadata.name).collect::<Vec<_>>()
    );
    assert_eq!(
        done.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(kaptain_operator::INSTANCE_ANNOTATION))
            .map(String::as_str),
        Some(holder.as_str())
    );
    let reconciles = |h: &kaptain_operator::Handle| {
        count_lines(
            &h.metrics.encode(),
            "kaptain_operator_reconcile_duration_seconds_count",
        )
    };
    assert!(reconciles(&leader) > 0);
    assert_eq!(reconciles(&follower), 0, "the follower reconciled");
    assert_eq!(follower.metrics.proposals_total(), 0);
    // Every Event of the action came from the leader.
    let events = kaptain_events(&client, ns).await?;
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e.reporting_instance.as_deref() == Some(holder.as_str()))
    );

    // The leader stops (releasing the Lease): the follower takes over.
    leader.stop().await?;
    eventually("the follower to take over", TIMEOUT, || async {
        Ok((*follower.leader.borrow()).then_some(()))
    })
    .await?;
    follower.stop().await?;
    Ok(())
}

/// The operator stops between intent (Executing written, dry-run recorded) and the change.
/// After a restart the change is made exactly once and verified.
#[tokio::test]
async fn crash_between_intent_and_change_makes_the_change_once() -> TestResult {
    let client = setup().await?;
    let ns = "op-crash-intent";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let mut cfg = operator(&client, ns, "crash-op");
    cfg.fail_point = Some(FailPoint::AfterIntent);
    let first = start(&client, cfg);
    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    eventually(
        "the operator to stop at the fail point",
        TIMEOUT,
        || async { Ok(first.is_finished().then_some(())) },
    )
    .await?;
    let ended = first.join().await;
    assert!(
        matches!(
            ended,
            Err(kaptain_operator::Error::FailPoint(FailPoint::AfterIntent))
        ),
        "{ended:?}"
    );
    let a = action_in(&client, ns, Phase::Executing, Duration::from_secs(5)).await?;
    let st = a.status.clone().unwrap_or_default();
    assert!(
        st.observed_before.is_some(),
        "intent without observedBefore"
    );
    assert!(st.dry_run_result.as_ref().is_some_and(|d| d.succeeded));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        generation(&client, ns, "search").await?,
        1,
        "changed before the restart"
    );

    let second = start(&client, operator(&client, ns, "crash-op"));
    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(done.metadata.name, a.metadata.name);
    assert_eq!(
        generation(&client, ns, "search").await?,
        2,
        "not exactly one change"
    );
    assert_eq!(memory_limit(&client, ns, "search").await?, "768Mi");
    let events = reasons(&kaptain_events(&client, ns).await?);
    assert_eq!(
        events.iter().filter(|r| *r == "HealingIntent").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|r| *r == "HealingApplied").count(),
        1,
        "{events:?}"
    );
    assert_eq!(actions(&client, ns).await?.len(), 1);
    second.stop().await?;
    Ok(())
}

/// The operator stops right after the change, before Verifying is written. After a restart
/// it sees the change made and only verifies.
#[tokio::test]
async fn crash_after_the_change_does_not_repeat_it() -> TestResult {
    let client = setup().await?;
    let ns = "op-crash-applied";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let mut cfg = operator(&client, ns, "crash-op");
    cfg.fail_point = Some(FailPoint::AfterApply);
    let first = start(&client, cfg);
    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    eventually(
        "the operator to stop at the fail point",
        TIMEOUT,
        || async { Ok(first.is_finished().then_some(())) },
    )
    .await?;
    let _ = first.join().await;
    action_in(&client, ns, Phase::Executing, Duration::from_secs(5)).await?;
    assert_eq!(generation(&client, ns, "search").await?, 2);

    let second = start(&client, operator(&client, ns, "crash-op"));
    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(
        generation(&client, ns, "search").await?,
        2,
        "the change was repeated"
    );
    let events = reasons(&kaptain_events(&client, ns).await?);
    assert!(events.iter().any(|r| r == "HealingResumed"), "{events:?}");
    assert_eq!(
        events.iter().filter(|r| *r == "HealingApplied").count(),
        0,
        "{events:?}"
    );
    let msg = done.status.and_then(|s| s.times.verifying).is_some();
    assert!(msg);
    second.stop().await?;
    Ok(())
}

/// A rollout to an image that cannot be pulled → rollbackDeployment to the previous revision's
/// pod template (a JSON patch) → the old image runs again, the bad pod is gone → Succeeded.
#[tokio::test]
async fn bad_image_rollout_is_rolled_back_to_the_previous_revision() -> TestResult {
    let client = setup().await?;
    let ns = "op-bad-rollout";
    namespace(&client, ns, "{}").await?;
    let deployment = |image: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: api, image: "{image}"}}]
"#
        )
    };
    apply_yaml(&client, &deployment("shop/api:1.0")).await?;
    eventually("revision 1 available", TIMEOUT, || async {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
        let d = api.get("api").await?;
        Ok(d.status
            .and_then(|s| s.available_replicas)
            .filter(|n| *n == 1)
            .map(|_| ()))
    })
    .await?;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {{name: rollouts, namespace: {ns}}}
spec:
  mode: auto
  minConfidence: 0.5
  match: {{checks: [pod.image-pull]}}
  actions: [{{rollbackDeployment: {{}}}}]
  verification: {{window: 40s}}
"#
        ),
    )
    .await?;
    let op = start(&client, operator(&client, ns, "rollout-op"));
    apply_yaml(&client, &deployment("shop/api:does-not-exist")).await?;

    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(done.spec.action, ActionKind::RollbackDeployment);
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
    let d = api.get("api").await?;
    let image = d
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.image);
    assert_eq!(image.as_deref(), Some("shop/api:1.0"));
    let ps = pods(&client, ns).await?;
    assert_eq!(ps.len(), 1);
    let img = ps[0]
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    assert_eq!(img.as_deref(), Some("shop/api:1.0"));
    op.stop().await?;
    Ok(())
}

/// The operator's least-privilege RBAC (what the report hands to deploy/), minus the webhook
/// configurations: run as a user with only these rights, the operator skips what it may not
/// read and still heals.
#[tokio::test]
async fn least_privilege_rbac_is_enough_and_forbidden_kinds_are_skipped() -> TestResult {
    let client = setup().await?;
    let ns = "op-rbac";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &OPERATOR_RBAC.replace("NAMESPACE", ns)).await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 3.0, "1Gi", "30s")).await?;
    let cp = kaptain_testenv::ControlPlane::shared();
    let limited = cp.client_for(kaptain_testenv::VIEWER_TOKEN).await?;
    let op = start(&limited, operator(&limited, ns, "rbac-op"));
    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;
    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(done.spec.action, ActionKind::RaiseResources);
    assert_eq!(memory_limit(&client, ns, "search").await?, "768Mi");
    events_with(&client, ns, &["HealingSucceeded"]).await?;
    op.stop().await?;
    Ok(())
}
