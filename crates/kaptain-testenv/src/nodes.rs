//! Static fake `Node` objects (nothing renews them; the simulated kubelet's nodes are live).

use std::sync::atomic::Ordering;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::{ControlPlane, Error, Result};

/// Added by the NodeTaint admission plugin to every new Node; the node lifecycle controller
/// removes it once Ready=True, but without a controller manager nobody would.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

fn now() -> Result<Value> {
    Ok(serde_json::to_value(Time(
        k8s_openapi::jiff::Timestamp::now(),
    ))?)
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, now: &Value) -> Value {
    json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    })
}

impl ControlPlane {
    /// Creates `n` Ready nodes named `node-<i>`, numbered on from earlier calls (so the first
    /// call on a fresh control plane gives `node-0`, `node-1`, ...), and returns their names.
    ///
    /// Each has the labels `kubernetes.io/hostname`, `kubernetes.io/os=linux`,
    /// `kubernetes.io/arch=amd64` and `node-role.kubernetes.io/worker=""`; capacity and
    /// allocatable `cpu`, `memory` (Kubernetes quantities such as `"4"` and `"8Gi"`) and
    /// `pods=110`; Ready=True and no pressure conditions (written through the `status`
    /// subresource); `nodeInfo.kubeletVersion` `v1.20.2`. Nothing renews their status, which
    /// is why the controller manager runs with `--node-monitor-grace-period=1h`.
    pub async fn add_nodes(&self, n: usize, cpu: &str, memory: &str) -> Result<Vec<String>> {
        let api: Api<Node> = Api::all(self.client().await?);
        let mut names = Vec::with_capacity(n);
        while names.len() < n {
            let index = self.next_node.fetch_add(1, Ordering::Relaxed);
            let name = format!("node-{index}");
            let node: Node = serde_json::from_value(json!({
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "beta.kubernetes.io/os": "linux",
                        "beta.kubernetes.io/arch": "amd64",
                        "node-role.kubernetes.io/worker": "",
                    },
                },
            }))?;
            match api.create(&PostParams::default(), &node).await {
                Ok(_) => {}
                // Someone created this name by hand: take the next number.
                Err(kube::Error::Api(status)) if status.is_already_exists() => continue,
                Err(e) => return Err(e.into()),
            }
            let now = now()?;
            let resources = json!({
                "cpu": cpu,
                "memory": memory,
                "pods": "110",
                "ephemeral-storage": "100Gi",
            });
            let status = json!({
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "conditions": [
                        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", &now),
                        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", &now),
                        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", &now),
                        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", &now),
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": format!("10.1.{}.{}", index / 250 % 250, index % 250 + 1)},
                        {"type": "Hostname", "address": name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                    "nodeInfo": {
                        "architecture": "amd64",
                        "bootID": format!("kaptain-boot-{index}"),
                        "containerRuntimeVersion": "containerd://1.4.3",
                        "kernelVersion": "5.10.0-kaptain",
                        "kubeProxyVersion": "v1.20.2",
                        "kubeletVersion": "v1.20.2",
                        "machineID": format!("kaptain-machine-{index}"),
                        "operatingSystem": "linux",
                        "osImage": "Kaptain simulated node",
                        "systemUUID": format!("kaptain-uuid-{index}"),
                    },
                },
            });
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await?;
            remove_taint(&api, &name, NOT_READY_TAINT).await?;
            names.push(name);
        }
        Ok(names)
    }

    /// Sets one condition of a node through the `status` subresource (strategic merge by
    /// `type`, so other conditions stay): e.g. `("node-0", "Ready", "False",
    /// "KubeletNotReady", "container runtime is down")` or `("node-1", "MemoryPressure",
    /// "True", "KubeletHasInsufficientMemory", "...")`. `lastHeartbeatTime` is now;
    /// `lastTransitionTime` is now only when the status changes. The node lifecycle
    /// controller reacts as in a real cluster (NoSchedule/NoExecute taints).
    pub async fn set_node_condition(
        &self,
        node: &str,
        type_: &str,
        status: &str,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        if !matches!(status, "True" | "False" | "Unknown") {
            return Err(Error::Invalid(format!(
                "condition status {status:?}: use True, False or Unknown"
            )));
        }
        let api: Api<Node> = Api::all(self.client().await?);
        let current = api.get(node).await?;
        let now = now()?;
        let previous = current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == type_);
        let mut cond = condition(type_, status, reason, message, &now);
        if let Some(t) = previous
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time)
        {
            cond["lastTransitionTime"] = serde_json::to_value(t)?;
        }
        let patch = json!({"status": {"conditions": [cond]}});
        api.patch_status(node, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;
        Ok(())
    }
}

/// Removes every taint with `key` (optimistic concurrency: retried on conflicts, since the
/// node lifecycle controller edits taints too).
pub(crate) async fn remove_taint(api: &Api<Node>, name: &str, key: &str) -> Result<()> {
    let mut attempts = 0;
    loop {
        let node = api.get(name).await?;
        let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
        if !taints.iter().any(|t| t.key == key) {
            return Ok(());
        }
        let kept: Vec<_> = taints.into_iter().filter(|t| t.key != key).collect();
        let patch = json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"taints": kept},
        });
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.is_conflict() && attempts < 20 => {
                attempts += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
