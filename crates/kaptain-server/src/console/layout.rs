//! The page shell (head, nav bar, live region) and small shared pieces (badges, times).

use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use jiff::Timestamp;
use kaptain_store::Role;
use maud::{DOCTYPE, Markup, html};

use crate::auth::Principal;

const NAV: &[(&str, &str, &str)] = &[
    ("overview", "/console", "Overview"),
    ("findings", "/console/findings", "Findings"),
    ("namespaces", "/console/namespaces", "Namespaces"),
    ("nodes", "/console/nodes", "Nodes"),
    ("healing", "/console/healing", "Healing"),
    ("agents", "/console/agents", "Agents & tasks"),
    ("ask", "/console/ask", "Ask"),
];

/// A page to render.
pub struct Page<'a> {
    pub title: &'a str,
    /// Which nav entry is current (`overview`, `findings`, ...).
    pub nav: &'a str,
    pub principal: &'a Principal,
    /// When set, the body is re-fetched from this URL every 5 s (htmx); the handler answers
    /// an htmx request with the body alone.
    pub live: Option<String>,
    pub body: Markup,
}

impl Page<'_> {
    /// The whole document, or only the body for htmx's polling requests.
    pub fn respond(self, headers: &HeaderMap) -> Response {
        if super::is_htmx(headers) {
            return Html(self.body.into_string()).into_response();
        }
        let p = self.principal;
        let content = html! {
            @if let Some(url) = &self.live {
                div #live hx-get=(url) hx-trigger="every 5s" hx-swap="innerHTML" { (self.body) }
            } @else {
                (self.body)
            }
        };
        let nav = html! {
            @for (key, href, label) in NAV {
                a href=(href) class=[(*key == self.nav).then_some("current")] { (label) }
            }
            @if p.role.allows(Role::Admin) && p.scopes.is_empty() {
                a href="/console/audit" class=[("audit" == self.nav).then_some("current")] { "Audit log" }
            }
        };
        let who = html! {
            span.who title=(scopes(p)) { (p.actor) " · " (p.role) }
            form.logout method="post" action="/console/logout" { button type="submit" { "Log out" } }
        };
        document(self.title, Some(nav), Some(who), content).into_response()
    }
}

/// A page without a principal (login).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    document(title, None, None, body)
}

/// An error page (403, 404, ...), with the nav bar so the person can go on.
pub fn error_page(title: &str, body: Markup) -> Html<String> {
    let nav = html! { @for (_, href, label) in NAV { a href=(href) { (label) } } };
    document(title, Some(nav), None, body)
}

fn document(title: &str, nav: Option<Markup>, who: Option<Markup>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Kaptain" }
                    link rel="stylesheet" href="/assets/console.css";
                    script src="/assets/htmx.min.js" defer {}
                    script src="/assets/console.js" defer {}
                }
                body {
                    header.top {
                        a.brand href="/console" { "Kaptain" }
                        @if let Some(nav) = nav { nav.main { (nav) } }
                        @if let Some(who) = who { div.session { (who) } }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

fn scopes(p: &Principal) -> String {
    if p.scopes.is_empty() {
        return "all clusters".into();
    }
    p.scopes
        .iter()
        .map(|s| match &s.namespace {
            Some(ns) => format!("{}/{ns}", s.cluster),
            None => s.cluster.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A severity badge (`critical`, `high`, ...).
pub fn badge(severity: &str) -> Markup {
    let s = severity.to_ascii_lowercase();
    html! { span class={ "badge sev-" (s) } { (s) } }
}

/// A phase or state badge.
pub fn state_badge(state: &str) -> Markup {
    let s = state.to_ascii_lowercase();
    html! { span class={ "badge st-" (s) } { (state) } }
}

/// `3m`, `2h`, `5d` since `t`.
pub fn age(t: Option<Timestamp>) -> String {
    let Some(t) = t else { return "-".into() };
    let secs = Timestamp::now().as_second() - t.as_second();
    match secs {
        s if s < 0 => "0s".into(),
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A `?cluster=` filter as a query-string suffix.
pub fn cluster_query(cluster: Option<&str>) -> String {
    match cluster {
        Some(c) => format!("?cluster={}", urlencode(c)),
        None => String::new(),
    }
}

/// Percent-encodes a path segment or query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
