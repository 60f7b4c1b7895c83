//! The config file's `llm:` section: `--config PATH`, else `$XDG_CONFIG_HOME/kaptain/config.yaml`,
//! else `~/.config/kaptain/config.yaml`. Other top-level keys belong to other parts of Kaptain
//! and are ignored here; inside `llm:` an unknown key is an error that names it.
//!
//! Precedence (highest first): command-line flags, env vars (`KAPTAIN_LLM_*`, `OLLAMA_HOST`,
//! ...), the file, defaults. Env vars and flags apply to the default settings; a face that
//! picks a task's route applies its flags over the route as well.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::LlmError;
use crate::config::{LlmSettings, ProviderSettings, Task};

/// The config file read when no `--config` is given (it may not exist).
pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(x) = get("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(x).join("kaptain").join("config.yaml"));
    }
    get("HOME").map(|h| {
        PathBuf::from(h)
            .join(".config")
            .join("kaptain")
            .join("config.yaml")
    })
}

/// The `llm:` section of `path` (or of the default file, when it exists); the file read, if
/// any. A bad file is one line naming the file and the field.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(LlmSettings, Option<PathBuf>), LlmError> {
    let file = match path {
        Some(p) => p.to_path_buf(),
        None => match default_path(env) {
            Some(p) if p.exists() => p,
            _ => return Ok((LlmSettings::default(), None)),
        },
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| LlmError::Config(format!("cannot read {}: {e}", file.display())))?;
    let settings =
        parse(&text).map_err(|e| LlmError::Config(format!("{}: {e}", file.display())))?;
    Ok((settings, Some(file)))
}

/// The `llm:` section of a config file's text.
pub fn parse(text: &str) -> Result<LlmSettings, String> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let llm = match doc {
        Value::Null => return Ok(LlmSettings::default()),
        Value::Mapping(mut m) => match m.remove("llm") {
            None | Some(Value::Null) => return Ok(LlmSettings::default()),
            Some(v) => v,
        },
        _ => return Err("the file must be a mapping of sections (llm: ...)".to_string()),
    };
    section(llm)
}

/// An `llm:` section on its own (YAML or JSON), as the server keeps it in its settings.
pub fn parse_section(text: &str) -> Result<LlmSettings, String> {
    match serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string())? {
        Value::Null => Ok(LlmSettings::default()),
        v => section(v),
    }
}

fn section(llm: Value) -> Result<LlmSettings, String> {
    let Value::Mapping(mut llm) = llm else {
        return Err("llm: must be a mapping (provider: ..., model: ...)".to_string());
    };
    let routes = llm.remove("routes");
    let default: ProviderSettings = at("llm", Value::Mapping(llm))?;
    let mut parsed = std::collections::BTreeMap::new();
    match routes {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                let name = k.as_str().unwrap_or("?").to_string();
                let task: Task = serde_yaml_ng::from_value(k).map_err(|_| {
                    format!("llm.routes: unknown task {name:?} (explain or investigate)")
                })?;
                parsed.insert(task, at(&format!("llm.routes.{name}"), v)?);
            }
        }
        Some(_) => return Err("llm.routes: must be a mapping of task to settings".to_string()),
    }
    let routes = parsed;
    Ok(LlmSettings { default, routes })
}

fn at<T: for<'de> Deserialize<'de>>(prefix: &str, v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            format!("{prefix}: {inner}")
        } else {
            format!("{prefix}.{path}: {inner}")
        }
    })
}

/// The settings a face uses: the file's `llm:` section, env vars over its defaults, `flags`
/// over both.
pub fn resolve(
    flags: &ProviderSettings,
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(LlmSettings, Option<PathBuf>), LlmError> {
    let (mut s, file) = load(path, env)?;
    let from_env = ProviderSettings::from_env(env)?;
    s.default = s.default.overlay(&from_env).overlay(flags);
    Ok((s, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;

    #[test]
    fn only_the_llm_section_is_read() {
        let s = parse(
            "server:\n  listen: 0.0.0.0:8080\nllm:\n  provider: ollama\n  model: qwen2.5\n  tool_mode: prompt\n  routes:\n    explain: { model: small }\n",
        )
        .expect("parses");
        assert_eq!(s.default.provider, Some(ProviderKind::Ollama));
        assert_eq!(s.default.tool_mode, Some(crate::ToolMode::Prompt));
        assert_eq!(s.for_task(Task::Explain).model.as_deref(), Some("small"));
        assert_eq!(parse("other: 1\n").expect("parses"), LlmSettings::default());
        assert_eq!(parse("").expect("parses"), LlmSettings::default());
    }

    #[test]
    fn a_section_alone_reads_like_the_file_s() {
        let s = parse_section(
            "{\"provider\": \"anthropic\", \"routes\": {\"explain\": {\"model\": \"small\"}}}",
        )
        .expect("parses");
        assert_eq!(s.default.provider, Some(ProviderKind::Anthropic));
        assert_eq!(s.for_task(Task::Explain).model.as_deref(), Some("small"));
        let e = parse_section("provder: openai\n").expect_err("bad");
        assert!(e.contains("provder"), "{e}");
    }

    #[test]
    fn a_bad_field_is_named_with_its_path() {
        let e = parse("llm:\n  timeout_secs: soon\n").expect_err("bad");
        assert!(e.starts_with("llm.timeout_secs: invalid type"), "{e}");
        let e = parse("llm:\n  provder: openai\n").expect_err("bad");
        assert!(e.contains("provder"), "{e}");
        let e = parse("llm:\n  routes:\n    explain: { provider: gpt }\n").expect_err("bad");
        assert!(e.starts_with("llm.routes.explain.provider:"), "{e}");
        let e = parse("llm:\n  routes:\n    summarize: { model: x }\n").expect_err("bad");
        assert!(e.contains("unknown task \"summarize\""), "{e}");
        let e = parse("llm: [1\n").expect_err("bad yaml");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn env_and_flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("kaptain-llm-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("kaptain")).expect("dir");
        std::fs::write(
            dir.join("kaptain/config.yaml"),
            "llm:\n  provider: openai\n  model: from-file\n  base_url: http://file:1/v1\n",
        )
        .expect("write");
        let xdg = dir.display().to_string();
        let env = move |k: &str| match k {
            "XDG_CONFIG_HOME" => Some(xdg.clone()),
            "KAPTAIN_LLM_MODEL" => Some("from-env".to_string()),
            _ => None,
        };
        let flags = ProviderSettings {
            base_url: Some("http://flag:2/v1".into()),
            ..ProviderSettings::default()
        };
        let (s, file) = resolve(&flags, None, &env).expect("resolves");
        assert_eq!(file, Some(dir.join("kaptain/config.yaml")));
        assert_eq!(s.default.provider, Some(ProviderKind::OpenAi));
        assert_eq!(s.default.model.as_deref(), Some("from-env"));
        assert_eq!(s.default.base_url.as_deref(), Some("http://flag:2/v1"));
        let missing = dir.join("nope.yaml");
        let e = resolve(&flags, Some(&missing), &env).expect_err("missing file");
        assert!(e.to_string().contains("nope.yaml"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
