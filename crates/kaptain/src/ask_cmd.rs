//! `kaptain ask`: a question in plain words → a structured request → a scan like `diagnose`
//! → an answer from the findings.

use kaptain_chat::{Intent, Known, Request};
use kaptain_model::{Finding, Severity};
use kaptain_sources::live;

use crate::cli::{AskArgs, AskFormat, ClusterArgs, DiagnoseArgs, EXIT_CLEAN, EXIT_ERROR, Format};
use crate::diagnose;

pub fn run(a: AskArgs) -> u8 {
    match run_inner(&a) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("kaptain: error: {msg}");
            EXIT_ERROR
        }
    }
}

fn run_inner(a: &AskArgs) -> Result<u8, String> {
    let text = a.question.join(" ");
    // Context names help read "in prod"; without a kubeconfig there are none, which is fine.
    let clusters = if a.from.is_empty() {
        live::context_names(a.cluster.kubeconfig.as_ref()).unwrap_or_default()
    } else {
        Vec::new()
    };
    let req = kaptain_chat::parse(
        &text,
        &Known {
            clusters: &clusters,
        },
    )?;
    if a.parse_only {
        let json = serde_json::to_string_pretty(&req)
            .map_err(|e| format!("cannot write the request: {e}"))?;
        println!("{json}");
        return Ok(EXIT_CLEAN);
    }
    // A request to act ("scale web to 5") becomes a HealingAction: its own path.
    if let Some(act) = &req.act {
        return crate::ask_act::run(a, act, &text);
    }
    // Words the rule reader could not read, and an LLM configured: the investigator answers.
    if let Some(code) = crate::investigate_cmd::maybe_ask(a, &text, &req.ignored)? {
        return Ok(code);
    }
    let (findings, had_error) = if looks_at_cluster(a, &req) {
        let (f, e) = scan(a, &req)?;
        (Some(f), e)
    } else {
        (None, false)
    };
    let answer = kaptain_chat::answer(&req, findings.as_deref());
    match a.output {
        AskFormat::Text => print!("{}", kaptain_chat::render_text(&answer)),
        AskFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&answer)
                .map_err(|e| format!("cannot write the answer: {e}"))?
        ),
    }
    Ok(if had_error { EXIT_ERROR } else { EXIT_CLEAN })
}

/// Help needs no cluster; neither does explaining a check unless a source was named.
fn looks_at_cluster(a: &AskArgs, req: &Request) -> bool {
    match req.intent {
        Intent::Help => false,
        Intent::Explain => {
            !a.from.is_empty()
                || a.cluster.context.is_some()
                || req.cluster.is_some()
                || req.namespace.is_some()
        }
        _ => true,
    }
}

/// Scans what the question is about: its cluster (or --context), its namespace (or -n, else
/// every namespace), every check (a root cause may be of any kind).
fn scan(a: &AskArgs, req: &Request) -> Result<(Vec<Finding>, bool), String> {
    if !a.from.is_empty()
        && let Some(c) = &req.cluster
    {
        return Err(format!(
            "the question names cluster {c}, but --from reads files: ask without it"
        ));
    }
    let context = agree(
        "question",
        "cluster",
        req.cluster.as_ref(),
        a.cluster.context.as_ref(),
    )?;
    let namespace = agree(
        "question",
        "namespace",
        req.namespace.as_ref(),
        a.cluster.namespace.as_ref(),
    )?;
    let d = DiagnoseArgs {
        cluster: ClusterArgs {
            context,
            all_namespaces: namespace.is_none(),
            namespace,
            ..a.cluster.clone()
        },
        all_contexts: false,
        from: a.from.clone(),
        only: Vec::new(),
        min_severity: Severity::Info,
        output: match a.output {
            AskFormat::Text => Format::Table,
            AskFormat::Json => Format::Json,
        },
        now: a.now,
        explain: false,
    };
    let (reports, had_error) = diagnose::collect(&d)?;
    let findings = reports
        .into_iter()
        .next()
        .map(|r| r.findings)
        .ok_or("nothing was scanned")?;
    Ok((findings, had_error))
}

/// The question's (or request's: `said`) value or the flag's; both only when they agree.
pub(crate) fn agree(
    said: &str,
    what: &str,
    asked: Option<&String>,
    flag: Option<&String>,
) -> Result<Option<String>, String> {
    match (asked, flag) {
        (Some(q), Some(f)) if q != f => Err(format!(
            "the {said} names {what} {q} but the flag says {f}: drop one"
        )),
        (q, f) => Ok(q.or(f).cloned()),
    }
}
