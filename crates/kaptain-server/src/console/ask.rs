//! `GET /console/ask?q=`: the chat box. A question goes through the same reading and answers as
//! `GET /api/v1/ask` and `kaptain ask` (kaptain-chat). With htmx, each exchange is added to the
//! top of the conversation without reloading; without JavaScript the form loads the page with
//! the one answer.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse};
use kaptain_chat::{Answer, Intent};
use kaptain_store::Role;
use maud::{Markup, html};
use serde::Deserialize;

use super::findings::detail_url;
use super::layout::{Page, badge, urlencode};
use super::{PageResult, is_htmx};
use crate::api::AppState;
use crate::api::ask::{AskReply, MAX_QUESTION, ask, investigate_if_needed};
use crate::api::error::ApiError;
use crate::auth::Principal;
use crate::llm::Investigation;

/// `?q=&cluster=`.
#[derive(Debug, Default, Deserialize)]
pub struct AskQuery {
    pub q: Option<String>,
    pub cluster: Option<String>,
}

/// Questions offered on the empty page.
const STARTERS: &[&str] = &[
    "what is wrong?",
    "show critical findings",
    "which pods are crash looping?",
    "help",
];

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<AskQuery>,
) -> PageResult {
    principal.require(Role::Viewer)?;
    let question = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let exchange = match question {
        None => None,
        Some(text) => {
            let mut reply = ask(&state, &principal, text, q.cluster.clone());
            // Words the rules could not read go to the investigator when an LLM is configured,
            // as on `GET /api/v1/ask`.
            if let Ok(r) = &mut reply
                && r.request.intent != Intent::Act
            {
                r.investigation = investigate_if_needed(&state, &principal, text, r).await;
            }
            let can_propose = principal.role.allows(Role::Operator);
            Some(render_exchange(
                text,
                &reply,
                q.cluster.as_deref(),
                can_propose,
            ))
        }
    };
    // htmx asks for one exchange, to put on top of the conversation.
    if is_htmx(&headers)
        && let Some(e) = &exchange
    {
        return Ok(Html(e.clone().into_string()).into_response());
    }
    let body = html! {
        h1 { "Ask" }
        form.ask method="get" action="/console/ask"
            hx-get="/console/ask" hx-target="#conversation" hx-swap="afterbegin" {
            @if let Some(c) = &q.cluster { input type="hidden" name="cluster" value=(c); }
            input #question type="text" name="q" required maxlength=(MAX_QUESTION)
                autocomplete="off" placeholder="why is the checkout deployment failing in shop?"
                aria-label="Your question" value=[question];
            button.primary type="submit" { "Ask" }
        }
        p.muted.hint {
            "Answers come from the live findings and their root causes, read by rules; when \
             words are not understood and an LLM is configured, its investigation follows. \
             Asking only looks; approve changes on the Healing page. Try: "
            @for (i, s) in STARTERS.iter().enumerate() {
                @if i > 0 { ", " }
                a href={ "/console/ask?q=" (urlencode(s)) } { (s) }
            }
        }
        div #conversation { @if let Some(e) = &exchange { (e) } }
    };
    Ok(Page {
        title: "Ask",
        nav: "ask",
        principal: &principal,
        live: None,
        body,
    }
    .respond(&headers))
}

/// One question and its answers (or why it could not be answered).
fn render_exchange(
    question: &str,
    reply: &Result<AskReply, ApiError>,
    cluster: Option<&str>,
    can_propose: bool,
) -> Markup {
    html! {
        article.exchange {
            p.question { span.who { "You" } " " (question) }
            @match reply {
                Err(e) => { p.alert.answer-error { (e.message) } }
                Ok(r) if r.request.intent == Intent::Act => {
                    (super::ask_act::offer(question, r, cluster, can_propose))
                }
                Ok(r) => {
                    p.reading.muted { "Read as: " (r.request.describe()) }
                    @if r.answers.is_empty() { p.empty { "No cluster is in your scope." } }
                    @for a in &r.answers { (render_answer(a.cluster.as_deref(), &a.answer, r.answers.len() > 1)) }
                    @if let Some(i) = &r.investigation { (render_investigation(i)) }
                    @if let Some(first) = r.answers.first() { (suggestions(&first.answer)) }
                }
            }
        }
    }
}

fn render_answer(cluster: Option<&str>, a: &Answer, name_cluster: bool) -> Markup {
    let roots = matches!(
        a.request.intent,
        Intent::Diagnose | Intent::Why | Intent::Fix
    );
    let fix = a.request.intent == Intent::Fix;
    html! {
        section.answer data-intent=(a.request.intent.as_str()) data-cluster=[cluster] {
            @if name_cluster { @if let Some(c) = cluster { h3 { (c) } } }
            p.headline { (a.headline) }
            @for d in &a.details { p.detail { (d) } }
            @if !a.items.is_empty() {
                ol.items { @for item in &a.items {
                    @let f = &item.finding;
                    li.item data-check=(f.id) data-fingerprint=(f.fingerprint) {
                        (badge(f.severity.as_str())) " "
                        @match cluster {
                            Some(c) => a href=(detail_url(c, &f.fingerprint)) { (f.object.display()) },
                            None => span { (f.object.display()) },
                        }
                        " — " (f.title)
                        @if !item.via.is_empty() {
                            ul.via { @for (k, l) in item.via.iter().enumerate() {
                                li { span.muted { @if k == 0 { "via " } @else { "← " } } (l.object.display()) " — " (l.title) }
                            } }
                        }
                        @if roots && item.symptoms > 0 {
                            p.muted.symptoms { @if item.symptoms == 1 { "1 finding traces" } @else { (item.symptoms) " findings trace" } " back to it" }
                        }
                        @if roots && !f.remediation.summary.is_empty() {
                            p.fix { strong { "Fix: " } (f.remediation.summary) }
                            @if fix && !f.remediation.commands.is_empty() {
                                pre.commands { code { @for c in &f.remediation.commands { (c) "\n" } } }
                            }
                        }
                    }
                } }
            }
            @if a.more > 0 { p.muted { "… and " (a.more) " more." } }
            @if let Some(cli) = &a.cli { p.cli.muted { "In the CLI: " code { (cli) } } }
        }
    }
}

/// The investigator's answer: what the model said, the tools it called, what it did not check,
/// and Kaptain's own root causes when the answer cites none of them.
fn render_investigation(i: &Investigation) -> Markup {
    html! {
        section.investigation data-cluster=(i.cluster) {
            h3 { "Investigation" }
            @if let Some(e) = &i.error { p.alert.answer-error { "The model could not answer: " (e) } }
            @if let Some(t) = &i.transcript {
                @if t.answer.trim().is_empty() {
                    p.empty { "The model gave no answer." }
                } @else {
                    p.llm-answer { (t.answer.trim()) }
                }
                @let runs = t.tools_called();
                @if !runs.is_empty() {
                    details.tools-called {
                        summary { "Tools called (" (runs.len()) ")" }
                        ol { @for r in &runs {
                            li data-tool=(r.tool) data-outcome=(r.outcome) {
                                code { (r.tool) " " (serde_json::to_string(&r.arguments).unwrap_or_default()) }
                                " — "
                                @if r.outcome == "ok" { (r.result_bytes) " bytes" @if r.truncated { ", cut" } }
                                @else { (r.outcome) @if let Some(e) = &r.error { ": " (e) } }
                            }
                        } }
                    }
                }
                @if !t.not_checked.is_empty() {
                    p.muted.not-checked { "Not checked: " (t.not_checked.join("; ")) }
                }
                @if t.cited.is_empty() && !t.hypotheses.is_empty() {
                    p.muted { "Root causes Kaptain found (the answer cites none of them):" }
                    ul.hypotheses { @for h in &t.hypotheses {
                        li data-fingerprint=(h.fingerprint) { (badge(&h.severity)) " " (h.object) " — " (h.title) }
                    } }
                }
                p.muted.llm-meta {
                    "Asked " (t.provider) "/" (t.model) " · " (t.steps.len()) " step(s) · "
                    (t.usage.input_tokens) " tokens in, " (t.usage.output_tokens) " out · " (t.stop.as_str())
                    @if t.anonymized { " · names anonymized" }
                }
            }
        }
    }
}

fn suggestions(a: &Answer) -> Markup {
    html! {
        @if !a.suggestions.is_empty() {
            p.suggestions { "Ask next: "
                @for (i, s) in a.suggestions.iter().enumerate() {
                    @if i > 0 { " · " }
                    a href={ "/console/ask?q=" (urlencode(s)) }
                        hx-get={ "/console/ask?q=" (urlencode(s)) } hx-target="#conversation" hx-swap="afterbegin" { (s) }
                }
            }
        }
    }
}
