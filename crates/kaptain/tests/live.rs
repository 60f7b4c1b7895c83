//! `kaptain diagnose` and `kaptain snapshot` against a real control plane (etcd,
//! kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2; see kaptain-testenv).
//! The scheduler and controllers really run, so FailedScheduling, FailedCreate (quota) and
//! ReplicaSets are theirs, not ours. There is no kubelet in this test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kaptain_testenv::{ControlPlane, apply_yaml, eventually};
use kube::api::{Api, ListParams};
use serde_json::Value;

/// Applied first: quota admission only enforces a quota once its controller has computed
/// the status, so the Deployment it limits is created after that.
const QUOTA: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: quota}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: pods-max, namespace: quota}
spec: {hard: {pods: "1"}}
"#;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: huge, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: huge}}
  template:
    metadata: {labels: {app: huge}}
    spec:
      containers:
      - name: main
        image: shop/huge:1.0
        resources: {requests: {memory: 64Gi, cpu: 100m}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: shop/api:1.0
        envFrom: [{configMapRef: {name: api-config}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web-frontend}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: quota}
spec:
  replicas: 3
  selector: {matchLabels: {app: batch}}
  template:
    metadata: {labels: {app: batch}}
    spec:
      containers: [{name: main, image: quota/batch:1.0}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: guard}
webhooks:
- name: guard.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  clientConfig:
    service: {namespace: shop, name: guard, port: 443}
  namespaceSelector: {matchLabels: {guarded: "yes"}}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
"#;

fn kaptain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kaptain"))
}

/// A generous deadline for the controllers to act; no test measures against it.
const DEADLINE: Duration = Duration::from_secs(180);

/// Sets up the scenario once per test binary and waits until the scheduler and controllers
/// have acted on every object of it: a scan sees the state the tests assert, and two scans
/// of the unchanged cluster (a snapshot and a live one) see the same.
async fn cluster() -> &'static ControlPlane {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cp = ControlPlane::shared();
    READY
        .get_or_init(|| async {
            cp.add_nodes(2, "4", "16Gi").await.expect("nodes");
            let client = cp.client().await.expect("client");
            apply_yaml(&client, QUOTA).await.expect("apply");
            let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
                Api::namespaced(client.clone(), "quota");
            eventually("the quota's status computed", DEADLINE, || async {
                let q = quotas.get("pods-max").await?;
                Ok(q.status.and_then(|s| s.hard).map(|_| ()))
            })
            .await
            .expect("quota");
            apply_yaml(&client, MANIFESTS).await.expect("apply");
            let pods = |ns: &str| Api::<Pod>::namespaced(client.clone(), ns);
            let (shop, quota) = (pods("shop"), pods("quota"));
            eventually(
                "the scheduler to mark both huge pods unschedulable",
                DEADLINE,
                || async {
                    let list = shop.list(&ListParams::default().labels("app=huge")).await?;
                    let unschedulable = list.items.iter().filter(|p| {
                        p.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|c| {
                                c.iter().any(|c| {
                                    c.type_ == "PodScheduled"
                                        && c.reason.as_deref() == Some("Unschedulable")
                                })
                            })
                    });
                    Ok((unschedulable.count() == 2).then_some(()))
                },
            )
            .await
            .expect("unschedulable pods");
            // The pods that fit are bound to a node: api's one, and the one pod the quota
            // lets batch have.
            for (api, label) in [(&shop, "app=api"), (&quota, "app=batch")] {
                eventually(&format!("the {label} pod bound"), DEADLINE, || async {
                    let list = api.list(&ListParams::default().labels(label)).await?;
                    let bound = |p: &Pod| p.spec.as_ref().is_some_and(|s| s.node_name.is_some());
                    Ok((list.items.len() == 1 && list.items.iter().all(bound)).then_some(()))
                })
                .await
                .expect("bound pods");
            }
            // The ReplicaSet controller records the quota rejection as an event.
            let events: Api<k8s_openapi::api::core::v1::Event> =
                Api::namespaced(client.clone(), "quota");
            eventually("a FailedCreate event from the quota", DEADLINE, || async {
                let list = events.list(&ListParams::default()).await?;
                Ok(list
                    .items
                    .iter()
                    .any(|e| e.reason.as_deref() == Some("FailedCreate"))
                    .then_some(()))
            })
            .await
            .expect("FailedCreate");
        })
        .await;
    cp
}

/// Checks hold back on objects younger than a few minutes (a pod Pending for 20 s is normal):
/// the tests analyze "as of" a quarter of an hour from now, as if the state had lasted.
fn later() -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(15)).to_string()
}

/// Runs `kaptain ARGS -o json --now <later> --kubeconfig KC EXTRA`: exit code, the JSON on
/// stdout (None when it is not JSON) and stderr.
fn run_json(kubeconfig: &Path, args: &[&str], extra: &[&str]) -> (i32, Option<Value>, String) {
    let out = kaptain()
        .args(args)
        .args(["-o", "json", "--now", &later(), "--kubeconfig"])
        .arg(kubeconfig)
        .args(extra)
        .output()
        .expect("run kaptain");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_slice(&out.stdout).ok();
    (out.status.code().unwrap_or(-1), v, stderr)
}

fn diagnose_json(kubeconfig: &Path, extra: &[&str]) -> (i32, Value, String) {
    let (code, v, stderr) = run_json(kubeconfig, &["diagnose", "-A"], extra);
    let v = v.unwrap_or_else(|| panic!("not JSON; stderr: {stderr}"));
    (code, v, stderr)
}

fn find<'a>(r: &'a Value, id: &str, name_prefix: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["id"] == id
                && f["object"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .collect()
}

fn root_causes(r: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["root_cause"] == true)
        .map(|f| {
            (
                f["id"].as_str().unwrap_or("").to_string(),
                f["object"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn live_scan_finds_root_causes_and_skips_unserved_apis() {
    let cp = cluster().await;
    let (code, r, stderr) = diagnose_json(cp.kubeconfig_path(), &[]);
    assert_eq!(code, 1, "findings mean exit 1; stderr: {stderr}");
    assert_eq!(r["schema"], "kaptain.report/v1");
    assert_eq!(r["source"]["kind"], "live");
    assert_eq!(r["source"]["server_version"], "v1.20.2");

    // v1.20 does not serve these versions: the scan says so and goes on.
    let skipped: Vec<String> = r["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| s["api"].as_str().unwrap_or("").to_string())
        .collect();
    for api in [
        "batch/v1 CronJob",
        "policy/v1 PodDisruptionBudget",
        "autoscaling/v2 HorizontalPodAutoscaler",
    ] {
        assert!(
            skipped.contains(&api.to_string()),
            "{api} not in skipped: {skipped:?}"
        );
    }

    // Both pods of huge: one finding on the Deployment, the pods as its instances.
    let unsched = find(&r, "pod.unschedulable", "huge");
    assert_eq!(unsched.len(), 1, "{r:#}");
    assert_eq!(unsched[0]["object"]["kind"], "Deployment", "{r:#}");
    assert_eq!(
        unsched[0]["instances"].as_array().map(Vec::len),
        Some(2),
        "{:#}",
        unsched[0]
    );
    assert!(
        unsched[0]["title"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("memory"),
        "{:#}",
        unsched[0]
    );

    let cm = find(&r, "config.missing-configmap", "api-config");
    assert_eq!(cm.len(), 1);
    assert_eq!(cm[0]["root_cause"], true);

    let sel = find(&r, "service.selector-no-match", "web");
    assert_eq!(sel.len(), 1);

    let quota = find(&r, "replicaset.failed-create", "batch-");
    assert_eq!(quota.len(), 1, "{r:#}");
    assert!(
        quota[0]["message"].as_str().unwrap_or("").contains("quota"),
        "{:#}",
        quota[0]
    );

    let hook = find(&r, "webhook.no-endpoints", "guard");
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0]["severity"], "critical");

    // The unavailable Deployment is a symptom of its unschedulable pods.
    let dep = find(&r, "deployment.unavailable", "huge");
    if let Some(d) = dep.first() {
        assert_eq!(d["root_cause"], false, "{d:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_then_offline_gives_the_same_root_causes() {
    let cp = cluster().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = kaptain()
        .args(["snapshot", "-A", "--kubeconfig"])
        .arg(cp.kubeconfig_path())
        .arg("-o")
        .arg(dir.path())
        .output()
        .expect("snapshot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("kaptain-snapshot.json").exists());

    let (_, live, _) = diagnose_json(cp.kubeconfig_path(), &[]);
    let off = kaptain()
        .args(["diagnose", "-o", "json", "--now", &later(), "--from"])
        .arg(dir.path())
        .output()
        .expect("offline");
    assert_eq!(
        off.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let offline: Value = serde_json::from_slice(&off.stdout).expect("json");
    assert_eq!(offline["source"]["kind"], "snapshot");
    assert_eq!(offline["skipped"], live["skipped"]);
    assert_eq!(root_causes(&live), root_causes(&offline));
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_and_only_narrow_the_scan() {
    let cp = cluster().await;
    let (_, r, _) = diagnose_json(cp.kubeconfig_path(), &["--only", "service"]);
    let ids: Vec<&str> = r["findings"]
        .as_array()
        .expect("f")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i.starts_with("service.")),
        "{ids:?}"
    );

    let out = kaptain()
        .args([
            "diagnose",
            "-n",
            "quota",
            "-o",
            "json",
            "--now",
            &later(),
            "--kubeconfig",
        ])
        .arg(cp.kubeconfig_path())
        .output()
        .expect("run");
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    for f in r["findings"].as_array().expect("f") {
        let ns = f["object"]["namespace"].as_str();
        assert!(
            ns.is_none() || ns == Some("quota"),
            "finding outside namespace quota: {f:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_errors_are_one_line_and_exit_2() {
    let cp = cluster().await;
    let dir = tempfile::tempdir().expect("tempdir");

    // Unreachable: a kubeconfig pointing at a closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dead = dir.path().join("dead.yaml");
    std::fs::write(&dead, format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\n\
         users: [{{name: u, user: {{token: x}}}}]\ncontexts: [{{name: dead, context: {{cluster: c, user: u}}}}]\ncurrent-context: dead\n"
    )).expect("write");
    // Rejected credentials: a token the API server does not know.
    let expired = dir.path().join("expired.yaml");
    let text = std::fs::read_to_string(cp.kubeconfig_path())
        .expect("kubeconfig")
        .replace(cp.admin_token(), "no-such-token");
    std::fs::write(&expired, text).expect("write");
    // Forbidden: a known user with no RBAC bindings.
    let nobody = cp
        .kubeconfig_for(kaptain_testenv::NOBODY_TOKEN)
        .expect("kubeconfig");
    let garbage = dir.path().join("garbage.yaml");
    std::fs::write(&garbage, "this: [is not a kubeconfig").expect("write");

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--kubeconfig".into(), dead.display().to_string()],
            "cannot reach the cluster",
        ),
        (
            vec!["--kubeconfig".into(), expired.display().to_string()],
            "401",
        ),
        (
            vec!["--kubeconfig".into(), nobody.display().to_string()],
            "forbidden",
        ),
        (
            vec!["--kubeconfig".into(), garbage.display().to_string()],
            "kubeconfig",
        ),
        (
            vec![
                "--kubeconfig".into(),
                cp.kubeconfig_path().display().to_string(),
                "--context".into(),
                "nope".into(),
            ],
            "context \"nope\" not found",
        ),
    ];
    for (args, expect) in cases {
        let out = kaptain().arg("diagnose").args(&args).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: expected one line, got: {stderr}"
        );
        assert!(
            stderr.contains(expect),
            "{args:?}: expected {expect:?} in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn all_contexts_reports_each_and_survives_a_dead_one() {
    let cp = cluster().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let kc = dir.path().join("two.yaml");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- {{name: good, cluster: {{server: '{}', insecure-skip-tls-verify: true}}}}\n\
             - {{name: dead, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}\n\
             users: [{{name: admin, user: {{token: '{}'}}}}]\n\
             contexts:\n- {{name: good, context: {{cluster: good, user: admin}}}}\n- {{name: dead, context: {{cluster: dead, user: admin}}}}\n\
             current-context: good\n",
            cp.server_url(),
            cp.admin_token()
        ),
    )
    .expect("write");
    let out = kaptain()
        .args([
            "diagnose",
            "--all-contexts",
            "-A",
            "-o",
            "json",
            "--now",
            &later(),
            "--kubeconfig",
        ])
        .arg(&kc)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a dead context is an error: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("context dead"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let reports = v.as_array().expect("--all-contexts prints a list");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["source"]["context"], "good");
    assert!(!reports[0]["findings"].as_array().expect("f").is_empty());
}

/// `kaptain ask` with its flags against the live cluster; the answer as JSON (null when the
/// output is not JSON, as on an error).
fn ask_json(kubeconfig: &Path, question: &str, extra: &[&str]) -> (i32, Value, String) {
    let (code, v, stderr) = run_json(kubeconfig, &["ask", question], extra);
    (code, v.unwrap_or(Value::Null), stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_answers_from_a_live_scan() {
    let cp = cluster().await;
    let kc = cp.kubeconfig_path();
    // "huge" names the Deployment and starts its pods' names: it traces back to the pods no
    // node can fit, one finding on the Deployment for both.
    let (code, a, stderr) = ask_json(kc, "why is huge failing in shop?", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(a["request"]["intent"], "why", "{a:#}");
    assert_eq!(a["request"]["namespace"], "shop");
    let items = a["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{a:#}");
    let f = &items[0]["finding"];
    assert_eq!(f["id"], "pod.unschedulable", "{f:#}");
    assert_eq!(f["object"]["name"], "huge", "{f:#}");
    assert!(
        f["instances"].as_array().is_some_and(|p| p.len() == 2
            && p.iter().all(|p| p["object"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("huge-")))),
        "{f:#}"
    );
    assert_eq!(a["cli"], "kaptain diagnose -n shop");

    // The context's name is a cluster to the question; the answer covers every namespace.
    let (code, a, stderr) = ask_json(kc, "what is wrong in kaptain-test?", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(a["request"]["cluster"], "kaptain-test", "{a:#}");
    assert!(a["request"].get("namespace").is_none(), "{a:#}");
    let roots: Vec<(&str, &str)> = a["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["finding"]["id"].as_str().unwrap_or(""),
                i["finding"]["object"]["namespace"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        roots.contains(&("config.missing-configmap", "shop")),
        "{roots:?}"
    );
    assert!(
        roots.contains(&("replicaset.failed-create", "quota")),
        "{roots:?}"
    );

    // The question and a flag that disagree: one line, exit 2.
    let (code, _, stderr) = ask_json(kc, "what is wrong in shop?", &["-n", "quota"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("namespace shop") && stderr.contains("quota"),
        "{stderr}"
    );
}
