//! HealingActions the operator did not create — proposed through the engine's
//! `propose_action` tool, as an MCP client does — are decided by the operator's safety guard
//! like its own proposals: under an `auto` policy the action is approved, executed and
//! verified; under an `approval` policy it waits for a person. Real control plane (v1.20)
//! with the simulated kubelet.

mod common;

use std::sync::Arc;
use std::time::Duration;

use kaptain_engine::tools::{
    Caller, ClusterFacts, HealPlan, PROPOSED_BY_ANNOTATION, Role, ToolError, ToolHost, ToolRegistry,
};
use kaptain_heal::crd::{HealingAction, Phase};
use kaptain_index::ClusterIndex;
use kaptain_model::{Report, ReportSource, SourceKind};
use kaptain_sources::live::{Cluster, LiveOptions};
use serde_json::json;

use common::*;
use kaptain_testenv::apply_yaml;

/// The engine's view of the test cluster, from one LIST (what the server's hub would hold).
struct ListedHost {
    client: kube::Client,
    index: Arc<ClusterIndex>,
    report: Arc<Report>,
}

impl ListedHost {
    async fn load(client: &kube::Client, ns: &str) -> Result<ListedHost, BoxError> {
        let cluster = Cluster {
            client: client.clone(),
            context: None,
            default_namespace: ns.into(),
        };
        let opts = LiveOptions {
            namespace: Some(ns.into()),
            page_size: 500,
            ..LiveOptions::default()
        };
        let (idx, _) = cluster
            .load(&kaptain_operator::watched_kinds(false), &opts, &|_| {})
            .await?;
        let checks: Vec<_> = kaptain_analyze::catalog().iter().collect();
        let now = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(15);
        let findings = kaptain_analyze::analyze(&idx, &checks, now);
        Ok(ListedHost {
            client: client.clone(),
            index: Arc::new(idx),
            report: Arc::new(Report::new(
                ReportSource {
                    kind: SourceKind::Live,
                    context: Some("test".into()),
                    server_version: None,
                },
                Vec::new(),
                findings,
            )),
        })
    }
}

#[async_trait::async_trait]
impl ToolHost for ListedHost {
    fn clusters(&self) -> Vec<ClusterFacts> {
        vec![ClusterFacts {
            name: "test".into(),
            status: "ready".into(),
            server_version: None,
            data_as_of: None,
            objects: 0,
            nodes: 0,
            namespaces: 0,
            pods: 0,
            skipped: Vec::new(),
            healing_installed: true,
        }]
    }
    fn index(&self, _c: &str) -> Option<Arc<ClusterIndex>> {
        Some(self.index.clone())
    }
    fn report(&self, _c: &str) -> Option<Arc<Report>> {
        Some(self.report.clone())
    }
    fn healing_actions(&self, _c: &str) -> Option<Vec<Arc<HealingAction>>> {
        Some(Vec::new())
    }
    fn client(&self, _c: &str) -> Option<kube::Client> {
        Some(self.client.clone())
    }
    async fn heal_plan(&self, _c: &str, _ns: Option<&str>) -> Result<HealPlan, ToolError> {
        Ok(HealPlan::default())
    }
}

/// An OOM-killed Deployment in `ns` under a raise policy in `mode`; proposes raising its
/// memory through `propose_action` once the OOM kill is seen; returns the action's name.
async fn propose_raise(client: &kube::Client, ns: &str, mode: &str) -> Result<String, BoxError> {
    namespace(client, ns, "{}").await?;
    apply_yaml(client, &oom_deployment(ns, "hungry", "200Mi", "128Mi")).await?;
    apply_yaml(client, &raise_policy(ns, mode, 2.0, "1Gi", "60s")).await?;
    eventually("a pod OOM-killed", TIMEOUT, || async {
        Ok(pods(client, ns).await?.iter().any(oom_killed).then_some(()))
    })
    .await?;
    let host = ListedHost::load(client, ns).await?;
    let caller = Caller::unrestricted("mcp:test-operator", Role::Operator);
    let out = ToolRegistry::standard()
        .call(
            &host,
            &caller,
            "propose_action",
            json!({"action": "raise-resources", "kind": "Deployment", "namespace": ns,
                "name": "hungry", "reason": "OOM", "wait_seconds": 0}),
        )
        .await?;
    assert_eq!(out["outcome"], "created", "{out:#}");
    let name = out["healing_action"]["name"]
        .as_str()
        .ok_or("no name")?
        .to_string();
    let a = actions(client, ns).await?;
    assert_eq!(a.len(), 1);
    assert!(a[0].status.is_none(), "nobody decided it yet");
    assert_eq!(
        a[0].metadata.annotations.clone().unwrap_or_default()[PROPOSED_BY_ANNOTATION],
        "mcp:test-operator"
    );
    Ok(name)
}

#[tokio::test]
async fn a_proposal_under_an_auto_policy_is_approved_and_executed() -> TestResult {
    let client = setup().await?;
    let ns = "adopt-auto";
    let name = propose_raise(&client, ns, "auto").await?;
    let before = memory_limit(&client, ns, "hungry").await?;
    let op = start(&client, operator(&client, ns, "adopt-auto-op"));
    let done = action_in(&client, ns, Phase::Succeeded, Duration::from_secs(180)).await?;
    assert_eq!(done.metadata.name.as_deref(), Some(name.as_str()));
    let st = done.status.clone().unwrap_or_default();
    assert_eq!(st.decision.map(|d| d.decision).as_deref(), Some("allow"));
    assert!(st.times.executing.is_some());
    let after = memory_limit(&client, ns, "hungry").await?;
    assert_ne!(before, after, "the memory limit was raised");
    // The operator made no second action for the same finding.
    assert_eq!(actions(&client, ns).await?.len(), 1);
    drop(op);
    Ok(())
}

#[tokio::test]
async fn a_proposal_under_an_approval_policy_waits_for_a_person() -> TestResult {
    let client = setup().await?;
    let ns = "adopt-approval";
    let name = propose_raise(&client, ns, "approval").await?;
    let before = memory_limit(&client, ns, "hungry").await?;
    let op = start(&client, operator(&client, ns, "adopt-approval-op"));
    let decided = eventually("the guard's verdict on the proposal", TIMEOUT, || async {
        let all = actions(&client, ns).await?;
        Ok(all.into_iter().find(|a: &HealingAction| {
            a.status
                .as_ref()
                .and_then(|s| s.decision.as_ref())
                .is_some()
        }))
    })
    .await?;
    assert_eq!(decided.metadata.name.as_deref(), Some(name.as_str()));
    let st = decided.status.clone().unwrap_or_default();
    assert_eq!(st.phase, Phase::Proposed);
    let v = st.decision.unwrap_or_else(|| unreachable!());
    assert_eq!(v.decision, "needs-approval");
    assert_eq!(v.rule.as_deref(), Some("approval-mode"));
    // Nothing changed while it waits.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(memory_limit(&client, ns, "hungry").await?, before);
    assert_eq!(phase(&actions(&client, ns).await?[0]), Phase::Proposed);
    drop(op);
    Ok(())
}

/// Under a dry-run policy the adopted action is tried on the server only, like the
/// operator's own proposals (a re-evaluation alone would record no dry-run result).
#[tokio::test]
async fn a_proposal_under_a_dry_run_policy_is_only_tried_on_the_server() -> TestResult {
    let client = setup().await?;
    let ns = "adopt-dry-run";
    let name = propose_raise(&client, ns, "dry-run").await?;
    let before = memory_limit(&client, ns, "hungry").await?;
    let op = start(&client, operator(&client, ns, "adopt-dry-op"));
    let decided = eventually("the dry-run of the proposal", TIMEOUT, || async {
        let all = actions(&client, ns).await?;
        Ok(all.into_iter().find(|a: &HealingAction| {
            a.status
                .as_ref()
                .and_then(|s| s.dry_run_result.as_ref())
                .is_some()
        }))
    })
    .await?;
    assert_eq!(decided.metadata.name.as_deref(), Some(name.as_str()));
    let st = decided.status.clone().unwrap_or_default();
    assert_eq!(
        st.decision.map(|d| d.decision).as_deref(),
        Some("allow-dry-run")
    );
    assert_eq!(st.dry_run_result.map(|d| d.succeeded), Some(true));
    assert_eq!(memory_limit(&client, ns, "hungry").await?, before);
    drop(op);
    Ok(())
}
