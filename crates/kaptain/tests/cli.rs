//! The `kaptain` binary on files: the shipped example, bad input, output formats, exit codes,
//! and running as a kubectl plugin. No cluster needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example() -> PathBuf {
    root().join("examples/broken-shop")
}

fn kaptain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaptain"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run kaptain")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn findings(r: &Value) -> &Vec<Value> {
    r["findings"].as_array().expect("findings array")
}

fn has_root(r: &Value, id: &str, name_prefix: &str) -> bool {
    findings(r).iter().any(|f| {
        f["id"] == id
            && f["root_cause"] == true
            && f["object"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(name_prefix))
    })
}

#[test]
fn example_report_follows_the_schema_and_finds_the_planted_root_causes() {
    let ex = example();
    let out = kaptain(&[
        "diagnose",
        "--from",
        ex.to_str().expect("path"),
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["schema"], "kaptain.report/v1");
    assert_eq!(r["source"]["kind"], "snapshot");
    assert_eq!(r["source"]["context"], "prod-eu-1");
    for key in ["critical", "high", "medium", "low", "info", "root_causes"] {
        assert!(r["summary"][key].is_u64(), "summary.{key}");
    }
    let fps: Vec<&str> = findings(&r)
        .iter()
        .filter_map(|f| f["fingerprint"].as_str())
        .collect();
    for f in findings(&r) {
        for key in [
            "id",
            "fingerprint",
            "severity",
            "category",
            "title",
            "message",
            "confidence",
        ] {
            assert!(!f[key].is_null(), "finding lacks {key}: {f:#}");
        }
        assert!(f["object"]["apiVersion"].is_string() && f["object"]["kind"].is_string());
        assert!(
            !f["evidence"].as_array().expect("evidence").is_empty(),
            "no evidence: {f:#}"
        );
        assert!(
            f["remediation"]["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "no fix: {f:#}"
        );
        // Symptoms point at findings in the same report.
        for c in f["caused_by"].as_array().expect("caused_by") {
            assert!(
                fps.contains(&c.as_str().expect("fp")),
                "dangling caused_by in {f:#}"
            );
        }
        assert_eq!(
            f["root_cause"] == true,
            f["caused_by"].as_array().expect("c").is_empty()
        );
    }
    for (id, name) in [
        ("config.missing-configmap", "checkout-config"),
        ("node.not-ready", "worker-3"),
        // One root cause per broken workload: the pods' findings are on their Deployment.
        ("pod.oom-killed", "ledger"),
        ("pod.unschedulable", "fraud-model"),
        ("pod.image-pull", "policy-guard"),
        ("cronjob.invalid-schedule", "report"),
        ("job.failed", "backup-"),
        ("certificate.expired", "legacy-tls"),
        ("hpa.at-max", "search"),
    ] {
        assert!(
            has_root(&r, id, name),
            "{id} on {name}* is not a root cause"
        );
    }
    // The chain: Service → pods → missing ConfigMap.
    let svc = findings(&r)
        .iter()
        .find(|f| f["id"] == "service.no-ready-endpoints" && f["object"]["name"] == "checkout")
        .expect("service finding");
    assert_eq!(svc["root_cause"], false);
    // The HPA sitting at its minimum is healthy.
    assert!(
        !findings(&r)
            .iter()
            .any(|f| f["object"]["name"] == "web"
                && f["object"]["kind"] == "HorizontalPodAutoscaler")
    );
}

#[test]
fn healthy_snapshot_has_nothing_at_medium_or_above() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = Command::new("python3")
        .arg(root().join("scripts/gen-synthetic.py"))
        .args([
            "--healthy",
            "--pods",
            "300",
            "--deployments",
            "60",
            "--services",
            "60",
            "--namespaces",
            "4",
            "-o",
        ])
        .arg(dir.path())
        .output()
        .expect("python3");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let out = kaptain(&[
        "diagnose",
        "--from",
        dir.path().to_str().expect("p"),
        "-o",
        "json",
        "--min-severity",
        "medium",
    ]);
    let r = json(&out);
    assert_eq!(
        findings(&r).len(),
        0,
        "false positives: {:#}",
        r["findings"]
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_malformed_file_is_one_line_and_the_rest_is_still_analyzed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(example()).expect("example") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
    }
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("wrong.json"), r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":"many"}}"#).expect("write");
    let out = kaptain(&[
        "diagnose",
        "--from",
        dir.path().to_str().expect("p"),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("broken.yaml") && l.contains("invalid YAML")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("wrong.json") && l.contains("Deployment x")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    let r = json(&out);
    assert!(
        has_root(&r, "config.missing-configmap", "checkout-config"),
        "other files must still be analyzed"
    );
}

#[test]
fn bad_paths_and_flags_exit_2_with_one_line() {
    for args in [
        vec!["diagnose", "--from", "/no/such/snapshot"],
        vec![
            "diagnose",
            "--from",
            "examples/broken-shop",
            "--only",
            "nonsense",
        ],
        vec![
            "diagnose",
            "--from",
            "examples/broken-shop",
            "-l",
            "app in web",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kaptain"))
            .current_dir(root())
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    let out = kaptain(&["diagnose", "--min-severity", "urgent"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn min_severity_only_and_selector_filter_without_dangling_causes() {
    let ex = example();
    let ex = ex.to_str().expect("p");
    let r = json(&kaptain(&[
        "diagnose",
        "--from",
        ex,
        "-o",
        "json",
        "--min-severity",
        "critical",
    ]));
    let all = findings(&r);
    assert!(!all.is_empty());
    let fps: Vec<&str> = all
        .iter()
        .filter_map(|f| f["fingerprint"].as_str())
        .collect();
    for f in all {
        for c in f["caused_by"].as_array().expect("c") {
            assert!(
                fps.contains(&c.as_str().expect("fp")),
                "dangling cause: {f:#}"
            );
        }
    }
    // Below-critical findings stay only as causes of critical ones (the missing ConfigMap).
    assert!(has_root(&r, "config.missing-configmap", "checkout-config"));
    assert!(!all.iter().any(|f| f["id"] == "hpa.at-max"));

    let r = json(&kaptain(&[
        "diagnose",
        "--from",
        ex,
        "-o",
        "json",
        "--only",
        "storage,pod.oom-killed",
    ]));
    assert!(
        findings(&r)
            .iter()
            .all(|f| f["category"] == "storage" || f["id"] == "pod.oom-killed")
    );
    assert!(findings(&r).iter().any(|f| f["id"] == "pod.oom-killed"));

    let r = json(&kaptain(&[
        "diagnose", "--from", ex, "-o", "json", "-n", "payments",
    ]));
    // Outside the namespace only cluster-scoped findings (a webhook, a node) and the causes
    // of kept findings remain (the webhook's dead Service lives in monitoring).
    let all = findings(&r);
    for f in all {
        let inside = f["object"]["namespace"].is_null() || f["object"]["namespace"] == "payments";
        let is_cause = all.iter().any(|g| {
            g["caused_by"]
                .as_array()
                .is_some_and(|c| c.contains(&f["fingerprint"]))
        });
        assert!(
            inside || is_cause,
            "unrelated finding outside -n payments: {f:#}"
        );
    }
    assert!(
        findings(&r)
            .iter()
            .any(|f| f["object"]["namespace"] == "payments")
    );
}

#[test]
fn table_yaml_and_markdown_outputs() {
    let ex = example();
    let ex = ex.to_str().expect("p");
    let out = kaptain(&["diagnose", "--from", ex]);
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.starts_with("Kaptain diagnosis · snapshot · context prod-eu-1"));
    assert!(!text.contains('\u{1b}'), "no colour when not a terminal");
    assert!(text.contains("symptoms ("));
    for l in text.lines().filter(|l| !l.trim_start().starts_with("$ ")) {
        assert!(l.chars().count() <= 100, "line over 100 columns: {l}");
    }
    let y = kaptain(&["diagnose", "--from", ex, "-o", "yaml"]);
    let v: Value = serde_yaml_ng::from_slice(&y.stdout).expect("yaml");
    assert_eq!(v["schema"], "kaptain.report/v1");
    let md = String::from_utf8(kaptain(&["diagnose", "--from", ex, "-o", "markdown"]).stdout)
        .expect("utf8");
    assert!(
        md.starts_with("# Kaptain diagnosis")
            && md.contains("**Evidence**")
            && md.contains("```sh")
    );
}

#[test]
fn checks_catalog_has_at_least_40_checks() {
    let v = json(&kaptain(&["checks", "-o", "json"]));
    let checks = v.as_array().expect("array");
    assert!(checks.len() >= 40, "{} checks", checks.len());
    for c in checks {
        assert!(c["id"].as_str().is_some_and(|i| i.contains('.')));
        assert!(!c["needs"].as_array().expect("needs").is_empty());
    }
}

#[test]
fn runs_as_a_kubectl_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = dir.path().join("kubectl-kaptain");
    std::fs::copy(env!("CARGO_BIN_EXE_kaptain"), &plugin).expect("copy");
    let out = Command::new(&plugin)
        .arg("--help")
        .output()
        .expect("run plugin");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("Usage: kubectl kaptain"), "{help}");
    let out = Command::new(&plugin)
        .args(["checks", "-o", "json"])
        .output()
        .expect("run plugin");
    assert!(out.status.success());
}

#[test]
fn ask_answers_questions_about_the_example() {
    let ex = example();
    let ex = ex.to_str().expect("path");
    let out = kaptain(&[
        "ask",
        "why is the checkout deployment failing in shop?",
        "--from",
        ex,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("(why · namespace shop · Deployment checkout)"),
        "{text}"
    );
    assert!(text.contains("ConfigMap shop/checkout-config"), "{text}");
    assert!(text.contains("via Deployment shop/checkout"), "{text}");

    // Unquoted words are one question; JSON has the request and the items.
    let out = kaptain(&[
        "ask",
        "which",
        "pods",
        "were",
        "OOMKilled",
        "in",
        "payments",
        "--from",
        ex,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let a = json(&out);
    assert_eq!(a["request"]["intent"], "findings");
    assert_eq!(a["request"]["check"], "pod.oom-killed");
    // The two pods of ledger are one finding on the Deployment, naming both pods.
    let items = a["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{a:#}");
    let f = &items[0]["finding"];
    assert_eq!(f["id"], "pod.oom-killed");
    assert_eq!(f["object"]["kind"], "Deployment");
    let pods = f["instances"].as_array().expect("instances");
    assert_eq!(pods.len(), 2, "{f:#}");
    assert!(
        pods.iter().all(|p| p["object"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("ledger-"))),
        "{f:#}"
    );

    // --parse-only reads the question and scans nothing (no --from, no cluster needed).
    let out = kaptain(&["ask", "--parse-only", "critical network issues in payments"]);
    assert_eq!(out.status.code(), Some(0));
    let r = json(&out);
    assert_eq!(r["intent"], "findings");
    assert_eq!(r["namespace"], "payments");
    assert_eq!(r["min_severity"], "critical");
    assert_eq!(r["category"], "network");

    // Explaining a check needs no cluster either.
    let out = kaptain(&["ask", "what does pod.crash-loop mean?"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CrashLoopBackOff"));
}

#[test]
fn ask_errors_are_one_line_and_exit_2() {
    let ex = example();
    let ex = ex.to_str().expect("path");
    for (args, wanted) in [
        (vec!["ask", " ?! "], "the question is empty"),
        (
            vec!["ask", "what is wrong on cluster prod", "--from", ex],
            "--from reads files",
        ),
        (
            vec![
                "ask",
                "what is wrong in shop",
                "-n",
                "payments",
                "--from",
                ex,
            ],
            "names namespace shop but the flag says payments",
        ),
    ] {
        let out = kaptain(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(wanted), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
