use std::collections::HashSet;

use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Category, Evidence, Finding, ObjectRef, Severity, fingerprint};

/// What a check is: its stable id, category, default severity and the kinds it reads.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    /// Stable dotted id, e.g. `pod.crash-loop`. Never renamed.
    pub id: &'static str,
    pub category: Category,
    pub severity: Severity,
    /// One line for `kaptain checks`.
    pub description: &'static str,
    /// Kinds that must be listed for this check to see what it needs.
    pub needs: &'static [Kind],
    /// How sure the check is when it fires (0..1).
    pub confidence: f64,
    /// Runs after all other checks, seeing which objects already have findings.
    pub post: bool,
    /// Its pod findings are about the workload's spec (a memory limit, an image, a missing
    /// reference, a probe): the findings of the pods of one workload are reported as one, on
    /// the workload (see `group`). Pod findings of other checks (an eviction, a bad node)
    /// stay per pod.
    pub per_workload: bool,
}

impl CheckInfo {
    pub const fn new(
        id: &'static str,
        category: Category,
        severity: Severity,
        description: &'static str,
        needs: &'static [Kind],
    ) -> Self {
        CheckInfo {
            id,
            category,
            severity,
            description,
            needs,
            confidence: Finding::DEFAULT_CONFIDENCE,
            post: false,
            per_workload: false,
        }
    }

    pub const fn confidence(mut self, c: f64) -> Self {
        self.confidence = c;
        self
    }

    pub const fn post(mut self) -> Self {
        self.post = true;
        self
    }

    pub const fn per_workload(mut self) -> Self {
        self.per_workload = true;
        self
    }
}

/// A check: its description and the pure function that runs it.
pub struct Check {
    pub info: CheckInfo,
    pub run: fn(&Ctx, &CheckInfo, &mut Vec<Finding>),
}

impl Check {
    pub const fn new(info: CheckInfo, run: fn(&Ctx, &CheckInfo, &mut Vec<Finding>)) -> Self {
        Check { info, run }
    }

    pub fn run_on(&self, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        (self.run)(ctx, &self.info, &mut out);
        out
    }
}

/// What every check sees.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub idx: &'a ClusterIndex,
    pub now: jiff::Timestamp,
    /// For post checks: objects that already have a finding.
    pub explained: Option<&'a HashSet<ObjectRef>>,
}

impl<'a> Ctx<'a> {
    pub fn new(idx: &'a ClusterIndex, now: jiff::Timestamp) -> Self {
        Ctx {
            idx,
            now,
            explained: None,
        }
    }

    /// Starts a finding of `info` on `object`; `key` distinguishes several findings of one
    /// check on one object (e.g. the container name) and goes into the fingerprint.
    pub fn finding(&self, info: &CheckInfo, object: ObjectRef, key: &str) -> FindingBuilder {
        FindingBuilder {
            f: Finding {
                fingerprint: fingerprint(info.id, &object, key),
                confidence: info.confidence,
                key: key.to_string(),
                ..Finding::new(info.id, info.severity, info.category, object)
            },
        }
    }

    /// Seconds since a timestamp (0 if in the future).
    pub fn age_secs(&self, t: jiff::Timestamp) -> i64 {
        (self.now.as_second() - t.as_second()).max(0)
    }
}

/// Builds one finding; see [`Ctx::finding`].
#[must_use]
pub struct FindingBuilder {
    f: Finding,
}

impl FindingBuilder {
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.f.title = t.into();
        self
    }
    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.f.message = m.into();
        self
    }
    pub fn severity(mut self, s: Severity) -> Self {
        self.f.severity = s;
        self
    }
    pub fn confidence(mut self, c: f64) -> Self {
        self.f.confidence = c;
        self
    }
    pub fn evidence(mut self, e: Evidence) -> Self {
        self.f.evidence.push(e);
        self
    }
    pub fn evidences(mut self, e: impl IntoIterator<Item = Evidence>) -> Self {
        self.f.evidence.extend(e);
        self
    }
    /// The fix: a summary and `kubectl` commands.
    pub fn fix(
        mut self,
        summary: impl Into<String>,
        commands: impl IntoIterator<Item = String>,
    ) -> Self {
        self.f.remediation.summary = summary.into();
        self.f.remediation.commands = commands.into_iter().collect();
        self
    }
    pub fn patch(mut self, patch: impl Into<String>) -> Self {
        self.f.remediation.patch = Some(patch.into());
        self
    }
    /// An object on which this finding's cause may be found (see the correlator).
    pub fn cause_hint(mut self, o: ObjectRef) -> Self {
        self.f.cause_hints.push(o);
        self
    }
    pub fn cause_hints(mut self, o: impl IntoIterator<Item = ObjectRef>) -> Self {
        self.f.cause_hints.extend(o);
        self
    }
    pub fn push(self, out: &mut Vec<Finding>) {
        out.push(self.f);
    }
    pub fn build(self) -> Finding {
        self.f
    }
}
