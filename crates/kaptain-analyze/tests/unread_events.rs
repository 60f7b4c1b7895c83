//! Watches leave out Events of [`UNREAD_EVENT_REASONS`] (the operator's and the server's
//! reflectors): no check may depend on them. The `examples/broken-shop` snapshot, analyzed
//! with and without such an event for every pod, must give the very same findings.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kaptain_analyze::{analyze, catalog};
use kaptain_index::AnyObject;
use kaptain_index::UNREAD_EVENT_REASONS;
use kaptain_sources::offline;

#[test]
fn no_check_reads_the_events_watches_leave_out() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
    let load = || offline::load_paths(std::slice::from_ref(&dir)).expect("load the snapshot");
    let plain = load();
    let now = plain.info.captured_at.expect("captured_at");
    let mut noisy = load();
    let pods: Vec<ObjectMeta> = noisy
        .objects
        .iter()
        .filter_map(|o| match o {
            AnyObject::Pod(p) => Some(p.metadata.clone()),
            _ => None,
        })
        .collect();
    assert!(!pods.is_empty());
    for (i, p) in pods.iter().enumerate() {
        for (j, reason) in UNREAD_EVENT_REASONS.iter().enumerate() {
            let at = Time(now - jiff::SignedDuration::from_secs(60));
            noisy.objects.push(AnyObject::Event(Box::new(Event {
                metadata: ObjectMeta {
                    name: Some(format!("unread-{i}-{j}")),
                    namespace: p.namespace.clone(),
                    ..ObjectMeta::default()
                },
                involved_object: ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: p.name.clone(),
                    namespace: p.namespace.clone(),
                    uid: p.uid.clone(),
                    field_path: Some("spec.containers{app}".into()),
                    ..ObjectReference::default()
                },
                reason: Some((*reason).to_string()),
                message: Some(format!("{reason} for the test")),
                type_: Some("Normal".into()),
                source: Some(EventSource {
                    component: Some("kubelet".into()),
                    host: Some("node-1".into()),
                }),
                first_timestamp: Some(at.clone()),
                last_timestamp: Some(at),
                count: Some(1),
                ..Event::default()
            })));
        }
    }
    let checks: Vec<_> = catalog().iter().collect();
    let findings = |l: offline::Loaded| {
        let (idx, _, errors) = l.into_index();
        assert!(errors.is_empty(), "{errors:?}");
        serde_json::to_value(analyze(&idx, &checks, now)).expect("json")
    };
    let (without, with) = (findings(plain), findings(noisy));
    assert!(without.as_array().is_some_and(|f| !f.is_empty()));
    assert_eq!(with, without);
}
