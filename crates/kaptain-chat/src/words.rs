//! The vocabulary: kinds and their short names, severities, categories, common names of
//! problems, and the words that signal an intent.

use kaptain_model::{Category, Severity};

/// Object kinds as findings name them, with kubectl's short names and plurals.
const KINDS: &[(&str, &[&str])] = &[
    ("Pod", &["pod", "pods", "po"]),
    (
        "Deployment",
        &["deployment", "deployments", "deploy", "deploys"],
    ),
    ("ReplicaSet", &["replicaset", "replicasets", "rs"]),
    ("StatefulSet", &["statefulset", "statefulsets", "sts"]),
    ("DaemonSet", &["daemonset", "daemonsets", "ds"]),
    ("Job", &["job", "jobs"]),
    ("CronJob", &["cronjob", "cronjobs", "cj"]),
    ("Service", &["service", "services", "svc"]),
    ("Ingress", &["ingress", "ingresses", "ing"]),
    (
        "PersistentVolumeClaim",
        &[
            "persistentvolumeclaim",
            "persistentvolumeclaims",
            "pvc",
            "pvcs",
        ],
    ),
    (
        "PersistentVolume",
        &["persistentvolume", "persistentvolumes", "pv", "pvs"],
    ),
    ("Node", &["node", "nodes"]),
    ("ConfigMap", &["configmap", "configmaps", "cm"]),
    ("Secret", &["secret", "secrets"]),
    (
        "HorizontalPodAutoscaler",
        &[
            "horizontalpodautoscaler",
            "horizontalpodautoscalers",
            "hpa",
            "hpas",
        ],
    ),
    (
        "PodDisruptionBudget",
        &["poddisruptionbudget", "poddisruptionbudgets", "pdb", "pdbs"],
    ),
    (
        "NetworkPolicy",
        &["networkpolicy", "networkpolicies", "netpol", "netpols"],
    ),
    (
        "ServiceAccount",
        &["serviceaccount", "serviceaccounts", "sa"],
    ),
    (
        "ValidatingWebhookConfiguration",
        &["validatingwebhookconfiguration", "validatingwebhook"],
    ),
    (
        "MutatingWebhookConfiguration",
        &["mutatingwebhookconfiguration", "mutatingwebhook"],
    ),
];

/// The kind a word names (`svc` → `Service`), case-insensitive.
pub fn kind(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(canonical, aliases)| canonical.eq_ignore_ascii_case(&w) || aliases.contains(&&*w))
        .map(|(canonical, _)| *canonical)
}

/// Whether a kind word is plural (`pods`): "the pods in shop" asks about a kind, not one object.
pub fn is_plural_kind(word: &str) -> bool {
    kind(word).is_some() && word.len() > 3 && word.ends_with('s') && !word.ends_with("ss")
}

pub fn severity(word: &str) -> Option<Severity> {
    Some(match word {
        "critical" | "criticals" | "crit" => Severity::Critical,
        "high" | "highs" | "severe" | "serious" | "urgent" | "important" => Severity::High,
        "medium" | "moderate" => Severity::Medium,
        "low" => Severity::Low,
        "info" | "informational" => Severity::Info,
        _ => return None,
    })
}

pub fn category(word: &str) -> Option<Category> {
    Some(match word {
        "reliability" | "availability" => Category::Reliability,
        "config" | "configuration" | "misconfiguration" | "misconfigurations" => Category::Config,
        "scheduling" => Category::Scheduling,
        "network" | "networking" => Category::Network,
        "storage" | "volume" | "volumes" | "disk" | "disks" => Category::Storage,
        "security" => Category::Security,
        "cost" | "costs" | "spend" => Category::Cost,
        "certificate" | "certificates" | "cert" | "certs" | "tls" => Category::Certificate,
        "capacity" => Category::Capacity,
        _ => return None,
    })
}

/// Everyday names of problems (as words of the question, lowercase) and the check they mean.
/// Longer phrases come first so they win over their parts.
pub const PROBLEMS: &[(&[&str], &str)] = &[
    (&["crash", "looping"], "pod.crash-loop"),
    (&["crash", "loop"], "pod.crash-loop"),
    (&["crashloop"], "pod.crash-loop"),
    (&["crashloopbackoff"], "pod.crash-loop"),
    (&["crashlooping"], "pod.crash-loop"),
    (&["crashing"], "pod.crash-loop"),
    (&["out", "of", "memory"], "pod.oom-killed"),
    (&["oom"], "pod.oom-killed"),
    (&["oomkilled"], "pod.oom-killed"),
    (&["oom-killed"], "pod.oom-killed"),
    (&["image", "pull"], "pod.image-pull"),
    (&["imagepullbackoff"], "pod.image-pull"),
    (&["errimagepull"], "pod.image-pull"),
    (
        &["createcontainerconfigerror"],
        "pod.create-container-config-error",
    ),
    (&["unschedulable"], "pod.unschedulable"),
    (&["evicted"], "pod.evicted"),
    (&["stuck", "terminating"], "pod.stuck-terminating"),
    (&["no", "endpoints"], "service.no-ready-endpoints"),
    (&["missing", "configmap"], "config.missing-configmap"),
    (&["missing", "configmaps"], "config.missing-configmap"),
    (&["missing", "secret"], "config.missing-secret"),
    (&["missing", "secrets"], "config.missing-secret"),
    (&["expired"], "certificate.expired"),
    (&["expiring"], "certificate.expiring"),
    (&["expire"], "certificate.expiring"),
];

/// Words that ask for help.
pub const HELP: &[&str] = &["help", "usage", "commands", "examples", "hello", "hi"];
/// Words that ask what a check means.
pub const EXPLAIN: &[&str] = &[
    "explain",
    "mean",
    "means",
    "meaning",
    "definition",
    "define",
];
/// Words that ask how to fix.
pub const FIX: &[&str] = &[
    "fix",
    "fixes",
    "repair",
    "resolve",
    "remedy",
    "remediate",
    "remediation",
    "solve",
    "solution",
];
/// Words that ask why.
pub const WHY: &[&str] = &["why", "cause", "causes", "caused", "causing", "reason"];
/// Words that ask for a list.
pub const LIST: &[&str] = &[
    "list", "show", "which", "findings", "finding", "issues", "issue", "problems", "problem",
    "all", "any", "warnings",
];

/// Words that carry no filter or intent of their own (skipped without a complaint).
pub const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "do",
    "does",
    "did",
    "i",
    "we",
    "you",
    "me",
    "us",
    "my",
    "our",
    "your",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "there",
    "what",
    "whats",
    "what's",
    "how",
    "can",
    "could",
    "should",
    "would",
    "will",
    "please",
    "kaptain",
    "of",
    "for",
    "to",
    "with",
    "about",
    "and",
    "or",
    "on",
    "at",
    "by",
    "from",
    "in",
    "inside",
    "under",
    "up",
    "now",
    "currently",
    "right",
    "wrong",
    "broken",
    "failing",
    "fail",
    "fails",
    "failed",
    "down",
    "not",
    "working",
    "work",
    "works",
    "happening",
    "going",
    "go",
    "so",
    "get",
    "got",
    "have",
    "has",
    "whole",
    "entire",
    "everything",
    "anything",
    "something",
    "ok",
    "okay",
    "healthy",
    "health",
    "status",
    "state",
    "check",
    "checks",
    "diagnose",
    "diagnosis",
    "tell",
    "give",
    "see",
    "look",
    "than",
    "more",
    "worse",
    "above",
    "higher",
    "least",
    "only",
    "just",
    "severity",
    "level",
    "root",
    "if",
    "when",
    "where",
    "who",
    "unhealthy",
    "bad",
    "sick",
    "running",
    "run",
    "wrong?",
    "here",
    "thing",
    "things",
    "stuff",
    "also",
    "still",
    "keeps",
    "keep",
    "again",
    "trouble",
    "troubles",
    "error",
    "errors",
    "unavailable",
    "slow",
    "dead",
    "first",
    "next",
    "most",
    "app",
    "apps",
    "application",
    "applications",
    "ready",
    "restarting",
    "pending",
    "happened",
    "happen",
    "soon",
    "describe",
    "today",
    "priority",
];

/// Words that end a name search (never taken as a namespace, cluster or object name).
pub fn is_reserved(word: &str) -> bool {
    FILLER.contains(&word)
        || HELP.contains(&word)
        || EXPLAIN.contains(&word)
        || FIX.contains(&word)
        || WHY.contains(&word)
        || LIST.contains(&word)
        || matches!(
            word,
            "namespace" | "namespaces" | "ns" | "cluster" | "clusters" | "context"
        )
        || severity(word).is_some()
        || category(word).is_some()
        || kind(word).is_some()
}

/// Whether a word can be a Kubernetes name: a DNS subdomain (lowercase alphanumerics, `-`, `.`),
/// starting and ending with an alphanumeric.
pub fn is_name(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 253
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && word.starts_with(|c: char| c.is_ascii_alphanumeric())
        && word.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_resolve_from_short_names_plurals_and_any_case() {
        assert_eq!(kind("svc"), Some("Service"));
        assert_eq!(kind("Deployments"), Some("Deployment"));
        assert_eq!(kind("StatefulSet"), Some("StatefulSet"));
        assert_eq!(kind("hpa"), Some("HorizontalPodAutoscaler"));
        assert_eq!(kind("shop"), None);
        assert!(is_plural_kind("pods") && !is_plural_kind("pod") && !is_plural_kind("ingress"));
    }

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
    fn names_are_dns_subdomains() {
        assert!(is_name("checkout") && is_name("api-7d9c-x2") && is_name("a.b"));
        assert!(!is_name("-x") && !is_name("Shop") && !is_name("a_b") && !is_name(""));
    }
}
