//! Two server replicas on one PostgreSQL database, watching the same cluster: they start
//! (and migrate) at the same time, share tokens, secret settings and one audit chain, and
//! record the cluster's findings history once — one open occurrence per finding, one
//! occurrence per time a finding appeared, each closed once. Only the replica holding the
//! cluster's claim records; when it stops, the other takes over.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kaptain_engine::live::LiveConfig;
use kaptain_server::history::claim_name;
use kaptain_server::serve::Server;
use kaptain_store::{FindingQuery, FindingState, Role, StoredFinding};
use kaptain_testenv::{Postgres, apply_yaml};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use super::{
    CLUSTER, Error, TestResult, call, call_router, cluster, eventually, expect, finished,
    missing_configmap, options, start_run, token,
};

const NS: &str = "live-replicas";
const ROOT: &str = "config.missing-configmap";

/// Hubs that re-analyse and re-record every second: the claim holder keeps writing the
/// cluster's scans into the store all along, and with a claim of a few seconds (the default
/// for these intervals) a busy machine may hand it from one replica to the other meanwhile.
fn busy_hub() -> LiveConfig {
    LiveConfig {
        debounce: Duration::from_millis(300),
        max_delay: Duration::from_secs(2),
        resync: Duration::from_secs(1),
        sink_interval: Duration::from_secs(1),
        ..LiveConfig::default()
    }
    .with_clock_offset(jiff::SignedDuration::from_mins(15))
}

/// Every occurrence (open and cleared) of the namespace's findings, by fingerprint.
async fn history(server: &Server) -> Result<BTreeMap<String, Vec<StoredFinding>>, Error> {
    let page = server
        .state
        .store
        .findings(&FindingQuery {
            cluster: Some(CLUSTER.into()),
            namespace: Some(NS.into()),
            state: FindingState::All,
            limit: 1000,
            ..FindingQuery::default()
        })
        .await?;
    assert!(page.next_cursor.is_none(), "more than 1000 occurrences");
    let mut by_fp: BTreeMap<String, Vec<StoredFinding>> = BTreeMap::new();
    for f in page.items {
        by_fp
            .entry(f.finding.fingerprint.clone())
            .or_default()
            .push(f);
    }
    for occurrences in by_fp.values_mut() {
        occurrences.sort_by_key(|f| f.id);
    }
    Ok(by_fp)
}

/// Whether the hub's latest report has the missing ConfigMap of the namespace.
fn reports_root(server: &Server) -> Option<bool> {
    let r = server.state.hub.report(CLUSTER)?;
    Some(
        r.findings
            .iter()
            .any(|f| f.id == ROOT && f.object.namespace.as_deref() == Some(NS)),
    )
}

/// The fingerprints of the namespace's findings in the hub's latest report.
fn reported(server: &Server) -> Vec<String> {
    let mut v: Vec<String> = server
        .state
        .hub
        .report(CLUSTER)
        .map(|r| {
            r.findings
                .iter()
                .filter(|f| f.object.namespace.as_deref() == Some(NS))
                .map(|f| f.fingerprint.clone())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether the hub's latest report shows the scenario's pods settled in their broken state:
/// both in CreateContainerConfigError (none still ContainerCreating, none yet to come), the
/// Deployment unavailable and the Service without endpoints. Until then the namespace's
/// findings still change by themselves, and the first round checks that they do not.
fn pods_settled(server: &Server) -> Option<bool> {
    let r = server.state.hub.report(CLUSTER)?;
    let count = |id: &str| {
        r.findings
            .iter()
            .filter(|f| f.id == id && f.object.namespace.as_deref() == Some(NS))
            .count()
    };
    // Both pods' config errors are one finding on the Deployment.
    let pods_in_config_error = r
        .findings
        .iter()
        .filter(|f| f.id == "pod.create-container-config-error")
        .filter(|f| f.object.namespace.as_deref() == Some(NS))
        .map(|f| f.instances.len())
        .sum::<usize>();
    Some(
        count("pod.create-container-config-error") == 1
            && pods_in_config_error == 2
            && count("pod.container-creating") == 0
            && count("deployment.unavailable") == 1
            && count("service.no-ready-endpoints") == 1,
    )
}

/// The cluster's latest recorded scan time, observed over the test: it never goes back.
struct Scans {
    seen: Vec<Timestamp>,
}

impl Scans {
    async fn observe(&mut self, server: &Server) -> Result<Timestamp, Error> {
        let scans = server.state.store.cluster_scans().await?;
        let at = scans
            .iter()
            .find(|s| s.cluster == CLUSTER)
            .map(|s| s.last_scan_at)
            .ok_or("no scan of the cluster recorded")?;
        if let Some(last) = self.seen.last() {
            assert!(
                at >= *last,
                "the latest scan went back in time: {last} then {at}"
            );
        }
        if self.seen.last() != Some(&at) {
            self.seen.push(at);
        }
        Ok(at)
    }

    /// Waits until `n` more scans have been recorded (by either replica).
    async fn wait_for(&mut self, server: &Server, n: usize) -> TestResult {
        let start = self.seen.len();
        let deadline = std::time::Instant::now() + super::DEADLINE;
        while self.seen.len() < start + n {
            if std::time::Instant::now() > deadline {
                return Err(
                    format!("{n} more recorded scans: not within {:?}", super::DEADLINE).into(),
                );
            }
            self.observe(server).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// Open and cleared occurrences are consistent in time, and a fingerprint has at most one
/// open occurrence.
fn check_occurrences(history: &BTreeMap<String, Vec<StoredFinding>>) {
    for (fp, occurrences) in history {
        let open = occurrences.iter().filter(|f| f.is_open()).count();
        assert!(open <= 1, "{fp} is open {open} times: {occurrences:#?}");
        for f in occurrences {
            assert!(f.first_seen <= f.last_seen, "{f:#?}");
            if let Some(cleared) = f.cleared_at {
                assert!(f.last_seen <= cleared, "{f:#?}");
            }
        }
        for pair in occurrences.windows(2) {
            let cleared = pair[0].cleared_at.unwrap_or(Timestamp::MAX);
            assert!(
                cleared <= pair[1].first_seen,
                "{fp}: overlapping occurrences: {pair:#?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_postgres_database() -> TestResult {
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_configmap(NS)).await?;
    let url = tokio::task::spawn_blocking(|| Postgres::shared().fresh_database()).await??;
    // Replicas share the key of secret settings (a mounted Secret in a real deployment);
    // here one key file that does not exist yet: both start at once, one creates it.
    let dir = tempfile::tempdir()?;

    // Both start at once on the fresh database: both migrate, neither fails.
    let (opts_a, opts_b) = (
        options(cp, dir.path(), url.clone()),
        options(cp, dir.path(), url.clone()),
    );
    let (a, b) = tokio::join!(
        Server::build(&opts_a, busy_hub()),
        Server::build(&opts_b, busy_hub()),
    );
    let (a, b) = (a?, b?);
    assert_eq!(a.state.store.backend(), "postgres");

    // A token created through replica A works on B; revoked on B, it fails on A.
    let admin = token(&a, "replica-admin", Role::Admin, vec![]).await?;
    let created = call(
        &a,
        Method::POST,
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"name": "shared-operator", "role": "operator"})),
    )
    .await?;
    expect(&created, StatusCode::CREATED, "creating a token on A");
    let secret = created.body["secret"].as_str().ok_or("no secret")?;
    let id = created.body["token"]["id"].as_i64().ok_or("no token id")?;
    let me = call(&b, Method::GET, "/api/v1/whoami", Some(secret), None).await?;
    expect(&me, StatusCode::OK, "A's token on B");
    assert_eq!(me.body["actor"], "token:shared-operator");
    assert_eq!(me.body["role"], "operator");
    let revoked = call(
        &b,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await?;
    expect(&revoked, StatusCode::OK, "revoking on B");
    for (name, server) in [("A", &a), ("B", &b)] {
        let me = call(server, Method::GET, "/api/v1/whoami", Some(secret), None).await?;
        expect(
            &me,
            StatusCode::UNAUTHORIZED,
            &format!("the revoked token on {name}"),
        );
    }

    // A secret setting written through A is readable (decrypted) by B.
    let put = call(
        &a,
        Method::PUT,
        "/api/v1/settings/llm.api_key",
        Some(&admin),
        Some(json!({"value": "sk-replicated"})),
    )
    .await?;
    expect(&put, StatusCode::NO_CONTENT, "a secret setting on A");
    assert_eq!(
        b.state.store.setting("llm.api_key").await?.as_deref(),
        Some("sk-replicated")
    );

    // Audited requests to both replicas at the same time leave one intact chain.
    let before = a.state.store.verify_audit().await?;
    assert!(before.ok, "{before:?}");
    const REQUESTS: usize = 40;
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let router = if i % 2 == 0 {
            a.router.clone()
        } else {
            b.router.clone()
        };
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            call_router(
                router,
                Method::PUT,
                &format!("/api/v1/settings/replica.{i}"),
                Some(&admin),
                Some(json!({"value": format!("v{i}"), "secret": false})),
            )
            .await
        }));
    }
    for t in tasks {
        let r = t.await??;
        expect(&r, StatusCode::NO_CONTENT, "a concurrent setting");
    }
    for (name, server) in [("A", &a), ("B", &b)] {
        let v = call(
            server,
            Method::GET,
            "/api/v1/audit/verify",
            Some(&admin),
            None,
        )
        .await?;
        expect(&v, StatusCode::OK, &format!("verify on {name}"));
        assert_eq!(v.body["ok"], true, "{name}: {:?}", v.body);
        assert_eq!(
            v.body["records"].as_u64(),
            Some(before.records + REQUESTS as u64),
            "{name}: {:?}",
            v.body
        );
    }
    let records = super::audit_records(&a, "PUT /api/v1/settings/{name}").await?;
    let mut targets: Vec<&str> = records
        .iter()
        .filter(|r| r.actor == "token:replica-admin" && r.outcome == "ok")
        .map(|r| r.target.as_str())
        .collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), REQUESTS + 1, "{targets:?}");

    // The findings history: both hubs report the same cluster, one at a time records it into
    // the same store.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut scans = Scans { seen: Vec::new() };
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    for round in 0..3usize {
        // The scenario starts broken; each round ends by breaking it again.
        let breaks = round + 1;
        // Broken: both replicas report the missing ConfigMap; the store has one open
        // occurrence of each of the namespace's findings, the ones the replicas report.
        // (What the replicas report may still change while the pods settle — a first view of
        // agreement can be a passing one — so the store is compared with both replicas' latest
        // reports at the same moment.)
        eventually(
            &format!("round {round}: both replicas report the root"),
            || async { (reports_root(&a)? && reports_root(&b)?).then_some(()) },
        )
        .await?;
        scans.wait_for(&a, 4).await?;
        let h = eventually(
            &format!("round {round}: the store has open what both replicas report"),
            || async {
                let h = history(&a).await.ok()?;
                let mut open: Vec<String> = h
                    .iter()
                    .filter(|(_, o)| o.iter().any(StoredFinding::is_open))
                    .map(|(fp, _)| fp.clone())
                    .collect();
                open.sort();
                let steady = reported(&a);
                (reports_root(&a)?
                    && (round > 0 || pods_settled(&a)?)
                    && open == steady
                    && reported(&b) == steady)
                    .then_some(h)
            },
        )
        .await?;
        check_occurrences(&h);
        let (root_fp, root) = h
            .iter()
            .find(|(_, o)| o.iter().any(|f| f.finding.id == ROOT))
            .ok_or("no history of the missing ConfigMap")?;
        assert_eq!(
            root.len(),
            breaks,
            "round {round}: the ConfigMap went missing {breaks} times: {root:#?}"
        );
        let open_ids: Vec<i64> = h
            .values()
            .flat_map(|o| o.iter().filter(|f| f.is_open()).map(|f| f.id))
            .collect();
        // While nothing changes, the scans go on being recorded: the same occurrences stay
        // open, none is added.
        scans.wait_for(&a, 6).await?;
        let later = history(&b).await?;
        check_occurrences(&later);
        let later_open: Vec<i64> = later
            .values()
            .flat_map(|o| o.iter().filter(|f| f.is_open()).map(|f| f.id))
            .collect();
        assert_eq!(later_open, open_ids, "round {round}: {later:#?}");
        assert_eq!(
            later.values().map(Vec::len).sum::<usize>(),
            h.values().map(Vec::len).sum::<usize>(),
            "round {round}: {later:#?}"
        );

        // Fixed: the ConfigMap exists; the root cause is closed, once.
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("api-config".into());
        cm.data = Some([("MODE".to_owned(), "live".to_owned())].into());
        configmaps.create(&PostParams::default(), &cm).await?;
        eventually(
            &format!("round {round}: both replicas see it fixed"),
            || async { (!reports_root(&a)? && !reports_root(&b)?).then_some(()) },
        )
        .await?;
        let root_fp = root_fp.clone();
        eventually(
            &format!("round {round}: the store has it closed"),
            || async {
                let h = history(&a).await.ok()?;
                h.get(&root_fp)?.iter().all(|f| !f.is_open()).then_some(())
            },
        )
        .await?;
        scans.wait_for(&a, 6).await?;
        let h = history(&b).await?;
        check_occurrences(&h);
        let root = h.get(&root_fp).ok_or("the root cause's history is gone")?;
        assert_eq!(
            root.len(),
            breaks,
            "round {round}: closed more than once, or reopened: {root:#?}"
        );
        assert!(root.iter().all(|f| !f.is_open()), "{root:#?}");

        // Broken again for the next round.
        configmaps
            .delete("api-config", &DeleteParams::default())
            .await?;
    }
    Ok(())
}

/// Busy hubs whose recorder claim outlives several missed renewals (a loaded machine does not
/// hand the claim over by itself), yet expires soon after its holder stops.
fn leased_hub() -> LiveConfig {
    LiveConfig {
        sink_claim: Some(Duration::from_secs(10)),
        ..busy_hub()
    }
}

/// `kaptain_server_findings_recorder{cluster=...}` on the server's `/metrics`.
async fn recorder_gauge(server: &Server) -> Option<i64> {
    let reply = call(server, Method::GET, "/metrics", None, None)
        .await
        .ok()?;
    let prefix = format!("kaptain_server_findings_recorder{{cluster=\"{CLUSTER}\"}} ");
    reply
        .body
        .as_str()?
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))?
        .trim()
        .parse()
        .ok()
}

/// Whether the store has the missing ConfigMap of namespace `ns` open.
async fn root_open(server: &Server, ns: &str) -> Option<bool> {
    let page = server
        .state
        .store
        .findings(&FindingQuery {
            cluster: Some(CLUSTER.into()),
            namespace: Some(ns.into()),
            check: Some(ROOT.into()),
            state: FindingState::All,
            limit: 1000,
            ..FindingQuery::default()
        })
        .await
        .ok()?;
    Some(page.items.iter().any(StoredFinding::is_open))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_records_until_it_stops_then_the_other_takes_over() -> TestResult {
    const FIRST: &str = "live-recorder";
    const LATER: &str = "live-recorder-later";
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_configmap(FIRST)).await?;
    let url = tokio::task::spawn_blocking(|| Postgres::shared().fresh_database()).await??;
    let dir = tempfile::tempdir()?;
    // A third replica (only its claim) records the cluster when A and B start.
    let claim = claim_name(CLUSTER);
    let third = kaptain_store::Store::open(&url).await?;
    let hour = Duration::from_secs(3600);
    assert!(
        third
            .hold_claim(&claim, "third", Timestamp::now(), hour)
            .await?
    );
    let (opts_a, opts_b) = (
        options(cp, dir.path(), url.clone()),
        options(cp, dir.path(), url.clone()),
    );
    let (a, b) = tokio::join!(
        Server::build(&opts_a, leased_hub()),
        Server::build(&opts_b, leased_hub()),
    );
    let (a, b) = (a?, b?);
    assert_ne!(a.state.history.holder(), b.state.history.holder());

    // Without the claim, neither writes: both report the missing ConfigMap and have tried to
    // record twice (sink calls of a cluster follow each other, so the first has finished),
    // and the store has no scan of the cluster.
    let skipped_twice = |s: &Server| {
        s.state
            .history
            .tally(CLUSTER)
            .is_some_and(|t| !t.holds && t.skipped >= 2)
    };
    eventually("both replicas report, and skip recording twice", || async {
        let reported = |s: &Server| {
            s.state.hub.report(CLUSTER).is_some_and(|r| {
                r.findings
                    .iter()
                    .any(|f| f.id == ROOT && f.object.namespace.as_deref() == Some(FIRST))
            })
        };
        (reported(&a) && reported(&b) && skipped_twice(&a) && skipped_twice(&b)).then_some(())
    })
    .await?;
    // A diagnose run on a replica without the claim answers with what it found, and
    // records nothing either.
    let operator = token(&a, "claim-operator", Role::Operator, vec![]).await?;
    let started = start_run(&a, &operator, "a run on a replica without the claim").await?;
    let id = started.body["run"]["id"].as_i64().ok_or("no run id")?;
    let run = finished(&a, id, &operator).await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["summary"]["recorded"], false, "{run}");
    assert!(
        run["summary"]["root_cause_count"].as_u64() >= Some(1),
        "{run}"
    );
    let scans = a.state.store.cluster_scans().await?;
    assert!(
        scans.iter().all(|s| s.cluster != CLUSTER),
        "a replica without the claim recorded: {scans:?}"
    );
    for s in [&a, &b] {
        assert_eq!(s.state.history.tally(CLUSTER).map(|t| t.recorded), Some(0));
    }
    assert_eq!(root_open(&a, FIRST).await, Some(false));

    // The third stops cleanly: one of A and B records now. The store's claim names it, it
    // says (and exports) that it records, and the other, having tried, says it does not.
    assert!(third.release_claim(&claim, "third").await?);
    let a_holds = eventually(
        "one replica records, the other knows it does not",
        || async {
            let holder = a.state.store.claim(&claim).await.ok()??.holder;
            let a_holds = holder == a.state.history.holder();
            if !a_holds && holder != b.state.history.holder() {
                return None;
            }
            let (h, o) = if a_holds { (&a, &b) } else { (&b, &a) };
            let settled = h.state.history.records(CLUSTER) == Some(true)
                && o.state.history.records(CLUSTER) == Some(false)
                && recorder_gauge(h).await == Some(1)
                && recorder_gauge(o).await == Some(0);
            settled.then_some(a_holds)
        },
    )
    .await?;
    let (holder, other) = if a_holds { (a, b) } else { (b, a) };
    eventually("the holder recorded the missing ConfigMap", || async {
        root_open(&holder, FIRST).await?.then_some(())
    })
    .await?;

    // The holder stops watching (as if it crashed: it keeps its claim until it expires).
    assert!(holder.state.hub.remove_cluster(CLUSTER));
    eventually("the other replica takes the claim over", || async {
        let claim = other.state.store.claim(&claim).await.ok()??;
        (claim.holder == other.state.history.holder()
            && other.state.history.records(CLUSTER) == Some(true))
        .then_some(())
    })
    .await?;

    // What happens after the takeover is recorded by the one replica still watching: a
    // finding appears, another clears.
    apply_yaml(&client, &missing_configmap(LATER)).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), FIRST);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("api-config".into());
    cm.data = Some([("MODE".to_owned(), "live".to_owned())].into());
    configmaps.create(&PostParams::default(), &cm).await?;
    eventually(
        "the new holder recorded the new finding and the cleared one",
        || async {
            (root_open(&other, LATER).await? && !root_open(&other, FIRST).await?).then_some(())
        },
    )
    .await?;
    assert_eq!(
        other.state.store.claim(&claim).await?.map(|l| l.holder),
        Some(other.state.history.holder().to_owned()),
        "the replica that stopped took the claim back"
    );

    // A clean shutdown gives the claim up at once.
    other.state.history.release().await;
    assert_eq!(other.state.store.claim(&claim).await?, None);
    assert_eq!(other.state.history.records(CLUSTER), Some(false));
    assert_eq!(recorder_gauge(&other).await, Some(0));
    Ok(())
}
