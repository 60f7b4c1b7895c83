/// What can go wrong in the operator. Each error has a [`Error::category`], a stable label for
/// metrics (`error_category`), HealingAction status and Events.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot read the cluster")]
    Cluster(#[from] kaptain_sources::Error),
    #[error("the Kaptain custom resources are not installed ({0}); apply deploy/crds first")]
    CrdsMissing(String),
    #[error("invalid JSON")]
    Json(#[from] serde_json::Error),
    #[error("invalid safety configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Heal(#[from] kaptain_heal::Error),
    #[error("cannot serve metrics on {addr}")]
    Http {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot act on {0}: unknown kind")]
    UnknownKind(String),
    #[error("{0}")]
    Invalid(String),
    /// The safety guard refuses (an approval, for instance).
    #[error("refused by the safety guard (rule {rule}): {reason}")]
    Refused { rule: String, reason: String },
    /// A test fail point stopped the operator (a simulated crash).
    #[error("stopped at fail point {0:?}")]
    FailPoint(super::FailPoint),
}

impl Error {
    /// A stable, low-cardinality label for what went wrong.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 404 => "not-found",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 || s.code == 401 => "forbidden",
            Error::Kube(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => "invalid",
            Error::Kube(_) => "api",
            Error::Cluster(_) => "cluster",
            Error::CrdsMissing(_) => "crds-missing",
            Error::Json(_) => "json",
            Error::Config(_) => "config",
            Error::Heal(_) => "heal",
            Error::Http { .. } => "http",
            Error::UnknownKind(_) => "unknown-kind",
            Error::Invalid(_) => "invalid",
            Error::Refused { .. } => "refused",
            Error::FailPoint(_) => "fail-point",
        }
    }

    /// Whether the API answered 409 Conflict (someone else changed the object first).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 409)
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 404)
    }
}

/// One line: the error and its sources.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
