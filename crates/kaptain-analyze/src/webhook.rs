//! Admission webhooks (admissionregistration v1) whose Service is missing or has no ready
//! endpoints. With failurePolicy Fail (the v1 default) the API server rejects every create
//! or update the webhook matches, which stalls deployments cluster-wide. Webhooks called by
//! URL are out of scope.

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::{RuleWithOperations, ServiceReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::certain::{certain_now, settled, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::service::endpoints::{GRACE_SECS, age_of, down, health};
use crate::util::{event_evidence, obj_ref, ref_to};

const NO_ENDPOINTS: CheckInfo = CheckInfo::new(
    "webhook.no-endpoints",
    Category::Reliability,
    Severity::Critical,
    "An admission webhook's Service does not exist or has no ready endpoints (matching requests fail)",
    &[
        Kind::ValidatingWebhookConfiguration,
        Kind::MutatingWebhookConfiguration,
        Kind::Service,
        Kind::Endpoints,
        Kind::Pod,
        Kind::Namespace,
        Kind::Event,
    ],
)
.confidence(0.9);

pub(crate) fn checks() -> Vec<Check> {
    vec![Check::new(NO_ENDPOINTS, no_endpoints)]
}

/// The parts of a validating or mutating webhook this check reads.
struct Hook<'a> {
    kind: Kind,
    config: &'a ObjectMeta,
    index: usize,
    name: &'a str,
    service: &'a ServiceReference,
    failure_policy: &'a str,
    rules: &'a [RuleWithOperations],
}

fn hooks(idx: &ClusterIndex) -> Vec<Hook<'_>> {
    let mut v = Vec::new();
    macro_rules! collect {
        ($store:expr, $kind:expr) => {
            for c in $store.iter() {
                for (i, w) in c.webhooks.iter().flatten().enumerate() {
                    let Some(service) = w.client_config.service.as_ref() else {
                        continue;
                    };
                    v.push(Hook {
                        kind: $kind,
                        config: &c.metadata,
                        index: i,
                        name: &w.name,
                        service,
                        failure_policy: w.failure_policy.as_deref().unwrap_or("Fail"),
                        rules: w.rules.as_deref().unwrap_or(&[]),
                    });
                }
            }
        };
    }
    collect!(
        idx.objects.validating_webhooks,
        Kind::ValidatingWebhookConfiguration
    );
    collect!(
        idx.objects.mutating_webhooks,
        Kind::MutatingWebhookConfiguration
    );
    v
}

/// Namespaces in which namespaced objects were seen: a namespace-scoped scan lists Services of
/// one namespace only, so a Service elsewhere is only "missing" if its namespace was seen.
fn observed_namespaces(idx: &ClusterIndex) -> BTreeSet<&str> {
    let s = &idx.objects;
    let metas = s
        .services
        .iter()
        .map(|o| &o.metadata)
        .chain(s.pods.iter().map(|o| &o.metadata))
        .chain(s.endpoints.iter().map(|o| &o.metadata))
        .chain(s.configmaps.iter().map(|o| &o.metadata))
        .chain(s.serviceaccounts.iter().map(|o| &o.metadata))
        .chain(s.deployments.iter().map(|o| &o.metadata));
    metas.filter_map(|m| m.namespace.as_deref()).collect()
}

fn fmt_rules(rules: &[RuleWithOperations]) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|r| {
            let ops = r.operations.as_deref().unwrap_or(&[]).join(",");
            let res = r.resources.as_deref().unwrap_or(&[]).join(",");
            format!("{ops} {res}")
        })
        .collect();
    if parts.is_empty() {
        "no rules".into()
    } else {
        parts.join("; ")
    }
}

fn no_endpoints(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    let seen = observed_namespaces(idx);
    for h in hooks(idx) {
        let (sns, sname) = (h.service.namespace.as_str(), h.service.name.as_str());
        let port = h.service.port.unwrap_or(443);
        let (problem, detail, which_ev) = match idx.objects.services.get(sns, sname) {
            None => {
                let ns_missing = idx.has(Kind::Namespace) && !idx.exists(Kind::Namespace, "", sns);
                // A Service that does not exist is certain now, once the configuration is not
                // brand new (its Service may be in the same apply).
                if !idx.has(Kind::Service)
                    || !settled(age_of(ctx, h.config))
                    || !(ns_missing || seen.contains(sns))
                {
                    continue;
                }
                let why = if ns_missing {
                    format!(" (namespace {sns} does not exist either)")
                } else {
                    String::new()
                };
                (
                    "does not exist".to_string(),
                    format!("Service {sns}/{sname} not found{why}"),
                    certain_now(format!("Service {sns}/{sname} does not exist")),
                )
            }
            Some(svc) => {
                let Some(hl) = health(ctx, svc) else { continue };
                if !down(ctx, svc, &hl) {
                    continue;
                }
                (
                    "has no ready endpoints".to_string(),
                    format!("Service {sns}/{sname}: {}", hl.summary()),
                    which(
                        &hl.certain(ctx, svc),
                        "the webhook's pods may still be starting",
                        GRACE_SECS,
                    ),
                )
            }
        };
        let fail = h.failure_policy != "Ignore";
        let config_name = h.config.name.as_deref().unwrap_or("");
        let what = if h.kind == Kind::MutatingWebhookConfiguration {
            "mutating"
        } else {
            "validating"
        };
        let rules = fmt_rules(h.rules);
        let impact = if fail {
            format!(
                "its failurePolicy is {}, so the API server rejects every request it matches ({rules}) with \
                 \"failed calling webhook\" — in every namespace its selectors match",
                h.failure_policy
            )
        } else {
            format!(
                "its failurePolicy is Ignore, so matching requests ({rules}) are admitted without the webhook's checks or mutations"
            )
        };
        let needle = format!("calling webhook \"{}\"", h.name);
        let mut evs: Vec<_> = idx
            .objects
            .events
            .iter()
            .filter(|e| e.message.as_deref().is_some_and(|m| m.contains(&needle)))
            .collect();
        evs.sort_by_key(|e| kaptain_index::event_time(e));
        let kind_plural = h.kind.plural().trim_end_matches('s');
        let json_patch = format!(
            r#"[{{"op":"replace","path":"/webhooks/{}/failurePolicy","value":"Ignore"}}]"#,
            h.index
        );
        let mut cmds = vec![
            format!("kubectl -n {sns} get service,endpoints {sname}"),
            format!("kubectl -n {sns} get pods -o wide"),
        ];
        if fail {
            cmds.push(format!("kubectl patch {kind_plural} {config_name} --type=json -p '{json_patch}'   # temporary, while the webhook is down"));
        }
        cmds.push(format!("kubectl delete {kind_plural} {config_name}   # only if the webhook's software was uninstalled"));
        let mut f = ctx
            .finding(info, obj_ref(h.kind, h.config), h.name)
            .severity(if fail { Severity::Critical } else { Severity::Medium })
            .title(format!("Admission webhook {} calls Service {sns}/{sname}, which {problem}", h.name))
            .message(format!(
                "The {what} webhook {} (in {}/{config_name}) is served by Service {sns}/{sname} on port {port}, which {problem}; \
                 {impact}. Restore the webhook's Service and pods, or remove the configuration if its software was uninstalled.",
                h.name,
                h.kind.name()
            ))
            .evidence(Evidence::spec(format!(
                "webhooks[{}] {}: clientConfig.service {sns}/{sname}:{port}{}, failurePolicy {}",
                h.index,
                h.name,
                h.service.path.as_deref().unwrap_or(""),
                h.failure_policy
            )))
            .evidence(Evidence::spec(format!("rules: {rules}")))
            .evidence(Evidence::status(detail))
            .evidence(which_ev)
            .evidences(evs.iter().rev().take(3).map(|e| event_evidence(e, ctx.now)))
            .cause_hint(ref_to(Kind::Service, sns, sname))
            .fix(
                format!("Bring back Service {sns}/{sname} and its ready pods; until then set failurePolicy Ignore or delete the webhook configuration."),
                cmds,
            );
        if fail {
            f = f.patch(json_patch);
        }
        f.push(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{index, run};
    use kaptain_index::Kind;
    use kaptain_model::Severity;

    const OLD: &str = "2025-12-01T00:00:00Z";

    fn hook(policy: &str) -> String {
        format!(
            "---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
             metadata: {{name: policy-hooks, creationTimestamp: \"{OLD}\"}}\nwebhooks:\n\
             - name: validate.policy.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n{policy}\
             \x20 clientConfig: {{service: {{namespace: policy, name: policy-webhook, port: 8443}}}}\n\
             \x20 rules: [{{operations: [CREATE, UPDATE], apiGroups: [apps], apiVersions: [v1], resources: [deployments]}}]\n\
             - name: by-url.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n\
             \x20 clientConfig: {{url: \"https://hooks.example.com/x\"}}\n"
        )
    }

    fn svc_and_pod(ready: bool) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: policy-webhook, namespace: policy, creationTimestamp: \"{OLD}\"}}\n\
             spec: {{selector: {{app: policy}}, ports: [{{port: 8443}}]}}\n\
             ---\napiVersion: v1\nkind: Pod\nmetadata: {{name: policy-1, namespace: policy, labels: {{app: policy}}, creationTimestamp: \"{OLD}\"}}\n\
             spec: {{containers: [{{name: a, image: x}}]}}\nstatus: {{phase: Running, conditions: [{{type: Ready, status: \"{}\"}}]}}\n",
            if ready { "True" } else { "False" }
        )
    }

    const EVENT: &str = "---\napiVersion: v1\nkind: Event\nmetadata: {name: e1, namespace: shop}\n\
                         involvedObject: {kind: ReplicaSet, name: api-7d9c, namespace: shop}\ntype: Warning\nreason: FailedCreate\n\
                         message: 'Internal error occurred: failed calling webhook \"validate.policy.example.com\": no endpoints available'\n\
                         lastTimestamp: \"2026-01-01T11:58:00Z\"\n";

    #[test]
    fn unready_service_with_fail_policy_is_critical() {
        let yaml = format!("{}{}{EVENT}", hook(""), svc_and_pod(false));
        let f = run("webhook.no-endpoints", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].object.kind, "ValidatingWebhookConfiguration");
        assert!(
            f[0].title
                .contains("policy/policy-webhook, which has no ready endpoints"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints[0].kind, "Service");
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("failurePolicy Fail"))
        );
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("CREATE,UPDATE deployments"))
        );
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("FailedCreate"))
        );
    }

    #[test]
    fn missing_service_ignore_policy_is_medium() {
        let yaml = hook("  failurePolicy: Ignore\n");
        let f = run(
            "webhook.no-endpoints",
            &index(&yaml, &[Kind::Service, Kind::Namespace]),
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].title.contains("does not exist"), "{}", f[0].title);
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("namespace policy does not exist"))
        );
    }

    #[test]
    fn quiet_when_healthy_or_unknowable() {
        let healthy = format!("{}{}", hook(""), svc_and_pod(true));
        assert!(run("webhook.no-endpoints", &index(&healthy, &[])).is_empty());
        // Services not collected, or the Service's namespace was not scanned.
        assert!(run("webhook.no-endpoints", &index(&hook(""), &[])).is_empty());
        assert!(run("webhook.no-endpoints", &index(&hook(""), &[Kind::Service])).is_empty());
    }
}
