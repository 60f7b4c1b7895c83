//! The investigator: a tool-calling loop over a [`Provider`] and a [`ToolBox`].
//!
//! Given a question and Kaptain's deterministic root causes (as [`Hypothesis`]es), it asks the
//! model with the tools offered, runs the calls the model makes through the tool box, feeds
//! the results back, and stops when the model answers, at the step limit, or when the next
//! call would overrun the token budget. On the way:
//! - the system prompt says cluster text is data, and lists the hypotheses first
//!   ([`crate::prompts`]);
//! - when there are hypotheses and tools, the first step requires a tool call
//!   (`ToolChoice::Required`): the model confirms or refutes before it answers. Small local
//!   models under `auto` answer at once from the prompt (SmolLM2-135M does, with text that
//!   names nothing it was given); later steps leave the choice to the model, and a provider
//!   whose required call fails (no call could be read, or a 400) gets the step again under
//!   `auto`;
//! - only tools in [`ToolBox::specs`] are run; an unknown tool gets an error result;
//!   arguments are checked against the tool's schema, and the first invalid call gets the
//!   problem back to repair; a second one is refused and the model must answer without tools;
//! - tool output is capped in bytes before it enters the context, and old results are
//!   compacted ([`crate::compact`]);
//! - everything sent goes through [`Privacy`] (secrets, credentials, names), and names in the
//!   replies and in tool-call arguments are restored before anything runs.
//!
//! **Citations.** The answer is the model's text, never edited. The [`Transcript`] says which
//! known fingerprints it cites (`cited`), which fingerprint-shaped tokens match no finding
//! Kaptain knows (`unknown_citations`: possibly invented), which hypotheses it neither cited
//! nor looked at (`not_checked`), and whether it stopped early. A face that shows an answer
//! citing nothing shows the deterministic root causes next to it, labelled as Kaptain's own,
//! rather than pretending the model relied on them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::anonymize::Privacy;
use crate::focus::Focus;
use crate::{
    ChatRequest, LlmError, Message, Provider, ToolBox, ToolCall, ToolChoice, ToolSpec, Usage,
    arguments, compact, prompts,
};

/// A deterministic finding handed to the model (and to the explanation task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub fingerprint: String,
    /// The check id (`config.missing-configmap`).
    pub check: String,
    /// `Kind/namespace/name` (or `Kind/name`).
    pub object: String,
    pub severity: String,
    pub title: String,
    /// What is wrong (the finding's message).
    pub summary: String,
    /// `source: detail` lines.
    pub evidence: Vec<String>,
    /// The remediation's summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl From<&kaptain_model::Finding> for Hypothesis {
    fn from(f: &kaptain_model::Finding) -> Hypothesis {
        Hypothesis {
            fingerprint: f.fingerprint.clone(),
            check: f.id.clone(),
            object: f.object.display(),
            severity: f.severity.as_str().to_string(),
            title: f.title.clone(),
            summary: f.message.clone(),
            evidence: f
                .evidence
                .iter()
                .map(|e| {
                    let src = serde_json::to_value(e.source)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    format!("{src}: {}", e.detail)
                })
                .collect(),
            remediation: Some(f.remediation.summary.clone()).filter(|s| !s.is_empty()),
        }
    }
}

impl Hypothesis {
    /// The object's name (the last part of `object`).
    pub fn object_name(&self) -> &str {
        self.object.rsplit('/').next().unwrap_or(&self.object)
    }
}

/// How far an investigation may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Model calls, the final answer included (default 8).
    pub max_steps: usize,
    /// Input + output tokens over all calls (default 32 000).
    pub token_budget: u64,
    /// Tool results kept whole; older ones are compacted (default 3).
    pub keep_whole: usize,
    /// Bytes of one tool result that enter the context (default 8 KiB).
    pub max_tool_bytes: usize,
    /// Output tokens per call (default 1024).
    pub max_output_tokens: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_steps: 8,
            token_budget: 32_000,
            keep_whole: 3,
            max_tool_bytes: 8 * 1024,
            max_output_tokens: 1024,
        }
    }
}

impl Limits {
    /// The default limits with `settings`' `max_tokens` capping each call's output.
    pub fn for_settings(settings: &crate::config::ProviderSettings) -> Limits {
        let mut limits = Limits::default();
        if let Some(m) = settings.max_tokens {
            limits.max_output_tokens = m.max(1);
        }
        limits
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The model gave its answer.
    Answered,
    /// The step limit: the model was told to answer without tools (or did not).
    StepLimit,
    /// The next call would have overrun the token budget.
    Budget,
    /// The model kept sending invalid tool calls; it was told to answer without tools.
    InvalidCalls,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Answered => "answered",
            StopReason::StepLimit => "step-limit",
            StopReason::Budget => "budget",
            StopReason::InvalidCalls => "invalid-calls",
        }
    }
}

/// One tool call the model made and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRun {
    pub tool: String,
    /// The arguments, names restored.
    pub arguments: Value,
    /// `ok`, `error` (the tool failed), `invalid` (arguments did not fit the schema; the
    /// problem went back to the model), `refused` (invalid again, not run), `unknown-tool`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes the tool returned.
    pub result_bytes: usize,
    /// Whether the result was cut before it entered the context.
    pub truncated: bool,
    pub duration_ms: u64,
}

/// One model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub n: usize,
    pub duration_ms: u64,
    pub usage: Usage,
    /// Tool results compacted before this call.
    pub compacted: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolRun>,
    /// What the model said besides its calls (names restored).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// An investigation, for the asker and the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub question: String,
    /// The model's answer, names restored; empty when it gave none.
    pub answer: String,
    pub stop: StopReason,
    pub provider: String,
    pub model: String,
    pub steps: Vec<Step>,
    pub usage: Usage,
    /// Known fingerprints the answer cites.
    pub cited: Vec<String>,
    /// Fingerprint-shaped tokens in the answer that match no finding Kaptain knows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_citations: Vec<String>,
    /// What the investigation did not look at, by Kaptain's own count.
    pub not_checked: Vec<String>,
    /// The deterministic root causes the model was given.
    pub hypotheses: Vec<Hypothesis>,
    /// Whether object names were replaced by placeholders in what was sent.
    pub anonymized: bool,
    pub duration_ms: u64,
}

impl Transcript {
    /// Every tool the model called, in order.
    pub fn tools_called(&self) -> Vec<&ToolRun> {
        self.steps.iter().flat_map(|s| &s.tool_calls).collect()
    }
}

fn total(u: &Usage) -> u64 {
    u.input_tokens + u.output_tokens
}

fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A conversation with the investigator: the same provider, tools, privacy (one placeholder
/// mapping) and limits for every question, and the earlier questions and answers as history
/// (so that "and in staging?" reads as a follow-up).
pub struct Investigator {
    provider: Arc<dyn Provider>,
    tools: Arc<dyn ToolBox>,
    privacy: Privacy,
    limits: Limits,
    history: Vec<Message>,
}

/// Earlier messages kept as history (questions and answers, not tool output).
const HISTORY: usize = 8;

/// Per-run state of the tool calls.
struct CallState {
    invalid_answered: usize,
    refuse_tools: bool,
}

impl Investigator {
    pub fn new(provider: Arc<dyn Provider>, tools: Arc<dyn ToolBox>) -> Investigator {
        Investigator {
            provider,
            tools,
            privacy: Privacy::new(),
            limits: Limits::default(),
            history: Vec::new(),
        }
    }

    pub fn with_privacy(mut self, p: Privacy) -> Investigator {
        self.privacy = p;
        self
    }

    pub fn with_limits(mut self, l: Limits) -> Investigator {
        self.limits = l;
        self
    }

    pub fn privacy(&self) -> &Privacy {
        &self.privacy
    }

    /// Investigates `question` with `hypotheses` first; the answer joins the history.
    pub async fn ask(
        &mut self,
        question: &str,
        hypotheses: &[Hypothesis],
    ) -> Result<Transcript, LlmError> {
        let started = Instant::now();
        // A model with a small context gets the root causes the question names first, fewer
        // of them, and lean tools.
        let focus = Focus::for_context(self.provider.capabilities().context_tokens);
        let hypotheses = &focus.hypotheses(question, hypotheses)[..];
        let specs = focus.tools(self.tools.as_ref());
        let offered: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let mut msgs = vec![Message::system(prompts::investigator_system(
            hypotheses,
            &offered,
            focus.max_evidence,
        ))];
        msgs.extend(self.history.iter().cloned());
        msgs.push(Message::user(question));

        let limits = focus.limit(self.limits);
        let mut usage = Usage::default();
        let mut steps: Vec<Step> = Vec::new();
        let mut state = CallState {
            invalid_answered: 0,
            refuse_tools: false,
        };
        let mut answer = String::new();
        let mut stop = StopReason::StepLimit;
        let mut seen_text = String::new();
        let mut model = self.provider.model().to_string();
        let mut budget_forced = false;
        for n in 1..=limits.max_steps.max(1) {
            let mut force = n >= limits.max_steps || state.refuse_tools;
            // The first step confirms a hypothesis with a tool when there are hypotheses and
            // tools: the model must call one (later steps are its choice).
            let mut must_call = !force && n == 1 && !hypotheses.is_empty() && !specs.is_empty();
            let compacted = compact::compact(&mut msgs, limits.keep_whole);
            let request = |force: bool, must_call: bool| {
                let mut req = ChatRequest {
                    messages: msgs.clone(),
                    // Offered even when no call may be made (`none`): the prompt then starts
                    // as the earlier steps' did, and a model that caches prompt prefixes (the
                    // embedded runtime, llama.cpp, hosted APIs) reads only what is new.
                    tools: specs.clone(),
                    tool_choice: if force {
                        ToolChoice::None
                    } else if must_call {
                        ToolChoice::Required
                    } else {
                        ToolChoice::Auto
                    },
                    max_tokens: Some(limits.max_output_tokens),
                    ..ChatRequest::default()
                };
                if force {
                    req.messages.push(Message::user(prompts::ANSWER_NOW));
                }
                let sent = self.privacy.outgoing_request(&req);
                let estimate =
                    compact::estimate_tokens(&sent) + u64::from(limits.max_output_tokens);
                (sent, estimate)
            };
            let (mut sent, mut estimate) = request(force, must_call);
            // No room for another call after this one: this one is the answer (no tools), so
            // the budget never ends an investigation with nothing to say.
            if !force && total(&usage) + 2 * estimate > limits.token_budget {
                force = true;
                must_call = false;
                budget_forced = true;
                (sent, estimate) = request(true, false);
            }
            if total(&usage) + estimate > limits.token_budget {
                stop = StopReason::Budget;
                break;
            }
            let t0 = Instant::now();
            let resp = match self.provider.chat(&sent).await {
                Ok(r) => r,
                // A model that cannot make a required call (the prompt shim refuses its text,
                // a server rejects `required`) gets the step again with the choice left to it.
                Err(LlmError::Malformed(_) | LlmError::Api { status: 400, .. }) if must_call => {
                    let mut again = sent.clone();
                    again.tool_choice = ToolChoice::Auto;
                    self.provider.chat(&again).await?
                }
                Err(e) => return Err(e),
            };
            usage += resp.usage;
            if !resp.model.is_empty() {
                model = resp.model.clone();
            }
            let reply = self.privacy.incoming_message(&resp.message);
            let mut step = Step {
                n,
                duration_ms: 0,
                usage: resp.usage,
                compacted,
                tool_calls: Vec::new(),
                text: reply.content.clone(),
            };
            if reply.tool_calls.is_empty() || force {
                answer = reply.content.trim().to_string();
                stop = if !force {
                    StopReason::Answered
                } else if state.refuse_tools {
                    StopReason::InvalidCalls
                } else if budget_forced {
                    StopReason::Budget
                } else {
                    StopReason::StepLimit
                };
                step.duration_ms = ms(t0);
                steps.push(step);
                break;
            }
            let calls = unique_ids(n, &reply.tool_calls);
            msgs.push(Message {
                tool_calls: calls.clone(),
                ..Message::assistant(reply.content.clone())
            });
            for call in &calls {
                let (content, run) = self
                    .run_call(call, &specs, &offered, &mut state, limits.max_tool_bytes)
                    .await;
                seen_text.push_str(&content);
                seen_text.push('\n');
                msgs.push(Message::tool_result(call, content));
                step.tool_calls.push(run);
            }
            step.duration_ms = ms(t0);
            steps.push(step);
            if total(&usage) >= limits.token_budget {
                stop = StopReason::Budget;
                break;
            }
        }

        let runs: Vec<&ToolRun> = steps.iter().flat_map(|s| &s.tool_calls).collect();
        let (cited, unknown_citations) = citations(&answer, hypotheses, &seen_text);
        let not_checked = not_checked(hypotheses, &cited, &runs, stop);
        if !answer.is_empty() {
            self.history.push(Message::user(question));
            self.history.push(Message::assistant(answer.clone()));
            let excess = self.history.len().saturating_sub(HISTORY);
            self.history.drain(..excess);
        }
        Ok(Transcript {
            question: question.to_string(),
            answer,
            stop,
            provider: self.provider.name().to_string(),
            model,
            steps,
            usage,
            cited,
            unknown_citations,
            not_checked,
            hypotheses: hypotheses.to_vec(),
            anonymized: self.privacy.anonymizes(),
            duration_ms: ms(started),
        })
    }

    /// Runs one call (or says why not): the tool result's text and the record of it.
    async fn run_call(
        &self,
        call: &ToolCall,
        specs: &[ToolSpec],
        offered: &[String],
        state: &mut CallState,
        max_tool_bytes: usize,
    ) -> (String, ToolRun) {
        let mut run = ToolRun {
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            outcome: "ok".into(),
            error: None,
            result_bytes: 0,
            truncated: false,
            duration_ms: 0,
        };
        let Some(spec) = specs.iter().find(|s| s.name == call.name) else {
            let msg = prompts::unknown_tool(&call.name, offered);
            run.outcome = "unknown-tool".into();
            run.error = Some(msg.clone());
            return (msg, run);
        };
        let checked = arguments::normalize(&call.arguments)
            .and_then(|args| crate::schema::validate(&spec.parameters, &args).map(|()| args));
        let args = match checked {
            Ok(args) => args,
            Err(problem) => {
                run.error = Some(problem.clone());
                if state.invalid_answered == 0 {
                    state.invalid_answered += 1;
                    run.outcome = "invalid".into();
                    return (prompts::invalid_arguments(&call.name, &problem), run);
                }
                state.refuse_tools = true;
                run.outcome = "refused".into();
                return (prompts::refused_again(&call.name), run);
            }
        };
        run.arguments = args.clone();
        let t0 = Instant::now();
        let result = self.tools.call(&call.name, args).await;
        run.duration_ms = ms(t0);
        let text = match result {
            Ok(v) => serde_json::to_string(&v).unwrap_or_else(|e| format!("error: {e}")),
            Err(e) => {
                run.outcome = "error".into();
                run.error = Some(e.clone());
                format!("error: {e}")
            }
        };
        run.result_bytes = text.len();
        let (capped, truncated) = compact::cap(&text, max_tool_bytes);
        run.truncated = truncated;
        (capped, run)
    }
}

/// One-shot investigation (no history).
pub async fn investigate(
    provider: Arc<dyn Provider>,
    tools: Arc<dyn ToolBox>,
    question: &str,
    hypotheses: &[Hypothesis],
    privacy: Privacy,
    limits: Limits,
) -> Result<Transcript, LlmError> {
    Investigator::new(provider, tools)
        .with_privacy(privacy)
        .with_limits(limits)
        .ask(question, hypotheses)
        .await
}

/// Call ids made unique (providers may give none, or repeat them).
fn unique_ids(step: usize, calls: &[ToolCall]) -> Vec<ToolCall> {
    let mut seen = BTreeSet::new();
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut c = c.clone();
            if c.id.trim().is_empty() || !seen.insert(c.id.clone()) {
                c.id = format!("call-{step}-{i}");
                seen.insert(c.id.clone());
            }
            c
        })
        .collect()
}

/// Tokens of 16 lower-case hex digits (Kaptain's fingerprints) in `text`.
pub fn fingerprints_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The known fingerprints the answer cites, and the fingerprint-shaped tokens it invents.
fn citations(answer: &str, hyps: &[Hypothesis], seen: &str) -> (Vec<String>, Vec<String>) {
    let mut known: BTreeSet<String> = hyps.iter().map(|h| h.fingerprint.clone()).collect();
    known.extend(fingerprints_in(seen));
    let found = fingerprints_in(answer);
    let cited = found
        .iter()
        .filter(|f| known.contains(*f))
        .cloned()
        .collect();
    let unknown = found
        .iter()
        .filter(|f| !known.contains(*f))
        .cloned()
        .collect();
    (cited, unknown)
}

fn not_checked(
    hyps: &[Hypothesis],
    cited: &[String],
    runs: &[&ToolRun],
    stop: StopReason,
) -> Vec<String> {
    let mut out = Vec::new();
    match stop {
        StopReason::Answered => {}
        StopReason::StepLimit => {
            out.push("the investigation stopped at the step limit before the model finished".into())
        }
        StopReason::Budget => out.push(
            "the token budget ran out: the model answered with what it had (or could not answer)"
                .into(),
        ),
        StopReason::InvalidCalls => out
            .push("the model's tool calls were refused (invalid arguments twice); it answered without them".into()),
    }
    let looked: Vec<String> = runs
        .iter()
        .filter(|r| r.outcome == "ok")
        .map(|r| r.arguments.to_string())
        .collect();
    for h in hyps {
        let name = h.object_name();
        let examined = looked.iter().any(|a| a.contains(&format!("\"{name}\"")));
        if !cited.contains(&h.fingerprint) && !examined {
            out.push(format!(
                "root cause [fp:{}] {} on {}: neither cited nor looked at",
                h.fingerprint, h.check, h.object
            ));
        }
    }
    if runs.iter().all(|r| r.outcome != "ok") {
        out.push("no tool was run: the answer rests on Kaptain's findings alone".into());
    }
    out
}
