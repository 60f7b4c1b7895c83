//! Connecting to one cluster: a client from its source, discovery (what is served and
//! readable), and the liveness probe. Every error is one classified line (see
//! [`kaptain_sources::Error`]).

use std::time::Duration;

use kaptain_heal::crd::{GROUP, HealingAction, VERSION};
use kaptain_index::Kind;
use kaptain_model::Skipped;
use kaptain_sources::Error;
use kaptain_sources::live::{Cluster, ClusterSource, Timeouts};
use kaptain_sources::watch::readable;
use kube::api::ListParams;
use kube::{Api, Client};

/// A client for `source`, named `name`. The kubeconfig is read each time, so refreshed
/// credentials are picked up at the next attempt. No read timeout: watches are guarded by the
/// watcher's idle timeout, one-off requests by the hub's own timeouts.
pub(crate) async fn client(name: &str, source: &ClusterSource) -> Result<Cluster, Error> {
    let mut cluster = kaptain_sources::live::connect(source, Timeouts::WATCHES).await?;
    cluster.context = Some(name.to_string());
    Ok(cluster)
}

/// What discovery found.
pub(crate) struct Discovery {
    pub server_version: String,
    /// Kinds to watch: needed, served and readable.
    pub kinds: Vec<Kind>,
    /// Needed kinds not watched, and why.
    pub skipped: Vec<Skipped>,
    pub healing: HealingApi,
}

/// The server's version, which of `needed` it serves and lets us list (in `namespaces`),
/// and whether Kaptain's HealingAction API is served.
pub(crate) async fn discover(
    cluster: &Cluster,
    needed: &[Kind],
    namespaces: &[String],
) -> Result<Discovery, Error> {
    let server_version = cluster.server_version().await?;
    let (served, mut skipped) = cluster.served(needed).await?;
    let (kinds, forbidden) = readable(&cluster.client, &served, namespaces).await;
    skipped.extend(forbidden);
    skipped.sort_by(|a, b| a.api.cmp(&b.api));
    let healing = healing_api(&cluster.client, namespaces).await;
    Ok(Discovery {
        server_version,
        kinds,
        skipped,
        healing,
    })
}

/// Whether Kaptain's HealingAction API can be watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealingApi {
    /// `kaptain.dev/v1alpha1` does not serve `healingactions` (the CRDs are not installed).
    NotServed,
    /// Served, but this identity may not list them: the reason, one line.
    Forbidden(String),
    Readable,
}

/// The API label of HealingActions in skipped lists.
pub(crate) const HEALING_API: &str = "kaptain.dev/v1alpha1 HealingAction";

/// Whether `kaptain.dev/v1alpha1` serves `healingactions` and this identity may list them
/// (in `namespaces`, or cluster-wide): a watch it may not make would never sync and would
/// keep the cluster from being ready.
pub(crate) async fn healing_api(client: &Client, namespaces: &[String]) -> HealingApi {
    let served = client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
        .is_ok_and(|l| l.resources.iter().any(|r| r.name == "healingactions"));
    if !served {
        return HealingApi::NotServed;
    }
    let apis: Vec<Api<HealingAction>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    for api in apis {
        if let Err(kube::Error::Api(s)) = api.list_metadata(&ListParams::default().limit(1)).await
            && (s.code == 403 || s.code == 401)
        {
            return HealingApi::Forbidden(format!("forbidden: {}", s.message));
        }
    }
    HealingApi::Readable
}

/// `GET /version` within `timeout`: is the cluster there?
pub(crate) async fn probe(cluster: &Cluster, timeout: Duration) -> Result<(), Error> {
    match tokio::time::timeout(timeout, cluster.server_version()).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(no_answer(cluster, timeout)),
    }
}

/// The error of a request that did not finish in time.
pub(crate) fn no_answer(cluster: &Cluster, timeout: Duration) -> Error {
    Error::Unreachable {
        context: cluster.context.clone(),
        message: format!("no answer within {}s", timeout.as_secs()),
    }
}
