//! The embedded runtime on a real model: SmolLM2-135M-Instruct (Q4_1 GGUF), the file
//! `scripts/provision-llm-model.sh` puts in the cache; `KAPTAIN_LLM_MODEL_FILE` names it
//! (scripts/test.sh sets it).
//!
//! Structured output is checked by a validator written here, independent of the runtime's
//! automaton: if the constraint let an invalid token through, these tests would see it.
#![cfg(feature = "embedded")]

use std::path::PathBuf;
use std::sync::OnceLock;

use kaptain_llm::embedded::{EmbeddedOptions, EmbeddedProvider, Sampling};
use kaptain_llm::{ChatRequest, FinishReason, LlmError, Message, Provider, ToolChoice, ToolSpec};
use serde_json::{Value, json};

fn model_file() -> PathBuf {
    match std::env::var_os("KAPTAIN_LLM_MODEL_FILE") {
        Some(f) if !f.is_empty() => PathBuf::from(f),
        _ => panic!(
            "KAPTAIN_LLM_MODEL_FILE is not set: the embedded runtime's tests need the real GGUF model; run scripts/test.sh (it provisions the model with scripts/provision-llm-model.sh and sets the variable)"
        ),
    }
}

/// The model, loaded once for the whole test binary. Temperature 1: sampling is as random
/// as the model's distribution, so a constraint that let anything invalid through would show.
fn model() -> &'static EmbeddedProvider {
    static P: OnceLock<EmbeddedProvider> = OnceLock::new();
    P.get_or_init(|| {
        let opts = EmbeddedOptions {
            sampling: Some(Sampling {
                temperature: 1.0,
                top_k: 0,
                top_p: 1.0,
                repeat_penalty: 1.0,
                repeat_last_n: 64,
            }),
            ..EmbeddedOptions::default()
        };
        EmbeddedProvider::load(&model_file(), opts).expect("the model loads")
    })
}

/// A model with its file's (or the runtime's) default sampling.
fn model_default() -> &'static EmbeddedProvider {
    static P: OnceLock<EmbeddedProvider> = OnceLock::new();
    P.get_or_init(|| {
        EmbeddedProvider::load(&model_file(), EmbeddedOptions::default()).expect("loads")
    })
}

/// A JSON Schema validator for the keywords these tests use (type, properties, required,
/// additionalProperties, enum, const, minimum/maximum, minLength/maxLength, items,
/// minItems/maxItems, anyOf/oneOf, $ref to #/definitions or #/$defs).
fn validate(root: &Value, schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let s = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: false schema")),
        Value::Object(o) => o,
        _ => return Err(format!("{path}: bad schema")),
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let mut t = root;
        for part in r.trim_start_matches("#/").split('/') {
            t = t.get(part).ok_or(format!("{path}: bad ref {r}"))?;
        }
        return validate(root, t, v, path);
    }
    if let Some(alts) = s
        .get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array)
    {
        let ok = alts
            .iter()
            .filter(|a| validate(root, a, v, path).is_ok())
            .count();
        if ok == 0 || (s.contains_key("oneOf") && ok > 1) {
            return Err(format!("{path}: {ok} branches of anyOf/oneOf match {v}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{path}: {v} not in enum"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{path}: {v} is not {c}"));
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |t: &str| match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        };
        if !types.iter().any(|t| is(t)) {
            return Err(format!("{path}: {v} is not of type {t}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(m) = s.get("minimum").and_then(Value::as_f64)
            && n < m
        {
            return Err(format!("{path}: {n} < {m}"));
        }
        if let Some(m) = s.get("maximum").and_then(Value::as_f64)
            && n > m
        {
            return Err(format!("{path}: {n} > {m}"));
        }
    }
    if let Some(st) = v.as_str() {
        let n = st.chars().count() as u64;
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            return Err(format!("{path}: string shorter than minLength"));
        }
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            return Err(format!("{path}: string longer than maxLength"));
        }
    }
    if let Some(a) = v.as_array() {
        let n = a.len() as u64;
        if s.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
            || s.get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
        {
            return Err(format!("{path}: {n} items out of bounds"));
        }
        if let Some(items) = s.get("items") {
            for (i, it) in a.iter().enumerate() {
                validate(root, items, it, &format!("{path}[{i}]"))?;
            }
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or_default();
            if !o.contains_key(r) {
                return Err(format!("{path}: required {r} missing"));
            }
        }
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, val, &format!("{path}.{k}"))?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{path}: additional property {k}"));
                    }
                    Some(ap @ Value::Object(_)) => validate(root, ap, val, &format!("{path}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

fn check(schema: &Value, v: &Value) -> Result<(), String> {
    validate(schema, schema, v, "$")
}

#[test]
fn the_validator_here_can_say_no() {
    let s = json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "maximum": 3}}});
    assert!(check(&s, &json!({"a": 3})).is_ok());
    assert!(check(&s, &json!({"a": 4})).is_err());
    assert!(check(&s, &json!({})).is_err());
    assert!(check(&s, &json!({"a": "x"})).is_err());
}

/// Seeded generations per schema and per tool-call test: `KAPTAIN_LLM_RUNS`, else 20.
/// (`scripts/test.sh` runs 8 to keep CI short; every run must parse and validate.)
fn runs() -> u64 {
    std::env::var("KAPTAIN_LLM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Kaptain's tools as the engine's ToolRegistry describes them (schemars-like shapes).
fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "diagnose".into(),
            description: "Scan the cluster (or one namespace) and list the problems found, root causes first.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "namespace": {"type": ["string", "null"], "description": "Only this namespace."},
                    "min_severity": {"anyOf": [{"$ref": "#/definitions/Severity"}, {"type": "null"}]}
                },
                "definitions": {"Severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]}}
            }),
        },
        ToolSpec {
            name: "why".into(),
            description: "Explain why one object is failing: its root cause chain with evidence.".into(),
            parameters: json!({
                "type": "object",
                "required": ["kind", "name"],
                "properties": {
                    "kind": {"type": "string", "description": "Deployment, Pod, Service, ..."},
                    "name": {"type": "string", "minLength": 1},
                    "namespace": {"type": "string"}
                }
            }),
        },
        ToolSpec {
            name: "list_resources".into(),
            description: "List objects of a kind.".into(),
            parameters: json!({
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"type": "string"},
                    "namespace": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 200}
                },
                "additionalProperties": false
            }),
        },
    ]
}

fn question() -> Vec<Message> {
    vec![
        Message::system(
            "You are Kaptain, a Kubernetes operations assistant. Use the tools to find out what is wrong.",
        ),
        Message::user("Why is the checkout deployment in namespace shop failing?"),
    ]
}

#[test]
fn a_plain_answer_is_text_that_stops_at_the_end_of_turn() {
    let p = model_default();
    let req = ChatRequest {
        messages: vec![Message::user("What is Kubernetes? Answer in one sentence.")],
        max_tokens: Some(200),
        ..ChatRequest::default()
    };
    let r = rt().block_on(p.chat(&req)).expect("answers");
    assert!(!r.message.content.trim().is_empty(), "{r:?}");
    assert_eq!(
        r.finish,
        FinishReason::Stop,
        "ended by the end-of-turn token: {r:?}"
    );
    assert!(!r.message.content.contains("<|im_"), "{r:?}");
    assert!(r.message.tool_calls.is_empty());
    assert!(
        r.usage.input_tokens > 10 && r.usage.output_tokens > 0,
        "{:?}",
        r.usage
    );
    assert_eq!(p.name(), "embedded");
    let c = p.capabilities();
    assert!(c.native_tools && c.constrained && c.streaming);
    // The same seed gives the same answer.
    let again = rt().block_on(p.chat(&req)).expect("answers");
    assert_eq!(again.message.content, r.message.content);
}

#[test]
fn streaming_hands_the_text_as_it_is_decoded() {
    let p = model_default();
    let req = ChatRequest {
        messages: vec![Message::user("Name three Kubernetes objects.")],
        max_tokens: Some(60),
        ..ChatRequest::default()
    };
    let mut pieces: Vec<String> = Vec::new();
    let r = rt()
        .block_on(p.chat_stream(&req, &mut |t| pieces.push(t.to_string())))
        .expect("answers");
    assert!(pieces.len() > 1, "{pieces:?}");
    assert_eq!(pieces.concat().trim_end(), r.message.content);
}

#[test]
fn response_schema_answers_parse_and_validate_every_time() {
    let p = model();
    let schemas = [
        json!({
            "type": "object",
            "required": ["summary", "severity", "confidence"],
            "properties": {
                "summary": {"type": "string", "maxLength": 120},
                "severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]},
                "confidence": {"type": "number", "minimum": 0.0},
                "root_cause": {"type": ["boolean", "null"]}
            }
        }),
        json!({
            "type": "object",
            "required": ["findings"],
            "properties": {
                "findings": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": "#/definitions/Finding"}},
                "count": {"type": "integer", "minimum": 0, "maximum": 10}
            },
            "definitions": {"Finding": {"type": "object", "required": ["id", "object"], "properties": {
                "id": {"type": "string", "minLength": 3},
                "object": {"type": "object", "required": ["kind", "name"], "properties": {
                    "kind": {"type": "string"}, "name": {"type": "string"}}}
            }}}
        }),
        json!({
            "oneOf": [
                {"type": "object", "required": ["action", "replicas"], "properties": {
                    "action": {"const": "scale"}, "replicas": {"type": "integer", "minimum": 0, "maximum": 50}},
                    "additionalProperties": false},
                {"type": "object", "required": ["action"], "properties": {
                    "action": {"const": "restart"}, "reason": {"type": "string"}},
                    "additionalProperties": false}
            ]
        }),
    ];
    let rt = rt();
    for schema in &schemas {
        let mut valid = 0;
        for seed in 0..runs() {
            let req = ChatRequest {
                messages: vec![Message::user(
                    "The checkout deployment in namespace shop cannot start: its pods fail with CreateContainerConfigError because ConfigMap checkout-config is missing.",
                )],
                response_schema: Some(schema.clone()),
                max_tokens: Some(96),
                ..ChatRequest::default()
            };
            let r = rt.block_on(p.chat_seeded(&req, seed)).expect("answers");
            let v: Value = serde_json::from_str(&r.message.content)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}: {}", r.message.content));
            match check(schema, &v) {
                Ok(()) => valid += 1,
                Err(e) => panic!("seed {seed}: {e}: {}", r.message.content),
            }
        }
        assert_eq!(valid, runs(), "every seeded answer parses and validates");
    }
}

#[test]
fn required_tool_calls_parse_and_validate_every_time() {
    let p = model();
    let tools = tools();
    let rt = rt();
    let mut names = std::collections::BTreeSet::new();
    for seed in 0..runs() {
        let req = ChatRequest {
            messages: question(),
            tools: tools.clone(),
            tool_choice: ToolChoice::Required,
            max_tokens: Some(96),
            ..ChatRequest::default()
        };
        let r = rt.block_on(p.chat_seeded(&req, seed)).expect("answers");
        assert_eq!(r.finish, FinishReason::ToolCalls, "seed {seed}: {r:?}");
        let [call] = r.message.tool_calls.as_slice() else {
            panic!("seed {seed}: one call expected: {r:?}");
        };
        let tool = tools
            .iter()
            .find(|t| t.name == call.name)
            .unwrap_or_else(|| panic!("seed {seed}: unknown tool {}", call.name));
        check(&tool.parameters, &call.arguments)
            .unwrap_or_else(|e| panic!("seed {seed}: {}: {e}: {}", call.name, call.arguments));
        names.insert(call.name.clone());
    }
    eprintln!("tools called: {names:?}");
}

#[test]
fn a_named_tool_is_the_one_called() {
    let p = model();
    let req = ChatRequest {
        messages: question(),
        tools: tools(),
        tool_choice: ToolChoice::Named("why".into()),
        max_tokens: Some(64),
        ..ChatRequest::default()
    };
    let rt = rt();
    for seed in 0..5u64 {
        let r = rt.block_on(p.chat_seeded(&req, seed)).expect("answers");
        let call = &r.message.tool_calls[0];
        assert_eq!(call.name, "why");
        check(&tools()[1].parameters, &call.arguments).expect("valid");
    }
    let bad = ChatRequest {
        tool_choice: ToolChoice::Named("delete_everything".into()),
        ..req
    };
    let e = rt.block_on(p.chat(&bad)).expect_err("unknown tool");
    assert!(
        matches!(e, LlmError::Config(_)) && e.to_string().contains("delete_everything"),
        "{e}"
    );
}

#[test]
fn under_auto_the_model_answers_text_or_a_valid_call() {
    let p = model_default();
    let tools = tools();
    let rt = rt();
    for seed in 0..6u64 {
        let req = ChatRequest {
            messages: question(),
            tools: tools.clone(),
            tool_choice: ToolChoice::Auto,
            max_tokens: Some(80),
            ..ChatRequest::default()
        };
        let r = rt.block_on(p.chat_seeded(&req, seed)).expect("answers");
        match r.message.tool_calls.as_slice() {
            [] => assert!(!r.message.content.trim().is_empty() || r.finish == FinishReason::Stop),
            [call] => {
                let tool = tools
                    .iter()
                    .find(|t| t.name == call.name)
                    .expect("offered tool");
                check(&tool.parameters, &call.arguments).expect("valid arguments");
                assert_eq!(r.finish, FinishReason::ToolCalls);
            }
            more => panic!("one call at most: {more:?}"),
        }
    }
}

#[test]
fn a_budget_too_small_still_gives_valid_json() {
    let p = model();
    let schema = json!({"type": "object", "required": ["kind", "name", "reason"], "properties": {
        "kind": {"type": "string"}, "name": {"type": "string"}, "reason": {"type": "string", "minLength": 5}}});
    let rt = rt();
    for seed in 0..5u64 {
        let req = ChatRequest {
            messages: question(),
            response_schema: Some(schema.clone()),
            max_tokens: Some(48),
            ..ChatRequest::default()
        };
        let r = rt.block_on(p.chat_seeded(&req, seed)).expect("answers");
        let v: Value = serde_json::from_str(&r.message.content)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}: {}", r.message.content));
        check(&schema, &v).expect("valid");
        assert!(r.usage.output_tokens <= 48, "{:?}", r.usage);
    }
}

#[test]
fn a_prompt_past_the_context_is_refused_clearly() {
    let p = model();
    let long = "pod crashloop ".repeat(p.context_length());
    let req = ChatRequest {
        messages: vec![Message::user(long)],
        ..ChatRequest::default()
    };
    let e = rt().block_on(p.chat(&req)).expect_err("too long");
    assert!(e.to_string().contains("context"), "{e}");
}

#[test]
fn the_chat_template_and_stops_come_from_the_file() {
    let p = model();
    let req = ChatRequest {
        messages: vec![Message::user("hi")],
        ..ChatRequest::default()
    };
    let prompt = p.render_prompt(&req).expect("renders");
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt}");
    assert!(
        prompt.ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
        "{prompt}"
    );
    let im_end = p
        .tokenizer()
        .special_id("<|im_end|>")
        .expect("in the vocabulary");
    assert!(p.stop_tokens().contains(&im_end));
    assert_eq!(p.context_length(), 8192, "llama.context_length in the file");
}

#[test]
fn the_tokenizer_round_trips_and_knows_the_special_tokens() {
    let t = model().tokenizer();
    let ids = t.encode("<|im_start|>user\nHello world<|im_end|>");
    assert_eq!(ids.first(), Some(&1), "<|im_start|> is id 1: {ids:?}");
    assert_eq!(ids.last(), Some(&2), "<|im_end|> is id 2: {ids:?}");
    for text in [
        "Why is checkout failing in namespace shop? Pods: 3/3 CrashLoopBackOff, exit code 137.",
        "  leading spaces,\ttabs\nand newlines\n\n  ",
        "unicode: héllo wörld — 日本語 🚀 ünïcödé",
        "kubectl -n kube-system get pods -o jsonpath='{.items[*].metadata.name}'",
        "",
    ] {
        let ids = t.encode(text);
        assert_eq!(t.decode(&ids), text, "{ids:?}");
    }
    // Digits are split one by one (`smollm` pre-tokenizer).
    let ids = t.encode("12345");
    assert_eq!(ids.len(), 5, "{ids:?}");
}

#[test]
fn a_missing_or_corrupt_model_file_is_named() {
    let e = EmbeddedProvider::load(
        std::path::Path::new("/nonexistent/model.gguf"),
        EmbeddedOptions::default(),
    )
    .expect_err("missing");
    assert!(matches!(e, LlmError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/model.gguf"), "{e}");

    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"this is not a model at all").expect("write");
    let e = EmbeddedProvider::load(&junk, EmbeddedOptions::default()).expect_err("corrupt");
    assert!(matches!(e, LlmError::Model(_)), "{e:?}");
    assert!(e.to_string().contains("junk.gguf"), "{e}");

    // The real file cut short: the header reads, the weights do not.
    let real = std::fs::read(model_file()).expect("read the model");
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &real[..real.len() / 2]).expect("write");
    let e = EmbeddedProvider::load(&cut, EmbeddedOptions::default()).expect_err("truncated");
    assert!(matches!(e, LlmError::Model(_)), "{e:?}");
    assert!(e.to_string().contains("cut.gguf"), "{e}");
}

#[test]
fn settings_build_the_embedded_provider() {
    use kaptain_llm::config::{ProviderKind, ProviderSettings, build};
    let s = ProviderSettings {
        provider: Some(ProviderKind::Embedded),
        ..ProviderSettings::default()
    };
    let e = build(&s).err().expect("no model file");
    assert!(e.to_string().contains("model_file"), "{e}");
    let s = ProviderSettings {
        model_file: Some(model_file()),
        ..s
    };
    let p = build(&s).expect("builds").expect("a provider");
    assert_eq!(p.name(), "embedded");
    let q = build(&s).expect("builds").expect("a provider");
    assert_eq!(p.model(), q.model());
}

/// The next step of a conversation (the same prompt with the call and its result appended)
/// feeds only what is new: the KV cache of the step before is kept. Its answer is the one
/// the whole prompt fed afresh gives.
#[test]
fn the_next_step_of_a_conversation_is_fed_from_where_it_differs() {
    // Its own copy of the weights: no other test's call can come between these.
    let p = EmbeddedProvider::load(&model_file(), EmbeddedOptions::default()).expect("loads");
    let first = ChatRequest {
        messages: question(),
        tools: tools(),
        tool_choice: ToolChoice::Required,
        max_tokens: Some(64),
        ..ChatRequest::default()
    };
    let (r, s1) = p.generate(&first, 0, &mut |_| {}).expect("a call");
    assert_eq!(s1.cached_prompt_tokens, 0, "nothing cached yet");
    let call = r.message.tool_calls.first().expect("a tool call").clone();
    let mut messages = question();
    messages.push(Message {
        tool_calls: vec![call.clone()],
        ..Message::assistant("")
    });
    messages.push(Message::tool_result(
        &call,
        r#"{"root_cause": "ConfigMap shop/checkout-config does not exist", "pods": 3}"#,
    ));
    // The answer step: the same tools shown, none callable.
    let next = ChatRequest {
        messages,
        tools: tools(),
        tool_choice: ToolChoice::None,
        max_tokens: Some(40),
        ..ChatRequest::default()
    };
    let (warm, s2) = p.generate(&next, 0, &mut |_| {}).expect("an answer");
    assert!(
        s2.cached_prompt_tokens >= s1.prompt_tokens - 1
            && s2.cached_prompt_tokens < s2.prompt_tokens,
        "the first step's prompt ({} tokens) is reused: {} of {} cached",
        s1.prompt_tokens,
        s2.cached_prompt_tokens,
        s2.prompt_tokens
    );
    assert!(warm.message.tool_calls.is_empty(), "no call under `none`");
    p.forget_cached();
    let (cold, s3) = p.generate(&next, 0, &mut |_| {}).expect("an answer");
    assert_eq!(s3.cached_prompt_tokens, 0);
    assert_eq!(s3.prompt_tokens, s2.prompt_tokens);
    assert_eq!(warm.message.content, cold.message.content);
}
