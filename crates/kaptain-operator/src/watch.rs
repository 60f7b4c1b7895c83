//! Reflectors: one watch per kind the analyzers need (and per watched namespace), plus the
//! Kaptain resources. Every change wakes the controller through one [`Notify`]; the
//! controller snapshots the stores into a [`ClusterIndex`] when it reconciles.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kaptain_cluster::{AnyObject, ClusterIndex, Kind};
use kaptain_heal::crd::{
    ClusterHealingPolicy, HealingAction, HealingPolicy, HealingPolicyStatus, Policy, PolicyRef,
};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::{CONFIG_CONFIGMAP, MANAGER, OperatorConfig};

/// Builds an `Api` for either scope.
pub(crate) trait Scoped {
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

/// The stores of one kind (one per watched namespace, or one for all).
pub(crate) struct Stores<K: Resource<DynamicType = ()> + Clone + 'static> {
    stores: Vec<Store<K>>,
}

impl<K> Stores<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::Scope: Scoped,
{
    pub fn items(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(|s| s.state()).collect()
    }
}

/// The tasks and readiness shared by every reflector.
#[derive(Default)]
pub(crate) struct Tasks {
    handles: Vec<JoinHandle<()>>,
    pending: Arc<AtomicUsize>,
}

impl Tasks {
    /// Starts a reflector of `K` over `namespaces` (all when empty or cluster-scoped).
    fn start<K>(
        &mut self,
        client: &Client,
        namespaces: &[String],
        cfg: watcher::Config,
        notify: &Arc<Notify>,
    ) -> Stores<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::Scope: Scoped,
    {
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
                    .modify(|o: &mut K| o.managed_fields_mut().clear()),
            );
            let notify = notify.clone();
            let kind = K::kind(&()).to_string();
            self.handles.push(tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(ev) = stream.next().await {
                    match ev {
                        Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                        Ok(_) => notify.notify_one(),
                        Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying"),
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
        Stores { stores }
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
    ($( $variant:ident => $field:ident : $ty:ty ),* $(,)?) => {
        /// One store per kind the analyzers read; kinds not served stay `None`.
        #[derive(Default)]
        pub(crate) struct KindStores { $( $field: Option<Stores<$ty>>, )* }

        impl KindStores {
            fn start(&mut self, tasks: &mut Tasks, client: &Client, kind: Kind,
                     namespaces: &[String], notify: &Arc<Notify>) {
                match kind {
                    $( Kind::$variant => self.$field = Some(
                        tasks.start::<$ty>(client, namespaces, watcher::Config::default(), notify)
                    ), )*
                }
            }

            /// Every object held, as owned [`AnyObject`]s.
            fn objects(&self, out: &mut Vec<AnyObject>) {
                $( if let Some(s) = &self.$field {
                    out.extend(s.items().into_iter()
                        .filter(|o| keep(o.as_ref()))
                        .map(|o| AnyObject::$variant(Box::new((*o).clone()))));
                } )*
            }
        }
    };
}

use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling,
    batch::v1 as batch, core::v1 as core, networking::v1 as networking, policy::v1 as policy,
    storage::v1 as storage,
};

analyzed_kinds! {
    Pod => pods: core::Pod,
    Node => nodes: core::Node,
    Namespace => namespaces: core::Namespace,
    Service => services: core::Service,
    Endpoints => endpoints: core::Endpoints,
    ConfigMap => configmaps: core::ConfigMap,
    Secret => secrets: core::Secret,
    ServiceAccount => serviceaccounts: core::ServiceAccount,
    PersistentVolumeClaim => pvcs: core::PersistentVolumeClaim,
    PersistentVolume => pvs: core::PersistentVolume,
    Event => events: core::Event,
    ResourceQuota => resourcequotas: core::ResourceQuota,
    Deployment => deployments: apps::Deployment,
    ReplicaSet => replicasets: apps::ReplicaSet,
    StatefulSet => statefulsets: apps::StatefulSet,
    DaemonSet => daemonsets: apps::DaemonSet,
    Job => jobs: batch::Job,
    CronJob => cronjobs: batch::CronJob,
    Ingress => ingresses: networking::Ingress,
    IngressClass => ingressclasses: networking::IngressClass,
    NetworkPolicy => networkpolicies: networking::NetworkPolicy,
    StorageClass => storageclasses: storage::StorageClass,
    HorizontalPodAutoscaler => hpas: autoscaling::HorizontalPodAutoscaler,
    PodDisruptionBudget => pdbs: policy::PodDisruptionBudget,
    ValidatingWebhookConfiguration => validating_webhooks: admission::ValidatingWebhookConfiguration,
    MutatingWebhookConfiguration => mutating_webhooks: admission::MutatingWebhookConfiguration,
}

/// Kaptain's own Events are not evidence about the cluster (and must not feed back into
/// analysis as unexplained warnings).
fn keep<K: 'static>(o: &K) -> bool {
    let any: &dyn std::any::Any = o;
    match any.downcast_ref::<Event>() {
        Some(e) => {
            e.reporting_component.as_deref() != Some(MANAGER)
                && e.source.as_ref().and_then(|s| s.component.as_deref()) != Some(MANAGER)
        }
        None => true,
    }
}

/// Everything the operator watches.
pub struct Reflectors {
    kinds: KindStores,
    /// Kinds served and watched (the index's `loaded` kinds).
    served: Vec<Kind>,
    policies: Stores<HealingPolicy>,
    cluster_policies: Stores<ClusterHealingPolicy>,
    actions: Stores<HealingAction>,
    config: Stores<ConfigMap>,
    tasks: Tasks,
}

impl Reflectors {
    /// Starts the watches. `kinds` are those the analyzers need and the server serves.
    pub(crate) fn start(
        client: &Client,
        cfg: &OperatorConfig,
        kinds: &[Kind],
        notify: &Arc<Notify>,
    ) -> Reflectors {
        let mut tasks = Tasks::default();
        let mut stores = KindStores::default();
        let ns = &cfg.watch_namespaces;
        for &k in kinds {
            stores.start(&mut tasks, client, k, ns, notify);
        }
        // Actions of cluster-scoped targets and protected namespaces live in the operator's
        // own namespace.
        let mut with_own = ns.clone();
        if !with_own.is_empty() && !with_own.contains(&cfg.namespace) {
            with_own.push(cfg.namespace.clone());
        }
        let policies = tasks.start(client, ns, watcher::Config::default(), notify);
        let cluster_policies = tasks.start(client, &[], watcher::Config::default(), notify);
        let actions = tasks.start(client, &with_own, watcher::Config::default(), notify);
        let config = tasks.start(
            client,
            std::slice::from_ref(&cfg.namespace),
            watcher::Config::default().fields(&format!("metadata.name={CONFIG_CONFIGMAP}")),
            notify,
        );
        Reflectors {
            kinds: stores,
            served: kinds.to_vec(),
            policies,
            cluster_policies,
            actions,
            config,
            tasks,
        }
    }

    /// Whether every watch has listed once.
    pub fn is_ready(&self) -> bool {
        self.tasks.pending.load(Ordering::SeqCst) == 0
    }

    /// An index of everything watched now.
    pub fn index(&self) -> ClusterIndex {
        let mut objects = Vec::new();
        self.kinds.objects(&mut objects);
        ClusterIndex::build(objects, &self.served)
    }

    /// Every HealingPolicy and ClusterHealingPolicy.
    pub fn policies(&self) -> Vec<Policy> {
        let mut v: Vec<Policy> = self
            .policies
            .items()
            .iter()
            .map(|p| Policy::from(p.as_ref()))
            .collect();
        v.extend(
            self.cluster_policies
                .items()
                .iter()
                .map(|p| Policy::from(p.as_ref())),
        );
        v
    }

    /// What each policy's status says now.
    pub fn policy_statuses(&self) -> Vec<(PolicyRef, Option<HealingPolicyStatus>)> {
        let mut v: Vec<(PolicyRef, Option<HealingPolicyStatus>)> = self
            .policies
            .items()
            .iter()
            .map(|p| (Policy::from(p.as_ref()).reference, p.status.clone()))
            .collect();
        v.extend(
            self.cluster_policies
                .items()
                .iter()
                .map(|p| (Policy::from(p.as_ref()).reference, p.status.clone())),
        );
        v
    }

    pub fn actions(&self) -> Vec<Arc<HealingAction>> {
        self.actions.items()
    }

    /// The operator's configuration ConfigMap, if it exists.
    pub fn config_map(&self) -> Option<Arc<ConfigMap>> {
        self.config.items().into_iter().next()
    }
}
