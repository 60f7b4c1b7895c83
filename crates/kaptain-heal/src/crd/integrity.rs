//! Whether a HealingAction's spec is still the one that was proposed. People who approve get
//! rights on the status only; these checks make sure that even someone who could edit the spec
//! cannot have the operator run an edited one.
//!
//! Two marks, both out of an approver's reach (a write to the status subresource leaves the
//! metadata as it was):
//! - `metadata.generation`, which the API server starts at 1 and bumps on every spec change:
//!   an action whose generation is not 1 had its spec edited after it was created;
//! - the [`SPEC_DIGEST_ANNOTATION`] the operator records on the actions it proposes: the
//!   SHA-256 of the spec's canonical JSON (object keys sorted, whole floats written as
//!   integers, so a round trip through the API server does not change it).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::action::{HealingAction, HealingActionSpec};

/// The annotation holding the digest of the spec as proposed (`sha256:<hex>`).
pub const SPEC_DIGEST_ANNOTATION: &str = "kaptain.dev/spec-digest";

/// The `reason` recorded on an action refused because its spec changed after the proposal.
pub const SPEC_TAMPERED: &str = "SpecTampered";

/// `sha256:<hex>` of `spec`'s canonical JSON.
pub fn spec_digest(spec: &HealingActionSpec) -> String {
    let v = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut s = String::new();
    canonical(&v, &mut s);
    let d = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in d.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                // The API server writes 2.0 as 2.
                out.push_str(&format!("{f:.0}"));
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

/// Why `a`'s spec cannot be trusted to be the one proposed, or `None` when it can: its
/// generation shows an edit, or its recorded digest differs from its spec's.
pub fn tampered(a: &HealingAction) -> Option<String> {
    match a.metadata.generation {
        Some(1) | None => {}
        Some(g) => {
            return Some(format!(
                "the spec was edited after the action was proposed (generation {g}, not 1)"
            ));
        }
    }
    let recorded = a
        .metadata
        .annotations
        .as_ref()
        .and_then(|m| m.get(SPEC_DIGEST_ANNOTATION))?;
    let now = spec_digest(&a.spec);
    (recorded != &now).then(|| {
        format!("the spec differs from the one proposed (digest {now}, recorded {recorded})")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::ActionKind;
    use crate::guard::testkit::proposal;

    fn action(generation: i64, digest: Option<String>) -> HealingAction {
        let mut a = HealingAction::new("a", proposal(ActionKind::RollbackDeployment, "shop"));
        a.metadata.generation = Some(generation);
        a.metadata.annotations = digest.map(|d| {
            [(SPEC_DIGEST_ANNOTATION.to_string(), d)]
                .into_iter()
                .collect()
        });
        a
    }

    #[test]
    fn the_digest_survives_a_round_trip_through_the_api_server() {
        let spec = proposal(ActionKind::Scale, "shop");
        let mut wire = serde_json::to_value(&spec).expect("serialize");
        // Go writes whole floats without a fraction, and map keys in its own order.
        wire["confidence"] = json!(1);
        let mut back: HealingActionSpec = serde_json::from_value(wire).expect("read back");
        back.confidence = 1.0;
        let mut orig = spec.clone();
        orig.confidence = 1.0;
        assert_eq!(spec_digest(&orig), spec_digest(&back));
        let mut v = serde_json::to_value(&orig).expect("serialize");
        v["change"]["patch"] = json!({"spec": {"replicas": 3.0}});
        let float: HealingActionSpec = serde_json::from_value(v.clone()).expect("read");
        v["change"]["patch"] = json!({"spec": {"replicas": 3}});
        let int: HealingActionSpec = serde_json::from_value(v).expect("read");
        assert_eq!(spec_digest(&float), spec_digest(&int));
    }

    #[test]
    fn an_untouched_action_is_trusted() {
        let a = action(1, None);
        assert_eq!(tampered(&a), None);
        let d = spec_digest(&a.spec);
        assert!(d.starts_with("sha256:") && d.len() == 71, "{d}");
        assert_eq!(tampered(&action(1, Some(d))), None);
    }

    #[test]
    fn an_edited_template_or_a_bumped_generation_is_refused() {
        let a = action(1, None);
        let recorded = spec_digest(&a.spec);
        let mut edited = action(1, Some(recorded.clone()));
        edited.spec.change.patch = Some(json!([{"op": "replace", "path": "/spec/template",
            "value": {"spec": {"containers": [{"name": "x", "image": "evil/miner"}]}}}]));
        let why = tampered(&edited).expect("an edited spec is refused");
        assert!(why.contains("differs"), "{why}");
        let why = tampered(&action(2, Some(recorded))).expect("generation 2 is refused");
        assert!(why.contains("generation 2"), "{why}");
        assert!(tampered(&action(3, None)).is_some());
    }
}
