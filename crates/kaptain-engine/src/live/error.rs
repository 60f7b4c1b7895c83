//! Errors of the hub's own API (adding clusters). Connection problems are not errors here:
//! they are a cluster's [`super::ClusterStatus::Unreachable`].

/// Each variant is one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The kubeconfig cannot be read or has no such context.
    #[error(transparent)]
    Cluster(#[from] kaptain_sources::Error),
    #[error("cluster {0:?} is already watched")]
    Duplicate(String),
    #[error("the hub must be used inside a tokio runtime")]
    NoRuntime,
}
