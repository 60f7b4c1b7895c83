//! `kaptain diagnose --explain`: the same report, plus a short plain-language explanation of
//! each root cause written by the LLM routed to the `explain` task, from the finding's
//! evidence only, cached by fingerprint and model under
//! `${XDG_CACHE_HOME:-~/.cache}/kaptain/explain/`.
//!
//! The report itself is unchanged: in JSON and YAML each explained root cause gets one more
//! field, `explanation` (absent without `--explain`); the table and Markdown get a separate
//! section after the report.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use kaptain_llm::config::{ProviderSettings, Task};
use kaptain_llm::explain::{ExplainCache, Explanation, explain_cached};
use kaptain_llm::{Hypothesis, NamedObject, Privacy, Provider};
use kaptain_model::Report;

use crate::cli::Format;
use crate::llm_setup;

/// The explain task's provider, or the one-line reason there is none.
pub fn provider() -> Result<(Arc<dyn Provider>, ProviderSettings), String> {
    llm_setup::init_tracing();
    llm_setup::provider_for(Task::Explain, &llm_setup::actor())?
        .ok_or_else(|| llm_setup::NOT_CONFIGURED.to_string())
}

/// The names a report knows: every finding's object, its namespace and the objects its
/// cause hints name.
pub fn names_of(reports: &[Report]) -> Vec<NamedObject> {
    let mut out = Vec::new();
    for r in reports {
        if let Some(c) = &r.source.context {
            out.push(NamedObject::new("Cluster", c.clone()));
        }
        for f in &r.findings {
            for o in std::iter::once(&f.object).chain(&f.cause_hints) {
                if let Some(ns) = &o.namespace {
                    out.push(NamedObject::new("Namespace", ns.clone()));
                }
            }
        }
        for f in &r.findings {
            for o in std::iter::once(&f.object).chain(&f.cause_hints) {
                out.push(NamedObject::new(o.kind.clone(), o.name.clone()));
            }
        }
    }
    out
}

/// The explanation cache: `${XDG_CACHE_HOME:-~/.cache}/kaptain/explain`.
pub fn default_cache() -> Option<ExplainCache> {
    ExplainCache::default_dir(&|k| std::env::var(k).ok()).map(ExplainCache::new)
}

/// Explanations of every root cause of `reports`, by fingerprint; the errors, one line each.
pub fn explain_all(
    reports: &[Report],
    provider: &dyn Provider,
    settings: &ProviderSettings,
    cache: Option<&ExplainCache>,
) -> (BTreeMap<String, Explanation>, Vec<String>) {
    let privacy = Privacy::for_settings(settings, names_of(reports), Vec::new());
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return (
                BTreeMap::new(),
                vec![format!("cannot start the async runtime: {e}")],
            );
        }
    };
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for f in reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.root_cause)
    {
        if out.contains_key(&f.fingerprint) {
            continue;
        }
        let h = Hypothesis::from(f);
        match rt.block_on(explain_cached(provider, &h, &privacy, cache)) {
            Ok(e) => {
                out.insert(f.fingerprint.clone(), e);
            }
            Err(e) => errors.push(format!(
                "explaining {} on {}: {e}",
                f.id,
                f.object.display()
            )),
        }
    }
    (out, errors)
}

/// `reports` as JSON with an `explanation` on each explained finding.
pub fn with_explanations(
    reports: &[Report],
    ex: &BTreeMap<String, Explanation>,
) -> Result<Vec<serde_json::Value>, String> {
    reports
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).map_err(|e| e.to_string())?;
            if let Some(fs) = v.get_mut("findings").and_then(|f| f.as_array_mut()) {
                for f in fs {
                    let fp = f.get("fingerprint").and_then(|x| x.as_str()).unwrap_or("");
                    if let Some(e) = ex.get(fp) {
                        f["explanation"] = serde_json::json!({
                            "text": e.text, "provider": e.provider, "model": e.model,
                        });
                    }
                }
            }
            Ok(v)
        })
        .collect()
}

/// Prints the reports with their explanations in `format`.
pub fn print(
    reports: &[Report],
    format: Format,
    many: bool,
    ex: &BTreeMap<String, Explanation>,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("cannot write output: {e}");
    match format {
        Format::Json | Format::Yaml => {
            let values = with_explanations(reports, ex)?;
            let one = !many && values.len() == 1;
            let doc = if one {
                values.into_iter().next().unwrap_or_default()
            } else {
                serde_json::Value::Array(values)
            };
            let text = if format == Format::Json {
                serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n"
            } else {
                serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?
            };
            std::io::stdout().write_all(text.as_bytes()).map_err(io)
        }
        Format::Table | Format::Markdown => {
            crate::output::print_reports(reports, format, many).map_err(io)?;
            let text = render_section(reports, ex, format == Format::Markdown);
            std::io::stdout().write_all(text.as_bytes()).map_err(io)
        }
    }
}

/// The explanations section printed after a table or Markdown report.
pub fn render_section(
    reports: &[Report],
    ex: &BTreeMap<String, Explanation>,
    markdown: bool,
) -> String {
    let mut s = String::new();
    let roots: Vec<_> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.root_cause && ex.contains_key(&f.fingerprint))
        .collect();
    if roots.is_empty() {
        return s;
    }
    let models: std::collections::BTreeSet<String> = ex
        .values()
        .map(|e| format!("{}/{}", e.provider, e.model))
        .collect();
    let models = models.into_iter().collect::<Vec<_>>().join(", ");
    if markdown {
        s.push_str(&format!(
            "\n## Explanations\n\n_Written by {models} from each root cause's evidence; the findings above are Kaptain's own._\n\n"
        ));
    } else {
        s.push_str(&format!(
            "\nExplanations (written by {models} from each root cause's evidence; the findings above are Kaptain's own)\n"
        ));
    }
    for f in roots {
        let Some(e) = ex.get(&f.fingerprint) else {
            continue;
        };
        if markdown {
            s.push_str(&format!(
                "- **{}** (`{}`, {}): {}\n",
                f.title,
                f.id,
                f.object.display(),
                e.text.replace('\n', " ")
            ));
        } else {
            s.push_str(&format!("\n  ● {} — {}\n", f.title, f.object.display()));
            for line in wrap(&e.text, 90) {
                s.push_str(&format!("    {line}\n"));
            }
        }
    }
    s
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use kaptain_llm::testing::ScriptedProvider;

    fn shop() -> Report {
        let dir =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
        let f = kaptain_engine::scan::files(&[dir], None).unwrap();
        let checks: Vec<&kaptain_analyze::Check> = kaptain_analyze::catalog().iter().collect();
        kaptain_engine::scan::report(
            &f.index,
            kaptain_engine::scan::source(kaptain_model::SourceKind::Snapshot, &f.info),
            Vec::new(),
            &checks,
            f.info.captured_at.unwrap(),
        )
    }

    #[test]
    fn explanations_are_an_extra_field_and_a_separate_section() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ExplainCache::new(dir.path());
        let r = shop();
        let roots = r.findings.iter().filter(|f| f.root_cause).count();
        let p = ScriptedProvider::new().rule(false, |req| {
            let user = &req.messages[1].content;
            let check = user
                .lines()
                .find_map(|l| l.strip_prefix("check: "))?
                .to_string();
            Some(Ok(kaptain_llm::testing::response(
                kaptain_llm::Message::assistant(format!("Plainly: {check} is the problem.")),
                kaptain_llm::Usage::default(),
                "m",
            )))
        });
        let settings = ProviderSettings {
            anonymize: Some(true),
            ..ProviderSettings::default()
        };
        let (ex, errors) = explain_all(std::slice::from_ref(&r), &p, &settings, Some(&cache));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ex.len(), roots);
        assert_eq!(p.calls(), roots);
        // Only evidence was sent, and names were anonymized.
        let sent = p.sent_json().join("\n");
        assert!(
            !sent.contains("checkout-config") && !sent.contains("\"spec\""),
            "{sent}"
        );
        let plain = serde_json::to_value(&r).unwrap();
        let with = with_explanations(std::slice::from_ref(&r), &ex)
            .unwrap()
            .remove(0);
        // Every field of the report is unchanged; explained root causes get one more.
        let mut stripped = with.clone();
        for f in stripped["findings"].as_array_mut().unwrap() {
            f.as_object_mut().unwrap().remove("explanation");
        }
        assert_eq!(stripped, plain);
        let explained: Vec<&serde_json::Value> = with["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f.get("explanation").is_some())
            .collect();
        assert_eq!(explained.len(), roots);
        assert!(explained.iter().all(|f| f["root_cause"] == true));
        assert!(explained.iter().any(
            |f| f["explanation"]["text"] == "Plainly: config.missing-configmap is the problem."
        ));
        let section = render_section(std::slice::from_ref(&r), &ex, false);
        assert!(
            section.starts_with("\nExplanations (written by scripted/m "),
            "{section}"
        );
        assert!(section.contains("Plainly: config.missing-configmap is the problem."));
        // Cached: a second run asks nothing.
        let (again, _) = explain_all(std::slice::from_ref(&r), &p, &settings, Some(&cache));
        assert_eq!(again.len(), roots);
        assert_eq!(p.calls(), roots);
        assert!(again.values().all(|e| e.cached));
    }
}
