//! The OOM killer and the crash-loop back-off, and recovery once the limit is raised.

use std::cell::RefCell;

use kaptain_testenv::{apply_yaml, eventually};

use crate::support::{
    TIMEOUT, TestResult, describe, event_with, is_ready, live_pod, namespace, pods, sim, statuses,
    waiting_message, waiting_reason,
};

#[tokio::test]
async fn oom_killed_crash_loop_recovers_after_raising_the_limit() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-oom").await?;
    let manifest = |limit: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: search, namespace: sim-oom}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: search}}}}
  template:
    metadata:
      labels: {{app: search}}
      annotations: {{sim.kaptain.dev/memory-usage: 600Mi}}
    spec:
      containers:
      - name: search
        image: shop/search:1.0
        resources: {{limits: {{memory: {limit}}}}}
"#
        )
    };
    apply_yaml(&client, &manifest("256Mi")).await?;
    let saw_backoff = RefCell::new(None);
    let crashed = eventually(
        "OOMKilled, restarted twice, CrashLoopBackOff seen",
        TIMEOUT,
        || async {
            let Some(p) = live_pod(&client, "sim-oom").await? else {
                return Ok(None);
            };
            let Some(cs) = statuses(&p).into_iter().next() else {
                return Ok(None);
            };
            if waiting_reason(&cs).as_deref() == Some("CrashLoopBackOff") {
                *saw_backoff.borrow_mut() = waiting_message(&cs);
            }
            Ok((cs.restart_count >= 2 && saw_backoff.borrow().is_some()).then_some(cs))
        },
    )
    .await?;
    let last = crashed
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .ok_or("no lastState.terminated")?;
    assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(last.exit_code, 137);
    assert!(
        last.container_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sim://"))
    );
    let message = saw_backoff.into_inner().unwrap_or_default();
    assert!(
        message.starts_with("back-off ")
            && message.contains("restarting failed container=search pod=search-"),
        "{message}"
    );
    assert!(message.contains("_sim-oom("), "{message}");
    event_with(
        &client,
        "sim-oom",
        "BackOff",
        "Back-off restarting failed container",
    )
    .await?;

    // Raising the limit rolls the Deployment: the new pod runs, the old one is deleted.
    let old = live_pod(&client, "sim-oom")
        .await?
        .and_then(|p| p.metadata.uid);
    apply_yaml(&client, &manifest("1Gi")).await?;
    let rolled = eventually(
        "the new pod Ready and the old one gone",
        TIMEOUT,
        || async {
            let list = pods(&client, "sim-oom").await?;
            let only_new = list.len() == 1 && list[0].metadata.uid != old;
            Ok(
                (only_new && is_ready(&list[0]) && statuses(&list[0])[0].restart_count == 0)
                    .then_some(()),
            )
        },
    )
    .await;
    if let Err(e) = rolled {
        return Err(format!("{e}\n{}", describe(&client, "sim-oom").await?).into());
    }
    event_with(&client, "sim-oom", "Killing", "Stopping container search").await?;
    Ok(())
}
