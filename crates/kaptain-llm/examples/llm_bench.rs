//! Figures of the embedded runtime on one GGUF file, as one JSON line on stdout:
//! load time, time to first token and tokens/s for a ~200-token prompt generating 64 tokens,
//! ms per token of the constraint mask (a tool call under `ToolChoice::Required`), peak RSS,
//! and the rendered prompt (`prompt`, chat template applied) and the stop token ids
//! (`stop_tokens`) for other runners to reuse.
//!
//!     cargo run --release -p kaptain-llm --example llm_bench -- MODEL.gguf [PROMPT_TOKENS] [GEN_TOKENS]
//!
//! scripts/bench-llm.py runs it and prints the figures (and ratios to llama.cpp's server).

use std::time::Instant;

use kaptain_llm::embedded::{EmbeddedOptions, EmbeddedProvider, Sampling};
use kaptain_llm::{ChatRequest, Message, ToolChoice, ToolSpec};
use serde_json::json;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .ok_or("usage: llm_bench MODEL.gguf [PROMPT_TOKENS] [GEN_TOKENS]")?;
    let prompt_tokens: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let gen_tokens: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);

    let t0 = Instant::now();
    let p = EmbeddedProvider::load(
        std::path::Path::new(&model),
        EmbeddedOptions {
            // Greedy, no early stop: every run generates exactly GEN_TOKENS tokens.
            sampling: Some(Sampling {
                temperature: 0.0,
                ..Sampling::default()
            }),
            ignore_stops: true,
            ..EmbeddedOptions::default()
        },
    )?;
    let load_s = t0.elapsed().as_secs_f64();

    // A prompt of about PROMPT_TOKENS tokens: event lines of a broken deployment.
    let line =
        "Warning  Failed  pod/checkout-7d9c-x2  Error: configmap \"checkout-config\" not found\n";
    let mut text = String::from("Explain what is wrong in these events and how to fix it:\n");
    let base = p.render_prompt(&ChatRequest {
        messages: vec![Message::user(text.clone())],
        ..ChatRequest::default()
    })?;
    let mut n = p.tokenizer().encode(&base).len();
    let per_line = p.tokenizer().encode(line).len();
    while n + per_line <= prompt_tokens {
        text.push_str(line);
        n += per_line;
    }
    let req = ChatRequest {
        messages: vec![Message::user(text)],
        max_tokens: Some(gen_tokens),
        ..ChatRequest::default()
    };
    // The prompt as the model sees it (chat template applied), so that another runner can be
    // given exactly the same text.
    let rendered = p.render_prompt(&req)?;
    // One warm-up run (page cache, allocator), then the measured one.
    p.generate(&req, 0, &mut |_| {})?;
    // The whole prompt is processed again, not taken from the KV cache of the warm-up.
    p.forget_cached();
    let (r, st) = p.generate(&req, 0, &mut |_| {})?;
    assert_eq!(st.cached_prompt_tokens, 0);
    let steps = st.generated_tokens.saturating_sub(1).max(1) as f64;
    let tps = steps / st.generation_time.as_secs_f64().max(1e-9);

    // The constraint: a tool call over Kaptain-like tools.
    let tools = vec![
        ToolSpec {
            name: "diagnose".into(),
            description: "Scan a namespace and list problems.".into(),
            parameters: json!({"type": "object", "properties": {
                "namespace": {"type": "string"},
                "min_severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]}}}),
        },
        ToolSpec {
            name: "why".into(),
            description: "Explain why one object fails.".into(),
            parameters: json!({"type": "object", "required": ["kind", "name"], "properties": {
                "kind": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"}}}),
        },
    ];
    let call_req = ChatRequest {
        messages: vec![Message::user(
            "Why is deployment checkout in namespace shop failing?",
        )],
        tools,
        tool_choice: ToolChoice::Required,
        max_tokens: Some(64),
        ..ChatRequest::default()
    };
    p.forget_cached();
    let (call, cst) = p.generate(&call_req, 0, &mut |_| {})?;
    let mask_ms = cst.mask_time.as_secs_f64() * 1000.0 / cst.mask_steps.max(1) as f64;
    let call_tps = cst.generated_tokens as f64
        / (cst.generation_time + cst.time_to_first_token - cst.prompt_time)
            .as_secs_f64()
            .max(1e-9);

    let out = json!({
        "runner": "embedded",
        "model": model,
        "threads": candle_core::utils::get_num_threads(),
        "load_s": load_s,
        "prompt_tokens": st.prompt_tokens,
        "generated_tokens": st.generated_tokens,
        "ttft_s": st.time_to_first_token.as_secs_f64(),
        "prompt_tokens_per_s": st.prompt_tokens as f64 / st.prompt_time.as_secs_f64().max(1e-9),
        "tokens_per_s": tps,
        "constrained_tokens_per_s": call_tps,
        "mask_ms_per_token": mask_ms,
        "mask_steps": cst.mask_steps,
        "tool_call": call.message.tool_calls.first().map(|c| json!({"name": c.name, "arguments": c.arguments})),
        "answer_start": r.message.content.chars().take(80).collect::<String>(),
        "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
        "prompt": rendered,
        "stop_tokens": p.stop_tokens(),
    });
    println!("{out}");
    Ok(())
}
