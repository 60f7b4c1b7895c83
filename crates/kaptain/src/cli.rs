//! Every command-line flag, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kaptain_model::Severity;

/// Exit codes, as ripgrep and friends use them.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "kaptain",
    version,
    about = "Root-cause diagnosis for Kubernetes: what is broken, why, and how to fix it.",
    long_about = "Kaptain scans a live cluster (your current kubeconfig context) or files (snapshots, \
        `kubectl get -o yaml` output, `kubectl cluster-info dump` trees), runs deterministic checks, \
        links symptoms to their root causes and prints evidence and a concrete fix for each.\n\n\
        No LLM and no network access beyond your cluster are needed.",
    after_help = "Examples:\n  \
        kaptain diagnose                         # current context, its namespace\n  \
        kaptain diagnose -A --min-severity high  # all namespaces, high and critical only\n  \
        kaptain diagnose --from examples/broken-shop\n  \
        kaptain snapshot -A -o ./snap && kaptain diagnose --from ./snap -o json\n  \
        kaptain checks\n\n\
        Installed as `kubectl-kaptain` on PATH, it also runs as `kubectl kaptain ...`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Find what is broken and why, in a live cluster or in files.
    #[command(
        long_about = "Find what is broken and why. Scans the current kubeconfig context (like kubectl, \
            it honours KUBECONFIG, --kubeconfig and --context), or files given with --from.\n\n\
            Exit codes: 0 no finding at or above --min-severity, 1 findings, 2 error (bad flag, \
            unreachable cluster, unreadable input; with --from, a bad file is reported and the \
            others are still analyzed).",
        after_help = "Examples:\n  \
            kaptain diagnose -n shop\n  \
            kaptain diagnose -A --only pod,service -o json\n  \
            kaptain diagnose --all-contexts --min-severity critical\n  \
            kaptain diagnose --from cluster-dump/ --from extra.yaml -o markdown > report.md"
    )]
    Diagnose(DiagnoseArgs),
    /// Capture what the checks need from a live cluster into files (Secret values redacted).
    #[command(
        long_about = "Capture what the checks need from a live cluster into a directory that \
            `kaptain diagnose --from DIR` reads back: one JSON List per kind plus \
            kaptain-snapshot.json (context, server version, capture time, skipped APIs).\n\n\
            Every Secret value is redacted (keys and type are kept; public certificates tls.crt \
            and ca.crt are kept so expiry can be checked; private keys never). managedFields and \
            last-applied annotations are dropped."
    )]
    Snapshot(SnapshotArgs),
    /// List every check: id, category, default severity and what it finds.
    Checks(ChecksArgs),
    /// Benchmark baseline: parse the JSON files under PATHs with serde_json, nothing else.
    #[command(hide = true)]
    ParseOnly {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace to scan (default: the context's namespace). Cluster-scoped objects such as
    /// nodes and webhooks are always checked.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Scan every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label
    /// selector (e.g. app=shop,tier!=cache). Objects they reference are always read.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Objects per LIST page.
    #[arg(long, value_name = "N", default_value_t = 500, hide = true)]
    pub page_size: u32,
}

#[derive(Args, Debug, Clone)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Scan every context of the kubeconfig, one report each.
    #[arg(long, conflicts_with_all = ["context", "from"])]
    pub all_contexts: bool,
    /// Analyze files instead of a live cluster: a snapshot directory, `kubectl get -o json|yaml`
    /// output, multi-document YAML, a directory of such files (recursive) or a
    /// `kubectl cluster-info dump --output-directory` tree. Repeat to mix inputs.
    #[arg(long, value_name = "PATH", conflicts_with = "context")]
    pub from: Vec<PathBuf>,
    /// Run only these checks: ids (pod.crash-loop), domains (pod, service) or categories
    /// (network, storage), comma-separated. See `kaptain checks`.
    #[arg(long, value_name = "CHECKS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Report findings at or above this severity (and the root causes they trace back to).
    #[arg(long, value_name = "LEVEL", default_value = "low", value_parser = parse_severity)]
    pub min_severity: Severity,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Analyze as of this time (RFC 3339) instead of now (default for Kaptain snapshots: their
    /// capture time).
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(Args, Debug, Clone)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Directory to write (created if missing).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub output_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct ChecksArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ChecksFormat::Table)]
    pub output: ChecksFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
    Markdown,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksFormat {
    Table,
    Json,
    Markdown,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

/// Parses the command line. Installed as `kubectl-kaptain`, usage reads `kubectl kaptain`.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked = std::path::Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kaptain")
        .to_string();
    let mut cmd = Cli::command();
    if invoked.starts_with("kubectl-kaptain") {
        cmd = cmd.bin_name("kubectl kaptain").name("kubectl kaptain");
    }
    let matches = cmd.get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let c = Cli::try_parse_from([
            "kaptain",
            "diagnose",
            "-A",
            "--only",
            "pod,service",
            "--min-severity",
            "high",
            "-o",
            "json",
        ])
        .expect("parse");
        let Command::Diagnose(d) = c.command else {
            panic!("not diagnose")
        };
        assert!(d.cluster.all_namespaces);
        assert_eq!(d.only, vec!["pod", "service"]);
        assert_eq!(d.min_severity, Severity::High);
        assert_eq!(d.output, Format::Json);
        assert!(Cli::try_parse_from(["kaptain", "diagnose", "--min-severity", "urgent"]).is_err());
        assert!(Cli::try_parse_from(["kaptain", "diagnose", "-n", "a", "-A"]).is_err());
    }
}
