//! The kubelet's event recorder: core/v1 Events with source `kubelet`, repeats of the same
//! (object, reason, message) folded into `count` / `lastTimestamp` like client-go's event
//! logger does.
//!
//! Events are sharded by involved object over a few tasks, each owning its aggregation state
//! and writing sequentially, so an event is always created before it is patched.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::util::time;

const SHARDS: usize = 8;
/// Per shard; beyond it events are dropped (the real broadcaster drops too when overloaded).
const QUEUE: usize = 20_000;

/// One event to record.
#[derive(Debug, Clone)]
pub(crate) struct EventRecord {
    /// Namespace the Event object goes to (`default` for nodes).
    pub namespace: String,
    /// Name of the involved object (the Event's name is `<name>.<hex nanos>`).
    pub object_name: String,
    /// UID of the involved object (aggregation key, and what `forget` drops).
    pub object_uid: String,
    /// The complete `involvedObject`.
    pub involved: Value,
    pub field_path: Option<String>,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    pub host: String,
    pub at: Timestamp,
}

enum Msg {
    Record(Box<EventRecord>),
    Forget(String),
}

/// Hash of (object UID, field path, reason, message, type): what makes events "the same".
fn key(r: &EventRecord) -> u64 {
    let mut h = DefaultHasher::new();
    (
        &r.object_uid,
        &r.field_path,
        r.reason,
        &r.message,
        r.warning,
    )
        .hash(&mut h);
    h.finish()
}

struct Seen {
    namespace: String,
    name: String,
    count: i32,
}

/// Handle to the recorder tasks.
#[derive(Clone)]
pub(crate) struct EventSink {
    shards: Vec<mpsc::Sender<Msg>>,
}

impl EventSink {
    /// Starts the shard tasks on the current runtime.
    pub fn start(client: &kube::Client) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(shard(client.clone(), rx));
                tx
            })
            .collect();
        Self { shards }
    }

    fn shard(&self, uid: &str) -> &mpsc::Sender<Msg> {
        let mut h = DefaultHasher::new();
        uid.hash(&mut h);
        let i = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    pub fn record(&self, record: EventRecord) {
        let shard = self.shard(&record.object_uid);
        if shard.try_send(Msg::Record(Box::new(record))).is_err() {
            tracing::debug!("simulated kubelet: event queue full, dropping an event");
        }
    }

    /// Drops the aggregation state of an object that is gone.
    pub fn forget(&self, uid: &str) {
        let _ = self.shard(uid).try_send(Msg::Forget(uid.to_owned()));
    }
}

async fn shard(client: kube::Client, mut rx: mpsc::Receiver<Msg>) {
    let mut seen: HashMap<u64, Seen> = HashMap::new();
    let mut by_uid: HashMap<String, Vec<u64>> = HashMap::new();
    let mut last_nanos: i128 = 0;
    while let Some(msg) = rx.recv().await {
        let r = match msg {
            Msg::Record(r) => r,
            Msg::Forget(uid) => {
                for key in by_uid.remove(&uid).unwrap_or_default() {
                    seen.remove(&key);
                }
                continue;
            }
        };
        let key = key(&r);
        let api: Api<Event> = Api::namespaced(client.clone(), &r.namespace);
        if let Some(s) = seen.get_mut(&key) {
            s.count += 1;
            let patch = json!({
                "count": s.count,
                "lastTimestamp": time(r.at),
                "message": r.message,
            });
            match api
                .patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => continue,
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    // Expired (events have a TTL): create it again under its name.
                    let body = event_json(&r, &s.name, s.count, &s.namespace);
                    create(&api, body).await;
                }
                Err(e) => tracing::debug!(error = %e, "simulated kubelet: patching an event"),
            }
            continue;
        }
        // `<object>.<hex unix nanos>` like client-go, unique per shard.
        let mut nanos = r.at.as_nanosecond();
        if nanos <= last_nanos {
            nanos = last_nanos + 1;
        }
        last_nanos = nanos;
        let name = format!("{}.{:x}", r.object_name, nanos);
        create(&api, event_json(&r, &name, 1, &r.namespace)).await;
        by_uid.entry(r.object_uid.clone()).or_default().push(key);
        seen.insert(
            key,
            Seen {
                namespace: r.namespace.clone(),
                name,
                count: 1,
            },
        );
    }
}

fn event_json(r: &EventRecord, name: &str, count: i32, namespace: &str) -> Value {
    let mut involved = r.involved.clone();
    if let Some(fp) = &r.field_path {
        involved["fieldPath"] = json!(fp);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "reason": r.reason,
        "message": r.message,
        "source": {"component": "kubelet", "host": r.host},
        "firstTimestamp": time(r.at),
        "lastTimestamp": time(r.at),
        "count": count,
        "type": if r.warning { "Warning" } else { "Normal" },
        "reportingComponent": "",
        "reportingInstance": "",
    })
}

async fn create(api: &Api<Event>, body: Value) {
    let event: Event = match serde_json::from_value(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "simulated kubelet: building an event");
            return;
        }
    };
    match api.create(&PostParams::default(), &event).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => tracing::debug!(error = %e, "simulated kubelet: creating an event"),
    }
}
