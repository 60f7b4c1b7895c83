//! Questions about the example broken shop (examples/broken-shop), answered from the findings
//! the real analyzers produce for it.

use std::path::PathBuf;

use kaptain_chat::{Answer, Intent, Known, answer, parse, render_text};
use kaptain_index::ClusterIndex;
use kaptain_model::Finding;
use kaptain_sources::offline;

fn shop_findings() -> Vec<Finding> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
    let loaded = offline::load_paths(&[dir]).expect("the example loads");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let idx = ClusterIndex::build(loaded.objects, &loaded.declared_kinds);
    let checks = kaptain_analyze::select(&Default::default()).expect("all checks");
    let now = loaded
        .info
        .captured_at
        .expect("the snapshot's capture time");
    kaptain_analyze::analyze(&idx, &checks, now)
}

fn ask(q: &str, findings: &[Finding]) -> Answer {
    let r = parse(q, &Known::default()).unwrap_or_else(|e| panic!("{q}: {e}"));
    answer(&r, Some(findings))
}

fn about(a: &Answer) -> Vec<String> {
    a.items
        .iter()
        .map(|i| {
            let o = &i.finding.object;
            match &o.namespace {
                Some(ns) => format!("{} {} {ns}/{}", i.finding.id, o.kind, o.name),
                None => format!("{} {} {}", i.finding.id, o.kind, o.name),
            }
        })
        .collect()
}

#[test]
fn why_a_deployment_fails_leads_to_the_missing_configmap() {
    let all = shop_findings();
    let a = ask("why is the checkout deployment failing in shop?", &all);
    assert_eq!(a.request.intent, Intent::Why);
    assert_eq!(
        about(&a),
        ["config.missing-configmap ConfigMap shop/checkout-config"],
        "{a:#?}"
    );
    assert!(a.headline.contains("checkout-config"), "{}", a.headline);
    // The chain starts at the deployment and passes through its pods' failure, one finding
    // on the Deployment for its three pods.
    let via = &a.items[0].via;
    assert_eq!(via[0].object.kind, "Deployment", "{via:?}");
    assert_eq!(via[0].object.name, "checkout");
    assert!(
        via.iter()
            .any(|l| l.object.name == "checkout" && l.title.ends_with("— 3 of 3 pods")),
        "{via:?}"
    );
    let text = render_text(&a);
    assert!(text.contains("via Deployment shop/checkout"), "{text}");
    assert!(
        text.contains("In the CLI: kaptain diagnose -n shop"),
        "{text}"
    );
}

#[test]
fn a_bare_name_matches_the_objects_named_after_it() {
    let all = shop_findings();
    // "ledger" is a Deployment, a Service and the prefix of its pods' names; its two
    // OOM-killed pods are one root cause, on the Deployment.
    let a = ask("why is ledger down?", &all);
    let got = about(&a);
    assert_eq!(
        got,
        ["pod.oom-killed Deployment payments/ledger"],
        "{got:?}"
    );
    assert_eq!(a.items[0].finding.instances.len(), 2);
    assert!(!a.headline.contains("root causes"), "{}", a.headline);
    // Something that has no findings is said to be fine, not an error.
    let a = ask("why is the frontend service down?", &all);
    assert!(a.items.is_empty());
    assert!(
        a.headline.contains("nothing wrong with Service frontend"),
        "{}",
        a.headline
    );
}

#[test]
fn diagnose_lists_root_causes_with_their_symptom_counts() {
    let all = shop_findings();
    let a = ask("what is wrong in namespace shop?", &all);
    assert_eq!(a.request.intent, Intent::Diagnose);
    let roots: Vec<String> = about(&a);
    assert!(roots.contains(&"config.missing-configmap ConfigMap shop/checkout-config".into()));
    assert!(roots.contains(&"certificate.expired Secret shop/legacy-tls".into()));
    // Every item is a root cause, and the ConfigMap explains the most.
    assert!(a.items.iter().all(|i| i.finding.root_cause), "{roots:?}");
    let cm = a
        .items
        .iter()
        .find(|i| i.finding.id == "config.missing-configmap")
        .expect("the ConfigMap");
    // Three pods, the Deployment (twice), the Service and the Ingress in front of it.
    let expected = all
        .iter()
        .filter(|f| f.object.namespace.as_deref() == Some("shop") && !f.root_cause)
        .filter(|f| f.object.name.starts_with("checkout") || f.object.kind == "Ingress")
        .count();
    assert_eq!(cm.symptoms, expected);
    // Nothing outside the namespace is listed as a root cause of it.
    assert!(
        a.items
            .iter()
            .all(|i| i.finding.object.namespace.as_deref() == Some("shop")),
        "{roots:?}"
    );
    let everywhere = ask("what is wrong?", &all);
    assert!(everywhere.items.len() > a.items.len());
    assert!(about(&everywhere).contains(&"node.not-ready Node worker-3".into()));
}

#[test]
fn fix_shows_the_remediation_commands() {
    let all = shop_findings();
    let a = ask("how do I fix the checkout service in shop?", &all);
    assert_eq!(a.request.intent, Intent::Fix);
    assert_eq!(
        about(&a),
        ["config.missing-configmap ConfigMap shop/checkout-config"]
    );
    let text = render_text(&a);
    let cm = &a.items[0].finding;
    assert!(!cm.remediation.commands.is_empty());
    for c in &cm.remediation.commands {
        assert!(text.contains(&format!("$ {c}")), "{text}");
    }
}

#[test]
fn lists_filter_by_severity_kind_and_problem() {
    let all = shop_findings();
    let a = ask("show critical findings", &all);
    assert_eq!(a.request.intent, Intent::Findings);
    let critical = all
        .iter()
        .filter(|f| f.severity == kaptain_model::Severity::Critical)
        .count();
    assert!(critical > 0);
    assert_eq!(a.items.len() + a.more, critical);
    assert!(
        a.headline.starts_with(&format!("{critical} findings")),
        "{}",
        a.headline
    );

    let a = ask("which pods were OOMKilled in payments?", &all);
    assert_eq!(a.items.len(), 1, "{:?}", about(&a));
    assert!(a.items.iter().all(|i| i.finding.id == "pod.oom-killed"));
    let text = render_text(&a);
    assert!(text.contains("pods: ledger-"), "{text}");
    assert_eq!(
        a.cli.as_deref(),
        Some("kaptain diagnose -n payments --only pod.oom-killed")
    );

    let a = ask("any storage problems in shop?", &all);
    assert!(a.items.is_empty(), "{:?}", about(&a));
    assert!(
        a.headline
            .starts_with("No findings match in namespace shop")
    );
}

#[test]
fn explain_names_the_check_and_where_it_fires() {
    let all = shop_findings();
    let a = ask("what does pod.oom-killed mean?", &all);
    assert_eq!(a.request.intent, Intent::Explain);
    assert!(a.headline.contains("OOMKilled"), "{}", a.headline);
    assert!(
        a.details.iter().any(|d| d == "It fires on 1 object now."),
        "{:?}",
        a.details
    );
    // Without a cluster: the description, and how to find where it fires.
    let r = parse("explain crash looping", &Known::default()).expect("parses");
    let a = answer(&r, None);
    assert!(a.headline.starts_with("pod.crash-loop"), "{}", a.headline);
    assert!(a.items.is_empty());
    assert!(
        a.details
            .iter()
            .any(|d| d.contains("--only pod.crash-loop"))
    );
}

#[test]
fn help_answers_with_examples_that_are_understood() {
    let a = ask("hello", &[]);
    assert_eq!(a.request.intent, Intent::Help);
    assert!(!a.suggestions.is_empty());
    // Every suggested question reads as something other than help.
    for s in &a.suggestions {
        let r = parse(s, &Known::default()).expect("parses");
        assert_ne!(r.intent, Intent::Help, "{s}");
        assert!(r.ignored.is_empty(), "{s}: {:?}", r.ignored);
    }
}
