//! What the operator reports on each policy: real actions started in the last hour, the last
//! one's time, and the generation it acted on (the `Actions/h` and `Last Action` columns of
//! `kubectl get healingpolicies`).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kaptain_heal::crd::{
    ClusterHealingPolicy, HealingPolicy, HealingPolicyStatus, PolicyKind, PolicyRef,
};
use kaptain_heal::guard::ActionRecord;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::config::MANAGER;
use crate::error::Result;

/// The status `reference` should report, if it differs from `current`.
pub fn wanted(
    reference: &PolicyRef,
    history: &[ActionRecord],
    now: Timestamp,
    current: Option<&HealingPolicyStatus>,
) -> Option<HealingPolicyStatus> {
    let mine: Vec<&ActionRecord> = history
        .iter()
        .filter(|r| r.policy.same_policy(reference))
        .collect();
    let last_hour = mine
        .iter()
        .filter(|r| now.as_second() - r.started_at.as_second() < 3600)
        .count();
    let last = mine.iter().map(|r| r.started_at).max();
    let mut want = current.cloned().unwrap_or_default();
    want.actions_in_last_hour = u32::try_from(last_hour).unwrap_or(u32::MAX);
    want.last_action_time = last.map(Time).or(want.last_action_time);
    want.observed_generation = Some(reference.generation);
    (Some(&want) != current).then_some(want)
}

/// Writes a policy's status (merge patch of the status subresource).
pub async fn write(
    client: &kube::Client,
    reference: &PolicyRef,
    st: &HealingPolicyStatus,
) -> Result<()> {
    let patch = serde_json::json!({ "status": st });
    let pp = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    match reference.kind {
        PolicyKind::HealingPolicy => {
            let ns = reference.namespace.as_deref().unwrap_or("default");
            let api: Api<HealingPolicy> = Api::namespaced(client.clone(), ns);
            api.patch_status(&reference.name, &pp, &Patch::Merge(&patch))
                .await?;
        }
        PolicyKind::ClusterHealingPolicy => {
            let api: Api<ClusterHealingPolicy> = Api::all(client.clone());
            api.patch_status(&reference.name, &pp, &Patch::Merge(&patch))
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaptain_heal::crd::ActionKind;
    use kaptain_model::ObjectRef;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    fn policy(name: &str, generation: i64) -> PolicyRef {
        PolicyRef {
            kind: PolicyKind::HealingPolicy,
            namespace: Some("shop".into()),
            name: name.into(),
            generation,
        }
    }

    fn record(p: &PolicyRef, at: i64) -> ActionRecord {
        ActionRecord {
            idempotency_key: format!("k{at}"),
            policy: p.clone(),
            action: ActionKind::RestartPod,
            target: ObjectRef::new("v1", "Pod", Some("shop"), "x"),
            started_at: t(at),
        }
    }

    #[test]
    fn counts_the_last_hour_of_this_policy_only() {
        let a = policy("a", 2);
        let b = policy("b", 1);
        let history = [record(&a, 0), record(&a, 3000), record(&b, 3500)];
        let st = wanted(&a, &history, t(4000), None).expect("changed");
        assert_eq!(st.actions_in_last_hour, 1);
        assert_eq!(st.last_action_time, Some(Time(t(3000))));
        assert_eq!(st.observed_generation, Some(2));
        assert_eq!(wanted(&a, &history, t(4000), Some(&st)), None);
        let later = wanted(&a, &history, t(7000), Some(&st)).expect("the hour passed");
        assert_eq!(later.actions_in_last_hour, 0);
        assert_eq!(later.last_action_time, Some(Time(t(3000))));
    }
}
