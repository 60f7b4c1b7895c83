//! End-to-end failure scenarios: `tests/scenarios/<name>/` at the workspace root holds the
//! manifests of one realistic failure (everything namespaced lives in namespace `<name>`) and
//! `expected.yaml`, the root causes and symptoms `kaptain diagnose` must report. Each scenario
//! runs against the real control plane (kaptain-testenv) with the simulated kubelet:
//!
//! 1. every phase is applied in turn (`apply: FILE`, or `set_node_ready`), and the harness
//!    polls `kaptain diagnose -n <name> -o json --min-severity medium --now <now + 7 min>`
//!    until the phase's `wait_for` findings appear (or objects are ready); checks hold back on
//!    young objects, so the analysis is made "as of" a few minutes later;
//! 2. the root causes in the namespace (plus the cluster-scoped ones the scenario lists) must
//!    be exactly `root_causes`; every `symptoms` entry must be present, not a root cause, and
//!    trace back through `caused_by` to a root cause with the given id; every finding in the
//!    namespace must trace back to one of the expected root causes;
//! 3. `kaptain snapshot -n <name>` then `kaptain diagnose --from` at the same `--now` must give
//!    the same root causes as the live scan.
//!
//! `expected.yaml`:
//!
//! ```yaml
//! description: one line
//! nodes:            # optional: extra simulated nodes (created before any scenario applies)
//!   - {name: sim-gpu-1, cpu: "8", memory: 32Gi, labels: {pool: gpu},
//!      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}
//! wait_for:         # with no `phases`: one phase applying manifests.yaml
//!   - {id: pod.unschedulable, kind: Pod, name_prefix: trainer-}   # a finding
//!   - {kind: Deployment, name: web, ready: true}                   # an object
//! phases:           # instead of wait_for: steps in order
//!   - {apply: manifests.yaml, wait_for: [...]}
//!   - {set_node_ready: {node: sim-edge-1, ready: false}, wait_for: [...]}
//! root_causes:      # exact set (name or name_prefix)
//!   - {id: config.missing-configmap, kind: ConfigMap, name: api-config}
//! symptoms:         # must be present, not root causes, and trace back to `root`
//!   - {id: service.no-ready-endpoints, kind: Service, name: api, root: config.missing-configmap}
//! absent:           # optional: findings that must not be reported
//!   - {id: deployment.unavailable, kind: Deployment, name: web}
//! unserved:         # optional: findings on an API the v1.20 server does not serve at the
//!   api: autoscaling/v2 HorizontalPodAutoscaler   # version Kaptain lists: the live report
//!   root_causes: [...]  # must name `api` under `skipped`; the root causes are checked on
//!                       # the scenario's manifest files (`diagnose --from manifests*.yaml`)
//! ```
//!
//! `ready: true` means: Deployment/StatefulSet/ReplicaSet fully rolled out and available,
//! Job complete, Pod Ready, ResourceQuota status computed (quota admission only enforces a
//! quota once its status is set, so a scenario creates its quota in a first phase).
//!
//! All scenarios share one control plane and one simulated kubelet. Each touches only its own
//! namespace and its own nodes (tainted, so that only its pods land there); cluster-scoped
//! findings of other scenarios (a NotReady node, a broken webhook) are ignored unless listed.
//! To save wall time, the first `setup` applies the first phase of every scenario at once, so
//! that they converge in parallel while the tests (two at a time on two cores) take turns;
//! each test still applies its own manifests (apply is idempotent) and checks everything
//! itself. Ports in the manifests name `protocol: TCP`: the v1.20 API server's server-side
//! apply (what `apply_yaml` uses on existing objects) rejects ports without it.
//!
//! `KAPTAIN_SCENARIO_VERBOSE=1` prints each passing scenario's live report and pods.

#[path = "scenarios/cluster.rs"]
mod cluster;
#[path = "scenarios/expected.rs"]
mod expected;
#[path = "scenarios/report.rs"]
mod report;

use std::time::{Duration, Instant};

use cluster::{diagnose_files, diagnose_live, later, pod_states, setup, snapshot, wait_for};
use expected::{Phase, Wait, all_scenario_names, check_manifests, load};
use kaptain_testenv::apply_yaml;
use report::{findings, is_root, mismatches, root_set, summarize};

/// How long a phase may take to reach its `wait_for` state.
pub(crate) const WAIT_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the full expectation may take to hold once the last phase's `wait_for` holds
/// (a Service's endpoints or a Deployment's status may lag the pods by a few seconds).
pub(crate) const SETTLE_TIMEOUT: Duration = Duration::from_secs(45);
pub(crate) const POLL: Duration = Duration::from_secs(2);

// ---- one scenario ----------------------------------------------------------------------------

async fn run_scenario(name: &str) {
    let s = load(name);
    let (cp, kubelet) = setup().await;
    let client = cp.client().await.expect("client");

    // The phases.
    let default_phase;
    let phases: Vec<&Phase> = if s.expected.phases.is_empty() {
        default_phase = Phase {
            apply: Some("manifests.yaml".into()),
            set_node_ready: None,
            wait_for: Vec::new(),
        };
        vec![&default_phase]
    } else {
        s.expected.phases.iter().collect()
    };
    let n = phases.len();
    for (i, p) in phases.iter().enumerate() {
        let waits: &[Wait] = if s.expected.phases.is_empty() {
            &s.expected.wait_for
        } else {
            &p.wait_for
        };
        let what = if let Some(file) = &p.apply {
            let path = s.dir.join(file);
            let yaml = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            apply_yaml(&client, &yaml)
                .await
                .unwrap_or_else(|e| panic!("scenario {name}: applying {file}: {e}"));
            format!("phase {}/{n} (apply {file})", i + 1)
        } else if let Some(nr) = &p.set_node_ready {
            kubelet
                .set_node_ready(&nr.node, nr.ready)
                .await
                .unwrap_or_else(|e| panic!("scenario {name}: set_node_ready {}: {e}", nr.node));
            format!("phase {}/{n} (node {} ready={})", i + 1, nr.node, nr.ready)
        } else {
            unreachable!("checked in load")
        };
        wait_for(cp, &client, &s, waits, &what).await;
    }

    // The live report, until it matches (or SETTLE_TIMEOUT).
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let (now, live) = loop {
        let now = later();
        let live = diagnose_live(cp, name, &now).await;
        let errs = mismatches(&live, &s);
        if errs.is_empty() {
            if std::env::var_os("KAPTAIN_SCENARIO_VERBOSE").is_some() {
                eprintln!(
                    "scenario {name}: live report:\n{}pods:\n{}",
                    summarize(&live),
                    pod_states(&client, name).await
                );
            }
            break (now, live);
        }
        if Instant::now() >= deadline {
            panic!(
                "scenario {name} ({}): the live report does not match expected.yaml:\n  {}\nreport (--min-severity medium):\n{}pods:\n{}",
                s.expected.description,
                errs.join("\n  "),
                summarize(&live),
                pod_states(&client, name).await
            );
        }
        tokio::time::sleep(POLL).await;
    };

    if let Some(u) = &s.expected.unserved {
        let skipped: Vec<&str> = live["skipped"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|x| x["api"].as_str())
            .collect();
        assert!(
            skipped.contains(&u.api.as_str()),
            "scenario {name}: expected {} under skipped, got {skipped:?}",
            u.api
        );
        let files = diagnose_files(&s.manifest_files(), &now).await;
        for m in &u.root_causes {
            assert!(
                findings(&files)
                    .iter()
                    .any(|f| is_root(f) && m.matches(f, name)),
                "scenario {name}: {} is not a root cause of the manifest files' report:\n{}",
                m.display(),
                summarize(&files)
            );
        }
    }

    // Snapshot, then offline: the same root causes. The cluster keeps moving (a crash loop
    // is running, then waiting), so the pair is retried a few times before failing.
    let mut last = String::new();
    for attempt in 0..4 {
        let live = if attempt == 0 {
            live.clone()
        } else {
            diagnose_live(cp, name, &now).await
        };
        let dir = tempfile::tempdir().expect("tempdir");
        snapshot(cp, name, dir.path()).await;
        let offline = diagnose_files(&[dir.path().to_path_buf()], &now).await;
        assert_eq!(offline["source"]["kind"], "snapshot", "{name}");
        let (a, b) = (root_set(&live, &s), root_set(&offline, &s));
        if a == b {
            return;
        }
        last = format!(
            "live root causes:    {a:?}\noffline root causes: {b:?}\nlive report:\n{}offline report:\n{}",
            summarize(&live),
            summarize(&offline)
        );
        tokio::time::sleep(POLL).await;
    }
    panic!("scenario {name}: the snapshot gives other root causes than the live scan:\n{last}");
}

// ---- the tests -------------------------------------------------------------------------------

macro_rules! scenarios {
    ($($test:ident => $dir:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                run_scenario($dir).await;
            }
        )*

        /// Every directory under tests/scenarios has a test, and every test a directory.
        #[test]
        fn every_scenario_has_a_test() {
            let listed: Vec<String> = {
                let mut v = vec![$($dir.to_string()),*];
                v.sort();
                v
            };
            assert_eq!(listed, all_scenario_names());
            for name in &listed {
                let s = load(name);
                for f in s.manifest_files() {
                    let text = std::fs::read_to_string(&f)
                        .unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
                    check_manifests(name, &f, &text);
                }
            }
        }
    };
}

scenarios! {
    bad_image_rollout => "bad-image-rollout",
    crash_loop => "crash-loop",
    expired_tls_secret => "expired-tls-secret",
    healthy => "healthy",
    hpa_missing_target => "hpa-missing-target",
    ingress_missing_service => "ingress-missing-service",
    init_container_failing => "init-container-failing",
    job_backoff_limit => "job-backoff-limit",
    liveness_probe_failing => "liveness-probe-failing",
    missing_configmap => "missing-configmap",
    missing_configmap_volume => "missing-configmap-volume",
    missing_secret_key => "missing-secret-key",
    node_not_ready => "node-not-ready",
    oom_crash_loop => "oom-crash-loop",
    quota_blocks_replicaset => "quota-blocks-replicaset",
    readiness_probe_failing => "readiness-probe-failing",
    service_selector_typo => "service-selector-typo",
    taint_no_toleration => "taint-no-toleration",
    unbound_pvc => "unbound-pvc",
    unschedulable_memory => "unschedulable-memory",
    webhook_no_endpoints => "webhook-no-endpoints",
}
