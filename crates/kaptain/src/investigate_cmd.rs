//! The investigator in the CLI: `kaptain ask` hands it a question the rule reader could not
//! fully read (it said words back) when an LLM is configured for the `investigate` task, and
//! `kaptain chat` is a conversation with it (or, with no LLM, with the rule reader), one
//! line of stdin per question (with `-o json`, one line of JSON per answer).
//!
//! Both scan once — the files of `--from`, or the live cluster (every namespace unless `-n`)
//! — and hand the engine's tools over that scan to the investigator. On files the tools only
//! look; on a live cluster the asker may also propose actions (HealingActions that the
//! operator's safety guard decides; nothing is changed by the CLI).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use kaptain_engine::scan;
use kaptain_engine::tools::{
    Caller, EngineToolBox, InvestigationInputs, Role, ScanHost, investigation_inputs,
};
use kaptain_index::LabelSelector;
use kaptain_llm::config::{ProviderSettings, Task};
use kaptain_llm::{Investigator, Limits, Privacy, Provider, StopReason, Transcript};
use kaptain_model::{Report, Severity, SourceKind};
use kaptain_sources::live::{self, ClusterSource, LiveOptions, Timeouts};

use crate::cli::{AskArgs, AskFormat, ChatArgs, ClusterArgs, EXIT_CLEAN, EXIT_ERROR};
use crate::llm_setup;

/// Operator namespace assumed by the CLI (where the operator keeps its safety settings).
const OPERATOR_NAMESPACE: &str = "kaptain-system";

/// A scanned source and the investigation inputs of it.
pub struct Session {
    pub host: Arc<ScanHost>,
    pub caller: Caller,
    pub inputs: InvestigationInputs,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Scans `from` (files) or the live cluster of `c`; every check, every namespace unless
/// `-n` names one.
pub fn load(
    rt: &tokio::runtime::Runtime,
    c: &ClusterArgs,
    from: &[PathBuf],
    now: Option<jiff::Timestamp>,
) -> Result<Session, String> {
    let checks = kaptain_analyze::select(&Default::default())?;
    let selector = c
        .selector
        .as_deref()
        .map(LabelSelector::parse)
        .transpose()?;
    let ns = (!c.all_namespaces).then(|| c.namespace.clone()).flatten();
    let actor = llm_setup::actor();
    let (host, role) = if !from.is_empty() {
        let f = scan::files(from, selector.as_ref()).map_err(|e| e.to_string())?;
        for e in &f.errors {
            eprintln!("kaptain: error: {e}");
        }
        let now = now
            .or(f.info.captured_at)
            .unwrap_or_else(jiff::Timestamp::now);
        let findings = scan::keep(
            scan::findings(&f.index, &checks, now),
            Severity::Info,
            ns.as_deref(),
        );
        let name = f.info.context.clone().unwrap_or_else(|| "files".into());
        let report = Report::new(
            scan::source(SourceKind::Snapshot, &f.info),
            f.info.skipped.clone(),
            findings,
        );
        (
            ScanHost::new(name, Arc::new(f.index), Arc::new(report), now),
            Role::Viewer,
        )
    } else {
        rt.block_on(async {
            let source = ClusterSource::kubeconfig(c.kubeconfig.clone(), c.context.clone());
            let cluster = live::connect(&source, Timeouts::REQUESTS)
                .await
                .map_err(|e| e.to_string())?;
            let opts = LiveOptions {
                namespace: ns.clone(),
                label_selector: c.selector.clone(),
                page_size: c.page_size,
                complete: false,
            };
            let (idx, info) = scan::live(&cluster, &opts, &checks, &|_: live::Progress| {})
                .await
                .map_err(|e| e.to_string())?;
            let now = now.unwrap_or_else(jiff::Timestamp::now);
            let findings = scan::findings(&idx, &checks, now);
            let report = Report::new(
                scan::source(SourceKind::Live, &info),
                info.skipped.clone(),
                findings,
            );
            let name = cluster.context.clone().unwrap_or_else(|| "current".into());
            let host = ScanHost::new(name, Arc::new(idx), Arc::new(report), now)
                .with_client(cluster.client.clone(), OPERATOR_NAMESPACE)
                .await;
            Ok::<_, String>((host, Role::Operator))
        })?
    };
    let caller = Caller::unrestricted(actor, role);
    let inputs = investigation_inputs(&host, &caller, None);
    Ok(Session {
        host: Arc::new(host),
        caller,
        inputs,
    })
}

/// An investigator over `s` with `provider`; the settings' `max_tokens` caps each model
/// call's output (default: [`Limits`]'s).
pub fn investigator(
    s: &Session,
    provider: Arc<dyn Provider>,
    settings: &ProviderSettings,
) -> Investigator {
    let privacy = Privacy::for_settings(settings, s.inputs.names.clone(), s.inputs.secrets.clone());
    let tools = Arc::new(EngineToolBox::new(s.host.clone(), s.caller.clone()));
    Investigator::new(provider, tools)
        .with_privacy(privacy)
        .with_limits(Limits::for_settings(settings))
}

/// `kaptain ask`'s investigator path: `Some(exit code)` when the investigator answered;
/// `None` to answer with the rule reader (the question was read whole, no LLM is configured,
/// or the LLM failed — said on stderr).
pub fn maybe_ask(a: &AskArgs, question: &str, ignored: &[String]) -> Result<Option<u8>, String> {
    if ignored.is_empty() {
        return Ok(None);
    }
    llm_setup::init_tracing();
    let (provider, settings) = match llm_setup::provider_for(Task::Investigate, &llm_setup::actor())
    {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(None),
        Err(e) => {
            eprintln!("kaptain: warning: {e}; answering without an LLM");
            return Ok(None);
        }
    };
    let rt = runtime()?;
    let session = load(&rt, &a.cluster, &a.from, a.now)?;
    let mut inv = investigator(&session, provider, &settings);
    let t = match rt.block_on(inv.ask(question, &session.inputs.hypotheses)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kaptain: warning: the LLM failed ({e}); answering without it");
            return Ok(None);
        }
    };
    let why = format!("words the rule reader did not know: {}", ignored.join(", "));
    match a.output {
        AskFormat::Text => print!("{}", render(&t, Some(why.as_str()))),
        AskFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"investigated_because": why, "transcript": t})
            )
            .map_err(|e| format!("cannot write the transcript: {e}"))?
        ),
    }
    Ok(Some(EXIT_CLEAN))
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// A transcript as text: the answer, the tools called, what was not checked, the root causes
/// when the answer cites none, and one line on the model and its use.
pub fn render(t: &Transcript, why: Option<&str>) -> String {
    let mut s = String::new();
    if t.answer.is_empty() {
        s.push_str("The model gave no answer.\n");
    } else {
        s.push_str(t.answer.trim());
        s.push('\n');
    }
    let runs = t.tools_called();
    if !runs.is_empty() {
        s.push_str("\nTools called:\n");
        for (i, r) in runs.iter().enumerate() {
            let args = serde_json::to_string(&r.arguments).unwrap_or_default();
            let detail = match (&r.error, r.outcome.as_str()) {
                (_, "ok") => format!(
                    "{}{}",
                    size(r.result_bytes),
                    if r.truncated { ", cut" } else { "" }
                ),
                (Some(e), o) => format!("{o}: {e}"),
                (None, o) => o.to_string(),
            };
            s.push_str(&format!("  {}. {} {args} — {detail}\n", i + 1, r.tool));
        }
    }
    if !t.not_checked.is_empty() {
        s.push_str("\nNot checked:\n");
        for n in &t.not_checked {
            s.push_str(&format!("  - {n}\n"));
        }
    }
    if !t.unknown_citations.is_empty() {
        s.push_str(&format!(
            "\nThe answer cites fingerprints Kaptain does not know: {}\n",
            t.unknown_citations.join(", ")
        ));
    }
    if t.cited.is_empty() && !t.hypotheses.is_empty() {
        s.push_str("\nRoot causes Kaptain found (the answer cites none of them):\n");
        for h in &t.hypotheses {
            s.push_str(&format!(
                "  - [{}] {} on {}: {}\n",
                h.fingerprint, h.check, h.object, h.title
            ));
        }
    }
    let mut tail = format!(
        "\nAsked {}/{} · {} step{} · {} tokens in, {} out · {}",
        t.provider,
        t.model,
        t.steps.len(),
        if t.steps.len() == 1 { "" } else { "s" },
        t.usage.input_tokens,
        t.usage.output_tokens,
        match t.stop {
            StopReason::Answered => "answered",
            StopReason::StepLimit => "stopped at the step limit",
            StopReason::Budget => "stopped at the token budget",
            StopReason::InvalidCalls => "its tool calls were refused",
        }
    );
    if t.anonymized {
        tail.push_str(" · names anonymized");
    }
    if let Some(w) = why {
        tail.push_str(&format!(" · {w}"));
    }
    s.push_str(&tail);
    s.push('\n');
    s
}

/// `kaptain chat`.
pub fn chat(a: ChatArgs) -> u8 {
    match chat_inner(&a) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("kaptain: error: {msg}");
            EXIT_ERROR
        }
    }
}

fn chat_inner(a: &ChatArgs) -> Result<u8, String> {
    llm_setup::init_tracing();
    let llm = match llm_setup::provider_for(Task::Investigate, &llm_setup::actor()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kaptain: warning: {e}; chatting without an LLM");
            None
        }
    };
    let rt = runtime()?;
    let session = load(&rt, &a.cluster, &a.from, a.now)?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    let mut out = std::io::stdout();
    let json = a.output == AskFormat::Json;
    // The greeting and the prompt only for a person at a terminal, and never among JSON lines.
    let tty = std::io::stdin().is_terminal() && !json;
    let mut inv = llm
        .as_ref()
        .map(|(p, s)| investigator(&session, p.clone(), s));
    if tty {
        let with = match &llm {
            Some((p, _)) => format!("with {}/{}", p.name(), p.model()),
            None => "without an LLM (rule reader)".to_string(),
        };
        let _ = writeln!(
            out,
            "Kaptain chat on {} {with}. Ask in plain words; /quit to leave.",
            session.host.name()
        );
    }
    loop {
        if tty {
            let _ = write!(out, "> ");
            let _ = out.flush();
        }
        let mut line = String::new();
        match lines.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("cannot read stdin: {e}")),
        }
        let q = line.trim();
        if q.is_empty() {
            continue;
        }
        if matches!(q, "/quit" | "/exit" | "/q") {
            break;
        }
        let text = match (inv.as_mut(), json) {
            (Some(inv), false) => match rt.block_on(inv.ask(q, &session.inputs.hypotheses)) {
                Ok(t) => render(&t, None),
                Err(e) => format!("kaptain: error: the LLM failed: {e}\n"),
            },
            (Some(inv), true) => {
                json_line(match rt.block_on(inv.ask(q, &session.inputs.hypotheses)) {
                    Ok(t) => serde_json::json!({"question": q, "transcript": t}),
                    Err(e) => {
                        serde_json::json!({"question": q, "error": format!("the LLM failed: {e}")})
                    }
                })
            }
            (None, false) => rule_answer(&session, q),
            (None, true) => json_line(match rule_reply(&session, q) {
                Ok(ans) => serde_json::json!({"question": q, "answer": ans}),
                Err(e) => serde_json::json!({"question": q, "error": e}),
            }),
        };
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
    Ok(EXIT_CLEAN)
}

/// One answer of `chat -o json`: a single line (JSON Lines).
fn json_line(v: serde_json::Value) -> String {
    serde_json::to_string(&v).unwrap_or_else(|e| {
        serde_json::json!({"error": format!("cannot write the answer: {e}")}).to_string()
    })
}

/// The rule reader's answer to `q` from the session's findings (or why it cannot read `q`).
fn rule_reply(s: &Session, q: &str) -> Result<kaptain_chat::Answer, String> {
    let clusters = vec![s.host.name().to_string()];
    let req = kaptain_chat::parse(
        q,
        &kaptain_chat::Known {
            clusters: &clusters,
        },
    )?;
    Ok(kaptain_chat::answer(&req, Some(&s.host.report().findings)))
}

/// The rule reader's answer to `q` from the session's findings, as text.
pub fn rule_answer(s: &Session, q: &str) -> String {
    match rule_reply(s, q) {
        Ok(ans) => kaptain_chat::render_text(&ans),
        Err(e) => format!("kaptain: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use kaptain_llm::testing::ScriptedProvider;
    use serde_json::json;

    fn shop_session(rt: &tokio::runtime::Runtime) -> Session {
        let c = ClusterArgs {
            kubeconfig: None,
            context: None,
            namespace: None,
            all_namespaces: false,
            selector: None,
            page_size: 2000,
        };
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
        load(rt, &c, &[dir], None).unwrap()
    }

    #[test]
    fn ask_over_the_broken_shop_names_tools_and_what_was_not_checked() {
        let rt = runtime().unwrap();
        let s = shop_session(&rt);
        assert_eq!(s.caller.role, Role::Viewer, "files: the tools only look");
        let p = Arc::new(
            ScriptedProvider::new()
                .then_call(vec![("list_findings", json!({}))])
                .then_say("It is slow because nothing runs; see the findings."),
        );
        let settings = ProviderSettings {
            anonymize: Some(true),
            ..ProviderSettings::default()
        };
        let mut inv = investigator(&s, p.clone(), &settings);
        let t = rt
            .block_on(inv.ask(
                "why is checkout slow since this morning?",
                &s.inputs.hypotheses,
            ))
            .unwrap();
        let text = render(&t, Some("words the rule reader did not know: slow"));
        assert!(
            text.starts_with("It is slow because nothing runs"),
            "{text}"
        );
        assert!(
            text.contains("Tools called:\n  1. list_findings {} — "),
            "{text}"
        );
        assert!(
            text.contains("Root causes Kaptain found (the answer cites none of them)"),
            "{text}"
        );
        assert!(
            text.contains("config.missing-configmap on ConfigMap/shop/checkout-config"),
            "{text}"
        );
        assert!(
            text.contains("names anonymized · words the rule reader did not know: slow"),
            "{text}"
        );
        let sent = p.sent_json().join("\n");
        // The cluster's names, as whole names (a tool's own documentation may show the
        // made-up example pod `checkout-7d9c-x2`, which names nothing here).
        for real in [
            "checkout-config",
            "checkout-th6bf9j2xl",
            "\"checkout\"",
            " checkout ",
            "/checkout",
            "shop/",
            "\"shop\"",
            "ledger",
            "worker-3",
        ] {
            if let Some(i) = sent.find(real) {
                let around: String = sent[i.saturating_sub(120)..].chars().take(240).collect();
                panic!("{real} was sent: …{around}…");
            }
        }
    }

    #[test]
    fn chat_without_an_llm_answers_with_the_rule_reader() {
        let rt = runtime().unwrap();
        let s = shop_session(&rt);
        let a = rule_answer(&s, "why is checkout failing in shop?");
        assert!(a.contains("checkout-config"), "{a}");
    }
}
