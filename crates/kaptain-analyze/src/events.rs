//! Warning events of the last 24 hours on objects that no other check has a finding for:
//! the long tail of problems no dedicated analyzer understands. Runs after every other check
//! (a post check) so it only speaks about what is otherwise unexplained.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{ClusterIndex, Kind, event_time};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{event_evidence, human_duration, ref_to};

/// Older events are history, not a current problem.
const MAX_AGE_SECS: i64 = 24 * 3_600;
const MANY: i64 = 5;

const UNEXPLAINED: CheckInfo = CheckInfo::new(
    "event.unexplained-warning",
    Category::Reliability,
    Severity::Low,
    "Warning events of the last 24 hours on an object that no other check explains",
    &[Kind::Event, Kind::Pod, Kind::Node],
)
.confidence(0.6)
.post();

pub(crate) fn checks() -> Vec<Check> {
    vec![Check::new(UNEXPLAINED, unexplained)]
}

/// The metadata of an indexed object, whatever its kind.
fn meta_of<'a>(idx: &'a ClusterIndex, kind: Kind, ns: &str, name: &str) -> Option<&'a ObjectMeta> {
    let s = &idx.objects;
    macro_rules! get {
        ($($k:ident => $f:ident),* $(,)?) => {
            match kind { $(Kind::$k => s.$f.get(ns, name).map(|o| &o.metadata),)* }
        };
    }
    get!(
        Pod => pods, Node => nodes, Namespace => namespaces, Service => services,
        Endpoints => endpoints, ConfigMap => configmaps, Secret => secrets,
        ServiceAccount => serviceaccounts, PersistentVolumeClaim => pvcs, PersistentVolume => pvs,
        Event => events, ResourceQuota => resourcequotas, Deployment => deployments,
        ReplicaSet => replicasets, StatefulSet => statefulsets, DaemonSet => daemonsets, Job => jobs,
        CronJob => cronjobs, Ingress => ingresses, IngressClass => ingressclasses,
        NetworkPolicy => networkpolicies, StorageClass => storageclasses, HorizontalPodAutoscaler => hpas,
        PodDisruptionBudget => pdbs, ValidatingWebhookConfiguration => validating_webhooks,
        MutatingWebhookConfiguration => mutating_webhooks,
    )
}

/// Events about a deleted object, or about an earlier object of the same name, say nothing
/// about the cluster now. Only decidable for collected kinds.
fn is_stale(idx: &ClusterIndex, kind: Kind, ns: &str, name: &str, e: &Event) -> bool {
    if !idx.has(kind) {
        return false;
    }
    match meta_of(idx, kind, ns, name) {
        None => true,
        Some(m) => matches!((&m.uid, &e.involved_object.uid), (Some(a), Some(b)) if a != b),
    }
}

fn event_count(e: &Event) -> i64 {
    let c = e
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .unwrap_or(1);
    i64::from(c.max(1))
}

struct Group<'a> {
    kind: Kind,
    ns: String,
    name: String,
    reason: String,
    count: i64,
    latest: &'a Event,
    latest_at: jiff::Timestamp,
    events: usize,
}

fn unexplained(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    let explained: HashSet<(&str, Option<&str>, &str)> = ctx
        .explained
        .into_iter()
        .flatten()
        .map(|o| (o.kind.as_str(), o.namespace.as_deref(), o.name.as_str()))
        .collect();
    let mut groups: BTreeMap<(Kind, String, String, String), Group> = BTreeMap::new();
    for e in idx.objects.events.iter() {
        if e.type_.as_deref() != Some("Warning") {
            continue;
        }
        let Some(at) = event_time(e) else { continue };
        if ctx.age_secs(at) > MAX_AGE_SECS {
            continue;
        }
        let o = &e.involved_object;
        let Some(kind) = o.kind.as_deref().and_then(Kind::parse) else {
            continue;
        };
        let Some(name) = o.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if kind == Kind::Event {
            continue;
        }
        let ns = if kind.namespaced() {
            o.namespace
                .as_deref()
                .or(e.metadata.namespace.as_deref())
                .unwrap_or("")
        } else {
            ""
        };
        let ns_opt = kind.namespaced().then_some(ns);
        if explained.contains(&(kind.name(), ns_opt, name)) || is_stale(idx, kind, ns, name, e) {
            continue;
        }
        // Optimistic-concurrency conflicts (FailedToUpdateEndpoint and friends) are retried
        // by the controller that hit them; they explain nothing on their own.
        if e.message
            .as_deref()
            .is_some_and(|m| m.contains("the object has been modified"))
        {
            continue;
        }
        let reason = e.reason.clone().unwrap_or_default();
        let g = groups
            .entry((kind, ns.to_string(), name.to_string(), reason.clone()))
            .or_insert_with(|| Group {
                kind,
                ns: ns.to_string(),
                name: name.to_string(),
                reason,
                count: 0,
                latest: e,
                latest_at: at,
                events: 0,
            });
        g.count += event_count(e);
        g.events += 1;
        if at >= g.latest_at {
            g.latest = e;
            g.latest_at = at;
        }
    }
    for g in groups.into_values() {
        let object = ref_to(g.kind, &g.ns, &g.name);
        let ago = human_duration(ctx.age_secs(g.latest_at));
        // Repetition, not recency, makes an unexplained warning worth a look: one-off
        // warnings are common in healthy clusters (controllers retrying a conflict).
        let severity = if g.count >= MANY {
            Severity::Medium
        } else {
            Severity::Low
        };
        let msg = g.latest.message.as_deref().unwrap_or("").trim();
        let short: String = if msg.chars().count() > 120 {
            format!("{}…", msg.chars().take(120).collect::<String>())
        } else {
            msg.to_string()
        };
        let reason = if g.reason.is_empty() {
            "(no reason)"
        } else {
            g.reason.as_str()
        };
        let kind = g.kind.name();
        let (ns_flag, events_cmd) = if g.kind.namespaced() {
            let ns = &g.ns;
            (
                format!("-n {ns} "),
                format!(
                    "kubectl -n {ns} get events --field-selector involvedObject.name={}",
                    g.name
                ),
            )
        } else {
            (
                String::new(),
                format!(
                    "kubectl get events -A --field-selector involvedObject.name={}",
                    g.name
                ),
            )
        };
        let mut ev = vec![event_evidence(g.latest, ctx.now)];
        if g.events > 1 {
            ev.push(Evidence::event(format!(
                "{} {reason} events, {} occurrences in total, in the last 24h",
                g.events, g.count
            )));
        }
        ctx.finding(info, object.clone(), reason)
            .severity(severity)
            .title(format!("{kind} {}: Warning {reason} (x{}, last {ago} ago): {short}", g.name, g.count))
            .message(format!(
                "{kind} {} had {} Warning {reason} event(s) in the last 24 hours (latest {ago} ago) and no other \
                 check explains them. Latest message: {msg}",
                object.display(),
                g.count
            ))
            .evidences(ev)
            .fix(
                format!("Read the {kind}'s description and events to see what the {reason} warning is about."),
                [format!("kubectl {ns_flag}describe {}", object.kubectl_name()), events_cmd],
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::catalog::catalog;
    use crate::check::Ctx;
    use crate::testutil::{index, now, run};
    use crate::util::ref_to;
    use kaptain_index::{ClusterIndex, Kind};
    use kaptain_model::{Finding, ObjectRef, Severity};

    fn event(name: &str, kind: &str, obj: &str, reason: &str, count: i32, last: &str) -> String {
        format!(
            r#"apiVersion: v1
kind: Event
metadata: {{name: {name}, namespace: shop}}
involvedObject: {{kind: {kind}, namespace: shop, name: {obj}}}
type: Warning
reason: {reason}
message: "{reason} happened to {obj}"
count: {count}
lastTimestamp: "{last}"
"#
        )
    }

    fn run_with(idx: &ClusterIndex, explained: &HashSet<ObjectRef>) -> Vec<Finding> {
        let check = catalog()
            .iter()
            .find(|c| c.info.id == "event.unexplained-warning")
            .expect("check");
        let ctx = Ctx {
            explained: Some(explained),
            ..Ctx::new(idx, now())
        };
        check.run_on(&ctx)
    }

    #[test]
    fn groups_by_object_and_reason_with_total_count_and_latest_message() {
        let yaml = [
            event(
                "a.1",
                "Service",
                "web",
                "SyncLoadBalancerFailed",
                2,
                "2026-01-01T06:00:00Z",
            ),
            event(
                "a.2",
                "Service",
                "web",
                "SyncLoadBalancerFailed",
                4,
                "2026-01-01T08:00:00Z",
            ),
            event("b.1", "Service", "web", "Other", 1, "2026-01-01T05:00:00Z"),
            event(
                "c.1",
                "Deployment",
                "api",
                "Weird",
                1,
                "2026-01-01T11:50:00Z",
            ),
        ]
        .join("---\n");
        let mut f = run("event.unexplained-warning", &index(&yaml, &[]));
        f.sort_by(|a, b| a.title.cmp(&b.title));
        assert_eq!(f.len(), 3, "{f:#?}");
        let dep = &f[0];
        assert_eq!(dep.object.kind, "Deployment");
        assert_eq!(dep.severity, Severity::Low, "a single recent event is low");
        let other = &f[1];
        assert_eq!(other.severity, Severity::Low);
        let lb = &f[2];
        assert!(
            lb.title
                .contains("SyncLoadBalancerFailed (x6, last 4h0m ago)"),
            "{}",
            lb.title
        );
        assert_eq!(lb.severity, Severity::Medium, "6 occurrences");
        assert!(
            lb.remediation
                .commands
                .contains(&"kubectl -n shop describe service/web".to_string())
        );
        assert!(lb.remediation.commands[1].contains("involvedObject.name=web"));
    }

    #[test]
    fn explained_old_normal_stale_and_unknown_kind_events_are_skipped() {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: api-1, namespace: shop, uid: new}\nspec: {containers: [{name: c, image: x}]}\n";
        let mut normal = event("n.1", "Pod", "api-1", "Pulled", 1, "2026-01-01T11:00:00Z");
        normal = normal.replace("type: Warning", "type: Normal");
        let yaml = [
            pod.to_string(),
            event("e.1", "Pod", "api-1", "BackOff", 9, "2026-01-01T11:55:00Z"),
            event("o.1", "Service", "web", "Old", 9, "2025-12-30T11:55:00Z"),
            event(
                "g.1",
                "Pod",
                "gone-1",
                "Unhealthy",
                3,
                "2026-01-01T11:55:00Z",
            ),
            event("w.1", "Widget", "w", "Broken", 3, "2026-01-01T11:55:00Z"),
            event(
                "u.1",
                "Pod",
                "api-1",
                "Unhealthy",
                1,
                "2026-01-01T11:55:00Z",
            )
            .replace("name: api-1}", "name: api-1, uid: old}"),
            normal,
        ]
        .join("---\n");
        let idx = index(&yaml, &[]);
        // Only the BackOff on the live pod remains when nothing is explained...
        let f = run_with(&idx, &HashSet::new());
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].title.contains("BackOff"));
        // ...and nothing once another finding covers the pod (apiVersion ignored).
        let mut explained = HashSet::new();
        let mut r = ref_to(Kind::Pod, "shop", "api-1");
        r.api_version = "v1beta1".into();
        explained.insert(r);
        assert!(run_with(&idx, &explained).is_empty());
    }

    #[test]
    fn events_on_a_node_with_a_finding_are_explained_in_a_full_run() {
        let node = r#"apiVersion: v1
kind: Node
metadata: {name: n1, creationTimestamp: "2025-12-01T00:00:00Z"}
status:
  conditions: [{type: Ready, status: "False", reason: KubeletNotReady, lastTransitionTime: "2026-01-01T11:00:00Z"}]
"#;
        let ev = event(
            "n.1",
            "Node",
            "n1",
            "NodeNotReady",
            3,
            "2026-01-01T11:00:00Z",
        );
        let all = crate::testutil::run_all(&index(&format!("{node}---\n{ev}"), &[]));
        assert!(all.iter().any(|f| f.id == "node.not-ready"));
        assert!(
            !all.iter().any(|f| f.id == "event.unexplained-warning"),
            "{all:#?}"
        );
    }
}
