//! An [`Answer`] as plain text, for a terminal.

use std::fmt::Write;

use crate::answer::{Answer, label};
use crate::request::Intent;

/// The answer as plain text: how the question was read, the headline, the findings (with cause
/// chains for why, commands for fix), and what to run or ask next.
pub fn render_text(a: &Answer) -> String {
    let mut out = String::new();
    let r = &a.request;
    let _ = writeln!(out, "({})", r.describe());
    let _ = writeln!(out, "{}", a.headline);
    for d in &a.details {
        let _ = writeln!(out, "  {d}");
    }
    if !a.items.is_empty() {
        out.push('\n');
    }
    let roots = matches!(r.intent, Intent::Diagnose | Intent::Why | Intent::Fix);
    for (i, item) in a.items.iter().enumerate() {
        let f = &item.finding;
        let _ = writeln!(
            out,
            "{:>3}. {:<8} {} — {}",
            i + 1,
            f.severity.as_str().to_uppercase(),
            label(&f.object),
            f.title
        );
        if !f.instances.is_empty() {
            const SHOWN: usize = 5;
            let names: Vec<&str> = f
                .instances
                .iter()
                .take(SHOWN)
                .map(|i| i.object.name.as_str())
                .collect();
            let more = f.instances.len().saturating_sub(SHOWN);
            let _ = writeln!(
                out,
                "     pods: {}{}",
                names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        for (k, l) in item.via.iter().enumerate() {
            let arrow = if k == 0 { "via" } else { "  ←" };
            let _ = writeln!(out, "     {arrow} {} — {}", label(&l.object), l.title);
        }
        if roots && item.symptoms > 0 {
            let _ = writeln!(
                out,
                "     {} back to it",
                if item.symptoms == 1 {
                    "1 finding traces".to_string()
                } else {
                    format!("{} findings trace", item.symptoms)
                }
            );
        }
        if roots && !f.remediation.summary.is_empty() {
            let _ = writeln!(out, "     fix: {}", f.remediation.summary);
            if r.intent == Intent::Fix {
                for c in &f.remediation.commands {
                    let _ = writeln!(out, "       $ {c}");
                }
            }
        }
    }
    if a.more > 0 {
        let _ = writeln!(out, "     … and {} more.", a.more);
    }
    if let Some(cli) = &a.cli {
        let _ = writeln!(out, "\nIn the CLI: {cli}");
    }
    if !a.suggestions.is_empty() {
        let quoted: Vec<String> = a.suggestions.iter().map(|s| format!("\"{s}\"")).collect();
        let _ = writeln!(out, "Ask next: {}", quoted.join(", "));
    }
    out
}
