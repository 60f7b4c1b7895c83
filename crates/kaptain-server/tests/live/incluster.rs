//! `--in-cluster` where there is no service account (this test does not run in a pod): the
//! cluster shows as unreachable with its reason and keeps retrying, and the other cluster is
//! served. `kaptain serve --in-cluster` in a (fake) pod with a real ServiceAccount token is
//! tested in crates/kaptain/tests/incluster.rs.

use std::path::Path;

use axum::http::{Method, StatusCode};
use kaptain_engine::live::ClusterSource;
use kaptain_server::serve::Server;
use kaptain_store::Role;

use super::{CLUSTER, TestResult, call, cluster, eventually, expect, hub_config, options, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_source_outside_a_pod_is_unreachable_and_the_others_are_served() -> TestResult {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        || Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()
    {
        return Err(
            "this test expects to run outside a pod (no in-cluster service account)".into(),
        );
    }
    let (cp, _client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let mut opts = options(cp, dir.path(), url);
    opts.clusters.push(ClusterSource::InCluster);
    let server = Server::build(&opts, hub_config()).await?;
    let viewer = token(&server, "incluster-viewer", Role::Viewer, vec![]).await?;

    let clusters = eventually("the in-cluster source to fail twice", || async {
        let r = call(
            &server,
            Method::GET,
            "/api/v1/clusters",
            Some(&viewer),
            None,
        )
        .await
        .ok()?;
        let items = r.body.as_array()?.clone();
        let state = |name: &str| {
            items
                .iter()
                .find(|c| c["name"] == name)
                .map(|c| c["status"].clone())
        };
        let incluster = state("in-cluster")?;
        let ready = state(CLUSTER)?["state"] == "ready";
        // Ready comes before the first analysis: its report is read below.
        let analyzed = server.state.hub.report(CLUSTER).is_some();
        (ready && analyzed && incluster["attempts"].as_u64().unwrap_or(0) >= 2).then_some(items)
    })
    .await?;
    let incluster = clusters
        .iter()
        .find(|c| c["name"] == "in-cluster")
        .ok_or("no in-cluster entry")?;
    assert_eq!(incluster["status"]["state"], "unreachable", "{incluster}");
    assert_eq!(incluster["source"], "in-cluster service account");
    let error = incluster["status"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("KUBERNETES_SERVICE_HOST") && !error.contains('\n'),
        "the error should say what is missing, on one line: {error}"
    );

    // Its pages answer; the other cluster's findings are served.
    let r = call(
        &server,
        Method::GET,
        "/api/v1/clusters/in-cluster",
        Some(&viewer),
        None,
    )
    .await?;
    expect(&r, StatusCode::OK, "the in-cluster cluster's page");
    let r = call(
        &server,
        Method::GET,
        &format!("/api/v1/clusters/{CLUSTER}/report"),
        Some(&viewer),
        None,
    )
    .await?;
    expect(&r, StatusCode::OK, "the other cluster's report");
    Ok(())
}
