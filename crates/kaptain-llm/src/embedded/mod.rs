//! The embedded runtime: a GGUF model run in-process on the CPU (candle; the llama family),
//! so that an air-gapped user gets answers from the kaptain binary alone, given a model file.
//!
//! Everything the model needs comes from the GGUF file itself: the weights, the tokenizer
//! ([`tokenizer`]), the chat template and its end-of-turn token ([`template`]), the context
//! length and, when the file has them, sampling defaults (`general.sampling.*`).
//!
//! Structure is never left to chance: a `response_schema` answer and a tool call are decoded
//! under a constraint ([`constraint`], [`matcher`]): at each step only the tokens that keep the
//! output a valid prefix of a JSON text valid against the schema may be sampled, and the
//! output stops when the value is complete (or, at the token budget, is closed by the shortest
//! completion). Even a 135M model's calls therefore parse and validate.
//!
//! How a tool call is made (the model has no native tool tokens):
//! - `ToolChoice::Required` / `Named`: the answer is `<tool_call>` followed by JSON constrained
//!   to `{"name": <an offered tool>, "arguments": <that tool's schema>}`.
//! - `ToolChoice::Auto` with tools: the model's first token decides. The tools are in the
//!   prompt with the instruction to answer `<tool_call>{...}` to call one; if the first token
//!   sampled (whitespace-only tokens are masked there) starts like a call (`<` or `{`), the
//!   runtime writes `<tool_call>` and decodes the call under the constraint; otherwise the
//!   answer is plain text.
//! - `ToolChoice::None` (or no tools): plain text.

mod constraint;
mod llama;
mod matcher;
mod sampler;
mod schema;
mod template;
mod tokenizer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use llama::Llama;
pub use llama::Precision;
use serde_json::Value;

pub use constraint::{TokenTrie, tool_call_schema};
pub use matcher::{Matcher, State};
pub use sampler::Sampling;
pub use schema::{Schema, SchemaError};
pub use template::ChatTemplate;
pub use tokenizer::{Tokenizer, Utf8Stream};

use crate::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider, ToolCall,
    ToolChoice, ToolSpec, Usage,
};

/// Tokens generated when neither the request nor the settings say.
const DEFAULT_MAX_TOKENS: u32 = 512;
/// Prompt tokens fed to the model at once.
const PROMPT_CHUNK: usize = 512;
/// The longest context used, whatever the file says (the KV cache grows with it).
const MAX_CONTEXT: usize = 32768;

/// How the embedded provider runs.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// The seed of `chat` (each call starts from it, so an answer is reproducible).
    pub seed: u64,
    /// Sampling instead of the file's (or the built-in) defaults.
    pub sampling: Option<Sampling>,
    /// A temperature over the defaults (the settings' `temperature`).
    pub temperature: Option<f32>,
    /// Tokens per answer when the request does not say.
    pub max_tokens: Option<u32>,
    /// Plain text goes on past the stop tokens, to the token budget (benchmarks only).
    pub ignore_stops: bool,
    /// How the weights are held; `None`: f16 when they fit 3 GiB, else as the file has them.
    pub precision: Option<Precision>,
}

/// Figures of one generation (for benchmarks and logs).
#[derive(Debug, Clone, Default)]
pub struct GenStats {
    pub prompt_tokens: usize,
    /// Of `prompt_tokens`, those already in the KV cache from the previous call (not fed
    /// again).
    pub cached_prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the call to the first generated token.
    pub time_to_first_token: Duration,
    /// Prompt processing.
    pub prompt_time: Duration,
    /// From the first generated token to the last.
    pub generation_time: Duration,
    /// Time spent computing constraint masks, and how many.
    pub mask_time: Duration,
    pub mask_steps: usize,
}

/// A GGUF model loaded in memory, ready to answer.
pub struct EmbeddedProvider {
    inner: Arc<Inner>,
    opts: EmbeddedOptions,
    sampling: Sampling,
}

struct Inner {
    file: PathBuf,
    model_name: String,
    model: Mutex<Llama>,
    precision: Precision,
    tok: Tokenizer,
    trie: TokenTrie,
    template: ChatTemplate,
    /// Tokens that end an answer (eos, end of turn).
    stops: Vec<u32>,
    context: usize,
    /// The file's sampling defaults (`general.sampling.*`, else the built-in ones).
    file_sampling: Sampling,
    load_time: Duration,
}

static CALL_IDS: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for EmbeddedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedProvider")
            .field("file", &self.inner.file)
            .field("context", &self.inner.context)
            .finish()
    }
}

fn md_f32(ct: &gguf_file::Content, key: &str) -> Option<f32> {
    ct.metadata.get(key).and_then(|v| {
        v.to_f32()
            .ok()
            .or_else(|| v.to_f64().ok().map(|f| f as f32))
    })
}

fn md_u64(ct: &gguf_file::Content, key: &str) -> Option<u64> {
    ct.metadata.get(key).and_then(|v| {
        v.to_u64()
            .ok()
            .or_else(|| v.to_u32().ok().map(u64::from))
            .or_else(|| v.to_i32().ok().and_then(|i| u64::try_from(i).ok()))
    })
}

impl EmbeddedProvider {
    /// Loads `file` (a GGUF of the llama family: llama, mistral, SmolLM, TinyLlama, ...).
    pub fn load(file: &Path, opts: EmbeddedOptions) -> Result<EmbeddedProvider, LlmError> {
        let start = Instant::now();
        let shown = file.display().to_string();
        let mut f = File::open(file).map_err(|e| {
            LlmError::Config(format!(
                "the embedded model file {shown} cannot be opened: {e}"
            ))
        })?;
        let ct = gguf_file::Content::read(&mut f).map_err(|e| {
            LlmError::Model(format!("{shown} is not a readable GGUF model file: {e}"))
        })?;
        let arch = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            return Err(LlmError::Model(format!(
                "{shown}: architecture {arch:?} is not supported by the embedded runtime (llama-family GGUF files are)"
            )));
        }
        let tok = Tokenizer::from_gguf(&ct, &shown)?;
        let text_of = |id: Option<u32>| {
            id.map(|i| String::from_utf8_lossy(tok.token_bytes(i)).into_owned())
                .unwrap_or_default()
        };
        let template = ChatTemplate::new(
            ct.metadata
                .get("tokenizer.chat_template")
                .and_then(|v| v.to_string().ok())
                .cloned(),
            text_of(tok.bos),
            text_of(tok.eos),
        )
        .map_err(|e| LlmError::Model(format!("{shown}: {e}")))?;
        let mut stops: Vec<u32> = tok.eos.into_iter().collect();
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let Some(id) = md_u64(&ct, key) {
                stops.push(id as u32);
            }
        }
        for t in template.end_of_turn_candidates() {
            if let Some(id) = tok.special_id(t) {
                stops.push(id);
            }
        }
        stops.sort_unstable();
        stops.dedup();
        let context = md_u64(&ct, &format!("{arch}.context_length"))
            .map(|c| c as usize)
            .unwrap_or(2048)
            .clamp(64, MAX_CONTEXT);
        let d = Sampling::default();
        let file_sampling = Sampling {
            temperature: md_f32(&ct, "general.sampling.temp").unwrap_or(d.temperature),
            top_k: md_u64(&ct, "general.sampling.top_k")
                .map(|k| k as usize)
                .unwrap_or(d.top_k),
            top_p: md_f32(&ct, "general.sampling.top_p").unwrap_or(d.top_p),
            repeat_penalty: md_f32(&ct, "general.sampling.penalty_repeat")
                .unwrap_or(d.repeat_penalty),
            repeat_last_n: md_u64(&ct, "general.sampling.penalty_last_n")
                .map(|n| n as usize)
                .unwrap_or(d.repeat_last_n),
        };
        let model_name = ct
            .metadata
            .get("general.name")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        let (model, precision) = Llama::load(&ct, &mut f, context, opts.precision)
            .map_err(|e| LlmError::Model(format!("{shown}: the weights cannot be loaded: {e}")))?;
        let trie = TokenTrie::new(&tok);
        let load_time = start.elapsed();
        tracing::debug!(file = %shown, ?load_time, context, ?precision, "embedded model loaded");
        let inner = Arc::new(Inner {
            file: file.to_path_buf(),
            model_name,
            model: Mutex::new(model),
            precision,
            tok,
            trie,
            template,
            stops,
            context,
            file_sampling,
            load_time,
        });
        Ok(EmbeddedProvider::with_options(&inner, opts))
    }

    /// A provider over loaded weights with its own options.
    fn with_options(inner: &Arc<Inner>, opts: EmbeddedOptions) -> EmbeddedProvider {
        let mut sampling = opts.sampling.unwrap_or(inner.file_sampling);
        if let Some(t) = opts.temperature {
            sampling.temperature = t.max(0.0);
        }
        EmbeddedProvider {
            inner: Arc::clone(inner),
            opts,
            sampling,
        }
    }

    /// How long loading took.
    pub fn load_time(&self) -> Duration {
        self.inner.load_time
    }

    /// How the weights are held.
    pub fn precision(&self) -> Precision {
        self.inner.precision
    }

    /// The model's context length (tokens of prompt and answer together).
    pub fn context_length(&self) -> usize {
        self.inner.context
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tok
    }

    /// The sampling defaults in force.
    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// The tokens that end an answer.
    pub fn stop_tokens(&self) -> &[u32] {
        &self.inner.stops
    }

    /// Forgets the tokens in the KV cache: the next call feeds its whole prompt (benchmarks
    /// measure prompt processing this way).
    pub fn forget_cached(&self) {
        if let Ok(mut m) = self.inner.model.lock() {
            m.forget();
        }
    }

    /// The prompt the chat template makes of `req` (what the model reads).
    pub fn render_prompt(&self, req: &ChatRequest) -> Result<String, LlmError> {
        let (tools, _) = offered_tools(req)?;
        self.inner
            .template
            .render(&req.messages, &tools, schema_instructions(req).as_deref())
    }

    /// One generation, on the calling thread (it blocks). `seed` makes it reproducible;
    /// `on_text` gets the answer's text as it is decoded.
    pub fn generate(
        &self,
        req: &ChatRequest,
        seed: u64,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(ChatResponse, GenStats), LlmError> {
        self.inner
            .generate(req, seed, self.settings(), on_text, &AtomicBool::new(false))
    }

    /// `chat` with a seed of the caller's (tests run several seeded generations).
    pub async fn chat_seeded(
        &self,
        req: &ChatRequest,
        seed: u64,
    ) -> Result<ChatResponse, LlmError> {
        self.run(req, seed, None).await
    }

    async fn run(
        &self,
        req: &ChatRequest,
        seed: u64,
        on_text: Option<&mut (dyn for<'t> FnMut(&'t str) + Send)>,
    ) -> Result<ChatResponse, LlmError> {
        let inner = Arc::clone(&self.inner);
        let req = req.clone();
        let settings = self.settings();
        let cancel = Arc::new(AtomicBool::new(false));
        // Dropping the future (a timeout, a client gone) stops the generation at the next token.
        struct CancelOnDrop(Arc<AtomicBool>);
        impl Drop for CancelOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _guard = CancelOnDrop(Arc::clone(&cancel));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let streaming = on_text.is_some();
        let handle = tokio::task::spawn_blocking(move || {
            let mut send = |t: &str| {
                if streaming {
                    let _ = tx.send(t.to_string());
                }
            };
            inner.generate(&req, seed, settings, &mut send, &cancel)
        });
        if let Some(cb) = on_text {
            while let Some(t) = rx.recv().await {
                cb(&t);
            }
        }
        let r = handle
            .await
            .map_err(|e| LlmError::Model(format!("the embedded model's thread failed: {e}")))??;
        Ok(r.0)
    }
}

/// Sampling and the token budget of one provider.
#[derive(Debug, Clone, Copy)]
struct Settings {
    sampling: Sampling,
    max_tokens: Option<u32>,
    ignore_stops: bool,
}

impl EmbeddedProvider {
    fn settings(&self) -> Settings {
        Settings {
            sampling: self.sampling,
            max_tokens: self.opts.max_tokens,
            ignore_stops: self.opts.ignore_stops,
        }
    }
}

/// The tools a request offers the model, and whether a call is required.
fn offered_tools(req: &ChatRequest) -> Result<(Vec<ToolSpec>, bool), LlmError> {
    match &req.tool_choice {
        _ if req.tools.is_empty() => Ok((Vec::new(), false)),
        // Shown, but not callable: the prompt stays the one of the steps before (whose KV
        // cache is reused), and decoding is plain text.
        ToolChoice::None | ToolChoice::Auto => Ok((req.tools.clone(), false)),
        ToolChoice::Required => Ok((req.tools.clone(), true)),
        ToolChoice::Named(n) => {
            let t: Vec<ToolSpec> = req.tools.iter().filter(|t| &t.name == n).cloned().collect();
            if t.is_empty() {
                return Err(LlmError::Config(format!(
                    "tool_choice names {n:?}, which is not among the request's tools"
                )));
            }
            Ok((t, true))
        }
    }
}

fn schema_instructions(req: &ChatRequest) -> Option<String> {
    req.response_schema
        .as_ref()
        .map(|s| format!("Answer with only a JSON value valid against this JSON Schema:\n{s}"))
}

/// What is being decoded.
enum Mode {
    Text,
    /// Text, or a call if the first token starts one.
    TextOrCall(Vec<ToolSpec>),
    Call(Vec<ToolSpec>),
    Json(Value),
}

/// A generation in progress: the model (locked), the position in its KV cache and the
/// logits of the next token.
struct Run<'a> {
    model: std::sync::MutexGuard<'a, Llama>,
    pos: usize,
    logits: Vec<f32>,
    context: usize,
    file: &'a Path,
}

impl Run<'_> {
    fn feed(&mut self, tokens: &[u32]) -> Result<(), LlmError> {
        if self.pos + tokens.len() > self.context {
            return Err(LlmError::Model(format!(
                "{}: the context ({} tokens) is full",
                self.file.display(),
                self.context
            )));
        }
        let err = |e: candle_core::Error| LlmError::Model(format!("embedded model: {e}"));
        for chunk in tokens.chunks(PROMPT_CHUNK) {
            let input = Tensor::new(chunk, &Device::Cpu)
                .and_then(|t| t.unsqueeze(0))
                .map_err(err)?;
            let logits = self.model.forward(&input, self.pos).map_err(err)?;
            self.pos += chunk.len();
            self.logits = logits
                .squeeze(0)
                .and_then(|l| l.to_dtype(candle_core::DType::F32))
                .and_then(|l| l.to_vec1::<f32>())
                .map_err(err)?;
        }
        Ok(())
    }
}

impl Inner {
    fn generate(
        &self,
        req: &ChatRequest,
        seed: u64,
        settings: Settings,
        on_text: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<(ChatResponse, GenStats), LlmError> {
        let started = Instant::now();
        let (tools, required) = offered_tools(req)?;
        let calls = !matches!(req.tool_choice, ToolChoice::None);
        let mode = if !tools.is_empty() && calls {
            if required {
                Mode::Call(tools.clone())
            } else {
                Mode::TextOrCall(tools.clone())
            }
        } else if let Some(s) = &req.response_schema {
            Mode::Json(s.clone())
        } else {
            Mode::Text
        };
        let prompt =
            self.template
                .render(&req.messages, &tools, schema_instructions(req).as_deref())?;
        let mut prompt_ids = Vec::new();
        if self.tok.add_bos
            && let Some(b) = self.tok.bos
        {
            prompt_ids.push(b);
        }
        prompt_ids.extend(self.tok.encode(&prompt));
        // Room for the answer: at least a few tokens.
        if prompt_ids.len() + 8 > self.context {
            return Err(LlmError::Model(format!(
                "the prompt is {} tokens; the model's context ({}) holds {} at most with room for an answer: shorten the conversation or the tool results",
                prompt_ids.len(),
                self.context,
                self.context.saturating_sub(8)
            )));
        }
        let want = req
            .max_tokens
            .or(settings.max_tokens)
            .unwrap_or(DEFAULT_MAX_TOKENS) as usize;
        let max_new = want.min(self.context - prompt_ids.len()).max(1);
        let mut sampling = settings.sampling;
        if let Some(t) = req.temperature {
            sampling.temperature = t.max(0.0);
        }
        let model = self
            .model
            .lock()
            .map_err(|_| LlmError::Model("the embedded model failed in an earlier call".into()))?;
        // The KV cache keeps the last call's tokens: a prompt that starts with them (the next
        // step of a conversation) is fed from where it differs. One token at least is fed,
        // for the logits of the next one.
        let shared = model
            .cached()
            .iter()
            .zip(&prompt_ids)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt_ids.len().saturating_sub(1));
        let mut run = Run {
            model,
            pos: shared,
            logits: Vec::new(),
            context: self.context,
            file: &self.file,
        };
        let mut stats = GenStats {
            prompt_tokens: prompt_ids.len(),
            cached_prompt_tokens: shared,
            ..GenStats::default()
        };
        run.feed(&prompt_ids[shared..])?;
        stats.prompt_time = started.elapsed();
        let mut rng = sampler::Rng::new(seed);
        let mut g = Gen {
            inner: self,
            run,
            rng: &mut rng,
            sampling,
            generated: Vec::new(),
            max_new,
            ignore_stops: settings.ignore_stops,
            cancel,
            stats: &mut stats,
            started,
        };
        let (message, finish) = match mode {
            Mode::Text => g.text(on_text, None)?,
            Mode::TextOrCall(tools) => {
                // The first token decides: whitespace-only tokens are masked there.
                let allowed: Vec<bool> = (0..self.tok.vocab_size() as u32)
                    .map(|id| {
                        let b = self.tok.token_bytes(id);
                        self.stops.contains(&id)
                            || (!self.tok.is_special(id)
                                && b.iter().any(|c| !c.is_ascii_whitespace()))
                    })
                    .collect();
                let first = g.sample(Some(&allowed))?;
                let text = String::from_utf8_lossy(self.tok.token_bytes(first)).into_owned();
                let t = text.trim_start();
                if t.starts_with('<') || t.starts_with('{') {
                    g.call(&tools)?
                } else {
                    g.text(on_text, Some(first))?
                }
            }
            Mode::Call(tools) => g.call(&tools)?,
            Mode::Json(schema) => g.json(&schema, on_text)?,
        };
        let generated = g.generated.len();
        drop(g);
        stats.generated_tokens = generated;
        Ok((
            ChatResponse {
                message,
                finish,
                usage: Usage {
                    input_tokens: stats.prompt_tokens as u64,
                    output_tokens: generated as u64,
                },
                model: self.model_name.clone(),
            },
            stats,
        ))
    }
}

/// The decoding loop's state.
struct Gen<'a> {
    inner: &'a Inner,
    run: Run<'a>,
    rng: &'a mut sampler::Rng,
    sampling: Sampling,
    /// Tokens generated (fed back), forced ones included.
    generated: Vec<u32>,
    max_new: usize,
    ignore_stops: bool,
    cancel: &'a AtomicBool,
    stats: &'a mut GenStats,
    started: Instant,
}

impl Gen<'_> {
    fn check_cancel(&self) -> Result<(), LlmError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(LlmError::Timeout("the generation was cancelled".into()));
        }
        Ok(())
    }

    fn sample(&mut self, allowed: Option<&[bool]>) -> Result<u32, LlmError> {
        self.check_cancel()?;
        let mut s = self.sampling;
        if allowed.is_some() {
            // Braces and quotes repeat in JSON by nature.
            s.repeat_penalty = 1.0;
        }
        sampler::sample(&self.run.logits, allowed, &self.generated, &s, self.rng).ok_or_else(|| {
            LlmError::Model(
                "no token is allowed at this point (a constraint without a way on)".into(),
            )
        })
    }

    /// Appends `t` to the answer and runs the model over it.
    fn accept(&mut self, t: u32) -> Result<(), LlmError> {
        if self.generated.is_empty() {
            self.stats.time_to_first_token = self.started.elapsed();
        }
        self.generated.push(t);
        self.run.feed(&[t])?;
        self.stats.generation_time = self.started.elapsed() - self.stats.time_to_first_token;
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.max_new.saturating_sub(self.generated.len())
    }

    /// Plain text until a stop token or the budget; `first` was sampled already.
    fn text(
        &mut self,
        on_text: &mut dyn FnMut(&str),
        mut first: Option<u32>,
    ) -> Result<(Message, FinishReason), LlmError> {
        let mut out = Utf8Stream::default();
        let mut text = String::new();
        let finish = loop {
            let t = match first.take() {
                Some(t) => t,
                None => self.sample(None)?,
            };
            if self.inner.stops.contains(&t) && !self.ignore_stops {
                break FinishReason::Stop;
            }
            let piece = if self.inner.tok.is_special(t) {
                // A special token in the middle of text (not a stop): not shown.
                String::new()
            } else {
                out.push(self.inner.tok.token_bytes(t))
            };
            if !piece.is_empty() {
                on_text(&piece);
                text.push_str(&piece);
            }
            if self.remaining() <= 1 {
                self.generated.push(t);
                break FinishReason::Length;
            }
            self.accept(t)?;
        };
        let rest = out.finish();
        if !rest.is_empty() {
            on_text(&rest);
            text.push_str(&rest);
        }
        Ok((Message::assistant(text.trim_end().to_string()), finish))
    }

    /// JSON constrained to `matcher`'s schema; returns its bytes and whether the budget cut it
    /// (then closed by the shortest completion).
    fn constrained(
        &mut self,
        matcher: &Matcher,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(Vec<u8>, bool), LlmError> {
        let vocab = self.inner.tok.vocab_size();
        let mut state = matcher.start();
        let mut masks: std::collections::HashMap<State, Vec<bool>> = Default::default();
        let mut bytes: Vec<u8> = Vec::new();
        let mut out = Utf8Stream::default();
        loop {
            let complete = matcher.is_complete(&state);
            if complete && !matcher.can_continue(&state) {
                return Ok((bytes, false));
            }
            // Out of budget: close the value with the shortest completion.
            if let Some(tail) = matcher
                .completion(&state)
                .filter(|t| t.len() >= self.remaining())
            {
                let shown = out.push(&tail);
                on_text(&(shown + &out.finish()));
                bytes.extend(tail);
                return Ok((bytes, true));
            }
            let t0 = Instant::now();
            let key = matcher.mask_key(&state);
            let mut allowed = match masks.get(&key) {
                Some(m) => m.clone(),
                None => {
                    let mut m = vec![false; vocab];
                    self.inner.trie.allowed(matcher, &state, &mut m);
                    masks.insert(key, m.clone());
                    m
                }
            };
            if complete {
                for s in &self.inner.stops {
                    if let Some(a) = allowed.get_mut(*s as usize) {
                        *a = true;
                    }
                }
            }
            self.stats.mask_time += t0.elapsed();
            self.stats.mask_steps += 1;
            let t = self.sample(Some(&allowed))?;
            if self.inner.stops.contains(&t) {
                return Ok((bytes, false));
            }
            let tb = self.inner.tok.token_bytes(t);
            state = matcher.advance(&state, tb).ok_or_else(|| {
                LlmError::Model("the constraint accepted a token it then rejected".into())
            })?;
            bytes.extend_from_slice(tb);
            let shown = out.push(tb);
            if !shown.is_empty() {
                on_text(&shown);
            }
            self.accept(t)?;
        }
    }

    fn json(
        &mut self,
        schema: &Value,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<(Message, FinishReason), LlmError> {
        let compiled = Schema::compile(schema)
            .map_err(|e| LlmError::Config(format!("response_schema: {e}")))?;
        let matcher = Matcher::new(compiled);
        let (bytes, cut) = self.constrained(&matcher, on_text)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| LlmError::Malformed(format!("constrained answer is not UTF-8: {e}")))?;
        let finish = if cut {
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        Ok((Message::assistant(text), finish))
    }

    fn call(&mut self, tools: &[ToolSpec]) -> Result<(Message, FinishReason), LlmError> {
        let refs: Vec<&ToolSpec> = tools.iter().collect();
        let compiled =
            tool_call_schema(&refs).map_err(|e| LlmError::Config(format!("tools: {e}")))?;
        let matcher = Matcher::new(compiled);
        let opener = self.inner.tok.encode(&format!("{}\n", template::CALL_OPEN));
        for t in opener {
            self.accept(t)?;
        }
        let (bytes, _cut) = self.constrained(&matcher, &mut |_| {})?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            LlmError::Malformed(format!(
                "the constrained tool call does not parse ({e}): {}",
                String::from_utf8_lossy(&bytes)
            ))
        })?;
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let arguments = v.get("arguments").cloned().unwrap_or(Value::Null);
        let mut m = Message::assistant(String::new());
        m.tool_calls.push(ToolCall {
            id: format!("call_{}", CALL_IDS.fetch_add(1, Ordering::Relaxed)),
            name,
            arguments,
        });
        Ok((m, FinishReason::ToolCalls))
    }
}

#[async_trait::async_trait]
impl Provider for EmbeddedProvider {
    fn name(&self) -> &str {
        "embedded"
    }

    fn model(&self) -> &str {
        &self.inner.model_name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_tools: true,
            constrained: true,
            streaming: true,
            context_tokens: u32::try_from(self.inner.context).ok(),
        }
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.run(req, self.opts.seed, None).await
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ChatResponse, LlmError> {
        self.run(req, self.opts.seed, Some(on_text)).await
    }
}

/// `~/` at the start of a path is the home directory.
pub fn expand_home(p: &Path) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_prefix("~/")) {
        Some(rest) => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(rest),
            None => p.to_path_buf(),
        },
        None => p.to_path_buf(),
    }
}

/// The provider for `file`, loaded once per process: routes (explain, investigate) naming the
/// same file share one copy of the weights while any of them is alive.
pub fn shared(file: &Path, opts: EmbeddedOptions) -> Result<Arc<dyn Provider>, LlmError> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, Weak};
    type Cache = Mutex<HashMap<PathBuf, Weak<Inner>>>;
    static LOADED: OnceLock<Cache> = OnceLock::new();
    let key = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let cache = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache
        .lock()
        .map_err(|_| LlmError::Model("the embedded model cache failed".into()))?;
    if let Some(inner) = map.get(&key).and_then(Weak::upgrade) {
        // The same weights; settings of this route over them.
        let p = EmbeddedProvider::with_options(&inner, opts);
        return Ok(Arc::new(p));
    }
    let p = EmbeddedProvider::load(file, opts)?;
    map.insert(key, Arc::downgrade(&p.inner));
    Ok(Arc::new(p))
}
