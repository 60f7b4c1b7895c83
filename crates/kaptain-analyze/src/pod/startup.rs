//! Containers that cannot start: images that cannot be pulled and configuration
//! (ConfigMaps, Secrets, keys) the kubelet cannot find.

use k8s_openapi::api::core::v1::Pod;
use kaptain_index::Kind;
use kaptain_model::{Evidence, Finding, ObjectRef};

use super::{
    PULL_REASONS, container_events, container_spec, kubectl_name, live_pods, quoted_after,
    status_path, statuses, tail, waiting_message, waiting_reason,
};
use crate::certain::{did_you_mean, due, has_key, invalid_image, near_image, near_name, which};
use crate::check::{CheckInfo, Ctx};
use crate::util::{latest_events, ns_name, pod_ref, ref_to};

#[derive(Debug, Clone, Copy, PartialEq)]
enum PullError {
    NotFound,
    Auth,
    NotFoundOrAuth,
    InvalidName,
    NeverPull,
    Unreachable,
    RateLimited,
    Unknown,
}

fn classify_pull(reason: &str, text: &str) -> PullError {
    let t = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    let missing = has(&[
        "not found",
        "does not exist",
        "manifest unknown",
        "name unknown",
    ]);
    let auth = has(&[
        "unauthorized",
        "pull access denied",
        "authentication required",
        "403 forbidden",
        "access denied",
        "denied: ",
    ]);
    match () {
        _ if reason == "InvalidImageName"
            || has(&["invalid reference format", "couldn't parse image"]) =>
        {
            PullError::InvalidName
        }
        _ if reason == "ErrImageNeverPull" => PullError::NeverPull,
        _ if missing && auth => PullError::NotFoundOrAuth,
        _ if missing => PullError::NotFound,
        _ if auth => PullError::Auth,
        _ if has(&["toomanyrequests", "rate limit"]) => PullError::RateLimited,
        _ if has(&[
            "i/o timeout",
            "no such host",
            "connection refused",
            "dial tcp",
            "deadline exceeded",
            "tls handshake",
        ]) =>
        {
            PullError::Unreachable
        }
        _ => PullError::Unknown,
    }
}

pub(super) fn image_pull(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    // `near_image` reads every pod of the cluster: once per image, not once per failing pod
    // (a bad rollout fails the same image in many pods).
    let mut near_images: std::collections::HashMap<String, Option<(String, String)>> =
        std::collections::HashMap::new();
    for p in live_pods(ctx) {
        let (ns, name) = ns_name(&p.metadata);
        let age = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| ctx.age_secs(t.0));
        for (cs, init) in statuses(p) {
            let Some(reason) = waiting_reason(cs).filter(|r| PULL_REASONS.contains(r)) else {
                continue;
            };
            let c = &cs.name;
            let image = container_spec(p, c)
                .and_then(|s| s.image.clone())
                .unwrap_or_else(|| cs.image.clone());
            let events: Vec<_> = container_events(
                ctx,
                p,
                &["Failed", "BackOff", "ErrImageNeverPull", "InspectFailed"],
                c,
            )
            .into_iter()
            .filter(|e| e.message.as_deref().is_some_and(|m| m.contains(&image)))
            .collect();
            let mut text = waiting_message(cs).unwrap_or("").to_string();
            for e in &events {
                text.push('\n');
                text.push_str(e.message.as_deref().unwrap_or(""));
            }
            let kind = classify_pull(reason, &text);
            // A pull that has not yet said why it fails may be a passing registry hiccup; what
            // the registry or the reference itself rules out is certain at once.
            let may_pass = matches!(
                kind,
                PullError::Unknown | PullError::Unreachable | PullError::RateLimited
            );
            if may_pass && age.is_some_and(|a| a < PULL_GRACE_SECS) {
                continue;
            }
            let (what, why, todo) = match kind {
                PullError::NotFound => (
                    "the image does not exist",
                    "The registry says the image or tag does not exist: the name or tag is misspelled, or the image was never pushed.",
                    "Correct the image name/tag (or push the image).",
                ),
                PullError::Auth => (
                    "access denied by the registry",
                    "The registry refused the pull (unauthorized / access denied): the pod has no valid imagePullSecret for this private registry.",
                    "Create a docker-registry Secret with valid credentials and list it in imagePullSecrets (of the pod template or its ServiceAccount).",
                ),
                PullError::NotFoundOrAuth => (
                    "the image does not exist or needs credentials",
                    "The registry says the repository does not exist or requires login: either the name is wrong or the pod lacks an imagePullSecret.",
                    "Check the image name; if it is private, add an imagePullSecret with valid credentials.",
                ),
                PullError::InvalidName => (
                    "invalid image name",
                    "The image reference is not a valid name (bad characters, upper case, or a malformed tag/digest).",
                    "Correct the image reference in the pod template.",
                ),
                PullError::NeverPull => (
                    "imagePullPolicy is Never and the image is not on the node",
                    "The container has imagePullPolicy: Never, and the image is not present on the node, so it is never fetched.",
                    "Pre-load the image on the nodes or change imagePullPolicy to IfNotPresent.",
                ),
                PullError::Unreachable => (
                    "the registry is unreachable",
                    "The node cannot reach the registry (DNS, network, proxy or TLS failure).",
                    "Check the node's network/DNS/proxy access to the registry, or use a mirror.",
                ),
                PullError::RateLimited => (
                    "the registry rate-limits pulls",
                    "The registry refuses pulls because of rate limits (toomanyrequests).",
                    "Authenticate pulls (imagePullSecret) or use a mirror/cache registry.",
                ),
                PullError::Unknown => (
                    "the pull fails",
                    "The kubelet cannot pull the image; the events below say why.",
                    "Check the image name, the registry's availability and the pull credentials.",
                ),
            };
            let mut ev = vec![Evidence::status(format!(
                "{}.state.waiting: {reason}{}",
                status_path(cs, init),
                waiting_message(cs)
                    .map(|m| format!(" — {}", tail(m, 300)))
                    .unwrap_or_default()
            ))];
            ev.push(Evidence::spec(format!("container {c} image: {image}")));
            ev.extend(latest_events(&events, ctx.now, 2));
            let certain: Vec<String> = match kind {
                _ if may_pass => Vec::new(),
                PullError::InvalidName => vec![format!(
                    "image {image:?} is not a valid reference{}",
                    invalid_image(&image)
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                )],
                PullError::NeverPull => vec![format!(
                    "imagePullPolicy Never and image {image} is not on the node"
                )],
                _ => vec![format!("the registry answered for {image}: {what}")],
            };
            ev.push(which(
                &certain,
                "registry errors of this kind can be passing",
                PULL_GRACE_SECS,
            ));
            let near = matches!(kind, PullError::NotFound | PullError::NotFoundOrAuth)
                .then(|| {
                    near_images
                        .entry(image.clone())
                        .or_insert_with(|| near_image(ctx, &image))
                        .clone()
                })
                .flatten();
            if let Some((img, pod)) = &near {
                ev.push(Evidence::reference(format!("{img} runs in pod {pod}")));
            }
            let pull_secrets: Vec<&str> = p
                .spec
                .as_ref()
                .and_then(|s| s.image_pull_secrets.as_ref())
                .into_iter()
                .flatten()
                .map(|r| r.name.as_str())
                .collect();
            if matches!(kind, PullError::Auth | PullError::NotFoundOrAuth) {
                ev.push(Evidence::spec(if pull_secrets.is_empty() {
                    "pod has no imagePullSecrets".to_string()
                } else {
                    format!("pod imagePullSecrets: {}", pull_secrets.join(", "))
                }));
            }
            let wl = ctx.idx.workload_of_pod(p);
            let mut cmds = vec![format!("kubectl -n {ns} describe pod {name}")];
            match kind {
                PullError::Auth | PullError::NotFoundOrAuth | PullError::RateLimited => {
                    // Create (or replace) the pull secret; attach it only if none is listed.
                    let secret = pull_secrets.first().copied().unwrap_or("regcred");
                    cmds.push(format!("kubectl -n {ns} create secret docker-registry {secret} --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD --dry-run=client -o yaml | kubectl apply -f -"));
                    if pull_secrets.is_empty() {
                        cmds.push(format!(
                            "kubectl -n {ns} patch serviceaccount {} -p '{{\"imagePullSecrets\":[{{\"name\":\"{secret}\"}}]}}'",
                            p.spec.as_ref().and_then(|s| s.service_account_name.as_deref()).unwrap_or("default")
                        ));
                    }
                }
                _ if wl.kind != Kind::Pod && wl.kind != Kind::Job => {
                    cmds.push(format!(
                        "kubectl -n {ns} set image {} {c}=CORRECT_IMAGE",
                        kubectl_name(&wl)
                    ));
                }
                _ => {}
            }
            ctx.finding(info, pod_ref(p), c)
                .title(format!("Container {c} cannot pull image {image}: {what}"))
                .message(format!("Container {c} of pod {ns}/{name} is waiting in {reason}. {why} The container does not start until the image can be pulled."))
                .evidences(ev)
                .cause_hints(pull_secrets.iter().map(|s| ref_to(Kind::Secret, ns, s)))
                .fix(
                    match (&near, wl.kind == Kind::Pod) {
                        (Some((img, _)), true) => format!("{todo} ({})", did_you_mean(img)),
                        (Some((img, _)), false) => format!(
                            "{todo} Change it in {} ({})",
                            wl.to_ref().display(),
                            did_you_mean(img)
                        ),
                        (None, true) => todo.to_string(),
                        (None, false) => format!("{todo} Change it in {}.", wl.to_ref().display()),
                    },
                    cmds,
                )
                .push(out);
        }
    }
}

/// How long a pull failure that may be passing (registry unreachable, rate-limited, no reason
/// given yet) is held back.
const PULL_GRACE_SECS: i64 = 120;

/// How long a CreateContainerConfigError that may resolve is held back.
const CONFIG_GRACE_SECS: i64 = 60;

/// What the index confirms of a config problem: the object is missing (its kind collected),
/// the key is missing from an object that exists, or the image runs as root (which no retry
/// changes).
fn config_certain(ctx: &Ctx, ns: &str, problem: &ConfigProblem) -> Option<String> {
    match problem {
        ConfigProblem::Missing(kind, obj) => (ctx.idx.has(*kind)
            && !ctx.idx.exists(*kind, ns, obj))
        .then(|| format!("{} {ns}/{obj} does not exist", kind.name())),
        ConfigProblem::MissingKey(kind, obj, key) => (has_key(ctx, *kind, ns, obj, key)
            == Some(false))
        .then(|| format!("{} {ns}/{obj} exists but has no key {key:?}", kind.name())),
        ConfigProblem::NonRoot => {
            Some("runAsNonRoot is set and the image runs as root".to_string())
        }
        ConfigProblem::Other => None,
    }
}

#[derive(Debug, PartialEq)]
enum ConfigProblem {
    Missing(Kind, String),
    MissingKey(Kind, String, String),
    NonRoot,
    Other,
}

/// Reads the kubelet's CreateContainerConfigError message.
fn parse_config_error(msg: &str) -> ConfigProblem {
    if let Some(i) = msg.find("couldn't find key ") {
        let rest = &msg[i + "couldn't find key ".len()..];
        let mut words = rest.split_whitespace();
        if let (Some(key), Some("in"), Some(kind), Some(obj)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            let kind = if kind.eq_ignore_ascii_case("secret") {
                Kind::Secret
            } else {
                Kind::ConfigMap
            };
            let obj = obj.trim_end_matches(['.', ',', ';']);
            let name = obj.rsplit('/').next().unwrap_or(obj);
            return ConfigProblem::MissingKey(kind, name.to_string(), key.to_string());
        }
    }
    if msg.contains("not found") {
        if let Some(n) = quoted_after(msg, "configmap \"") {
            return ConfigProblem::Missing(Kind::ConfigMap, n.to_string());
        }
        if let Some(n) = quoted_after(msg, "secret \"") {
            return ConfigProblem::Missing(Kind::Secret, n.to_string());
        }
    }
    if msg.contains("runAsNonRoot") || msg.contains("non-root") {
        return ConfigProblem::NonRoot;
    }
    ConfigProblem::Other
}

/// Non-optional ConfigMaps and Secrets a container reads through env/envFrom.
fn env_refs(p: &Pod, container: &str) -> Vec<ObjectRef> {
    let ns = p.metadata.namespace.as_deref().unwrap_or("");
    let mut out = Vec::new();
    let Some(c) = container_spec(p, container) else {
        return out;
    };
    for e in c.env.iter().flatten() {
        let Some(vf) = &e.value_from else { continue };
        if let Some(r) = vf
            .config_map_key_ref
            .as_ref()
            .filter(|r| r.optional != Some(true))
        {
            out.push(ref_to(Kind::ConfigMap, ns, &r.name));
        }
        if let Some(r) = vf
            .secret_key_ref
            .as_ref()
            .filter(|r| r.optional != Some(true))
        {
            out.push(ref_to(Kind::Secret, ns, &r.name));
        }
    }
    for ef in c.env_from.iter().flatten() {
        if let Some(r) = ef
            .config_map_ref
            .as_ref()
            .filter(|r| r.optional != Some(true))
        {
            out.push(ref_to(Kind::ConfigMap, ns, &r.name));
        }
        if let Some(r) = ef.secret_ref.as_ref().filter(|r| r.optional != Some(true)) {
            out.push(ref_to(Kind::Secret, ns, &r.name));
        }
    }
    out.sort();
    out.dedup();
    out
}

pub(super) fn config_error(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        let age = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| ctx.age_secs(t.0));
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            if waiting_reason(cs) != Some("CreateContainerConfigError") {
                continue;
            }
            let c = &cs.name;
            let events = container_events(ctx, p, &["Failed"], c);
            let msg = waiting_message(cs)
                .or_else(|| events.last().and_then(|e| e.message.as_deref()))
                .unwrap_or("")
                .trim()
                .to_string();
            let problem = parse_config_error(&msg);
            // Certain now when the index confirms what the kubelet says (the object does not
            // exist, or exists without the key). A ConfigMap created right after its pod (one
            // apply) resolves this within seconds, so the rest waits CONFIG_GRACE_SECS.
            let certain: Vec<String> = config_certain(ctx, ns, &problem).into_iter().collect();
            if !due(age, !certain.is_empty(), CONFIG_GRACE_SECS) {
                continue;
            }
            let mut ev = vec![Evidence::status(format!(
                "{}.state.waiting: CreateContainerConfigError{}",
                status_path(cs, init),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", tail(&msg, 300))
                }
            ))];
            ev.extend(latest_events(&events, ctx.now, 1));
            ev.push(which(
                &certain,
                "the kubelet retries and may find what it needs on its next try",
                CONFIG_GRACE_SECS,
            ));
            let (what, hints, mut summary, cmds) = match &problem {
                ConfigProblem::Missing(kind, obj) => {
                    let k = kind.name();
                    let create = if *kind == Kind::Secret {
                        format!(
                            "kubectl -n {ns} create secret generic {obj} --from-literal=KEY=VALUE"
                        )
                    } else {
                        format!("kubectl -n {ns} create configmap {obj} --from-literal=KEY=VALUE")
                    };
                    (
                        format!("{k} {obj} not found"),
                        vec![ref_to(*kind, ns, obj)],
                        format!(
                            "Create {k} {ns}/{obj} (from your manifests or secret store), or fix the name container {c} references."
                        ),
                        vec![
                            format!("kubectl -n {ns} get {} {obj}", k.to_ascii_lowercase()),
                            create,
                        ],
                    )
                }
                ConfigProblem::MissingKey(kind, obj, key) => {
                    let k = kind.name();
                    (
                        format!("key {key} missing from {k} {obj}"),
                        vec![ref_to(*kind, ns, obj)],
                        format!(
                            "Add key {key} to {k} {ns}/{obj}, or fix the key name container {c} reads."
                        ),
                        vec![format!(
                            "kubectl -n {ns} edit {} {obj}",
                            k.to_ascii_lowercase()
                        )],
                    )
                }
                ConfigProblem::NonRoot => (
                    "runAsNonRoot is set but the image runs as root".to_string(),
                    Vec::new(),
                    format!(
                        "Set securityContext.runAsUser to a non-zero UID for container {c}, or use an image that declares a non-root USER."
                    ),
                    vec![format!(
                        "kubectl -n {ns} get pod {name} -o jsonpath='{{.spec.securityContext}}{{.spec.containers[*].securityContext}}'"
                    )],
                ),
                ConfigProblem::Other => (
                    "CreateContainerConfigError".to_string(),
                    env_refs(p, c),
                    format!(
                        "Check the ConfigMaps, Secrets and keys container {c} references and create what is missing."
                    ),
                    vec![format!("kubectl -n {ns} describe pod {name}")],
                ),
            };
            if let ConfigProblem::Missing(kind, obj) = &problem
                && let Some(hint) = near_name(ctx, *kind, ns, obj)
            {
                summary = format!("{summary} ({hint})");
            }
            if matches!(problem, ConfigProblem::Other) {
                ev.extend(hints.iter().map(|h| {
                    Evidence::reference(format!("container {c} reads {} {}", h.kind, h.name))
                }));
            }
            ctx.finding(info, pod_ref(p), c)
                .title(format!("Container {c} cannot start: {what}"))
                .message(format!(
                    "The kubelet cannot build container {c} of pod {ns}/{name} (CreateContainerConfigError): {}. \
                     The container stays waiting until this is fixed; nothing in it runs.",
                    if msg.is_empty() { "the kubelet gave no message" } else { &msg }
                ))
                .evidences(ev)
                .cause_hints(hints)
                .fix(summary, cmds)
                .push(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{RUNNING, event, pod};
    use super::*;
    use crate::testutil::{index, run};

    fn waiting(reason: &str, message: &str) -> String {
        format!(
            r#"  phase: Pending
  containerStatuses:
  - name: api
    image: shop/api:1.0
    imageID: ""
    ready: false
    restartCount: 0
    state:
      waiting: {{reason: {reason}, message: '{}'}}"#,
            message.replace('\'', "''")
        )
    }

    #[test]
    fn image_pull_hints_a_tag_running_elsewhere() {
        let broken = pod(
            "api-1",
            &waiting(
                "ErrImagePull",
                "rpc error: code = NotFound desc = failed to pull and unpack image \"shop/api:1.1\": manifest unknown",
            ),
        )
        .replace("image: shop/api:1.0\n", "image: shop/api:1.1\n");
        let running = format!("---\n{}", pod("api-2", RUNNING));
        let summary = |yaml: &str| {
            let f = run("pod.image-pull", &index(yaml, &[]));
            assert_eq!(f.len(), 1, "{f:#?}");
            f[0].remediation.summary.clone()
        };
        let s = summary(&format!("{broken}{running}"));
        assert!(s.contains("did you mean `shop/api:1.0`?"), "{s}");
        // Nothing of that repository runs anywhere: no guess.
        let other = running.replace("shop/api:1.0", "shop/web:1.0");
        let s = summary(&format!("{broken}{other}"));
        assert!(!s.contains("did you mean"), "{s}");
    }

    #[test]
    fn image_pull_classifies_not_found_and_auth() {
        let yaml = pod(
            "api-1",
            &waiting(
                "ImagePullBackOff",
                "Back-off pulling image \"shop/api:1.0\"",
            ),
        ) + &event(
            "api-1",
            "Failed",
            "Failed to pull image \"shop/api:1.0\": rpc error: code = NotFound desc = manifest unknown: manifest unknown",
            5,
            "2026-01-01T11:58:00Z",
        );
        let f = run("pod.image-pull", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("shop/api:1.0") && f[0].title.contains("does not exist"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("manifest unknown"))
        );

        assert_eq!(
            classify_pull("ErrImagePull", "unauthorized: authentication required"),
            PullError::Auth
        );
        assert_eq!(
            classify_pull(
                "ErrImagePull",
                "pull access denied for x, repository does not exist or may require 'docker login'"
            ),
            PullError::NotFoundOrAuth
        );
        assert_eq!(
            classify_pull("InvalidImageName", "Failed to apply default image tag"),
            PullError::InvalidName
        );
    }

    #[test]
    fn image_pull_waits_for_a_reason_on_fresh_pods() {
        let fresh = pod("api-1", &waiting("ErrImagePull", "rpc error"))
            .replace("2026-01-01T11:00:00Z", "2026-01-01T11:59:30Z");
        assert!(run("pod.image-pull", &index(&fresh, &[])).is_empty());
        assert!(run("pod.image-pull", &index(&pod("api-1", RUNNING), &[])).is_empty());
    }

    #[test]
    fn config_error_names_the_missing_object_or_key() {
        let f = run(
            "pod.create-container-config-error",
            &index(
                &pod(
                    "api-1",
                    &waiting(
                        "CreateContainerConfigError",
                        "configmap \"api-config\" not found",
                    ),
                ),
                &[],
            ),
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("ConfigMap api-config not found"),
            "{}",
            f[0].title
        );
        assert_eq!(
            f[0].cause_hints,
            vec![ref_to(Kind::ConfigMap, "shop", "api-config")]
        );

        let key = waiting(
            "CreateContainerConfigError",
            "couldn't find key db_url in Secret shop/db",
        );
        let f = run(
            "pod.create-container-config-error",
            &index(&pod("api-1", &key), &[]),
        );
        assert!(
            f[0].title.contains("key db_url missing from Secret db"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints, vec![ref_to(Kind::Secret, "shop", "db")]);
        assert!(
            run(
                "pod.create-container-config-error",
                &index(&pod("api-1", RUNNING), &[])
            )
            .is_empty()
        );
    }

    #[test]
    fn config_error_without_message_hints_env_references() {
        let yaml = pod("api-1", "  phase: Pending\n  containerStatuses:\n  - {name: api, image: x, imageID: \"\", ready: false, restartCount: 0, state: {waiting: {reason: CreateContainerConfigError}}}")
            .replace("    readinessProbe:", "    envFrom:\n    - secretRef: {name: api-secrets}\n    readinessProbe:");
        let f = run("pod.create-container-config-error", &index(&yaml, &[]));
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].cause_hints,
            vec![ref_to(Kind::Secret, "shop", "api-secrets")]
        );
        assert_eq!(
            parse_config_error("container has runAsNonRoot and image will run as root"),
            ConfigProblem::NonRoot
        );
    }
}
