//! The environment of the healing tests (`heal.rs`, `ask_act.rs`): the shared control plane
//! and kubelet, with Kaptain's committed CRDs applied and served.

use std::path::Path;
use std::time::Duration;

use kaptain_testenv::{ControlPlane, apply_yaml, eventually};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long anything in these tests may take to happen (a deadline, not a measurement).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Control plane, kubelet and the committed CRD YAML applied.
pub async fn setup() -> Result<(&'static ControlPlane, kube::Client), BoxError> {
    let cp = ControlPlane::shared();
    cp.shared_kubelet().await?.set_backoff_scale(0.1);
    let client = cp.client().await?;
    let crds = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds/kaptain.dev_crds.yaml"),
    )?;
    apply_yaml(&client, &crds).await?;
    eventually("the kaptain.dev API", TIMEOUT, || async {
        Ok(client
            .list_api_group_resources("kaptain.dev/v1alpha1")
            .await
            .ok()
            .filter(|r| r.resources.len() >= 3)
            .map(|_| ()))
    })
    .await?;
    Ok((cp, client))
}
