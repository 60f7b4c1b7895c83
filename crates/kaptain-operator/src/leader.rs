//! Leader election on a coordination.k8s.io/v1 Lease: only the holder plans and acts.
//!
//! As client-go does, a Lease held by someone else counts as expired when its record (holder,
//! renew time) has not changed for `leaseDurationSeconds` by *this* instance's clock, so clock
//! skew between replicas does not matter. Every write carries the resourceVersion read, so two
//! candidates never both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;

/// One candidate for the Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The other holder's record and when this instance first saw it.
    observed: Option<(String, Instant)>,
    /// When this instance last renewed successfully.
    renewed: Option<Instant>,
}

impl Elector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
            observed: None,
            renewed: None,
        }
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let now = MicroTime(jiff::Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquire.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Acquires or renews the Lease; returns whether this instance leads now.
    pub async fn tick(&mut self) -> bool {
        match self.try_tick().await {
            Ok(leading) => {
                if leading {
                    self.renewed = Some(Instant::now());
                }
                leading
            }
            Err(e) => {
                tracing::warn!(error = %e, lease = %self.name, "cannot read or renew the Lease");
                // Keep leading only while the last renewal is still within the lease.
                self.renewed
                    .is_some_and(|t| t.elapsed() + Duration::from_secs(1) < self.duration)
            }
        }
    }

    async fn try_tick(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        if holder == self.identity {
            lease.spec = Some(self.spec(spec.acquire_time.clone(), transitions));
            return self.replace(&lease).await;
        }
        let record = format!(
            "{holder}|{:?}|{:?}",
            spec.renew_time.as_ref().map(|t| t.0),
            spec.acquire_time.as_ref().map(|t| t.0)
        );
        if self.observed.as_ref().is_none_or(|(r, _)| *r != record) {
            self.observed = Some((record, Instant::now()));
        }
        let lease_for = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.duration);
        let expired = holder.is_empty()
            || self
                .observed
                .as_ref()
                .is_some_and(|(_, seen)| seen.elapsed() >= lease_for);
        if !expired {
            return Ok(false);
        }
        tracing::info!(previous = %holder, identity = %self.identity, "taking over the leader Lease");
        lease.spec = Some(self.spec(None, transitions.saturating_add(1)));
        self.replace(&lease).await
    }

    async fn replace(&self, lease: &Lease) -> Result<bool, kube::Error> {
        match self
            .api
            .replace(&self.name, &PostParams::default(), lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (if held) so another replica takes over at once.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        if let Err(e) = self.replace(&lease).await {
            tracing::warn!(error = %e, "cannot release the leader Lease");
        }
        self.renewed = None;
    }
}

/// The holder of the Lease, if any (for tests and `kaptain heal`).
pub async fn holder(client: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// The holder of the Lease when it renewed it recently enough to be running: within twice
/// its lease duration by this machine's clock (twice, because another machine's clock may be
/// a little off). `None` when nobody holds it or the holder stopped renewing.
pub async fn live_holder(client: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let spec = api.get_opt(name).await.ok().flatten()?.spec?;
    let holder = spec.holder_identity.filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time?.0;
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(1));
    let age = jiff::Timestamp::now().as_second() - renewed.as_second();
    (age <= 2 * duration).then_some(holder)
}
