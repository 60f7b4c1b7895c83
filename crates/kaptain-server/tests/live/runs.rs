//! Diagnose runs through the API on the real cluster: start one as an operator, follow its
//! progress on the SSE stream and by polling, and find the scenario's root cause with its
//! symptoms in the result; a viewer may not start one; a queued run can be cancelled.

use axum::http::{Method, StatusCode};
use futures::FutureExt as _;
use http_body_util::BodyExt;
use kaptain_server::serve::Server;
use kaptain_server::tasks::TaskInfo;
use kaptain_store::{Role, Scope};
use kaptain_testenv::apply_yaml;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{
    CLUSTER, DEADLINE, TestResult, audit_records, call, cluster, eventually, expect, finished,
    hub_config, missing_configmap, options, request, start_run, token, traces_to,
};

const NS: &str = "live-run";

/// A finding `f` (report JSON) is about `kind` `name` (a prefix when it ends in `-`) in `ns`.
fn about(f: &Value, id: &str, kind: &str, name: &str, ns: &str) -> bool {
    let object = &f["object"];
    let n = object["name"].as_str().unwrap_or_default();
    f["id"] == id
        && object["kind"] == kind
        && object["namespace"] == ns
        && (n == name || (name.ends_with('-') && n.starts_with(name)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_run_finds_the_missing_configmap_behind_the_service() -> TestResult {
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_configmap(NS)).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let server = Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let operator = token(&server, "run-operator", Role::Operator, vec![]).await?;
    let viewer = token(&server, "run-viewer", Role::Viewer, vec![]).await?;
    let elsewhere = token(
        &server,
        "run-elsewhere",
        Role::Operator,
        vec![Scope::cluster("another-cluster")],
    )
    .await?;

    // The cluster has reached the broken state in the live report: the pods are in
    // CreateContainerConfigError (no longer ContainerCreating), and every symptom the run's
    // result is checked for below is linked to the missing ConfigMap — the Service without
    // endpoints and the unavailable Deployment too (the Deployment's status comes from the
    // deployment controller, on its own schedule). The run re-analyses the same live index.
    let hub = server.state.hub.clone();
    eventually("the scenario's state in the hub's report", || {
        let hub = hub.clone();
        async move {
            let r = hub.report(CLUSTER)?;
            let here: Vec<_> = r
                .findings
                .iter()
                .filter(|f| f.object.namespace.as_deref() == Some(NS))
                .collect();
            let root = here
                .iter()
                .find(|f| f.id == "config.missing-configmap" && f.object.name == "api-config")?;
            let linked = |id: &str| {
                here.iter()
                    .any(|f| f.id == id && traces_to(&r.findings, f, &root.fingerprint))
            };
            (linked("pod.create-container-config-error")
                && linked("service.no-ready-endpoints")
                && linked("deployment.unavailable")
                && !here.iter().any(|f| f.id == "pod.container-creating"))
            .then_some(())
        }
    })
    .await?;

    // A viewer may look but not start a run; nor may an operator of another cluster.
    let this = json!({"cluster": CLUSTER});
    for (tok, body, status, what) in [
        (
            &viewer,
            &this,
            StatusCode::FORBIDDEN,
            "a viewer starting a run",
        ),
        (
            &elsewhere,
            &this,
            StatusCode::FORBIDDEN,
            "an operator of another cluster",
        ),
        (
            &operator,
            &json!({"cluster": "no-such-cluster"}),
            StatusCode::NOT_FOUND,
            "a run of an unknown cluster",
        ),
    ] {
        let r = call(
            &server,
            Method::POST,
            "/api/v1/runs",
            Some(tok),
            Some(body.clone()),
        )
        .await?;
        expect(&r, status, what);
    }
    let runs = call(&server, Method::GET, "/api/v1/runs", Some(&operator), None).await?;
    expect(&runs, StatusCode::OK, "listing runs");
    assert_eq!(
        runs.body["items"].as_array().map(Vec::len),
        Some(0),
        "{:?}",
        runs.body
    );

    // Follow the SSE stream while the operator's run goes.
    let stream = server
        .router
        .clone()
        .oneshot(request(Method::GET, "/api/v1/stream", Some(&viewer), None)?)
        .await?;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = stream.into_body();
    // A principal scoped to another cluster follows the stream too: it must not hear of
    // this cluster's run.
    let other = server
        .router
        .clone()
        .oneshot(request(
            Method::GET,
            "/api/v1/stream",
            Some(&elsewhere),
            None,
        )?)
        .await?;
    assert_eq!(other.status(), StatusCode::OK);
    let mut other = other.into_body();

    let r = start_run(&server, &operator, "an operator starting a run").await?;
    let id = r.body["run"]["id"].as_i64().ok_or("no run id")?;
    assert_eq!(r.body["run"]["requested_by"], "token:run-operator");
    assert_eq!(r.body["task"]["kind"], "diagnose");
    assert_eq!(r.body["task"]["run_id"], id);

    // The stream tells about the run (its progress, then its end).
    let wanted = format!("\"run\":{id}");
    let mut text = String::new();
    let saw = tokio::time::timeout(DEADLINE, async {
        while let Some(frame) = events.frame().await {
            if let Ok(data) = frame?.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
                if text.contains("event: run") && text.contains(&wanted) {
                    return Ok::<bool, axum::Error>(true);
                }
            }
        }
        Ok(false)
    })
    .await;
    assert!(
        matches!(saw, Ok(Ok(true))),
        "no run event for run {id} on the stream: {text}"
    );
    drop(events);
    // The run's events are in the channel now: whatever the other stream has ready, without
    // waiting, is all it got (keep-alive comments at most).
    let mut heard = String::new();
    while let Some(Some(frame)) = other.frame().now_or_never() {
        if let Ok(data) = frame?.into_data() {
            heard.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(
        !heard.contains("event: run"),
        "a principal of another cluster heard of the run: {heard}"
    );
    drop(other);

    let run = finished(&server, id, &viewer).await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["progress"], 1.0);
    assert!(run["finished_at"].is_string(), "{run}");
    let summary = &run["summary"];
    assert!(summary["findings"].as_u64().unwrap_or(0) >= 3, "{summary}");
    // The only replica holds the cluster's lease: the run recorded what it found.
    assert_eq!(summary["recorded"], true, "{summary}");
    assert!(summary["appeared"].is_u64(), "{summary}");
    let roots = summary["root_causes"].as_array().ok_or("no root causes")?;
    let root = roots
        .iter()
        .find(|r| about(r, "config.missing-configmap", "ConfigMap", "api-config", NS))
        .ok_or_else(|| {
            format!("the missing ConfigMap is not a root cause of the run: {summary}")
        })?;
    let symptoms = root["symptoms"].as_array().ok_or("no symptoms")?;
    for (id, kind, name) in [
        ("service.no-ready-endpoints", "Service", "api"),
        // The pods' config errors: one finding on their Deployment.
        ("pod.create-container-config-error", "Deployment", "api"),
        ("deployment.unavailable", "Deployment", "api"),
    ] {
        assert!(
            symptoms.iter().any(|s| about(s, id, kind, name, NS)),
            "{id} of {kind} {name} is not linked to the missing ConfigMap: {summary:#}"
        );
    }
    // The symptoms are not root causes of their own.
    assert!(
        !roots
            .iter()
            .any(|r| about(r, "service.no-ready-endpoints", "Service", "api", NS)),
        "{summary}"
    );

    // The run is listed, and in the findings history the root cause is open.
    let runs = call(&server, Method::GET, "/api/v1/runs", Some(&viewer), None).await?;
    assert_eq!(runs.body["items"][0]["id"], id, "{:?}", runs.body);
    let open = call(
        &server,
        Method::GET,
        &format!("/api/v1/findings?cluster={CLUSTER}&namespace={NS}&root_only=true"),
        Some(&viewer),
        None,
    )
    .await?;
    expect(&open, StatusCode::OK, "root causes in the history");
    let items = open.body["items"].as_array().ok_or("no items")?;
    assert!(
        items.iter().any(|f| about(
            &f["finding"],
            "config.missing-configmap",
            "ConfigMap",
            "api-config",
            NS
        )),
        "{:?}",
        open.body
    );

    // The audit log has the denied and the accepted start, with their actors.
    let records = audit_records(&server, "POST /api/v1/runs").await?;
    let by = |actor: &str, outcome: &str| {
        records
            .iter()
            .any(|r| r.actor == actor && r.outcome == outcome)
    };
    assert!(by("token:run-viewer", "denied"), "{records:#?}");
    assert!(by("token:run-elsewhere", "denied"), "{records:#?}");
    assert!(by("token:run-operator", "rejected"), "{records:#?}");
    let ok = records
        .iter()
        .find(|r| r.actor == "token:run-operator" && r.outcome == "ok")
        .ok_or("no audit record of the run's start")?;
    assert_eq!(ok.target, format!("run {id}"));
    assert_eq!(ok.cluster.as_deref(), Some(CLUSTER));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_can_be_cancelled() -> TestResult {
    let (cp, _client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    // One worker, held by a task of the test: the run must wait in the queue.
    let server = Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let operator = token(&server, "cancel-operator", Role::Operator, vec![]).await?;
    let viewer = token(&server, "cancel-viewer", Role::Viewer, vec![]).await?;
    let hub = server.state.hub.clone();
    eventually("the cluster's first analysis", || {
        let hub = hub.clone();
        async move { hub.index(CLUSTER).map(|_| ()) }
    })
    .await?;
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
    let hold = server.state.tasks.spawn(
        TaskInfo::new("hold", CLUSTER, None, "test"),
        DEADLINE,
        async move {
            let _ = held.await;
        },
        move |_| async move {
            let _ = ended_tx.send(());
        },
    );
    // Each task takes the worker from its own spawned future: the holding task must have it
    // before the run is queued, or the run could take it first.
    eventually("the holding task to take the worker", || async {
        server
            .state
            .tasks
            .get(hold.id)
            .filter(|t| t.state == kaptain_server::tasks::TaskState::Running)
    })
    .await?;

    let r = start_run(&server, &operator, "starting a run").await?;
    let run_id = r.body["run"]["id"].as_i64().ok_or("no run id")?;
    let task_id = r.body["task"]["id"].as_u64().ok_or("no task id")?;
    let tasks = call(&server, Method::GET, "/api/v1/tasks", Some(&viewer), None).await?;
    expect(&tasks, StatusCode::OK, "listing tasks");
    let listed = tasks
        .body
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == task_id).cloned())
        .ok_or_else(|| format!("task {task_id} not listed: {:?}", tasks.body))?;
    assert_eq!(listed["state"], "queued", "{listed}");
    assert_eq!(listed["run_id"], run_id);

    // A viewer may not cancel it; the operator may.
    let cancel = format!("/api/v1/tasks/{task_id}/cancel");
    let r = call(&server, Method::POST, &cancel, Some(&viewer), None).await?;
    expect(&r, StatusCode::FORBIDDEN, "a viewer cancelling");
    let r = call(&server, Method::POST, &cancel, Some(&operator), None).await?;
    expect(&r, StatusCode::OK, "an operator cancelling");
    assert_eq!(r.body["id"], task_id);
    let r = call(&server, Method::POST, &cancel, Some(&operator), None).await?;
    expect(&r, StatusCode::NOT_FOUND, "cancelling it again");

    // Its run ended as failed, cancelled by the operator; with the worker free again, it
    // does not run after all.
    let _ = release.send(());
    tokio::time::timeout(DEADLINE, ended).await??;
    let run = finished(&server, run_id, &viewer).await?;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        run["message"], "cancelled by token:cancel-operator",
        "{run}"
    );
    // Another run goes through the now free worker; the cancelled one stays as it was.
    let r = start_run(&server, &operator, "starting another run").await?;
    let next = r.body["run"]["id"].as_i64().ok_or("no run id")?;
    let done = finished(&server, next, &viewer).await?;
    assert_eq!(done["status"], "succeeded", "{done}");
    let run = call(
        &server,
        Method::GET,
        &format!("/api/v1/runs/{run_id}"),
        Some(&viewer),
        None,
    )
    .await?;
    assert_eq!(run.body["status"], "failed", "{:?}", run.body);
    assert!(run.body["summary"].is_null(), "{:?}", run.body);

    let records = audit_records(&server, "POST /api/v1/tasks/{id}/cancel").await?;
    assert!(
        records
            .iter()
            .any(|r| r.actor == "token:cancel-viewer" && r.outcome == "denied"),
        "{records:#?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.actor == "token:cancel-operator" && r.outcome == "ok"),
        "{records:#?}"
    );
    Ok(())
}
