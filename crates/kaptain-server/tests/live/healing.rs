//! Healing actions through the API on the real cluster: approve and reject Proposed
//! HealingActions (the object in the API server changes), with 403 for a viewer and for
//! tokens scoped elsewhere, 409 for a decision on a decided action, 404 for a missing one —
//! and every attempt in the audit log with its actor and outcome.

use axum::http::{Method, StatusCode};
use kaptain_heal::crd::{HealingAction, Phase};
use kaptain_server::serve::Server;
use kaptain_store::{Role, Scope};
use kube::Api;
use serde_json::json;

use kaptain_testenv::apply_yaml;

use crate::support::{
    app_with_restart_policy, create_afresh, missing_config_app, proposed_restart,
};

use super::{
    CLUSTER, TestResult, audit_records, call, cluster, eventually, expect, hub_config, options,
    token,
};

const NS: &str = "live-heal";

fn uri(name: &str, verb: &str) -> String {
    format!("/api/v1/clusters/{CLUSTER}/healing-actions/{NS}/{name}/{verb}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_through_the_api_with_roles_scopes_and_audit() -> TestResult {
    let (cp, client) = cluster().await?;
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: live-heal-other}\n",
    )
    .await?;
    let app = missing_config_app(NS, "web", 1);
    let pod = app_with_restart_policy(&client, NS, &app, "app=web").await?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let actions: Api<HealingAction> = Api::namespaced(client.clone(), NS);
    for name in ["approve-me", "reject-me", "decide-me"] {
        eventually("the HealingAction CRD to be served", || async {
            let action = proposed_restart(NS, name, &pod_name, pod.metadata.uid.clone());
            create_afresh(&actions, &action).await.ok()
        })
        .await?;
    }

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let server = Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let operator = token(&server, "heal-operator", Role::Operator, vec![]).await?;
    let ns_operator = token(
        &server,
        "heal-ns-operator",
        Role::Operator,
        vec![Scope::namespace(CLUSTER, NS)],
    )
    .await?;
    let viewer = token(&server, "heal-viewer", Role::Viewer, vec![]).await?;
    let other_ns = token(
        &server,
        "heal-other-ns",
        Role::Operator,
        vec![Scope::namespace(CLUSTER, "live-heal-other")],
    )
    .await?;
    let other_cluster = token(
        &server,
        "heal-other-cluster",
        Role::Admin,
        vec![Scope::cluster("another-cluster")],
    )
    .await?;

    // The hub lists the three Proposed actions.
    eventually("the Proposed actions in the API", || async {
        let r = call(
            &server,
            Method::GET,
            &format!("/api/v1/healing-actions?namespace={NS}&phase=Proposed"),
            Some(&viewer),
            None,
        )
        .await
        .ok()?;
        (r.body.as_array().map_or(0, Vec::len) == 3).then_some(())
    })
    .await?;

    // Not allowed: a viewer, an operator of another namespace, an admin of another cluster.
    for (who, tok) in [
        ("a viewer", &viewer),
        ("an operator of another namespace", &other_ns),
        ("an admin of another cluster", &other_cluster),
    ] {
        for verb in ["approve", "reject"] {
            let r = call(
                &server,
                Method::POST,
                &uri("approve-me", verb),
                Some(tok),
                None,
            )
            .await?;
            expect(&r, StatusCode::FORBIDDEN, &format!("{who}: {verb}"));
        }
    }
    let phase = |a: &HealingAction| a.status.as_ref().map(|s| s.phase).unwrap_or_default();
    assert_eq!(phase(&actions.get("approve-me").await?), Phase::Proposed);

    // Approve as an operator scoped to the namespace.
    let r = call(
        &server,
        Method::POST,
        &uri("approve-me", "approve"),
        Some(&ns_operator),
        None,
    )
    .await?;
    expect(&r, StatusCode::OK, "approve");
    assert_eq!(r.body["phase"], "Approved", "{:?}", r.body);
    assert_eq!(r.body["approved_by"], "token:heal-ns-operator");
    let a = actions.get("approve-me").await?;
    assert_eq!(phase(&a), Phase::Approved);
    assert_eq!(
        a.status.as_ref().and_then(|s| s.approved_by.as_deref()),
        Some("token:heal-ns-operator")
    );

    // Reject another, with a reason.
    let r = call(
        &server,
        Method::POST,
        &uri("reject-me", "reject"),
        Some(&operator),
        Some(json!({"reason": "not during the sale"})),
    )
    .await?;
    expect(&r, StatusCode::OK, "reject");
    assert_eq!(r.body["phase"], "Rejected", "{:?}", r.body);
    let a = actions.get("reject-me").await?;
    assert_eq!(phase(&a), Phase::Rejected);
    let status = a.status.ok_or("no status")?;
    assert_eq!(status.rejected_by.as_deref(), Some("token:heal-operator"));
    assert!(
        status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not during the sale")),
        "{status:?}"
    );

    // Decisions on decided actions: a clear 409, and the objects stay as they are.
    for (name, verb) in [
        ("approve-me", "approve"),
        ("reject-me", "approve"),
        ("reject-me", "reject"),
    ] {
        let r = call(
            &server,
            Method::POST,
            &uri(name, verb),
            Some(&operator),
            None,
        )
        .await?;
        expect(&r, StatusCode::CONFLICT, &format!("{verb} {name} again"));
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{message}");
    }
    assert_eq!(phase(&actions.get("approve-me").await?), Phase::Approved);
    assert_eq!(phase(&actions.get("reject-me").await?), Phase::Rejected);

    // An approved action may still be rejected (it has not run: no operator here).
    let r = call(
        &server,
        Method::POST,
        &uri("approve-me", "reject"),
        Some(&operator),
        None,
    )
    .await?;
    expect(&r, StatusCode::OK, "reject an approved action");
    assert_eq!(phase(&actions.get("approve-me").await?), Phase::Rejected);

    // A missing action, and a missing cluster: 404.
    let r = call(
        &server,
        Method::POST,
        &uri("no-such-action", "approve"),
        Some(&operator),
        None,
    )
    .await?;
    expect(&r, StatusCode::NOT_FOUND, "a missing action");
    let r = call(
        &server,
        Method::POST,
        &format!("/api/v1/clusters/no-such-cluster/healing-actions/{NS}/decide-me/approve"),
        Some(&operator),
        None,
    )
    .await?;
    expect(&r, StatusCode::NOT_FOUND, "a missing cluster");
    assert_eq!(phase(&actions.get("decide-me").await?), Phase::Proposed);

    // The hub sees the new phases.
    eventually("the decided phases in the listing", || async {
        let r = call(
            &server,
            Method::GET,
            &format!("/api/v1/healing-actions?namespace={NS}"),
            Some(&viewer),
            None,
        )
        .await
        .ok()?;
        let rows = r.body.as_array()?.clone();
        let phase_of = |n: &str| {
            rows.iter()
                .find(|r| r["name"] == n)
                .and_then(|r| r["phase"].as_str().map(str::to_owned))
        };
        (phase_of("approve-me").as_deref() == Some("Rejected")
            && phase_of("reject-me").as_deref() == Some("Rejected")
            && phase_of("decide-me").as_deref() == Some("Proposed"))
        .then_some(())
    })
    .await?;

    // Every attempt is in the audit log with its actor and outcome.
    let approve = audit_records(
        &server,
        "POST /api/v1/clusters/{cluster}/healing-actions/{namespace}/{name}/approve",
    )
    .await?;
    let reject = audit_records(
        &server,
        "POST /api/v1/clusters/{cluster}/healing-actions/{namespace}/{name}/reject",
    )
    .await?;
    let count = |records: &[kaptain_store::AuditRecord], actor: &str, outcome: &str| {
        records
            .iter()
            .filter(|r| r.actor == actor && r.outcome == outcome)
            .count()
    };
    for records in [&approve, &reject] {
        assert_eq!(
            count(records, "token:heal-viewer", "denied"),
            1,
            "{records:#?}"
        );
        assert_eq!(
            count(records, "token:heal-other-ns", "denied"),
            1,
            "{records:#?}"
        );
        assert_eq!(
            count(records, "token:heal-other-cluster", "denied"),
            1,
            "{records:#?}"
        );
    }
    assert_eq!(
        count(&approve, "token:heal-ns-operator", "ok"),
        1,
        "{approve:#?}"
    );
    // Approve approve-me again, approve reject-me, the missing action and cluster.
    assert_eq!(
        count(&approve, "token:heal-operator", "rejected"),
        4,
        "{approve:#?}"
    );
    assert_eq!(
        count(&reject, "token:heal-operator", "ok"),
        2,
        "{reject:#?}"
    );
    assert_eq!(
        count(&reject, "token:heal-operator", "rejected"),
        1,
        "{reject:#?}"
    );
    let ok = approve
        .iter()
        .find(|r| r.outcome == "ok")
        .ok_or("no successful approval")?;
    assert_eq!(ok.target, format!("HealingAction {NS}/approve-me"));
    assert_eq!(ok.cluster.as_deref(), Some(CLUSTER));
    assert_eq!(ok.details["details"]["decision"], "approve");
    assert_eq!(ok.details["status"], 200);
    let conflict = approve
        .iter()
        .find(|r| r.outcome == "rejected" && r.target == uri("approve-me", "approve"))
        .ok_or("no record of the second approval")?;
    assert_eq!(conflict.details["status"], 409);
    let verified = server.state.store.verify_audit().await?;
    assert!(verified.ok, "{verified:?}");
    Ok(())
}
