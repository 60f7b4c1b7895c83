//! Requests to act as people type them, and the ones that must be asked back.

use super::*;
use crate::{Intent, Known, parse};

fn act(q: &str) -> ActRequest {
    match parse_act(q, &["prod".to_string()]) {
        Some(Ok(a)) => a,
        Some(Err(e)) => panic!("{q}: {e}"),
        None => panic!("{q}: not read as a request to act"),
    }
}

fn refused(q: &str) -> String {
    match parse_act(q, &[]) {
        Some(Err(e)) => e,
        other => panic!("{q}: expected a question back, got {other:?}"),
    }
}

/// A request, its amount, and the kind, name and namespace it names.
type ScaleCase<'a> = (&'a str, Amount, Option<&'a str>, &'a str, Option<&'a str>);
/// A request, its verb, and the kind, name and namespace it names.
type VerbCase<'a> = (
    &'a str,
    Verb,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn target(a: &ActRequest) -> (Option<&str>, Option<&str>, Option<&str>) {
    (a.kind.as_deref(), a.name.as_deref(), a.namespace.as_deref())
}

#[test]
fn scale_reads_every_amount() {
    let cases: &[ScaleCase] = &[
        (
            "scale web-app in scale-test by 100%",
            Amount::Percent(100),
            None,
            "web-app",
            Some("scale-test"),
        ),
        (
            "scale web-app in scale-test by 100 percent",
            Amount::Percent(100),
            None,
            "web-app",
            Some("scale-test"),
        ),
        (
            "please scale the web deployment to 5",
            Amount::To(5),
            Some("Deployment"),
            "web",
            None,
        ),
        (
            "scale deploy/web by 2 -n shop",
            Amount::By(2),
            Some("Deployment"),
            "web",
            Some("shop"),
        ),
        ("scale web down to 0", Amount::To(0), None, "web", None),
        (
            "scale down web by 1 in shop",
            Amount::By(-1),
            None,
            "web",
            Some("shop"),
        ),
        (
            "scale web down by 50%",
            Amount::Percent(-50),
            None,
            "web",
            None,
        ),
        (
            "scale up statefulset db by two",
            Amount::By(2),
            Some("StatefulSet"),
            "db",
            None,
        ),
        (
            "scale shop/web to 3 replicas",
            Amount::To(3),
            None,
            "web",
            Some("shop"),
        ),
        (
            "Kaptain, can you scale web 4",
            Amount::To(4),
            None,
            "web",
            None,
        ),
        (
            "double web in shop",
            Amount::Percent(100),
            None,
            "web",
            Some("shop"),
        ),
    ];
    for (q, amount, kind, name, ns) in cases {
        let a = act(q);
        assert_eq!(a.verb, Verb::Scale, "{q}");
        assert_eq!(a.amount, Some(*amount), "{q}");
        assert_eq!(target(&a), (*kind, Some(*name), *ns), "{q}");
    }
}

#[test]
fn each_verb_reads_its_target() {
    let cases: &[VerbCase] = &[
        (
            "restart deployment api",
            Verb::Restart,
            Some("Deployment"),
            Some("api"),
            None,
        ),
        (
            "rollout restart the api deployment in shop",
            Verb::Restart,
            Some("Deployment"),
            Some("api"),
            Some("shop"),
        ),
        (
            "roll back checkout",
            Verb::Rollback,
            None,
            Some("checkout"),
            None,
        ),
        (
            "rollback deployment/checkout -n shop",
            Verb::Rollback,
            Some("Deployment"),
            Some("checkout"),
            Some("shop"),
        ),
        (
            "undo the rollout of checkout",
            Verb::Rollback,
            None,
            Some("checkout"),
            None,
        ),
        (
            "cordon node n1",
            Verb::Cordon,
            Some("Node"),
            Some("n1"),
            None,
        ),
        ("cordon n1", Verb::Cordon, Some("Node"), Some("n1"), None),
        ("fix it", Verb::Fix, None, None, None),
        (
            "fix the checkout deployment",
            Verb::Fix,
            Some("Deployment"),
            Some("checkout"),
            None,
        ),
        ("fix svc/api", Verb::Fix, Some("Service"), Some("api"), None),
        (
            "please fix checkout in shop",
            Verb::Fix,
            None,
            Some("checkout"),
            Some("shop"),
        ),
        ("undo that", Verb::Undo, None, None, None),
        ("undo my last change", Verb::Undo, None, None, None),
    ];
    for (q, verb, kind, name, ns) in cases {
        let a = act(q);
        assert_eq!(a.verb, *verb, "{q}: {a:?}");
        assert_eq!(target(&a), (*kind, *name, *ns), "{q}: {a:?}");
    }
}

#[test]
fn set_image_keeps_the_image_as_written() {
    let a = act("set the image of web to nginx:1.27");
    assert_eq!(
        (a.verb, a.image.as_deref()),
        (Verb::SetImage, Some("nginx:1.27"))
    );
    assert_eq!(target(&a), (None, Some("web"), None));
    let a = act("set image deployment/web registry.example.com/Team/web:v2-RC in shop");
    assert_eq!(
        a.image.as_deref(),
        Some("registry.example.com/Team/web:v2-RC")
    );
    assert_eq!(target(&a), (Some("Deployment"), Some("web"), Some("shop")));
    let a = act("update the image of container app in api to repo/app@sha256:abc");
    assert_eq!(a.container.as_deref(), Some("app"));
    assert_eq!(a.image.as_deref(), Some("repo/app@sha256:abc"));
    assert_eq!(a.name.as_deref(), Some("api"));
}

#[test]
fn a_known_cluster_is_the_cluster_not_the_namespace() {
    let a = act("restart api in prod");
    assert_eq!(
        (a.cluster.as_deref(), a.namespace.as_deref()),
        (Some("prod"), None)
    );
    let a = act("restart api in namespace prod");
    assert_eq!(
        (a.cluster.as_deref(), a.namespace.as_deref()),
        (None, Some("prod"))
    );
}

#[test]
fn what_cannot_be_read_is_asked_back() {
    for (q, says) in [
        ("scale web", "how many"),
        ("scale web up", "up by how much"),
        ("scale down web", "down by how much"),
        ("restart", "restart what"),
        ("roll back", "roll back what"),
        ("set the image of web", "to what"),
        ("cordon", "which node"),
        ("cordon deployment web", "only nodes"),
        ("restart web and api", "one object at a time"),
        ("restart web in shop in staging", "one namespace at a time"),
        ("scale web to 50%", "percentage"),
        ("undo the scale of web", "undo"),
        ("restart Web_App", "not a name"),
    ] {
        let e = refused(q);
        assert!(e.contains(says), "{q}: {e}");
    }
}

#[test]
fn questions_about_fixing_stay_questions() {
    for q in [
        "how do I fix the checkout service?",
        "fix everything in shop",
        "why is web scaling?",
        "what should I do about checkout in shop?",
        "restarts in shop",
        "which pods restart?",
    ] {
        assert!(parse_act(q, &[]).is_none(), "{q}");
        assert_ne!(
            parse(q, &Known::default()).map(|r| r.intent).ok(),
            Some(Intent::Act),
            "{q}"
        );
    }
}

#[test]
fn parse_gives_an_act_request_with_its_scope() {
    let r = parse("scale web-app in scale-test by 100%", &Known::default()).expect("read");
    assert_eq!(r.intent, Intent::Act);
    assert_eq!(r.namespace.as_deref(), Some("scale-test"));
    assert_eq!(r.name.as_deref(), Some("web-app"));
    assert_eq!(
        r.describe(),
        "scale · web-app · namespace scale-test · by +100%"
    );
    assert_eq!(r.cli(), None);
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["act"]["verb"], "scale");
    assert_eq!(json["act"]["amount"]["percent"], 100);
}
