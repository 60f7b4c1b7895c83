//! `GET /console/findings` (the root-cause tree of the live report) and
//! `GET /console/findings/{cluster}/{fingerprint}` (one finding in full).

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use kaptain_model::Finding;
use kaptain_store::Role;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Page, badge, cluster_query, urlencode};
use super::{PageError, PageResult};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::auth::Principal;

/// `?cluster=`.
#[derive(Debug, Default, Deserialize)]
pub struct ClusterFilter {
    pub cluster: Option<String>,
}

/// The findings of `cluster`'s live report that the principal may see (none before the first
/// report).
pub fn visible(state: &AppState, p: &Principal, cluster: &str) -> Vec<Finding> {
    state.visible_findings(p, cluster).unwrap_or_default()
}

/// `GET /console/findings?cluster=`.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<ClusterFilter>,
) -> PageResult {
    principal.require(Role::Viewer)?;
    super::lists::check_cluster(&state, &principal, &q)?;
    let clusters = state.visible_clusters(&principal, q.cluster.as_deref());
    let body = html! {
        h1 { "Findings" }
        @for cluster in &clusters {
            @let all = visible(&state, &principal, cluster);
            section.cluster-findings data-cluster=(cluster) {
                h2 { (cluster) " " span.muted { (all.len()) " findings" } }
                @if all.is_empty() { p.empty { "No findings." } } @else {
                    ul.tree { @for root in roots(&all) { (node(cluster, root, &all, &mut HashSet::new())) } }
                }
            }
        }
    };
    Ok(Page {
        title: "Findings",
        nav: "findings",
        principal: &principal,
        live: Some(format!(
            "/console/findings{}",
            cluster_query(q.cluster.as_deref())
        )),
        body,
    }
    .respond(&headers))
}

/// Root causes, and findings whose causes are all outside `all` (so nothing is hidden),
/// most severe first.
fn roots(all: &[Finding]) -> Vec<&Finding> {
    let known: HashSet<&str> = all.iter().map(|f| f.fingerprint.as_str()).collect();
    let mut roots: Vec<&Finding> = all
        .iter()
        .filter(|f| f.root_cause || !f.caused_by.iter().any(|c| known.contains(c.as_str())))
        .collect();
    // A cause carries the weight of what it breaks.
    roots.sort_by(|a, b| {
        b.urgency()
            .cmp(&a.urgency())
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.title.cmp(&b.title))
    });
    roots
}

fn node<'a>(
    cluster: &str,
    f: &'a Finding,
    all: &'a [Finding],
    seen: &mut HashSet<&'a str>,
) -> Markup {
    seen.insert(&f.fingerprint);
    let symptoms: Vec<&Finding> = all
        .iter()
        .filter(|s| s.caused_by.contains(&f.fingerprint) && !seen.contains(s.fingerprint.as_str()))
        .collect();
    let children: Vec<Markup> = symptoms
        .iter()
        .map(|s| node(cluster, s, all, seen))
        .collect();
    html! {
        li.finding data-fingerprint=(f.fingerprint) {
            (badge(f.urgency().as_str()))
            " "
            a href=(detail_url(cluster, &f.fingerprint)) { (f.title) }
            span.muted { " " (f.object.display()) }
            @if f.root_cause { " " span.tag { "root cause" } }
            @if !children.is_empty() { ul { @for c in &children { (c) } } }
        }
    }
}

pub(super) fn detail_url(cluster: &str, fingerprint: &str) -> String {
    format!(
        "/console/findings/{}/{}",
        urlencode(cluster),
        urlencode(fingerprint)
    )
}

/// `GET /console/findings/{cluster}/{fingerprint}`.
pub async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((cluster, fingerprint)): Path<(String, String)>,
) -> PageResult {
    principal.require(Role::Viewer)?;
    principal.ensure_touches(&cluster)?;
    let report = state
        .hub
        .report(&cluster)
        .ok_or_else(|| ApiError::not_found(format!("cluster {cluster} not found")))?;
    let not_found = || {
        PageError(ApiError::not_found(format!(
            "no open finding {fingerprint} in cluster {cluster} (it may have cleared)"
        )))
    };
    let f = report
        .findings
        .iter()
        // A pod's old link finds the finding grouped under its workload.
        .find(|f| f.fingerprint == fingerprint)
        .or_else(|| report.findings.iter().find(|f| f.answers_to(&fingerprint)))
        .ok_or_else(not_found)?;
    principal.ensure(&cluster, f.object.namespace.as_deref())?;
    let all = visible(&state, &principal, &cluster);
    let by_fp = |fp: &str| all.iter().find(|x| x.fingerprint == fp);
    // The chain upwards: this finding's cause, its cause, ... (first cause each step).
    let mut chain: Vec<&Finding> = Vec::new();
    let mut cur = f.caused_by.first().and_then(|c| by_fp(c));
    while let Some(c) = cur {
        if chain.iter().any(|x| x.fingerprint == c.fingerprint) || c.fingerprint == f.fingerprint {
            break;
        }
        chain.push(c);
        cur = c.caused_by.first().and_then(|n| by_fp(n));
    }
    let symptoms: Vec<&Finding> = all
        .iter()
        .filter(|s| s.caused_by.contains(&f.fingerprint))
        .collect();
    let body = html! {
        p { a href={ "/console/findings?cluster=" (urlencode(&cluster)) } { "← Findings of " (cluster) } }
        article.finding-detail {
            h1 { (badge(f.urgency().as_str())) " " (f.title) }
            dl.facts {
                @if f.urgency() != f.severity {
                    div { dt { "Severity" } dd { (f.severity.as_str()) " on its own; " (f.urgency().as_str()) " for what it breaks" } }
                }
                div { dt { "Object" } dd { (f.object.display()) } }
                div { dt { "Check" } dd { code { (f.id) } } }
                div { dt { "Category" } dd { (f.category.as_str()) } }
                div { dt { "Confidence" } dd { (format!("{:.0}%", f.confidence * 100.0)) } }
                div { dt { "Fingerprint" } dd { code { (f.fingerprint) } } }
                div { dt { "Root cause" } dd { @if f.root_cause { "yes" } @else { "no" } } }
            }
            @if !f.message.is_empty() { p.message { (f.message) } }
            @if !f.instances.is_empty() {
                h2 { "Pods (" (f.instances.len()) ")" }
                ul.instances { @for i in &f.instances { li { (i.object.display()) } } }
            }
            h2 { "Evidence" }
            @if f.evidence.is_empty() { p.empty { "None recorded." } } @else {
                ul.evidence { @for e in &f.evidence {
                    li { span.tag { (format!("{:?}", e.source).to_lowercase()) } " " (e.detail) }
                } }
            }
            h2 { "Remediation" }
            @if !f.remediation.summary.is_empty() { p { (f.remediation.summary) } }
            @if !f.remediation.commands.is_empty() {
                pre.commands { code { @for c in &f.remediation.commands { (c) "\n" } } }
            }
            @if let Some(patch) = &f.remediation.patch { h3 { "Patch" } pre.patch { code { (patch) } } }
            h2 { "Cause chain" }
            @if chain.is_empty() && f.caused_by.is_empty() { p { "This is where the chain starts." } }
            @else if chain.is_empty() { p.muted { "Caused by findings outside your view: " (f.caused_by.join(", ")) } }
            @else { ol.chain { @for c in &chain {
                li { (badge(c.severity.as_str())) " " a href=(detail_url(&cluster, &c.fingerprint)) { (c.title) } span.muted { " " (c.object.display()) } }
            } } }
            @if !symptoms.is_empty() {
                h2 { "Symptoms it causes" }
                ul { @for s in &symptoms {
                    li { (badge(s.severity.as_str())) " " a href=(detail_url(&cluster, &s.fingerprint)) { (s.title) } span.muted { " " (s.object.display()) } }
                } }
            }
        }
    };
    Ok(Page {
        title: &f.title,
        nav: "findings",
        principal: &principal,
        live: None,
        body,
    }
    .respond(&headers))
}
