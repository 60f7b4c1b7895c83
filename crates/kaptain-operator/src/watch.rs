//! The operator's reflectors: the analyzer kinds (through [`kaptain_sources::watch`]) plus the
//! Kaptain resources and the configuration ConfigMap. Every change wakes the controller
//! through [`Signals::changed`]; the controller snapshots the reflectors into a [`ClusterIndex`]
//! when it reconciles.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kaptain_heal::crd::{
    ClusterHealingPolicy, HealingAction, HealingPolicy, HealingPolicyStatus, Policy, PolicyRef,
};
use kaptain_index::{ClusterIndex, Kind};
use kaptain_sources::watch::{KindReflectors, Reflected, Signals, Tasks};
use kube::Client;
use kube::runtime::watcher;

use crate::config::{CONFIG_CONFIGMAP, OperatorConfig};
use kaptain_index::identity::is_own_event;

/// Everything the operator watches.
pub struct Reflectors {
    kinds: KindReflectors,
    policies: Reflected<HealingPolicy>,
    cluster_policies: Reflected<ClusterHealingPolicy>,
    actions: Reflected<HealingAction>,
    config: Reflected<ConfigMap>,
    tasks: Tasks,
}

impl Reflectors {
    /// Starts the watches. `kinds` are those the analyzers need and the server serves.
    pub(crate) fn start(
        client: &Client,
        cfg: &OperatorConfig,
        kinds: &[Kind],
        signals: &Arc<Signals>,
    ) -> Reflectors {
        let mut tasks = Tasks::new(signals.clone(), None);
        let ns = &cfg.watch_namespaces;
        let stores = KindReflectors::start(&mut tasks, client, kinds, ns);
        // Actions of cluster-scoped targets and protected namespaces live in the operator's
        // own namespace.
        let mut with_own = ns.clone();
        if !with_own.is_empty() && !with_own.contains(&cfg.namespace) {
            with_own.push(cfg.namespace.clone());
        }
        let policies = tasks.start(client, ns, watcher::Config::default());
        let cluster_policies = tasks.start(client, &[], watcher::Config::default());
        let actions = tasks.start(client, &with_own, watcher::Config::default());
        let config = tasks.start(
            client,
            std::slice::from_ref(&cfg.namespace),
            watcher::Config::default().fields(&format!("metadata.name={CONFIG_CONFIGMAP}")),
        );
        Reflectors {
            kinds: stores,
            policies,
            cluster_policies,
            actions,
            config,
            tasks,
        }
    }

    /// Whether every watch has listed once.
    pub fn is_ready(&self) -> bool {
        self.tasks.is_ready()
    }

    /// An index of everything watched now (sharing the objects with the reflectors).
    pub fn index(&self) -> ClusterIndex {
        self.kinds.index_without_events(&is_own_event)
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
