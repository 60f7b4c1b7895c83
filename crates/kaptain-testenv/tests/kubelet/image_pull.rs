//! Image pulls that fail: ErrImagePull, then ImagePullBackOff.

use std::cell::RefCell;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kaptain_testenv::{apply_yaml, eventually};
use kube::api::Api;

use crate::support::{
    TIMEOUT, TestResult, condition, event_with, namespace, phase, sim, statuses, waiting_message,
    waiting_reason,
};

#[tokio::test]
async fn bad_image_err_image_pull_then_image_pull_backoff() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-image").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: unreachable, namespace: sim-image}
spec:
  containers: [{name: app, image: "registry.example.invalid/shop/app:1.0"}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-tag, namespace: sim-image}
spec:
  containers: [{name: app, image: "shop/app:does-not-exist"}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad-name, namespace: sim-image}
spec:
  containers: [{name: app, image: "shop/App:1.0"}]
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-image");
    // Each waiting reason seen, with its message.
    let seen = RefCell::new(BTreeMap::new());
    eventually(
        "no-tag: ErrImagePull then ImagePullBackOff",
        TIMEOUT,
        || async {
            let p = api.get("no-tag").await?;
            let Some(cs) = statuses(&p).into_iter().next() else {
                return Ok(None);
            };
            let mut seen = seen.borrow_mut();
            if let Some(r) = waiting_reason(&cs) {
                seen.insert(r, waiting_message(&cs).unwrap_or_default());
            }
            Ok(
                (seen.contains_key("ErrImagePull") && seen.contains_key("ImagePullBackOff"))
                    .then_some(()),
            )
        },
    )
    .await?;
    let seen = seen.into_inner();
    assert_eq!(
        seen["ErrImagePull"],
        "rpc error: code = Unknown desc = Error response from daemon: manifest for \
         shop/app:does-not-exist not found: manifest unknown: manifest unknown"
    );
    let message = &seen["ImagePullBackOff"];
    assert_eq!(
        message,
        "Back-off pulling image \"shop/app:does-not-exist\""
    );
    let p = api.get("no-tag").await?;
    assert_eq!(phase(&p), "Pending");
    assert_eq!(
        condition(&p, "Ready").map(|c| (c.0, c.1, c.2)),
        Some((
            "False".into(),
            Some("ContainersNotReady".into()),
            Some("containers with unready status: [app]".into())
        ))
    );
    event_with(
        &client,
        "sim-image",
        "Pulling",
        "Pulling image \"shop/app:does-not-exist\"",
    )
    .await?;
    event_with(
        &client,
        "sim-image",
        "Failed",
        "manifest for shop/app:does-not-exist not found",
    )
    .await?;
    event_with(&client, "sim-image", "Failed", "Error: ErrImagePull").await?;
    event_with(
        &client,
        "sim-image",
        "BackOff",
        "Back-off pulling image \"shop/app:does-not-exist\"",
    )
    .await?;
    event_with(&client, "sim-image", "Failed", "Error: ImagePullBackOff").await?;
    event_with(
        &client,
        "sim-image",
        "Failed",
        "lookup registry.example.invalid: no such host",
    )
    .await?;

    let invalid = eventually("bad-name: InvalidImageName", TIMEOUT, || async {
        let p = api.get("bad-name").await?;
        Ok(statuses(&p)
            .into_iter()
            .find(|cs| waiting_reason(cs).as_deref() == Some("InvalidImageName"))
            .and_then(|cs| waiting_message(&cs)))
    })
    .await?;
    assert!(
        invalid
            .contains("couldn't parse image reference \"shop/App:1.0\": invalid reference format"),
        "{invalid}"
    );
    event_with(
        &client,
        "sim-image",
        "InspectFailed",
        "Failed to apply default image tag",
    )
    .await?;
    Ok(())
}
