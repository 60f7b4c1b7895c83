//! Ingresses (networking.k8s.io/v1): an IngressClass that no controller will pick up, backends
//! naming Services or ports that do not exist or Services with no ready endpoints, and TLS
//! Secrets that are missing or not TLS Secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, ServiceBackendPort};
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::certain::{certain_now, may_resolve, near_name, settled, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::service::endpoints::{GRACE_SECS, age_of, down, fresh, health, routes_to_pods};
use crate::util::{ns_name, obj_ref, ref_to};

const MISSING_CLASS: CheckInfo = CheckInfo::new(
    "ingress.missing-class",
    Category::Network,
    Severity::Medium,
    "An Ingress names no IngressClass (and none is the default) or names one that does not exist",
    &[Kind::Ingress, Kind::IngressClass],
)
.confidence(0.8);

const MISSING_SERVICE: CheckInfo = CheckInfo::new(
    "ingress.missing-service",
    Category::Network,
    Severity::High,
    "An Ingress backend names a Service that does not exist",
    &[Kind::Ingress, Kind::Service],
)
.confidence(0.95);

const MISSING_SERVICE_PORT: CheckInfo = CheckInfo::new(
    "ingress.missing-service-port",
    Category::Network,
    Severity::High,
    "An Ingress backend names a port (number or name) its Service does not have",
    &[Kind::Ingress, Kind::Service],
)
.confidence(0.95);

const BACKEND_UNAVAILABLE: CheckInfo = CheckInfo::new(
    "ingress.backend-unavailable",
    Category::Network,
    Severity::High,
    "An Ingress backend Service has no ready endpoints, so its routes answer 503",
    &[Kind::Ingress, Kind::Service, Kind::Endpoints, Kind::Pod],
)
.confidence(0.9);

const MISSING_TLS_SECRET: CheckInfo = CheckInfo::new(
    "ingress.missing-tls-secret",
    Category::Certificate,
    Severity::High,
    "An Ingress TLS entry names a Secret that does not exist or is not a kubernetes.io/tls Secret",
    &[Kind::Ingress, Kind::Secret],
)
.confidence(0.9);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(MISSING_CLASS, missing_class),
        Check::new(MISSING_SERVICE, |c, i, o| {
            backends(c, i, o, Problem::Missing)
        }),
        Check::new(MISSING_SERVICE_PORT, |c, i, o| {
            backends(c, i, o, Problem::Port)
        }),
        Check::new(BACKEND_UNAVAILABLE, |c, i, o| {
            backends(c, i, o, Problem::Unavailable)
        }),
        Check::new(MISSING_TLS_SECRET, missing_tls_secret),
    ]
}

const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

fn missing_class(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    if !idx.has(Kind::IngressClass) {
        return;
    }
    let classes: Vec<&str> = idx
        .objects
        .ingressclasses
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    let default = idx.objects.ingressclasses.iter().find(|c| {
        c.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
            .is_some_and(|v| v == "true")
    });
    let available = if classes.is_empty() {
        "none".to_string()
    } else {
        classes.join(", ")
    };
    for ing in idx.objects.ingresses.iter() {
        let (ns, name) = ns_name(&ing.metadata);
        let class = ing
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref());
        let annotated = ing
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(CLASS_ANNOTATION));
        let served = ing
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        let (key, title, message, evidence) = match class {
            Some(c) if !idx.exists(Kind::IngressClass, "", c) => (
                c.to_string(),
                format!("Ingress {ns}/{name} uses IngressClass {c:?}, which does not exist"),
                format!(
                    "Ingress {name} sets ingressClassName {c}, but no IngressClass of that name exists (available: {available}). \
                     No ingress controller will serve its routes."
                ),
                Evidence::spec(format!("spec.ingressClassName: {c}")),
            ),
            None if !annotated && default.is_none() && !served => (
                String::new(),
                format!(
                    "Ingress {ns}/{name} has no IngressClass and the cluster has no default class"
                ),
                format!(
                    "Ingress {name} sets neither spec.ingressClassName nor the {CLASS_ANNOTATION} annotation, and no IngressClass \
                     is marked default ({DEFAULT_CLASS_ANNOTATION}: \"true\"), so most controllers ignore it (available: {available}). \
                     Its status has no load-balancer address, which confirms no controller picked it up."
                ),
                Evidence::spec(
                    "spec.ingressClassName: unset; no kubernetes.io/ingress.class annotation",
                ),
            ),
            _ => continue,
        };
        let mut f = ctx
            .finding(info, obj_ref(Kind::Ingress, &ing.metadata), &key)
            .title(title)
            .message(message)
            .evidence(evidence)
            .evidence(Evidence::reference(format!(
                "IngressClasses in the cluster: {available}"
            )));
        let mut cmds = vec!["kubectl get ingressclass".to_string()];
        if let [only] = classes.as_slice() {
            let patch = format!(r#"{{"spec":{{"ingressClassName":"{only}"}}}}"#);
            cmds.push(format!("kubectl -n {ns} patch ingress {name} -p '{patch}'"));
            f = f.patch(patch);
        } else {
            cmds.push(format!("kubectl -n {ns} edit ingress {name}"));
        }
        f.fix(
            "Set spec.ingressClassName to the class of an installed ingress controller.",
            cmds,
        )
        .push(out);
    }
}

/// One Service backend of an Ingress and where it is used.
struct Backend<'a> {
    service: &'a str,
    port: Option<&'a ServiceBackendPort>,
    used_at: Vec<String>,
}

fn port_label(p: Option<&ServiceBackendPort>) -> String {
    match p {
        Some(ServiceBackendPort {
            number: Some(n), ..
        }) => n.to_string(),
        Some(ServiceBackendPort { name: Some(n), .. }) => format!("{n:?}"),
        _ => "(none)".into(),
    }
}

/// The Service backends of an Ingress, grouped by service and port.
fn service_backends<'a>(ing: &'a Ingress) -> Vec<Backend<'a>> {
    let mut by: BTreeMap<(String, String), Backend<'a>> = BTreeMap::new();
    let mut add = |b: &'a IngressBackend, at: String| {
        let Some(s) = b.service.as_ref() else { return };
        let e = by
            .entry((s.name.clone(), port_label(s.port.as_ref())))
            .or_insert_with(|| Backend {
                service: &s.name,
                port: s.port.as_ref(),
                used_at: Vec::new(),
            });
        e.used_at.push(at);
    };
    let Some(spec) = ing.spec.as_ref() else {
        return Vec::new();
    };
    if let Some(b) = spec.default_backend.as_ref() {
        add(b, "spec.defaultBackend".into());
    }
    for r in spec.rules.iter().flatten() {
        let host = r.host.as_deref().unwrap_or("*");
        for p in r.http.iter().flat_map(|h| h.paths.iter()) {
            add(
                &p.backend,
                format!("{host}{}", p.path.as_deref().unwrap_or("/")),
            );
        }
    }
    by.into_values().collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Problem {
    Missing,
    Port,
    Unavailable,
}

fn backends(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>, problem: Problem) {
    let idx = ctx.idx;
    if !idx.has(Kind::Service) {
        return;
    }
    for ing in idx.objects.ingresses.iter() {
        let (ns, name) = ns_name(&ing.metadata);
        for b in service_backends(ing) {
            let svc = idx.objects.services.get(ns, b.service);
            let port = port_label(b.port);
            let key = format!("{}:{port}", b.service);
            let routes = b.used_at.join(", ");
            let obj = obj_ref(Kind::Ingress, &ing.metadata);
            let svc_ref = ref_to(Kind::Service, ns, b.service);
            let route_ev = Evidence::spec(format!(
                "backend Service {} port {port} serves {routes}",
                b.service
            ));
            match (problem, svc) {
                // A Service that does not exist is certain now, once the Ingress is not brand
                // new (its Service may be in the same apply).
                (Problem::Missing, None) if settled(age_of(ctx, &ing.metadata)) => {
                    let hint = near_name(ctx, Kind::Service, ns, b.service)
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default();
                    ctx.finding(info, obj, &key)
                        .title(format!("Ingress {ns}/{name} routes to Service {ns}/{} which does not exist", b.service))
                        .message(format!(
                            "Ingress {name} sends {routes} to Service {}, but no Service of that name exists in namespace {ns}; \
                             the ingress controller answers those routes with 503 (or 404).",
                            b.service
                        ))
                        .evidence(route_ev)
                        .evidence(Evidence::reference(format!("Service {ns}/{} not found", b.service)))
                        .evidence(certain_now(format!("Service {ns}/{} does not exist", b.service)))
                        .fix(
                            format!("Create Service {ns}/{} or point the Ingress at an existing Service{hint}.", b.service),
                            [format!("kubectl -n {ns} get services"), format!("kubectl -n {ns} edit ingress {name}")],
                        )
                        .push(out);
                }
                (Problem::Port, Some(svc)) => {
                    let ports = svc.spec.iter().flat_map(|s| s.ports.iter().flatten());
                    let ok = match b.port {
                        Some(ServiceBackendPort {
                            number: Some(n), ..
                        }) => ports.clone().any(|p| p.port == *n),
                        Some(ServiceBackendPort { name: Some(n), .. }) => {
                            ports.clone().any(|p| p.name.as_deref() == Some(n))
                        }
                        _ => true,
                    };
                    if ok || !routes_to_pods(svc) {
                        continue;
                    }
                    let has: Vec<String> = ports
                        .map(|p| {
                            p.name
                                .as_deref()
                                .map_or_else(|| p.port.to_string(), |n| format!("{n}:{}", p.port))
                        })
                        .collect();
                    let has = if has.is_empty() {
                        "no ports".to_string()
                    } else {
                        has.join(", ")
                    };
                    ctx.finding(info, obj, &key)
                        .title(format!("Ingress {ns}/{name} uses port {port} of Service {ns}/{}, which has no such port", b.service))
                        .message(format!(
                            "Ingress {name} sends {routes} to port {port} of Service {}, but the Service only exposes {has}; \
                             the controller cannot route those requests.",
                            b.service
                        ))
                        .evidence(route_ev)
                        .evidence(Evidence::spec(format!("Service {ns}/{} ports: {has}", b.service)))
                        .fix(
                            "Use one of the Service's ports in the Ingress backend (or add the port to the Service).",
                            [format!("kubectl -n {ns} get service {} -o yaml", b.service), format!("kubectl -n {ns} edit ingress {name}")],
                        )
                        .push(out);
                }
                (Problem::Unavailable, Some(svc)) => {
                    let Some(h) = health(ctx, svc) else { continue };
                    if !down(ctx, svc, &h) {
                        continue;
                    }
                    ctx.finding(info, obj, &key)
                        .title(format!("Ingress {ns}/{name} backend Service {ns}/{} has no ready endpoints", b.service))
                        .message(format!(
                            "Ingress {name} sends {routes} to Service {}, which has no ready endpoints ({}), so the controller \
                             answers those routes with 503. The cause is on the Service and its pods.",
                            b.service,
                            h.summary()
                        ))
                        .evidence(route_ev)
                        .evidence(Evidence::status(format!("Service {ns}/{}: {}", b.service, h.summary())))
                        .evidence(which(&h.certain(ctx, svc), "its pods may still be starting", GRACE_SECS))
                        .cause_hint(svc_ref)
                        .fix(
                            format!("Make Service {ns}/{}'s pods Ready (see the Service's findings).", b.service),
                            [format!("kubectl -n {ns} get endpoints {}", b.service), format!("kubectl -n {ns} describe service {}", b.service)],
                        )
                        .push(out);
                }
                _ => {}
            }
        }
    }
}

fn missing_tls_secret(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    if !idx.has(Kind::Secret) {
        return;
    }
    for ing in idx.objects.ingresses.iter() {
        let (ns, name) = ns_name(&ing.metadata);
        let cert_manager = ing
            .metadata
            .annotations
            .iter()
            .flatten()
            .find(|(k, _)| k.starts_with("cert-manager.io/") && k.ends_with("issuer"))
            .map(|(k, v)| format!("{k}: {v}"));
        for tls in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            let Some(sname) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let hosts = tls
                .hosts
                .as_ref()
                .map(|h| h.join(", "))
                .unwrap_or_else(|| "all hosts".into());
            let problem = match idx.objects.secrets.get(ns, sname) {
                // cert-manager may still be issuing it: that may resolve; otherwise a
                // missing Secret is certain once the Ingress is not brand new.
                None if cert_manager.is_some() && fresh(ctx, &ing.metadata) => continue,
                None if !settled(age_of(ctx, &ing.metadata)) => continue,
                None => "does not exist".to_string(),
                Some(s) => {
                    let ty = s.type_.as_deref().unwrap_or("Opaque");
                    let has = |k: &str| {
                        s.data.as_ref().is_some_and(|d| d.contains_key(k))
                            || s.string_data.as_ref().is_some_and(|d| d.contains_key(k))
                    };
                    let missing: Vec<&str> = ["tls.crt", "tls.key"]
                        .into_iter()
                        .filter(|k| !has(k))
                        .collect();
                    if ty != "kubernetes.io/tls" {
                        format!("has type {ty}, not kubernetes.io/tls")
                    } else if !missing.is_empty() {
                        format!("lacks key {}", missing.join(" and "))
                    } else {
                        continue;
                    }
                }
            };
            let issuer_note = cert_manager.as_ref().map_or_else(String::new, |a| {
                format!(" The Ingress is annotated {a}: cert-manager should create this Secret; check its Certificate.")
            });
            let mut cmds = vec![format!("kubectl -n {ns} get secret {sname} -o yaml")];
            if cert_manager.is_some() {
                cmds.push(format!("kubectl -n {ns} describe certificate {sname}"));
            } else {
                cmds.push(format!(
                    "kubectl -n {ns} create secret tls {sname} --cert=tls.crt --key=tls.key"
                ));
            }
            ctx.finding(info, obj_ref(Kind::Ingress, &ing.metadata), sname)
                .title(format!("Ingress {ns}/{name} TLS Secret {sname} {problem}"))
                .message(format!(
                    "Ingress {name} serves TLS for {hosts} with Secret {sname}, which {problem}. The ingress controller falls \
                     back to its default (usually self-signed) certificate, so clients see certificate errors.{issuer_note}"
                ))
                .evidence(Evidence::spec(format!("spec.tls secretName {sname} for {hosts}")))
                .evidence(Evidence::reference(format!("Secret {ns}/{sname} {problem}")))
                .evidence(if cert_manager.is_some() {
                    may_resolve("cert-manager may still be issuing the certificate", GRACE_SECS)
                } else {
                    certain_now(format!("Secret {ns}/{sname} {problem}"))
                })
                .fix(format!("Provide a kubernetes.io/tls Secret {ns}/{sname} with tls.crt and tls.key."), cmds)
                .push(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{index, run};
    use kaptain_index::Kind;

    const OLD: &str = "2025-12-01T00:00:00Z";

    fn ingress(extra_spec: &str) -> String {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: shop, creationTimestamp: \"{OLD}\"}}\n\
             spec:\n{extra_spec}  rules:\n  - host: shop.example.com\n    http:\n      paths:\n      - path: /api\n        pathType: Prefix\n\
             \x20       backend: {{service: {{name: api, port: {{number: 80}}}}}}\n"
        )
    }

    fn service(ports: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: api, namespace: shop, creationTimestamp: \"{OLD}\"}}\n\
             spec: {{selector: {{app: api}}, ports: [{ports}]}}\n"
        )
    }

    fn pod(ready: bool) -> String {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: api-1, namespace: shop, labels: {{app: api}}, creationTimestamp: \"{OLD}\"}}\n\
             spec: {{containers: [{{name: a, image: x}}]}}\nstatus: {{phase: Running, conditions: [{{type: Ready, status: \"{}\"}}]}}\n",
            if ready { "True" } else { "False" }
        )
    }

    const CLASS: &str = "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n";

    #[test]
    fn missing_class_unset_or_unknown() {
        let unset = format!("{}{CLASS}", ingress(""));
        let f = run("ingress.missing-class", &index(&unset, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].title.contains("no default class"), "{}", f[0].title);
        assert!(
            f[0].remediation
                .patch
                .as_deref()
                .is_some_and(|p| p.contains("nginx"))
        );
        let unknown = format!("{}{CLASS}", ingress("  ingressClassName: traefik\n"));
        let f = run("ingress.missing-class", &index(&unknown, &[]));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.contains("\"traefik\", which does not exist"),
            "{}",
            f[0].title
        );
    }

    #[test]
    fn missing_class_quiet_with_class_default_or_unknown_classes() {
        let ok = format!("{}{CLASS}", ingress("  ingressClassName: nginx\n"));
        assert!(run("ingress.missing-class", &index(&ok, &[])).is_empty());
        let default = "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\n\
                       metadata: {name: nginx, annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}}\nspec: {controller: x}\n";
        assert!(
            run(
                "ingress.missing-class",
                &index(&format!("{}{default}", ingress("")), &[])
            )
            .is_empty()
        );
        // IngressClasses not collected: nothing can be said.
        assert!(run("ingress.missing-class", &index(&ingress(""), &[])).is_empty());
    }

    #[test]
    fn missing_service_and_port() {
        let idx = index(&ingress("  ingressClassName: nginx\n"), &[Kind::Service]);
        let f = run("ingress.missing-service", &idx);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("Service shop/api which does not exist"),
            "{}",
            f[0].title
        );
        assert!(f[0].evidence[0].detail.contains("shop.example.com/api"));
        assert!(
            run("ingress.missing-service", &index(&ingress(""), &[])).is_empty(),
            "Services not collected"
        );

        let wrong_port = format!("{}{}", ingress(""), service("{name: http, port: 8080}"));
        let idx = index(&wrong_port, &[]);
        assert!(run("ingress.missing-service", &idx).is_empty());
        let f = run("ingress.missing-service-port", &idx);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].evidence[1].detail.contains("http:8080"));
        let ok = format!("{}{}", ingress(""), service("{port: 80}"));
        assert!(run("ingress.missing-service-port", &index(&ok, &[])).is_empty());
    }

    #[test]
    fn backend_unavailable_hints_the_service() {
        let yaml = format!("{}{}{}", ingress(""), service("{port: 80}"), pod(false));
        let f = run("ingress.backend-unavailable", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].cause_hints[0].kind, "Service");
        assert_eq!(f[0].cause_hints[0].name, "api");
        let healthy = format!("{}{}{}", ingress(""), service("{port: 80}"), pod(true));
        assert!(run("ingress.backend-unavailable", &index(&healthy, &[])).is_empty());
    }

    #[test]
    fn chain_ingress_to_service_to_pods() {
        let yaml = format!("{}{}{}", ingress(""), service("{port: 80}"), pod(false));
        let idx = index(&yaml, &[]);
        let checks: Vec<_> = crate::catalog()
            .iter()
            .filter(|c| {
                ["ingress.backend-unavailable", "service.no-ready-endpoints"].contains(&c.info.id)
            })
            .collect();
        let f = crate::analyze(&idx, &checks, crate::testutil::now());
        assert_eq!(f.len(), 2, "{f:#?}");
        let ing = f
            .iter()
            .find(|f| f.id == "ingress.backend-unavailable")
            .expect("ingress finding");
        let svc = f
            .iter()
            .find(|f| f.id == "service.no-ready-endpoints")
            .expect("service finding");
        assert_eq!(ing.caused_by, vec![svc.fingerprint.clone()]);
        assert!(!ing.root_cause);
    }

    #[test]
    fn tls_secret_missing_or_wrong_type() {
        let tls = "  tls:\n  - hosts: [shop.example.com]\n    secretName: shop-tls\n";
        let f = run(
            "ingress.missing-tls-secret",
            &index(&ingress(tls), &[Kind::Secret]),
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("shop-tls does not exist"),
            "{}",
            f[0].title
        );
        let opaque = format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: shop-tls, namespace: shop}}\ntype: Opaque\ndata: {{tls.crt: eA==, tls.key: eA==}}\n",
            ingress(tls)
        );
        let f = run("ingress.missing-tls-secret", &index(&opaque, &[]));
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("type Opaque"), "{}", f[0].title);
        let good = opaque.replace("type: Opaque", "type: kubernetes.io/tls");
        assert!(run("ingress.missing-tls-secret", &index(&good, &[])).is_empty());
    }
}
