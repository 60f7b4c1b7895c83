//! What the identity may not read is skipped as forbidden.

use kaptain_engine::live::{ClusterSource, LiveClusters};
use kaptain_testenv::{ControlPlane, apply_yaml};

use super::{config, wait_state};
use crate::support::{TestResult, eventually, install_crds};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_identity_may_not_read_is_skipped_as_forbidden() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    // The built-in `view` role: namespaced objects but Secrets; no Nodes, PersistentVolumes,
    // StorageClasses or webhook configurations.
    apply_yaml(
        &client,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: hub-viewer-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}]
"#,
    )
    .await?;
    // Kaptain's CRDs installed: `view` does not cover HealingActions. A watch the identity
    // may not make would never sync (this kept the cluster from ever being ready).
    install_crds(&client).await?;
    eventually("HealingActions served", || async {
        client
            .list_api_group_resources("kaptain.dev/v1alpha1")
            .await
            .ok()
            .filter(|l| l.resources.iter().any(|r| r.name == "healingactions"))
    })
    .await?;
    let path = cp.kubeconfig_for(kaptain_testenv::VIEWER_TOKEN)?;
    let hub = LiveClusters::new(config());
    let name = hub.add_cluster(ClusterSource::context(Some(path), "kaptain-test-viewer"))?;
    wait_state(&hub, &name, "ready").await?;
    let view = eventually("a first report", || async {
        hub.report(&name)?;
        hub.cluster(&name)
    })
    .await?;
    let reason = |api: &str| {
        view.skipped
            .iter()
            .find(|s| s.api == api)
            .map(|s| s.reason.clone())
    };
    for api in [
        "v1 Secret",
        "v1 Node",
        "v1 PersistentVolume",
        "kaptain.dev/v1alpha1 HealingAction",
    ] {
        let r = reason(api).ok_or_else(|| format!("{api} not skipped: {:?}", view.skipped))?;
        assert!(r.starts_with("forbidden"), "{api}: {r}");
        assert!(!view.watched.iter().any(|w| w == api), "{api} watched");
    }
    assert_eq!(reason("batch/v1 CronJob").as_deref(), Some("not served"));
    assert!(
        view.watched.iter().any(|w| w == "v1 Pod"),
        "{:?}",
        view.watched
    );
    assert!(view.watch_errors.is_empty(), "{:?}", view.watch_errors);
    assert_eq!(view.nodes, 0);
    assert!(
        !view.healing_served,
        "HealingActions watched without permission"
    );
    // What it may read, it reads.
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: hub-e}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: seen, namespace: hub-e}\nspec: {ports: [{port: 80}]}\n",
    )
    .await?;
    eventually("the Service in the viewer's index", || async {
        hub.index(&name)
            .filter(|i| i.objects.services.get("hub-e", "seen").is_some())
    })
    .await?;
    Ok(())
}
