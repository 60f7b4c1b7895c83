//! `kaptain mcp` driven by a client nobody here wrote: the official MCP TypeScript SDK
//! (tests/mcp-client/client.mjs; `scripts/provision-mcp-client.sh` installs the SDK from npm and
//! `scripts/test.sh` exports KAPTAIN_MCP_CLIENT_DIR). The SDK negotiates the protocol, lists
//! the tools and validates every result against the tool's output schema; `why` and
//! `diagnose` name the missing ConfigMap as the root cause on the real control plane.

use std::path::PathBuf;
use std::process::Command;

use kaptain_testenv::{ControlPlane, apply_yaml};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const NS: &str = "mcp-ts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_client_finds_the_missing_configmap() -> TestResult {
    let modules = std::env::var("KAPTAIN_MCP_CLIENT_DIR").map_err(|_| {
        "KAPTAIN_MCP_CLIENT_DIR is not set: run scripts/provision-mcp-client.sh (scripts/test.sh does)"
    })?;
    let cp = tokio::task::spawn_blocking(ControlPlane::shared).await?;
    cp.shared_kubelet().await?;
    let client = cp.client().await?;
    let scenario = include_str!("../../../tests/scenarios/missing-configmap/manifests.yaml")
        .replace("missing-configmap", NS);
    apply_yaml(&client, &scenario).await?;

    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp-client/client.mjs");
    let kubeconfig = cp.kubeconfig_path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(NS)
            .arg(env!("CARGO_BIN_EXE_kaptain"))
            .args(["mcp", "--analyze-ahead", "15m", "--kubeconfig"])
            .arg(kubeconfig)
            .env("KAPTAIN_MCP_CLIENT_DIR", modules)
            .output()
    })
    .await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the TypeScript client failed: {stderr}"
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;

    assert_eq!(v["server"]["name"], "kaptain", "{v:#}");
    let tools = v["tools"].as_array().ok_or("tools")?;
    let tool = |n: &str| {
        tools
            .iter()
            .find(|t| t["name"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(tool("diagnose")["readOnlyHint"], true);
    assert_eq!(tool("propose_action")["readOnlyHint"], false);
    assert_eq!(tool("propose_action")["destructiveHint"], false);
    assert!(tools.iter().all(|t| t["hasOutputSchema"] == true));

    let causes = v["why"]["causes"].as_array().ok_or("why.causes")?;
    assert!(
        causes
            .iter()
            .any(|c| c["root"]["check"] == "config.missing-configmap"
                && c["root"]["object"]["name"] == "api-config"),
        "{:#}",
        v["why"]
    );
    assert_eq!(v["diagnoseError"], false);
    assert_eq!(
        v["diagnose"]["findings"]["items"][0]["check"],
        "config.missing-configmap"
    );
    let pods = v["pods"]["items"].as_array().ok_or("pods")?;
    assert!(
        !pods.is_empty() && pods.iter().all(|p| p["labels"]["app"] == "api"),
        "{:#}",
        v["pods"]
    );
    assert_eq!(v["badIsError"], true);
    assert!(
        v["resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|u| u == "kaptain://checks"))
    );
    assert!(v["checks"].as_u64().unwrap_or(0) > 50);
    assert_eq!(v["prompts"].as_array().map(Vec::len), Some(4));
    assert!(v["prompt"].as_str().unwrap_or_default().contains(NS));
    Ok(())
}
