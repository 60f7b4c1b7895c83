//! Writes pod statuses and deletions to the API server from a keyed work queue (like
//! client-go's workqueue): one pending job per pod, the newest replacing an unsent one, never
//! two requests for the same pod at once, a fixed number of workers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::Value;
use tokio::sync::Notify;

const WORKERS: usize = 16;
const RETRY_AFTER: Duration = Duration::from_secs(1);
const MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// Strategic-merge patch of `pods/status`.
    Status {
        ns: String,
        name: String,
        patch: Value,
    },
    /// Delete with grace period 0, on the pod's UID.
    Delete {
        ns: String,
        name: String,
        uid: String,
    },
}

#[derive(Default)]
struct State {
    pending: HashMap<String, (Job, u32)>,
    order: VecDeque<String>,
    busy: HashSet<String>,
}

#[derive(Default)]
pub(crate) struct WorkQueue {
    state: Mutex<State>,
    notify: Notify,
}

impl WorkQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job` for pod `key` (its UID); a pending deletion is never replaced.
    pub fn push(&self, key: &str, job: Job) {
        self.push_attempt(key, job, 0);
    }

    fn push_attempt(&self, key: &str, job: Job, attempts: u32) {
        let mut s = self.lock();
        if let Some((Job::Delete { .. }, _)) = s.pending.get(key) {
            return;
        }
        let fresh = s.pending.insert(key.to_owned(), (job, attempts)).is_none();
        if fresh && !s.busy.contains(key) {
            s.order.push_back(key.to_owned());
            drop(s);
            self.notify.notify_one();
        }
    }

    async fn next(&self) -> (String, Job, u32) {
        loop {
            {
                let mut s = self.lock();
                while let Some(key) = s.order.pop_front() {
                    if let Some((job, attempts)) = s.pending.remove(&key) {
                        s.busy.insert(key.clone());
                        return (key, job, attempts);
                    }
                }
            }
            self.notify.notified().await;
        }
    }

    fn done(&self, key: &str) {
        let mut s = self.lock();
        s.busy.remove(key);
        if s.pending.contains_key(key) {
            s.order.push_back(key.to_owned());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Puts a failed job back unless a newer one is already waiting.
    fn retry(&self, key: &str, job: Job, attempts: u32) {
        {
            let mut s = self.lock();
            if !s.pending.contains_key(key) {
                s.pending.insert(key.to_owned(), (job, attempts));
            }
        }
        self.done(key);
    }

    /// Starts the workers on the current runtime.
    pub fn start(self: &Arc<Self>, client: &kube::Client) {
        for _ in 0..WORKERS {
            tokio::spawn(worker(self.clone(), client.clone()));
        }
    }
}

async fn worker(queue: Arc<WorkQueue>, client: kube::Client) {
    loop {
        let (key, job, attempts) = queue.next().await;
        let outcome = match &job {
            Job::Status { ns, name, patch } => {
                let api: Api<Pod> = Api::namespaced(client.clone(), ns);
                api.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await
                    .map(drop)
            }
            Job::Delete { ns, name, uid } => {
                let api: Api<Pod> = Api::namespaced(client.clone(), ns);
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                api.delete(name, &params).await.map(drop)
            }
        };
        match outcome {
            Ok(()) => queue.done(&key),
            // Gone, or replaced by a pod of the same name (UID precondition): nothing to do.
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => queue.done(&key),
            Err(kube::Error::Api(e)) if e.code == 422 || e.code == 400 => {
                tracing::warn!(pod = %key, error = %e.message, "simulated kubelet: rejected write");
                queue.done(&key);
            }
            Err(e) if attempts + 1 < MAX_ATTEMPTS => {
                tracing::debug!(pod = %key, error = %e, "simulated kubelet: write failed, retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                queue.retry(&key, job, attempts + 1);
            }
            Err(e) => {
                tracing::warn!(pod = %key, error = %e, "simulated kubelet: write failed, giving up");
                queue.done(&key);
            }
        }
    }
}
