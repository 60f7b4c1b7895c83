//! The live clusters (the hub) against the real control plane (etcd, kube-apiserver, controller manager and
//! scheduler v1.20.2) with the simulated kubelet: live findings that appear and clear, the
//! node table, two clusters of which one is unreachable, recovery through a TCP forwarder
//! that refuses and cuts connections, and HealingActions once their CRD is installed.

#[path = "../support/live.rs"]
mod support;

mod findings;
mod healing;
mod rbac;
mod unreachable;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaptain_engine::live::{ClusterStatus, LiveClusters, LiveConfig};
use kaptain_model::Finding;
use kaptain_testenv::ControlPlane;

use support::{Error, eventually, fast_hub};

/// Analyses run 15 minutes ahead, so that grace periods (young pods are not yet flagged)
/// have passed, as the live CLI tests do with `--now`.
fn config() -> LiveConfig {
    LiveConfig {
        probe_interval: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        ..fast_hub()
    }
}

async fn wait_state(
    hub: &LiveClusters,
    cluster: &str,
    state: &str,
) -> Result<ClusterStatus, Error> {
    eventually(&format!("cluster {cluster} {state}"), || async {
        hub.cluster(cluster)
            .map(|v| v.info.status)
            .filter(|s| s.state() == state)
    })
    .await
}

/// A kubeconfig with the admin token, one context per `(name, server)`, in `dir`.
fn kubeconfig(dir: &Path, contexts: &[(&str, &str)]) -> std::io::Result<PathBuf> {
    let token = ControlPlane::shared().admin_token();
    let mut clusters = String::new();
    let mut ctxs = String::new();
    for (name, server) in contexts {
        clusters.push_str(&format!(
            "- name: {name}\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\n"
        ));
        ctxs.push_str(&format!(
            "- name: {name}\n  context: {{cluster: {name}, user: admin, namespace: default}}\n"
        ));
    }
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: admin\n  user: {{token: {token}}}\ncontexts:\n{ctxs}current-context: {}\n",
        contexts.first().map_or("none", |c| c.0)
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn findings_in<'a>(
    report: &'a kaptain_model::Report,
    namespace: &'a str,
    ids: &'a [&str],
) -> impl Iterator<Item = &'a Finding> + 'a {
    report.findings.iter().filter(move |f| {
        f.object.namespace.as_deref() == Some(namespace) && ids.contains(&f.id.as_str())
    })
}
