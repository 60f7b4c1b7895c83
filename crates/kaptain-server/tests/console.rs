//! The web console in-process (tower `oneshot` on the real Router with a real SQLite store):
//! login and the session cookie, redirects without it, roles (a viewer cannot approve, only
//! admins see the audit log), the HX-Request requirement, auditing of console POSTs, and
//! scope filtering against the real control plane.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kaptain_engine::live::{ClusterSource, LiveConfig};
use kaptain_server::serve::Server;
use kaptain_store::{AuditQuery, Role, Scope};
use kaptain_testenv::{ControlPlane, apply_yaml};
use tower::ServiceExt;

mod support;

use support::{Error, TestResult, fast_hub, missing_config_app, serve_options};

struct Console {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Console {
    async fn start(clusters: Vec<ClusterSource>, hub: LiveConfig) -> Result<Console, Error> {
        let dir = tempfile::tempdir()?;
        let opts = serve_options(dir.path(), clusters);
        let server = Server::build(&opts, hub).await?;
        Ok(Console { server, _dir: dir })
    }

    async fn token(&self, name: &str, role: Role, scopes: Vec<Scope>) -> Result<String, Error> {
        support::token(&self.server, name, role, scopes).await
    }

    /// `(status, headers, body)` of a request with the session cookie `session` and extra
    /// headers.
    async fn call(
        &self,
        method: Method,
        uri: &str,
        session: Option<&str>,
        extra: &[(&str, &str)],
        form: Option<String>,
    ) -> Result<(StatusCode, HeaderMap, String), Error> {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("other=1; kaptain_session={s}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = match form {
            Some(f) => req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(f))?,
            None => req.body(Body::empty())?,
        };
        let res = self.server.router.clone().oneshot(req).await?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = String::from_utf8(res.into_body().collect().await?.to_bytes().to_vec())?;
        Ok((status, headers, body))
    }

    async fn get(
        &self,
        uri: &str,
        session: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, String), Error> {
        self.call(Method::GET, uri, session, &[], None).await
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn login_sets_the_session_cookie_and_rejects_bad_tokens() -> TestResult {
    let c = Console::start(Vec::new(), LiveConfig::default()).await?;
    let token = c.token("alice", Role::Viewer, Vec::new()).await?;

    let (s, _, body) = c.get("/console/login", None).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains(r#"name="token""#) && body.contains(r#"action="/console/login""#),
        "{body}"
    );

    let (s, h, body) = c
        .call(
            Method::POST,
            "/console/login",
            None,
            &[],
            Some("token=kpt_not-a-real-token".into()),
        )
        .await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.get(header::SET_COOKIE).is_none());
    assert!(
        body.contains("Login failed") && body.contains(r#"name="token""#),
        "{body}"
    );
    let (s, _, body) = c
        .call(
            Method::POST,
            "/console/login",
            None,
            &[],
            Some("token=".into()),
        )
        .await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Enter a token"), "{body}");

    let (s, h, _) = c
        .call(
            Method::POST,
            "/console/login",
            None,
            &[],
            Some(format!("token={token}")),
        )
        .await?;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(header(&h, "location"), "/console");
    let cookie = header(&h, "set-cookie");
    assert!(
        cookie.starts_with(&format!("kaptain_session={token};")),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }

    let (s, _, body) = c.get("/console", Some(&token)).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Overview") && body.contains("token:alice"),
        "{body}"
    );
    // A viewer's nav has no audit log.
    assert!(!body.contains("/console/audit"), "{body}");

    // Logging in and out are audited.
    let (s, h, _) = c
        .call(Method::POST, "/console/logout", Some(&token), &[], None)
        .await?;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(header(&h, "set-cookie").contains("Max-Age=0"));
    let audit = c.server.state.store.audit(&AuditQuery::default()).await?;
    let actions: Vec<(&str, &str, &str)> = audit
        .items
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert!(
        actions.contains(&("token:alice", "POST /console/login", "ok")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("unauthenticated", "POST /console/login", "denied")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("unauthenticated", "POST /console/logout", "ok")),
        "{actions:?}"
    );
    Ok(())
}

#[tokio::test]
async fn pages_need_the_session_cookie() -> TestResult {
    let c = Console::start(Vec::new(), LiveConfig::default()).await?;
    let pages = [
        "/console",
        "/console/findings",
        "/console/findings/c/0123456789abcdef",
        "/console/namespaces",
        "/console/nodes",
        "/console/healing",
        "/console/agents",
        "/console/audit",
        "/console/ask",
        "/console/ask?q=help",
    ];
    for page in pages {
        let (s, h, _) = c.get(page, None).await?;
        assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(header(&h, "location"), "/console/login", "{page}");
        let (s, h, _) = c.get(page, Some("kpt_revoked-or-made-up")).await?;
        assert_eq!(s, StatusCode::SEE_OTHER, "{page} with a bad cookie");
        assert_eq!(header(&h, "location"), "/console/login");
        let (s, h, _) = c
            .call(Method::GET, page, None, &[("hx-request", "true")], None)
            .await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{page} from htmx");
        assert_eq!(header(&h, "hx-redirect"), "/console/login", "{page}");
    }
    let (s, _, _) = c
        .call(
            Method::POST,
            "/console/healing/c/ns/a/approve",
            None,
            &[("hx-request", "true")],
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The assets and the login page are public.
    for public in [
        "/console/login",
        "/assets/console.css",
        "/assets/console.js",
        "/assets/htmx.min.js",
    ] {
        let (s, _, _) = c.get(public, None).await?;
        assert_eq!(s, StatusCode::OK, "{public}");
    }
    // With a cookie every page answers (the audit log only to an admin).
    let admin = c.token("root", Role::Admin, Vec::new()).await?;
    let viewer = c.token("vic", Role::Viewer, Vec::new()).await?;
    for page in pages.iter().filter(|p| !p.contains("0123456789abcdef")) {
        let (s, _, body) = c.get(page, Some(&admin)).await?;
        assert_eq!(s, StatusCode::OK, "{page}: {body}");
        assert!(
            body.contains("<nav class=\"main\">"),
            "{page} has no nav bar"
        );
        // htmx's polling gets the fragment alone.
        let (s, _, frag) = c
            .call(
                Method::GET,
                page,
                Some(&admin),
                &[("hx-request", "true")],
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(
            !frag.contains("<html") && !frag.is_empty(),
            "{page}: {frag}"
        );
    }
    // The chat box answers a question with one exchange for htmx (put on top of the
    // conversation), and within the whole page without it.
    let (s, _, frag) = c
        .call(
            Method::GET,
            "/console/ask?q=help",
            Some(&viewer),
            &[("hx-request", "true")],
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK);
    assert!(
        frag.starts_with("<article class=\"exchange\">")
            && frag.contains("data-intent=\"help\"")
            && frag.contains("Ask what is wrong")
            && !frag.contains("<form"),
        "{frag}"
    );
    let (s, _, page) = c.get("/console/ask?q=+%3F+", Some(&viewer)).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("<form class=\"ask\"") && page.contains("the question is empty"),
        "{page}"
    );
    let (s, _, body) = c.get("/console/audit", Some(&viewer)).await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        body.contains("403") && body.contains("needs admin"),
        "{body}"
    );
    let (s, _, body) = c.get("/console/audit", Some(&admin)).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("GET") || body.contains("<table"), "{body}");
    Ok(())
}

#[tokio::test]
async fn a_viewer_cannot_approve_and_posts_need_htmx() -> TestResult {
    let c = Console::start(Vec::new(), LiveConfig::default()).await?;
    let viewer = c.token("vic", Role::Viewer, Vec::new()).await?;
    let operator = c
        .token(
            "ops",
            Role::Operator,
            vec![Scope::namespace("prod", "shop")],
        )
        .await?;
    let htmx = [("hx-request", "true")];

    let (s, _, body) = c
        .call(
            Method::POST,
            "/console/healing/prod/shop/restart-api/approve",
            Some(&viewer),
            &htmx,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        body.contains("has role viewer; this needs operator"),
        "{body}"
    );
    let (s, _, body) = c
        .call(
            Method::POST,
            "/console/healing/prod/shop/restart-api/reject",
            Some(&viewer),
            &htmx,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // Without HX-Request (a plain cross-site form post would look like this): refused.
    let (s, _, body) = c
        .call(
            Method::POST,
            "/console/healing/prod/shop/restart-api/approve",
            Some(&operator),
            &[],
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("HX-Request"), "{body}");
    // Outside the operator's scope.
    let (s, _, body) = c
        .call(
            Method::POST,
            "/console/healing/prod/other/x/approve",
            Some(&operator),
            &htmx,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("not scoped to namespace other"), "{body}");
    // In scope, but no such cluster.
    let (s, _, _) = c
        .call(
            Method::POST,
            "/console/healing/prod/shop/x/approve",
            Some(&operator),
            &htmx,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let audit = c.server.state.store.audit(&AuditQuery::default()).await?;
    let denied: Vec<&str> = audit
        .items
        .iter()
        .filter(|r| {
            r.action == "POST /console/healing/{cluster}/{namespace}/{name}/{verb}"
                && r.outcome == "denied"
        })
        .map(|r| r.actor.as_str())
        .collect();
    assert_eq!(
        denied.iter().filter(|a| **a == "token:vic").count(),
        2,
        "{denied:?}"
    );
    assert_eq!(
        denied.iter().filter(|a| **a == "token:ops").count(),
        2,
        "{denied:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_scoped_token_sees_only_its_namespaces() -> TestResult {
    let cp = ControlPlane::shared();
    let _sim = cp.shared_kubelet().await?;
    let client = cp.client().await?;
    let hub = fast_hub();
    let source = ClusterSource::context(Some(cp.kubeconfig_path().to_owned()), "kaptain-test");
    let c = Console::start(vec![source], hub).await?;
    let two_apps = [
        missing_config_app("con-a", "alpha", 1),
        missing_config_app("con-b", "bravo", 1),
    ];
    apply_yaml(&client, &two_apps.join("---\n")).await?;
    let whole = c.token("whole", Role::Viewer, Vec::new()).await?;
    let scoped = c
        .token(
            "shop-a",
            Role::Viewer,
            vec![Scope::namespace("kaptain-test", "con-a")],
        )
        .await?;

    // Wait until the unscoped view shows both broken apps.
    let deadline = Instant::now() + Duration::from_secs(120);
    let all = loop {
        let (s, _, body) = c.get("/console/findings", Some(&whole)).await?;
        assert_eq!(s, StatusCode::OK);
        if body.contains("con-a/alpha") && body.contains("con-b/bravo") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "both apps' findings not shown: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(all.contains("root cause"), "{all}");

    let (s, _, body) = c.get("/console/findings", Some(&scoped)).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("con-a/alpha"), "{body}");
    assert!(!body.contains("con-b"), "a con-a token sees con-b: {body}");
    let (_, _, body) = c.get("/console/namespaces", Some(&scoped)).await?;
    assert!(
        body.contains(">con-a<") && !body.contains("con-b") && !body.contains(">default<"),
        "{body}"
    );
    let (_, _, body) = c.get("/console/namespaces", Some(&whole)).await?;
    assert!(
        body.contains(">con-a<") && body.contains(">con-b<"),
        "{body}"
    );
    // Nodes are cluster-wide: not for a namespace scope.
    let (s, _, body) = c.get("/console/nodes", Some(&scoped)).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(!body.contains("<table"), "{body}");
    let (s, _, _) = c
        .get("/console/nodes?cluster=kaptain-test", Some(&scoped))
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, _, body) = c.get("/console/nodes", Some(&whole)).await?;
    assert!(body.contains("sim-node-0"), "{body}");
    // The overview: the chart only for the whole cluster.
    let (_, _, body) = c.get("/console", Some(&whole)).await?;
    assert!(body.contains("<svg") && body.contains("v1.20.2"), "{body}");
    let (_, _, body) = c.get("/console", Some(&scoped)).await?;
    assert!(
        !body.contains("<svg") && body.contains("kaptain-test"),
        "{body}"
    );

    // A con-b finding's detail page is 403 for the con-a token, 200 for the other.
    let fp = c
        .server
        .state
        .hub
        .report("kaptain-test")
        .and_then(|r| {
            r.findings
                .iter()
                .find(|f| f.object.namespace.as_deref() == Some("con-b"))
                .map(|f| f.fingerprint.clone())
        })
        .ok_or("no con-b finding")?;
    let url = format!("/console/findings/kaptain-test/{fp}");
    let (s, _, _) = c.get(&url, Some(&scoped)).await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, body) = c.get(&url, Some(&whole)).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Remediation") && body.contains("Cause chain"),
        "{body}"
    );
    Ok(())
}
