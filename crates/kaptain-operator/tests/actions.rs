//! One test per action kind the OOM tests (tests/operator.rs) do not reach, each on the real
//! control plane (v1.20) with the simulated kubelet: restart a pod, rollout restart, scale
//! within bounds, force-delete a pod stuck Terminating, and a suggested manifest that only a
//! person can approve; and a reverse patch that keeps failing. Cordoning a node is in
//! tests/cordon.rs (a cluster-wide policy would reach the operators of every test of this
//! binary).

mod common;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kaptain_heal::crd::{ActionKind, HealingAction, Operation, Phase};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use common::*;
use kaptain_testenv::apply_yaml;

/// A Deployment of `replicas` healthy pods.
fn deployment(ns: &str, name: &str, replicas: i32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: {name}, image: "shop/{name}:1.0"}}]
"#
    )
}

/// An auto-mode HealingPolicy for `checks` with the one action `action` (a flow map).
fn policy(ns: &str, checks: &str, action: &str, window: &str) -> String {
    format!(
        r#"
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {{name: heal, namespace: {ns}}}
spec:
  mode: auto
  minConfidence: 0.5
  match: {{checks: [{checks}]}}
  actions: [{action}]
  verification: {{window: {window}}}
"#
    )
}

/// The Running pods of a Deployment (by its `app` label), once there are `n`.
async fn running_pods(client: &kube::Client, ns: &str, n: usize) -> Result<Vec<Pod>, BoxError> {
    Ok(
        eventually(&format!("{n} Running pods in {ns}"), TIMEOUT, || async {
            let ps: Vec<Pod> = pods(client, ns)
                .await?
                .into_iter()
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                })
                .collect();
            Ok((ps.len() == n).then_some(ps))
        })
        .await?,
    )
}

fn uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// Sets simulated-kubelet annotations on one running pod (not on its template: the pod its
/// controller creates next is healthy).
async fn annotate_pod(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    annotations: serde_json::Value,
) -> TestResult {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.patch(
        pod,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": annotations}})),
    )
    .await?;
    Ok(())
}

async fn get_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Deployment, BoxError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    Ok(api.get(name).await?)
}

fn message(a: &HealingAction) -> String {
    a.status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

/// A pod that starts crash-looping on its own (not its template) → restartPod deletes it
/// (UID precondition) → its ReplicaSet creates a healthy one → Succeeded; the Deployment is
/// not touched.
#[tokio::test]
async fn a_crash_looping_pod_is_restarted_and_its_replacement_is_healthy() -> TestResult {
    let client = setup().await?;
    let ns = "act-restart";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &deployment(ns, "cart", 1)).await?;
    let before = running_pods(&client, ns, 1).await?.remove(0);
    apply_yaml(
        &client,
        &policy(ns, "pod.crash-loop", "{restartPod: {}}", "30s"),
    )
    .await?;
    let op = start(&client, operator(&client, ns, "restart-op"));
    annotate_pod(
        &client,
        ns,
        &name(&before),
        json!({"sim.kaptain.dev/exit-code": "1", "sim.kaptain.dev/run-seconds": "0.5"}),
    )
    .await?;

    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(done.spec.action, ActionKind::RestartPod);
    assert_eq!(done.spec.finding.id, "pod.crash-loop");
    assert_eq!(done.spec.target, format!("Pod/{ns}/{}", name(&before)));
    assert_eq!(done.spec.change.operation, Operation::Delete);
    assert_eq!(
        done.spec.change.precondition_uid.as_deref(),
        Some(uid(&before).as_str())
    );
    let st = done.status.clone().unwrap_or_default();
    assert!(
        st.dry_run_result.as_ref().is_some_and(|d| d.succeeded),
        "{st:?}"
    );
    let now = running_pods(&client, ns, 1).await?;
    assert_ne!(
        uid(&now[0]),
        uid(&before),
        "the crash-looping pod is still there"
    );
    let restarts: i32 = now[0]
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .sum();
    assert_eq!(restarts, 0, "the replacement crashes too");
    assert_eq!(
        generation(&client, ns, "cart").await?,
        1,
        "the Deployment changed"
    );
    events_with(
        &client,
        ns,
        &["HealingIntent", "HealingApplied", "HealingSucceeded"],
    )
    .await?;
    op.stop().await?;
    Ok(())
}

/// A crash-looping pod under a policy that prefers a rollout restart → the Deployment's pod
/// template gets `kubectl.kubernetes.io/restartedAt` (as `kubectl rollout restart` does) →
/// every pod is replaced, all healthy → Succeeded.
#[tokio::test]
async fn a_rollout_restart_replaces_every_pod() -> TestResult {
    let client = setup().await?;
    let ns = "act-rollout";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &deployment(ns, "web", 2)).await?;
    let before = running_pods(&client, ns, 2).await?;
    apply_yaml(
        &client,
        &policy(ns, "pod.crash-loop", "{rolloutRestart: {}}", "40s"),
    )
    .await?;
    let op = start(&client, operator(&client, ns, "rollout-op"));
    annotate_pod(
        &client,
        ns,
        &name(&before[0]),
        json!({"sim.kaptain.dev/exit-code": "1", "sim.kaptain.dev/run-seconds": "0.5"}),
    )
    .await?;

    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(done.spec.action, ActionKind::RolloutRestart);
    assert_eq!(done.spec.target, format!("Deployment/{ns}/web"));
    let d = get_deployment(&client, ns, "web").await?;
    assert_eq!(d.metadata.generation, Some(2), "not exactly one change");
    let stamp = d
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.annotations)
        .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt").cloned());
    assert_eq!(
        stamp.as_ref(),
        done.spec
            .change
            .after
            .as_ref()
            .and_then(|a| a["restartedAt"].as_str())
            .map(str::to_string)
            .as_ref(),
        "the template's restartedAt is not the action's"
    );
    let now = running_pods(&client, ns, 2).await?;
    for p in &now {
        assert!(
            before.iter().all(|b| uid(b) != uid(p)),
            "pod {} was not replaced",
            name(p)
        );
    }
    op.stop().await?;
    Ok(())
}

/// A Deployment whose only pod is unready (on the pod itself) is unavailable; the policy may
/// scale it within [2, 3]: it is scaled to 2 (the lower bound: the least change the bounds
/// allow). Another replica does not make the unready pod ready, so the finding stays and the
/// scale is reversed: Failed → RolledBack, replicas back to 1.
///
/// deployment.unavailable waits out a 5-minute grace period for rollouts; the operator
/// analyzes 15 minutes ahead here (as `kaptain diagnose --now` does) instead of the test
/// waiting.
#[tokio::test]
async fn a_scale_within_bounds_that_does_not_help_is_reversed() -> TestResult {
    let client = setup().await?;
    let ns = "act-scale";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &deployment(ns, "api", 1)).await?;
    let before = running_pods(&client, ns, 1).await?.remove(0);
    annotate_pod(
        &client,
        ns,
        &name(&before),
        json!({"sim.kaptain.dev/ready": "false"}),
    )
    .await?;
    apply_yaml(
        &client,
        &policy(
            ns,
            "deployment.unavailable",
            "{scale: {min: 2, max: 3}}",
            "15s",
        ),
    )
    .await?;
    let mut cfg = operator(&client, ns, "scale-op");
    cfg.analyze_ahead = Duration::from_secs(15 * 60);
    let op = start(&client, cfg);

    eventually("the Deployment scaled to 2", TIMEOUT, || async {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let d = api.get("api").await?;
        Ok((d.spec.and_then(|s| s.replicas) == Some(2)).then_some(()))
    })
    .await?;
    let done = action_in(&client, ns, Phase::RolledBack, TIMEOUT).await?;
    assert_eq!(done.spec.action, ActionKind::Scale);
    let moved = done.spec.change.replicas.ok_or("no replica change")?;
    assert_eq!((moved.before, moved.after), (1, 2));
    let st = done.status.clone().unwrap_or_default();
    assert_eq!(st.error_category.as_deref(), Some("not-verified"), "{st:?}");
    assert!(message(&done).contains("reversed"), "{}", message(&done));
    let d = get_deployment(&client, ns, "api").await?;
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(1));
    // Two changes: the scale and its reversal, nothing else.
    assert_eq!(d.metadata.generation, Some(3));
    assert_eq!(actions(&client, ns).await?.len(), 1);
    op.stop().await?;
    Ok(())
}

/// A pod on a node that stopped (NotReady: the simulated kubelet freezes it) is deleted and
/// stays Terminating → forceDeleteStuckPod deletes it with grace period 0 (UID precondition)
/// → the pod object is gone → Succeeded.
///
/// pod.stuck-terminating waits 5 minutes past the grace period; the operator analyzes 15
/// minutes ahead here instead of the test waiting.
#[tokio::test]
async fn a_pod_stuck_terminating_on_a_dead_node_is_force_deleted() -> TestResult {
    let client = setup().await?;
    let ns = "act-force";
    let node = "act-force-node";
    namespace(&client, ns, "{}").await?;
    // The node is tainted before the simulated kubelet takes it over, so that no other
    // test's pod lands on it (and freezes with it).
    apply_yaml(
        &client,
        &format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\nspec:\n  taints: [{{key: kaptain.dev/test, value: force, effect: NoSchedule}}]\n"
        ),
    )
    .await?;
    let sim = kaptain_testenv::ControlPlane::shared()
        .shared_kubelet()
        .await?;
    sim.add_node(node, "4", "16Gi", &[]).await?;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: worker, namespace: {ns}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  tolerations: [{{key: kaptain.dev/test, operator: Exists}}]
  containers: [{{name: worker, image: "shop/worker:1.0"}}]
"#
        ),
    )
    .await?;
    let before = running_pods(&client, ns, 1).await?.remove(0);
    sim.set_node_ready(node, false).await?;
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods_api.delete("worker", &DeleteParams::default()).await?;
    // Terminating, and it stays so: nobody on the node confirms the deletion.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stuck = pods_api.get("worker").await?;
    assert!(stuck.metadata.deletion_timestamp.is_some());

    apply_yaml(
        &client,
        &policy(
            ns,
            "pod.stuck-terminating",
            "{forceDeleteStuckPod: {graceSeconds: 0}}",
            "30s",
        ),
    )
    .await?;
    let mut cfg = operator(&client, ns, "force-op");
    cfg.analyze_ahead = Duration::from_secs(15 * 60);
    let op = start(&client, cfg);
    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await;
    sim.set_node_ready(node, true).await?;
    let done = done?;
    assert_eq!(done.spec.action, ActionKind::ForceDeleteStuckPod);
    assert_eq!(done.spec.change.grace_period_seconds, Some(0));
    assert_eq!(
        done.spec.change.precondition_uid.as_deref(),
        Some(uid(&before).as_str())
    );
    assert!(
        pods_api.get_opt("worker").await?.is_none(),
        "the pod is still there"
    );
    op.stop().await?;
    Ok(())
}

/// A workload reads a ConfigMap that does not exist. Kaptain never invents configuration:
/// even an auto-mode policy only proposes the exact manifest (the name and the key the
/// workload reads, an empty value, a review annotation) and waits for a person; nothing is
/// created until then. Once a person approves that manifest, it is created exactly as
/// proposed and the waiting pod starts → Succeeded.
#[tokio::test]
async fn a_missing_configmap_gets_a_suggested_manifest_only_a_person_can_approve() -> TestResult {
    let client = setup().await?;
    let ns = "act-suggest";
    namespace(&client, ns, "{}").await?;
    apply_yaml(
        &client,
        &policy(
            ns,
            "config.missing-configmap",
            "{suggestManifest: {}}",
            "40s",
        ),
    )
    .await?;
    let op = start(&client, operator(&client, ns, "suggest-op"));
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shop, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: shop}}}}
  template:
    metadata: {{labels: {{app: shop}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: shop
        image: shop/shop:1.0
        env:
        - name: LOG_LEVEL
          valueFrom: {{configMapKeyRef: {{name: shop-config, key: LOG_LEVEL}}}}
"#
        ),
    )
    .await?;

    let a = eventually(
        "a suggested manifest waiting for a person",
        TIMEOUT,
        || async {
            Ok(actions(&client, ns).await?.into_iter().find(|a| {
                phase(a) == Phase::Proposed
                    && a.status
                        .as_ref()
                        .and_then(|s| s.decision.as_ref())
                        .is_some_and(|d| d.decision == "needs-approval")
            }))
        },
    )
    .await?;
    assert_eq!(a.spec.action, ActionKind::SuggestManifest);
    let verdict = a
        .status
        .as_ref()
        .and_then(|s| s.decision.clone())
        .ok_or("no decision")?;
    assert_eq!(verdict.rule.as_deref(), Some("human-only"), "{verdict:?}");
    assert!(a.spec.requires_approval.is_some());
    assert_eq!(a.spec.change.operation, Operation::Create);
    let want = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "shop-config",
            "namespace": ns,
            "annotations": {"kaptain.dev/review": "placeholder values: fill them in before approving"}
        },
        "data": {"LOG_LEVEL": ""}
    });
    assert_eq!(a.spec.change.manifest.as_ref(), Some(&want));

    // Auto mode, confidence above the threshold: still nothing is created.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        cms.get_opt("shop-config").await?.is_none(),
        "created without a person"
    );
    let a = actions(&client, ns)
        .await?
        .into_iter()
        .find(|x| x.metadata.name == a.metadata.name)
        .ok_or("the action is gone")?;
    assert_eq!(phase(&a), Phase::Proposed);
    assert!(
        a.status
            .as_ref()
            .and_then(|s| s.approved_by.as_ref())
            .is_none(),
        "approved by the policy"
    );

    // A person approves (as `kaptain heal approve` does): the manifest is created as proposed.
    let name = a.metadata.name.clone().unwrap_or_default();
    let approved =
        kaptain_engine::healing::ops::approve(&client, &name, Some(ns), "alice", ns, None).await?;
    assert_eq!(phase(&approved), Phase::Approved);
    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await?;
    assert_eq!(
        done.status.as_ref().and_then(|s| s.approved_by.as_deref()),
        Some("alice")
    );
    let cm = cms.get("shop-config").await?;
    assert_eq!(
        serde_json::to_value(&cm.data)?,
        json!({"LOG_LEVEL": ""}),
        "not the suggested data"
    );
    assert!(
        cm.metadata
            .annotations
            .as_ref()
            .is_some_and(|m| m.contains_key("kaptain.dev/review"))
    );
    running_pods(&client, ns, 1).await?;
    op.stop().await?;
    Ok(())
}

/// A raise that does not help must be reversed, but the reverse patch keeps failing (here the
/// API server refuses it: the operator, running with its least-privilege RBAC, lost the right to
/// patch Deployments while the change was being verified). It is
/// tried a bounded number of times (3 here, with a back-off), each attempt recorded on the
/// status, and the action ends Failed with reason RollbackFailed — the change still in place,
/// a Warning Event saying so — and nothing more is tried.
#[tokio::test]
async fn a_reverse_patch_that_keeps_failing_ends_in_rollback_failed() -> TestResult {
    let client = setup().await?;
    let ns = "act-rollback-fails";
    namespace(&client, ns, "{}").await?;
    apply_yaml(&client, &raise_policy(ns, "auto", 2.0, "512Mi", "15s")).await?;
    apply_yaml(&client, &OPERATOR_RBAC.replace("NAMESPACE", ns)).await?;
    let limited = kaptain_testenv::ControlPlane::shared()
        .client_for(kaptain_testenv::VIEWER_TOKEN)
        .await?;
    let mut cfg = operator(&limited, ns, "rollback-fails-op");
    cfg.rollback_attempts = 3;
    cfg.rollback_backoff = Duration::from_millis(500);
    let op = start(&limited, cfg);
    apply_yaml(&client, &oom_deployment(ns, "hog", "4Gi", "256Mi")).await?;

    let verifying = action_in(&client, ns, Phase::Verifying, TIMEOUT).await?;
    let name = verifying.metadata.name.clone().unwrap_or_default();
    let api: Api<HealingAction> = Api::namespaced(client.clone(), ns);
    // Deployments: read, no longer patch.
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    let mut role = roles.get("kaptain-operator-test").await?;
    for rule in role.rules.iter_mut().flatten() {
        if rule.api_groups.as_deref() == Some(&["apps".to_string()][..]) {
            rule.verbs.retain(|v| v != "patch");
        }
    }
    roles
        .replace("kaptain-operator-test", &Default::default(), &role)
        .await?;

    let done =
        eventually("the action to end RollbackFailed", TIMEOUT, || async {
            Ok(api.get(&name).await?.status.filter(|s| {
                s.phase == Phase::Failed && s.reason.as_deref() == Some("RollbackFailed")
            }))
        })
        .await?;
    assert_eq!(done.error_category.as_deref(), Some("rollback-failed"));
    assert_eq!(
        done.rollback_attempts.len(),
        3,
        "{:?}",
        done.rollback_attempts
    );
    for at in &done.rollback_attempts {
        assert!(!at.succeeded);
        let e = at.error.as_deref().unwrap_or("");
        assert!(e.contains("forbidden"), "{e}");
    }
    let msg = done.message.unwrap_or_default();
    assert!(msg.contains("still in place"), "{msg}");
    assert_eq!(memory_limit(&client, ns, "hog").await?, "512Mi");
    // The final Event is recorded right after the Failed phase is written; the retries'
    // came before it.
    let ev = events_with(&client, ns, &["HealingRollbackFailed"]).await?;
    assert_eq!(
        ev.iter().filter(|r| *r == "HealingRollbackRetry").count(),
        2,
        "{ev:?}"
    );
    assert_eq!(
        ev.iter().filter(|r| *r == "HealingRollbackFailed").count(),
        1,
        "{ev:?}"
    );
    // Nothing more is tried.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = api.get(&name).await?.status.unwrap_or_default();
    assert_eq!(later.phase, Phase::Failed);
    assert_eq!(later.rollback_attempts.len(), 3);
    assert!(op.metrics.encode().contains(
        "kaptain_heal_actions_total{action=\"RaiseResources\",result=\"failed\",mode=\"auto\"} 1"
    ));
    op.stop().await?;
    Ok(())
}
