//! Starting a container: the env it needs, pulling its image (or finding it present, or
//! backing off), then creating and starting it.

use std::time::Duration;

use super::container::{Backoff, Ctr, Instance, Stage};
use super::{BACKOFF_MAX, BACKOFF_START, CONFIG_GRACE, PodFacts, SYNC_RETRY, SyncCtx};
use crate::sim::image::{self, ImageRef};
use crate::sim::spec::{Behaviour, PullPolicy};
use crate::sim::util::{go_duration, hash64, hex64};

impl Ctr {
    /// Pulls the image (or finds it present) and creates the container. Returns whether the
    /// stage moved on (so `drive` should continue).
    pub(super) fn try_create(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        let now = cx.now;
        // A reference the config watch may not have delivered yet: wait a moment, quietly.
        if cx.configs.env_error(pod.ns, &self.spec.env).is_some() {
            cx.blocked = true;
            let since = *self.config_missing_since.get_or_insert(now);
            if now < since + CONFIG_GRACE {
                cx.wake_at(since + CONFIG_GRACE);
                return false;
            }
        } else {
            self.config_missing_since = None;
        }
        let image = self.spec.image.clone();
        let reference = match image::parse(&image) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("Failed to apply default image tag \"{image}\": {e}");
                self.event(cx, true, "InspectFailed", message.clone());
                self.event(cx, true, "Failed", "Error: InvalidImageName".into());
                self.retry_later(cx, "InvalidImageName", message);
                return false;
            }
        };
        let present = cx.images.contains(&image);
        let pull = match self.spec.pull_policy {
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Never if present => false,
            PullPolicy::Never => {
                let message =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.event(cx, true, "ErrImageNeverPull", message.clone());
                self.event(cx, true, "Failed", "Error: ErrImageNeverPull".into());
                self.retry_later(cx, "ErrImageNeverPull", message);
                return false;
            }
        };
        if !pull {
            self.event(
                cx,
                false,
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            );
            self.image_id = Some(reference.image_id());
            return self.create(pod, cx);
        }
        if let Some(b) = self.pull_backoff
            && now < b.updated + b.delay
        {
            let message = format!("Back-off pulling image \"{image}\"");
            self.event(cx, false, "BackOff", message.clone());
            self.event(cx, true, "Failed", "Error: ImagePullBackOff".into());
            self.waiting = Some(("ImagePullBackOff", Some(message)));
            let at = b.updated + b.delay;
            self.stage = Stage::Create { at };
            cx.wake_at(at);
            return false;
        }
        self.event(cx, false, "Pulling", format!("Pulling image \"{image}\""));
        // 300–700 ms, stable per image, with nanoseconds so the message looks measured.
        let h = hash64(&[&image]);
        let took = Duration::from_millis(300 + h % 400) + Duration::from_nanos(h % 1_000_000);
        self.stage = Stage::Pull {
            at: now + took,
            began: now,
            result: reference.pull(),
        };
        true
    }

    pub(super) fn finish_pull(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        let Stage::Pull { began, result, .. } = &self.stage else {
            return false;
        };
        let (began, result) = (*began, result.clone());
        let image = self.spec.image.clone();
        match result {
            Ok(()) => {
                let took = cx.now.saturating_duration_since(began);
                self.event(
                    cx,
                    false,
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {}",
                        go_duration(took)
                    ),
                );
                cx.images.insert(image.clone());
                self.pull_backoff = None;
                self.image_id = image::parse(&image).ok().map(|r: ImageRef| r.image_id());
                self.create(pod, cx)
            }
            Err(e) => {
                self.event(
                    cx,
                    true,
                    "Failed",
                    format!("Failed to pull image \"{image}\": {e}"),
                );
                self.event(cx, true, "Failed", "Error: ErrImagePull".into());
                Backoff::next(
                    &mut self.pull_backoff,
                    cx.now,
                    cx.backoff(BACKOFF_START),
                    cx.backoff(BACKOFF_MAX),
                );
                let delay = self.pull_backoff.map_or(SYNC_RETRY, |b| b.delay);
                self.waiting = Some(("ErrImagePull", Some(e)));
                // The next sync finds the pull in back-off (ImagePullBackOff); the one after
                // the back-off pulls again.
                let at = cx.now + delay / 2;
                self.stage = Stage::Create { at };
                cx.wake_at(at);
                false
            }
        }
    }

    /// Generates the container config (env) and starts it.
    fn create(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        if let Some(e) = cx.configs.env_error(pod.ns, &self.spec.env) {
            cx.blocked = true;
            self.event(cx, true, "Failed", format!("Error: {e}"));
            self.retry_later(cx, "CreateContainerConfigError", e);
            return false;
        }
        let now = cx.now;
        let nanos = cx.clock.wall(now).as_nanosecond().to_string();
        let id = format!(
            "sim://{}",
            hex64(&[pod.uid, &self.spec.name, &self.restarts.to_string(), &nanos])
        );
        self.event(
            cx,
            false,
            "Created",
            format!("Created container {}", self.spec.name),
        );
        self.event(
            cx,
            false,
            "Started",
            format!("Started container {}", self.spec.name),
        );
        if self.current.is_some() || self.last.is_some() {
            self.restarts += 1;
        }
        if let Some(previous) = self.current.take() {
            self.last = Some(previous);
        }
        let behaviour = Behaviour::of(pod.annotations, &self.spec.name);
        self.current = Some(Instance {
            id,
            started: now,
            logs: behaviour.logs,
            exit: None,
        });
        self.waiting = None;
        self.stage = Stage::Running;
        self.ready = false;
        self.started_flag = false;
        self.ready_probe_at = None;
        self.ready_failures = 0;
        self.live_probe_at = None;
        self.live_failures = 0;
        true
    }
}
