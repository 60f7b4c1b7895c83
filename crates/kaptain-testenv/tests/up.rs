//! `kaptain-testenv up`: prints KUBECONFIG=... once the nodes are Ready, serves a working
//! cluster, and cleans everything up on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

#[tokio::test(flavor = "multi_thread")]
async fn up_prints_a_kubeconfig_with_ready_nodes_and_cleans_up_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaptain-testenv"))
        .args([
            "up",
            "--nodes",
            "2",
            "--node-cpu",
            "8",
            "--node-memory",
            "32Gi",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kaptain-testenv up");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let path = line
        .trim()
        .strip_prefix("KUBECONFIG=")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    assert!(std::path::Path::new(&path).is_absolute());

    let kc = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(cfg).expect("client");
    let nodes: Api<Node> = Api::all(client);
    let list = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    assert_eq!(list.items.len(), 2);
    for n in &list.items {
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(
            ready,
            "node {:?} not Ready when KUBECONFIG was printed",
            n.metadata.name
        );
        let cpu = n
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("cpu"))
            .map(|q| q.0.clone());
        assert_eq!(cpu.as_deref(), Some("8"));
    }

    let dir = std::path::Path::new(&path)
        .parent()
        .expect("dir")
        .to_path_buf();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(code) = child.try_wait().expect("wait") {
            assert!(code.success(), "exit status {code}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dir.exists(), "temp dir {} left behind", dir.display());
}

#[test]
fn bad_flags_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_kaptain-testenv"))
        .args(["up", "--nodes", "zero"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes: not a number"));
}
