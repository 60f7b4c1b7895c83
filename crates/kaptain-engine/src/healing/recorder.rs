//! Every decision is a Kubernetes Event on the target object (what `kubectl describe` shows)
//! and a structured log line.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kaptain_heal::crd::HealingAction;
use kaptain_model::ObjectRef;
use kube::api::{Api, PostParams};

use super::MANAGER;

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Normal,
    Warning,
}

/// Writes Events as this operator instance.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    instance: String,
}

impl Recorder {
    pub fn new(client: kube::Client, instance: &str) -> Self {
        Recorder {
            client,
            instance: instance.to_string(),
        }
    }

    /// Records `reason` about `action` on its target: an Event (best effort: a failure to
    /// write it is logged, never fatal) and a log line.
    pub async fn action(&self, action: &HealingAction, level: Level, reason: &str, message: &str) {
        let name = action.metadata.name.as_deref().unwrap_or("");
        let ns = action.metadata.namespace.as_deref().unwrap_or("");
        let phase = action
            .status
            .as_ref()
            .map(|s| s.phase.as_str())
            .unwrap_or("Proposed");
        let decision = action.status.as_ref().and_then(|s| s.decision.as_ref());
        let healing_action = format!("{ns}/{name}");
        let policy = action.spec.policy.display();
        let decision_word = decision.map(|d| d.decision.as_str()).unwrap_or("");
        let rule = decision.and_then(|d| d.rule.as_deref()).unwrap_or("");
        // One line per decision, the same fields whatever the level (see `--log-format json`).
        macro_rules! decision_line {
            ($mac:ident) => {
                tracing::$mac!(
                    reason,
                    action = %action.spec.action,
                    target = %action.spec.target,
                    policy = %policy,
                    decision = decision_word,
                    rule,
                    phase,
                    healing_action = %healing_action,
                    finding = %action.spec.finding.id,
                    key = %action.spec.idempotency_key,
                    "{message}"
                )
            };
        }
        match level {
            Level::Normal => decision_line!(info),
            Level::Warning => decision_line!(warn),
        }
        let note = format!("{message} (HealingAction {ns}/{name})");
        self.event(&action.spec.change.target, level, reason, &note)
            .await;
    }

    /// Writes one core/v1 Event about `target`.
    pub async fn event(&self, target: &ObjectRef, level: Level, reason: &str, message: &str) {
        let now = jiff::Timestamp::now();
        let ns = target
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let base: String = target.name.chars().take(200).collect();
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!("{base}.{:x}", now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(target.api_version.clone()),
                kind: Some(target.kind.clone()),
                name: Some(target.name.clone()),
                namespace: target.namespace.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_string()),
            message: Some(truncate(message, 1000)),
            type_: Some(
                match level {
                    Level::Normal => "Normal",
                    Level::Warning => "Warning",
                }
                .to_string(),
            ),
            source: Some(EventSource {
                component: Some(MANAGER.to_string()),
                host: None,
            }),
            reporting_component: Some(MANAGER.to_string()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(reason.to_string()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.create(&PostParams::default(), &ev).await {
            tracing::warn!(target = %target.display(), reason, error = %e, "cannot record an Event");
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
