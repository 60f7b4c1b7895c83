//! What the live-cluster tests share, the engine's and the server's (the server's support
//! module includes this file): waiting for a condition, a hub that reacts quickly, Kaptain's
//! CRDs, and a Proposed HealingAction as the operator makes it.

// Each binary uses a part of this.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kaptain_engine::live::LiveConfig;
use kaptain_heal::crd::{
    ActionKind, Change, FindingRef, GROUP, HealingAction, HealingActionSpec, Operation, PolicyKind,
    PolicyRef, VERSION,
};
use kaptain_model::{Category, Finding, ObjectRef, Severity};
use kube::Api;
use kube::api::PostParams;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type TestResult = Result<(), Error>;

/// A generous deadline for anything to happen; no test measures against it.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// Retries `f` until it is `Some`, failing after [`DEADLINE`] with `what`: the shared
/// [`kaptain_testenv::eventually`] with this file's deadline.
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    Ok(kaptain_testenv::eventually(what, DEADLINE, f).await?)
}

/// A hub that reacts quickly and analyses 15 minutes ahead, so that grace periods (young pods
/// are not yet flagged) have passed, as the live CLI tests do with `--now`.
pub fn fast_hub() -> LiveConfig {
    LiveConfig {
        debounce: Duration::from_millis(300),
        max_delay: Duration::from_secs(2),
        ..LiveConfig::default()
    }
    .with_clock_offset(jiff::SignedDuration::from_mins(15))
}

/// Creates Kaptain's CRDs (already there from another test is fine) and waits until the API
/// server serves every kind of the group (until then, a request for one of them may answer
/// "404 page not found").
pub async fn install_crds(client: &kube::Client) -> TestResult {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let all = kaptain_heal::crd::crds();
    for crd in &all {
        match crds.create(&PostParams::default(), crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    eventually("every kind of kaptain.dev to be served", || async {
        client
            .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
            .await
            .ok()
            .filter(|r| r.resources.len() >= all.len())
    })
    .await?;
    Ok(())
}

/// A Proposed RestartPod named `name` of Pod `namespace`/`pod` (with `uid` as the change's
/// precondition when given), for a pod that cannot start its containers, under the
/// HealingPolicy `restarts` — as the operator would propose it.
pub fn proposed_restart(
    namespace: &str,
    name: &str,
    pod: &str,
    uid: Option<String>,
) -> HealingAction {
    let object = ObjectRef::new("v1", "Pod", Some(namespace), pod);
    let check = "pod.create-container-config-error";
    let finding = Finding {
        title: format!("Pod {pod} cannot start its containers"),
        root_cause: false,
        ..Finding::new(check, Severity::High, Category::Config, object.clone())
    };
    let mut change = Change::new(object, Operation::Delete);
    change.precondition_uid = uid;
    let mut a = HealingAction::new(
        name,
        HealingActionSpec {
            finding: FindingRef::from(&finding),
            policy: PolicyRef {
                kind: PolicyKind::HealingPolicy,
                namespace: Some(namespace.into()),
                name: "restarts".into(),
                generation: 1,
            },
            action: ActionKind::RestartPod,
            target: format!("Pod/{namespace}/{pod}"),
            change,
            reasoning: "a restart re-reads the configuration".into(),
            confidence: 0.8,
            priority: 0,
            idempotency_key: format!("test-{namespace}-{name}"),
            requires_approval: Some("policy mode is approval".into()),
            verify_within: "5m".parse().expect("a duration"),
        },
    );
    a.metadata.namespace = Some(namespace.into());
    a
}
