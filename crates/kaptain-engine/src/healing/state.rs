//! What must survive operator restarts and be shared by replicas, kept in the API: when each
//! finding was first seen (for policies' `forDuration`) and the circuit breakers, in the
//! ConfigMap `kaptain-operator-state` of the operator's namespace. The data keys are used
//! rather than annotations: with thousands of findings the map outgrows the 256 KiB that all
//! annotations of an object may hold together.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_heal::guard::Breakers;
use kube::Api;
use kube::api::{PatchParams, PostParams};

use super::Result;
use super::STATE_CONFIGMAP;

const FIRST_SEEN_KEY: &str = "firstSeen";
const BREAKER_KEY: &str = "breaker";

/// The persisted state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistedState {
    /// When each finding (by fingerprint) was first seen.
    pub first_seen: BTreeMap<String, Timestamp>,
    /// The circuit breakers: operator-wide and per scope.
    pub breakers: Breakers,
}

impl PersistedState {
    /// Reads the state from its ConfigMap's data; unreadable parts start empty (and say so).
    pub fn from_configmap(cm: Option<&ConfigMap>) -> PersistedState {
        let data = cm.and_then(|c| c.data.as_ref());
        let get = |k: &str| data.and_then(|d| d.get(k)).map(String::as_str);
        let first_seen = match get(FIRST_SEEN_KEY).map(serde_json::from_str) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "unreadable first-seen times; starting afresh");
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        };
        let breakers = match get(BREAKER_KEY).map(Breakers::from_json) {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "unreadable circuit breaker state; starting closed");
                Breakers::default()
            }
            None => Breakers::default(),
        };
        PersistedState {
            first_seen,
            breakers,
        }
    }

    fn data(&self) -> Result<BTreeMap<String, String>> {
        Ok(BTreeMap::from([
            (
                FIRST_SEEN_KEY.to_string(),
                serde_json::to_string(&self.first_seen)?,
            ),
            (BREAKER_KEY.to_string(), self.breakers.to_json()?),
        ]))
    }

    /// Carries over the first-seen time of pod findings now grouped under their workload: a
    /// grouped finding not seen before starts when the earliest of its pods' findings did
    /// (so a policy's `forDuration` does not start again when Kaptain is upgraded to report
    /// one finding per workload, or when a pod's finding joins its group). Call before
    /// [`PersistedState::observe`], which forgets the pods' fingerprints. Returns whether
    /// anything changed.
    pub fn inherit(&mut self, findings: &[kaptain_model::Finding]) -> bool {
        let mut changed = false;
        for f in findings.iter().filter(|f| !f.instances.is_empty()) {
            let earliest = f
                .instances
                .iter()
                .filter_map(|i| self.first_seen.get(&i.fingerprint))
                .min()
                .copied();
            let Some(earliest) = earliest else { continue };
            match self.first_seen.get_mut(&f.fingerprint) {
                Some(at) if *at <= earliest => {}
                Some(at) => {
                    *at = earliest;
                    changed = true;
                }
                None => {
                    self.first_seen.insert(f.fingerprint.clone(), earliest);
                    changed = true;
                }
            }
        }
        changed
    }

    /// Records `now` for fingerprints seen for the first time and forgets those no longer
    /// present. Returns whether anything changed.
    pub fn observe(&mut self, present: &BTreeSet<&str>, now: Timestamp) -> bool {
        let before = self.first_seen.len();
        self.first_seen
            .retain(|fp, _| present.contains(fp.as_str()));
        let mut changed = self.first_seen.len() != before;
        for fp in present {
            if !self.first_seen.contains_key(*fp) {
                self.first_seen.insert((*fp).to_string(), now);
                changed = true;
            }
        }
        changed
    }
}

/// Reads the state of the operator in `namespace`.
pub async fn load(client: &kube::Client, namespace: &str) -> Result<PersistedState> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = api.get_opt(STATE_CONFIGMAP).await?;
    Ok(PersistedState::from_configmap(cm.as_ref()))
}

/// Writes the state (creating the ConfigMap on first use).
pub async fn save(client: &kube::Client, namespace: &str, state: &PersistedState) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let data = state.data()?;
    let patch = serde_json::json!({ "data": data });
    match api
        .patch(
            STATE_CONFIGMAP,
            &PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(STATE_CONFIGMAP.to_string()),
                    namespace: Some(namespace.to_string()),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/managed-by".to_string(),
                        "kaptain".to_string(),
                    )])),
                    ..ObjectMeta::default()
                },
                data: Some(data),
                ..ConfigMap::default()
            };
            api.create(&PostParams::default(), &cm).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    #[test]
    fn first_seen_keeps_the_first_time_and_forgets_cleared_findings() {
        let mut s = PersistedState::default();
        assert!(s.observe(&BTreeSet::from(["a", "b"]), t(0)));
        assert!(!s.observe(&BTreeSet::from(["a", "b"]), t(10)));
        assert_eq!(s.first_seen["a"], t(0));
        assert!(s.observe(&BTreeSet::from(["b", "c"]), t(20)));
        assert_eq!(s.first_seen.keys().collect::<Vec<_>>(), vec!["b", "c"]);
        assert_eq!(s.first_seen["b"], t(0));
        assert_eq!(s.first_seen["c"], t(20));
    }

    #[test]
    fn a_grouped_finding_starts_when_its_first_pod_finding_did() {
        use kaptain_model::{Category, Finding, Instance, ObjectRef, Severity};
        let mut s = PersistedState::default();
        assert!(s.observe(&BTreeSet::from(["pod-a"]), t(0)));
        assert!(s.observe(&BTreeSet::from(["pod-a", "pod-b"]), t(30)));
        let group = Finding {
            fingerprint: "group".into(),
            instances: ["pod-a", "pod-b", "pod-c"]
                .iter()
                .map(|fp| Instance {
                    object: ObjectRef::new("v1", "Pod", Some("ns"), fp),
                    fingerprint: (*fp).into(),
                })
                .collect(),
            ..Finding::new(
                "pod.oom-killed",
                Severity::High,
                Category::Reliability,
                ObjectRef::new("apps/v1", "Deployment", Some("ns"), "api"),
            )
        };
        assert!(s.inherit(std::slice::from_ref(&group)));
        assert!(s.observe(&BTreeSet::from(["group"]), t(60)));
        assert_eq!(s.first_seen.keys().collect::<Vec<_>>(), vec!["group"]);
        assert_eq!(s.first_seen["group"], t(0), "not the upgrade's time");
    }

    #[test]
    fn state_round_trips_through_configmap_data() {
        let mut s = PersistedState::default();
        s.observe(&BTreeSet::from(["fp"]), t(5));
        s.breakers.on_failure(
            &Default::default(),
            "HealingPolicy/shop/p Deployment/shop/api",
            t(6),
        );
        let cm = ConfigMap {
            data: Some(s.data().expect("data")),
            ..ConfigMap::default()
        };
        assert_eq!(PersistedState::from_configmap(Some(&cm)), s);
        assert_eq!(
            PersistedState::from_configmap(None),
            PersistedState::default()
        );
        let bad = ConfigMap {
            data: Some(BTreeMap::from([(BREAKER_KEY.to_string(), "{".to_string())])),
            ..ConfigMap::default()
        };
        assert_eq!(
            PersistedState::from_configmap(Some(&bad)).breakers,
            Breakers::default()
        );
    }
}
