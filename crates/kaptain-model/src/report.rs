use serde::{Deserialize, Serialize};

use crate::{Finding, Severity};

/// The schema name every report carries.
pub const SCHEMA: &str = "kaptain.report/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Live,
    Snapshot,
    Manifests,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportSource {
    pub kind: SourceKind,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub server_version: Option<String>,
}

/// An API the scan wanted but could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skipped {
    pub api: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub root_causes: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Self {
        let mut s = Summary::default();
        for f in findings {
            match f.severity {
                Severity::Critical => s.critical += 1,
                Severity::High => s.high += 1,
                Severity::Medium => s.medium += 1,
                Severity::Low => s.low += 1,
                Severity::Info => s.info += 1,
            }
            if f.root_cause {
                s.root_causes += 1;
            }
        }
        s
    }
}

/// The result of one diagnosis: the `kaptain.report/v1` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub schema: String,
    pub source: ReportSource,
    /// RFC 3339.
    pub generated_at: String,
    pub summary: Summary,
    pub skipped: Vec<Skipped>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(source: ReportSource, skipped: Vec<Skipped>, findings: Vec<Finding>) -> Self {
        Report {
            schema: SCHEMA.to_string(),
            source,
            generated_at: jiff::Timestamp::now().to_string(),
            summary: Summary::of(&findings),
            skipped,
            findings,
        }
    }

    /// Keeps findings at or above `min`, and recomputes the summary.
    pub fn retain_min_severity(&mut self, min: Severity) {
        self.findings.retain(|f| f.severity >= min);
        self.summary = Summary::of(&self.findings);
    }
}
