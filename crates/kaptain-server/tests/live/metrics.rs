//! The gauges people alert on, on `/metrics` with the real cluster: the cluster is reachable,
//! when it was last analyzed, and its open findings by severity and check (here the missing
//! ConfigMap of a broken app).

use axum::http::Method;
use kaptain_server::serve::Server;

use crate::support::missing_config_app;
use kaptain_testenv::apply_yaml;

use super::{CLUSTER, TestResult, call, cluster, eventually, hub_config, options};

const NS: &str = "live-metrics";

/// The value of the sample `name{labels}` whose labels include every pair of `want`.
fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (labels, value) = rest.split_once("} ")?;
        want.iter()
            .all(|(k, v)| labels.split(',').any(|l| l == format!("{k}=\"{v}\"")))
            .then(|| value.trim().parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_reachability_last_analysis_and_open_findings() -> TestResult {
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_config_app(NS, "shop", 1)).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let server = Server::build(&options(cp, dir.path(), url), hub_config()).await?;

    let text = eventually(
        "the missing ConfigMap among the open findings on /metrics",
        || async {
            let r = call(&server, Method::GET, "/metrics", None, None)
                .await
                .ok()?;
            let text = r.body.as_str()?.to_owned();
            let n = sample(
                &text,
                "kaptain_server_open_findings",
                &[("cluster", CLUSTER), ("check", "config.missing-configmap")],
            )?;
            (n >= 1.0).then_some(text)
        },
    )
    .await?;
    assert_eq!(
        sample(
            &text,
            "kaptain_server_cluster_reachable",
            &[("cluster", CLUSTER)]
        ),
        Some(1.0),
        "{text}"
    );
    let analyzed = sample(
        &text,
        "kaptain_server_cluster_last_analysis_timestamp_seconds",
        &[("cluster", CLUSTER)],
    )
    .ok_or("no last-analysis gauge")?;
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!(
        analyzed > now - 3600.0 && analyzed <= now + 1.0,
        "{analyzed} vs {now}"
    );
    Ok(())
}
