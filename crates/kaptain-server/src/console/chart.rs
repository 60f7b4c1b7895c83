//! The overview's chart: open findings by severity over time, as inline SVG drawn on the
//! server (no JavaScript, no external library).

use kaptain_store::SeverityBucket;
use maud::{Markup, html};

const W: f64 = 600.0;
const H: f64 = 160.0;
const PAD_L: f64 = 36.0;
const PAD_B: f64 = 20.0;

/// (label, CSS class, count of a bucket) per severity, most severe first.
type Series = (&'static str, fn(&SeverityBucket) -> u64);

const SERIES: &[Series] = &[
    ("critical", |b| b.counts.critical),
    ("high", |b| b.counts.high),
    ("medium", |b| b.counts.medium),
    ("low", |b| b.counts.low),
    ("info", |b| b.counts.info),
];

/// A line per severity over `buckets` (oldest first), with a y axis from 0 to the maximum.
pub fn severity_chart(title: &str, buckets: &[SeverityBucket]) -> Markup {
    let max = buckets
        .iter()
        .flat_map(|b| SERIES.iter().map(move |(_, f)| f(b)))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = buckets.len().max(2) as f64 - 1.0;
    let x = |i: usize| PAD_L + (W - PAD_L - 4.0) * (i as f64) / n;
    let y = |v: u64| 4.0 + (H - PAD_B - 4.0) * (1.0 - v as f64 / max as f64);
    html! {
        figure.chart {
            figcaption { (title) }
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) preserveAspectRatio="none" {
                line.axis x1=(PAD_L) y1=(y(0)) x2=(W - 4.0) y2=(y(0)) {}
                line.axis x1=(PAD_L) y1=(y(max)) x2=(PAD_L) y2=(y(0)) {}
                text.tick x=(PAD_L - 4.0) y=(y(max) + 8.0) text-anchor="end" { (max) }
                text.tick x=(PAD_L - 4.0) y=(y(0)) text-anchor="end" { "0" }
                text.tick x=(PAD_L) y=(H - 4.0) { "-24h" }
                text.tick x=(W - 4.0) y=(H - 4.0) text-anchor="end" { "now" }
                @for (name, f) in SERIES {
                    @let points = buckets.iter().enumerate().map(|(i, b)| format!("{:.1},{:.1}", x(i), y(f(b)))).collect::<Vec<_>>().join(" ");
                    polyline class={ "line sev-" (name) } points=(points) {
                        title { (name) ": " (buckets.last().map(f).unwrap_or(0)) " now" }
                    }
                }
            }
            ul.legend {
                @for (name, f) in SERIES {
                    li { span class={ "swatch sev-" (name) } {} (name) " " (buckets.last().map(f).unwrap_or(0)) }
                }
            }
        }
    }
}
