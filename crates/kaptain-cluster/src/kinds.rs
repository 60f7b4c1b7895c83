//! Every kind Kaptain reads, in one table: its Rust type, API group/version, plural, scope,
//! and the older apiVersions whose shape is the same (accepted from files).

use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling,
    batch::v1 as batch, core::v1 as core, networking::v1 as networking, policy::v1 as policy,
    storage::v1 as storage,
};

macro_rules! kinds {
    ($( $variant:ident => $field:ident : $ty:ty, $group:literal, $version:literal, $plural:literal,
        namespaced = $ns:literal, alt = [$($alt:literal),*]; )*) => {
        /// A kind of object Kaptain knows how to read and analyze.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $($variant,)* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The `kind` field, e.g. `Deployment`.
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => stringify!($variant),)* }
            }
            /// API group; empty for the core group.
            pub fn group(self) -> &'static str {
                match self { $(Kind::$variant => $group,)* }
            }
            pub fn version(self) -> &'static str {
                match self { $(Kind::$variant => $version,)* }
            }
            /// The resource name used in URLs, e.g. `deployments`.
            pub fn plural(self) -> &'static str {
                match self { $(Kind::$variant => $plural,)* }
            }
            pub fn namespaced(self) -> bool {
                match self { $(Kind::$variant => $ns,)* }
            }
            /// Older apiVersions with the same shape, accepted when reading files.
            pub fn alternate_versions(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($alt),*],)* }
            }
        }

        /// One object of a known kind, typed.
        #[derive(Debug, Clone)]
        pub enum AnyObject { $($variant(Box<$ty>),)* }

        impl AnyObject {
            pub fn kind(&self) -> Kind {
                match self { $(AnyObject::$variant(_) => Kind::$variant,)* }
            }

            /// Deserializes a JSON object of the given kind.
            pub fn from_json(kind: Kind, json: &str) -> Result<AnyObject, serde_json::Error> {
                Ok(match kind { $(Kind::$variant => AnyObject::$variant(serde_json::from_str(json)?),)* })
            }

            pub fn from_value(kind: Kind, v: serde_json::Value) -> Result<AnyObject, serde_json::Error> {
                Ok(match kind { $(Kind::$variant => AnyObject::$variant(serde_json::from_value(v)?),)* })
            }

            pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                match self { $(AnyObject::$variant(o) => &o.metadata,)* }
            }

            pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self { $(AnyObject::$variant(o) => serde_json::to_value(o),)* }
            }
        }

        /// Typed stores, one per kind.
        #[derive(Debug, Default, Clone)]
        pub struct Stores { $(pub $field: crate::Store<$ty>,)* }

        impl Stores {
            pub(crate) fn insert(&mut self, obj: AnyObject) {
                match obj { $(AnyObject::$variant(o) => self.$field.insert(*o),)* }
            }
            pub(crate) fn len_of(&self, kind: Kind) -> usize {
                match kind { $(Kind::$variant => self.$field.len(),)* }
            }
            /// Every object as JSON, for the snapshot writer.
            pub(crate) fn values_of(&self, kind: Kind) -> Result<Vec<serde_json::Value>, serde_json::Error> {
                match kind { $(Kind::$variant => self.$field.iter().map(serde_json::to_value).collect(),)* }
            }
        }

        /// Every object of one kind, as a LIST returned them (not boxed one by one).
        pub(crate) enum Listed { $($variant(Vec<std::sync::Arc<$ty>>),)* }

        impl Listed {
            pub(crate) fn len(&self) -> usize {
                match self { $(Listed::$variant(v) => v.len(),)* }
            }
        }

        impl Stores {
            /// Adds a listed kind: its vector becomes the store when the store is empty.
            pub(crate) fn put(&mut self, listed: Listed) {
                match listed { $(Listed::$variant(v) => self.$field.extend_shared(v),)* }
            }
        }

        /// LIST one kind from a live cluster, paginated.
        pub(crate) async fn list_kind(
            client: &kube::Client,
            kind: Kind,
            namespace: Option<&str>,
            lp: &kube::api::ListParams,
            values: crate::page::Values,
        ) -> Result<Listed, kube::Error> {
            let namespace = if kind.namespaced() { namespace } else { None };
            Ok(match kind {
                $(Kind::$variant => Listed::$variant(
                    crate::live::list_all::<$ty>(client, namespace, lp, values).await?,
                ),)*
            })
        }
    };
}

kinds! {
    Pod => pods: core::Pod, "", "v1", "pods", namespaced = true, alt = [];
    Node => nodes: core::Node, "", "v1", "nodes", namespaced = false, alt = [];
    Namespace => namespaces: core::Namespace, "", "v1", "namespaces", namespaced = false, alt = [];
    Service => services: core::Service, "", "v1", "services", namespaced = true, alt = [];
    Endpoints => endpoints: core::Endpoints, "", "v1", "endpoints", namespaced = true, alt = [];
    ConfigMap => configmaps: core::ConfigMap, "", "v1", "configmaps", namespaced = true, alt = [];
    Secret => secrets: core::Secret, "", "v1", "secrets", namespaced = true, alt = [];
    ServiceAccount => serviceaccounts: core::ServiceAccount, "", "v1", "serviceaccounts", namespaced = true, alt = [];
    PersistentVolumeClaim => pvcs: core::PersistentVolumeClaim, "", "v1", "persistentvolumeclaims", namespaced = true, alt = [];
    PersistentVolume => pvs: core::PersistentVolume, "", "v1", "persistentvolumes", namespaced = false, alt = [];
    Event => events: core::Event, "", "v1", "events", namespaced = true, alt = [];
    ResourceQuota => resourcequotas: core::ResourceQuota, "", "v1", "resourcequotas", namespaced = true, alt = [];
    Deployment => deployments: apps::Deployment, "apps", "v1", "deployments", namespaced = true, alt = [];
    ReplicaSet => replicasets: apps::ReplicaSet, "apps", "v1", "replicasets", namespaced = true, alt = [];
    StatefulSet => statefulsets: apps::StatefulSet, "apps", "v1", "statefulsets", namespaced = true, alt = [];
    DaemonSet => daemonsets: apps::DaemonSet, "apps", "v1", "daemonsets", namespaced = true, alt = [];
    Job => jobs: batch::Job, "batch", "v1", "jobs", namespaced = true, alt = [];
    CronJob => cronjobs: batch::CronJob, "batch", "v1", "cronjobs", namespaced = true, alt = ["batch/v1beta1"];
    Ingress => ingresses: networking::Ingress, "networking.k8s.io", "v1", "ingresses", namespaced = true, alt = [];
    IngressClass => ingressclasses: networking::IngressClass, "networking.k8s.io", "v1", "ingressclasses", namespaced = false, alt = [];
    NetworkPolicy => networkpolicies: networking::NetworkPolicy, "networking.k8s.io", "v1", "networkpolicies", namespaced = true, alt = [];
    StorageClass => storageclasses: storage::StorageClass, "storage.k8s.io", "v1", "storageclasses", namespaced = false, alt = [];
    HorizontalPodAutoscaler => hpas: autoscaling::HorizontalPodAutoscaler, "autoscaling", "v2", "horizontalpodautoscalers", namespaced = true, alt = ["autoscaling/v2beta2"];
    PodDisruptionBudget => pdbs: policy::PodDisruptionBudget, "policy", "v1", "poddisruptionbudgets", namespaced = true, alt = ["policy/v1beta1"];
    ValidatingWebhookConfiguration => validating_webhooks: admission::ValidatingWebhookConfiguration, "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", namespaced = false, alt = ["admissionregistration.k8s.io/v1beta1"];
    MutatingWebhookConfiguration => mutating_webhooks: admission::MutatingWebhookConfiguration, "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", namespaced = false, alt = ["admissionregistration.k8s.io/v1beta1"];
}

impl Kind {
    /// `v1` or `apps/v1`.
    pub fn api_version(self) -> String {
        if self.group().is_empty() {
            self.version().to_string()
        } else {
            format!("{}/{}", self.group(), self.version())
        }
    }

    /// `batch/v1 CronJob`, the form used in `skipped`.
    pub fn api_label(self) -> String {
        format!("{} {}", self.api_version(), self.name())
    }

    /// Finds the kind for a `kind` + `apiVersion` pair read from a file.
    /// Returns `Err(true)` if the kind is known but this apiVersion's shape is not supported.
    pub fn resolve(kind: &str, api_version: &str) -> Result<Kind, bool> {
        let Some(k) = Kind::ALL.iter().copied().find(|k| k.name() == kind) else {
            return Err(false);
        };
        if k.api_version() == api_version || k.alternate_versions().contains(&api_version) {
            Ok(k)
        } else {
            Err(true)
        }
    }

    /// Parses a user-facing name: `Pod`, `pods`, `pod` (case-insensitive).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(s) || k.plural().eq_ignore_ascii_case(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_accepts_same_shape_versions_only() {
        assert_eq!(Kind::resolve("CronJob", "batch/v1beta1"), Ok(Kind::CronJob));
        assert_eq!(Kind::resolve("Deployment", "apps/v1"), Ok(Kind::Deployment));
        assert_eq!(Kind::resolve("Ingress", "extensions/v1beta1"), Err(true));
        assert_eq!(Kind::resolve("Widget", "v1"), Err(false));
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        let mut parsed = 0;
        for &k in Kind::ALL {
            let json = format!(
                r#"{{"apiVersion":"{}","kind":"{}","metadata":{{"name":"x"}}}}"#,
                k.api_version(),
                k.name()
            );
            let obj = match AnyObject::from_json(k, &json) {
                Ok(o) => o,
                // Some kinds have required fields; they must at least fail cleanly.
                Err(_) => continue,
            };
            assert_eq!(obj.kind(), k);
            parsed += 1;
        }
        assert!(
            parsed >= Kind::ALL.len() - 3,
            "only {parsed} kinds parsed a minimal object"
        );
    }
}
