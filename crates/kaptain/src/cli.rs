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
        kaptain checks\n  \
        kaptain ask \"why is the checkout deployment failing in shop?\"\n  \
        kaptain heal plan -A                     # what the healing policies would do now\n  \
        kaptain operator --namespace kaptain-system\n\n\
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
    /// Ask in plain words: what is wrong, why something fails, how to fix it.
    #[command(
        long_about = "Ask a question in plain words. Kaptain reads it as a structured request \
            (an intent — diagnose, why, fix, findings, explain, help — and filters: namespace, \
            object, severity, category, check, cluster), scans like `kaptain diagnose` (the \
            current context, every namespace unless the question or -n names one; or files \
            with --from) and answers from the same findings: root causes, the chain from an \
            object to its root cause, fixes with commands. It names the `kaptain diagnose` \
            command that shows the same findings.\n\n\
            No LLM is involved: the same question always reads the same way, and words that \
            were not understood are said back. Asking never changes the cluster.\n\n\
            When words are said back and an LLM is set for the `investigate` task, Kaptain's \
            investigator answers instead: a model calling Kaptain's tools, its root causes \
            first; it prints the answer, the tools called and what was not checked (-o json: \
            the transcript).\n\n\
            Requests to act — \"scale web-app in scale-test by 100%\", \"restart deployment api\", \
            \"roll back checkout\", \"set the image of web to nginx:1.27\", \"cordon node n1\", \
            \"fix the checkout deployment\", \"undo that\" — become a HealingAction judged by the \
            same safety guard as the operator's policies. Kaptain prints what it would change, the \
            guard's verdict and how the change will be verified; on a terminal it asks y/N \
            (--apply applies without asking, --dry-run only tries the change on the server). \
            Applying creates the action approved by you; the running operator executes and \
            verifies it while Kaptain waits (--timeout).\n\n\
            Exit codes: 0 answered (a request: verified, or dry-run passed), 1 a request not \
            applied or not verified, 2 error (empty question, unreachable cluster, bad input).",
        after_help = "Examples:\n  \
            kaptain ask \"what is wrong in namespace shop?\"\n  \
            kaptain ask why is the checkout deployment failing\n  \
            kaptain ask \"how do I fix svc/api in shop\" --context prod\n  \
            kaptain ask \"which pods are crash looping?\" --from ./snap -o json\n  \
            kaptain ask \"what does pod.oom-killed mean?\"\n  \
            kaptain ask --parse-only \"critical network issues in payments\"\n  \
            kaptain ask \"scale web-app in scale-test by 100%\"\n  \
            kaptain ask \"roll back checkout in shop\" --apply --timeout 5m\n  \
            kaptain ask \"set the image of web to nginx:1.27\" --dry-run",
        mut_arg("namespace", |a| a.help(
            "Namespace to look at (default: the one the question names, else every namespace). \
             Cluster-scoped objects such as nodes are always checked"
        )),
        mut_arg("all_namespaces", |a| a.help("Every namespace (the default unless one is named)"))
    )]
    Ask(AskArgs),
    /// A conversation about a cluster: questions and follow-ups, one per line of stdin.
    #[command(
        long_about = "A conversation about a cluster (or files with --from), one question per line \
            of stdin; /quit or end of input leaves. Kaptain scans once, then answers each line. \
            With an LLM set for the `investigate` task, the investigator answers with Kaptain's \
            tools and remembers the conversation (\"and in staging?\"); without one, the rule \
            reader of `kaptain ask` answers each line.\n\n\
            What is sent to a model: the question, Kaptain's root causes (their evidence), tool \
            results — with Secret values and credentials removed, and object names replaced by \
            placeholders for cloud providers. Works without a terminal (pipe lines in); with -o json \
            each answer is one line of JSON (the investigator's transcript with its tool calls, \
            or the rule reader's answer).",
        after_help = "Examples:\n  \
            kaptain chat --from examples/broken-shop\n  \
            printf 'why is checkout failing?\\nand in payments?\\n' | kaptain chat -A\n  \
            echo 'why is checkout failing?' | kaptain chat --from examples/broken-shop -o json"
    )]
    Chat(ChatArgs),
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
    /// Run the healing operator: watch, analyze, plan, guard, act, verify, roll back.
    #[command(
        long_about = "Run Kaptain's healing operator. Every replica watches the cluster (the kinds \
            the checks need, HealingPolicies, HealingActions); the one holding the Lease \
            kaptain-operator-leader in --namespace analyzes after each change, turns findings \
            into HealingActions under the HealingPolicies, passes each through the safety guard \
            and, for approved ones, records its intent, dry-runs it on the server, makes the \
            change, verifies the finding clears and reverses the change if it does not.\n\n\
            The safety configuration (protected namespaces, kinds and labels, never-allow list, \
            global rate limit, circuit breaker) is read from the ConfigMap \
            kaptain-operator-config (key safety.yaml) in --namespace, or from --config. \
            State that must survive restarts (first-seen times, the breaker) is kept in the \
            ConfigMap kaptain-operator-state there.",
        after_help = "Examples:\n  \
            kaptain operator --namespace kaptain-system\n  \
            kaptain operator --namespace kaptain-system --watch-namespace shop --watch-namespace payments\n  \
            kaptain operator --config safety.yaml --metrics-addr 0.0.0.0:9090\n\n\
            Then: kaptain heal list; kaptain heal approve NAME; curl localhost:9090/metrics"
    )]
    Operator(OperatorArgs),
    /// Review and steer healing: plan now, list, approve, reject, history.
    #[command(
        long_about = "Review and steer Kaptain's healing. `plan` shows what the HealingPolicies in \
            the cluster would do now (a dry-run: no operator needed, nothing changes); `list` and \
            `history` show HealingActions; `approve` and `reject` move a Proposed action through \
            the same phase machine the operator uses. An approval is checked by the safety guard \
            with the current policy, history and circuit breaker: approving what the guard would \
            deny fails and names the rule.",
        after_help = "Examples:\n  \
            kaptain heal plan -A\n  \
            kaptain heal list --phase Proposed\n  \
            kaptain heal approve raise-search-1a2b3c4d5e6f -n shop\n  \
            kaptain heal reject raise-search-1a2b3c4d5e6f -n shop --reason \"memory leak, fix the code\"\n  \
            kaptain heal history --limit 20"
    )]
    Heal(HealArgs),
    /// The server's audit log: check its hash chain.
    #[command(
        long_about = "The audit log of `kaptain serve` is append-only and hash-chained: each \
            record carries the hash of the one before. `kaptain audit verify` reads the whole \
            chain and reports the first record that was modified, deleted or moved.\n\n\
            Exit codes: 0 the chain is intact, 1 it is broken, 2 error (no store, bad URL, \
            unreachable database).",
        after_help = "Examples:\n  \
            kaptain audit verify\n  \
            kaptain audit verify --database-url postgres://kaptain@db/kaptain -o json"
    )]
    Audit(AuditArgs),
    /// Serve the REST API and web console for one or more clusters.
    #[command(
        long_about = "Watch one or more clusters (kubeconfig contexts, or the in-cluster \
            service account), keep their findings live and their history in a store (SQLite by \
            default, PostgreSQL with --database-url), and serve the REST API (/api/v1, OpenAPI at \
            /api/v1/openapi.json, docs at /api/v1/docs), the web console (/console), /healthz, \
            /readyz and /metrics.\n\n\
            Requests need an API token (create one with `kaptain token create`) or an OIDC JWT \
            (--oidc-issuer, --oidc-audience, --oidc-jwks-url). --no-auth is refused unless \
            --listen is a loopback address. Every state-changing request is recorded in the \
            hash-chained audit log (`kaptain audit verify`).",
        after_help = "Examples:\n  \
            kaptain token create --name alice --role admin\n  \
            kaptain serve --context prod --context staging\n  \
            kaptain serve --all-contexts --listen 0.0.0.0:7878 --database-url postgres://kaptain@db/kaptain\n  \
            kaptain serve --in-cluster --oidc-issuer https://idp.example --oidc-audience kaptain \\\n      \
            --oidc-jwks-url https://idp.example/.well-known/jwks.json"
    )]
    Serve(ServeArgs),
    /// Serve Kaptain's tools to an MCP client (Claude Desktop, Cursor, ...) over stdio.
    #[command(
        long_about = "Serve Kaptain as an MCP server on stdin/stdout: diagnose, why, describe, \
            logs, events, list_resources, heal_plan and the other tools of Kaptain's ToolRegistry, \
            the current report and check catalog as resources, and troubleshooting prompts. It \
            watches the kubeconfig's current context (or --context, --all-contexts) and uses the \
            kubeconfig's own rights. Secret values, tokens and kubeconfigs never leave the \
            process. `propose_action` only records a HealingAction for the safety guard and a \
            person to approve; --read-only hides it. Logs go to stderr (stdout is the protocol).",
        after_help = "Examples:\n  \
            kaptain mcp\n  \
            kaptain mcp --context prod --read-only\n  \
            kaptain mcp --all-contexts"
    )]
    Mcp(crate::mcp_cmd::McpArgs),
    /// Manage the server's API tokens (shown once, stored hashed).
    #[command(after_help = "Examples:\n  \
            kaptain token create --name ci --role viewer --scope prod/shop --expires-in 30d\n  \
            kaptain token list\n  \
            kaptain token revoke 3")]
    Token(TokenArgs),
    /// The LLM settings: `kaptain llm test` checks the connection and tool calling.
    Llm(crate::llm_cmd::LlmArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) or the man page.
    #[command(after_help = "Examples:\n  \
            kaptain completions bash > /etc/bash_completion.d/kaptain\n  \
            kaptain completions zsh > \"${fpath[1]}/_kaptain\"\n  \
            kaptain completions fish > ~/.config/fish/completions/kaptain.fish\n  \
            kaptain completions man > /usr/local/share/man/man1/kaptain.1")]
    Completions {
        /// The shell, or `man` for the roff man page.
        #[arg(value_enum, value_name = "SHELL")]
        shell: CompletionTarget,
    },
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
    /// Objects per LIST page (0: one LIST per kind from the API server's watch cache).
    /// 2000, not kubectl's 500: etcd counts the rest of the range for every page, so fewer
    /// pages cost it much less (measured on 10,000 pods: 2.3 s of etcd CPU at 500, 0.9 s at
    /// 2000), for a few MB more per page in flight.
    #[arg(long, value_name = "N", default_value_t = 2000, hide = true)]
    pub page_size: u32,
}

#[derive(Args, Debug, Clone)]
pub struct AskArgs {
    /// The question (quoting it is optional: the words are joined).
    #[arg(required = true, num_args = 1.., value_name = "QUESTION")]
    pub question: Vec<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Answer from files instead of a live cluster (as `kaptain diagnose --from`).
    #[arg(long, value_name = "PATH", conflicts_with = "context")]
    pub from: Vec<PathBuf>,
    /// Print how the question was read (the structured request, JSON) and stop: no scan.
    #[arg(long)]
    pub parse_only: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = AskFormat::Text)]
    pub output: AskFormat,
    /// Analyze as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<jiff::Timestamp>,
    #[command(flatten)]
    pub act: AskActArgs,
}

/// What `kaptain ask` does with a request to act ("scale web to 5").
#[derive(Args, Debug, Clone)]
pub struct AskActArgs {
    /// Apply a request to act without asking (scripts): create the HealingAction approved by
    /// you, wait for the operator to execute and verify it.
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// Only try a request's change on the server's dry-run path (nothing is changed, no
    /// HealingAction is created).
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for the operator to execute and verify an applied request.
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = parse_wait)]
    pub timeout: std::time::Duration,
    /// Who asks (recorded on the HealingAction and its Events); default: the kubeconfig
    /// context's user.
    #[arg(long, value_name = "NAME")]
    pub as_user: Option<String>,
    /// The operator's namespace (its safety configuration, state and leader Lease).
    #[arg(long, value_name = "NS", default_value = "kaptain-system")]
    pub operator_namespace: String,
}

/// `90s`, `3m`, `1h`, or plain seconds.
fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 90s, 3m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{s:?} is not a duration such as 90s, 3m or 1h")),
    };
    if secs == 0 {
        return Err("the timeout must be more than 0s".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskFormat {
    Text,
    Json,
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
    /// Add a short plain-language explanation of each root cause, written by the LLM set for
    /// the `explain` task from the finding's evidence only (cached by fingerprint and model).
    /// The report itself is unchanged: JSON/YAML get an `explanation` field per explained
    /// root cause, the table a section after it.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ChatArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Chat about files instead of a live cluster (as `kaptain diagnose --from`).
    #[arg(long, value_name = "PATH", conflicts_with = "context")]
    pub from: Vec<PathBuf>,
    /// Output format: text, or one JSON object per line and question (the investigator's
    /// transcript, with every tool call, or the rule reader's answer).
    #[arg(short = 'o', long, value_enum, default_value_t = AskFormat::Text)]
    pub output: AskFormat,
    /// Analyze as of this time (RFC 3339) instead of now.
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

#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The operator's own namespace: its Lease, state and configuration ConfigMaps, and the
    /// HealingActions of cluster-scoped targets.
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        env = "POD_NAMESPACE",
        default_value = "kaptain-system"
    )]
    pub namespace: String,
    /// Only watch and heal these namespaces (repeat the flag; default: all namespaces).
    /// Cluster-scoped objects such as nodes are always watched.
    #[arg(long = "watch-namespace", value_name = "NS")]
    pub watch_namespaces: Vec<String>,
    /// Where to serve /metrics, /healthz and /readyz.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub metrics_addr: std::net::SocketAddr,
    /// This replica's name in the leader Lease (default: $POD_NAME or the host name, plus
    /// the process id).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// Safety configuration (YAML, the same keys as safety.yaml in the ConfigMap
    /// kaptain-operator-config); overrides the ConfigMap.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also watch Secrets (their values stay in the process). Off by default: reading Secret
    /// values is opt-in in the RBAC too.
    #[arg(long)]
    pub read_secrets: bool,
    /// Log filter (tracing's EnvFilter syntax; RUST_LOG overrides).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log: String,
    /// Log lines as text, or as one JSON object per line (every decision with the fields
    /// action, target, policy, decision, rule, phase, reason, finding).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "KAPTAIN_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// What `kaptain completions` prints.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionTarget {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The man page (roff).
    Man,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct HealArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
    /// The operator's namespace, where its safety configuration and state live.
    #[arg(
        long,
        value_name = "NS",
        global = true,
        default_value = "kaptain-system"
    )]
    pub operator_namespace: String,
    #[command(subcommand)]
    pub command: HealCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum HealCommand {
    /// What the healing policies would do now (dry-run: nothing changes, no operator needed).
    #[command(
        long_about = "Scan the cluster, run the checks, plan with the HealingPolicies and \
            ClusterHealingPolicies in it and ask the safety guard about every proposal — what \
            the operator would do now, without doing it. DECISION is the guard's: allow (would \
            run now), allow-dry-run, needs-approval or deny, with the rule that decided."
    )]
    Plan(HealPlanArgs),
    /// HealingActions with phase, target, action and age.
    List(HealListArgs),
    /// Approve a Proposed action (checked by the safety guard; fails naming the rule).
    Approve(HealDecideArgs),
    /// Reject a Proposed or Approved action.
    Reject(HealRejectArgs),
    /// Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first.
    History(HealListArgs),
}

#[derive(Args, Debug, Clone)]
pub struct HealPlanArgs {
    /// Namespace to plan for (default: the context's namespace).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Plan for every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Safety configuration file instead of the operator's ConfigMap.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t = HealFormat::Table)]
    pub output: HealFormat,
}

#[derive(Args, Debug, Clone)]
pub struct HealListArgs {
    /// Only this namespace (default: all namespaces).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Only actions in this phase (Proposed, Approved, Executing, Verifying, Succeeded,
    /// Failed, RolledBack, Rejected).
    #[arg(long, value_name = "PHASE")]
    pub phase: Option<String>,
    /// At most this many rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[arg(short = 'o', long, value_enum, default_value_t = HealFormat::Table)]
    pub output: HealFormat,
}

#[derive(Args, Debug, Clone)]
pub struct HealDecideArgs {
    /// The HealingAction's name (see `kaptain heal list`).
    pub name: String,
    /// Its namespace (default: found by name in any namespace).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Who approves, as recorded on the action (default: the kubeconfig user).
    #[arg(long, value_name = "USER")]
    pub as_user: Option<String>,
    /// Safety configuration file instead of the operator's ConfigMap.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct HealRejectArgs {
    /// The HealingAction's name (see `kaptain heal list`).
    pub name: String,
    /// Its namespace (default: found by name in any namespace).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Who rejects, as recorded on the action (default: the kubeconfig user).
    #[arg(long, value_name = "USER")]
    pub as_user: Option<String>,
    /// Why, recorded on the action.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        env = "KAPTAIN_LISTEN",
        default_value = "127.0.0.1:7878"
    )]
    pub listen: std::net::SocketAddr,
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig context to watch (repeat for several; default: the current context).
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// Watch every context of the kubeconfig.
    #[arg(long, conflicts_with = "contexts")]
    pub all_contexts: bool,
    /// Watch the cluster the server runs in (its service account).
    #[arg(long, conflicts_with_all = ["contexts", "all_contexts"])]
    pub in_cluster: bool,
    /// The store: sqlite:///PATH or postgres://USER@HOST/DB (default: $XDG_DATA_HOME/kaptain/kaptain.db
    /// or ~/.local/share/kaptain/kaptain.db).
    #[arg(long, value_name = "URL", env = "KAPTAIN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The key that encrypts secret settings (created 0600 if missing; KAPTAIN_SECRET_KEY
    /// overrides). Default: secret.key next to the default SQLite file.
    #[arg(long, value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Serve everyone as admin without credentials (only on a loopback --listen address).
    #[arg(long)]
    pub no_auth: bool,
    /// Trust JWTs from this OIDC issuer (needs --oidc-audience and --oidc-jwks-url).
    #[arg(long, value_name = "URL", requires_all = ["oidc_audience", "oidc_jwks_url"])]
    pub oidc_issuer: Option<String>,
    /// The audience (`aud`) the JWTs must carry.
    #[arg(long, value_name = "AUD")]
    pub oidc_audience: Option<String>,
    /// Where the issuer publishes its signing keys.
    #[arg(long, value_name = "URL")]
    pub oidc_jwks_url: Option<String>,
    /// The JWT claim that holds the role (viewer, operator, admin).
    #[arg(long, value_name = "CLAIM", default_value = "kaptain_role")]
    pub oidc_role_claim: String,
    /// Fetch the OIDC issuer's JWKS over plain http (a local or test issuer). By default only
    /// https is accepted.
    #[arg(long)]
    pub oidc_allow_http_jwks: bool,
    /// The role of a JWT without the role claim (default: refuse it).
    #[arg(long, value_name = "ROLE")]
    pub oidc_default_role: Option<String>,
    /// Namespace of the healing operator (its safety configuration applies to approvals).
    #[arg(long, value_name = "NS", default_value = "kaptain-system")]
    pub operator_namespace: String,
    /// Diagnose runs executed at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key). The console's cookie is
    /// then `Secure`, and responses carry HSTS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Failed authentications a client address may have per second, minute or hour before
    /// it is refused with 429 (and Retry-After) for the rest of the window: N/s, N/m or N/h.
    #[arg(long, value_name = "N/UNIT", default_value = "10/m")]
    pub auth_throttle: kaptain_server::auth::throttle::ThrottleLimit,
    /// Log filter (tracing's EnvFilter syntax; RUST_LOG overrides).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log: String,
    /// Log lines as text, or as one JSON object per line.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "KAPTAIN_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
    /// The server's store (as for `kaptain serve`).
    #[arg(long, value_name = "URL", env = "KAPTAIN_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only this once).
    Create {
        /// A name people recognise.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Limit it to a cluster or cluster/namespace (repeatable; default: everywhere).
        #[arg(long = "scope", value_name = "CLUSTER[/NS]")]
        scopes: Vec<String>,
        /// Expire after this long (e.g. 12h, 30d).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Check the audit log's hash chain (exit 0 intact, 1 broken, 2 error).
    Verify(AuditVerifyArgs),
}

#[derive(Args, Debug, Clone)]
pub struct AuditVerifyArgs {
    /// The server's store: sqlite:///PATH or postgres://USER@HOST/DB (default: the server's
    /// default SQLite file, $XDG_DATA_HOME/kaptain/kaptain.db or
    /// ~/.local/share/kaptain/kaptain.db).
    #[arg(long, value_name = "URL", env = "KAPTAIN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = AuditFormat::Table)]
    pub output: AuditFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    Table,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealFormat {
    Table,
    Json,
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

    #[test]
    fn heal_and_operator_flags_parse() {
        let c = Cli::try_parse_from([
            "kaptain",
            "heal",
            "approve",
            "raise-x",
            "-n",
            "shop",
            "--as-user",
            "alice",
            "--kubeconfig",
            "k.yaml",
        ])
        .expect("parse");
        let Command::Heal(h) = c.command else {
            panic!("not heal")
        };
        assert_eq!(h.kubeconfig, Some(PathBuf::from("k.yaml")));
        let HealCommand::Approve(a) = h.command else {
            panic!("not approve")
        };
        assert_eq!(
            (a.name.as_str(), a.namespace.as_deref()),
            ("raise-x", Some("shop"))
        );
        assert_eq!(a.as_user.as_deref(), Some("alice"));
        let c = Cli::try_parse_from([
            "kaptain",
            "operator",
            "--watch-namespace",
            "a",
            "--watch-namespace",
            "b",
            "--metrics-addr",
            "0.0.0.0:9090",
        ])
        .expect("parse");
        let Command::Operator(o) = c.command else {
            panic!("not operator")
        };
        assert_eq!(o.watch_namespaces, vec!["a", "b"]);
        assert!(Cli::try_parse_from(["kaptain", "operator", "--metrics-addr", "nope"]).is_err());
        let c =
            Cli::try_parse_from(["kaptain", "operator", "--log-format", "json"]).expect("parse");
        let Command::Operator(o) = c.command else {
            panic!("not operator")
        };
        assert_eq!(o.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["kaptain", "operator", "--log-format", "yaml"]).is_err());
        assert!(Cli::try_parse_from(["kaptain", "heal", "plan", "-n", "a", "-A"]).is_err());
    }
}
