//! What the log endpoint serves for a container: the log lines of its current or previous
//! run, or the kubelet's error when there is none yet.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::container::{Ctr, Instance, Stage};
use super::{Clock, SimPod};

impl Ctr {
    /// The log lines (timestamp, text) of `instance`.
    fn log_lines(&self, instance: &Instance, clock: &Clock) -> Vec<(Timestamp, String)> {
        let start = clock.wall(instance.started);
        let mut lines: Vec<(Timestamp, String)> = instance
            .logs
            .as_deref()
            .unwrap_or("")
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let at = start
                    .checked_add(Duration::from_millis(u64::try_from(i).unwrap_or(0) + 1))
                    .unwrap_or(start);
                (at, l.to_owned())
            })
            .collect();
        if let Some(exit) = &instance.exit
            && let Some(note) = &exit.note
        {
            lines.push((clock.wall(exit.finished), note.clone()));
        }
        lines
    }

    /// Logs as the kubelet's `validateContainerLogStatus` picks the container: `Err` is
    /// (HTTP status, message).
    pub fn logs(
        &self,
        pod_name: &str,
        previous: bool,
        clock: &Clock,
    ) -> Result<Vec<(Timestamp, String)>, (u16, String)> {
        let name = &self.spec.name;
        let bad = |m: String| Err((400, m));
        // `lastState` and `state` as the status shows them.
        let (state_instance, last_instance) = match &self.stage {
            Stage::Running | Stage::Exited { restart_at: None } => {
                (self.current.as_ref(), self.last.as_ref())
            }
            Stage::Exited {
                restart_at: Some(_),
            } => (None, self.current.as_ref()),
            Stage::Create { .. } | Stage::Pull { .. } => (None, self.last.as_ref()),
        };
        if previous {
            return match last_instance {
                Some(i) if i.exit.is_some() => Ok(self.log_lines(i, clock)),
                _ => bad(format!(
                    "previous terminated container \"{name}\" in pod \"{pod_name}\" not found"
                )),
            };
        }
        if let Some(i) = state_instance {
            return Ok(self.log_lines(i, clock));
        }
        if let Some(i) = last_instance.filter(|i| i.exit.is_some()) {
            return Ok(self.log_lines(i, clock));
        }
        let reason = self
            .waiting
            .as_ref()
            .map_or("ContainerCreating", |(r, _)| *r);
        match reason {
            "ErrImagePull" => bad(format!(
                "container \"{name}\" in pod \"{pod_name}\" is waiting to start: image can't be pulled"
            )),
            "ImagePullBackOff" => bad(format!(
                "container \"{name}\" in pod \"{pod_name}\" is waiting to start: trying and failing to pull image"
            )),
            other => bad(format!(
                "container \"{name}\" in pod \"{pod_name}\" is waiting to start: {other}"
            )),
        }
    }
}

impl SimPod {
    /// Logs of `container` (see [`Ctr::logs`]).
    pub fn logs(
        &self,
        container: &str,
        previous: bool,
        clock: &Clock,
    ) -> Result<Vec<(Timestamp, String)>, (u16, String)> {
        match self
            .main
            .iter()
            .chain(&self.init)
            .find(|c| c.spec.name == container)
        {
            Some(c) => c.logs(&self.name, previous, clock),
            None => Err((
                400,
                format!(
                    "container \"{container}\" in pod \"{}\" is not available",
                    self.name
                ),
            )),
        }
    }
}
