//! `kaptain diagnose`: load (live or files) → analyze → filter → print.

use std::io::IsTerminal;

use kaptain_analyze::{Check, Selection};
use kaptain_engine::scan;
use kaptain_index::{ClusterIndex, LabelSelector, SourceInfo};
use kaptain_model::{Report, SourceKind};
use kaptain_sources::live::{self, ClusterSource, LiveOptions, Progress, Timeouts};

use crate::cli::{ClusterArgs, DiagnoseArgs, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, Format};
use crate::output;

pub fn run(a: DiagnoseArgs) -> u8 {
    match run_inner(&a) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("kaptain: error: {msg}");
            EXIT_ERROR
        }
    }
}

fn run_inner(a: &DiagnoseArgs) -> Result<u8, String> {
    // --explain needs an LLM: say so before scanning.
    let llm = if a.explain {
        Some(crate::explain_cmd::provider()?)
    } else {
        None
    };
    let (reports, mut had_error) = collect(a)?;
    if reports.is_empty() {
        return Ok(EXIT_ERROR);
    }
    match &llm {
        None => output::print_reports(&reports, a.output, a.all_contexts)
            .map_err(|e| format!("cannot write output: {e}"))?,
        Some((provider, settings)) => {
            let cache = crate::explain_cmd::default_cache();
            let (ex, errors) = crate::explain_cmd::explain_all(
                &reports,
                provider.as_ref(),
                settings,
                cache.as_ref(),
            );
            crate::explain_cmd::print(&reports, a.output, a.all_contexts, &ex)?;
            for e in &errors {
                eprintln!("kaptain: error: {e}");
            }
            had_error |= !errors.is_empty();
        }
    }
    let any = reports
        .iter()
        .any(|r| r.findings.iter().any(|f| f.severity >= a.min_severity));
    Ok(if had_error {
        EXIT_ERROR
    } else if any {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    })
}

/// The reports `a` asks for (one per context, or one for the files), and whether anything
/// went wrong on the way (already printed to stderr, one line each).
pub fn collect(a: &DiagnoseArgs) -> Result<(Vec<Report>, bool), String> {
    let checks = kaptain_analyze::select(&Selection {
        only: a.only.clone(),
    })?;
    let selector = a
        .cluster
        .selector
        .as_deref()
        .map(LabelSelector::parse)
        .transpose()?;
    let mut reports = Vec::new();
    let mut had_error = false;
    if !a.from.is_empty() {
        let f = scan::files(&a.from, selector.as_ref()).map_err(|e| e.to_string())?;
        for e in &f.errors {
            eprintln!("kaptain: error: {e}");
        }
        had_error = !f.errors.is_empty();
        let now = a
            .now
            .or(f.info.captured_at)
            .unwrap_or_else(jiff::Timestamp::now);
        let ns = (!a.cluster.all_namespaces)
            .then_some(a.cluster.namespace.clone())
            .flatten();
        reports.push(finish(
            &f.index,
            f.info,
            SourceKind::Snapshot,
            &checks,
            now,
            a,
            ns.as_deref(),
        ));
    } else {
        let contexts: Vec<Option<String>> = if a.all_contexts {
            live::context_names(a.cluster.kubeconfig.as_ref())
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![a.cluster.context.clone()]
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        for ctx in contexts {
            match rt.block_on(scan_live(a, ctx.clone(), &checks)) {
                Ok(r) => reports.push(r),
                Err(e) => {
                    had_error = true;
                    eprintln!("kaptain: error: {e}");
                }
            }
        }
    }
    Ok((reports, had_error))
}

async fn scan_live(
    a: &DiagnoseArgs,
    context: Option<String>,
    checks: &[&Check],
) -> Result<Report, String> {
    let c: &ClusterArgs = &a.cluster;
    let source = ClusterSource::kubeconfig(c.kubeconfig.clone(), context);
    let mut opts = LiveOptions {
        namespace: None,
        label_selector: c.selector.clone(),
        page_size: c.page_size,
        complete: false,
    };
    let cluster = live::connect(&source, Timeouts::REQUESTS)
        .await
        .map_err(|e| e.to_string())?;
    if !c.all_namespaces {
        opts.namespace = Some(
            c.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
        );
    }
    let show =
        std::io::stderr().is_terminal() && matches!(a.output, Format::Table | Format::Markdown);
    let bar = progress_bar(
        show,
        &cluster.context,
        kaptain_analyze::needed_kinds(checks).len(),
    );
    let on_progress = |p: Progress| {
        if let Some(b) = &bar {
            match p {
                Progress::Discovered { kinds } => b.set_length(kinds as u64),
                Progress::Listed { kind, count } => {
                    b.inc(1);
                    b.set_message(format!("{} {}", count, kind.plural()));
                }
                Progress::Skipped { kind, reason } => {
                    b.println(format!("  skipped {}: {reason}", kind.api_label()))
                }
            }
        }
    };
    let res = scan::live(&cluster, &opts, checks, &on_progress).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (idx, info) = res.map_err(|e| e.to_string())?;
    let now = a.now.unwrap_or_else(jiff::Timestamp::now);
    let report = finish(&idx, info, SourceKind::Live, checks, now, a, None);
    // Freeing tens of thousands of objects one by one is a noticeable share of a scan: do it
    // while the report is printed (when the process exits first, that frees everything).
    std::thread::spawn(move || drop(idx));
    Ok(report)
}

fn progress_bar(show: bool, context: &Option<String>, n: usize) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let b = indicatif::ProgressBar::new(n as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} scanning {prefix} [{bar:20}] {pos}/{len} kinds · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.set_prefix(context.clone().unwrap_or_else(|| "cluster".into()));
    b.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(b)
}

fn finish(
    idx: &ClusterIndex,
    info: SourceInfo,
    kind: SourceKind,
    checks: &[&Check],
    now: jiff::Timestamp,
    a: &DiagnoseArgs,
    namespace: Option<&str>,
) -> Report {
    let findings = scan::keep(scan::findings(idx, checks, now), a.min_severity, namespace);
    Report::new(scan::source(kind, &info), info.skipped, findings)
}
