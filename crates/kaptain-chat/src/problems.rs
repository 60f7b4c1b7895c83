//! Problems in everyday words ("crash looping", "pending PVCs") and the checks they mean.

/// Everyday names of problems (as words of the question, lowercase) and the check they mean.
/// A phrase here means its check whatever else the question says; longer phrases come first so
/// they win over their parts. Problems that depend on the kind asked about are in [`STATES`].
pub const PROBLEMS: &[(&[&str], &str)] = &[
    (&["crash", "loop", "back", "off"], "pod.crash-loop"),
    (&["crash", "looping"], "pod.crash-loop"),
    (&["crash", "loops"], "pod.crash-loop"),
    (&["crash", "loop"], "pod.crash-loop"),
    (&["crashloops"], "pod.crash-loop"),
    (&["crash-loop"], "pod.crash-loop"),
    (&["crash-looping"], "pod.crash-loop"),
    (&["crashloop"], "pod.crash-loop"),
    (&["crashloopbackoff"], "pod.crash-loop"),
    (&["crashlooping"], "pod.crash-loop"),
    (&["crashing"], "pod.crash-loop"),
    (&["crashes"], "pod.crash-loop"),
    (&["crashed"], "pod.crash-loop"),
    (&["crash"], "pod.crash-loop"),
    (&["out", "of", "memory"], "pod.oom-killed"),
    (&["out-of-memory"], "pod.oom-killed"),
    (&["oom", "killed"], "pod.oom-killed"),
    (&["oom"], "pod.oom-killed"),
    (&["oomkilled"], "pod.oom-killed"),
    (&["oom-killed"], "pod.oom-killed"),
    (&["oomkill"], "pod.oom-killed"),
    (&["oom-kill"], "pod.oom-killed"),
    (&["init:crashloopbackoff"], "pod.init-container-failed"),
    (&["init:error"], "pod.init-container-failed"),
    (&["init", "containers"], "pod.init-container-failed"),
    (&["init", "container"], "pod.init-container-failed"),
    (&["initcontainer"], "pod.init-container-failed"),
    (
        &["missing", "image", "pull", "secret"],
        "config.missing-image-pull-secret",
    ),
    (
        &["missing", "imagepullsecret"],
        "config.missing-image-pull-secret",
    ),
    (&["image", "pull"], "pod.image-pull"),
    (&["pull", "image"], "pod.image-pull"),
    (&["imagepull"], "pod.image-pull"),
    (&["imagepullbackoff"], "pod.image-pull"),
    (&["errimagepull"], "pod.image-pull"),
    (&["invalidimagename"], "pod.image-pull"),
    (&["pull"], "pod.image-pull"),
    (&["pulling"], "pod.image-pull"),
    (&["pulled"], "pod.image-pull"),
    (&["image"], "pod.image-pull"),
    (&["images"], "pod.image-pull"),
    (
        &["createcontainerconfigerror"],
        "pod.create-container-config-error",
    ),
    (&["containercreating"], "pod.container-creating"),
    (&["container", "creating"], "pod.container-creating"),
    // A volume that cannot be mounted keeps its pod in ContainerCreating.
    (&["failedmount"], "pod.container-creating"),
    (&["failedattachvolume"], "pod.container-creating"),
    (&["mount"], "pod.container-creating"),
    (&["mounts"], "pod.container-creating"),
    (&["mounting"], "pod.container-creating"),
    (&["insufficient", "cpu"], "pod.unschedulable"),
    (&["insufficient", "memory"], "pod.unschedulable"),
    (&["insufficient"], "pod.unschedulable"),
    (&["unschedulable"], "pod.unschedulable"),
    (&["unscheduled"], "pod.unschedulable"),
    (&["failedscheduling"], "pod.unschedulable"),
    (&["evicted"], "pod.evicted"),
    (&["eviction"], "pod.evicted"),
    (&["evictions"], "pod.evicted"),
    (&["stuck", "terminating"], "pod.stuck-terminating"),
    (&["terminating"], "pod.stuck-terminating"),
    (&["readiness"], "pod.readiness-probe-failing"),
    (&["liveness"], "pod.liveness-probe-failing"),
    // "restarts" counts restarts; "restarting" stays a plain word (a crash loop, an OOM kill
    // or a liveness probe restart containers too).
    (&["restarts"], "pod.restarts"),
    (&["flapping"], "pod.restarts"),
    (
        &["progress", "deadline"],
        "deployment.progress-deadline-exceeded",
    ),
    (
        &["progressdeadlineexceeded"],
        "deployment.progress-deadline-exceeded",
    ),
    (&["rolling", "out"], "deployment.progress-deadline-exceeded"),
    (&["roll", "out"], "deployment.progress-deadline-exceeded"),
    (&["rollout"], "deployment.progress-deadline-exceeded"),
    (&["rollouts"], "deployment.progress-deadline-exceeded"),
    (&["misscheduled"], "daemonset.misscheduled"),
    (&["failedcreate"], "replicaset.failed-create"),
    (&["quota"], "replicaset.failed-create"),
    (&["quotas"], "replicaset.failed-create"),
    (&["missed", "schedules"], "cronjob.missed-schedules"),
    (&["suspended"], "cronjob.suspended"),
    (&["at", "max", "replicas"], "hpa.at-max"),
    (&["max", "replicas"], "hpa.at-max"),
    (&["at", "max"], "hpa.at-max"),
    (&["maxed"], "hpa.at-max"),
    (&["maxreplicas"], "hpa.at-max"),
    (&["no", "ready", "endpoints"], "service.no-ready-endpoints"),
    (&["no", "endpoints"], "service.no-ready-endpoints"),
    (&["endpoints"], "service.no-ready-endpoints"),
    (&["endpoint"], "service.no-ready-endpoints"),
    (&["targetport"], "service.target-port-mismatch"),
    (&["target", "port"], "service.target-port-mismatch"),
    (&["ingressclass"], "ingress.missing-class"),
    (&["ingress", "class"], "ingress.missing-class"),
    (&["503"], "ingress.backend-unavailable"),
    (&["503s"], "ingress.backend-unavailable"),
    (&["502"], "ingress.backend-unavailable"),
    (&["502s"], "ingress.backend-unavailable"),
    // Envoy's and nginx's words for a Service with no ready pods behind it.
    (&["no", "healthy", "upstream"], "service.no-ready-endpoints"),
    (&["upstream"], "service.no-ready-endpoints"),
    (&["storageclass"], "pvc.missing-storageclass"),
    (&["storage", "class"], "pvc.missing-storageclass"),
    (&["unbound"], "pvc.pending"),
    (&["missing", "configmap"], "config.missing-configmap"),
    (&["missing", "configmaps"], "config.missing-configmap"),
    (&["missing", "secret"], "config.missing-secret"),
    (&["missing", "secrets"], "config.missing-secret"),
    (&["missing", "key"], "config.missing-key"),
    (&["missing", "keys"], "config.missing-key"),
    (&["missing", "pvc"], "config.missing-pvc"),
    (&["missing", "pvcs"], "config.missing-pvc"),
    (
        &["missing", "serviceaccount"],
        "config.missing-serviceaccount",
    ),
    (&["missing", "service"], "ingress.missing-service"),
    (&["missing", "services"], "ingress.missing-service"),
    (&["missing", "backend"], "ingress.missing-service"),
    (&["invalid", "certificate"], "certificate.invalid"),
    (&["invalid", "certificates"], "certificate.invalid"),
    (&["invalid", "cert"], "certificate.invalid"),
    (&["invalid", "certs"], "certificate.invalid"),
    (&["invalid", "schedule"], "cronjob.invalid-schedule"),
    (&["unable", "to", "scale"], "hpa.unable-to-scale"),
    (&["can't", "scale"], "hpa.unable-to-scale"),
    (&["cannot", "scale"], "hpa.unable-to-scale"),
    (&["not", "scaling"], "hpa.unable-to-scale"),
    // A PodDisruptionBudget that allows no disruption is what blocks a drain.
    (&["drain"], "pdb.zero-disruptions"),
    (&["drains"], "pdb.zero-disruptions"),
    (&["draining"], "pdb.zero-disruptions"),
    (&["notready"], "node.not-ready"),
    (&["disk", "pressure"], "node.pressure"),
    (&["memory", "pressure"], "node.pressure"),
    (&["diskpressure"], "node.pressure"),
    (&["memorypressure"], "node.pressure"),
    (&["pidpressure"], "node.pressure"),
    (&["pressure"], "node.pressure"),
    // Memory trouble in a pod is an OOM kill (node memory pressure is read above).
    (&["memory"], "pod.oom-killed"),
    (&["cordoned"], "node.cordoned-with-pods"),
    (&["overcommitted"], "node.overcommitted"),
    (&["overcommit"], "node.overcommitted"),
    (&["webhook"], "webhook.no-endpoints"),
    (&["webhooks"], "webhook.no-endpoints"),
    (&["expired"], "certificate.expired"),
    (&["expiring"], "certificate.expiring"),
    (&["expire"], "certificate.expiring"),
    (&["expires"], "certificate.expiring"),
    (&["expiry"], "certificate.expiring"),
    (&["expiration"], "certificate.expiring"),
];

/// Words that name a state whose check depends on the kind asked about: "pending" pods are
/// unschedulable, "pending" PVCs are `pvc.pending`, a "pending" Service waits for its load
/// balancer. Each entry: the phrase, the check per kind, and the check when no kind is named.
/// States narrow a list ("which pods are pending?"); a question about one named object keeps
/// its whole cause chain instead ("why is checkout unavailable?" is not narrowed).
pub type State = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

pub const STATES: &[State] = &[
    (
        &["pending"],
        &[
            ("Pod", "pod.unschedulable"),
            ("PersistentVolumeClaim", "pvc.pending"),
            ("Service", "service.lb-pending"),
        ],
        Some("pod.unschedulable"),
    ),
    (&["not", "ready"], &[("Node", "node.not-ready")], None),
    (&["unready"], &[("Node", "node.not-ready")], None),
    (
        &["not", "scheduled"],
        &[
            ("Pod", "pod.unschedulable"),
            ("DaemonSet", "daemonset.unavailable"),
        ],
        Some("pod.unschedulable"),
    ),
    (
        &["unavailable"],
        &[
            ("Deployment", "deployment.unavailable"),
            ("StatefulSet", "statefulset.unavailable"),
            ("DaemonSet", "daemonset.unavailable"),
        ],
        None,
    ),
    (
        &["not", "available"],
        &[
            ("Deployment", "deployment.unavailable"),
            ("StatefulSet", "statefulset.unavailable"),
            ("DaemonSet", "daemonset.unavailable"),
        ],
        None,
    ),
    (
        &["failed"],
        &[
            ("Job", "job.failed"),
            ("CronJob", "cronjob.failing"),
            ("PersistentVolume", "pv.failed"),
        ],
        None,
    ),
    (
        &["failing"],
        &[("Job", "job.failed"), ("CronJob", "cronjob.failing")],
        None,
    ),
    (&["lost"], &[("PersistentVolumeClaim", "pvc.lost")], None),
    (&["released"], &[("PersistentVolume", "pv.released")], None),
    (&["orphaned"], &[("PersistentVolume", "pv.released")], None),
    (
        &["missing"],
        &[
            ("ConfigMap", "config.missing-configmap"),
            ("Secret", "config.missing-secret"),
            ("PersistentVolumeClaim", "config.missing-pvc"),
            ("ServiceAccount", "config.missing-serviceaccount"),
        ],
        None,
    ),
];

/// The kinds a check's findings are about (empty: any kind). A kind and a check that cannot go
/// together would match nothing, so the parser keeps only one of them.
pub fn check_kinds(id: &str) -> &'static [&'static str] {
    match id {
        "config.missing-configmap" => &["ConfigMap"],
        "config.missing-secret" | "config.missing-image-pull-secret" => &["Secret"],
        "config.missing-key" => &["ConfigMap", "Secret"],
        "config.missing-pvc" => &["PersistentVolumeClaim"],
        "config.missing-serviceaccount" => &["ServiceAccount"],
        "ingress.missing-tls-secret" => &["Ingress"],
        _ => match id.split('.').next().unwrap_or_default() {
            "pod" => &["Pod"],
            "deployment" => &["Deployment"],
            "statefulset" => &["StatefulSet"],
            "daemonset" => &["DaemonSet"],
            "job" => &["Job"],
            "cronjob" => &["CronJob"],
            "hpa" => &["HorizontalPodAutoscaler"],
            "service" => &["Service"],
            "ingress" => &["Ingress"],
            "pvc" => &["PersistentVolumeClaim"],
            "pv" => &["PersistentVolume"],
            "node" => &["Node"],
            "pdb" => &["PodDisruptionBudget"],
            "networkpolicy" => &["NetworkPolicy"],
            "certificate" => &["Secret"],
            "webhook" => &[
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
            ],
            // replicaset.failed-create fires on any pod owner; events on anything.
            _ => &[],
        },
    }
}

/// Kubernetes status reasons as kubectl prints them: "what is OOMKilled?" asks what one means.
pub fn is_reason(word: &str) -> bool {
    matches!(
        word,
        "crashloopbackoff"
            | "oomkilled"
            | "imagepullbackoff"
            | "errimagepull"
            | "invalidimagename"
            | "createcontainerconfigerror"
            | "containercreating"
            | "init:error"
            | "init:crashloopbackoff"
            | "failedscheduling"
            | "progressdeadlineexceeded"
            | "notready"
            | "diskpressure"
            | "memorypressure"
            | "pidpressure"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_phrases_name_real_checks() {
        let ids: Vec<&str> = kaptain_analyze::catalog()
            .iter()
            .map(|c| c.info.id)
            .collect();
        for (_, id) in PROBLEMS {
            assert!(ids.contains(id), "{id} is not a check");
        }
    }

    #[test]
    fn states_and_check_kinds_name_real_checks_and_kinds() {
        let ids: Vec<&str> = kaptain_analyze::catalog()
            .iter()
            .map(|c| c.info.id)
            .collect();
        for (phrase, by_kind, default) in STATES {
            for (kind, id) in by_kind.iter() {
                assert!(ids.contains(id), "{phrase:?}: {id} is not a check");
                assert_eq!(crate::words::kind(kind), Some(*kind), "{kind}");
                assert!(
                    check_kinds(id).is_empty() || check_kinds(id).contains(kind),
                    "{phrase:?}: {id} is never about a {kind}"
                );
            }
            assert!(default.is_none_or(|d| ids.contains(&d)), "{phrase:?}");
        }
        // A state that does not apply (no kind it names) leaves its words free: they must never
        // be taken for a name.
        for (phrase, _, _) in STATES {
            for w in phrase.iter() {
                assert!(
                    crate::words::is_reserved(w),
                    "{w} of {phrase:?} could be a name"
                );
            }
        }
        for id in &ids {
            for kind in check_kinds(id) {
                assert_eq!(crate::words::kind(kind), Some(*kind), "{id}: {kind}");
            }
        }
    }
}
