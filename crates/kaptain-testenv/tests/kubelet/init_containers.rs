//! Init containers: run in order, and a failing one blocks the pod.

use k8s_openapi::api::core::v1::Pod;
use kaptain_testenv::{apply_yaml, eventually};
use kube::api::Api;

use crate::support::{
    TIMEOUT, TestResult, condition, init_statuses, is_ready, namespace, phase, sim, statuses,
    waiting_reason,
};

#[tokio::test]
async fn init_containers_run_in_order_and_a_failing_one_blocks() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-init").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: sim-init}
spec:
  initContainers:
  - {name: first, image: "shop/tool:1"}
  - {name: second, image: "shop/tool:1"}
  containers: [{name: app, image: "shop/app:1"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: blocked
  namespace: sim-init
  annotations:
    sim.kaptain.dev/container: check-schema
    sim.kaptain.dev/exit-code: "1"
    sim.kaptain.dev/run-seconds: "0.2"
spec:
  initContainers: [{name: check-schema, image: "shop/tool:1"}]
  containers: [{name: app, image: "shop/app:1"}]
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-init");
    let p = eventually("ok Running", TIMEOUT, || async {
        let p = api.get("ok").await?;
        Ok((phase(&p) == "Running" && is_ready(&p)).then_some(p))
    })
    .await?;
    let inits = init_statuses(&p);
    assert_eq!(inits.len(), 2);
    for cs in &inits {
        let term = cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .ok_or("init not terminated")?;
        assert_eq!(
            (term.exit_code, term.reason.as_deref()),
            (0, Some("Completed"))
        );
        assert!(cs.ready);
    }
    let first_done = inits[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.finished_at.clone());
    let second_start = inits[1]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.started_at.clone());
    assert!(first_done <= second_start, "init containers ran in order");
    assert_eq!(
        condition(&p, "Initialized").map(|c| c.0).as_deref(),
        Some("True")
    );

    let p = eventually("blocked: Init:CrashLoopBackOff", TIMEOUT, || async {
        let p = api.get("blocked").await?;
        let crash = init_statuses(&p).first().is_some_and(|cs| {
            waiting_reason(cs).as_deref() == Some("CrashLoopBackOff") && cs.restart_count >= 1
        });
        Ok(crash.then_some(p))
    })
    .await?;
    assert_eq!(phase(&p), "Pending");
    assert_eq!(
        condition(&p, "Initialized").map(|c| (c.1, c.2)),
        Some((
            Some("ContainersNotInitialized".into()),
            Some("containers with incomplete status: [check-schema]".into())
        ))
    );
    assert_eq!(
        statuses(&p).first().and_then(waiting_reason).as_deref(),
        Some("PodInitializing")
    );
    Ok(())
}
