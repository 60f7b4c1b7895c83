//! Recent Warning events, newest first.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kaptain_index::{ClusterIndex, event_time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvolvedObject {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// e.g. `spec.containers{api}`.
    pub field_path: Option<String>,
}

/// One Warning event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarningEvent {
    /// The event's own namespace.
    pub namespace: String,
    pub object: InvolvedObject,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// How many times it happened (1 for a single occurrence).
    pub count: i32,
    /// Who reported it, e.g. `kubelet`, `default-scheduler`.
    pub source: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_seen: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen: Option<Timestamp>,
}

/// The newest `limit` Warning events, newest first (ties by namespace and object name).
pub fn warning_events(idx: &ClusterIndex, limit: usize) -> Vec<WarningEvent> {
    let mut warnings: Vec<(Option<Timestamp>, &Event)> = idx
        .objects
        .events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| (event_time(e), e))
        .collect();
    warnings.sort_by(|(ta, a), (tb, b)| {
        tb.cmp(ta)
            .then_with(|| a.metadata.namespace.cmp(&b.metadata.namespace))
            .then_with(|| a.involved_object.name.cmp(&b.involved_object.name))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    warnings
        .into_iter()
        .take(limit)
        .map(|(last, e)| row(e, last))
        .collect()
}

fn row(e: &Event, last_seen: Option<Timestamp>) -> WarningEvent {
    let o = &e.involved_object;
    WarningEvent {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        object: InvolvedObject {
            kind: o.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            field_path: o.field_path.clone(),
        },
        reason: e.reason.clone(),
        message: e.message.clone(),
        count: e
            .series
            .as_ref()
            .and_then(|s| s.count)
            .or(e.count)
            .unwrap_or(1)
            .max(1),
        source: e
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| e.source.as_ref().and_then(|s| s.component.clone())),
        first_seen: e
            .first_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0)),
        last_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::summary::tests::index;

    const EVENTS: &str = r#"
apiVersion: v1
kind: Event
metadata: {name: e1, namespace: shop}
type: Warning
reason: BackOff
message: Back-off restarting failed container
count: 12
source: {component: kubelet, host: n1}
involvedObject: {kind: Pod, namespace: shop, name: api-1, fieldPath: "spec.containers{api}"}
firstTimestamp: "2026-01-01T10:00:00Z"
lastTimestamp: "2026-01-01T11:00:00Z"
---
apiVersion: v1
kind: Event
metadata: {name: e2, namespace: shop}
type: Normal
reason: Pulled
message: ok
involvedObject: {kind: Pod, namespace: shop, name: api-1}
lastTimestamp: "2026-01-01T11:59:00Z"
---
apiVersion: v1
kind: Event
metadata: {name: e3, namespace: default}
type: Warning
reason: FailedScheduling
message: 0/3 nodes are available
reportingComponent: default-scheduler
involvedObject: {kind: Pod, namespace: default, name: big}
lastTimestamp: "2026-01-01T11:30:00Z"
---
apiVersion: v1
kind: Event
metadata: {name: e4, namespace: default}
type: Warning
reason: Old
message: long ago
involvedObject: {kind: Node, name: n1}
lastTimestamp: "2025-12-01T00:00:00Z"
"#;

    #[test]
    fn newest_warnings_first_and_bounded() {
        let idx = index(EVENTS);
        let all = warning_events(&idx, 10);
        let reasons: Vec<&str> = all.iter().filter_map(|e| e.reason.as_deref()).collect();
        assert_eq!(reasons, vec!["FailedScheduling", "BackOff", "Old"]);
        let backoff = &all[1];
        assert_eq!(backoff.count, 12);
        assert_eq!(backoff.source.as_deref(), Some("kubelet"));
        assert_eq!(backoff.object.name.as_deref(), Some("api-1"));
        assert_eq!(
            backoff.object.field_path.as_deref(),
            Some("spec.containers{api}")
        );
        assert_eq!(
            backoff.first_seen.map(|t| t.to_string()).as_deref(),
            Some("2026-01-01T10:00:00Z")
        );
        assert_eq!(
            backoff.last_seen.map(|t| t.to_string()).as_deref(),
            Some("2026-01-01T11:00:00Z")
        );
        assert_eq!(all[0].source.as_deref(), Some("default-scheduler"));
        assert_eq!(all[0].count, 1);
        assert_eq!(warning_events(&idx, 1).len(), 1);
        assert!(warning_events(&idx, 0).is_empty());
    }
}
