//! References to ConfigMaps, Secrets, PVCs and ServiceAccounts that do not exist, from any
//! workload or bare pod. The finding's object is the missing object itself: it is the root
//! cause the pods' symptoms (CreateContainerConfigError, FailedMount, FailedCreate) point at.

use std::collections::BTreeMap;

use kaptain_index::{Kind, RefKind, Reference};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::certain::{certain_now, did_you_mean, keys_of, near_name, one_edit_away};
use crate::check::{Check, CheckInfo, Ctx};
use crate::util::ref_to;

const MISSING_CONFIGMAP: CheckInfo = CheckInfo::new(
    "config.missing-configmap",
    Category::Config,
    Severity::High,
    "A workload references a ConfigMap (env, envFrom or volume) that does not exist",
    &[
        Kind::ConfigMap,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicaSet,
    ],
)
.confidence(0.97);

const MISSING_SECRET: CheckInfo = CheckInfo::new(
    "config.missing-secret",
    Category::Config,
    Severity::High,
    "A workload references a Secret (env, envFrom or volume) that does not exist",
    &[
        Kind::Secret,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicaSet,
    ],
)
.confidence(0.97);

const MISSING_KEY: CheckInfo = CheckInfo::new(
    "config.missing-key",
    Category::Config,
    Severity::High,
    "A workload reads a key that its ConfigMap or Secret does not contain",
    &[
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicaSet,
    ],
)
.confidence(0.95);

const MISSING_PVC: CheckInfo = CheckInfo::new(
    "config.missing-pvc",
    Category::Storage,
    Severity::High,
    "A workload mounts a PersistentVolumeClaim that does not exist",
    &[
        Kind::PersistentVolumeClaim,
        Kind::Pod,
        Kind::Deployment,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicaSet,
    ],
)
.confidence(0.95);

const MISSING_SA: CheckInfo = CheckInfo::new(
    "config.missing-serviceaccount",
    Category::Config,
    Severity::High,
    "A workload runs as a ServiceAccount that does not exist (its pods cannot be created)",
    &[
        Kind::ServiceAccount,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicaSet,
    ],
)
.confidence(0.95);

const MISSING_PULL_SECRET: CheckInfo = CheckInfo::new(
    "config.missing-image-pull-secret",
    Category::Config,
    Severity::Low,
    "A workload lists an imagePullSecret that does not exist (private images will fail to pull)",
    &[
        Kind::Secret,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicaSet,
    ],
)
.confidence(0.8);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(MISSING_CONFIGMAP, |c, i, o| {
            missing(
                c,
                i,
                o,
                Kind::ConfigMap,
                &[RefKind::EnvKey, RefKind::EnvFrom, RefKind::Volume],
            )
        }),
        Check::new(MISSING_SECRET, |c, i, o| {
            missing(
                c,
                i,
                o,
                Kind::Secret,
                &[RefKind::EnvKey, RefKind::EnvFrom, RefKind::Volume],
            )
        }),
        Check::new(MISSING_KEY, missing_key),
        Check::new(MISSING_PVC, |c, i, o| {
            missing(c, i, o, Kind::PersistentVolumeClaim, &[RefKind::Claim])
        }),
        Check::new(MISSING_SA, |c, i, o| {
            missing(c, i, o, Kind::ServiceAccount, &[RefKind::ServiceAccount])
        }),
        Check::new(MISSING_PULL_SECRET, |c, i, o| {
            missing(c, i, o, Kind::Secret, &[RefKind::ImagePullSecret])
        }),
    ]
}

/// One finding per missing target, listing every non-optional reference to it.
fn missing(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>, kind: Kind, vias: &[RefKind]) {
    if !ctx.idx.has(kind) {
        return;
    }
    let mut by_target: BTreeMap<(&str, &str), Vec<&Reference>> = BTreeMap::new();
    for r in ctx.idx.references() {
        if r.target.kind == kind
            && vias.contains(&r.via)
            && (!r.optional || r.via == RefKind::ImagePullSecret)
            && !ctx.idx.exists(kind, &r.target.namespace, &r.target.name)
        {
            by_target
                .entry((&r.target.namespace, &r.target.name))
                .or_default()
                .push(r);
        }
    }
    for ((ns, name), refs) in by_target {
        let object = ref_to(kind, ns, name);
        let mut users: Vec<String> = refs.iter().map(|r| r.from.display()).collect();
        users.sort();
        users.dedup();
        let what = kind.name();
        // A near miss: an existing object of the kind one edit away (a typo in the reference).
        let hint = near_name(ctx, kind, ns, name)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        let fix_cmd = match kind {
            Kind::ConfigMap => format!(
                "kubectl -n {ns} create configmap {name} --from-literal=KEY=VALUE   # or restore it from your manifests"
            ),
            Kind::Secret if vias.contains(&RefKind::ImagePullSecret) => format!(
                "kubectl -n {ns} create secret docker-registry {name} --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD"
            ),
            Kind::Secret => format!(
                "kubectl -n {ns} create secret generic {name} --from-literal=KEY=VALUE   # or restore it from your secret store"
            ),
            Kind::ServiceAccount => format!("kubectl -n {ns} create serviceaccount {name}"),
            _ => format!(
                "kubectl -n {ns} apply -f {}-{name}.yaml   # restore the {what} from your manifests",
                what.to_ascii_lowercase()
            ),
        };
        ctx.finding(info, object, "")
            .title(format!(
                "{what} {ns}/{name} does not exist but {} {}",
                plural(users.len(), "object"),
                if users.len() == 1 { "references it" } else { "reference it" }
            ))
            .message(format!(
                "{what} {name} is referenced by {} in namespace {ns}, but no {what} of that name exists. \
                 Pods that need it cannot start (or start without it) until it is created or the reference is fixed.",
                users.join(", ")
            ))
            .evidences(refs.iter().take(8).map(|r| {
                Evidence::reference(format!("{} → {what} {name} ({})", r.from.display(), r.location))
            }))
            .evidence(certain_now(format!("no {what} {ns}/{name} exists")))
            .fix(format!("Create {what} {ns}/{name}, or fix the name in the referencing workload{hint}."), [fix_cmd])
            .push(out);
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Key references (env valueFrom) to ConfigMaps/Secrets that exist but lack the key.
fn missing_key(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for r in ctx.idx.references() {
        let (Some(key), false) = (&r.key, r.optional) else {
            continue;
        };
        let (ns, name) = (r.target.namespace.as_str(), r.target.name.as_str());
        let Some(keys) = keys_of(ctx, r.target.kind, ns, name) else {
            continue;
        };
        if keys.contains(&key.as_str()) {
            continue;
        }
        // A near miss: a key one edit away (API_KEY vs API-KEY).
        let hint = one_edit_away(key, keys.iter().copied())
            .map(|k| format!(" ({})", did_you_mean(k)))
            .unwrap_or_default();
        let what = r.target.kind.name();
        ctx.finding(info, ref_to(r.target.kind, ns, name), key)
            .title(format!(
                "{what} {ns}/{name} has no key {key:?} that {} reads",
                r.from.display()
            ))
            .message(format!(
                "{} reads key {key:?} of {what} {name} ({}), but the {what} has no such key; \
                 its containers fail with CreateContainerConfigError.",
                r.from.display(),
                r.location
            ))
            .evidence(Evidence::reference(format!(
                "{} → {what} {name} key {key} ({})",
                r.from.display(),
                r.location
            )))
            .evidence(certain_now(format!(
                "{what} {ns}/{name} exists without key {key:?}"
            )))
            .fix(
                format!(
                    "Add key {key:?} to {what} {ns}/{name}, or correct the key name in {}{hint}.",
                    r.from.display()
                ),
                [format!(
                    "kubectl -n {ns} edit {} {name}",
                    what.to_ascii_lowercase()
                )],
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{index, run};
    use kaptain_index::Kind;

    const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api-sa
      containers:
      - name: api
        image: shop/api:1.0
        env:
        - name: DB_URL
          valueFrom: {configMapKeyRef: {name: api-config, key: db_url}}
        - name: OPTIONAL
          valueFrom: {configMapKeyRef: {name: maybe, key: x, optional: true}}
        envFrom:
        - secretRef: {name: api-secrets}
"#;

    #[test]
    fn missing_configmap_fires_once_per_target_and_not_for_optional() {
        let idx = index(DEPLOY, &[Kind::ConfigMap]);
        let f = run("config.missing-configmap", &idx);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.kind, "ConfigMap");
        assert_eq!(f[0].object.name, "api-config");
        assert!(f[0].evidence[0].detail.contains("Deployment/shop/api"));
    }

    #[test]
    fn nothing_is_missing_when_it_exists_or_was_not_collected() {
        let with_cm = format!(
            "{DEPLOY}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: api-config, namespace: shop}}\ndata: {{db_url: x}}\n"
        );
        assert!(run("config.missing-configmap", &index(&with_cm, &[])).is_empty());
        assert!(run("config.missing-key", &index(&with_cm, &[])).is_empty());
        // ConfigMaps not collected at all: absence proves nothing.
        assert!(run("config.missing-configmap", &index(DEPLOY, &[])).is_empty());
    }

    #[test]
    fn missing_key_secret_and_serviceaccount() {
        let yaml = format!(
            "{DEPLOY}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: api-config, namespace: shop}}\ndata: {{other: x}}\n"
        );
        let idx = index(&yaml, &[Kind::Secret, Kind::ServiceAccount]);
        let k = run("config.missing-key", &idx);
        assert_eq!(k.len(), 1);
        assert!(k[0].title.contains("db_url"));
        let s = run("config.missing-secret", &idx);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].object.name, "api-secrets");
        let sa = run("config.missing-serviceaccount", &idx);
        assert_eq!(sa.len(), 1);
        assert_eq!(sa[0].object.name, "api-sa");
    }

    const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: data}
spec:
  imagePullSecrets: [{name: regcred}]
  containers: [{name: db, image: private.example.com/db:1}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: db-data}
"#;

    #[test]
    fn missing_pvc_and_pull_secret_on_a_bare_pod() {
        let idx = index(POD, &[Kind::PersistentVolumeClaim, Kind::Secret]);
        let pvc = run("config.missing-pvc", &idx);
        assert_eq!(pvc.len(), 1);
        assert_eq!(
            (pvc[0].object.kind.as_str(), pvc[0].object.name.as_str()),
            ("PersistentVolumeClaim", "db-data")
        );
        assert!(pvc[0].evidence[0].detail.contains("Pod/data/db-0"));
        let pull = run("config.missing-image-pull-secret", &idx);
        assert_eq!(pull.len(), 1);
        assert_eq!(pull[0].object.name, "regcred");
        // Pull-secret references are not "missing Secret" findings of the env/volume kind.
        assert!(run("config.missing-secret", &idx).is_empty());
    }

    #[test]
    fn present_pvc_and_pull_secret_are_quiet() {
        let yaml = format!(
            "{POD}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: db-data, namespace: data}}\nspec: {{}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: regcred, namespace: data}}\ntype: kubernetes.io/dockerconfigjson\n"
        );
        let idx = index(&yaml, &[]);
        assert!(run("config.missing-pvc", &idx).is_empty());
        assert!(run("config.missing-image-pull-secret", &idx).is_empty());
    }

    #[test]
    fn near_misses_name_the_object_or_key_one_edit_away() {
        let cm = |name: &str, key: &str| {
            format!(
                "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{{key}: x}}\n"
            )
        };
        let summary = |id: &str, yaml: &str| {
            let f = run(id, &index(yaml, &[Kind::ConfigMap]));
            assert_eq!(f.len(), 1, "{id}: {f:#?}");
            f[0].remediation.summary.clone()
        };
        // api-configs exists, api-config is referenced: one edit away.
        let s = summary(
            "config.missing-configmap",
            &format!("{DEPLOY}{}", cm("api-configs", "db_url")),
        );
        assert!(s.contains("did you mean `api-configs`?"), "{s}");
        // Nothing close: no guess.
        let s = summary(
            "config.missing-configmap",
            &format!("{DEPLOY}{}", cm("payments", "db_url")),
        );
        assert!(!s.contains("did you mean"), "{s}");
        // The key db_url is read, db-url exists.
        let s = summary(
            "config.missing-key",
            &format!("{DEPLOY}{}", cm("api-config", "db-url")),
        );
        assert!(s.contains("did you mean `db-url`?"), "{s}");
        let f = run(
            "config.missing-key",
            &index(&format!("{DEPLOY}{}", cm("api-config", "db-url")), &[]),
        );
        assert!(
            f[0].evidence.iter().any(|e| e
                .detail
                .starts_with("certain now: ConfigMap shop/api-config exists without key")),
            "{:#?}",
            f[0].evidence
        );
    }
}
