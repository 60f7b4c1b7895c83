//! Whatever is typed into the chat box: reading never panics, what it reads is well formed,
//! and answering any reading from real findings never panics either.

use std::path::PathBuf;
use std::sync::OnceLock;

use kaptain_chat::{Known, answer, parse, render_text};
use kaptain_index::ClusterIndex;
use kaptain_model::Finding;
use kaptain_sources::offline;
use proptest::prelude::*;

fn shop_findings() -> &'static [Finding] {
    static F: OnceLock<Vec<Finding>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
        let loaded = offline::load_paths(&[dir]).expect("the example loads");
        let idx = ClusterIndex::build(loaded.objects, &loaded.declared_kinds);
        let checks = kaptain_analyze::select(&Default::default()).expect("all checks");
        let now = loaded.info.captured_at.expect("capture time");
        kaptain_analyze::analyze(&idx, &checks, now)
    })
}

/// Words and marks that steer the reader, mixed with names and odd characters.
const WORDS: &[&str] = &[
    "why",
    "is",
    "the",
    "what",
    "wrong",
    "fix",
    "how",
    "do",
    "i",
    "show",
    "list",
    "explain",
    "help",
    "in",
    "on",
    "with",
    "for",
    "of",
    "namespace",
    "ns",
    "-n",
    "--namespace",
    "ns=",
    "namespace:",
    "cluster",
    "context",
    "--context=",
    "prod",
    "shop",
    "payments",
    "checkout",
    "ledger",
    "svc/api",
    "deploy/checkout",
    "shop/checkout",
    "a/b/c",
    "/",
    "//",
    "pods",
    "pod",
    "service",
    "config",
    "map",
    "persistent",
    "volume",
    "claims",
    "critical",
    "high",
    "low",
    "or",
    "and",
    "network",
    "storage",
    "crash",
    "looping",
    "oom",
    "out",
    "of",
    "memory",
    "pending",
    "not",
    "ready",
    "pod.crash-loop",
    "pod.",
    ".",
    "-",
    "'s",
    "what's",
    "’",
    "—",
    "–",
    ":",
    "::",
    "=",
    "<",
    ">",
    "é",
    "名前",
    "🙂",
    "\u{0}",
    "\t",
    "123",
    "0",
    "Init:Error",
];

fn well_formed(q: &str) {
    let clusters = vec!["prod".to_string()];
    let Ok(r) = parse(
        q,
        &Known {
            clusters: &clusters,
        },
    ) else {
        return;
    };
    for v in [&r.namespace, &r.name, &r.cluster].into_iter().flatten() {
        assert!(
            !v.is_empty() && !v.contains(char::is_whitespace),
            "{q:?} → {r:?}"
        );
    }
    if let Some(c) = &r.check {
        assert!(
            kaptain_analyze::catalog()
                .iter()
                .any(|k| k.info.id == *c || k.info.id.starts_with(&format!("{c}."))),
            "{q:?} → unknown check {c}"
        );
    }
    let a = answer(&r, Some(shop_findings()));
    assert!(!a.headline.is_empty(), "{q:?}");
    let _ = render_text(&a);
    let _ = answer(&r, None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_characters(q in "\\PC{0,120}") {
        well_formed(&q);
    }

    #[test]
    fn word_salad(ws in prop::collection::vec(prop::sample::select(WORDS), 0..14), glue in "[ ,?!/:=]{1,2}") {
        well_formed(&ws.join(&glue));
    }
}
