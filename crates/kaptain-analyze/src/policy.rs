//! PodDisruptionBudgets (policy/v1): budgets that allow no disruption at all (node drains
//! hang) and budgets whose selector matches no pod.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::certain::{due, pods_blocked, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{human_duration, ns_name, obj_ref, pod_ref};
use crate::workload::{GRACE_SECS, age, get_pods_cmd, pod_ready, pod_state};

const ZERO_DISRUPTIONS: CheckInfo = CheckInfo::new(
    "pdb.zero-disruptions",
    Category::Reliability,
    Severity::Medium,
    "A PodDisruptionBudget allows no disruption, so node drains and evictions block",
    &[Kind::PodDisruptionBudget, Kind::Pod],
);

const SELECTS_NOTHING: CheckInfo = CheckInfo::new(
    "pdb.selects-nothing",
    Category::Config,
    Severity::Low,
    "A PodDisruptionBudget's selector matches no pod in its namespace",
    &[Kind::PodDisruptionBudget, Kind::Pod],
)
.confidence(0.8);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(ZERO_DISRUPTIONS, zero_disruptions),
        Check::new(SELECTS_NOTHING, selects_nothing),
    ]
}

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// `minAvailable: 3` / `maxUnavailable: 0`, as written in the spec.
fn budget_text(p: &PodDisruptionBudget) -> String {
    let spec = p.spec.as_ref();
    match (
        spec.and_then(|s| s.min_available.as_ref()),
        spec.and_then(|s| s.max_unavailable.as_ref()),
    ) {
        (Some(m), _) => format!("minAvailable: {}", int_or_string(m)),
        (None, Some(m)) => format!("maxUnavailable: {}", int_or_string(m)),
        (None, None) => "no minAvailable or maxUnavailable".to_string(),
    }
}

fn zero_disruptions(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in ctx.idx.objects.pdbs.iter() {
        let Some(st) = p.status.as_ref() else {
            continue;
        };
        if st.disruptions_allowed > 0 || st.expected_pods <= 0 {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        let budget = budget_text(p);
        let counts = Evidence::status(format!(
            "status: disruptionsAllowed=0, expectedPods={}, currentHealthy={}, desiredHealthy={}",
            st.expected_pods, st.current_healthy, st.desired_healthy
        ));
        let object = obj_ref(Kind::PodDisruptionBudget, &p.metadata);
        let sel = p.spec.as_ref().and_then(|s| s.selector.as_ref());
        if st.desired_healthy >= st.expected_pods {
            // The budget itself forbids every eviction, whatever the pods' health.
            ctx.finding(info, object, "")
                .title(format!(
                    "PDB {ns}/{name} blocks every voluntary eviction ({budget} with {} pod(s))",
                    st.expected_pods
                ))
                .message(format!(
                    "PodDisruptionBudget {name} requires {} healthy pod(s) out of {} ({budget}), so \
                     it never allows a single eviction. `kubectl drain`, node upgrades and cluster \
                     autoscaler scale-downs hang on nodes that run these pods. Allow at least one \
                     disruption (maxUnavailable: 1), or run more replicas than minAvailable.",
                    st.desired_healthy, st.expected_pods
                ))
                .evidence(Evidence::spec(format!("spec: {budget}")))
                .evidence(counts)
                .fix(
                    "Let the budget allow one pod down at a time (or add replicas).",
                    [format!(
                        "kubectl -n {ns} patch pdb {name} --type merge -p '{{\"spec\":{{\"minAvailable\":null,\"maxUnavailable\":1}}}}'"
                    )],
                )
                .patch("spec:\n  minAvailable: null\n  maxUnavailable: 1\n")
                .push(out);
            continue;
        }
        // Not the budget's own doing: some selected pods are unhealthy.
        if st.current_healthy >= st.expected_pods {
            continue;
        }
        // Pods are unhealthy: only a finding once that has lasted past the grace period.
        let cond = st
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "DisruptionAllowed");
        let lasted = cond.map_or(age(ctx, &p.metadata), |c| {
            ctx.age_secs(c.last_transition_time.0)
        });
        let pods = sel
            .map(|s| ctx.idx.pods_matching_selector(ns, s))
            .unwrap_or_default();
        // Certain now when the unhealthy pods can never become ready (a missing ConfigMap,
        // an invalid image, ...); otherwise pods may still be starting.
        let certain = pods_blocked(ctx, pods.iter().copied().filter(|p| !pod_ready(p)));
        if !due(Some(lasted), !certain.is_empty(), GRACE_SECS) {
            continue;
        }
        let mut evidence = vec![counts, Evidence::spec(format!("spec: {budget}"))];
        evidence.extend(cond.map(|c| {
            Evidence::status(format!(
                "condition DisruptionAllowed={} ({}): {}",
                c.status,
                c.reason,
                c.message.trim()
            ))
        }));
        evidence.extend(
            pods.iter()
                .filter(|p| !pod_ready(p))
                .take(3)
                .map(|p| Evidence::status(format!("Pod {}: {}", pod_ref(p).name, pod_state(p)))),
        );
        evidence.push(which(&certain, "pods may still be starting", GRACE_SECS));
        let missing = st.desired_healthy - st.current_healthy + 1;
        ctx.finding(info, object, "")
            .title(format!(
                "PDB {ns}/{name} allows no disruption: {}/{} pods healthy, {} required",
                st.current_healthy, st.expected_pods, st.desired_healthy
            ))
            .message(format!(
                "PodDisruptionBudget {name} ({budget}) needs {} healthy pods but only {} are, \
                 so it allows no eviction until {missing} more become healthy (for {}). Node \
                 drains block meanwhile. The unhealthy pods are the cause.",
                st.desired_healthy,
                st.current_healthy,
                human_duration(lasted)
            ))
            .evidences(evidence)
            .fix(
                "Fix the unhealthy pods the budget selects (see the linked findings).",
                [
                    get_pods_cmd(ns, sel),
                    format!("kubectl -n {ns} describe pdb {name}"),
                ],
            )
            .cause_hints(pods.iter().map(|p| pod_ref(p)))
            .push(out);
    }
}

fn selects_nothing(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    if !ctx.idx.has(Kind::Pod) {
        return;
    }
    for p in ctx.idx.objects.pdbs.iter() {
        let (ns, name) = ns_name(&p.metadata);
        // Only judge namespaces whose pods we see; trust the controller if it counts pods.
        if ctx.idx.objects.pods.in_namespace(ns).next().is_none()
            || p.status.as_ref().is_some_and(|s| s.expected_pods > 0)
        {
            continue;
        }
        let sel = p.spec.as_ref().and_then(|s| s.selector.as_ref());
        // A null selector selects nothing; an empty one ({}) every pod of the namespace.
        if sel.is_some_and(|s| !ctx.idx.pods_matching_selector(ns, s).is_empty()) {
            continue;
        }
        let shown = sel
            .map(|s| {
                crate::workload::selector_string(Some(s))
                    .unwrap_or_else(|| "matchExpressions only".to_string())
            })
            .unwrap_or_else(|| "none".to_string());
        ctx.finding(info, obj_ref(Kind::PodDisruptionBudget, &p.metadata), "")
            .title(format!("PDB {ns}/{name} selects no pods (selector {shown})"))
            .message(format!(
                "PodDisruptionBudget {name} matches no pod in namespace {ns}, so it protects \
                 nothing: a drain can take every replica of the workload it was meant for down \
                 at once. The selector probably does not match the pods' labels (renamed app?)."
            ))
            .evidence(Evidence::spec(format!("spec.selector: {shown}")))
            .fix(
                "Make the selector match the labels of the pods it should protect, or delete the PDB.",
                [format!("kubectl -n {ns} get pods --show-labels"), format!("kubectl -n {ns} edit pdb {name}")],
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{index, run};
    use kaptain_model::Severity;

    fn pdb(spec: &str, status: &str) -> String {
        format!(
            r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: api, namespace: shop, creationTimestamp: "2025-12-01T00:00:00Z"}}
spec: {spec}
status: {status}
"#
        )
    }

    fn pod(name: &str, ready: &str) -> String {
        format!(
            r#"
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: shop, labels: {{app: api}}}}
spec: {{containers: [{{name: api, image: api}}]}}
status: {{phase: Running, conditions: [{{type: Ready, status: "{ready}"}}]}}
"#
        )
    }

    #[test]
    fn min_available_equal_to_replicas_blocks_every_eviction() {
        let yaml = pdb(
            "{minAvailable: 2, selector: {matchLabels: {app: api}}}",
            "{disruptionsAllowed: 0, expectedPods: 2, currentHealthy: 2, desiredHealthy: 2}",
        );
        let f = run("pdb.zero-disruptions", &index(&yaml, &[]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(
            f[0].title
                .contains("blocks every voluntary eviction (minAvailable: 2"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].remediation
                .patch
                .as_deref()
                .is_some_and(|p| p.contains("maxUnavailable: 1"))
        );
    }

    #[test]
    fn unhealthy_pods_hint_the_selected_pods() {
        let status = r#"{disruptionsAllowed: 0, expectedPods: 3, currentHealthy: 1, desiredHealthy: 2,
  conditions: [{type: DisruptionAllowed, status: "False", reason: InsufficientPods, message: "", lastTransitionTime: "2026-01-01T11:00:00Z"}]}"#;
        let yaml = format!(
            "{}{}{}{}",
            pdb(
                "{minAvailable: 2, selector: {matchLabels: {app: api}}}",
                status
            ),
            pod("a", "True"),
            pod("b", "False"),
            pod("c", "False")
        );
        let f = run("pdb.zero-disruptions", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("1/3 pods healthy, 2 required"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints.len(), 3);
        // The same, but it only just happened (a rolling restart): not yet.
        let fresh = yaml.replace("2026-01-01T11:00:00Z", "2026-01-01T11:59:00Z");
        assert!(run("pdb.zero-disruptions", &index(&fresh, &[])).is_empty());
    }

    #[test]
    fn pdb_allowing_disruptions_is_fine() {
        let yaml = pdb(
            "{maxUnavailable: 1, selector: {matchLabels: {app: api}}}",
            "{disruptionsAllowed: 1, expectedPods: 3, currentHealthy: 3, desiredHealthy: 2}",
        );
        assert!(run("pdb.zero-disruptions", &index(&yaml, &[])).is_empty());
    }

    #[test]
    fn selects_nothing_only_where_pods_are_known() {
        let none = "{disruptionsAllowed: 0, expectedPods: 0, currentHealthy: 0, desiredHealthy: 0}";
        let yaml = format!(
            "{}{}",
            pdb(
                "{minAvailable: 1, selector: {matchLabels: {app: web}}}",
                none
            ),
            pod("a", "True")
        );
        let f = run("pdb.selects-nothing", &index(&yaml, &[]));
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].title,
            "PDB shop/api selects no pods (selector app=web)"
        );
        // Matching selector, or no pods collected in the namespace: nothing.
        let ok = format!(
            "{}{}",
            pdb(
                "{minAvailable: 1, selector: {matchLabels: {app: api}}}",
                none
            ),
            pod("a", "True")
        );
        assert!(run("pdb.selects-nothing", &index(&ok, &[])).is_empty());
        let unknown = pdb(
            "{minAvailable: 1, selector: {matchLabels: {app: web}}}",
            none,
        );
        assert!(
            run(
                "pdb.selects-nothing",
                &index(&unknown, &[kaptain_index::Kind::Pod])
            )
            .is_empty()
        );
    }
}
