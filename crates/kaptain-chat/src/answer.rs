//! [`Request`] + a report's findings → [`Answer`]: the same root causes, chains and fixes the
//! CLI prints, selected and ordered for the question.

use std::collections::{HashMap, HashSet};

use kaptain_model::{Finding, ObjectRef, Severity};
use serde::{Deserialize, Serialize};

use crate::request::{Intent, Request};

/// At most this many root causes in an answer (the rest are counted in `more`).
const MAX_ROOTS: usize = 10;
/// At most this many findings in a findings list.
const MAX_FINDINGS: usize = 20;

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Answer {
    /// How the question was read.
    pub request: Request,
    /// One sentence that answers it.
    pub headline: String,
    /// More lines of explanation (a check's description, what to try next).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The findings the answer is about: root causes (diagnose, why, fix) or the findings
    /// asked for (findings, explain), most severe first.
    pub items: Vec<AnswerItem>,
    /// How many more items matched than are listed.
    pub more: usize,
    /// The `kaptain` command that shows the same findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<String>,
    /// Questions to ask next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

/// One finding of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerItem {
    pub finding: Finding,
    /// For a root cause: how many of the findings asked about trace back to it.
    pub symptoms: usize,
    /// For `why`: the chain from the asked-about object's finding down to this root cause
    /// (the root cause itself not repeated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<Link>,
}

/// A finding on a cause chain, in short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    pub fingerprint: String,
    pub severity: Severity,
    pub object: ObjectRef,
    pub title: String,
}

impl From<&Finding> for Link {
    fn from(f: &Finding) -> Self {
        Link {
            fingerprint: f.fingerprint.clone(),
            severity: f.severity,
            object: f.object.clone(),
            title: f.title.clone(),
        }
    }
}

/// Answers `r` from `findings` (a whole report's, already narrowed to what the asker may see),
/// or from no findings at all when none were looked at (`None`: help, and explain without a
/// cluster).
pub fn answer(r: &Request, findings: Option<&[Finding]>) -> Answer {
    let mut a = Answer {
        request: r.clone(),
        headline: String::new(),
        details: Vec::new(),
        items: Vec::new(),
        more: 0,
        cli: r.cli(),
        suggestions: Vec::new(),
    };
    match (r.intent, findings) {
        (Intent::Help, _) => help(&mut a),
        (Intent::Act, _) => act(&mut a),
        (Intent::Explain, f) => explain(&mut a, f),
        (_, None) => {
            a.headline = "No cluster was looked at, so there is nothing to answer from.".into();
        }
        (Intent::Findings, Some(f)) => list(&mut a, f),
        (Intent::Why, Some(f)) => why(&mut a, f),
        (Intent::Diagnose | Intent::Fix, Some(f)) => roots(&mut a, f),
    }
    if !r.ignored.is_empty() {
        a.details.push(format!(
            "Not understood, so not used: {}.",
            r.ignored.join(", ")
        ));
    }
    a
}

fn help(a: &mut Answer) {
    a.headline = "Ask what is wrong, why something fails, or how to fix it.".into();
    a.details = vec![
        "Name a namespace (\"in shop\"), an object (\"the checkout deployment\", \
         \"svc/api\"), a severity (\"critical\"), a category (\"network\") or a problem \
         (\"crash looping\", \"out of memory\", pod.image-pull)."
            .into(),
        "Answers come from Kaptain's checks and root-cause analysis. Requests to act (\"scale \
         web to 5 in shop\", \"restart deployment api\", \"roll back checkout\", \"fix it\") \
         become HealingActions that Kaptain's safety guard decides; asking alone never changes \
         the cluster."
            .into(),
    ];
    a.suggestions = examples();
}

/// A request to act, answered without a cluster: how it was read. What it would do (the
/// diff, the guard's verdict, the verification) is the engine's part.
fn act(a: &mut Answer) {
    let read = a
        .request
        .act
        .as_ref()
        .map_or_else(|| "a request".to_string(), |x| x.describe());
    a.headline = format!("Request to act: {read}.");
    a.details = vec![
        "Kaptain turns it into a HealingAction that its safety guard decides (protected \
         namespaces, never-allow rules, rate limits, blast radius, circuit breaker); it is \
         applied only when you confirm it."
            .into(),
    ];
}

fn examples() -> Vec<String> {
    [
        "what is wrong?",
        "what is wrong in namespace shop?",
        "why is the checkout deployment failing?",
        "how do I fix it in shop?",
        "show critical findings",
        "which pods are crash looping?",
        "what does pod.oom-killed mean?",
    ]
    .map(String::from)
    .to_vec()
}

/// Whether a finding is within the request's filters.
fn matches(r: &Request, f: &Finding, exact_names: bool) -> bool {
    let o = &f.object;
    let ns_ok = r
        .namespace
        .as_deref()
        .is_none_or(|ns| o.namespace.as_deref() == Some(ns));
    // A finding grouped under its workload is about its pods too.
    let pods = f.instances.iter().map(|i| &i.object);
    let kind_ok = r
        .kind
        .as_deref()
        .is_none_or(|k| o.kind == k || (k == "Pod" && !f.instances.is_empty()));
    let named = |o: &ObjectRef, n: &str| {
        o.name == n || (!exact_names && o.name.starts_with(n) && o.name[n.len()..].starts_with('-'))
    };
    let name_ok = r
        .name
        .as_deref()
        .is_none_or(|n| named(o, n) || pods.clone().any(|p| named(p, n)));
    let sev_ok = r.min_severity.is_none_or(|s| f.severity >= s);
    let cat_ok = r.category.is_none_or(|c| f.category == c);
    let check_ok = r
        .check
        .as_deref()
        .is_none_or(|c| f.id == c || f.id.split('.').next() == Some(c));
    ns_ok && kind_ok && name_ok && sev_ok && cat_ok && check_ok
}

/// The findings a request is about: exact name matches when there are any, else names that
/// start with the one asked (`checkout` → the pods `checkout-7d9c-x2`).
fn selected<'a>(r: &Request, all: &'a [Finding]) -> Vec<&'a Finding> {
    let exact: Vec<&Finding> = all.iter().filter(|f| matches(r, f, true)).collect();
    if !exact.is_empty() || r.name.is_none() {
        return exact;
    }
    all.iter().filter(|f| matches(r, f, false)).collect()
}

/// An object as people say it: `ConfigMap shop/checkout-config`, `Node worker-3`.
pub(crate) fn label(o: &ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

fn by_severity(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.object.cmp(&b.object))
        .then_with(|| a.id.cmp(&b.id))
}

fn scope(r: &Request) -> String {
    let mut s = String::new();
    if let Some(ns) = &r.namespace {
        s.push_str(&format!(" in namespace {ns}"));
    }
    if let Some(c) = &r.cluster {
        s.push_str(&format!(" on cluster {c}"));
    }
    s
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn list(a: &mut Answer, all: &[Finding]) {
    let r = &a.request;
    let mut found = selected(r, all);
    found.sort_by(|x, y| by_severity(x, y));
    let counts = severity_counts(&found);
    a.headline = if found.is_empty() {
        format!("No findings match{}.", scope(r))
    } else {
        format!(
            "{}{}: {}.",
            plural(found.len(), "finding", "findings"),
            scope(r),
            counts
        )
    };
    if found.is_empty() {
        a.suggestions = vec![format!("what is wrong{}?", scope(r))];
    }
    take_findings(a, found);
}

fn take_findings(a: &mut Answer, found: Vec<&Finding>) {
    a.more = found.len().saturating_sub(MAX_FINDINGS);
    a.items = found
        .into_iter()
        .take(MAX_FINDINGS)
        .map(|f| AnswerItem {
            finding: f.clone(),
            symptoms: 0,
            via: Vec::new(),
        })
        .collect();
}

fn severity_counts(found: &[&Finding]) -> String {
    Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| {
            let n = found.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The root causes every finding traces back to (a finding with no known cause is its own
/// root), each with one path from the finding to it (the root itself excluded).
fn roots_of<'a>(
    f: &'a Finding,
    by_fp: &HashMap<&str, &'a Finding>,
) -> Vec<(&'a Finding, Vec<&'a Finding>)> {
    let mut out: Vec<(&Finding, Vec<&Finding>)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&Finding, Vec<&Finding>)> = vec![(f, Vec::new())];
    while let Some((cur, path)) = stack.pop() {
        if !seen.insert(cur.fingerprint.as_str()) {
            continue;
        }
        let causes: Vec<&Finding> = cur
            .caused_by
            .iter()
            .filter_map(|c| by_fp.get(c.as_str()).copied())
            .collect();
        if causes.is_empty() || cur.root_cause {
            if !out.iter().any(|(r, _)| r.fingerprint == cur.fingerprint) {
                out.push((cur, path));
            }
            continue;
        }
        for c in causes.into_iter().rev() {
            let mut p = path.clone();
            p.push(cur);
            stack.push((c, p));
        }
    }
    out
}

/// Groups the selected findings by root cause: (root, how many trace to it, one path).
fn grouped<'a>(
    selected: &[&'a Finding],
    all: &'a [Finding],
) -> Vec<(&'a Finding, usize, Vec<&'a Finding>)> {
    let by_fp: HashMap<&str, &Finding> = all.iter().map(|f| (f.fingerprint.as_str(), f)).collect();
    let mut groups: Vec<(&Finding, usize, Vec<&Finding>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for f in selected {
        for (root, path) in roots_of(f, &by_fp) {
            // A root cause asked about itself is not its own symptom.
            let symptom = usize::from(f.fingerprint != root.fingerprint);
            match index.get(root.fingerprint.as_str()) {
                Some(&i) => groups[i].1 += symptom,
                None => {
                    index.insert(root.fingerprint.as_str(), groups.len());
                    groups.push((root, symptom, path));
                }
            }
        }
    }
    groups.sort_by(|x, y| by_severity(x.0, y.0).then_with(|| y.1.cmp(&x.1)));
    groups
}

fn take_groups(a: &mut Answer, groups: Vec<(&Finding, usize, Vec<&Finding>)>, with_path: bool) {
    a.more = groups.len().saturating_sub(MAX_ROOTS);
    a.items = groups
        .into_iter()
        .take(MAX_ROOTS)
        .map(|(root, n, path)| AnswerItem {
            finding: root.clone(),
            symptoms: n,
            via: if with_path {
                path.into_iter().map(Link::from).collect()
            } else {
                Vec::new()
            },
        })
        .collect();
}

/// Diagnose and fix: the root causes behind what is in scope.
fn roots(a: &mut Answer, all: &[Finding]) {
    let r = a.request.clone();
    let found = selected(&r, all);
    let groups = grouped(&found, all);
    let n = groups.len();
    a.headline = if found.is_empty() {
        format!("Kaptain finds nothing wrong{}.", scope(&r))
    } else if r.intent == Intent::Fix {
        format!(
            "{} to fix{}; {} back to {}.",
            plural(n, "root cause", "root causes"),
            scope(&r),
            plural(found.len(), "finding traces", "findings trace"),
            if n == 1 { "it" } else { "them" },
        )
    } else {
        format!(
            "{}{} explain {}.",
            plural(n, "root cause", "root causes"),
            scope(&r),
            plural(found.len(), "finding", "findings"),
        )
    };
    if r.intent == Intent::Diagnose && n > 0 {
        a.suggestions = vec![format!("how do I fix it{}?", scope(&r))];
    }
    take_groups(a, groups, false);
}

/// Why: the chains from the asked-about object's findings to their root causes.
fn why(a: &mut Answer, all: &[Finding]) {
    let r = a.request.clone();
    let found = selected(&r, all);
    let subject = match (&r.kind, &r.name) {
        (Some(k), Some(n)) => format!("{k} {n}"),
        (None, Some(n)) => n.clone(),
        (Some(k), None) => format!("the {k}s"),
        (None, None) => "it".into(),
    };
    if found.is_empty() {
        a.headline = format!("Kaptain finds nothing wrong with {subject}{}.", scope(&r));
        a.details.push(
            "No finding names it: it is healthy as far as the checks can tell, or it does not \
             exist under that name."
                .into(),
        );
        a.suggestions = vec![format!("what is wrong{}?", scope(&r))];
        return;
    }
    let groups = grouped(&found, all);
    a.headline = match groups.as_slice() {
        [(root, _, path)] if path.is_empty() => {
            format!("{subject}: {}.", root.title.trim_end_matches('.'))
        }
        [(root, _, _)] => format!(
            "{subject} fails because of {}: {}.",
            label(&root.object),
            root.title.trim_end_matches('.')
        ),
        _ => format!(
            "{subject} fails because of {}.",
            plural(groups.len(), "root cause", "root causes")
        ),
    };
    a.suggestions = vec![format!("how do I fix {subject}{}?", scope(&r))];
    take_groups(a, groups, true);
}

/// Explain: what a check (or every check of a domain) means, and where it fires now.
fn explain(a: &mut Answer, findings: Option<&[Finding]>) {
    let r = a.request.clone();
    let wanted = r.check.clone().unwrap_or_default();
    let checks: Vec<_> = kaptain_analyze::catalog()
        .iter()
        .filter(|c| c.info.id == wanted || c.info.id.split('.').next() == Some(wanted.as_str()))
        .collect();
    match checks.as_slice() {
        [] => {
            a.headline = format!("Kaptain has no check {wanted:?}.");
            a.suggestions = vec!["help".into()];
            return;
        }
        [c] => {
            a.headline = format!(
                "{} ({}, {} by default): {}",
                c.info.id,
                c.info.category.as_str(),
                c.info.severity.as_str(),
                c.info.description
            );
        }
        many => {
            a.headline = format!("{} checks in {wanted}:", many.len());
            a.details = many
                .iter()
                .map(|c| {
                    format!(
                        "{} ({}): {}",
                        c.info.id,
                        c.info.severity.as_str(),
                        c.info.description
                    )
                })
                .collect();
        }
    }
    let Some(all) = findings else {
        a.details.push(format!(
            "To see where it fires: kaptain diagnose -A --only {wanted}"
        ));
        return;
    };
    let mut found = selected(&r, all);
    found.sort_by(|x, y| by_severity(x, y));
    a.details.push(if found.is_empty() {
        format!("It does not fire{} now.", scope(&r))
    } else {
        format!(
            "It fires on {}{} now.",
            plural(found.len(), "object", "objects"),
            scope(&r)
        )
    });
    take_findings(a, found);
}
