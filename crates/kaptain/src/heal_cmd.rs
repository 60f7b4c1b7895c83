//! `kaptain heal plan|list|approve|reject|history`.

use std::path::PathBuf;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use kaptain_engine::healing::ops;
use kaptain_heal::crd::HealingAction;
use kaptain_heal::guard::SafetyConfig;
use kaptain_sources::live::{self, Cluster, ClusterSource, Timeouts};

use crate::cli::{
    EXIT_CLEAN, EXIT_ERROR, HealArgs, HealCommand, HealDecideArgs, HealFormat, HealListArgs,
    HealPlanArgs, HealRejectArgs,
};

pub fn run(a: HealArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kaptain: error: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match rt.block_on(run_inner(&a)) {
        Ok(text) => {
            print!("{text}");
            EXIT_CLEAN
        }
        Err(e) => {
            eprintln!("kaptain: error: {e}");
            EXIT_ERROR
        }
    }
}

async fn run_inner(a: &HealArgs) -> Result<String, String> {
    let source = ClusterSource::kubeconfig(a.kubeconfig.clone(), a.context.clone());
    let cluster = live::connect(&source, Timeouts::REQUESTS)
        .await
        .map_err(|e| e.to_string())?;
    match &a.command {
        HealCommand::Plan(p) => plan(a, &cluster, p).await,
        HealCommand::List(l) => list(&cluster, l, false).await,
        HealCommand::History(l) => list(&cluster, l, true).await,
        HealCommand::Approve(d) => approve(a, &cluster, d).await,
        HealCommand::Reject(r) => reject(a, &cluster, r).await,
    }
}

fn err(e: kaptain_engine::healing::Error) -> String {
    kaptain_engine::healing::one_line(&e)
}

fn safety_file(path: Option<&PathBuf>) -> Result<Option<SafetyConfig>, String> {
    let Some(p) = path else { return Ok(None) };
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    kaptain_engine::healing::parse_safety(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// Who acts: `--as-user`, else the user of the kubeconfig context.
fn actor(a: &HealArgs, as_user: Option<&String>) -> Result<String, String> {
    if let Some(u) = as_user.filter(|u| !u.trim().is_empty()) {
        return Ok(u.clone());
    }
    kubeconfig_user(a.kubeconfig.as_ref(), a.context.as_ref())
}

/// The user of kubeconfig context `context` (else the current one): who a person is when
/// `--as-user` does not say.
pub(crate) fn kubeconfig_user(
    kubeconfig: Option<&std::path::PathBuf>,
    context: Option<&String>,
) -> Result<String, String> {
    let kc = live::read_kubeconfig(kubeconfig).ok();
    kc.and_then(|kc| {
        let name = context.cloned().or(kc.current_context.clone())?;
        kc.contexts
            .iter()
            .find(|c| c.name == name)?
            .context
            .as_ref()?
            .user
            .clone()
    })
    .filter(|u| !u.is_empty())
    .ok_or_else(|| "cannot tell who you are from the kubeconfig; pass --as-user".to_string())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width());
    t.set_header(header.to_vec());
    t
}

/// `$COLUMNS` (at least 80), else 140: action tables are wide.
fn width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|w| *w >= 80)
        .unwrap_or(140)
}

/// `5s`, `3m`, `2h`, `4d`, as kubectl prints ages.
fn age(t: Option<jiff::Timestamp>) -> String {
    let Some(t) = t else { return "-".into() };
    let s = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn phase(a: &HealingAction) -> String {
    a.status
        .as_ref()
        .map(|s| s.phase.as_str())
        .unwrap_or("Proposed")
        .to_string()
}

async fn plan(a: &HealArgs, c: &Cluster, p: &HealPlanArgs) -> Result<String, String> {
    let ns = if p.all_namespaces {
        None
    } else {
        Some(
            p.namespace
                .clone()
                .unwrap_or_else(|| c.default_namespace.clone()),
        )
    };
    let safety = safety_file(p.config.as_ref())?;
    let report = ops::plan_now(
        &c.client,
        ns.as_deref(),
        &a.operator_namespace,
        safety.as_ref(),
    )
    .await
    .map_err(err)?;
    if p.output == HealFormat::Json {
        return serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    let mut out = String::new();
    let scope = ns.map_or("all namespaces".to_string(), |n| format!("namespace {n}"));
    if report.actions.is_empty() {
        out.push_str(&format!(
            "No healing action would be proposed in {scope} ({} findings, {} policies).\n",
            report.findings, report.policies
        ));
    } else {
        let mut t = table(&[
            "ACTION", "TARGET", "FINDING", "POLICY", "DECISION", "WHY", "EXISTING",
        ]);
        for r in &report.actions {
            let v = &r.verdict;
            let decision = match &v.rule {
                Some(rule) => format!("{} ({rule})", v.decision),
                None => v.decision.clone(),
            };
            let existing = match (&r.existing, r.existing_phase) {
                (Some(n), Some(ph)) => format!("{n} {ph}"),
                (Some(n), None) => n.clone(),
                _ => "-".into(),
            };
            t.add_row(vec![
                r.proposal.action.to_string(),
                r.proposal.target.clone(),
                format!(
                    "{} ({})",
                    r.proposal.finding.id, r.proposal.finding.object.name
                ),
                format!("{} [{}]", r.proposal.policy.name, r.mode),
                decision,
                v.reason.clone(),
                existing,
            ]);
        }
        out.push_str(&format!("{t}\n"));
        out.push_str(&format!(
            "{} proposals in {scope} ({} findings, {} policies). Nothing was changed.\n",
            report.actions.len(),
            report.findings,
            report.policies
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!(
            "  no action for {} on {} ({}): {}\n",
            s.check, s.object, s.policy, s.reason
        ));
    }
    for n in &report.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    Ok(out)
}

async fn list(c: &Cluster, l: &HealListArgs, history: bool) -> Result<String, String> {
    let mut all = ops::list_actions(&c.client, l.namespace.as_deref())
        .await
        .map_err(err)?;
    if history {
        all.retain(ops::is_finished);
    }
    if let Some(p) = &l.phase {
        all.retain(|a| phase(a).eq_ignore_ascii_case(p));
    }
    all.sort_by_key(|a| std::cmp::Reverse(ops::last_change(a)));
    if let Some(n) = l.limit {
        all.truncate(n);
    }
    if l.output == HealFormat::Json {
        return serde_json::to_string_pretty(&all)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    if all.is_empty() {
        return Ok(if history {
            "No finished healing actions.\n".into()
        } else {
            "No healing actions.\n".into()
        });
    }
    let mut t = if history {
        table(&[
            "FINISHED",
            "NAMESPACE",
            "NAME",
            "PHASE",
            "ACTION",
            "TARGET",
            "BY",
            "MESSAGE",
        ])
    } else {
        table(&[
            "NAMESPACE",
            "NAME",
            "PHASE",
            "ACTION",
            "TARGET",
            "FINDING",
            "AGE",
        ])
    };
    for a in &all {
        let ns = a.metadata.namespace.clone().unwrap_or_default();
        let name = a.metadata.name.clone().unwrap_or_default();
        let st = a.status.clone().unwrap_or_default();
        if history {
            let by = st
                .rejected_by
                .clone()
                .or(st.approved_by.clone())
                .unwrap_or_else(|| "policy".into());
            t.add_row(vec![
                age(ops::last_change(a)),
                ns,
                name,
                phase(a),
                a.spec.action.to_string(),
                a.spec.target.clone(),
                by,
                st.message.unwrap_or_default(),
            ]);
        } else {
            t.add_row(vec![
                ns,
                name,
                phase(a),
                a.spec.action.to_string(),
                a.spec.target.clone(),
                a.spec.finding.id.clone(),
                age(a.metadata.creation_timestamp.as_ref().map(|t| t.0)),
            ]);
        }
    }
    Ok(format!("{t}\n"))
}

async fn approve(a: &HealArgs, c: &Cluster, d: &HealDecideArgs) -> Result<String, String> {
    let user = actor(a, d.as_user.as_ref())?;
    let safety = safety_file(d.config.as_ref())?;
    let done = ops::approve(
        &c.client,
        &d.name,
        d.namespace.as_deref(),
        &user,
        &a.operator_namespace,
        safety.as_ref(),
    )
    .await
    .map_err(|e| format!("cannot approve {}: {}", d.name, err(e)))?;
    Ok(format!(
        "Approved {}/{} as {user}: {} {}. The operator executes it next (dry-run, change, verify).\n",
        done.metadata.namespace.unwrap_or_default(),
        d.name,
        done.spec.action,
        done.spec.target
    ))
}

async fn reject(a: &HealArgs, c: &Cluster, r: &HealRejectArgs) -> Result<String, String> {
    let user = actor(a, r.as_user.as_ref())?;
    let done = ops::reject(
        &c.client,
        &r.name,
        r.namespace.as_deref(),
        &user,
        r.reason.as_deref(),
    )
    .await
    .map_err(|e| format!("cannot reject {}: {}", r.name, err(e)))?;
    Ok(format!(
        "Rejected {}/{} as {user}: {} {} will not run.\n",
        done.metadata.namespace.unwrap_or_default(),
        r.name,
        done.spec.action,
        done.spec.target
    ))
}
