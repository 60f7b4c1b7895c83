//! Every kind Kaptain reads, in one table: its Rust type, API group/version, plural, scope,
//! and the older apiVersions whose shape is the same (accepted from files).

/// The kinds table, handed to a macro: `for_each_kind!(my_macro)` expands to
/// `my_macro! { Pod => pods: Type, "", "v1", "pods", namespaced = true, alt = []; ... }`, one
/// row per kind with its variant, store field, Rust type, group, version, plural, scope and
/// older same-shape apiVersions. Every per-kind dispatch (here, the live LIST, the watches)
/// is generated from this one table.
#[macro_export]
macro_rules! for_each_kind {
    ($callback:ident) => {
        $callback! {
            Pod => pods: $crate::__k8s::api::core::v1::Pod, "", "v1", "pods", namespaced = true, alt = [];
            Node => nodes: $crate::__k8s::api::core::v1::Node, "", "v1", "nodes", namespaced = false, alt = [];
            Namespace => namespaces: $crate::__k8s::api::core::v1::Namespace, "", "v1", "namespaces", namespaced = false, alt = [];
            Service => services: $crate::__k8s::api::core::v1::Service, "", "v1", "services", namespaced = true, alt = [];
            Endpoints => endpoints: $crate::__k8s::api::core::v1::Endpoints, "", "v1", "endpoints", namespaced = true, alt = [];
            ConfigMap => configmaps: $crate::__k8s::api::core::v1::ConfigMap, "", "v1", "configmaps", namespaced = true, alt = [];
            Secret => secrets: $crate::__k8s::api::core::v1::Secret, "", "v1", "secrets", namespaced = true, alt = [];
            ServiceAccount => serviceaccounts: $crate::__k8s::api::core::v1::ServiceAccount, "", "v1", "serviceaccounts", namespaced = true, alt = [];
            PersistentVolumeClaim => pvcs: $crate::__k8s::api::core::v1::PersistentVolumeClaim, "", "v1", "persistentvolumeclaims", namespaced = true, alt = [];
            PersistentVolume => pvs: $crate::__k8s::api::core::v1::PersistentVolume, "", "v1", "persistentvolumes", namespaced = false, alt = [];
            Event => events: $crate::__k8s::api::core::v1::Event, "", "v1", "events", namespaced = true, alt = [];
            ResourceQuota => resourcequotas: $crate::__k8s::api::core::v1::ResourceQuota, "", "v1", "resourcequotas", namespaced = true, alt = [];
            Deployment => deployments: $crate::__k8s::api::apps::v1::Deployment, "apps", "v1", "deployments", namespaced = true, alt = [];
            ReplicaSet => replicasets: $crate::__k8s::api::apps::v1::ReplicaSet, "apps", "v1", "replicasets", namespaced = true, alt = [];
            StatefulSet => statefulsets: $crate::__k8s::api::apps::v1::StatefulSet, "apps", "v1", "statefulsets", namespaced = true, alt = [];
            DaemonSet => daemonsets: $crate::__k8s::api::apps::v1::DaemonSet, "apps", "v1", "daemonsets", namespaced = true, alt = [];
            Job => jobs: $crate::__k8s::api::batch::v1::Job, "batch", "v1", "jobs", namespaced = true, alt = [];
            CronJob => cronjobs: $crate::__k8s::api::batch::v1::CronJob, "batch", "v1", "cronjobs", namespaced = true, alt = ["batch/v1beta1"];
            Ingress => ingresses: $crate::__k8s::api::networking::v1::Ingress, "networking.k8s.io", "v1", "ingresses", namespaced = true, alt = [];
            IngressClass => ingressclasses: $crate::__k8s::api::networking::v1::IngressClass, "networking.k8s.io", "v1", "ingressclasses", namespaced = false, alt = [];
            NetworkPolicy => networkpolicies: $crate::__k8s::api::networking::v1::NetworkPolicy, "networking.k8s.io", "v1", "networkpolicies", namespaced = true, alt = [];
            StorageClass => storageclasses: $crate::__k8s::api::storage::v1::StorageClass, "storage.k8s.io", "v1", "storageclasses", namespaced = false, alt = [];
            HorizontalPodAutoscaler => hpas: $crate::__k8s::api::autoscaling::v2::HorizontalPodAutoscaler, "autoscaling", "v2", "horizontalpodautoscalers", namespaced = true, alt = ["autoscaling/v2beta2"];
            PodDisruptionBudget => pdbs: $crate::__k8s::api::policy::v1::PodDisruptionBudget, "policy", "v1", "poddisruptionbudgets", namespaced = true, alt = ["policy/v1beta1"];
            ValidatingWebhookConfiguration => validating_webhooks: $crate::__k8s::api::admissionregistration::v1::ValidatingWebhookConfiguration, "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", namespaced = false, alt = ["admissionregistration.k8s.io/v1beta1"];
            MutatingWebhookConfiguration => mutating_webhooks: $crate::__k8s::api::admissionregistration::v1::MutatingWebhookConfiguration, "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", namespaced = false, alt = ["admissionregistration.k8s.io/v1beta1"];
        }
    };
}

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
        pub struct Tables { $(pub $field: $crate::Table<$ty>,)* }

        impl Tables {
            pub fn insert(&mut self, obj: AnyObject) {
                match obj { $(AnyObject::$variant(o) => self.$field.insert(*o),)* }
            }
            pub fn len_of(&self, kind: Kind) -> usize {
                match kind { $(Kind::$variant => self.$field.len(),)* }
            }
            /// Every object as JSON, for the snapshot writer.
            pub fn values_of(&self, kind: Kind) -> Result<Vec<serde_json::Value>, serde_json::Error> {
                match kind { $(Kind::$variant => self.$field.iter().map(serde_json::to_value).collect(),)* }
            }
        }

        /// Every object of one kind, as a LIST returned them (not boxed one by one).
        pub enum Listed { $($variant(Vec<std::sync::Arc<$ty>>),)* }

        impl Listed {
            pub fn len(&self) -> usize {
                match self { $(Listed::$variant(v) => v.len(),)* }
            }
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }

        impl Tables {
            /// Adds a listed kind: its vector becomes the store when the store is empty.
            pub fn put(&mut self, listed: Listed) {
                match listed { $(Listed::$variant(v) => self.$field.extend_shared(v),)* }
            }
        }

    };
}

crate::for_each_kind!(kinds);

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
