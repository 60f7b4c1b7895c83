//! A short plain-language explanation of one root cause (`kaptain diagnose --explain`),
//! written from the finding's evidence only — never whole objects — and cached by
//! fingerprint, provider and model in a directory of small JSON files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::anonymize::Privacy;
use crate::investigate::Hypothesis;
use crate::{ChatRequest, LlmError, Message, Provider, ToolChoice, Usage, prompts};

/// Output tokens an explanation may take.
pub const MAX_TOKENS: u32 = 300;
/// Bumped when the prompt changes, so that old cached texts are not reused.
const PROMPT_VERSION: &str = "v1";

/// One explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub fingerprint: String,
    pub provider: String,
    pub model: String,
    pub text: String,
    /// Whether it came from the cache.
    #[serde(default)]
    pub cached: bool,
}

/// Asks `provider` to explain `h`. The prompt carries the check, the object, the title, the
/// message, the evidence lines and the remediation summary, through `privacy`.
pub async fn explain(
    provider: &dyn Provider,
    h: &Hypothesis,
    privacy: &Privacy,
) -> Result<(Explanation, Usage), LlmError> {
    let req = ChatRequest {
        messages: vec![
            Message::system(prompts::EXPLAIN_SYSTEM),
            Message::user(prompts::explain_user(h)),
        ],
        tool_choice: ToolChoice::None,
        max_tokens: Some(MAX_TOKENS),
        temperature: Some(0.2),
        ..ChatRequest::default()
    };
    let resp = provider.chat(&privacy.outgoing_request(&req)).await?;
    let text = privacy.incoming(resp.message.content.trim());
    if text.is_empty() {
        return Err(LlmError::Malformed(format!(
            "{} returned an empty explanation",
            provider.name()
        )));
    }
    Ok((
        Explanation {
            fingerprint: h.fingerprint.clone(),
            provider: provider.name().to_string(),
            model: if resp.model.is_empty() {
                provider.model().to_string()
            } else {
                resp.model
            },
            text,
            cached: false,
        },
        resp.usage,
    ))
}

/// Explanations on disk: one JSON file per fingerprint, provider and model.
#[derive(Debug, Clone)]
pub struct ExplainCache {
    dir: PathBuf,
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ExplainCache {
    pub fn new(dir: impl Into<PathBuf>) -> ExplainCache {
        ExplainCache { dir: dir.into() }
    }

    /// `${XDG_CACHE_HOME:-~/.cache}/kaptain/explain`, from the environment `env` reads.
    pub fn default_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let base = env("XDG_CACHE_HOME")
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|v| !v.trim().is_empty())
                    .map(|h| Path::new(&h).join(".cache"))
            })?;
        Some(base.join("kaptain").join("explain"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, fingerprint: &str, provider: &str, model: &str) -> PathBuf {
        self.dir.join(format!(
            "{}-{}-{}-{PROMPT_VERSION}.json",
            safe(fingerprint),
            safe(provider),
            safe(model)
        ))
    }

    /// The cached explanation, if any (an unreadable file counts as none).
    pub fn get(&self, fingerprint: &str, provider: &str, model: &str) -> Option<Explanation> {
        let text = std::fs::read_to_string(self.path(fingerprint, provider, model)).ok()?;
        let mut e: Explanation = serde_json::from_str(&text).ok()?;
        e.cached = true;
        Some(e)
    }

    /// Stores `e` (under the model that was asked).
    pub fn put(&self, asked_model: &str, e: &Explanation) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(&e.fingerprint, &e.provider, asked_model);
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_string_pretty(e).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &path)
    }
}

/// The explanation of `h`: from the cache when it has one for this provider and model,
/// otherwise asked and stored (a cache that cannot be written is not an error).
pub async fn explain_cached(
    provider: &dyn Provider,
    h: &Hypothesis,
    privacy: &Privacy,
    cache: Option<&ExplainCache>,
) -> Result<Explanation, LlmError> {
    if let Some(c) = cache
        && let Some(e) = c.get(&h.fingerprint, provider.name(), provider.model())
    {
        return Ok(e);
    }
    let (e, _) = explain(provider, h, privacy).await?;
    if let Some(c) = cache {
        let _ = c.put(provider.model(), &e);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::testing::ScriptedProvider;
    use crate::{Anonymizer, NamedObject};

    fn h() -> Hypothesis {
        Hypothesis {
            fingerprint: "0a1b2c3d4e5f6a7b".into(),
            check: "config.missing-configmap".into(),
            object: "Pod/shop/checkout-7d9c-x2".into(),
            severity: "critical".into(),
            title: "ConfigMap checkout-config is missing".into(),
            summary: "The pod references ConfigMap checkout-config, which does not exist.".into(),
            evidence: vec!["status: CreateContainerConfigError".into()],
            remediation: Some("Create ConfigMap checkout-config.".into()),
        }
    }

    #[tokio::test]
    async fn explains_from_the_evidence_and_caches_by_fingerprint_and_model() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ExplainCache::new(dir.path().join("explain"));
        let p = ScriptedProvider::new()
            .then_say("configmap-1 is missing, so pod-1 cannot start. Create it.");
        let privacy = Privacy::new().with_anonymizer(Anonymizer::new([
            NamedObject::new("Pod", "checkout-7d9c-x2"),
            NamedObject::new("ConfigMap", "checkout-config"),
            NamedObject::new("Namespace", "shop"),
        ]));
        let e = explain_cached(&p, &h(), &privacy, Some(&cache))
            .await
            .unwrap();
        assert_eq!(
            e.text,
            "checkout-config is missing, so checkout-7d9c-x2 cannot start. Create it."
        );
        assert!(!e.cached);
        // What was sent: the evidence, the check, no real name, no tools.
        let sent = p.sent_json().join("\n");
        assert!(
            sent.contains("CreateContainerConfigError")
                && sent.contains("config.missing-configmap")
        );
        assert!(
            !sent.contains("checkout") && !sent.contains("shop"),
            "{sent}"
        );
        assert!(p.requests.lock().unwrap()[0].tools.is_empty());
        // The second time comes from the cache: no call (the provider has no reply left).
        let again = explain_cached(&p, &h(), &privacy, Some(&cache))
            .await
            .unwrap();
        assert!(again.cached);
        assert_eq!(again.text, e.text);
        assert_eq!(p.calls(), 1);
        // Another model is another entry.
        let other = ScriptedProvider::new()
            .named("scripted", "bigger")
            .then_say("other text");
        let o = explain_cached(&other, &h(), &privacy, Some(&cache))
            .await
            .unwrap();
        assert_eq!((o.text.as_str(), o.cached), ("other text", false));
    }

    #[tokio::test]
    async fn an_empty_explanation_is_an_error() {
        let p = ScriptedProvider::new().then_say("  ");
        let e = explain(&p, &h(), &Privacy::new()).await.expect_err("empty");
        assert!(e.to_string().contains("empty explanation"), "{e}");
    }

    #[test]
    fn the_cache_lives_under_xdg_cache_home_or_home() {
        let env = |k: &str| (k == "XDG_CACHE_HOME").then(|| "/x".to_string());
        assert_eq!(
            ExplainCache::default_dir(&env),
            Some(PathBuf::from("/x/kaptain/explain"))
        );
        let env = |k: &str| (k == "HOME").then(|| "/home/a".to_string());
        assert_eq!(
            ExplainCache::default_dir(&env),
            Some(PathBuf::from("/home/a/.cache/kaptain/explain"))
        );
        assert_eq!(ExplainCache::default_dir(&|_| None), None);
    }
}
