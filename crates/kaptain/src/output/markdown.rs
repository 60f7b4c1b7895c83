//! Markdown output, for tickets, chat and pull requests.

use std::fmt::Write as _;

use kaptain_model::Report;

use super::tree::groups;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Kaptain diagnosis\n");
    let mut src = format!("Source: {:?}", r.source.kind).to_lowercase();
    if let Some(c) = &r.source.context {
        let _ = write!(src, " · context `{c}`");
    }
    if let Some(v) = &r.source.server_version {
        let _ = write!(src, " · server {v}");
    }
    let _ = writeln!(o, "{src} · generated {}\n", r.generated_at);
    let s = &r.summary;
    let _ = writeln!(
        o,
        "| root causes | critical | high | medium | low | info |\n|---|---|---|---|---|---|"
    );
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.root_causes, s.critical, s.high, s.medium, s.low, s.info
    );
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "Skipped APIs:\n");
        for k in &r.skipped {
            let _ = writeln!(o, "- `{}`: {}", k.api, k.reason);
        }
        o.push('\n');
    }
    if r.findings.is_empty() {
        let _ = writeln!(o, "No problems found.");
    }
    for (n, g) in groups(&r.findings).iter().enumerate() {
        let f = g.root;
        let _ = writeln!(
            o,
            "## {}. {} — {}\n",
            n + 1,
            f.urgency().as_str().to_uppercase(),
            md(&f.title)
        );
        let _ = writeln!(
            o,
            "`{}` · `{}` · confidence {:.2}\n",
            f.id, f.object, f.confidence
        );
        if !f.message.is_empty() {
            let _ = writeln!(o, "{}\n", md(&f.message));
        }
        if !f.evidence.is_empty() {
            let _ = writeln!(o, "**Evidence**\n");
            for e in &f.evidence {
                let _ = writeln!(
                    o,
                    "- {}: {}",
                    format!("{:?}", e.source).to_lowercase(),
                    md(&e.detail)
                );
            }
            o.push('\n');
        }
        if !f.remediation.summary.is_empty() {
            let _ = writeln!(o, "**Fix:** {}\n", md(&f.remediation.summary));
        }
        if !f.remediation.commands.is_empty() {
            let _ = writeln!(o, "```sh\n{}\n```\n", f.remediation.commands.join("\n"));
        }
        if let Some(p) = &f.remediation.patch {
            let _ = writeln!(o, "```yaml\n{}\n```\n", p.trim_end());
        }
        if !g.symptoms.is_empty() {
            let _ = writeln!(o, "**Symptoms**\n");
            for (depth, s) in &g.symptoms {
                let _ = writeln!(
                    o,
                    "{}- {} `{}` `{}` — {}",
                    "  ".repeat(depth - 1),
                    s.severity.as_str(),
                    s.id,
                    s.object,
                    md(&s.title)
                );
            }
            o.push('\n');
        }
    }
    o
}

/// Escapes what Markdown would misread in free text.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
