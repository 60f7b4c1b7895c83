//! Keeping a [`ClusterIndex`] live: one kube reflector per kind the analyzers read (and per
//! watched namespace), objects trimmed as they arrive, every change and every watch failure
//! signalled to the owner, and a snapshot of the reflectors into a `ClusterIndex` on demand.
//!
//! The operator and the server both build on this: [`KindReflectors`] for the analyzer kinds,
//! [`Tasks::start`] for any other typed resource (Kaptain's CRDs, a ConfigMap), [`Signals`]
//! to wake up after changes and notice broken watches, [`readable`] to leave out kinds this
//! identity may not list.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kaptain_model::Skipped;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::live::flatten;
use crate::snapshot::KEEP_SECRET_KEYS;
use kaptain_index::ClusterIndex;
use kaptain_index::{AnyObject, Kind};

/// Builds an `Api` for either scope.
pub trait Scoped {
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = Self, DynamicType = ()>;
    const NAMESPACED: bool;
}

impl Scoped for NamespaceResourceScope {
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = Self, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }
    const NAMESPACED: bool = true;
}

impl Scoped for ClusterResourceScope {
    fn api<K>(client: Client, _namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = Self, DynamicType = ()>,
    {
        Api::all(client)
    }
    const NAMESPACED: bool = false;
}

/// Server-side timeout of every watch request, in seconds: the watcher's dead-connection
/// window is this plus 5 s, which must stay below a client's read timeout
/// ([`crate::live::connect`] sets 120 s) so that a quiet watch ends cleanly and is restarted
/// instead of failing.
pub const WATCH_TIMEOUT_SECS: u32 = 100;

use kaptain_index::UNREAD_EVENT_REASONS;

/// The watch configuration of a kind: Events without [`UNREAD_EVENT_REASONS`].
pub fn watch_config(kind: Kind) -> watcher::Config {
    match kind {
        Kind::Event => watcher::Config::default().fields(
            &UNREAD_EVENT_REASONS
                .iter()
                .map(|r| format!("reason!={r}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => watcher::Config::default(),
    }
}

/// Drops what no check reads and what is often the larger half of an object: managedFields
/// and the last-applied copy (which may also hold Secret values in plain text). Secret values
/// are emptied, except public certificates (`tls.crt`, `ca.crt`, which the certificate
/// checks read), as the snapshot writer redacts them: keys stay, so checks of missing keys
/// still work, and no Secret value is kept in memory.
pub fn strip<K: Resource + 'static>(o: &mut K) {
    o.managed_fields_mut().clear();
    o.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    let any: &mut dyn std::any::Any = o;
    if let Some(secret) = any.downcast_mut::<Secret>() {
        secret.string_data = None;
        for (k, v) in secret.data.iter_mut().flatten() {
            if !KEEP_SECRET_KEYS.contains(&k.as_str()) {
                v.0.clear();
            }
        }
    }
}

/// An error and its sources on one line (the first line of each), as the cluster sources
/// word them.
pub fn one_line(e: &dyn std::error::Error) -> String {
    flatten(e)
}

/// One-line, classified form of a watch failure, as [`crate::live`] classifies LIST errors:
/// 401 → [`Error::Unauthorized`], 403 → [`Error::Forbidden`], anything else →
/// [`Error::Unreachable`].
pub fn classify(context: Option<&str>, e: &watcher::Error) -> Error {
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref()),
        watcher::Error::WatchError(s) => Some(s.as_ref()),
        _ => None,
    };
    let context = context.map(str::to_string);
    match status {
        Some(s) if s.code == 401 => Error::Unauthorized { context },
        Some(s) if s.code == 403 => Error::Forbidden {
            context,
            message: s.message.clone(),
        },
        _ => Error::Unreachable {
            context,
            message: flatten(e),
        },
    }
}

/// What the reflectors tell their owner: a change happened (after the first full list of a
/// watch, and on every add/update/delete after it), or a watch failed. A failed watch retries
/// by itself (with backoff); its failure is cleared as soon as it yields again.
#[derive(Default)]
pub struct Signals {
    changed: Notify,
    failed: Notify,
    failures: Mutex<BTreeMap<String, String>>,
}

impl Signals {
    /// Notified (one permit) after every change.
    pub fn changed(&self) -> &Notify {
        &self.changed
    }

    /// Notified (one permit) after every watch failure.
    pub fn failed(&self) -> &Notify {
        &self.failed
    }

    /// The watches failing now, as `(watch, one-line error)`, e.g.
    /// `("v1 Pod", "cannot reach the cluster: ... Connection refused")`.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ok(&self, watch: &str) {
        let mut f = self.lock();
        if !f.is_empty() {
            f.remove(watch);
        }
    }

    fn fail(&self, watch: &str, error: String) {
        self.lock().insert(watch.to_string(), error);
        self.failed.notify_one();
    }
}

/// The objects of one kind as its reflectors hold them (one reflector per watched namespace,
/// or one for all).
pub struct Reflected<K: Resource<DynamicType = ()> + Clone + 'static> {
    readers: Vec<Store<K>>,
}

impl<K> Reflected<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// Every object held now.
    pub fn items(&self) -> Vec<Arc<K>> {
        self.readers.iter().flat_map(|s| s.state()).collect()
    }
}

/// The reflector tasks of one owner and their readiness. Dropping it stops every watch.
pub struct Tasks {
    handles: Vec<JoinHandle<()>>,
    pending: Arc<AtomicUsize>,
    signals: Arc<Signals>,
    context: Option<String>,
}

impl Tasks {
    /// `context` only labels errors (`cannot reach the cluster (context prod): ...`).
    pub fn new(signals: Arc<Signals>, context: Option<String>) -> Tasks {
        Tasks {
            handles: Vec::new(),
            pending: Arc::new(AtomicUsize::new(0)),
            signals,
            context,
        }
    }

    pub fn signals(&self) -> &Arc<Signals> {
        &self.signals
    }

    /// Whether every watch has listed once.
    pub fn is_ready(&self) -> bool {
        self.pending.load(Ordering::SeqCst) == 0
    }

    /// Starts a reflector of `K` over `namespaces` (all when empty or cluster-scoped).
    /// Objects are [`strip`]ped as they arrive. Without a timeout in `cfg`, watches use
    /// [`WATCH_TIMEOUT_SECS`].
    pub fn start<K>(
        &mut self,
        client: &Client,
        namespaces: &[String],
        mut cfg: watcher::Config,
    ) -> Reflected<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::Scope: Scoped,
    {
        if cfg.timeout.is_none() {
            cfg = cfg.timeout(WATCH_TIMEOUT_SECS);
        }
        let scopes: Vec<Option<&str>> =
            if !<K::Scope as Scoped>::NAMESPACED || namespaces.is_empty() {
                vec![None]
            } else {
                namespaces.iter().map(|n| Some(n.as_str())).collect()
            };
        let mut stores = Vec::new();
        for ns in scopes {
            let api = <K::Scope as Scoped>::api::<K>(client.clone(), ns);
            let (reader, writer) = reflector::store();
            let stream = reflector::reflector(
                writer,
                watcher(api, cfg.clone())
                    .default_backoff()
                    .modify(strip::<K>),
            );
            let signals = self.signals.clone();
            let context = self.context.clone();
            let label = match ns {
                Some(ns) => format!("{} {} in {ns}", K::api_version(&()), K::kind(&())),
                None => format!("{} {}", K::api_version(&()), K::kind(&())),
            };
            self.handles.push(tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(ev) = stream.next().await {
                    match ev {
                        Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {
                            signals.ok(&label)
                        }
                        Ok(_) => {
                            signals.ok(&label);
                            signals.changed.notify_one();
                        }
                        Err(e) => {
                            let line = classify(context.as_deref(), &e).to_string();
                            tracing::warn!(watch = %label, error = %line, "watch failed; retrying");
                            signals.fail(&label, line);
                        }
                    }
                }
            }));
            let pending = self.pending.clone();
            pending.fetch_add(1, Ordering::SeqCst);
            let ready = reader.clone();
            self.handles.push(tokio::spawn(async move {
                if ready.wait_until_ready().await.is_ok() {
                    pending.fetch_sub(1, Ordering::SeqCst);
                }
            }));
            stores.push(reader);
        }
        Reflected { readers: stores }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

macro_rules! analyzed_kinds {
    ($( $variant:ident => $field:ident : $ty:ty, $group:literal, $version:literal, $plural:literal,
        namespaced = $ns:literal, alt = [$($alt:literal),*]; )*) => {
        /// The reflected objects of each kind the analyzers read; kinds not watched stay `None`.
        #[derive(Default)]
        pub struct KindReflectors {
            $( $field: Option<Reflected<$ty>>, )*
            watched: Vec<Kind>,
        }

        impl KindReflectors {
            /// Starts a reflector per kind in `kinds` (those served and readable, see
            /// [`readable`]) over `namespaces` (all when empty).
            pub fn start(tasks: &mut Tasks, client: &Client, kinds: &[Kind],
                         namespaces: &[String]) -> KindReflectors {
                let mut s = KindReflectors::default();
                for &kind in kinds {
                    match kind {
                        $( Kind::$variant => s.$field = Some(
                            tasks.start::<$ty>(client, namespaces, watch_config(kind))
                        ), )*
                    }
                }
                s.watched = kinds.to_vec();
                s
            }

            /// Every object held for which `keep` is true, shared with the reflectors' stores
            /// (not copied). `keep` sees each object as an [`AnyObject`]: a copy made for the
            /// question and dropped at once.
            fn share(&self, keep: &dyn Fn(&AnyObject) -> bool, out: &mut kaptain_index::Tables) {
                $( if let Some(s) = &self.$field {
                    for o in s.items() {
                        if keep(&AnyObject::$variant(Box::new((*o).clone()))) {
                            out.$field.insert_shared(o);
                        }
                    }
                } )*
            }

            /// Every object held, shared with the reflectors' stores, but the Events for
            /// which `drop_event` is true.
            fn share_but_events(&self, drop_event: &dyn Fn(&k8s_openapi::api::core::v1::Event) -> bool,
                                out: &mut kaptain_index::Tables) {
                $( if let Some(s) = &self.$field {
                    for o in s.items() {
                        let any: &dyn std::any::Any = o.as_ref();
                        if any.downcast_ref::<k8s_openapi::api::core::v1::Event>().is_some_and(|e| drop_event(e)) {
                            continue;
                        }
                        out.$field.insert_shared(o);
                    }
                } )*
            }
        }
    };
}

kaptain_index::for_each_kind!(analyzed_kinds);

impl KindReflectors {
    /// The kinds watched (the index's `loaded` kinds).
    pub fn kinds(&self) -> &[Kind] {
        &self.watched
    }

    /// An index of everything held now. It shares the objects with the reflectors (no
    /// copy): a snapshot that later changes do not touch.
    pub fn index(&self) -> ClusterIndex {
        self.index_without_events(&|_| false)
    }

    /// An index of the objects held now for which `keep` is true (shared, as [`Self::index`];
    /// `keep` is asked about a copy of each object — [`Self::index_without_events`] is
    /// cheaper when only Events are filtered).
    pub fn index_filtered(&self, keep: &dyn Fn(&AnyObject) -> bool) -> ClusterIndex {
        let mut stores = kaptain_index::Tables::default();
        self.share(keep, &mut stores);
        ClusterIndex::from_tables(stores, &self.watched)
    }

    /// An index of everything held now but the Events for which `drop_event` is true
    /// (shared, as [`Self::index`]).
    pub fn index_without_events(
        &self,
        drop_event: &dyn Fn(&k8s_openapi::api::core::v1::Event) -> bool,
    ) -> ClusterIndex {
        let mut stores = kaptain_index::Tables::default();
        self.share_but_events(drop_event, &mut stores);
        ClusterIndex::from_tables(stores, &self.watched)
    }
}

/// The kinds of `kinds` this identity may list (in `namespaces`; cluster-wide when empty),
/// and those it may not, as `skipped` (`forbidden`). A forbidden kind would keep its watch
/// retrying and never become ready, so it is left out, as live scans report it skipped.
/// Pass the kinds the server serves ([`crate::live::Cluster::served`]).
pub async fn readable(
    client: &Client,
    kinds: &[Kind],
    namespaces: &[String],
) -> (Vec<Kind>, Vec<Skipped>) {
    use kube::api::{ApiResource, DynamicObject, ListParams};
    let checks = kinds.iter().map(|&k| async move {
        let ar = ApiResource {
            group: k.group().to_string(),
            version: k.version().to_string(),
            api_version: k.api_version(),
            kind: k.name().to_string(),
            plural: k.plural().to_string(),
        };
        let scopes: Vec<Option<&str>> = if k.namespaced() && !namespaces.is_empty() {
            namespaces.iter().map(|n| Some(n.as_str())).collect()
        } else {
            vec![None]
        };
        for ns in scopes {
            let api: Api<DynamicObject> = match ns {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            if let Err(kube::Error::Api(s)) = api.list(&ListParams::default().limit(1)).await
                && (s.code == 403 || s.code == 401)
            {
                return Err(Skipped {
                    api: k.api_label(),
                    reason: format!("forbidden: {}", s.message),
                });
            }
        }
        Ok(k)
    });
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for r in futures::future::join_all(checks).await {
        match r {
            Ok(k) => ok.push(k),
            Err(s) => skipped.push(s),
        }
    }
    (ok, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    #[test]
    fn strip_drops_managed_fields_and_last_applied_only() {
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("x".into()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                annotations: Some(
                    [
                        (
                            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                            "{}".to_string(),
                        ),
                        ("keep".to_string(), "me".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        strip(&mut cm);
        assert!(cm.metadata.managed_fields.unwrap_or_default().is_empty());
        let a = cm.metadata.annotations.unwrap_or_default();
        assert_eq!(a.len(), 1);
        assert_eq!(a.get("keep").map(String::as_str), Some("me"));
    }

    #[test]
    fn strip_empties_secret_values_but_keeps_keys_and_certificates() {
        use k8s_openapi::ByteString;
        let mut s = Secret {
            data: Some(
                [
                    ("password".to_string(), ByteString(b"hunter2".to_vec())),
                    ("tls.crt".to_string(), ByteString(b"-----BEGIN".to_vec())),
                ]
                .into(),
            ),
            string_data: Some([("token".to_string(), "abc".to_string())].into()),
            ..Default::default()
        };
        strip(&mut s);
        let data = s.data.unwrap_or_default();
        assert_eq!(data.get("password").map(|v| v.0.len()), Some(0));
        assert_eq!(
            data.get("tls.crt").map(|v| v.0.as_slice()),
            Some(&b"-----BEGIN"[..])
        );
        assert!(s.string_data.is_none());
    }

    #[test]
    fn failures_clear_when_the_watch_yields_again() {
        let s = Signals::default();
        s.fail("v1 Pod", "cannot reach the cluster: refused".into());
        s.fail("v1 Node", "cannot reach the cluster: refused".into());
        assert_eq!(s.failures().len(), 2);
        s.ok("v1 Pod");
        assert_eq!(
            s.failures(),
            vec![(
                "v1 Node".to_string(),
                "cannot reach the cluster: refused".to_string()
            )]
        );
    }

    #[test]
    fn watch_errors_are_classified_like_list_errors() {
        let status = |code: u16| {
            Box::new(kube::core::Status {
                code,
                message: "pods is forbidden".into(),
                ..Default::default()
            })
        };
        let e = watcher::Error::WatchError(status(403));
        assert!(matches!(classify(Some("a"), &e), Error::Forbidden { .. }));
        let e = watcher::Error::WatchError(status(401));
        assert!(matches!(classify(None, &e), Error::Unauthorized { .. }));
        let e = watcher::Error::NoResourceVersion;
        let line = classify(Some("a"), &e).to_string();
        assert!(
            line.starts_with("cannot reach the cluster (context a)"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
