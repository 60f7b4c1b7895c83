//! A real model behind a real OpenAI-compatible server: SmolLM2-135M-Instruct (GGUF) served by
//! llama-cpp-python (`python -m llama_cpp.server`) on a free loopback port, reached through the
//! OpenAI-compatible provider — a plain completion, streaming, and tool calls that parse and
//! validate (natively, whole and streamed, and through the prompt shim).
//!
//! Needs KAPTAIN_LLAMA_SERVER_PYTHON (the venv scripts/provision-llama-server.sh makes) and
//! KAPTAIN_LLM_MODEL_FILE (scripts/provision-llm-model.sh): scripts/test.sh sets both. Without
//! them the test fails and says so; it never skips silently.
//!
//! The server runs with `--chat_format chatml-function-calling` (SmolLM2's template is ChatML):
//! for a named `tool_choice` it constrains the arguments to the tool's JSON Schema with a
//! grammar, so even the 135M model makes a valid call natively. With `auto` the model picks
//! between a message and a call itself; that path goes through the prompt shim here, and the
//! test accepts its outcome only if it is a valid call or the shim's clear refusal.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaptain_llm::openai::{OpenAiCompat, OpenAiConfig};
use kaptain_llm::{
    ChatRequest, FinishReason, LlmError, Message, PromptShim, Provider, ToolChoice, ToolSpec,
};
use serde_json::json;

/// Kills the server when the test ends, however it ends.
struct Server {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: run scripts/test.sh, which provisions llama-cpp-python \
             (scripts/provision-llama-server.sh) and the GGUF model (scripts/provision-llm-model.sh) \
             and exports KAPTAIN_LLAMA_SERVER_PYTHON and KAPTAIN_LLM_MODEL_FILE"
        ),
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("addr").port()
}

async fn start_server() -> (Server, String) {
    let python = required_env("KAPTAIN_LLAMA_SERVER_PYTHON");
    let model = required_env("KAPTAIN_LLM_MODEL_FILE");
    assert!(
        std::path::Path::new(&model).is_file(),
        "KAPTAIN_LLM_MODEL_FILE={model} is not a file"
    );
    let port = free_port();
    let log = std::env::temp_dir().join(format!(
        "kaptain-llama-server-{}-{port}.log",
        std::process::id()
    ));
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(&python)
        .args([
            "-m",
            "llama_cpp.server",
            "--model",
            &model,
            "--model_alias",
            "smollm2",
        ])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--chat_format",
            "chatml-function-calling",
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {python} -m llama_cpp.server: {e}"));
    let mut server = Server { child, log };
    let base = format!("http://127.0.0.1:{port}/v1");
    // Ready when it lists its model; bounded: 600 polls, and a server that exits stops it.
    let probe = provider(&base);
    for _ in 0..600 {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "llama_cpp.server exited ({status}) before it was ready:\n{}",
                server.log_tail()
            );
        }
        if let Ok(models) = probe.list_models().await {
            assert_eq!(
                models,
                vec!["smollm2".to_string()],
                "the server lists its alias"
            );
            return (server, base);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "llama_cpp.server did not become ready:\n{}",
        server.log_tail()
    );
}

fn provider(base: &str) -> OpenAiCompat {
    OpenAiCompat::new(OpenAiConfig {
        name: "openai".into(),
        model: "smollm2".into(),
        base_url: base.into(),
        timeout: Some(Duration::from_secs(300)),
        ..OpenAiConfig::default()
    })
    .expect("provider")
}

fn findings_tool() -> ToolSpec {
    ToolSpec {
        name: "get_findings".into(),
        description: "Lists Kaptain's findings (what is broken) in a Kubernetes namespace".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]}
            },
            "required": ["namespace", "severity"]
        }),
    }
}

fn tool_request(choice: ToolChoice) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are Kaptain, a Kubernetes assistant. Use the tools."),
            Message::user("Which critical problems are in the namespace shop?"),
        ],
        tools: vec![findings_tool()],
        tool_choice: choice,
        max_tokens: Some(96),
        temperature: Some(0.0),
        ..ChatRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smollm2_behind_llama_cpp_server_through_the_openai_compatible_provider() {
    let (server, base) = start_server().await;
    let p = provider(&base);
    let tool = findings_tool();

    // 1. A plain completion.
    let r = p
        .chat(&ChatRequest {
            messages: vec![Message::user(
                "What is the capital of France? Answer in one word.",
            )],
            max_tokens: Some(24),
            temperature: Some(0.0),
            ..ChatRequest::default()
        })
        .await
        .unwrap_or_else(|e| panic!("completion: {e}\n{}", server.log_tail()));
    assert!(
        !r.message.content.trim().is_empty(),
        "an empty answer: {r:?}"
    );
    assert!(r.message.tool_calls.is_empty());
    assert!(
        matches!(r.finish, FinishReason::Stop | FinishReason::Length),
        "{r:?}"
    );
    assert!(
        r.usage.input_tokens > 0 && r.usage.output_tokens > 0,
        "usage read: {:?}",
        r.usage
    );
    println!("completion: {:?} ({:?})", r.message.content, r.usage);

    // 2. Streaming: the text arrives in pieces that add up to the answer.
    let pieces = Arc::new(Mutex::new(Vec::<String>::new()));
    let p2 = pieces.clone();
    let mut on = move |t: &str| p2.lock().expect("lock").push(t.to_string());
    let r = p
        .chat_stream(
            &ChatRequest {
                messages: vec![Message::user("Name three colours.")],
                max_tokens: Some(32),
                temperature: Some(0.0),
                ..ChatRequest::default()
            },
            &mut on,
        )
        .await
        .unwrap_or_else(|e| panic!("streaming: {e}\n{}", server.log_tail()));
    let pieces = pieces.lock().expect("lock").clone();
    assert!(pieces.len() > 1, "streamed in one piece: {pieces:?}");
    assert_eq!(pieces.concat(), r.message.content);
    assert!(!r.message.content.trim().is_empty());
    println!("streamed {} pieces: {:?}", pieces.len(), r.message.content);

    // 3. A native tool call (named tool_choice): parses and validates.
    let r = p
        .chat(&tool_request(ToolChoice::Named("get_findings".into())))
        .await
        .unwrap_or_else(|e| panic!("tool call: {e}\n{}", server.log_tail()));
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(r.message.tool_calls.len(), 1, "{r:?}");
    let call = &r.message.tool_calls[0];
    assert_eq!(call.name, "get_findings");
    kaptain_llm::validate(&tool.parameters, &call.arguments).unwrap_or_else(|e| {
        panic!(
            "the native call's arguments {} are invalid: {e}",
            call.arguments
        )
    });
    println!("native call: {}({})", call.name, call.arguments);

    // 4. The same call streamed: its argument deltas reassembled (this server sends the
    //    legacy function_call beside tool_calls and drops the first fragment from the latter).
    let mut ignore = |_: &str| {};
    let r = p
        .chat_stream(
            &tool_request(ToolChoice::Named("get_findings".into())),
            &mut ignore,
        )
        .await
        .unwrap_or_else(|e| panic!("streamed tool call: {e}\n{}", server.log_tail()));
    assert_eq!(r.finish, FinishReason::ToolCalls);
    let streamed = &r.message.tool_calls[0];
    kaptain_llm::validate(&tool.parameters, &streamed.arguments).unwrap_or_else(|e| {
        panic!(
            "the streamed call's arguments {} are invalid: {e}",
            streamed.arguments
        )
    });
    assert_eq!(
        streamed.arguments, call.arguments,
        "temperature 0: the same call whole and streamed"
    );
    println!("streamed call: {}({})", streamed.name, streamed.arguments);

    // 5. The prompt shim (no native tools): a valid call, or a clear refusal after exactly one
    //    repair round — never an invalid call.
    let shim = PromptShim::new(Arc::new(provider(&base)));
    match shim.chat(&tool_request(ToolChoice::Required)).await {
        Ok(r) => {
            let c = r
                .message
                .tool_calls
                .first()
                .unwrap_or_else(|| panic!("no call: {r:?}"));
            kaptain_llm::validate(&tool.parameters, &c.arguments)
                .unwrap_or_else(|e| panic!("the shim let an invalid call through: {e}"));
            println!("shim call: {}({})", c.name, c.arguments);
        }
        Err(LlmError::Malformed(m)) => {
            assert!(m.contains("after one repair round"), "{m}");
            println!("shim: the 135M model gave no usable call after the repair round: {m}");
        }
        Err(e) => panic!("shim: {e}\n{}", server.log_tail()),
    }

    // 6. `kaptain llm test`'s checks against this server: all three pass.
    let settings = kaptain_llm::config::ProviderSettings {
        provider: Some(kaptain_llm::config::ProviderKind::OpenAi),
        base_url: Some(base.clone()),
        model: Some("smollm2".into()),
        timeout_secs: Some(300),
        ..Default::default()
    };
    let report = kaptain_llm::check::run(&settings, &|_| None)
        .await
        .unwrap_or_else(|e| panic!("checks: {e}"));
    for c in &report.checks {
        println!("check {}: ok={} {} {:?}", c.name, c.ok, c.detail, c.hint);
    }
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["reachable", "completion", "tool call"]);
    assert!(report.ok, "{report:#?}");
    drop(server);
}
