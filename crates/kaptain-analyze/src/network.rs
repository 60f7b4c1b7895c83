//! NetworkPolicies: selectors that select nothing (a policy that does nothing, usually a label
//! typo) and namespace-wide default-deny ingress policies, which explain "why can't X reach Y".

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{ns_name, obj_ref};

const SELECTS_NOTHING: CheckInfo = CheckInfo::new(
    "networkpolicy.selects-nothing",
    Category::Network,
    Severity::Low,
    "A NetworkPolicy's podSelector matches no pod in its namespace, so it has no effect",
    &[Kind::NetworkPolicy, Kind::Pod],
)
.confidence(0.8);

const DENY_ALL_INGRESS: CheckInfo = CheckInfo::new(
    "networkpolicy.deny-all-ingress",
    Category::Network,
    Severity::Info,
    "A NetworkPolicy denies all ingress to every pod of its namespace unless another policy allows it",
    &[Kind::NetworkPolicy],
)
.confidence(0.95);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(SELECTS_NOTHING, selects_nothing),
        Check::new(DENY_ALL_INGRESS, deny_all_ingress),
    ]
}

fn is_empty_selector(sel: Option<&LabelSelector>) -> bool {
    sel.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    })
}

fn fmt_selector(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let vals = e.values.as_deref().unwrap_or(&[]).join(",");
        parts.push(match e.operator.as_str() {
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            op => format!("{} {} ({vals})", e.key, op.to_ascii_lowercase()),
        });
    }
    parts.join(",")
}

fn selects_nothing(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    if !idx.has(Kind::Pod) {
        return;
    }
    for np in idx.objects.networkpolicies.iter() {
        let (ns, name) = ns_name(&np.metadata);
        let Some(sel) = np.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) else {
            continue;
        };
        // An empty selector selects every pod on purpose.
        if is_empty_selector(Some(sel)) {
            continue;
        }
        let in_ns = idx
            .objects
            .pods
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
            .count();
        if in_ns == 0 || !idx.pods_matching_selector(ns, sel).is_empty() {
            continue;
        }
        let sel_s = fmt_selector(sel);
        ctx.finding(info, obj_ref(Kind::NetworkPolicy, &np.metadata), "")
            .title(format!("NetworkPolicy {ns}/{name} selects no pods ({sel_s} matches none of {in_ns})"))
            .message(format!(
                "NetworkPolicy {name} applies to pods labelled {sel_s}, but none of the {in_ns} pods in namespace {ns} carries \
                 those labels, so the policy restricts nothing. If it was meant to protect a workload, its selector probably \
                 has a typo or the workload's labels changed."
            ))
            .evidence(Evidence::spec(format!("spec.podSelector: {sel_s}")))
            .evidence(Evidence::reference(format!("0 of {in_ns} pods in namespace {ns} match")))
            .fix(
                "Fix the podSelector to match the pods it should protect, or delete the policy if it is obsolete.",
                [format!("kubectl -n {ns} get pods --show-labels"), format!("kubectl -n {ns} edit networkpolicy {name}")],
            )
            .push(out);
    }
}

fn governs_ingress(np: &NetworkPolicy) -> bool {
    let Some(spec) = np.spec.as_ref() else {
        return false;
    };
    match spec.policy_types.as_ref() {
        Some(t) => t.iter().any(|t| t == "Ingress"),
        // Unset policyTypes: Ingress always applies (Egress only if egress rules exist).
        None => true,
    }
}

fn deny_all_ingress(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    for np in idx.objects.networkpolicies.iter() {
        let (ns, name) = ns_name(&np.metadata);
        let Some(spec) = np.spec.as_ref() else {
            continue;
        };
        if !governs_ingress(np)
            || !is_empty_selector(spec.pod_selector.as_ref())
            || spec.ingress.as_ref().is_some_and(|r| !r.is_empty())
        {
            continue;
        }
        // Policies in the same namespace that do allow some ingress.
        let allows: Vec<String> = idx
            .objects
            .networkpolicies
            .iter()
            .filter(|o| {
                o.metadata.namespace.as_deref() == Some(ns)
                    && o.metadata.name.as_deref() != Some(name)
            })
            .filter(|o| {
                governs_ingress(o)
                    && o.spec
                        .as_ref()
                        .and_then(|s| s.ingress.as_ref())
                        .is_some_and(|r| !r.is_empty())
            })
            .map(|o| {
                let sel = o.spec.as_ref().and_then(|s| s.pod_selector.as_ref());
                let to = if is_empty_selector(sel) {
                    "all pods".to_string()
                } else {
                    sel.map(fmt_selector).unwrap_or_default()
                };
                format!("{} (to {to})", o.metadata.name.as_deref().unwrap_or(""))
            })
            .collect();
        let allow_note = if allows.is_empty() {
            format!(
                "No other policy in {ns} allows any ingress, so no pod in {ns} accepts connections from anywhere."
            )
        } else {
            format!(
                "Only what these policies allow gets through: {}.",
                allows.join(", ")
            )
        };
        ctx.finding(info, obj_ref(Kind::NetworkPolicy, &np.metadata), "")
            .title(format!("NetworkPolicy {ns}/{name} denies all ingress to every pod in namespace {ns}"))
            .message(format!(
                "NetworkPolicy {name} selects every pod in namespace {ns} (empty podSelector), governs Ingress and lists no \
                 ingress rule: a default-deny. Connections to pods in {ns} (from other namespaces, the ingress controller, \
                 monitoring) are dropped unless another policy allows them. {allow_note}"
            ))
            .evidence(Evidence::spec("spec.podSelector: {} (all pods)"))
            .evidence(Evidence::spec(format!(
                "spec.policyTypes: {}; spec.ingress: none",
                spec.policy_types.as_ref().map_or_else(|| "unset (Ingress implied)".to_string(), |t| t.join(","))
            )))
            .evidences(allows.iter().take(5).map(|a| Evidence::reference(format!("NetworkPolicy {ns}/{a} allows some ingress"))))
            .fix(
                "If a connection into this namespace is blocked, add a NetworkPolicy that allows it (from the right namespace/pods and port).",
                [format!("kubectl -n {ns} get networkpolicy"), format!("kubectl -n {ns} describe networkpolicy {name}")],
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{index, run};
    use kaptain_model::Severity;

    const POD: &str = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-1, namespace: shop, labels: {app: api}}\n\
                       spec: {containers: [{name: a, image: x}]}\n";

    fn policy(name: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: shop}}\nspec: {spec}\n"
        )
    }

    #[test]
    fn selects_nothing_fires_on_a_typo() {
        let yaml = format!(
            "{POD}{}",
            policy(
                "api-only",
                "{podSelector: {matchLabels: {app: apii}}, policyTypes: [Ingress]}"
            )
        );
        let f = run("networkpolicy.selects-nothing", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.name, "api-only");
        assert!(f[0].title.contains("app=apii"), "{}", f[0].title);
    }

    #[test]
    fn selects_nothing_quiet_for_matches_empty_selectors_and_empty_namespaces() {
        let yaml = format!(
            "{POD}{}{}",
            policy("api", "{podSelector: {matchLabels: {app: api}}}"),
            policy("all", "{podSelector: {}}")
        );
        assert!(run("networkpolicy.selects-nothing", &index(&yaml, &[])).is_empty());
        let no_pods = policy("x", "{podSelector: {matchLabels: {app: none}}}");
        assert!(
            run(
                "networkpolicy.selects-nothing",
                &index(&no_pods, &[kaptain_index::Kind::Pod])
            )
            .is_empty()
        );
        assert!(
            run("networkpolicy.selects-nothing", &index(&no_pods, &[])).is_empty(),
            "pods not collected"
        );
    }

    #[test]
    fn deny_all_ingress_is_info_and_names_allowing_policies() {
        let yaml = format!(
            "{}{}",
            policy("default-deny", "{podSelector: {}, policyTypes: [Ingress]}"),
            policy(
                "allow-web",
                "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}]}]}"
            )
        );
        let f = run("networkpolicy.deny-all-ingress", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(f[0].object.name, "default-deny");
        assert!(
            f[0].message.contains("allow-web (to app=web)"),
            "{}",
            f[0].message
        );
        assert!(f[0].cause_hints.is_empty());
    }

    #[test]
    fn deny_all_ingress_quiet_for_egress_only_or_allow_all() {
        let yaml = format!(
            "{}{}",
            policy("egress-deny", "{podSelector: {}, policyTypes: [Egress]}"),
            policy("allow-all", "{podSelector: {}, ingress: [{}]}")
        );
        assert!(run("networkpolicy.deny-all-ingress", &index(&yaml, &[])).is_empty());
    }
}
