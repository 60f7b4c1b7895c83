//! Human output: root causes with their evidence, fix and symptoms, readable at 100 columns,
//! coloured on a terminal (NO_COLOR and CLICOLOR_FORCE are honoured).

use std::fmt::Write as _;
use std::io::IsTerminal;

use kaptain_model::{Report, Severity, SourceKind};
use owo_colors::OwoColorize;

use super::tree::groups;

pub fn use_color() -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    std::io::stdout().is_terminal()
}

pub fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 60)
        .unwrap_or(100)
        .min(160)
}

struct Painter {
    color: bool,
}

impl Painter {
    fn sev(&self, s: Severity) -> String {
        let label = format!("{:<8}", s.as_str().to_uppercase());
        if !self.color {
            return label;
        }
        match s {
            Severity::Critical => label.red().bold().to_string(),
            Severity::High => label.red().to_string(),
            Severity::Medium => label.yellow().to_string(),
            Severity::Low => label.cyan().to_string(),
            Severity::Info => label.dimmed().to_string(),
        }
    }
    fn bold(&self, s: &str) -> String {
        if self.color {
            s.bold().to_string()
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        if self.color {
            s.dimmed().to_string()
        } else {
            s.to_string()
        }
    }
    fn green(&self, s: &str) -> String {
        if self.color {
            s.green().to_string()
        } else {
            s.to_string()
        }
    }
}

/// Wraps `text` to `width` columns; continuation lines start with `indent`.
fn wrap(text: &str, first: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut line_len = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let wl = word.chars().count();
        if !empty && line_len + 1 + wl > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            line_len = indent.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
            line_len += 1;
        }
        line.push_str(word);
        line_len += wl;
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

pub fn render(r: &Report, color: bool, width: usize) -> String {
    let p = Painter { color };
    let mut o = String::new();
    let src = match r.source.kind {
        SourceKind::Live => "live cluster",
        SourceKind::Snapshot => "snapshot",
        SourceKind::Manifests => "manifests",
    };
    let mut head = format!("Kaptain diagnosis · {src}");
    if let Some(c) = &r.source.context {
        let _ = write!(head, " · context {c}");
    }
    if let Some(v) = &r.source.server_version {
        let _ = write!(head, " · server {v}");
    }
    let _ = writeln!(o, "{}", p.bold(&head));
    let s = &r.summary;
    if r.findings.is_empty() {
        let _ = writeln!(o, "{}", p.green("No problems found."));
    } else {
        let _ = writeln!(
            o,
            "{} root cause{} · {} critical · {} high · {} medium · {} low · {} info",
            s.root_causes,
            if s.root_causes == 1 { "" } else { "s" },
            s.critical,
            s.high,
            s.medium,
            s.low,
            s.info
        );
    }
    if !r.skipped.is_empty() {
        let list: Vec<String> = r
            .skipped
            .iter()
            .map(|k| format!("{} ({})", k.api, k.reason))
            .collect();
        o.push_str(&p.dim(&wrap(&list.join(", "), "skipped: ", "         ", width)));
    }
    for (n, g) in groups(&r.findings).iter().enumerate() {
        let f = g.root;
        o.push('\n');
        let prefix = format!("{:>2}. ", n + 1);
        // A root cause is badged with the worst severity of what it breaks.
        let _ = write!(o, "{}{} ", prefix, p.sev(f.urgency()));
        o.push_str(
            &p.bold(wrap(&f.title, "", "              ", width.saturating_sub(13)).trim_end()),
        );
        o.push('\n');
        let _ = writeln!(
            o,
            "    {}",
            p.dim(&format!(
                "{} · {} · confidence {:.2}{}",
                f.id,
                f.object,
                f.confidence,
                if f.urgency() == f.severity {
                    String::new()
                } else {
                    format!(" · {} on its own", f.severity)
                }
            ))
        );
        if !f.message.is_empty() {
            o.push_str(&wrap(&f.message, "    ", "    ", width));
        }
        for e in f.evidence.iter().take(6) {
            let tag = format!("{:?}", e.source).to_lowercase();
            o.push_str(&wrap(
                &e.detail,
                &format!("    {} ", p.dim(&format!("[{tag}]"))),
                "      ",
                width + if color { 9 } else { 0 },
            ));
        }
        if f.evidence.len() > 6 {
            let _ = writeln!(
                o,
                "    {}",
                p.dim(&format!("… {} more (see -o json)", f.evidence.len() - 6))
            );
        }
        if !f.remediation.summary.is_empty() {
            o.push_str(&wrap(
                &f.remediation.summary,
                &format!("    {} ", p.green("fix:")),
                "         ",
                width + if color { 9 } else { 0 },
            ));
        }
        for c in &f.remediation.commands {
            let _ = writeln!(o, "      $ {c}");
        }
        if let Some(patch) = &f.remediation.patch {
            let _ = writeln!(o, "      patch:");
            // JSON patches read better, and fit the width, as YAML.
            let shown = serde_json::from_str::<serde_json::Value>(patch)
                .ok()
                .filter(|v| v.is_object())
                .and_then(|v| serde_yaml_ng::to_string(&v).ok())
                .unwrap_or_else(|| patch.clone());
            for l in shown.lines() {
                let _ = writeln!(o, "        {l}");
            }
        }
        if !g.symptoms.is_empty() {
            let _ = writeln!(o, "    symptoms ({}):", g.symptoms.len());
            for (depth, s) in &g.symptoms {
                let pad = "  ".repeat(*depth);
                let _ = writeln!(
                    o,
                    "    {pad}└ {} {} {}",
                    p.sev(s.severity).trim_end(),
                    s.object,
                    p.dim(&format!("({})", s.id))
                );
                o.push_str(&wrap(
                    &s.title,
                    &format!("    {pad}  "),
                    &format!("    {pad}  "),
                    width,
                ));
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_indent() {
        let w = wrap("aaa bbb ccc ddd", "> ", "  ", 9);
        assert_eq!(w, "> aaa bbb\n  ccc ddd\n");
        for l in w.lines() {
            assert!(l.chars().count() <= 9);
        }
    }
}
