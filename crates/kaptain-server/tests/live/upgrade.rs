//! An upgrade to one finding per broken workload keeps the findings history: the store holds
//! what an earlier Kaptain recorded — one `pod.create-container-config-error` per pod of the
//! Deployment, seen an hour ago — and a server of this version, watching the same cluster,
//! reports one finding on the Deployment that goes on from the earliest of them (same id, same
//! first-seen time) instead of clearing every pod finding and opening a new one.

use k8s_openapi::api::core::v1::Pod;
use kaptain_model::{Category, Finding, ObjectRef, Severity, fingerprint};
use kaptain_server::serve::Server;
use kaptain_store::{FindingQuery, FindingState, Store};
use kaptain_testenv::apply_yaml;
use kube::Api;
use kube::api::ListParams;

use super::{CLUSTER, TestResult, cluster, eventually, hub_config, missing_configmap, options};

const NS: &str = "live-upgrade";
const CHECK: &str = "pod.create-container-config-error";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_findings_history_goes_on_across_the_upgrade_to_grouped_findings() -> TestResult {
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_configmap(NS)).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    // Both pods in the broken state the earlier version recorded, before the server starts.
    let names = eventually(
        "the Deployment's two pods in CreateContainerConfigError",
        || async {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let broken = |p: &Pod| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c.first())
                    .and_then(|c| c.state.as_ref())
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CreateContainerConfigError")
            };
            if !list.items.iter().all(broken) {
                return None;
            }
            let mut names: Vec<String> = list
                .items
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            names.sort();
            (names.len() == 2).then_some(names)
        },
    )
    .await?;

    // What the earlier version stored: the check's finding on each pod (key: the container).
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let before = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 3600)?;
    let old: Vec<Finding> = names
        .iter()
        .map(|n| {
            let object = ObjectRef::new("v1", "Pod", Some(NS), n);
            Finding {
                fingerprint: fingerprint(CHECK, &object, "api"),
                title: format!("Container api cannot start (pod {n})"),
                ..Finding::new(CHECK, Severity::Critical, Category::Config, object)
            }
        })
        .collect();
    let first_id = {
        let store = Store::open(&url).await?;
        let d = store.record_scan(CLUSTER, &old, before).await?;
        assert_eq!(d.appeared.len(), 2);
        d.appeared.iter().map(|f| f.id).min().ok_or("no id")?
    };

    let server = Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let store = server.state.store.clone();
    let query = |state| FindingQuery {
        cluster: Some(CLUSTER.into()),
        check: Some(CHECK.into()),
        namespace: Some(NS.into()),
        state,
        limit: 100,
        ..FindingQuery::default()
    };
    let grouped = eventually("the grouped finding in the store", || async {
        let page = store.findings(&query(FindingState::Open)).await.ok()?;
        let open: Vec<_> = page.items;
        (open.len() == 1 && open[0].finding.object.kind == "Deployment").then(|| open[0].clone())
    })
    .await?;
    assert_eq!(grouped.finding.object.name, "api");
    assert_eq!(
        grouped.id, first_id,
        "the earliest pod finding's occurrence goes on"
    );
    assert_eq!(
        grouped.first_seen, before,
        "first seen an hour ago, not now"
    );
    // The live analysis names each pod with the fingerprint the earlier version gave it.
    let mut carried: Vec<&str> = grouped
        .finding
        .instances
        .iter()
        .map(|i| i.fingerprint.as_str())
        .collect();
    carried.sort();
    let mut was: Vec<&str> = old.iter().map(|f| f.fingerprint.as_str()).collect();
    was.sort();
    assert_eq!(carried, was);
    // Nothing of this check was opened anew: every occurrence ever recorded is one of the two.
    let all = store.findings(&query(FindingState::All)).await?;
    assert_eq!(all.items.len(), 2, "{:#?}", all.items);
    Ok(())
}
