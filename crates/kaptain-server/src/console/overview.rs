//! `GET /console`: per cluster its status, version, sizes, findings by severity, a 24-hour
//! chart of open findings and the latest Warning events.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};

use super::layout::{Page, age, badge, state_badge, urlencode};
use super::{PageResult, chart, findings};
use crate::api::AppState;
use crate::auth::Principal;
use kaptain_engine::live::SeverityCounts;

/// `GET /console`.
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> PageResult {
    let mut body = Vec::new();
    let names = state.visible_clusters(&principal, None);
    for name in &names {
        body.push(cluster_card(&state, &principal, name).await);
    }
    let body = html! {
        h1 { "Overview" }
        @if names.is_empty() { p.empty { "No cluster in your scope." } }
        div.cards { @for card in &body { (card) } }
    };
    Ok(respond(&principal, &headers, body))
}

fn respond(principal: &Principal, headers: &HeaderMap, body: Markup) -> Response {
    Page {
        title: "Overview",
        nav: "overview",
        principal,
        live: Some("/console".into()),
        body,
    }
    .respond(headers)
}

async fn cluster_card(state: &AppState, p: &Principal, name: &str) -> Markup {
    let Some(view) = state.hub.cluster(name) else {
        return html! {};
    };
    let whole = p.covers(name, None);
    // A namespace-scoped principal sees its namespaces' findings, not the cluster's.
    let counts = if whole {
        view.info.findings
    } else {
        SeverityCounts::of(findings::visible(state, p, name).iter())
    };
    let chart = if whole {
        let since = Timestamp::now() - SignedDuration::from_hours(24);
        match state
            .store
            .severity_counts_over_time(Some(name), since, 3600)
            .await
        {
            Ok(b) => chart::severity_chart("Open findings by severity, last 24 h", &b),
            Err(e) => html! { p.alert { "History unavailable: " (e) } },
        }
    } else {
        html! {}
    };
    let events: Vec<_> = state
        .hub
        .warning_events(name, 50)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| p.covers(name, Some(&e.namespace)))
        .take(8)
        .collect();
    let status = &view.info.status;
    html! {
        article.card.cluster data-cluster=(name) {
            header {
                h2 { (name) }
                (state_badge(status.state()))
                @if let Some(v) = &view.info.server_version { span.muted { " Kubernetes " (v) } }
            }
            @if let Some(err) = status.error() { p.alert { (err) } }
            dl.stats {
                @if whole {
                    div { dt { "Nodes" } dd { a href={ "/console/nodes?cluster=" (urlencode(name)) } { (view.nodes) } } }
                    div { dt { "Pods" } dd { (view.pods) } }
                    div { dt { "Namespaces" } dd { (view.namespaces) } }
                }
                div { dt { "Pending approvals" } dd { a href="/console/healing" { (view.healing_pending) } } }
                div { dt { "Data as of" } dd { (age(view.data_as_of)) " ago" } }
            }
            div.severities {
                a href={ "/console/findings?cluster=" (urlencode(name)) } {
                    (badge("critical")) " " (counts.critical) " "
                    (badge("high")) " " (counts.high) " "
                    (badge("medium")) " " (counts.medium) " "
                    (badge("low")) " " (counts.low) " "
                    (badge("info")) " " (counts.info)
                }
                span.muted { " · " (counts.root_causes) " root causes" }
            }
            (chart)
            h3 { "Recent Warning events" }
            @if events.is_empty() { p.empty { "None." } } @else {
                div.scroll { table {
                    thead { tr { th { "Age" } th { "Namespace" } th { "Object" } th { "Reason" } th { "Message" } th { "Count" } } }
                    tbody { @for e in &events { tr {
                        td { (age(e.last_seen)) }
                        td { (e.namespace) }
                        td { (e.object.kind.as_deref().unwrap_or("")) "/" (e.object.name.as_deref().unwrap_or("")) }
                        td { (e.reason.as_deref().unwrap_or("")) }
                        td.msg { (e.message.as_deref().unwrap_or("")) }
                        td { (e.count) }
                    } } }
                } }
            }
        }
    }
}
