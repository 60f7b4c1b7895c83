//! HealingActions this operator did not create — proposed by a person or an MCP client
//! (`propose_action` creates them without a status) — get the guard's verdict exactly like
//! the operator's own proposals: approved and executed when an `auto` policy allows it,
//! waiting for `kaptain heal approve` otherwise, deferred or rejected by the safety rules.

use std::collections::HashSet;

use kaptain_heal::crd::{HealingAction, Phase};

use crate::controller::{Controller, Round, phase, uid};
use kaptain_engine::healing::{Error, Result};

/// Whether nobody has decided `a` yet: Proposed, with no verdict of the guard.
pub(crate) fn undecided(a: &HealingAction) -> bool {
    phase(a) == Phase::Proposed && a.status.as_ref().is_none_or(|s| s.decision.is_none())
}

impl Controller {
    /// Decides every undecided action; returns their UIDs (step 3 leaves them alone this
    /// round). An allowed one is executed at once, as a new proposal of the operator is.
    pub(crate) async fn adopt(
        &mut self,
        r: &mut Round<'_>,
        actions: &[HealingAction],
        busy: &mut Vec<kaptain_model::ObjectRef>,
        waiting: &mut bool,
    ) -> Result<HashSet<String>> {
        let mut done = HashSet::new();
        for a in actions.iter().filter(|a| undecided(a)) {
            done.insert(uid(a));
            if crate::controller::conflicts(r.idx, busy, &a.spec) {
                // Another action is changing the same object: decide next round.
                *waiting = true;
                continue;
            }
            let decision = self.decide(r, &a.spec, None);
            tracing::info!(action = ?a.metadata.name, decision = decision.as_str(),
                "deciding a HealingAction proposed outside the operator");
            let settled = match self.settle(r, a.clone(), decision).await {
                Ok(s) => s,
                Err(Error::FailPoint(p)) => return Err(Error::FailPoint(p)),
                Err(e) => {
                    *waiting = true;
                    tracing::warn!(action = ?a.metadata.name, error = %e, "cannot decide a HealingAction");
                    continue;
                }
            };
            if phase(&settled) == Phase::Approved {
                busy.extend(crate::controller::scopes(r.idx, &settled.spec));
                *waiting = true;
                match self.execute(r, settled).await {
                    Err(Error::FailPoint(p)) => return Err(Error::FailPoint(p)),
                    Err(e) => tracing::warn!(error = %e, "cannot execute an adopted action"),
                    Ok(()) => {}
                }
            }
        }
        Ok(done)
    }
}
