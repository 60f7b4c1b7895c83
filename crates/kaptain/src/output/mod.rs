//! Report rendering: table (grouped by root cause), JSON/YAML (the `kaptain.report/v1`
//! contract) and Markdown.

mod markdown;
mod table;
mod tree;

use std::io::Write;

use kaptain_model::Report;

use crate::cli::Format;

/// Prints the reports. `many` (from `--all-contexts`) makes JSON and YAML a list even when
/// only one context answered, so scripts see one shape.
pub fn print_reports(reports: &[Report], format: Format, many: bool) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    // Stdout is line-buffered: pretty JSON of a big report would be one write per line.
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json => {
            if let ([one], false) = (reports, many) {
                serde_json::to_writer_pretty(&mut out, one)?;
            } else {
                serde_json::to_writer_pretty(&mut out, reports)?;
            }
            writeln!(out)?;
        }
        Format::Yaml => {
            let text = if let ([one], false) = (reports, many) {
                serde_yaml_ng::to_string(one)
            } else {
                serde_yaml_ng::to_string(reports)
            }
            .map_err(std::io::Error::other)?;
            out.write_all(text.as_bytes())?;
        }
        Format::Table => {
            let color = table::use_color();
            let width = table::width();
            for (i, r) in reports.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(table::render(r, color, width).as_bytes())?;
            }
        }
        Format::Markdown => {
            for r in reports {
                out.write_all(markdown::render(r).as_bytes())?;
            }
        }
    }
    out.flush()
}
