//! Simulated nodes: registration like a kubelet's, node status heartbeats, the node Lease in
//! `kube-node-lease`, Ready/pressure changes on request, and the kubelet's node events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::engine::{Msg, PodMsg, pod_update};
use super::event_recorder::{EventRecord, EventSink};
use super::util::{hex64, micro_time, time};
use super::{NodeEntry, Shared};
use crate::{Error, Result};

/// Every simulated node's InternalIP: the API server dials it for logs.
pub(crate) const NODE_IP: &str = "127.0.0.1";
/// Node status heartbeat and Lease renewal period.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(10);
const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_SECONDS: i32 = 40;
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// Process-wide, so that nodes of different simulated kubelets get different pod ranges.
static NEXT_SUBNET: AtomicU32 = AtomicU32::new(0);

/// Which pressure condition [`NodeCmd::SetPressure`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pressure {
    Memory = 0,
    Disk = 1,
    Pid = 2,
}

impl Pressure {
    pub fn parse(kind: &str) -> Result<Self> {
        match kind.to_ascii_lowercase().trim_end_matches("pressure") {
            "memory" => Ok(Self::Memory),
            "disk" => Ok(Self::Disk),
            "pid" => Ok(Self::Pid),
            _ => Err(Error::Invalid(format!(
                "pressure kind {kind:?}: use Memory, Disk or PID"
            ))),
        }
    }
}

/// (reason, message) of a condition status.
type Texts = (&'static str, &'static str);

/// (type, texts when False/True, event reason when False/True)
const PRESSURE: [(&str, [Texts; 2], [&str; 2]); 3] = [
    (
        "MemoryPressure",
        [
            (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
        ],
        ["NodeHasSufficientMemory", "NodeHasInsufficientMemory"],
    ),
    (
        "DiskPressure",
        [
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("KubeletHasDiskPressure", "kubelet has disk pressure"),
        ],
        ["NodeHasNoDiskPressure", "NodeHasDiskPressure"],
    ),
    (
        "PIDPressure",
        [
            (
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            (
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            ),
        ],
        ["NodeHasSufficientPID", "NodeHasInsufficientPID"],
    ),
];

pub(crate) enum NodeCmd {
    Add {
        name: String,
        cpu: String,
        memory: String,
        labels: Vec<(String, String)>,
        reply: oneshot::Sender<Result<()>>,
    },
    SetReady {
        name: String,
        ready: bool,
        reply: oneshot::Sender<Result<()>>,
    },
    SetPressure {
        name: String,
        kind: Pressure,
        on: bool,
        reply: oneshot::Sender<Result<()>>,
    },
}

struct NodeState {
    name: String,
    uid: String,
    ready: bool,
    pressure: [bool; 3],
    /// lastTransitionTime of MemoryPressure, DiskPressure, PIDPressure, Ready.
    since: [Timestamp; 4],
}

pub(crate) struct NodeManager {
    client: kube::Client,
    shared: Arc<Shared>,
    events: EventSink,
    engine: mpsc::UnboundedSender<Msg>,
    port: u16,
    pods: u32,
    nodes: Vec<NodeState>,
}

impl NodeManager {
    pub fn new(
        client: kube::Client,
        shared: Arc<Shared>,
        events: EventSink,
        engine: mpsc::UnboundedSender<Msg>,
        port: u16,
        pods: u32,
    ) -> Self {
        Self {
            client,
            shared,
            events,
            engine,
            port,
            pods,
            nodes: Vec::new(),
        }
    }

    /// Registers `count` nodes named `<prefix><i>`, skipping names that already exist.
    pub async fn register_generated(
        &mut self,
        prefix: &str,
        count: usize,
        cpu: &str,
        memory: &str,
    ) -> Result<()> {
        let mut i = 0usize;
        let mut added = 0;
        while added < count {
            let name = format!("{prefix}{i}");
            i += 1;
            if self.shared.node(&name).is_some() {
                continue;
            }
            if self.register(&name, cpu, memory, &[], false).await? {
                added += 1;
            }
        }
        Ok(())
    }

    /// Registers one node. With `take_over`, an existing Node of that name becomes ours
    /// (like a kubelet re-registering); without, an existing name returns `Ok(false)`.
    async fn register(
        &mut self,
        name: &str,
        cpu: &str,
        memory: &str,
        extra_labels: &[(String, String)],
        take_over: bool,
    ) -> Result<bool> {
        if self.shared.node(name).is_some() {
            return Err(Error::Invalid(format!("node {name} is already simulated")));
        }
        let index = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed);
        // Known before the Node exists, so that no pod bound to it is missed.
        self.shared
            .insert_node(name, NodeEntry { index, ready: true });
        match self
            .create(name, cpu, memory, extra_labels, take_over)
            .await
        {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.shared.remove_node(name);
                Ok(false)
            }
            Err(e) => {
                self.shared.remove_node(name);
                Err(e)
            }
        }
    }

    async fn create(
        &mut self,
        name: &str,
        cpu: &str,
        memory: &str,
        extra_labels: &[(String, String)],
        take_over: bool,
    ) -> Result<bool> {
        let api: Api<Node> = Api::all(self.client.clone());
        let mut labels = serde_json::Map::new();
        for (k, v) in [
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
            ("node-role.kubernetes.io/worker", ""),
        ] {
            labels.insert(k.to_owned(), json!(v));
        }
        for (k, v) in extra_labels {
            labels.insert(k.clone(), json!(v));
        }
        let metadata = json!({
            "name": name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        });
        let node: Node = serde_json::from_value(json!({"metadata": metadata}))?;
        let (uid, took_over) = match api.create(&PostParams::default(), &node).await {
            Ok(n) => (n.metadata.uid.unwrap_or_default(), false),
            Err(kube::Error::Api(e)) if e.is_already_exists() => {
                if !take_over {
                    return Ok(false);
                }
                let patch = json!({"metadata": metadata});
                let n = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                (n.metadata.uid.unwrap_or_default(), true)
            }
            Err(e) => return Err(e.into()),
        };
        let now = Timestamp::now();
        let state = NodeState {
            name: name.to_owned(),
            uid,
            ready: true,
            pressure: [false; 3],
            since: [now; 4],
        };
        let resources = json!({
            "cpu": cpu,
            "memory": memory,
            "pods": self.pods.to_string(),
            "ephemeral-storage": "100Gi",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        });
        let mut status = conditions_patch(&state, now);
        status["status"]["capacity"] = resources.clone();
        status["status"]["allocatable"] = resources;
        status["status"]["addresses"] = json!([
            {"type": "InternalIP", "address": NODE_IP},
            {"type": "Hostname", "address": name},
        ]);
        status["status"]["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": self.port}});
        let id = hex64(&["node", name]);
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &id[0..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..32]
        );
        status["status"]["nodeInfo"] = json!({
            "machineID": &id[32..64],
            "systemUUID": uuid,
            "bootID": format!("{}-{}", &id[40..48], &uuid[9..]),
            "kernelVersion": "5.10.0-20-amd64",
            "osImage": "Debian GNU/Linux 11 (bullseye)",
            "containerRuntimeVersion": "sim://1.0",
            "kubeletVersion": "v1.20.2",
            "kubeProxyVersion": "v1.20.2",
            "operatingSystem": "linux",
            "architecture": "amd64",
        });
        api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
            .await?;
        crate::nodes::remove_taint(&api, name, NOT_READY_TAINT).await?;
        self.renew_lease(&state, true).await?;
        for (reason, message) in [
            ("Starting", "Starting kubelet.".to_owned()),
            (
                "NodeHasSufficientMemory",
                status_message(name, "NodeHasSufficientMemory"),
            ),
            (
                "NodeHasNoDiskPressure",
                status_message(name, "NodeHasNoDiskPressure"),
            ),
            (
                "NodeHasSufficientPID",
                status_message(name, "NodeHasSufficientPID"),
            ),
            (
                "NodeAllocatableEnforced",
                "Updated Node Allocatable limit across pods".to_owned(),
            ),
            ("NodeReady", status_message(name, "NodeReady")),
        ] {
            self.node_event(name, false, reason, message);
        }
        self.nodes.push(state);
        if took_over {
            self.adopt_pods(name).await;
        }
        Ok(true)
    }

    /// Feeds the pods already bound to a taken-over node to the engine.
    async fn adopt_pods(&self, node: &str) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
        match api.list(&params).await {
            Ok(list) => {
                for pod in &list.items {
                    if let Some(u) = pod_update(pod, &self.shared) {
                        let _ = self.engine.send(Msg::Pod(PodMsg::Apply(Box::new(u))));
                    }
                }
            }
            Err(e) => tracing::warn!(node, error = %e, "simulated kubelet: listing pods of a node"),
        }
    }

    fn node_event(&self, name: &str, warning: bool, reason: &'static str, message: String) {
        self.events.record(EventRecord {
            namespace: "default".into(),
            object_name: name.to_owned(),
            object_uid: name.to_owned(),
            // The kubelet refers to its node with the node name as UID.
            involved: json!({"kind": "Node", "name": name, "uid": name}),
            field_path: None,
            warning,
            reason,
            message,
            host: name.to_owned(),
            at: Timestamp::now(),
        });
    }

    async fn renew_lease(&self, node: &NodeState, create: bool) -> Result<()> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let renew = micro_time(Timestamp::now());
        if !create {
            let patch = json!({"spec": {"renewTime": renew}});
            match api
                .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": node.name,
                "namespace": LEASE_NAMESPACE,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node.uid}],
            },
            "spec": {
                "holderIdentity": node.name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": renew,
            },
        });
        let lease: Lease = serde_json::from_value(body.clone())?;
        match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.is_already_exists() => {
                api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&body))
                    .await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn patch_conditions(&self, node: &NodeState) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = conditions_patch(node, Timestamp::now());
        api.patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await?;
        Ok(())
    }

    async fn heartbeat(&self) {
        for node in self.nodes.iter().filter(|n| n.ready) {
            if let Err(e) = self.patch_conditions(node).await {
                tracing::debug!(node = %node.name, error = %e, "simulated kubelet: node status");
            }
            if let Err(e) = self.renew_lease(node, false).await {
                tracing::debug!(node = %node.name, error = %e, "simulated kubelet: node lease");
            }
        }
    }

    /// What the node lifecycle controller writes once a kubelet stops posting status (after
    /// its grace period, which this control plane sets to 1 h): every condition Unknown. It
    /// then taints the nodes unreachable, so nothing more is scheduled on them.
    async fn mark_unknown(&self) {
        let api: Api<Node> = Api::all(self.client.clone());
        let now = time(Timestamp::now());
        let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|type_| {
                json!({
                    "type": type_,
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastTransitionTime": now,
                })
            })
            .collect();
        let patch = json!({"status": {"conditions": conditions}});
        for node in &self.nodes {
            if let Err(e) = api
                .patch_status(
                    &node.name,
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await
            {
                tracing::debug!(node = %node.name, error = %e, "simulated kubelet: marking a node Unknown");
            }
        }
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| Error::Invalid(format!("node {name} is not a simulated node")))
    }

    async fn set_ready(&mut self, name: &str, ready: bool) -> Result<()> {
        let i = self.index(name)?;
        if self.nodes[i].ready == ready {
            return Ok(());
        }
        self.shared.set_node_ready(name, ready);
        self.nodes[i].ready = ready;
        self.nodes[i].since[3] = Timestamp::now();
        self.patch_conditions(&self.nodes[i]).await?;
        if ready {
            self.renew_lease(&self.nodes[i], false).await?;
            self.node_event(name, false, "NodeReady", status_message(name, "NodeReady"));
            let _ = self.engine.send(Msg::NodeReady(name.to_owned()));
        } else {
            self.node_event(
                name,
                false,
                "NodeNotReady",
                status_message(name, "NodeNotReady"),
            );
            let _ = self.engine.send(Msg::NodeNotReady(name.to_owned()));
        }
        Ok(())
    }

    async fn set_pressure(&mut self, name: &str, kind: Pressure, on: bool) -> Result<()> {
        let i = self.index(name)?;
        let k = kind as usize;
        if self.nodes[i].pressure[k] == on {
            return Ok(());
        }
        self.nodes[i].pressure[k] = on;
        self.nodes[i].since[k] = Timestamp::now();
        self.patch_conditions(&self.nodes[i]).await?;
        let reason = PRESSURE[k].2[usize::from(on)];
        self.node_event(name, false, reason, status_message(name, reason));
        Ok(())
    }

    /// Handles commands and heartbeats until the command channel closes, or until
    /// `farewell` asks for the nodes to be marked Unknown (then answers and returns).
    pub async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<NodeCmd>,
        mut farewell: oneshot::Receiver<oneshot::Sender<()>>,
    ) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                done = &mut farewell => {
                    self.mark_unknown().await;
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(NodeCmd::Add { name, cpu, memory, labels, reply }) => {
                        let r = self.register(&name, &cpu, &memory, &labels, true).await.map(drop);
                        let _ = reply.send(r);
                    }
                    Some(NodeCmd::SetReady { name, ready, reply }) => {
                        let _ = reply.send(self.set_ready(&name, ready).await);
                    }
                    Some(NodeCmd::SetPressure { name, kind, on, reply }) => {
                        let _ = reply.send(self.set_pressure(&name, kind, on).await);
                    }
                },
                _ = tick.tick() => self.heartbeat().await,
            }
        }
    }
}

fn status_message(node: &str, status: &str) -> String {
    format!("Node {node} status is now: {status}")
}

/// The four conditions with `lastHeartbeatTime` now (strategic merge by type).
fn conditions_patch(node: &NodeState, now: Timestamp) -> Value {
    let mut conditions: Vec<Value> = PRESSURE
        .iter()
        .enumerate()
        .map(|(i, (type_, texts, _))| {
            let on = node.pressure[i];
            let (reason, message) = texts[usize::from(on)];
            json!({
                "type": type_,
                "status": if on { "True" } else { "False" },
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": time(now),
                "lastTransitionTime": time(node.since[i]),
            })
        })
        .collect();
    let (status, reason, message) = if node.ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        ("False", "KubeletNotReady", "container runtime is down")
    };
    conditions.push(json!({
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": time(now),
        "lastTransitionTime": time(node.since[3]),
    }));
    json!({"status": {"conditions": conditions}})
}
