//! The console's tables: namespaces, nodes, agents & tasks, and the audit log (admin).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use kaptain_store::{AuditQuery, Role};
use maud::html;

use super::PageResult;
use super::findings::ClusterFilter;
use super::layout::{Page, age, badge, cluster_query, state_badge};
use crate::api::AppState;
use crate::auth::Principal;

/// 403 unless the principal may see `?cluster=`; 404 when there is no such cluster.
pub(super) fn check_cluster(
    state: &AppState,
    p: &Principal,
    q: &ClusterFilter,
) -> Result<(), super::PageError> {
    if let Some(c) = &q.cluster {
        p.ensure_touches(c)?;
        if state.hub.cluster(c).is_none() {
            return Err(
                crate::api::error::ApiError::not_found(format!("cluster {c} not found")).into(),
            );
        }
    }
    Ok(())
}

/// `GET /console/namespaces?cluster=`.
pub async fn namespaces(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<ClusterFilter>,
) -> PageResult {
    principal.require(Role::Viewer)?;
    check_cluster(&state, &principal, &q)?;
    let clusters = state.visible_clusters(&principal, q.cluster.as_deref());
    let body = html! {
        h1 { "Namespaces" }
        @for cluster in &clusters {
            @let rows: Vec<_> = state.hub.namespaces(cluster).unwrap_or_default().into_iter()
                .filter(|n| principal.covers(cluster, Some(&n.name))).collect();
            h2 { (cluster) }
            div.scroll { table.namespaces data-cluster=(cluster) {
                thead { tr { th { "Namespace" } th { "Phase" } th { "Pods running/total" } th { "Pending" } th { "Failed" }
                    th { "Deployments" } th { "StatefulSets" } th { "DaemonSets" } th { "Jobs" } th { "Services" } th { "Findings" } } }
                tbody { @for n in &rows { tr {
                    td { a href={ "/console/findings" (cluster_query(Some(cluster))) } { (n.name) } }
                    td { (n.phase.as_deref().unwrap_or("-")) }
                    td { (n.pods.running) "/" (n.pods.total()) }
                    td { (n.pods.pending) }
                    td { (n.pods.failed) }
                    td { (n.workloads.deployments) }
                    td { (n.workloads.statefulsets) }
                    td { (n.workloads.daemonsets) }
                    td { (n.workloads.jobs) }
                    td { (n.services) }
                    td {
                        @if n.findings.critical > 0 { (badge("critical")) " " (n.findings.critical) " " }
                        @if n.findings.high > 0 { (badge("high")) " " (n.findings.high) " " }
                        (n.findings.total()) " total"
                    }
                } } }
            } }
        }
    };
    Ok(Page {
        title: "Namespaces",
        nav: "namespaces",
        principal: &principal,
        live: Some(format!(
            "/console/namespaces{}",
            cluster_query(q.cluster.as_deref())
        )),
        body,
    }
    .respond(&headers))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// `GET /console/nodes?cluster=` (clusters the principal holds whole: nodes are not
/// namespaced).
pub async fn nodes(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<ClusterFilter>,
) -> PageResult {
    principal.require(Role::Viewer)?;
    check_cluster(&state, &principal, &q)?;
    if let Some(c) = &q.cluster {
        principal.ensure(c, None)?;
    }
    let clusters: Vec<String> = state
        .visible_clusters(&principal, q.cluster.as_deref())
        .into_iter()
        .filter(|c| principal.covers(c, None))
        .collect();
    let body = html! {
        h1 { "Nodes" }
        @if clusters.is_empty() { p.empty { "Nodes are shown for clusters you are scoped to as a whole." } }
        @for cluster in &clusters {
            h2 { (cluster) }
            div.scroll { table.nodes data-cluster=(cluster) {
                thead { tr { th { "Node" } th { "Ready" } th { "Roles" } th { "Kubelet" } th { "CPU requested/allocatable" }
                    th { "Memory requested/allocatable" } th { "Pods" } th { "Restarts" } th { "Conditions" } th { "Findings" } th { "Age" } } }
                tbody { @for n in state.hub.nodes(cluster).unwrap_or_default() { tr {
                    td { (n.name) }
                    td { (state_badge(match n.ready { Some(true) => "Ready", Some(false) => "NotReady", None => "Unknown" })) }
                    td { (n.roles.join(", ")) }
                    td { (n.kubelet_version.as_deref().unwrap_or("-")) }
                    td { (n.requested_cpu_millicores) "m / " (n.allocatable_cpu_millicores.map_or("-".into(), |c| format!("{c}m"))) }
                    td { (gib(n.requested_memory_bytes)) " / " (n.allocatable_memory_bytes.map_or("-".into(), gib)) }
                    td { (n.pods) "/" (n.allocatable_pods.map_or("-".into(), |p| p.to_string())) }
                    td { (n.restarts) }
                    td {
                        @if n.unschedulable { span.tag { "cordoned" } " " }
                        @if n.memory_pressure { span.tag { "memory pressure" } " " }
                        @if n.disk_pressure { span.tag { "disk pressure" } " " }
                        @if n.pid_pressure { span.tag { "PID pressure" } }
                    }
                    td { (n.findings) }
                    td { (age(n.created_at)) }
                } } }
            } }
        }
    };
    Ok(Page {
        title: "Nodes",
        nav: "nodes",
        principal: &principal,
        live: Some(format!(
            "/console/nodes{}",
            cluster_query(q.cluster.as_deref())
        )),
        body,
    }
    .respond(&headers))
}

/// `GET /console/agents`: the watchers and the diagnose pool, and the task queue.
pub async fn agents(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> PageResult {
    let axum::Json(agents) =
        crate::api::system::agents(State(state.clone()), principal.clone()).await?;
    let tasks: Vec<_> = state
        .tasks
        .list()
        .into_iter()
        .filter(|t| principal.touches(&t.cluster))
        .collect();
    let body = html! {
        h1 { "Agents & tasks" }
        div.scroll { table.agents {
            thead { tr { th { "Agent" } th { "Kind" } th { "Cluster" } th { "State" } th { "Running" } th { "Queued" } } }
            tbody { @for a in &agents { tr {
                td { (a.name) } td { (a.kind) } td { (a.cluster.as_deref().unwrap_or("-")) }
                td { (state_badge(&a.state)) } td { (a.active_tasks) } td { (a.queued_tasks) }
            } } }
        } }
        h2 { "Tasks" }
        @if tasks.is_empty() { p.empty { "No queued or running tasks." } } @else {
            div.scroll { table.tasks {
                thead { tr { th { "ID" } th { "Kind" } th { "Cluster" } th { "Run" } th { "State" } th { "Queued" } th { "Requested by" } } }
                tbody { @for t in &tasks { tr {
                    td { (t.id) } td { (t.kind) } td { (t.cluster) }
                    td { (t.run_id.map_or("-".into(), |r| r.to_string())) }
                    td { (format!("{:?}", t.state)) } td { (age(Some(t.created_at))) " ago" } td { (t.requested_by) }
                } } }
            } }
        }
    };
    Ok(Page {
        title: "Agents & tasks",
        nav: "agents",
        principal: &principal,
        live: Some("/console/agents".into()),
        body,
    }
    .respond(&headers))
}

/// `GET /console/audit` (an admin without scopes, like `GET /api/v1/audit`): the latest 100
/// records.
pub async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> PageResult {
    principal.require(Role::Admin)?;
    principal.ensure_everywhere()?;
    let page = state
        .store
        .audit(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await?;
    let body = html! {
        h1 { "Audit log" }
        div.scroll { table.audit {
            thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Action" } th { "Target" } th { "Cluster" } th { "Outcome" } } }
            tbody { @for r in &page.items { tr {
                td { (r.seq) } td { (r.ts.strftime("%Y-%m-%d %H:%M:%S")) } td { (r.actor) } td { code { (r.action) } }
                td { (r.target) } td { (r.cluster.as_deref().unwrap_or("-")) } td { (state_badge(&r.outcome)) }
            } } }
        } }
    };
    Ok(Page {
        title: "Audit log",
        nav: "audit",
        principal: &principal,
        live: Some("/console/audit".into()),
        body,
    }
    .respond(&headers))
}
