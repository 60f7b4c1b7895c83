//! Container logs served through the API server (the kubelet's log endpoint).

use k8s_openapi::api::core::v1::Pod;
use kaptain_testenv::{apply_yaml, eventually};
use kube::api::{Api, LogParams};

use crate::support::{TIMEOUT, TestResult, namespace, sim, statuses};

#[tokio::test]
async fn logs_are_served_through_the_api_server() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-logs").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: orders
  namespace: sim-logs
  annotations:
    sim.kaptain.dev/container: orders
    sim.kaptain.dev/exit-code: "3"
    sim.kaptain.dev/run-seconds: "0.5"
    sim.kaptain.dev/logs: |
      starting orders
      FATAL: invalid DATABASE_URL: missing host
spec:
  containers:
  - {name: orders, image: "shop/orders:3.3"}
  - {name: sidecar, image: "shop/proxy:1"}
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-logs");
    eventually("orders restarted", TIMEOUT, || async {
        let p = api.get("orders").await?;
        Ok(statuses(&p)
            .into_iter()
            .find(|cs| cs.name == "orders" && cs.restart_count >= 1)
            .map(drop))
    })
    .await?;
    let params = |previous: bool| LogParams {
        container: Some("orders".into()),
        previous,
        ..LogParams::default()
    };
    let previous = api.logs("orders", &params(true)).await?;
    assert_eq!(
        previous,
        "starting orders\nFATAL: invalid DATABASE_URL: missing host\nsim.kaptain.dev: process exited with code 3\n"
    );
    let current = api.logs("orders", &params(false)).await?;
    assert!(
        current.starts_with("starting orders\nFATAL: invalid DATABASE_URL"),
        "{current:?}"
    );
    let tail = api
        .logs(
            "orders",
            &LogParams {
                tail_lines: Some(1),
                timestamps: true,
                ..params(true)
            },
        )
        .await?;
    let (stamp, line) = tail.trim_end().split_once(' ').ok_or("no timestamp")?;
    assert!(
        stamp.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
        "{stamp}"
    );
    assert_eq!(line, "sim.kaptain.dev: process exited with code 3");
    let sidecar = api
        .logs(
            "orders",
            &LogParams {
                container: Some("sidecar".into()),
                ..LogParams::default()
            },
        )
        .await?;
    assert_eq!(sidecar, "", "the annotations apply to `orders` only");
    // A raw request, as `kubectl logs` sends it.
    let request = http::Request::get(
        "/api/v1/namespaces/sim-logs/pods/orders/log?container=orders&previous=true&tailLines=1",
    )
    .body(Vec::new())?;
    assert_eq!(
        client.request_text(request).await?,
        "sim.kaptain.dev: process exited with code 3\n"
    );
    // No previous instance of the sidecar: the kubelet's error comes through as 400.
    match api
        .logs(
            "orders",
            &LogParams {
                container: Some("sidecar".into()),
                previous: true,
                ..LogParams::default()
            },
        )
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 400);
            assert!(
                e.message.contains(
                    "previous terminated container \"sidecar\" in pod \"orders\" not found"
                ),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    Ok(())
}
