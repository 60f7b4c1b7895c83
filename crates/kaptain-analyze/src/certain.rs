//! Certain now, or may resolve (#17): checks hold back on young objects only for what can
//! resolve by waiting (pods starting, endpoints becoming ready, a rollout in progress). What
//! waiting cannot change — a reference to something that does not exist, a key missing from
//! an existing ConfigMap or Secret, an invalid image reference, a selector nothing can match —
//! is reported once the object is [`CERTAIN_AFTER_SECS`] old, and the finding's evidence says
//! which of the two it is. Also the near-miss helpers behind "did you mean `x`?".

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kaptain_index::{Kind, RefKind, Reference, pod_spec_refs};
use kaptain_model::{Evidence, ObjectRef};

use crate::check::Ctx;
use crate::util::human_duration;

/// How old an object must be before evidence that waiting cannot change is reported: long
/// enough for `kubectl apply -f dir/` to have created the rest of the directory, far shorter
/// than the grace periods that hold back what may still resolve (pods starting, endpoints
/// becoming ready).
pub(crate) const CERTAIN_AFTER_SECS: i64 = 15;

/// Old enough for certain-now evidence (an unknown age counts as old).
pub(crate) fn settled(age: Option<i64>) -> bool {
    age.is_none_or(|a| a >= CERTAIN_AFTER_SECS)
}

/// `certain now: {why}, so waiting will not fix it`.
pub(crate) fn certain_now(why: impl AsRef<str>) -> Evidence {
    Evidence::reference(format!(
        "certain now: {}, so waiting will not fix it",
        why.as_ref()
    ))
}

/// `may resolve: {what}; reported because it lasted past the {grace} grace period`.
pub(crate) fn may_resolve(what: impl AsRef<str>, grace_secs: i64) -> Evidence {
    Evidence::reference(format!(
        "may resolve: {}; reported because it lasted past the {} grace period",
        what.as_ref(),
        human_duration(grace_secs)
    ))
}

/// Whether a finding is due: certain-now evidence once the object is settled, evidence that
/// may resolve once it is `grace_secs` old (an unknown age counts as old).
pub(crate) fn due(age: Option<i64>, certain: bool, grace_secs: i64) -> bool {
    if certain {
        settled(age)
    } else {
        age.is_none_or(|a| a >= grace_secs)
    }
}

/// The evidence line saying which: [`certain_now`] with the reasons when there are any,
/// otherwise [`may_resolve`] with `what`.
pub(crate) fn which(certain: &[String], what: &str, grace_secs: i64) -> Evidence {
    if certain.is_empty() {
        may_resolve(what, grace_secs)
    } else {
        certain_now(certain.join("; "))
    }
}

/// Levenshtein distance between two strings, in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Two label values that look like one was meant: one contains the other, or they are a
/// few edits apart.
pub(crate) fn similar(a: &str, b: &str) -> bool {
    if a.contains(b) || b.contains(a) {
        return true;
    }
    edit_distance(a, b) <= (a.chars().count().max(b.chars().count()) / 3).max(2)
}

/// The candidate one edit away from `name` (a typo: one character added, dropped or changed),
/// when exactly one candidate is; `None` when none or several are.
pub(crate) fn one_edit_away<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut near: Vec<&str> = candidates
        .into_iter()
        .filter(|c| *c != name && edit_distance(c, name) == 1)
        .collect();
    near.sort_unstable();
    near.dedup();
    (near.len() == 1).then(|| near[0])
}

/// `did you mean `x`?`.
pub(crate) fn did_you_mean(x: &str) -> String {
    format!("did you mean `{x}`?")
}

/// Names of the existing objects of a namespaced kind in a namespace.
pub(crate) fn names_in(ctx: &Ctx, kind: Kind, ns: &str) -> Vec<String> {
    let s = &ctx.idx.objects;
    macro_rules! names {
        ($($k:ident => $store:ident),*) => {
            match kind {
                $(Kind::$k => s.$store.in_namespace(ns).filter_map(|o| o.metadata.name.clone()).collect(),)*
                _ => Vec::new(),
            }
        };
    }
    names!(
        ConfigMap => configmaps,
        Secret => secrets,
        PersistentVolumeClaim => pvcs,
        Service => services,
        ServiceAccount => serviceaccounts,
        Deployment => deployments,
        StatefulSet => statefulsets,
        ReplicaSet => replicasets
    )
}

/// A near-miss hint for a missing object: `did you mean `checkout-config`?` when an object of
/// the kind one edit away exists in the namespace.
pub(crate) fn near_name(ctx: &Ctx, kind: Kind, ns: &str, name: &str) -> Option<String> {
    one_edit_away(name, names_in(ctx, kind, ns).iter().map(String::as_str)).map(did_you_mean)
}

/// Whether ConfigMap or Secret `ns/name` holds `key`; `None` when it does not exist (or the
/// kind is neither).
pub(crate) fn has_key(ctx: &Ctx, kind: Kind, ns: &str, name: &str, key: &str) -> Option<bool> {
    keys_of(ctx, kind, ns, name).map(|ks| ks.contains(&key))
}

/// The keys of ConfigMap or Secret `ns/name` (data and binaryData, or data and stringData);
/// `None` when it does not exist (or the kind is neither).
pub(crate) fn keys_of<'a>(ctx: &Ctx<'a>, kind: Kind, ns: &str, name: &str) -> Option<Vec<&'a str>> {
    fn keys<V>(m: Option<&BTreeMap<String, V>>) -> impl Iterator<Item = &str> {
        m.into_iter().flat_map(|m| m.keys().map(String::as_str))
    }
    let s = &ctx.idx.objects;
    match kind {
        Kind::ConfigMap => s.configmaps.get(ns, name).map(|cm| {
            keys(cm.data.as_ref())
                .chain(keys(cm.binary_data.as_ref()))
                .collect()
        }),
        Kind::Secret => s.secrets.get(ns, name).map(|sec| {
            keys(sec.data.as_ref())
                .chain(keys(sec.string_data.as_ref()))
                .collect()
        }),
        _ => None,
    }
}

/// Why a reference cannot be satisfied, when that is certain from the index: the target does
/// not exist (and its kind was collected), or it exists without the key asked for. Optional
/// references and image pull secrets are never certain blockers.
pub(crate) fn unsatisfiable(ctx: &Ctx, r: &Reference) -> Option<String> {
    if r.optional || r.via == RefKind::ImagePullSecret {
        return None;
    }
    let (kind, ns, name) = (
        r.target.kind,
        r.target.namespace.as_str(),
        r.target.name.as_str(),
    );
    if !ctx.idx.has(kind) {
        return None;
    }
    if !ctx.idx.exists(kind, ns, name) {
        return Some(format!(
            "{} {ns}/{name} ({}) does not exist",
            kind.name(),
            r.location
        ));
    }
    match &r.key {
        Some(key) if has_key(ctx, kind, ns, name, key) == Some(false) => Some(format!(
            "{} {ns}/{name} has no key {key:?} ({})",
            kind.name(),
            r.location
        )),
        _ => None,
    }
}

/// What in a pod spec keeps its pods from ever starting, as far as the index can tell for
/// certain: missing ConfigMaps, Secrets, PVCs and ServiceAccounts, keys missing from existing
/// ConfigMaps/Secrets, and invalid image references. Empty when nothing is certain.
pub(crate) fn spec_blockers(ctx: &Ctx, ns: &str, spec: &PodSpec) -> Vec<String> {
    let mut refs = Vec::new();
    pod_spec_refs(
        &ObjectRef::new("v1", "Pod", Some(ns), ""),
        ns,
        spec,
        &mut refs,
    );
    let mut out: Vec<String> = refs.iter().filter_map(|r| unsatisfiable(ctx, r)).collect();
    let sa = spec
        .service_account_name
        .as_deref()
        .filter(|n| !n.is_empty() && *n != "default");
    if let Some(sa) = sa.filter(|sa| {
        ctx.idx.has(Kind::ServiceAccount) && !ctx.idx.exists(Kind::ServiceAccount, ns, sa)
    }) {
        out.push(format!("ServiceAccount {ns}/{sa} does not exist"));
    }
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers);
    for c in containers {
        if let Some(why) = c.image.as_deref().and_then(invalid_image) {
            out.push(format!(
                "container {} image {:?} is not a valid reference ({why})",
                c.name,
                c.image.as_deref().unwrap_or("")
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `(repository, tag)` of an image reference without its digest: the tag is what follows the
/// last ':' after the last '/'.
pub(crate) fn split_tag(image: &str) -> (&str, Option<&str>) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

/// A near miss for an image that cannot be pulled: the same repository with the closest other
/// tag that a running container elsewhere in the cluster uses, as `(image, pod)`.
pub(crate) fn near_image(ctx: &Ctx, image: &str) -> Option<(String, String)> {
    let image = image.split('@').next().unwrap_or(image);
    let (repo, tag) = split_tag(image);
    let tag = tag.unwrap_or("latest");
    let mut best: Option<(usize, String, String)> = None;
    for p in ctx.idx.objects.pods.iter() {
        let running = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter(|cs| cs.state.as_ref().is_some_and(|s| s.running.is_some()));
        for cs in running {
            let spec_image = p
                .spec
                .iter()
                .flat_map(|s| &s.containers)
                .find(|c| c.name == cs.name)
                .and_then(|c| c.image.as_deref())
                .unwrap_or(&cs.image);
            let (r, t) = split_tag(spec_image.split('@').next().unwrap_or(spec_image));
            let t = t.unwrap_or("latest");
            if r != repo || t == tag {
                continue;
            }
            let d = edit_distance(t, tag);
            if best.as_ref().is_none_or(|b| d < b.0) {
                let (ns, name) = crate::util::ns_name(&p.metadata);
                best = Some((d, format!("{r}:{t}"), format!("{ns}/{name}")));
            }
        }
    }
    best.filter(|(_, img, _)| similar(split_tag(img).1.unwrap_or(""), tag))
        .map(|(_, img, pod)| (img, pod))
}

/// [`spec_blockers`] of some pods, deduplicated, at most 3.
pub(crate) fn pods_blocked<'a>(ctx: &Ctx, pods: impl IntoIterator<Item = &'a Pod>) -> Vec<String> {
    let mut v: Vec<String> = pods
        .into_iter()
        .flat_map(|p| {
            let ns = p.metadata.namespace.as_deref().unwrap_or("");
            p.spec
                .as_ref()
                .map(|s| spec_blockers(ctx, ns, s))
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v.dedup();
    v.truncate(3);
    v
}

/// Why an image reference is invalid (as the kubelet's InvalidImageName would say), or `None`
/// when it is a well-formed `[registry/]path[:tag][@digest]`. Conservative: only what the
/// reference grammar rules out for sure.
pub(crate) fn invalid_image(image: &str) -> Option<&'static str> {
    if image.is_empty() {
        return Some("empty");
    }
    if image.chars().any(char::is_whitespace) {
        return Some("contains white space");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !ok {
            return Some("malformed digest");
        }
    }
    let (name, tag) = split_tag(rest);
    if let Some(t) = tag {
        let mut cs = t.chars();
        let first_ok = cs
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || t.len() > 128
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Some("malformed tag");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // The first component is a registry host when it has a '.' or ':' or is localhost.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        parts.remove(0);
    }
    for p in parts {
        if p.is_empty() {
            return Some("empty path component");
        }
        if p.chars().any(|c| c.is_ascii_uppercase()) {
            return Some("upper case in the repository name");
        }
        let ok_chars = p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        let ends_ok = p.starts_with(|c: char| c.is_ascii_alphanumeric())
            && p.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok_chars || !ends_ok {
            return Some("invalid characters in the repository name");
        }
    }
    None
}

#[cfg(test)]
mod checks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances_and_near_names() {
        assert_eq!(edit_distance("checkout", "check-out"), 1);
        assert_eq!(edit_distance("api-config", "api-conf"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            one_edit_away("chekout-config", ["checkout-config", "payments"]),
            Some("checkout-config")
        );
        assert_eq!(one_edit_away("api", ["web", "db"]), None);
        // Two candidates at one edit: no single guess.
        assert_eq!(one_edit_away("ab", ["abc", "abd"]), None);
    }

    #[test]
    fn image_references() {
        for ok in [
            "nginx",
            "nginx:1.25",
            "library/nginx:1.25-alpine",
            "registry.example.com:5000/shop/api:v1.2.3",
            "localhost/app",
            "ghcr.io/org-name/app:1",
            "busybox@sha256:0123456789abcdef",
            "REGISTRY.example.com/app:1",
        ] {
            assert_eq!(invalid_image(ok), None, "{ok}");
        }
        for bad in [
            "",
            "nginx :1.25",
            "Shop/API:1.0",
            "nginx:-bad",
            "nginx:1.25:x/",
            "shop//api",
            "busybox@sha256:xyz",
            "shop/api-:1",
        ] {
            assert!(invalid_image(bad).is_some(), "{bad}");
        }
    }
}
