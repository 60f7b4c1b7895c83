//! The simulated kubelet (like the KWOK project): registers nodes and keeps them alive, and
//! moves the pods bound to them through the states a real kubelet (v1.20) would, with its
//! status shape, events and log endpoint. See the crate README for the annotation contract.
//!
//! It runs on a dedicated thread with its own multi-thread tokio runtime, so it keeps working
//! across the tests of one binary (each `#[tokio::test]` has its own runtime) and stops as a
//! whole: [`SimKubelet::stop`] (or dropping it) shuts the runtime down, ending every task.

mod engine;
mod event_recorder;
mod image;
mod logs;
mod node;
mod pod;
mod spec;
mod util;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::{ControlPlane, Error, Result};
use engine::{Engine, Msg};
use event_recorder::EventSink;
use node::{NodeCmd, NodeManager, Pressure};
use writer::WorkQueue;

/// Environment variable scaling the crash-loop and image-pull back-offs (a float, default 1).
pub const BACKOFF_SCALE_ENV: &str = "KAPTAIN_SIM_BACKOFF_SCALE";

/// Numbers simulated kubelets, to name their threads `ksim<n>` / `ksim<n>-rt`.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// How long stopping waits for the nodes to be marked Unknown.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`ControlPlane::start_kubelet`] waits for the simulation to be up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Configuration of [`ControlPlane::start_kubelet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletConfig {
    /// Nodes to register, named `<name_prefix><i>` (the first free numbers from 0).
    pub nodes: usize,
    /// Capacity and allocatable CPU of each node (a quantity: `"4"`, `"3500m"`).
    pub cpu: String,
    /// Capacity and allocatable memory of each node (a quantity: `"16Gi"`).
    pub memory: String,
    /// Maximum pods per node.
    pub pods: u32,
    pub name_prefix: String,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            cpu: "4".into(),
            memory: "16Gi".into(),
            pods: 110,
            name_prefix: "sim-node-".into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeEntry {
    /// Picks the node's pod IP range.
    pub index: u32,
    /// False while the node is NotReady: nothing on it changes.
    pub ready: bool,
}

/// State shared between the API handle, the engine and the watches.
pub(crate) struct Shared {
    nodes: RwLock<HashMap<String, NodeEntry>>,
    order: RwLock<Vec<String>>,
    scale: AtomicU64,
}

impl Shared {
    fn new(scale: f64) -> Self {
        Self {
            nodes: RwLock::new(HashMap::new()),
            order: RwLock::new(Vec::new()),
            scale: AtomicU64::new(scale.to_bits()),
        }
    }

    pub fn node(&self, name: &str) -> Option<NodeEntry> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }

    fn insert_node(&self, name: &str, entry: NodeEntry) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), entry);
        self.order
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_owned());
    }

    fn remove_node(&self, name: &str) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.order
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n| n != name);
    }

    fn set_node_ready(&self, name: &str, ready: bool) {
        if let Some(e) = self
            .nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(name)
        {
            e.ready = ready;
        }
    }

    pub fn backoff_scale(&self) -> f64 {
        f64::from_bits(self.scale.load(Ordering::Relaxed))
    }
}

fn scale_from_env() -> f64 {
    std::env::var(BACKOFF_SCALE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0)
}

/// A running simulated kubelet: its nodes, and the pods the scheduler binds to them.
///
/// Stops on [`SimKubelet::stop`] or drop. The Node objects stay, as they would when a real
/// kubelet stops, with their conditions `Unknown` ("Kubelet stopped posting node status."),
/// which makes the node lifecycle controller taint them unreachable.
pub struct SimKubelet {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<NodeCmd>,
    stop: watch::Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    log_port: u16,
    thread_prefix: String,
}

impl std::fmt::Debug for SimKubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimKubelet")
            .field("nodes", &self.node_names())
            .field("log_port", &self.log_port)
            .field("running", &self.is_running())
            .finish()
    }
}

impl SimKubelet {
    /// Names of the simulated nodes, in registration order.
    pub fn node_names(&self) -> Vec<String> {
        self.shared
            .order
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The port of the HTTPS log endpoint (every node's `kubeletEndpoint`).
    pub fn log_port(&self) -> u16 {
        self.log_port
    }

    /// How many threads of this simulation are alive (named `ksim<n>` and `ksim<n>-rt`;
    /// read from `/proc/self/task`). Zero after [`SimKubelet::stop`].
    pub fn thread_count(&self) -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        let own = self.thread_prefix.as_str();
        let runtime = format!("{own}-rt");
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .filter(|name| {
                let name = name.trim_end();
                name == own || name == runtime
            })
            .count()
    }

    /// Whether the simulation thread still runs.
    pub fn is_running(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Changes the crash-loop and image-pull back-off scale (1.0 = the kubelet's 10 s
    /// doubling to 5 min; `KAPTAIN_SIM_BACKOFF_SCALE` sets the initial value).
    pub fn set_backoff_scale(&self, scale: f64) {
        if scale.is_finite() && scale > 0.0 {
            self.shared.scale.store(scale.to_bits(), Ordering::Relaxed);
        }
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> NodeCmd,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| Error::Kubelet("the simulated kubelet is stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Kubelet("the simulated kubelet is stopped".into()))?
    }

    /// Registers one more node (labels on top of the standard ones) and simulates it. A
    /// Node of that name that already exists is taken over, with the pods bound to it.
    pub async fn add_node(
        &self,
        name: &str,
        cpu: &str,
        memory: &str,
        labels: &[(&str, &str)],
    ) -> Result<()> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (name, cpu, memory) = (name.to_owned(), cpu.to_owned(), memory.to_owned());
        self.command(|reply| NodeCmd::Add {
            name,
            cpu,
            memory,
            labels,
            reply,
        })
        .await
    }

    /// NotReady: Ready=False (reason KubeletNotReady), the Lease and heartbeats stop being
    /// renewed and nothing on the node changes any more (its pods keep their status;
    /// deleted ones stay Terminating), as with a dead kubelet. The node lifecycle controller
    /// then taints the node and marks its pods not ready. Ready again: everything resumes.
    pub async fn set_node_ready(&self, name: &str, ready: bool) -> Result<()> {
        let name = name.to_owned();
        self.command(|reply| NodeCmd::SetReady { name, ready, reply })
            .await
    }

    /// Sets the `MemoryPressure`, `DiskPressure` or `PIDPressure` condition (`kind`:
    /// `Memory`, `Disk` or `PID`).
    pub async fn set_node_pressure(&self, name: &str, kind: &str, on: bool) -> Result<()> {
        let kind = Pressure::parse(kind)?;
        let name = name.to_owned();
        self.command(|reply| NodeCmd::SetPressure {
            name,
            kind,
            on,
            reply,
        })
        .await
    }

    /// Stops the simulation: marks its nodes Unknown (best effort, up to 2 s), then every
    /// task ends and the thread exits before this returns.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for SimKubelet {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ControlPlane {
    /// Registers `cfg.nodes` nodes and starts the simulated kubelet for them, on its own
    /// thread and runtime. Returns once the nodes are Ready and the pod, ConfigMap and
    /// Secret watches have synced.
    pub async fn start_kubelet(&self, cfg: KubeletConfig) -> Result<SimKubelet> {
        start(self.kubeconfig_path().to_owned(), cfg).await
    }

    /// One simulated kubelet with [`KubeletConfig::default`] (3 nodes `sim-node-0..2`,
    /// 4 CPU, 16Gi) per control plane, started on first use and shared by all its tests.
    pub async fn shared_kubelet(&'static self) -> Result<&'static SimKubelet> {
        let result = self
            .shared_sim
            .get_or_init(|| async {
                self.start_kubelet(KubeletConfig::default())
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
        result
            .as_ref()
            .map_err(|e| Error::Kubelet(format!("the shared simulated kubelet did not start: {e}")))
    }

    /// Stops the shared simulated kubelet, if started (before the processes go away).
    pub(crate) fn stop_shared_kubelet(&self) {
        if let Some(Ok(sim)) = self.shared_sim.get() {
            sim.stop();
        }
    }
}

async fn start(kubeconfig: PathBuf, cfg: KubeletConfig) -> Result<SimKubelet> {
    let shared = Arc::new(Shared::new(scale_from_env()));
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel::<Result<u16>>();
    let thread_shared = shared.clone();
    let thread_prefix = format!("ksim{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let runtime_name = format!("{thread_prefix}-rt");
    let thread = std::thread::Builder::new()
        .name(thread_prefix.clone())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(runtime_name)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ =
                        ready_tx.send(Err(Error::Kubelet(format!("building its runtime: {e}"))));
                    return;
                }
            };
            runtime.block_on(run(
                kubeconfig,
                cfg,
                thread_shared,
                command_rx,
                stop_rx,
                ready_tx,
            ));
            runtime.shutdown_timeout(Duration::from_secs(2));
        })
        .map_err(|e| Error::Kubelet(format!("starting its thread: {e}")))?;
    let sim = SimKubelet {
        shared,
        commands,
        stop,
        thread: Mutex::new(Some(thread)),
        log_port: 0,
        thread_prefix,
    };
    // On error or timeout, dropping `sim` stops the thread.
    let port = match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
        Ok(Ok(Ok(port))) => port,
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(_)) => return Err(Error::Kubelet("its thread died during start-up".into())),
        Err(_) => {
            return Err(Error::Kubelet(format!("not up after {START_TIMEOUT:?}")));
        }
    };
    let mut sim = sim;
    sim.log_port = port;
    Ok(sim)
}

/// Everything on the simulation runtime, until `stop` flips.
async fn run(
    kubeconfig: PathBuf,
    cfg: KubeletConfig,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<NodeCmd>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<u16>>,
) {
    let started = async {
        let client = crate::client_from(&kubeconfig).await?;
        let listener = tokio::net::TcpListener::bind((node::NODE_IP, 0))
            .await
            .map_err(|e| Error::Kubelet(format!("binding the log endpoint: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Kubelet(format!("log endpoint address: {e}")))?
            .port();
        let acceptor = logs::tls_acceptor()?;
        let events = EventSink::start(&client);
        let queue = Arc::new(WorkQueue::default());
        queue.start(&client);
        let (engine_tx, engine_rx) = mpsc::unbounded_channel::<Msg>();
        tokio::spawn(logs::serve(listener, acceptor, engine_tx.clone()));

        // ConfigMaps and Secrets first, so no pod is judged against an empty store.
        let (cm_synced, cm_rx) = oneshot::channel();
        let (secret_synced, secret_rx) = oneshot::channel();
        tokio::spawn(engine::watch_configs(
            client.clone(),
            false,
            engine_tx.clone(),
            cm_synced,
        ));
        tokio::spawn(engine::watch_configs(
            client.clone(),
            true,
            engine_tx.clone(),
            secret_synced,
        ));
        let (pods_synced, pods_rx) = oneshot::channel();
        tokio::spawn(
            Engine::new(
                shared.clone(),
                engine_rx,
                queue,
                events.clone(),
                pods_synced,
            )
            .run(),
        );
        let _ = cm_rx.await;
        let _ = secret_rx.await;

        let mut nodes = NodeManager::new(
            client.clone(),
            shared.clone(),
            events,
            engine_tx.clone(),
            port,
            cfg.pods,
        );
        nodes
            .register_generated(&cfg.name_prefix, cfg.nodes, &cfg.cpu, &cfg.memory)
            .await?;
        tokio::spawn(engine::watch_pods(client, shared, engine_tx));
        let _ = pods_rx.await;
        Ok::<_, Error>((port, nodes))
    };
    let (port, nodes) = tokio::select! {
        r = started => match r {
            Ok(v) => v,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        },
        _ = stop.wait_for(|s| *s) => return,
    };
    let (farewell, farewell_rx) = oneshot::channel();
    tokio::spawn(nodes.run(commands, farewell_rx));
    let _ = ready.send(Ok(port));
    let _ = stop.wait_for(|s| *s).await;
    // Leave the nodes as the node lifecycle controller would find them: Unknown.
    let (done, done_rx) = oneshot::channel();
    if farewell.send(done).is_ok() {
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, done_rx).await;
    }
}
