//! The vocabulary: kinds and their short names, severities, categories, common names of
//! problems (in [`crate::problems`]), and the words that signal an intent.

use kaptain_model::{Category, Severity};

pub use crate::problems::{PROBLEMS, STATES, check_kinds, is_reason};

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
    // A LoadBalancer is a Service of that type ("why is my load balancer pending?").
    (
        "Service",
        &[
            "service",
            "services",
            "svc",
            "loadbalancer",
            "loadbalancers",
        ],
    ),
    ("Ingress", &["ingress", "ingresses", "ing"]),
    (
        "PersistentVolumeClaim",
        &[
            "persistentvolumeclaim",
            "persistentvolumeclaims",
            "pvc",
            "pvcs",
            "volumeclaim",
            "volumeclaims",
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
            "autoscaler",
            "autoscalers",
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

/// The kind a word names (`svc` → `Service`), case-insensitive; hyphens are ignored
/// (`config-map`, `stateful-set`).
pub fn kind(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_lowercase().replace('-', "");
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
        "config" | "configuration" | "misconfiguration" | "misconfigurations" | "misconfigured" => {
            Category::Config
        }
        "scheduling" => Category::Scheduling,
        "network" | "networking" => Category::Network,
        "storage" | "volume" | "volumes" | "disk" | "disks" => Category::Storage,
        "security" => Category::Security,
        "cost" | "costs" | "spend" => Category::Cost,
        "certificate" | "certificates" | "cert" | "certs" | "tls" | "ssl" => Category::Certificate,
        "capacity" => Category::Capacity,
        _ => return None,
    })
}

/// Topics people ask about that no check reads (DNS, logs, latency): never a name, and always
/// said back as not understood, so the asker knows the answer does not cover them.
pub const UNSUPPORTED: &[&str] = &[
    "dns",
    "logs",
    "log",
    "latency",
    "cpu",
    "metrics",
    "traffic",
    "rbac",
    "permissions",
    "limits",
    "limit",
    "resource",
    "resources",
];

/// Words that ask for help.
pub const HELP: &[&str] = &["help", "commands", "examples", "hello", "hi", "hey"];
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
    "fixing",
    "repair",
    "resolve",
    "remedy",
    "remediate",
    "remediation",
    "solve",
    "solution",
    "mitigate",
    "remedies",
];
/// Phrases that ask how to fix ("how do I ...", "what should I do").
pub const FIX_PHRASES: &[&[&str]] = &[
    &["how", "to"],
    &["how", "do"],
    &["how", "can"],
    &["how", "should"],
    &["what", "to", "do"],
    &["should", "i", "do"],
    &["should", "we", "do"],
];
/// Words that ask why.
pub const WHY: &[&str] = &["why", "cause", "causes", "caused", "causing", "reason"];
/// Words that ask for a list. "any", "all", "issues", "problems" do not: "any problems in
/// shop?" asks what is wrong (root causes), "show all issues" lists them because of "show".
pub const LIST: &[&str] = &[
    "list",
    "show",
    "find",
    "which",
    "findings",
    "finding",
    "warnings",
    "display",
    "enumerate",
];
/// Words that ask what is wrong without naming anything (with a free name, they ask about it:
/// "debug checkout").
pub const DIAGNOSE: &[&str] = &[
    "wrong",
    "broken",
    "failing",
    "fails",
    "down",
    "diagnose",
    "diagnosis",
    "health",
    "healthy",
    "unhealthy",
    "status",
    "happening",
    "ok",
    "okay",
    "problem",
    "problems",
    "issue",
    "issues",
    "error",
    "errors",
    "trouble",
    "debug",
    "troubleshoot",
    "investigate",
    "analyze",
    "analyse",
    "triage",
    "scan",
    "describe",
    "up",
    "happened",
    "running",
    "working",
    "doing",
    "summary",
    "overview",
    "report",
    "outage",
    "outages",
    "incident",
    "worry",
    "concern",
    "concerning",
    "attention",
    "reach",
    "reachable",
    "unreachable",
    "connect",
    "connecting",
    "connection",
    "connections",
    "refused",
    "timeout",
    "timeouts",
    "responding",
    "respond",
    "access",
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
    "they",
    "them",
    "their",
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
    "can't",
    "cant",
    "cannot",
    "won't",
    "wont",
    "isn't",
    "isnt",
    "aren't",
    "arent",
    "doesn't",
    "doesnt",
    "don't",
    "dont",
    "didn't",
    "didnt",
    "please",
    "kaptain",
    "of",
    "for",
    "to",
    "with",
    "without",
    "about",
    "and",
    "or",
    "on",
    "at",
    "by",
    "from",
    "in",
    "inside",
    "across",
    "under",
    "now",
    "currently",
    "right",
    "all",
    "any",
    "every",
    "some",
    "many",
    "much",
    "too",
    "no",
    "not",
    "-a",
    "--all-namespaces",
    "cluster-wide",
    "wide",
    "work",
    "works",
    "going",
    "go",
    "so",
    "get",
    "got",
    "getting",
    "have",
    "has",
    "having",
    "whole",
    "entire",
    "everything",
    "anything",
    "something",
    "state",
    "check",
    "checks",
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
    "sev",
    "level",
    "root",
    "if",
    "when",
    "where",
    "who",
    "bad",
    "sick",
    "run",
    "here",
    "thing",
    "things",
    "stuff",
    "also",
    "still",
    "keeps",
    "keep",
    "again",
    "troubles",
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
    "failed",
    "fail",
    "happen",
    "soon",
    "today",
    "week",
    "weeks",
    "month",
    "months",
    "day",
    "days",
    "within",
    "priority",
    "kubectl",
    "due",
    "out",
    "night",
    "morning",
    "count",
    "kind",
    "kinds",
    "category",
    "categories",
    "type",
    "completed",
    "succeeded",
    "terminated",
    "waiting",
    "unknown",
    "top",
    "biggest",
    "worst",
    "main",
    "thanks",
    "thank",
    "pls",
    "plz",
    "wtf",
    "fire",
    "fires",
    "firing",
    "k8sgpt",
    "holmes",
    "holmesgpt",
    "filter",
    "--filter",
    "using",
    "uses",
    "point",
    "points",
    "event",
    "events",
    "valid",
    "scale",
    "scaling",
    "scheduled",
    "blocking",
    "blocked",
    "blocks",
    "exceeded",
    "usage",
    "returning",
    "returns",
    "orphaned",
    "yesterday",
    "tonight",
    "recently",
    "lately",
    "since",
    "ago",
    "last",
    "hour",
    "hours",
    "minute",
    "minutes",
    "replica",
    "replicas",
    "stuck",
    "killed",
    "kills",
    "killing",
    "probe",
    "probes",
    "found",
    "exist",
    "exists",
    "missing",
    "lost",
    "released",
    "available",
    "unready",
    "we're",
    "i'm",
    "seeing",
    "seem",
    "seems",
    "done",
];

/// Words that end a name search (never taken as a namespace, cluster or object name).
pub fn is_reserved(word: &str) -> bool {
    FILLER.contains(&word)
        || DIAGNOSE.contains(&word)
        || UNSUPPORTED.contains(&word)
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
    fn names_are_dns_subdomains() {
        assert!(is_name("checkout") && is_name("api-7d9c-x2") && is_name("a.b"));
        assert!(!is_name("-x") && !is_name("Shop") && !is_name("a_b") && !is_name(""));
    }
}
