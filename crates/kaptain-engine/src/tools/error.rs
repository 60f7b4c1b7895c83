//! Why a tool call failed.

/// A tool's failure, with a category for audit records and metrics. The message is written
/// for the caller (a person or a model) and never carries a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("no tool named {0}")]
    UnknownTool(String),
    #[error("invalid arguments: {0}")]
    InvalidInput(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The safety guard (or a rule in front of it) refused a proposal.
    #[error("refused by the safety guard ({rule}): {reason}")]
    Refused { rule: String, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ToolError {
    /// A stable label: `unknown-tool`, `invalid`, `forbidden`, `not-found`, `unavailable`,
    /// `refused`, `internal`.
    pub fn category(&self) -> &'static str {
        match self {
            ToolError::UnknownTool(_) => "unknown-tool",
            ToolError::InvalidInput(_) => "invalid",
            ToolError::Forbidden(_) => "forbidden",
            ToolError::NotFound(_) => "not-found",
            ToolError::Unavailable(_) => "unavailable",
            ToolError::Refused { .. } => "refused",
            ToolError::Internal(_) => "internal",
        }
    }

    /// A Kubernetes API error as a tool error (403 forbidden, 404 not found, else unavailable),
    /// in one line.
    pub fn from_kube(what: &str, e: &kube::Error) -> ToolError {
        let msg = crate::tools::redact::scrub_text(&one_line(&e.to_string()));
        match e {
            kube::Error::Api(s) if s.code == 403 => ToolError::Forbidden(format!("{what}: {msg}")),
            kube::Error::Api(s) if s.code == 404 => ToolError::NotFound(format!("{what}: {msg}")),
            kube::Error::Api(s) if s.code == 409 => {
                ToolError::InvalidInput(format!("{what}: {msg}"))
            }
            _ => ToolError::Unavailable(format!("{what}: {msg}")),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
