//! What the operator reports on HealingPolicies, on the real control plane (v1.20): the
//! `Ready` and `Active` conditions, and that an invalid policy proposes nothing until fixed.

mod common;

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kaptain_heal::crd::HealingPolicy;
use kube::Api;

use common::*;
use kaptain_testenv::apply_yaml;

fn policy(ns: &str, name: &str, mode: &str, checks: &str) -> String {
    format!(
        r#"
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {{name: {name}, namespace: {ns}}}
spec:
  mode: {mode}
  match: {{checks: [{checks}]}}
  actions: [{{raiseResources: {{resource: memory, factor: 2, max: 1Gi}}}}]
"#
    )
}

/// The condition of `type_` on policy `name` once it reads `(status, reason)` for the
/// policy's current generation.
async fn condition(
    api: &Api<HealingPolicy>,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Result<Condition, BoxError> {
    Ok(eventually(
        &format!("{name}: {type_}={status} ({reason})"),
        TIMEOUT,
        || async {
            let p = api.get(name).await?;
            let generation = p.metadata.generation;
            Ok(p.status.and_then(|s| {
                s.conditions.into_iter().find(|c| {
                    c.type_ == type_
                        && c.status == status
                        && c.reason == reason
                        && c.observed_generation == generation
                })
            }))
        },
    )
    .await?)
}

/// An unknown check id makes a policy Ready=False (InvalidSpec, naming it) and it proposes
/// nothing for the findings it would otherwise answer; once fixed it is Ready and proposes.
/// A paused policy is Active=False (Paused), an approval-mode one Active=True (ApprovalMode).
/// A duration the operator could not read is refused by the API server.
#[tokio::test]
async fn conditions_report_invalid_paused_and_active_policies() -> TestResult {
    let client = setup().await?;
    let ns = "pol-status";
    namespace(&client, ns, "{}").await?;
    let api: Api<HealingPolicy> = Api::namespaced(client.clone(), ns);
    apply_yaml(
        &client,
        &policy(ns, "typo", "approval", "pod.oom-killed, pod.oom-kiled"),
    )
    .await?;
    apply_yaml(&client, &policy(ns, "resting", "paused", "pod.crash-loop")).await?;
    let op = start(&client, operator(&client, ns, "policies-op"));
    apply_yaml(&client, &oom_deployment(ns, "search", "600Mi", "256Mi")).await?;

    let ready = condition(&api, "typo", "Ready", "False", "InvalidSpec").await?;
    assert!(
        ready.message.contains("\"pod.oom-kiled\""),
        "{}",
        ready.message
    );
    condition(&api, "typo", "Active", "False", "InvalidSpec").await?;
    condition(&api, "resting", "Ready", "True", "Valid").await?;
    condition(&api, "resting", "Active", "False", "Paused").await?;
    // The OOM kill is there, and the invalid policy would answer it: nothing is proposed.
    eventually("the OOM kill", TIMEOUT, || async {
        Ok(pods(&client, ns)
            .await?
            .iter()
            .any(oom_killed)
            .then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        actions(&client, ns).await?.is_empty(),
        "an invalid policy proposed"
    );

    // Fixed: Ready, active in approval mode, and it proposes.
    apply_yaml(&client, &policy(ns, "typo", "approval", "pod.oom-killed")).await?;
    let fixed = condition(&api, "typo", "Ready", "True", "Valid").await?;
    assert_eq!(fixed.observed_generation, Some(2));
    assert!(fixed.last_transition_time.0 >= ready.last_transition_time.0);
    condition(&api, "typo", "Active", "True", "ApprovalMode").await?;
    action_in(&client, ns, kaptain_heal::crd::Phase::Proposed, TIMEOUT).await?;

    // The schema refuses what the operator's watch could not read.
    let bad = apply_yaml(
        &client,
        &format!(
            "apiVersion: kaptain.dev/v1alpha1\nkind: HealingPolicy\nmetadata: {{name: bad, namespace: {ns}}}\nspec:\n  match: {{forDuration: banana}}\n  actions: [{{restartPod: {{}}}}]\n"
        ),
    )
    .await;
    let err = bad
        .err()
        .ok_or("a policy with forDuration: banana was accepted")?;
    assert!(err.to_string().contains("forDuration"), "{err}");
    op.stop().await?;
    Ok(())
}
