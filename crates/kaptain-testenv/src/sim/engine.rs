//! The simulated kubelet's single-threaded core: owns every pod's state, the ConfigMap/Secret
//! key store and one timer heap; fed by the watches, the node manager and the log server
//! through one channel; writes through the status queue and the event recorder.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Shared;
use super::event_recorder::{EventRecord, EventSink};
use super::pod::{Clock, ConfigStore, IpPool, PodEvent, PodUpdate, SimPod, SyncCtx};
use super::spec::{PodSpecLite, sim_annotations};
use super::writer::{Job, WorkQueue};

/// Conditions the kubelet writes itself; others (readiness gates) are read from the pod.
const KUBELET_CONDITIONS: [&str; 4] = ["Initialized", "Ready", "ContainersReady", "PodScheduled"];

pub(crate) type LogAnswer = Result<Vec<(Timestamp, String)>, (u16, String)>;

pub(crate) enum PodMsg {
    Apply(Box<PodUpdate>),
    Delete(String),
    Init,
    InitApply(Box<PodUpdate>),
    InitDone,
}

pub(crate) enum ConfigMsg {
    Apply {
        ns: String,
        name: String,
        keys: BTreeSet<String>,
    },
    Delete {
        ns: String,
        name: String,
    },
    Init,
    InitApply {
        ns: String,
        name: String,
        keys: BTreeSet<String>,
    },
    InitDone,
}

pub(crate) enum Msg {
    Pod(PodMsg),
    Config {
        secret: bool,
        msg: ConfigMsg,
    },
    /// A node became Ready again: re-sync and re-write its pods.
    NodeReady(String),
    /// A node became NotReady: mark its pods not ready (as the node lifecycle controller's
    /// `MarkPodsNotReady` does for a node it finds unresponsive), then leave them alone.
    NodeNotReady(String),
    Logs {
        ns: String,
        pod: String,
        container: String,
        previous: bool,
        reply: oneshot::Sender<LogAnswer>,
    },
}

type KeyMap = HashMap<String, HashMap<String, BTreeSet<String>>>;

pub(crate) struct Engine {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Msg>,
    pods: HashMap<String, SimPod>,
    by_name: HashMap<(String, String), String>,
    by_ns: HashMap<String, HashSet<String>>,
    configs: ConfigStore,
    /// Relists in progress (ConfigMaps, Secrets).
    staging: [Option<KeyMap>; 2],
    pod_staging: Option<HashSet<String>>,
    images: HashMap<String, HashSet<String>>,
    ips: HashMap<String, IpPool>,
    timers: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
    clock: Clock,
    queue: Arc<WorkQueue>,
    events: EventSink,
    pods_synced: Option<oneshot::Sender<()>>,
}

impl Engine {
    pub fn new(
        shared: Arc<Shared>,
        rx: mpsc::UnboundedReceiver<Msg>,
        queue: Arc<WorkQueue>,
        events: EventSink,
        pods_synced: oneshot::Sender<()>,
    ) -> Self {
        Self {
            shared,
            rx,
            pods: HashMap::new(),
            by_name: HashMap::new(),
            by_ns: HashMap::new(),
            configs: ConfigStore::default(),
            staging: [None, None],
            pod_staging: None,
            images: HashMap::new(),
            ips: HashMap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            clock: Clock::new(),
            queue,
            events,
            pods_synced: Some(pods_synced),
        }
    }

    pub async fn run(mut self) {
        loop {
            let next = self.timers.peek().map(|Reverse((t, _, _))| *t);
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(m) => self.handle(m),
                    None => return,
                },
                () = sleep_until(next) => self.fire_timers(),
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Pod(PodMsg::Apply(u)) => self.apply(*u),
            Msg::Pod(PodMsg::Delete(uid)) => self.remove(&uid),
            Msg::Pod(PodMsg::Init) => self.pod_staging = Some(HashSet::new()),
            Msg::Pod(PodMsg::InitApply(u)) => {
                if let Some(seen) = &mut self.pod_staging {
                    seen.insert(u.uid.clone());
                }
                self.apply(*u);
            }
            Msg::Pod(PodMsg::InitDone) => {
                if let Some(seen) = self.pod_staging.take() {
                    let gone: Vec<String> = self
                        .pods
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    for uid in gone {
                        self.remove(&uid);
                    }
                }
                if let Some(tx) = self.pods_synced.take() {
                    let _ = tx.send(());
                }
            }
            Msg::Config { secret, msg } => self.config(secret, msg),
            Msg::NodeReady(node) => {
                let uids: Vec<String> = self
                    .pods
                    .values()
                    .filter(|p| p.node == node)
                    .map(|p| p.uid.clone())
                    .collect();
                for uid in uids {
                    if let Some(p) = self.pods.get_mut(&uid) {
                        p.last_status = None;
                    }
                    self.sync(&uid);
                }
            }
            Msg::NodeNotReady(node) => {
                let at = super::util::time(self.clock.wall(Instant::now()));
                for p in self.pods.values_mut().filter(|p| p.node == node) {
                    if p.last_status.take().is_none() || p.deleting {
                        continue;
                    }
                    let patch = json!({
                        "metadata": {"uid": p.uid},
                        "status": {"conditions": [
                            {"type": "Ready", "status": "False", "lastTransitionTime": at},
                        ]},
                    });
                    self.queue.push(
                        &p.uid,
                        Job::Status {
                            ns: p.ns.clone(),
                            name: p.name.clone(),
                            patch,
                        },
                    );
                }
            }
            Msg::Logs {
                ns,
                pod,
                container,
                previous,
                reply,
            } => {
                let answer = match self
                    .by_name
                    .get(&(ns, pod.clone()))
                    .and_then(|uid| self.pods.get(uid))
                {
                    Some(p) => p.logs(&container, previous, &self.clock),
                    None => Err((404, format!("pod \"{pod}\" does not exist\n"))),
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn apply(&mut self, u: PodUpdate) {
        let uid = u.uid.clone();
        let now = Instant::now();
        if let Some(p) = self.pods.get_mut(&uid) {
            let mut events = Vec::new();
            p.update(u, now, &mut events);
            record(&self.events, &self.clock, p, now, events);
        } else {
            let p = SimPod::new(u, now);
            self.by_name
                .insert((p.ns.clone(), p.name.clone()), uid.clone());
            self.by_ns
                .entry(p.ns.clone())
                .or_default()
                .insert(uid.clone());
            self.pods.insert(uid.clone(), p);
        }
        self.sync(&uid);
    }

    fn remove(&mut self, uid: &str) {
        let Some(p) = self.pods.remove(uid) else {
            return;
        };
        let key = (p.ns.clone(), p.name.clone());
        if self.by_name.get(&key).is_some_and(|u| u == uid) {
            self.by_name.remove(&key);
        }
        if let Some(set) = self.by_ns.get_mut(&p.ns) {
            set.remove(uid);
            if set.is_empty() {
                self.by_ns.remove(&p.ns);
            }
        }
        if let (Some((_, Some(slot))), Some(pool)) = (&p.ip, self.ips.get_mut(&p.node)) {
            pool.release(*slot);
        }
        self.events.forget(uid);
    }

    fn config(&mut self, secret: bool, msg: ConfigMsg) {
        let i = usize::from(secret);
        let store = if secret {
            &mut self.configs.secrets
        } else {
            &mut self.configs.configmaps
        };
        match msg {
            ConfigMsg::Apply { ns, name, keys } => {
                if let Some(staging) = &mut self.staging[i] {
                    staging
                        .entry(ns.clone())
                        .or_default()
                        .insert(name.clone(), keys.clone());
                }
                store.entry(ns.clone()).or_default().insert(name, keys);
                self.kick(&ns);
            }
            ConfigMsg::Delete { ns, name } => {
                if let Some(staging) = &mut self.staging[i]
                    && let Some(m) = staging.get_mut(&ns)
                {
                    m.remove(&name);
                }
                if let Some(m) = store.get_mut(&ns) {
                    m.remove(&name);
                    if m.is_empty() {
                        store.remove(&ns);
                    }
                }
            }
            ConfigMsg::Init => self.staging[i] = Some(HashMap::new()),
            ConfigMsg::InitApply { ns, name, keys } => {
                if let Some(staging) = &mut self.staging[i] {
                    staging.entry(ns).or_default().insert(name, keys);
                }
            }
            ConfigMsg::InitDone => {
                if let Some(staging) = self.staging[i].take() {
                    *store = staging;
                }
                let namespaces: Vec<String> = self.by_ns.keys().cloned().collect();
                for ns in namespaces {
                    self.kick(&ns);
                }
            }
        }
    }

    /// Re-syncs the pods of `ns` that wait for a ConfigMap or Secret.
    fn kick(&mut self, ns: &str) {
        let Some(uids) = self.by_ns.get(ns) else {
            return;
        };
        let blocked: Vec<String> = uids
            .iter()
            .filter(|uid| self.pods.get(*uid).is_some_and(|p| p.blocked))
            .cloned()
            .collect();
        for uid in blocked {
            self.sync(&uid);
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, _, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((t, _, uid))) = self.timers.pop() else {
                break;
            };
            let due = match self.pods.get_mut(&uid) {
                Some(p) if p.wake_at == Some(t) => {
                    p.wake_at = None;
                    true
                }
                _ => false,
            };
            if due {
                self.sync(&uid);
            }
        }
    }

    fn sync(&mut self, uid: &str) {
        let now = Instant::now();
        let Some(pod) = self.pods.get_mut(uid) else {
            return;
        };
        let Some(node) = self.shared.node(&pod.node) else {
            return;
        };
        // A NotReady node's kubelet is gone: nothing on it changes.
        if !node.ready {
            return;
        }
        let images = self.images.entry(pod.node.clone()).or_default();
        let ips = self
            .ips
            .entry(pod.node.clone())
            .or_insert_with(|| IpPool::new(node.index));
        let mut cx = SyncCtx {
            now,
            clock: self.clock,
            scale: self.shared.backoff_scale(),
            configs: &self.configs,
            images,
            ips,
            events: Vec::new(),
            wake: None,
            blocked: false,
        };
        let result = pod.sync(&mut cx);
        let (events, wake) = (cx.events, cx.wake);
        record(&self.events, &self.clock, pod, now, events);
        if let Some(patch) = result.status {
            self.queue.push(
                uid,
                Job::Status {
                    ns: pod.ns.clone(),
                    name: pod.name.clone(),
                    patch,
                },
            );
        }
        if result.delete {
            self.queue.push(
                uid,
                Job::Delete {
                    ns: pod.ns.clone(),
                    name: pod.name.clone(),
                    uid: uid.to_owned(),
                },
            );
        }
        if let Some(t) = wake {
            if pod.wake_at.is_some_and(|w| w <= t && w > now) {
                return;
            }
            pod.wake_at = Some(t);
            self.seq += 1;
            self.timers.push(Reverse((t, self.seq, uid.to_owned())));
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn record(sink: &EventSink, clock: &Clock, pod: &SimPod, now: Instant, events: Vec<PodEvent>) {
    if events.is_empty() {
        return;
    }
    let involved = json!({
        "kind": "Pod",
        "namespace": pod.ns,
        "name": pod.name,
        "uid": pod.uid,
        "apiVersion": "v1",
        "resourceVersion": pod.resource_version,
    });
    let at = clock.wall(now);
    for e in events {
        sink.record(EventRecord {
            namespace: pod.ns.clone(),
            object_name: pod.name.clone(),
            object_uid: pod.uid.clone(),
            involved: involved.clone(),
            field_path: e.field_path,
            warning: e.warning,
            reason: e.reason,
            message: e.message,
            host: pod.node.clone(),
            at,
        });
    }
}

/// Reduces a watched pod to a [`PodUpdate`] when it is bound to one of our nodes.
pub(crate) fn pod_update(pod: &Pod, shared: &Shared) -> Option<PodUpdate> {
    let node = pod.spec.as_ref()?.node_name.clone()?;
    shared.node(&node)?;
    let meta = &pod.metadata;
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
    Some(PodUpdate {
        uid: meta.uid.clone()?,
        ns: meta.namespace.clone()?,
        name: meta.name.clone()?,
        node,
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        annotations: sim_annotations(pod),
        deleting: meta.deletion_timestamp.is_some(),
        spec: PodSpecLite::from_pod(pod),
        foreign_conditions: conditions
            .iter()
            .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect(),
        has_scheduled_condition: conditions.iter().any(|c| c.type_ == "PodScheduled"),
        terminal_phase: phase.filter(|p| p == "Succeeded" || p == "Failed"),
    })
}

/// Watches all pods and forwards those on our nodes.
pub(crate) async fn watch_pods(
    client: kube::Client,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let api: Api<Pod> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = stream.next().await {
        let msg = match event {
            Ok(watcher::Event::Apply(p)) => match pod_update(&p, &shared) {
                Some(u) => PodMsg::Apply(Box::new(u)),
                None => continue,
            },
            Ok(watcher::Event::Delete(p)) => {
                let on_our_node = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_some_and(|n| shared.node(n).is_some());
                match (on_our_node, p.metadata.uid) {
                    (true, Some(uid)) => PodMsg::Delete(uid),
                    _ => continue,
                }
            }
            Ok(watcher::Event::Init) => PodMsg::Init,
            Ok(watcher::Event::InitApply(p)) => match pod_update(&p, &shared) {
                Some(u) => PodMsg::InitApply(Box::new(u)),
                None => continue,
            },
            Ok(watcher::Event::InitDone) => PodMsg::InitDone,
            Err(e) => {
                tracing::debug!(error = %e, "simulated kubelet: pod watch");
                continue;
            }
        };
        if tx.send(Msg::Pod(msg)).is_err() {
            return;
        }
    }
}

/// Watches ConfigMaps or Secrets and forwards their keys; `synced` fires after the first list.
pub(crate) async fn watch_configs(
    client: kube::Client,
    secret: bool,
    tx: mpsc::UnboundedSender<Msg>,
    synced: oneshot::Sender<()>,
) {
    if secret {
        let api: Api<Secret> = Api::all(client);
        forward(api, true, tx, synced, |s: &Secret| {
            s.data
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .chain(s.string_data.iter().flatten().map(|(k, _)| k.clone()))
                .collect()
        })
        .await;
    } else {
        let api: Api<ConfigMap> = Api::all(client);
        forward(api, false, tx, synced, |c: &ConfigMap| {
            c.data
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .chain(c.binary_data.iter().flatten().map(|(k, _)| k.clone()))
                .collect()
        })
        .await;
    }
}

async fn forward<K>(
    api: Api<K>,
    secret: bool,
    tx: mpsc::UnboundedSender<Msg>,
    synced: oneshot::Sender<()>,
    keys: impl Fn(&K) -> BTreeSet<String>,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut synced = Some(synced);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let id = |o: &K| {
        let m = o.meta();
        Some((m.namespace.clone()?, m.name.clone()?))
    };
    while let Some(event) = stream.next().await {
        let msg = match event {
            Ok(watcher::Event::Apply(o)) => match id(&o) {
                Some((ns, name)) => ConfigMsg::Apply {
                    ns,
                    name,
                    keys: keys(&o),
                },
                None => continue,
            },
            Ok(watcher::Event::Delete(o)) => match id(&o) {
                Some((ns, name)) => ConfigMsg::Delete { ns, name },
                None => continue,
            },
            Ok(watcher::Event::Init) => ConfigMsg::Init,
            Ok(watcher::Event::InitApply(o)) => match id(&o) {
                Some((ns, name)) => ConfigMsg::InitApply {
                    ns,
                    name,
                    keys: keys(&o),
                },
                None => continue,
            },
            Ok(watcher::Event::InitDone) => ConfigMsg::InitDone,
            Err(e) => {
                tracing::debug!(error = %e, secret, "simulated kubelet: config watch");
                continue;
            }
        };
        let done = matches!(msg, ConfigMsg::InitDone);
        if tx.send(Msg::Config { secret, msg }).is_err() {
            return;
        }
        if done && let Some(s) = synced.take() {
            let _ = s.send(());
        }
    }
}
