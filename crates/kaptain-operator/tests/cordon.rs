//! Cordoning a NotReady node, on the real control plane (v1.20) with the simulated kubelet.
//! Its own test binary (and so its own control plane): nodes are cluster-scoped and the
//! policy is a ClusterHealingPolicy, which every operator instance of a binary would answer.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node};
use kaptain_heal::crd::{ActionKind, Operation, Phase};
use kube::Api;
use kube::api::ListParams;

use common::*;
use kaptain_testenv::apply_yaml;

/// A node stops (NotReady) → a ClusterHealingPolicy answering node.not-ready for nodes
/// labelled `kaptain-test=cordon` cordons it (merge patch, reversible) → verified once the
/// node is unschedulable → Succeeded; the node's pods are left alone, and a NotReady node
/// without the label is not touched. The action lives in the operator's namespace.
///
/// node.not-ready ignores nodes younger than 5 minutes; the operator analyzes 15 minutes
/// ahead here (as `kaptain diagnose --now` does) instead of the test waiting.
#[tokio::test]
async fn a_not_ready_node_is_cordoned() -> TestResult {
    let client = setup().await?;
    let ns = "node-ops";
    namespace(&client, ns, "{}").await?;
    let sim = kaptain_testenv::ControlPlane::shared()
        .shared_kubelet()
        .await?;
    sim.add_node("cordon-me", "4", "16Gi", &[("kaptain-test", "cordon")])
        .await?;
    sim.add_node("leave-me", "4", "16Gi", &[]).await?;
    apply_yaml(
        &client,
        r#"
apiVersion: kaptain.dev/v1alpha1
kind: ClusterHealingPolicy
metadata: {name: dead-nodes}
spec:
  mode: auto
  minConfidence: 0.5
  match:
    checks: [node.not-ready]
    selector: {matchLabels: {kaptain-test: cordon}}
  actions: [{cordonNode: {}}]
  verification: {window: 30s}
"#,
    )
    .await?;
    let mut cfg = operator(&client, ns, "cordon-op");
    cfg.analyze_ahead = Duration::from_secs(15 * 60);
    let op = start(&client, cfg);
    eventually("the operator to lead", TIMEOUT, || async {
        Ok((*op.leader.borrow()).then_some(()))
    })
    .await?;
    sim.set_node_ready("cordon-me", false).await?;
    sim.set_node_ready("leave-me", false).await?;

    let done = action_in(&client, ns, Phase::Succeeded, TIMEOUT).await;
    sim.set_node_ready("cordon-me", true).await?;
    sim.set_node_ready("leave-me", true).await?;
    let done = done?;
    assert_eq!(done.spec.action, ActionKind::CordonNode);
    assert_eq!(done.spec.finding.id, "node.not-ready");
    assert_eq!(done.spec.change.target.name, "cordon-me");
    assert_eq!(done.spec.change.target.namespace, None);
    assert_eq!(done.spec.change.operation, Operation::Patch);
    assert!(
        done.spec.change.reverse_patch.is_some(),
        "a cordon is reversible"
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let unschedulable = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    assert!(unschedulable(&nodes.get("cordon-me").await?));
    assert!(!unschedulable(&nodes.get("leave-me").await?));
    // The decisions are Events on the Node too (cluster-scoped: recorded in `default`).
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let on_node: Vec<Event> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Node")
                && e.involved_object.name.as_deref() == Some("cordon-me")
        })
        .collect();
    assert!(
        !on_node.is_empty(),
        "no Event about Node cordon-me was recorded"
    );
    let all = actions(&client, ns).await?;
    assert_eq!(
        all.len(),
        1,
        "{:?}",
        all.iter().map(|a| &a.spec.target).collect::<Vec<_>>()
    );
    metrics_with(
        &op,
        "kaptain_heal_actions_total{action=\"CordonNode\",result=\"succeeded\",mode=\"auto\"} 1",
    )
    .await?;
    op.stop().await?;
    Ok(())
}
