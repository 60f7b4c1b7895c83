//! `kaptain llm test` as a person runs it: settings from a config file, one line per check,
//! exit 0 / 1 / 2, `--json`; against the scripted OpenAI-compatible server.

use std::path::Path;
use std::process::{Command, Output};

use kaptain_llm::testing::{Reply, ScriptedServer, openai};
use serde_json::{Value, json};

/// Runs `kaptain llm test ARGS` with a clean LLM environment and `home` as the config home.
async fn kaptain(home: &Path, args: &[&str]) -> Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kaptain"));
        c.arg("llm").arg("test").args(&args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KAPTAIN_LLM_")
                || k.starts_with("OPENAI_")
                || k.starts_with("ANTHROPIC_")
                || k == "OLLAMA_HOST"
            {
                c.env_remove(k);
            }
        }
        c.env("XDG_CONFIG_HOME", &home).env("HOME", &home);
        c.output().expect("runs kaptain")
    })
    .await
    .expect("joins")
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("kaptain").join("config.yaml");
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, text).expect("write");
    p
}

fn models() -> Reply {
    Reply::json(json!({"object": "list", "data": [{"id": "local"}]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_checks_pass_from_the_default_config_file_with_other_sections_ignored() {
    let server = ScriptedServer::start(vec![
        models(),
        openai::text("pong"),
        openai::tool_calls(&[("call_1", "add", "{\"a\": 2, \"b\": 3}")]),
        models(),
        openai::text("pong"),
        openai::tool_calls(&[("call_2", "add", "{\"a\": 2, \"b\": 3}")]),
    ])
    .await;
    let home = tempfile::tempdir().expect("tmp");
    write_config(
        home.path(),
        &format!(
            "server:\n  listen: 0.0.0.0:1\nllm:\n  provider: openai\n  base_url: {}\n  model: local\n",
            server.base_url()
        ),
    );
    let out = kaptain(home.path(), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], format!("openai local at {}", server.addr()));
    assert!(
        lines[1].starts_with("ok   reachable   openai at"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("ok   completion  \"pong\" in "),
        "{stdout}"
    );
    assert_eq!(
        lines[3],
        "ok   tool call   called add({\"a\":2,\"b\":3}), arguments valid"
    );

    let out = kaptain(home.path(), &["--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["model"], json!("local"));
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_exits_1_and_flags_override_the_file() {
    let server = ScriptedServer::start(vec![
        models(),
        openai::text("pong"),
        openai::text("5"),
        openai::text("five"),
        openai::text("still five"),
    ])
    .await;
    let home = tempfile::tempdir().expect("tmp");
    write_config(
        home.path(),
        "llm:\n  provider: anthropic\n  model: claude-x\n",
    );
    let base = server.base_url();
    let out = kaptain(
        home.path(),
        &[
            "--provider",
            "openai",
            "--base-url",
            &base,
            "--model",
            "local",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("FAIL tool call   the model answered in text"),
        "{stdout}"
    );
    assert!(
        last.contains(" — use a model trained for tool calls"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_one_line_naming_the_file_and_field_and_exits_2() {
    let home = tempfile::tempdir().expect("tmp");
    let file = write_config(
        home.path(),
        "llm:\n  provider: openai\n  timeout_secs: soon\n",
    );
    let out = kaptain(home.path(), &["--config", &file.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: {}: llm.timeout_secs: invalid type",
            file.display()
        )),
        "{stderr}"
    );

    // Nothing configured at all.
    let empty = tempfile::tempdir().expect("tmp");
    let out = kaptain(empty.path(), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: no LLM provider is configured")
    );

    // OpenAI's API without a key.
    let out = kaptain(empty.path(), &["--provider", "openai"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set OPENAI_API_KEY"));
}
