//! `kaptain-testenv up`: a real Kubernetes control plane with simulated nodes, for trying
//! Kaptain without a cluster of one's own.
//!
//! ```text
//! kaptain-testenv up [--nodes 3] [--node-cpu 4] [--node-memory 16Gi] [--node-pods 110]
//! ```
//! Prints `KUBECONFIG=/absolute/path` on stdout once the API answers and the nodes are Ready,
//! then keeps everything running until Ctrl-C (or SIGTERM), and cleans up.

use std::process::ExitCode;

use kaptain_testenv::{ControlPlane, KubeletConfig};

const USAGE: &str = "\
Usage: kaptain-testenv up [--nodes N] [--node-cpu CPU] [--node-memory MEM] [--node-pods N]

Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler (v1.20.2) on free
loopback ports, registers simulated nodes driven by Kaptain's simulated kubelet, prints
KUBECONFIG=/path/to/kubeconfig on stdout when the nodes are Ready, and runs until Ctrl-C.

Options:
  --nodes N           number of nodes (default 3)
  --node-cpu CPU      CPU capacity of each node (default 4)
  --node-memory MEM   memory capacity of each node (default 16Gi)
  --node-pods N       pod capacity of each node (default 110)

Example:
  eval \"$(kaptain-testenv up | head -1)\" &   # or run it in another terminal
  KUBECONFIG=... kaptain diagnose -A
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Some(cfg)) => run(cfg),
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kaptain-testenv: error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<Option<KubeletConfig>, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("up") => {}
        Some("-h" | "--help" | "help") | None => return Ok(None),
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut cfg = KubeletConfig::default();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => {
                cfg.nodes = value
                    .parse()
                    .map_err(|_| format!("--nodes: not a number: {value}"))?
            }
            "--node-cpu" => cfg.cpu = value.clone(),
            "--node-memory" => cfg.memory = value.clone(),
            "--node-pods" => {
                cfg.pods = value
                    .parse()
                    .map_err(|_| format!("--node-pods: not a number: {value}"))?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if cfg.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    Ok(Some(cfg))
}

fn run(cfg: KubeletConfig) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kaptain-testenv: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let cp = match ControlPlane::start() {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("kaptain-testenv: error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        let nodes = cfg.nodes;
        let kubelet = cp.start_kubelet(cfg).await.map_err(|e| e.to_string())?;
        println!("KUBECONFIG={}", cp.kubeconfig_path().display());
        eprintln!(
            "kaptain-testenv: control plane at {} with {nodes} simulated node(s) ({}); Ctrl-C to stop",
            cp.server_url(),
            kubelet.node_names().join(", ")
        );
        wait_for_signal().await;
        eprintln!("kaptain-testenv: stopping");
        kubelet.stop();
        Ok::<(), String>(())
    });
    drop(cp);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kaptain-testenv: error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_flags_and_rejects_bad_ones() {
        let cfg = parse(&args(
            "up --nodes 5 --node-cpu 8 --node-memory 32Gi --node-pods 500",
        ))
        .expect("ok")
        .expect("config");
        assert_eq!(
            (cfg.nodes, cfg.cpu.as_str(), cfg.memory.as_str(), cfg.pods),
            (5, "8", "32Gi", 500)
        );
        assert!(parse(&args("up --nodes x")).is_err());
        assert!(parse(&args("up --nodes 0")).is_err());
        assert!(parse(&args("up --frob 1")).is_err());
        assert!(parse(&args("down")).is_err());
        assert!(parse(&args("--help")).expect("ok").is_none());
    }
}
