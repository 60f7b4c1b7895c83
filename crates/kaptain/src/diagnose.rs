//! `kaptain diagnose`: load (live or files) → analyze → filter → print.

use std::io::IsTerminal;

use kaptain_analyze::{Check, Selection};
use kaptain_cluster::live::{self, LiveOptions, Progress};
use kaptain_cluster::{AnyObject, ClusterIndex, LabelSelector, SourceInfo, offline};
use kaptain_model::{Finding, Report, ReportSource, Severity, SourceKind};

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
    let (reports, had_error) = collect(a)?;
    if reports.is_empty() {
        return Ok(EXIT_ERROR);
    }
    output::print_reports(&reports, a.output, a.all_contexts)
        .map_err(|e| format!("cannot write output: {e}"))?;
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
        let loaded = offline::load_paths(&a.from).map_err(|e| e.to_string())?;
        for e in &loaded.errors {
            eprintln!("kaptain: error: {e}");
        }
        had_error = !loaded.errors.is_empty();
        if loaded.objects.is_empty() {
            return Err(format!(
                "no Kubernetes objects found in {}",
                a.from
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let now = a
            .now
            .or(loaded.info.captured_at)
            .unwrap_or_else(jiff::Timestamp::now);
        let objects = filter_by_selector(loaded.objects, selector.as_ref());
        let idx = ClusterIndex::build(objects, &loaded.declared_kinds);
        let info = loaded.info;
        let ns = (!a.cluster.all_namespaces)
            .then_some(a.cluster.namespace.clone())
            .flatten();
        reports.push(finish(
            &idx,
            info,
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

fn filter_by_selector(objects: Vec<AnyObject>, sel: Option<&LabelSelector>) -> Vec<AnyObject> {
    match sel {
        None => objects,
        Some(sel) => objects
            .into_iter()
            .filter(|o| {
                !live::selector_applies(o.kind()) || sel.matches(o.metadata().labels.as_ref())
            })
            .collect(),
    }
}

async fn scan_live(
    a: &DiagnoseArgs,
    context: Option<String>,
    checks: &[&Check],
) -> Result<Report, String> {
    let c: &ClusterArgs = &a.cluster;
    let mut opts = LiveOptions {
        kubeconfig: c.kubeconfig.clone(),
        context,
        namespace: None,
        label_selector: c.selector.clone(),
        page_size: c.page_size,
        complete: false,
    };
    let cluster = live::connect(&opts).await.map_err(|e| e.to_string())?;
    if !c.all_namespaces {
        opts.namespace = Some(
            c.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
        );
    }
    let kinds = kaptain_analyze::needed_kinds(checks);
    let show =
        std::io::stderr().is_terminal() && matches!(a.output, Format::Table | Format::Markdown);
    let bar = progress_bar(show, &cluster.context, kinds.len());
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
    let res = cluster.load(&kinds, &opts, &on_progress).await;
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
    let findings = kaptain_analyze::analyze(idx, checks, now);
    let findings = keep(findings, a.min_severity, namespace);
    let source = ReportSource {
        kind,
        context: info.context,
        server_version: info.server_version,
    };
    Report::new(source, info.skipped, findings)
}

/// Keeps findings at or above `min` (in `namespace`, plus cluster-scoped ones), and every
/// finding they trace back to, so no `caused_by` dangles.
pub fn keep(findings: Vec<Finding>, min: Severity, namespace: Option<&str>) -> Vec<Finding> {
    let in_namespace = |f: &Finding| match (namespace, f.object.namespace.as_deref()) {
        (Some(ns), Some(o)) => ns == o,
        _ => true,
    };
    kaptain_model::with_causes(
        &findings,
        |f| f.severity >= min && in_namespace(f),
        |_| true,
    )
}
