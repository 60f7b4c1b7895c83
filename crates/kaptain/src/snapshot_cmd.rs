//! `kaptain snapshot`: capture a live cluster into files `diagnose --from` reads.

use std::io::IsTerminal;

use kaptain_sources::live::{self, ClusterSource, LiveOptions, Progress, Timeouts};

use crate::cli::{EXIT_CLEAN, EXIT_ERROR, SnapshotArgs};

pub fn run(a: SnapshotArgs) -> u8 {
    match run_inner(&a) {
        Ok(()) => EXIT_CLEAN,
        Err(msg) => {
            eprintln!("kaptain: error: {msg}");
            EXIT_ERROR
        }
    }
}

fn run_inner(a: &SnapshotArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        let c = &a.cluster;
        let source = ClusterSource::kubeconfig(c.kubeconfig.clone(), c.context.clone());
        let mut opts = LiveOptions {
            namespace: None,
            label_selector: c.selector.clone(),
            page_size: c.page_size,
            complete: true,
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
        let all: Vec<_> = kaptain_analyze::catalog().iter().collect();
        let kinds = kaptain_analyze::needed_kinds(&all);
        let verbose = std::io::stderr().is_terminal();
        let on_progress = |p: Progress| {
            if let (true, Progress::Skipped { kind, reason }) = (verbose, p) {
                eprintln!("  skipped {}: {reason}", kind.api_label());
            }
        };
        let (idx, info) = cluster
            .load(&kinds, &opts, &on_progress)
            .await
            .map_err(|e| e.to_string())?;
        let files = kaptain_sources::snapshot::write(&a.output_dir, &idx, &info)
            .map_err(|e| e.to_string())?;
        let objects: usize = idx.loaded_kinds().iter().map(|k| idx.count(*k)).sum();
        eprintln!(
            "kaptain: wrote {objects} objects of {} kinds to {} ({} files; Secret values redacted)",
            idx.loaded_kinds().len(),
            a.output_dir.display(),
            files.len()
        );
        if !info.skipped.is_empty() {
            eprintln!(
                "kaptain: skipped {}",
                info.skipped
                    .iter()
                    .map(|s| format!("{} ({})", s.api, s.reason))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    })
}
