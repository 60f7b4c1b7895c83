//! Small helpers shared by analyzers.

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{ClusterIndex, Kind, ObjKey, event_time};
use kaptain_model::{Evidence, ObjectRef};

/// The one quantity parser ([`kaptain_index::quantity`]), under the name the checks use.
pub use kaptain_index::quantity::parse as parse_quantity;

/// The ObjectRef of an indexed object.
pub fn obj_ref(kind: Kind, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(
        &kind.api_version(),
        kind.name(),
        if kind.namespaced() {
            meta.namespace.as_deref()
        } else {
            None
        },
        meta.name.as_deref().unwrap_or(""),
    )
}

pub fn pod_ref(p: &Pod) -> ObjectRef {
    obj_ref(Kind::Pod, &p.metadata)
}

/// `ns` and `name` of an object (empty strings when absent).
pub fn ns_name(meta: &ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or(""),
    )
}

/// A reference to an object that may not exist (a missing ConfigMap).
pub fn ref_to(kind: Kind, namespace: &str, name: &str) -> ObjectRef {
    ObjKey::new(kind, if kind.namespaced() { namespace } else { "" }, name).to_ref()
}

/// `2d3h`, `3h12m`, `4m`, `12s`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// Events of an object whose reason is one of `reasons` (all events if empty), newest last.
pub fn events_with<'a>(
    idx: &'a ClusterIndex,
    kind: Kind,
    meta: &ObjectMeta,
    reasons: &[&str],
) -> Vec<&'a Event> {
    let (ns, name) = ns_name(meta);
    let ns = if kind.namespaced() { ns } else { "" };
    idx.events_for(kind, ns, name)
        .into_iter()
        .filter(|e| reasons.is_empty() || e.reason.as_deref().is_some_and(|r| reasons.contains(&r)))
        .collect()
}

/// One line of evidence for an event: `Warning FailedMount (x3, 2m ago): message`.
pub fn event_evidence(e: &Event, now: jiff::Timestamp) -> Evidence {
    let count = e
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .unwrap_or(1);
    let ago = event_time(e)
        .map(|t| format!(", {} ago", human_duration(now.as_second() - t.as_second())))
        .unwrap_or_default();
    let times = if count > 1 {
        format!("x{count}")
    } else {
        String::new()
    };
    let paren = match (times.is_empty(), ago.is_empty()) {
        (true, true) => String::new(),
        (false, _) => format!(" ({times}{ago})"),
        (true, false) => format!(" ({})", ago.trim_start_matches(", ")),
    };
    Evidence::event(format!(
        "{} {}{}: {}",
        e.type_.as_deref().unwrap_or("Normal"),
        e.reason.as_deref().unwrap_or(""),
        paren,
        e.message.as_deref().unwrap_or("").trim()
    ))
}

/// Evidence for the latest event of each distinct reason among `events` (at most `max`).
pub fn latest_events(events: &[&Event], now: jiff::Timestamp, max: usize) -> Vec<Evidence> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for e in events.iter().rev() {
        let r = e.reason.as_deref().unwrap_or("");
        if seen.contains(&r) {
            continue;
        }
        seen.push(r);
        out.push(event_evidence(e, now));
        if out.len() >= max {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(12), "12s");
        assert_eq!(human_duration(240), "4m");
        assert_eq!(human_duration(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(human_duration(2 * 86_400 + 3 * 3600), "2d3h");
        assert_eq!(human_duration(-5), "0s");
    }
}
