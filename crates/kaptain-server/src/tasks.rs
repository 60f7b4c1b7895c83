//! The server's task queue: background work (diagnose runs today) with bounded concurrency,
//! a timeout per task and cancellation. `GET /api/v1/tasks` lists what is queued and running;
//! `POST /api/v1/tasks/{id}/cancel` stops one.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use utoipa::ToSchema;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a free worker.
    Queued,
    Running,
}

/// A queued or running task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskInfo {
    pub id: u64,
    /// What it does: `diagnose`.
    pub kind: String,
    /// The cluster it works on.
    pub cluster: String,
    /// The diagnose run it carries out, if any.
    pub run_id: Option<i64>,
    pub state: TaskState,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    /// It is stopped after this many seconds of running.
    pub timeout_secs: u64,
    /// Who asked for it.
    pub requested_by: String,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    TimedOut(Duration),
    Cancelled,
}

struct Entry {
    info: TaskInfo,
    abort: Option<AbortHandle>,
}

/// The queue. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    entries: Arc<Mutex<BTreeMap<u64, Entry>>>,
    next: Arc<AtomicU64>,
    workers: Arc<Semaphore>,
    capacity: usize,
}

impl Tasks {
    /// A queue running at most `workers` tasks at once.
    pub fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        Tasks {
            entries: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            workers: Arc::new(Semaphore::new(workers)),
            capacity: workers,
        }
    }

    /// Workers of the queue.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // inserts/removes), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `work`; `finish` runs afterwards with how it ended (also when it timed out or
    /// was cancelled, so the caller can record that).
    pub fn spawn<W, F, FF>(
        &self,
        mut info: TaskInfo,
        timeout: Duration,
        work: W,
        finish: F,
    ) -> TaskInfo
    where
        W: Future<Output = ()> + Send + 'static,
        F: FnOnce(Outcome) -> FF + Send + 'static,
        FF: Future<Output = ()> + Send + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        info.id = id;
        info.state = TaskState::Queued;
        info.timeout_secs = timeout.as_secs();
        self.lock().insert(
            id,
            Entry {
                info: info.clone(),
                abort: None,
            },
        );
        let tasks = self.clone();
        let handle = tokio::spawn(async move {
            let permit = tasks.workers.clone().acquire_owned().await;
            if let Some(e) = tasks.lock().get_mut(&id) {
                e.info.state = TaskState::Running;
                e.info.started_at = Some(Timestamp::now());
            }
            let outcome = match tokio::time::timeout(timeout, work).await {
                Ok(()) => Outcome::Done,
                Err(_) => Outcome::TimedOut(timeout),
            };
            drop(permit);
            tasks.lock().remove(&id);
            finish(outcome).await;
        });
        if let Some(e) = self.lock().get_mut(&id) {
            e.abort = Some(handle.abort_handle());
        }
        info
    }

    /// Every queued and running task, oldest first.
    pub fn list(&self) -> Vec<TaskInfo> {
        self.lock().values().map(|e| e.info.clone()).collect()
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.lock()
            .values()
            .filter(|e| e.info.state == TaskState::Queued)
            .count()
    }

    /// Stops task `id`; returns it, or `None` when there is no such task (it may have ended).
    pub fn cancel(&self, id: u64) -> Option<TaskInfo> {
        let entry = self.lock().remove(&id)?;
        if let Some(abort) = entry.abort {
            abort.abort();
        }
        Some(entry.info)
    }

    /// The task with `id`.
    pub fn get(&self, id: u64) -> Option<TaskInfo> {
        self.lock().get(&id).map(|e| e.info.clone())
    }
}

impl TaskInfo {
    /// A task to queue (`id`, `state` and `timeout_secs` are set by [`Tasks::spawn`]).
    pub fn new(kind: &str, cluster: &str, run_id: Option<i64>, requested_by: &str) -> Self {
        TaskInfo {
            id: 0,
            kind: kind.to_owned(),
            cluster: cluster.to_owned(),
            run_id,
            state: TaskState::Queued,
            created_at: Timestamp::now(),
            started_at: None,
            timeout_secs: 0,
            requested_by: requested_by.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn runs_times_out_and_cancels() {
        let tasks = Tasks::new(1);
        let (tx, rx) = oneshot::channel();
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let first = tasks.spawn(
            TaskInfo::new("diagnose", "a", Some(1), "t"),
            Duration::from_secs(60),
            async move {
                let _ = gate_rx.await;
            },
            move |o| async move {
                let _ = tx.send(o);
            },
        );
        // One worker: the second waits in the queue.
        let (tx2, rx2) = oneshot::channel();
        let second = tasks.spawn(
            TaskInfo::new("diagnose", "b", Some(2), "t"),
            Duration::from_millis(50),
            std::future::pending::<()>(),
            move |o| async move {
                let _ = tx2.send(o);
            },
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            tasks.get(first.id).map(|t| t.state),
            Some(TaskState::Running)
        );
        assert_eq!(
            tasks.get(second.id).map(|t| t.state),
            Some(TaskState::Queued)
        );
        assert_eq!(tasks.queued(), 1);
        let _ = gate_tx.send(());
        assert_eq!(rx.await.ok(), Some(Outcome::Done));
        assert!(matches!(rx2.await.ok(), Some(Outcome::TimedOut(_))));
        assert!(tasks.list().is_empty());

        let third = tasks.spawn(
            TaskInfo::new("diagnose", "c", None, "t"),
            Duration::from_secs(60),
            std::future::pending::<()>(),
            |_| async {},
        );
        assert!(tasks.cancel(third.id).is_some());
        assert!(tasks.cancel(third.id).is_none());
        assert!(tasks.list().is_empty());
    }
}
