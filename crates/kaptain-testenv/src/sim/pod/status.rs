//! The status the kubelet (v1.20) writes: each container's `ContainerStatus`, the pod's
//! phase (`getPhase`) and conditions, as the strategic-merge patch of `pods/status`.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::container::{Ctr, Instance, Stage};
use super::{Clock, SimPod};
use crate::sim::image;
use crate::sim::spec::RestartPolicy;
use crate::sim::util::time;

/// What `getPhase` needs of a container status.
enum Summary {
    Running,
    Terminated(i32),
    Waiting { last_exit: Option<i32> },
}

/// A pod condition as `status.Generate*Condition` returns it.
struct Cond {
    status: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
}

impl Ctr {
    fn summary(&self) -> Summary {
        let exit_code =
            |i: &Option<Instance>| i.as_ref().and_then(|i| i.exit.as_ref()).map(|e| e.code);
        match self.stage {
            Stage::Running => Summary::Running,
            Stage::Exited { restart_at: None } => {
                Summary::Terminated(exit_code(&self.current).unwrap_or(0))
            }
            Stage::Exited {
                restart_at: Some(_),
            } => Summary::Waiting {
                last_exit: exit_code(&self.current),
            },
            Stage::Create { .. } | Stage::Pull { .. } => Summary::Waiting {
                last_exit: exit_code(&self.last),
            },
        }
    }

    fn status_ready(&self) -> bool {
        if self.init {
            self.completed()
        } else {
            self.is_running() && self.ready
        }
    }

    /// The image as the runtime reports it.
    fn status_image(&self) -> String {
        image::parse(&self.spec.image)
            .map(|r| r.with_default_tag())
            .unwrap_or_else(|_| self.spec.image.clone())
    }

    /// The kubelet's `ContainerStatus` for this container.
    fn status(&self, clock: &Clock, has_init: bool) -> Value {
        let terminated = |i: &Instance| -> Value {
            let Some(exit) = &i.exit else {
                return json!({});
            };
            json!({"terminated": {
                "exitCode": exit.code,
                "reason": exit.reason,
                "startedAt": time(clock.wall(i.started)),
                "finishedAt": time(clock.wall(exit.finished)),
                "containerID": i.id,
            }})
        };
        let waiting = |default: &'static str| -> Value {
            let (reason, message) = self
                .waiting
                .as_ref()
                .map_or((default, None), |(r, m)| (*r, m.as_deref()));
            match message {
                Some(m) => json!({"waiting": {"reason": reason, "message": m}}),
                None => json!({"waiting": {"reason": reason}}),
            }
        };
        let default_reason = if has_init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        let (state, last_state, container_id) = match &self.stage {
            Stage::Running => {
                let cur = self.current.as_ref();
                (
                    cur.map_or_else(
                        || json!({}),
                        |i| json!({"running": {"startedAt": time(clock.wall(i.started))}}),
                    ),
                    self.last.as_ref().map_or_else(|| json!({}), terminated),
                    cur.map(|i| i.id.clone()),
                )
            }
            Stage::Exited { restart_at: None } => (
                self.current.as_ref().map_or_else(|| json!({}), terminated),
                self.last.as_ref().map_or_else(|| json!({}), terminated),
                self.current.as_ref().map(|i| i.id.clone()),
            ),
            Stage::Exited {
                restart_at: Some(_),
            } => (
                waiting("CrashLoopBackOff"),
                self.current.as_ref().map_or_else(|| json!({}), terminated),
                self.current.as_ref().map(|i| i.id.clone()),
            ),
            Stage::Create { .. } | Stage::Pull { .. } => (
                waiting(default_reason),
                self.last.as_ref().map_or_else(|| json!({}), terminated),
                self.last.as_ref().map(|i| i.id.clone()),
            ),
        };
        let mut status = json!({
            "name": self.spec.name,
            "state": state,
            "lastState": last_state,
            "ready": self.status_ready(),
            "restartCount": self.restarts,
            "image": self.status_image(),
            "imageID": self.image_id.clone().unwrap_or_default(),
        });
        // The prober sets `started` for app containers only.
        if !self.init {
            status["started"] = json!(self.is_running() && self.started_flag);
        }
        if let Some(id) = container_id {
            status["containerID"] = json!(id);
        }
        status
    }
}

impl SimPod {
    /// `getPhase` of the kubelet.
    fn phase(&self) -> &'static str {
        if let Some(p) = self.terminal {
            return p;
        }
        let mut pending_init = 0;
        let mut failed_init = 0;
        for c in &self.init {
            match c.summary() {
                Summary::Running => pending_init += 1,
                Summary::Terminated(code) => {
                    if code != 0 {
                        failed_init += 1;
                    }
                }
                Summary::Waiting {
                    last_exit: Some(code),
                } => {
                    if code != 0 {
                        failed_init += 1;
                    }
                }
                Summary::Waiting { last_exit: None } => pending_init += 1,
            }
        }
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for c in &self.main {
            match c.summary() {
                Summary::Running => running += 1,
                Summary::Terminated(code) => {
                    stopped += 1;
                    if code == 0 {
                        succeeded += 1;
                    }
                }
                Summary::Waiting { last_exit: Some(_) } => stopped += 1,
                Summary::Waiting { last_exit: None } => waiting += 1,
            }
        }
        if failed_init > 0 && self.restart_policy == RestartPolicy::Never {
            return "Failed";
        }
        if pending_init > 0 || waiting > 0 {
            return "Pending";
        }
        if running > 0 {
            return "Running";
        }
        if stopped > 0 {
            if self.restart_policy == RestartPolicy::Always {
                return "Running";
            }
            if stopped == succeeded {
                return "Succeeded";
            }
            if self.restart_policy == RestartPolicy::Never {
                return "Failed";
            }
            return "Running";
        }
        "Pending"
    }

    fn initialized_condition(&self, phase: &str) -> Cond {
        if phase == "Succeeded" {
            return Cond {
                status: "True",
                reason: Some("PodCompleted"),
                message: None,
            };
        }
        let unready: Vec<&str> = self
            .init
            .iter()
            .filter(|c| !c.status_ready())
            .map(|c| c.spec.name.as_str())
            .collect();
        if unready.is_empty() {
            Cond {
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                status: "False",
                reason: Some("ContainersNotInitialized"),
                message: Some(format!(
                    "containers with incomplete status: [{}]",
                    unready.join(" ")
                )),
            }
        }
    }

    fn containers_ready_condition(&self, phase: &str) -> Cond {
        if phase == "Succeeded" {
            return Cond {
                status: "False",
                reason: Some("PodCompleted"),
                message: None,
            };
        }
        let unready: Vec<&str> = self
            .main
            .iter()
            .filter(|c| !c.status_ready())
            .map(|c| c.spec.name.as_str())
            .collect();
        if unready.is_empty() {
            Cond {
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                status: "False",
                reason: Some("ContainersNotReady"),
                message: Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            }
        }
    }

    fn ready_condition(&self, containers_ready: &Cond) -> Cond {
        if containers_ready.status != "True" {
            return Cond {
                status: containers_ready.status,
                reason: containers_ready.reason,
                message: containers_ready.message.clone(),
            };
        }
        let mut unready = Vec::new();
        for gate in &self.readiness_gates {
            match self.foreign_conditions.iter().find(|(t, _)| t == gate) {
                None => unready.push(format!(
                    "corresponding condition of pod readiness gate \"{gate}\" does not exist."
                )),
                Some((_, s)) if s != "True" => unready.push(format!(
                    "the status of pod readiness gate \"{gate}\" is not \"True\", but {s}"
                )),
                Some(_) => {}
            }
        }
        if unready.is_empty() {
            Cond {
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                status: "False",
                reason: Some("ReadinessGatesNotReady"),
                message: Some(unready.join(", ")),
            }
        }
    }

    fn condition_json(&mut self, type_: &'static str, c: Cond, now: Timestamp) -> Value {
        let since = match self.cond_since.get(type_) {
            Some((status, since)) if status == c.status => *since,
            _ => {
                self.cond_since.insert(type_, (c.status.to_owned(), now));
                now
            }
        };
        json!({
            "type": type_,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "lastProbeTime": null,
            "lastTransitionTime": time(since),
        })
    }

    /// The strategic-merge patch of `pods/status` the kubelet's status manager sends.
    pub(super) fn status(&mut self, now: Timestamp, clock: &Clock) -> Value {
        let phase = self.phase();
        if matches!(phase, "Succeeded" | "Failed") {
            self.terminal = Some(phase);
        }
        let initialized = self.initialized_condition(phase);
        let containers_ready = self.containers_ready_condition(phase);
        let ready = self.ready_condition(&containers_ready);
        let mut conditions = vec![
            self.condition_json("Initialized", initialized, now),
            self.condition_json("Ready", ready, now),
            self.condition_json("ContainersReady", containers_ready, now),
        ];
        let mut scheduled = json!({"type": "PodScheduled", "status": "True"});
        if !self.has_scheduled_condition {
            scheduled["lastProbeTime"] = Value::Null;
            scheduled["lastTransitionTime"] = json!(time(now));
        }
        conditions.push(scheduled);
        let has_init = !self.init.is_empty();
        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": crate::sim::node::NODE_IP,
            "containerStatuses": self.main.iter().map(|c| c.status(clock, has_init)).collect::<Vec<_>>(),
        });
        if let Some(t) = self.start_time {
            status["startTime"] = json!(time(clock.wall(t)));
        }
        if has_init {
            status["initContainerStatuses"] = self
                .init
                .iter()
                .map(|c| c.status(clock, has_init))
                .collect();
        }
        if let Some((ip, _)) = &self.ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        json!({"metadata": {"uid": self.uid}, "status": status})
    }
}
