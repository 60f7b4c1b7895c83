//! `kaptain ask "<request>"` as people run it: the built binary against the real control plane
//! (v1.20) with the simulated kubelet, and the operator (no HealingPolicy at all) as a child
//! process. One environment for every request form: each becomes the right HealingAction,
//! the guard's verdict is printed, the change lands on the cluster and is verified.

use std::process::{Child, Command, Output, Stdio};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kaptain_heal::crd::{HealingAction, Phase, PolicyKind};
use kaptain_testenv::{apply_yaml, eventually};
use kube::Api;
use kube::api::ListParams;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
#[path = "support/healing_env.rs"]
mod healing_env;
use healing_env::{BoxError, TIMEOUT, setup};

const NS: &str = "ask-act";
const USER: &str = "tester";

/// The operator process; killed when the test ends, however it ends.
struct OperatorProcess(Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn deployment(ns: &str, name: &str, replicas: i32, extra: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      {extra}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: {name}
        image: nginx:1.25
        resources: {{limits: {{memory: 256Mi}}}}
"#
    )
}

async fn dep(client: &kube::Client, ns: &str, name: &str) -> Result<Deployment, BoxError> {
    Ok(Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await?)
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(-1)
}

fn image(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn template_annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(key).cloned())
}

async fn actions(client: &kube::Client) -> Result<Vec<HealingAction>, BoxError> {
    Ok(Api::<HealingAction>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items)
}

/// The action `kaptain ask --apply` names in its output ("HealingAction ns/name approved").
async fn applied(client: &kube::Client, r: &Run) -> Result<HealingAction, BoxError> {
    let line = r
        .out
        .lines()
        .find(|l| l.starts_with("Applied: HealingAction "))
        .ok_or_else(|| format!("no Applied line:\n{}{}", r.out, r.err))?;
    let id = line
        .trim_start_matches("Applied: HealingAction ")
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let (ns, name) = id.split_once('/').ok_or("no namespace/name")?;
    Ok(Api::<HealingAction>::namespaced(client.clone(), ns)
        .get(name)
        .await?)
}

/// Checks an applied request: verified (exit 0), and the action is the asker's, approved by
/// them, of `kind`, judged under a request reference, Succeeded.
fn assert_verified(r: &Run, a: &HealingAction, kind: &str) {
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("Guard:   allow"), "{}", r.out);
    assert!(r.out.contains("verified"), "{}", r.out);
    assert_eq!(a.spec.action.as_str(), kind);
    assert_eq!(a.spec.policy.kind, PolicyKind::Request);
    assert_eq!(a.spec.policy.name, USER);
    let st = a.status.clone().unwrap_or_default();
    assert_eq!(st.phase, Phase::Succeeded, "{st:?}");
    assert_eq!(st.approved_by.as_deref(), Some(USER));
    assert_eq!(
        a.metadata
            .annotations
            .as_ref()
            .and_then(|m| m.get("kaptain.dev/proposed-by"))
            .map(String::as_str),
        Some(USER)
    );
}

#[tokio::test]
async fn requests_in_plain_words_become_verified_healing_actions() -> TestResult {
    let (cp, client) = setup().await?;
    let mut yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {{name: ask-other}}\n---\n"
    );
    yaml.push_str(&deployment(NS, "web", 2, ""));
    yaml.push_str("---\n");
    yaml.push_str(&deployment("ask-other", "web", 1, ""));
    yaml.push_str("---\n");
    yaml.push_str(&deployment("kube-system", "sys-dns", 1, ""));
    yaml.push_str("---\n");
    // Uses 300Mi of its 256Mi: OOM-killed until its limit is raised (×1.5 = 384Mi).
    yaml.push_str(&deployment(
        NS,
        "search",
        1,
        "annotations: {sim.kaptain.dev/memory-usage: 300Mi}",
    ));
    apply_yaml(&client, &yaml).await?;
    let kc = cp.kubeconfig_path().to_string_lossy().into_owned();
    let ask = |words: &str, flags: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaptain"));
        cmd.args(["ask", words, "--kubeconfig", &kc, "--as-user", USER])
            .args(["--operator-namespace", NS])
            .args(flags)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        run(cmd.output().expect("run kaptain"))
    };
    eventually("web running 2 replicas", TIMEOUT, || async {
        Ok(dep(&client, NS, "web")
            .await?
            .status
            .filter(|s| s.available_replicas == Some(2))
            .map(|_| ()))
    })
    .await?;

    // A name that fits two objects is asked back; nothing is created.
    let r = ask("restart web", &[]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(
        r.err
            .contains("which web? Deployment web in ask-act or Deployment web in ask-other"),
        "{}",
        r.err
    );

    // Without --apply and without a terminal: what it would do, and nothing done.
    let r = ask("scale web in ask-act by 100%", &[]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("spec.replicas: 2 → 4"), "{}", r.out);
    assert!(r.out.contains("Guard:   allow"), "{}", r.out);
    assert!(
        r.out.contains("not applied: confirm with --apply"),
        "{}",
        r.out
    );
    assert_eq!(replicas(&dep(&client, NS, "web").await?), 2);

    // A protected namespace: the guard refuses, nothing is created, nothing changes.
    let r = ask("restart deployment sys-dns in kube-system", &["--apply"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("deny (protected-namespace)"), "{}", r.out);
    assert!(
        template_annotation(
            &dep(&client, "kube-system", "sys-dns").await?,
            "kubectl.kubernetes.io/restartedAt"
        )
        .is_none()
    );
    assert!(actions(&client).await?.is_empty());

    // --dry-run: the server's dry-run path only.
    let r = ask(
        "set the image of web in ask-act to nginx:1.27",
        &["--dry-run"],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("server: containers[web].image = nginx:1.27"),
        "{}",
        r.out
    );
    assert_eq!(image(&dep(&client, NS, "web").await?), "nginx:1.25");
    assert!(actions(&client).await?.is_empty());

    // No operator running: nothing is created, and the user is told how to start one.
    let r = ask("scale web in ask-act by 100%", &["--apply"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("no Kaptain operator is running"),
        "{}",
        r.out
    );
    assert!(actions(&client).await?.is_empty());

    let _op = OperatorProcess(
        Command::new(env!("CARGO_BIN_EXE_kaptain"))
            .args(["operator", "--kubeconfig", &kc, "--namespace", NS])
            .args(["--watch-namespace", NS, "--identity", "ask-act-operator"])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?,
    );
    eventually("the operator leading", TIMEOUT, || async {
        Ok(kaptain_operator::live_lease_holder(&client, NS, kaptain_operator::LEASE_NAME).await)
    })
    .await?;

    // Scale by 100%: 2 → 4, verified.
    let r = ask("scale web in ask-act by 100%", &["--apply"]);
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "Scale");
    assert_eq!(replicas(&dep(&client, NS, "web").await?), 4);

    // Undo that: back to 2.
    let r = ask("undo that", &["--apply"]);
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "Scale");
    assert_eq!(replicas(&dep(&client, NS, "web").await?), 2);

    // A new image.
    let r = ask(
        "set the image of web in ask-act to nginx:1.27",
        &["--apply"],
    );
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "SetImage");
    assert_eq!(image(&dep(&client, NS, "web").await?), "nginx:1.27");

    // A rollout restart.
    let r = ask("restart deployment web -n ask-act", &["--apply"]);
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "RolloutRestart");
    let stamp = "kubectl.kubernetes.io/restartedAt";
    assert!(template_annotation(&dep(&client, NS, "web").await?, stamp).is_some());

    // Roll back: the template of the revision before the restart (no restartedAt stamp).
    let r = ask("roll back web in ask-act", &["--apply"]);
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "RollbackDeployment");
    let d = dep(&client, NS, "web").await?;
    assert_eq!(template_annotation(&d, stamp), None);
    assert_eq!(image(&d), "nginx:1.27");

    // Fix: the OOM-killed search Deployment gets more memory, and stops being OOM-killed.
    eventually("search OOM-killed", TIMEOUT, || async {
        let r = ask("fix the search deployment in ask-act", &[]);
        Ok(r.out.contains("RaiseResources").then_some(()))
    })
    .await?;
    let r = ask("fix the search deployment in ask-act", &["--apply"]);
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "RaiseResources");
    assert_eq!(a.spec.finding.id, "pod.oom-killed");
    assert!(r.out.contains("256Mi → 384Mi"), "{}", r.out);

    // Cordon, last (it stops scheduling on the node).
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let node = nodes
        .first()
        .and_then(|n| n.metadata.name.clone())
        .ok_or("no node")?;
    let r = ask(&format!("cordon node {node}"), &["--apply"]);
    let a = applied(&client, &r).await?;
    assert_verified(&r, &a, "CordonNode");
    let n = Api::<Node>::all(client.clone()).get(&node).await?;
    assert_eq!(n.spec.and_then(|s| s.unschedulable), Some(true));
    Ok(())
}
