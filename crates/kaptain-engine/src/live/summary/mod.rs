//! Per-cluster summaries the API and the console show: pure functions of a
//! [`kaptain_index::ClusterIndex`] and a [`kaptain_model::Report`] (and the HealingActions),
//! serializable as they are and described for the OpenAPI spec.

mod healing;
mod namespaces;
mod nodes;
mod warnings;

pub use healing::{HealingActionRow, healing_rows, phase_of};
pub use namespaces::{NamespaceRow, PodPhases, WorkloadCounts, namespace_table};
pub use nodes::{NodeRow, node_table};
pub use warnings::{InvolvedObject, WarningEvent, warning_events};

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use jiff::Timestamp;
    use kaptain_heal::crd::{
        ActionKind, Change, FindingRef, HealingAction, HealingActionSpec, HealingActionStatus,
        Operation, Phase, PolicyKind, PolicyRef,
    };
    use kaptain_index::{ClusterIndex, Kind};
    use kaptain_model::{Category, Finding, ObjectRef, Report, ReportSource, Severity, SourceKind};
    use kaptain_sources::offline;

    use super::*;

    /// An index of the objects in multi-document YAML (every kind counts as loaded).
    pub fn index(yaml: &str) -> ClusterIndex {
        let l = offline::load_str("fixture.yaml", yaml);
        assert!(l.errors.is_empty(), "fixture errors: {:?}", l.errors);
        ClusterIndex::build(l.objects, Kind::ALL)
    }

    pub fn finding(
        id: &str,
        severity: Severity,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
        root_cause: bool,
    ) -> Finding {
        let object = ObjectRef::new("v1", kind, namespace, name);
        Finding {
            fingerprint: format!("{id}/{}/{kind}/{name}", namespace.unwrap_or("")),
            title: format!("{kind} {name}: {id}"),
            root_cause,
            ..Finding::new(id, severity, Category::Reliability, object)
        }
    }

    pub fn report(findings: Vec<Finding>) -> Report {
        Report::new(
            ReportSource {
                kind: SourceKind::Live,
                context: Some("test".into()),
                server_version: None,
            },
            Vec::new(),
            findings,
        )
    }

    pub fn action(name: &str, created: &str, phase: Option<Phase>) -> Arc<HealingAction> {
        let f = finding(
            "pod.crash-loop",
            Severity::High,
            Some("shop"),
            "Pod",
            "api-1",
            true,
        );
        let target = f.object.clone();
        let mut a = HealingAction::new(
            name,
            HealingActionSpec {
                finding: FindingRef::from(&f),
                policy: PolicyRef {
                    kind: PolicyKind::HealingPolicy,
                    namespace: Some("shop".into()),
                    name: "restarts".into(),
                    generation: 1,
                },
                action: ActionKind::RestartPod,
                target: "Pod/shop/api-1".into(),
                change: Change::new(target, Operation::Delete),
                reasoning: "restart it".into(),
                confidence: 0.8,
                priority: 0,
                idempotency_key: format!("key-{name}"),
                requires_approval: Some("policy mode is approval".into()),
                verify_within: "5m".parse().expect("duration"),
            },
        );
        a.metadata.namespace = Some("shop".into());
        a.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            created.parse::<Timestamp>().expect("timestamp"),
        ));
        a.status = phase.map(|p| HealingActionStatus {
            phase: p,
            approved_by: (p == Phase::Approved).then(|| "alice".to_string()),
            ..Default::default()
        });
        Arc::new(a)
    }

    #[test]
    fn healing_rows_newest_first_with_age_and_phase() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().expect("now");
        let rows = healing_rows(
            &[
                action("old", "2026-01-01T11:00:00Z", Some(Phase::Approved)),
                action("new", "2026-01-01T11:59:00Z", None),
            ],
            now,
        );
        assert_eq!(rows.len(), 2);
        let new = &rows[0];
        assert_eq!(new.name, "new");
        assert_eq!(new.phase, "Proposed");
        assert!(new.is_pending());
        assert_eq!(new.age_seconds, Some(60));
        assert_eq!(new.action, "RestartPod");
        assert_eq!(new.target, "Pod/shop/api-1");
        assert_eq!(new.finding_id, "pod.crash-loop");
        assert_eq!(new.severity, "high");
        assert_eq!(new.policy, "HealingPolicy/shop/restarts");
        assert_eq!(
            new.requires_approval.as_deref(),
            Some("policy mode is approval")
        );
        let old = &rows[1];
        assert_eq!(old.phase, "Approved");
        assert!(!old.is_pending());
        assert_eq!(old.approved_by.as_deref(), Some("alice"));
        assert_eq!(old.age_seconds, Some(3600));
    }

    #[test]
    fn summaries_serialize_with_stable_field_names() {
        let idx = index(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: '2'}}\n",
        );
        let v = serde_json::to_value(node_table(&idx, None)).expect("json");
        assert_eq!(v[0]["name"], "n1");
        assert_eq!(v[0]["allocatable_cpu_millicores"], 2000);
        assert!(v[0]["ready"].is_null());
    }
}
