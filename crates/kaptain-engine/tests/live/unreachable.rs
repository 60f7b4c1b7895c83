//! Two clusters of which one is unreachable, and recovery through a TCP forwarder that
//! refuses and cuts connections.

use std::net::SocketAddr;
use std::time::Instant;

use kaptain_engine::live::{ClusterSource, ClusterStatus, LiveClusters, LiveEvent};
use kaptain_testenv::{ControlPlane, apply_yaml};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{config, kubeconfig, wait_state};
use crate::support::{TestResult, eventually};

const SELECTS_NOTHING: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: hub-b}
---
apiVersion: v1
kind: Service
metadata: {name: orphan, namespace: hub-b}
spec:
  selector: {app: nothing-has-this-label}
  ports: [{port: 80, targetPort: 8080}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_does_not_affect_the_others() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    apply_yaml(&client, SELECTS_NOTHING).await?;
    // A loopback port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let dir = tempfile::tempdir()?;
    let dead = format!("https://127.0.0.1:{closed}");
    let path = kubeconfig(dir.path(), &[("good", cp.server_url()), ("dead", &dead)])?;

    let hub = LiveClusters::new(config());
    // `--all-contexts`.
    let sources = ClusterSource::all_contexts(Some(path.clone()))?;
    assert_eq!(sources.len(), 2);
    for s in sources {
        hub.add_cluster(s)?;
    }
    let names: Vec<String> = hub.clusters().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["dead", "good"]);
    // Adding a context again, or one that does not exist, is bad input.
    let again = hub.add_cluster(ClusterSource::context(Some(path.clone()), "good"));
    assert!(again.is_err());
    let unknown = hub.add_cluster(ClusterSource::context(Some(path.clone()), "nope"));
    assert_eq!(
        unknown.map_err(|e| e.to_string()).err().as_deref(),
        Some("context \"nope\" not found in kubeconfig")
    );

    wait_state(&hub, "good", "ready").await?;
    let report = eventually("the Service that selects nothing", || async {
        hub.report("good").filter(|r| {
            r.findings.iter().any(|f| {
                f.object.namespace.as_deref() == Some("hub-b") && f.object.name == "orphan"
            })
        })
    })
    .await?;
    assert!(!report.findings.is_empty());

    let status = wait_state(&hub, "dead", "unreachable").await?;
    let ClusterStatus::Unreachable {
        error,
        since,
        retry_at,
        attempts,
    } = status
    else {
        return Err("not unreachable".into());
    };
    eprintln!("unreachable cluster: {error}");
    assert!(!error.contains('\n'), "{error}");
    assert!(error.contains("context dead"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(attempts >= 1 && retry_at > since);
    assert!(hub.report("dead").is_none());
    assert!(hub.nodes("dead").is_none());
    // It keeps retrying, with growing delays, and the good one stays ready meanwhile.
    eventually("more attempts", || async {
        match hub.cluster("dead").map(|v| v.info.status) {
            Some(ClusterStatus::Unreachable { attempts: a, .. }) if a >= attempts + 2 => Some(()),
            _ => None,
        }
    })
    .await?;
    assert!(hub.cluster("good").ok_or("no good")?.info.status.is_ready());
    assert!(hub.remove_cluster("dead"));
    assert_eq!(hub.clusters().len(), 1);
    Ok(())
}

/// A TCP forwarder to the API server that can refuse (accept and close at once) and cut
/// every open connection.
struct Forwarder {
    addr: SocketAddr,
    /// (forwarding, epoch): a new epoch closes every connection of the previous ones.
    mode: watch::Sender<(bool, u64)>,
    _task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> std::io::Result<Forwarder> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel((false, 0u64));
        let modes = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let mut rx = modes.subscribe();
                let (forwarding, epoch) = *rx.borrow_and_update();
                if !forwarding {
                    drop(down);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = rx.wait_for(|(_, e)| *e != epoch) => {}
                    }
                });
            }
        });
        Ok(Forwarder {
            addr,
            mode,
            _task: task,
        })
    }

    fn set(&self, forwarding: bool) {
        self.mode.send_modify(|(f, e)| {
            *f = forwarding;
            *e += 1;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_recovers_by_itself_when_its_server_returns() -> TestResult {
    let cp = ControlPlane::shared();
    // Nodes of its own: the node table read while unreachable must not depend on another
    // test of this binary having started the simulated kubelet first.
    cp.shared_kubelet().await?;
    let target: SocketAddr = cp.server_url().trim_start_matches("https://").parse()?;
    let fwd = Forwarder::start(target).await?;
    let dir = tempfile::tempdir()?;
    let path = kubeconfig(dir.path(), &[("flaky", &format!("https://{}", fwd.addr))])?;
    let hub = LiveClusters::new(config());
    let mut events = hub.subscribe();
    let name = hub.add_cluster(ClusterSource::Kubeconfig {
        path: Some(path),
        context: None,
    })?;
    assert_eq!(name, "flaky");

    let down = wait_state(&hub, &name, "unreachable").await?;
    eprintln!("refusing: {}", down.error().unwrap_or_default());
    assert!(hub.client(&name).is_none(), "never connected");

    fwd.set(true);
    let began = Instant::now();
    wait_state(&hub, &name, "ready").await?;
    // A first analysis, with the simulated nodes in its node table (what is read back
    // while unreachable).
    eventually("a first report with the nodes", || async {
        hub.report(&name)?;
        hub.nodes(&name).filter(|n| !n.is_empty())
    })
    .await?;
    eprintln!(
        "ready {:.2}s after forwarding",
        began.elapsed().as_secs_f64()
    );
    let generation = hub.generation(&name).ok_or("no generation")?;
    assert!(generation >= 1);

    fwd.set(false);
    let began = Instant::now();
    let cut = wait_state(&hub, &name, "unreachable").await?;
    eprintln!(
        "cut noticed after {:.2}s: {}",
        began.elapsed().as_secs_f64(),
        cut.error().unwrap_or_default()
    );
    assert!(!cut.error().unwrap_or_default().is_empty());
    // The last data stays readable while unreachable.
    assert!(hub.report(&name).is_some());
    assert!(hub.nodes(&name).is_some_and(|n| !n.is_empty()));

    fwd.set(true);
    let began = Instant::now();
    wait_state(&hub, &name, "ready").await?;
    eprintln!(
        "recovered {:.2}s after forwarding again",
        began.elapsed().as_secs_f64()
    );
    eventually("an analysis after recovery", || async {
        hub.cluster(&name).filter(|v| {
            v.data_as_of.is_some_and(|t| match &v.info.status {
                ClusterStatus::Ready { since } => t >= *since,
                _ => false,
            })
        })
    })
    .await?;

    // Subscribers saw every transition, in order.
    let mut states = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let LiveEvent::ClusterStatusChanged { cluster, status } = e {
            assert_eq!(cluster, name);
            if states.last() != Some(&status.state()) {
                states.push(status.state());
            }
        }
    }
    assert_eq!(
        states,
        vec!["unreachable", "ready", "unreachable", "ready"],
        "status changes seen"
    );
    Ok(())
}
