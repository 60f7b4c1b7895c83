//! HealingActions, watched once their CRD is installed.

use kaptain_engine::live::{ClusterSource, LiveClusters, LiveEvent};
use kaptain_heal::crd::{HealingAction, HealingActionStatus, Phase};
use kaptain_testenv::{ControlPlane, apply_yaml};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use super::{config, wait_state};
use crate::support::{DEADLINE, TestResult, eventually, install_crds, proposed_restart};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healing_actions_are_watched_once_their_crd_is_installed() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    let hub = LiveClusters::new(config());
    let mut events = hub.subscribe();
    let name = hub.add_cluster(ClusterSource::context(
        Some(cp.kubeconfig_path().to_owned()),
        "kaptain-test",
    ))?;
    wait_state(&hub, &name, "ready").await?;

    // Installed after the hub started (or already there from another test binary run).
    install_crds(&client).await?;
    eventually("the hub to watch HealingActions", || async {
        hub.cluster(&name).filter(|v| v.healing_served)
    })
    .await?;
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: hub-d}\n",
    )
    .await?;
    let api: Api<HealingAction> = Api::namespaced(client.clone(), "hub-d");
    eventually("the HealingAction to be created", || async {
        match api
            .create(
                &PostParams::default(),
                &proposed_restart("hub-d", "restart-api", "api-1", None),
            )
            .await
        {
            Ok(_) => Some(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Some(()),
            Err(_) => None, // the CRD may not be established yet
        }
    })
    .await?;
    let rows = eventually("the action in the hub", || async {
        hub.healing_actions(&name)
            .filter(|rows| rows.iter().any(|r| r.namespace == "hub-d"))
    })
    .await?;
    let row = rows
        .iter()
        .find(|r| r.namespace == "hub-d")
        .ok_or("no row")?;
    assert_eq!(row.name, "restart-api");
    assert_eq!(row.phase, "Proposed");
    assert_eq!(row.action, "RestartPod");
    assert_eq!(row.target, "Pod/hub-d/api-1");
    assert!(hub.cluster(&name).ok_or("no view")?.healing_pending >= 1);

    // A person rejects it through the hub's client, as the API will.
    let hub_client = hub.client(&name).ok_or("no client")?;
    let actions: Api<HealingAction> = Api::namespaced(hub_client, "hub-d");
    let status = HealingActionStatus {
        phase: Phase::Rejected,
        rejected_by: Some("alice".into()),
        ..Default::default()
    };
    actions
        .patch_status(
            "restart-api",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await?;
    eventually("the rejection in the hub", || async {
        hub.healing_action(&name, "hub-d", "restart-api")
            .filter(|a| {
                a.status
                    .as_ref()
                    .is_some_and(|s| s.phase == Phase::Rejected)
            })
    })
    .await?;
    // Subscribers heard of its creation and of the rejection.
    let mut phases = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !phases.contains(&Some("Rejected".to_string())) {
        let e = tokio::time::timeout_at(deadline, events.recv()).await??;
        if let LiveEvent::HealingActionChanged {
            namespace,
            name: action,
            phase,
            ..
        } = e
            && namespace == "hub-d"
            && action == "restart-api"
        {
            phases.push(phase);
        }
    }
    assert_eq!(
        phases.first(),
        Some(&Some("Proposed".to_string())),
        "{phases:?}"
    );
    Ok(())
}
