//! What the API server's schema cannot check about a policy: label selectors that can never
//! match, check ids no analyzer reports, empty bounds, non-positive durations, unparseable
//! quantities. A policy with problems proposes nothing; the operator reports them on its
//! `Ready` condition (reason `InvalidSpec`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_core::Duration;

use super::policy::{ActionTemplate, HealingPolicySpec};
use kaptain_index::quantity;

impl HealingPolicySpec {
    /// Every problem of the spec, one line each (empty: valid). `known_checks` are the check
    /// ids the analyzers report; a `match.checks` entry must be one of them or a domain
    /// (the part before the first dot) of one.
    pub fn problems(&self, known_checks: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        let m = &self.selector;
        for c in &m.checks {
            let c = c.trim();
            let known = known_checks
                .iter()
                .any(|k| *k == c || k.split('.').next() == Some(c));
            if !known {
                out.push(format!("match.checks: no check or domain is called {c:?}"));
            }
        }
        if let Some(s) = &m.selector {
            selector_problems("match.selector", s, &mut out);
        }
        if let Some(s) = &m.namespace_selector {
            selector_problems("match.namespaceSelector", s, &mut out);
        }
        if let Some(d) = &m.for_duration
            && d.is_negative()
        {
            out.push(format!("match.forDuration: {} is negative", show(d)));
        }
        if self.actions.is_empty() {
            out.push("actions: the policy lists no action".into());
        }
        for (i, a) in self.actions.iter().enumerate() {
            let at = format!("actions[{i}].{}", camel(a));
            match a {
                ActionTemplate::Scale { min, max } if min > max => {
                    out.push(format!("{at}: min {min} is above max {max}"));
                }
                ActionTemplate::RaiseResources { max, factor, .. } => {
                    if quantity::parse(max).is_none() {
                        out.push(format!("{at}.max: {max:?} is not a quantity"));
                    }
                    if !(1.0..=4.0).contains(factor) {
                        out.push(format!("{at}.factor: {factor} is not within [1, 4]"));
                    }
                }
                ActionTemplate::ForceDeleteStuckPod { grace_seconds } if *grace_seconds < 0 => {
                    out.push(format!("{at}.graceSeconds: {grace_seconds} is negative"));
                }
                _ => {}
            }
        }
        let window = &self.verification.window;
        if window.is_negative() || std::time::Duration::from(*window).is_zero() {
            out.push(format!(
                "verification.window: {} must be longer than 0",
                show(&self.verification.window)
            ));
        }
        if self.rate_limit.cooldown_per_object.is_negative() {
            out.push(format!(
                "rateLimit.cooldownPerObject: {} is negative",
                show(&self.rate_limit.cooldown_per_object)
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            out.push(format!(
                "minConfidence: {} is not within [0, 1]",
                self.min_confidence
            ));
        }
        if self.blast_radius.max_percent_of_replicas > 100 {
            out.push(format!(
                "blastRadius.maxPercentOfReplicas: {} is above 100",
                self.blast_radius.max_percent_of_replicas
            ));
        }
        out
    }
}

fn show(d: &Duration) -> String {
    format!("{d}")
}

/// The action's key as written in YAML (`raiseResources`).
fn camel(a: &ActionTemplate) -> String {
    let s = a.kind().as_str();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Problems of a label selector, as the API server would report them for a workload's.
fn selector_problems(at: &str, s: &LabelSelector, out: &mut Vec<String>) {
    for (k, v) in s.match_labels.iter().flatten() {
        if let Err(e) = label_key(k) {
            out.push(format!("{at}.matchLabels: key {k:?} {e}"));
        }
        if let Err(e) = label_value(v) {
            out.push(format!("{at}.matchLabels[{k}]: value {v:?} {e}"));
        }
    }
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let here = format!("{at}.matchExpressions[{i}]");
        if let Err(why) = label_key(&e.key) {
            out.push(format!("{here}.key: {:?} {why}", e.key));
        }
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                out.push(format!("{here}: operator {} needs values", e.operator))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                out.push(format!("{here}: operator {} takes no values", e.operator))
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => out.push(format!(
                "{here}.operator: {other:?} is not In, NotIn, Exists or DoesNotExist"
            )),
        }
        for v in values {
            if let Err(why) = label_value(v) {
                out.push(format!("{here}.values: {v:?} {why}"));
            }
        }
    }
}

/// A label name: at most 63 characters, alphanumeric at both ends, `-_.` inside.
fn name_part(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters");
    }
    let ok_inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !s.chars().all(ok_inner) || !ends(s.chars().next()) || !ends(s.chars().last()) {
        return Err("must be alphanumeric, '-', '_' or '.', and start and end alphanumeric");
    }
    Ok(())
}

/// `[prefix/]name`, the prefix a DNS subdomain.
fn label_key(k: &str) -> Result<(), &'static str> {
    match k.split_once('/') {
        Some((prefix, name)) => {
            let dns = |p: &str| {
                !p.is_empty()
                    && p.len() <= 253
                    && p.split('.').all(|l| {
                        !l.is_empty()
                            && l.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                            && !l.starts_with('-')
                            && !l.ends_with('-')
                    })
            };
            if !dns(prefix) {
                return Err("has a prefix that is not a DNS subdomain");
            }
            name_part(name)
        }
        None => name_part(k),
    }
}

fn label_value(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Ok(());
    }
    name_part(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FindingMatch, ResourceName, from_yaml};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    const KNOWN: &[&str] = &["pod.crash-loop", "pod.oom-killed", "node.not-ready"];

    fn spec(yaml: &str) -> HealingPolicySpec {
        from_yaml(yaml).expect("spec")
    }

    #[test]
    fn a_sound_policy_has_no_problems() {
        let s = spec(
            "match: {checks: [pod.oom-killed, node], selector: {matchLabels: {app.kubernetes.io/name: shop}}}\n\
             actions: [{raiseResources: {resource: memory, factor: 1.5, max: 2Gi}}, {scale: {min: 1, max: 3}}]\n\
             verification: {window: 5m}\nrateLimit: {cooldownPerObject: 0s}\n",
        );
        assert_eq!(s.problems(KNOWN), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let mut s = HealingPolicySpec {
            selector: FindingMatch {
                checks: vec!["pod.crashloop".into()],
                selector: Some(LabelSelector {
                    match_labels: Some([("-bad".to_string(), "ok".to_string())].into()),
                    match_expressions: Some(vec![
                        LabelSelectorRequirement {
                            key: "tier".into(),
                            operator: "Equals".into(),
                            values: Some(vec!["web".into()]),
                        },
                        LabelSelectorRequirement {
                            key: "tier".into(),
                            operator: "In".into(),
                            values: None,
                        },
                    ]),
                }),
                for_duration: Some("-5m".parse().expect("duration")),
                ..FindingMatch::default()
            },
            actions: vec![
                ActionTemplate::Scale { min: 3, max: 1 },
                ActionTemplate::RaiseResources {
                    resource: ResourceName::Memory,
                    factor: 9.0,
                    max: "lots".into(),
                },
            ],
            ..HealingPolicySpec::default()
        };
        s.verification.window = "0s".parse().expect("duration");
        let p = s.problems(KNOWN);
        for want in [
            "match.checks: no check or domain is called \"pod.crashloop\"",
            "match.selector.matchLabels: key \"-bad\"",
            "match.selector.matchExpressions[0].operator: \"Equals\"",
            "match.selector.matchExpressions[1]: operator In needs values",
            "match.forDuration: -300s is negative",
            "actions[0].scale: min 3 is above max 1",
            "actions[1].raiseResources.max: \"lots\" is not a quantity",
            "actions[1].raiseResources.factor: 9 is not within [1, 4]",
            "verification.window: 0ns must be longer than 0",
        ] {
            assert!(
                p.iter().any(|x| x.starts_with(want)),
                "{want} not in {p:#?}"
            );
        }
        assert_eq!(p.len(), 9, "{p:#?}");
        assert!(
            HealingPolicySpec::default()
                .problems(KNOWN)
                .contains(&"actions: the policy lists no action".to_string())
        );
    }
}
