//! `kaptain ask "<request to act>"`: the request → the HealingAction it becomes (what it
//! changes, the guard's verdict, how it is verified) → y/N on a terminal, `--apply`, or
//! `--dry-run` → the action created approved by the asker → the operator executes and
//! verifies it → the outcome.
//!
//! The CLI never executes the change itself. When no operator holds its leader Lease, it says
//! how to start one and creates nothing: an executor living in a CLI process would stop
//! verifying (and rolling back) the moment the terminal closes, and would race an operator
//! starting meanwhile; the operator's write-ahead executor resumes after crashes and holds the
//! Lease so exactly one executor acts.

use std::io::{BufRead, IsTerminal, Write};

use kaptain_chat::ActRequest;
use kaptain_engine::healing::request::{self, AskError, Outcome, Proposed};
use kaptain_heal::crd::{HealingAction, Phase};
use kaptain_heal::request::Asker;
use kaptain_sources::live::{self, ClusterSource, Timeouts};
use serde_json::{Value, json};

use crate::ask_cmd::agree;
use crate::cli::{AskArgs, AskFormat, EXIT_CLEAN, EXIT_FINDINGS};

/// Exit code of a request not applied or not verified.
const EXIT_NOT_DONE: u8 = EXIT_FINDINGS;

pub fn run(a: &AskArgs, act: &ActRequest, text: &str) -> Result<u8, String> {
    if !a.from.is_empty() {
        return Err("a request to act needs a live cluster: ask without --from".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(run_async(a, act, text))
}

async fn run_async(a: &AskArgs, act: &ActRequest, text: &str) -> Result<u8, String> {
    let context = agree(
        "request",
        "cluster",
        act.cluster.as_ref(),
        a.cluster.context.as_ref(),
    )?;
    let namespace = agree(
        "request",
        "namespace",
        act.namespace.as_ref(),
        a.cluster.namespace.as_ref(),
    )?;
    let mut act = act.clone();
    act.namespace = namespace.clone();
    let actor = actor(a, context.as_ref())?;
    let source = ClusterSource::kubeconfig(a.cluster.kubeconfig.clone(), context);
    let cluster = live::connect(&source, Timeouts::REQUESTS)
        .await
        .map_err(|e| e.to_string())?;
    let client = cluster.client.clone();
    let opns = a.act.operator_namespace.as_str();
    let loaded = request::load(&client, namespace.as_deref(), opns)
        .await
        .map_err(|e| kaptain_engine::healing::one_line(&e))?;
    let who = Asker {
        actor: &actor,
        text,
        now: jiff::Timestamp::now(),
    };
    let proposed = match request::propose(&loaded.scene(opns), &act, &who) {
        Ok(p) => p,
        Err(AskError::Unclear(q)) => return Err(q),
        Err(AskError::Cannot(why)) => {
            say(
                a,
                &json!({"read": act.describe(), "outcome": "nothing-to-do", "message": why}),
                &why,
            );
            return Ok(EXIT_NOT_DONE);
        }
    };
    let json_out = a.output == AskFormat::Json;
    if !json_out {
        print!("{}", render(&proposed));
        for n in &loaded.notes {
            println!("  note: {n}");
        }
    }
    if !proposed.verdict.allows() {
        let msg = match proposed.verdict.decision.as_str() {
            "allow-dry-run" => {
                "not applied: the operator is in dry-run mode, so applying would change nothing"
                    .to_string()
            }
            _ => format!(
                "not applied: the safety guard refuses ({}): {}",
                proposed.verdict.rule.as_deref().unwrap_or("-"),
                proposed.verdict.reason
            ),
        };
        finish(a, &proposed, None, None, &msg);
        return Ok(EXIT_NOT_DONE);
    }
    if a.act.dry_run {
        return match request::dry_run(&client, &proposed.object.spec.change).await {
            Ok(obj) => {
                let msg = "dry-run: the API server accepts the change (nothing was changed)";
                finish(a, &proposed, None, Some(dry_view(&proposed, &obj)), msg);
                Ok(EXIT_CLEAN)
            }
            Err(e) if e.category() == "invalid" || e.category() == "forbidden" => {
                let msg = format!(
                    "dry-run: the API server refuses the change: {}",
                    kaptain_engine::healing::one_line(&e)
                );
                finish(a, &proposed, None, None, &msg);
                Ok(EXIT_NOT_DONE)
            }
            Err(e) => Err(kaptain_engine::healing::one_line(&e)),
        };
    }
    if !a.act.apply {
        if !std::io::stdin().is_terminal() || json_out {
            finish(
                a,
                &proposed,
                None,
                None,
                "not applied: confirm with --apply (or answer y on a terminal)",
            );
            return Ok(EXIT_NOT_DONE);
        }
        if !confirm()? {
            println!("Not applied.");
            return Ok(EXIT_NOT_DONE);
        }
    }
    // Only a running operator executes and verifies: without one, create nothing.
    if kaptain_operator::live_lease_holder(&client, opns, kaptain_operator::LEASE_NAME)
        .await
        .is_none()
    {
        let msg = format!(
            "not applied: no Kaptain operator is running (nobody renews the Lease {} in \
             namespace {opns}), so nothing would execute and verify the action. Start one \
             (`kaptain operator --namespace {opns}`, or install the Helm chart) and ask again",
            kaptain_operator::LEASE_NAME
        );
        finish(a, &proposed, None, None, &msg);
        return Ok(EXIT_NOT_DONE);
    }
    let created = match request::submit(&client, &proposed, true, &actor, opns).await {
        Ok(c) => c,
        Err(kaptain_engine::healing::Error::Refused { rule, reason }) => {
            let msg = format!("not applied: the safety guard refuses ({rule}): {reason}");
            finish(a, &proposed, None, None, &msg);
            return Ok(EXIT_NOT_DONE);
        }
        Err(e) => return Err(kaptain_engine::healing::one_line(&e)),
    };
    if !json_out {
        println!(
            "Applied: HealingAction {}/{} approved by {actor}; waiting for the operator (up to {}s)…",
            proposed.namespace,
            proposed.name,
            a.act.timeout.as_secs()
        );
    }
    let name = created.metadata.name.clone().unwrap_or_default();
    let outcome = request::wait(&client, &proposed.namespace, &name, a.act.timeout, |x| {
        if !json_out {
            println!("  {}", progress(x));
        }
    })
    .await
    .map_err(|e| kaptain_engine::healing::one_line(&e))?;
    let msg = describe(&outcome, a.act.timeout.as_secs());
    finish(a, &proposed, Some(&outcome), None, &msg);
    Ok(if outcome.verified() {
        EXIT_CLEAN
    } else {
        EXIT_NOT_DONE
    })
}

/// Who asks: `--as-user`, else the user of the kubeconfig context.
fn actor(a: &AskArgs, context: Option<&String>) -> Result<String, String> {
    if let Some(u) = a.act.as_user.as_ref().filter(|u| !u.trim().is_empty()) {
        return Ok(u.trim().to_string());
    }
    crate::heal_cmd::kubeconfig_user(a.cluster.kubeconfig.as_ref(), context)
}

fn confirm() -> Result<bool, String> {
    print!("Apply? [y/N] ");
    std::io::stdout()
        .flush()
        .map_err(|e| format!("cannot write: {e}"))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => {
            let s = other.to_string();
            if s.len() > 120 {
                format!("{}…", s.chars().take(120).collect::<String>())
            } else {
                s
            }
        }
    }
}

/// What the request would do, for a person.
pub fn render(p: &Proposed) -> String {
    let mut out = String::new();
    out.push_str(&format!("Request: {}\n", p.read));
    out.push_str(&format!(
        "Action:  {} on {} (HealingAction {}/{})\n",
        p.action, p.target, p.namespace, p.name
    ));
    out.push_str(&format!("Why:     {}\n", p.reasoning));
    out.push_str("Change:\n");
    for d in &p.diff {
        out.push_str(&format!(
            "  {}: {} → {}\n",
            d.field,
            short(&d.before),
            short(&d.after)
        ));
    }
    out.push_str(&format!(
        "Guard:   {}{}: {}\n",
        p.verdict.decision,
        p.verdict
            .rule
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        p.verdict.reason
    ));
    out.push_str(&format!("Verify:  {}\n", p.verification));
    out
}

fn progress(a: &HealingAction) -> String {
    let st = a.status.clone().unwrap_or_default();
    match st.message {
        Some(m) => format!("{}: {m}", st.phase),
        None => st.phase.to_string(),
    }
}

fn describe(o: &Outcome, timeout: u64) -> String {
    let st = o.action.status.clone().unwrap_or_default();
    let msg = st.message.clone().unwrap_or_default();
    if o.timed_out {
        return format!(
            "not verified within {timeout}s: the action is {} ({msg}); follow it with `kaptain heal list`",
            st.phase
        );
    }
    match st.phase {
        Phase::Succeeded if msg.starts_with("verified") => msg,
        Phase::Succeeded => format!("verified: {msg}"),
        Phase::RolledBack => format!("not verified, rolled back: {msg}"),
        Phase::Rejected => format!("not applied: {msg}"),
        Phase::Failed => format!(
            "failed ({}): {msg}",
            st.reason.as_deref().unwrap_or("unknown")
        ),
        other => format!("{other}: {msg}"),
    }
}

/// The fields the diff names, as the server's dry-run would have them.
fn dry_view(p: &Proposed, obj: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for d in &p.diff {
        let v = match d.field.as_str() {
            "spec.replicas" => obj.pointer("/spec/replicas").cloned(),
            "spec.unschedulable" => obj.pointer("/spec/unschedulable").cloned(),
            f if f.starts_with("containers[") && f.ends_with("].image") => {
                let name = &f["containers[".len()..f.len() - "].image".len()];
                obj.pointer("/spec/template/spec/containers")
                    .and_then(Value::as_array)
                    .and_then(|cs| {
                        cs.iter()
                            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
                    })
                    .and_then(|c| c.get("image").cloned())
            }
            _ => None,
        };
        if let Some(v) = v {
            out.insert(d.field.clone(), v);
        }
    }
    Value::Object(out)
}

fn say(a: &AskArgs, json: &Value, text: &str) {
    if a.output == AskFormat::Json {
        println!("{}", serde_json::to_string_pretty(json).unwrap_or_default());
    } else {
        println!("{text}");
    }
}

fn finish(a: &AskArgs, p: &Proposed, o: Option<&Outcome>, dry: Option<Value>, msg: &str) {
    let mut j = json!({
        "proposed": p,
        "message": msg,
    });
    if let Some(o) = o {
        let st = o.action.status.clone().unwrap_or_default();
        j["outcome"] = json!({
            "phase": st.phase.as_str(),
            "verified": o.verified(),
            "timedOut": o.timed_out,
            "reason": st.reason,
            "message": st.message,
        });
    }
    if let Some(d) = &dry {
        j["dryRun"] = d.clone();
    }
    let mut text = msg.to_string();
    if let Some(Value::Object(m)) = &dry {
        for (k, v) in m {
            text.push_str(&format!("\n  server: {k} = {}", short(v)));
        }
    }
    say(a, &j, &text);
}
