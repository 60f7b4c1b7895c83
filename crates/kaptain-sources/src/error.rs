use std::path::PathBuf;

/// Errors of the cluster sources. Each variant is one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot load kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("context {0:?} not found in kubeconfig")]
    UnknownContext(String),
    /// The in-cluster service account cannot be used (not running in a pod, or its token or
    /// CA is missing).
    #[error("no in-cluster configuration: {0}")]
    InCluster(String),
    #[error("cannot reach the cluster{context}: {message}", context = ctx_suffix(.context))]
    Unreachable {
        context: Option<String>,
        message: String,
    },
    #[error("the cluster rejected our credentials{context} (401 Unauthorized): they may have expired; refresh them (e.g. log in again) and retry", context = ctx_suffix(.context))]
    Unauthorized { context: Option<String> },
    #[error("forbidden{context}: {message}", context = ctx_suffix(.context))]
    Forbidden {
        context: Option<String>,
        message: String,
    },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("no Kubernetes objects found in {0}")]
    NothingLoaded(PathBuf),
    #[error("cannot write snapshot to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn ctx_suffix(c: &Option<String>) -> String {
    match c {
        Some(c) => format!(" (context {c})"),
        None => String::new(),
    }
}

/// A problem with one input file or one object in it. It never stops the rest of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}
