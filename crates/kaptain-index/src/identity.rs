//! Kaptain's own identity in a cluster: the field manager of its writes and the component
//! of its Events, and how to tell its own Events from the cluster's (they are not evidence
//! about the cluster: the operator, the server and scans leave them out).

use k8s_openapi::api::core::v1::Event;

/// The field manager of Kaptain's writes and the component of the Events it records.
pub const MANAGER: &str = "kaptain-operator";

/// Components whose Events are Kaptain's own.
pub const COMPONENTS: &[&str] = &[MANAGER];

/// Whether an Event is Kaptain's own (reported by, or sourced from, one of [`COMPONENTS`]).
pub fn is_own_event(e: &Event) -> bool {
    let ours = |c: Option<&str>| c.is_some_and(|c| COMPONENTS.contains(&c));
    ours(e.reporting_component.as_deref())
        || ours(e.source.as_ref().and_then(|s| s.component.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::EventSource;

    #[test]
    fn own_events_by_reporting_component_or_source() {
        let by_reporter = Event {
            reporting_component: Some(MANAGER.into()),
            ..Event::default()
        };
        let by_source = Event {
            source: Some(EventSource {
                component: Some(MANAGER.into()),
                ..EventSource::default()
            }),
            ..Event::default()
        };
        let kubelet = Event {
            reporting_component: Some("kubelet".into()),
            source: Some(EventSource {
                component: Some("kubelet".into()),
                ..EventSource::default()
            }),
            ..Event::default()
        };
        assert!(is_own_event(&by_reporter));
        assert!(is_own_event(&by_source));
        assert!(!is_own_event(&kubelet));
        assert!(!is_own_event(&Event::default()));
    }
}
