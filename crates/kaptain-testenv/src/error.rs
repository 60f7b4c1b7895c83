use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or driving the test control plane.
///
/// `Debug` prints the same text as `Display` (plus the source chain), so that a test returning
/// `Result<(), Box<dyn Error>>` shows readable log tails instead of an escaped struct.
#[derive(thiserror::Error)]
pub enum Error {
    /// No usable etcd + kube-apiserver was found and provisioning did not produce one.
    #[error("Kubernetes test binaries not found: {0}")]
    BinariesNotFound(String),

    /// `scripts/provision-k8s.sh` failed.
    #[error("provisioning with {script} failed ({status}); see its output above")]
    Provision { script: PathBuf, status: String },

    /// A required helper program (setpriv, openssl, kill) is missing or failed.
    #[error("{program}: {message}")]
    Tool { program: String, message: String },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The dedicated spawner thread is gone or could not be started.
    #[error("process spawner: {0}")]
    Spawner(String),

    /// A control-plane process exited while the control plane was starting.
    #[error(
        "{name} exited during start-up ({status}); logs kept in {log_dir}\n--- last lines of {name}.log ---\n{log_tail}"
    )]
    ProcessExited {
        name: String,
        status: String,
        log_dir: PathBuf,
        log_tail: String,
    },

    /// The control plane did not become ready in time.
    #[error(
        "control plane not ready after {waited:?}: {what} (last error: {last_error}); logs kept in {log_dir}\n--- last lines of kube-apiserver.log ---\n{apiserver_log_tail}"
    )]
    Timeout {
        waited: Duration,
        what: String,
        last_error: String,
        log_dir: PathBuf,
        apiserver_log_tail: String,
    },

    /// The start-up thread panicked.
    #[error("control plane start-up panicked: {0}")]
    StartPanicked(String),

    /// `kubeconfig_for` was asked about a node or user the control plane does not know.
    #[error("{0}")]
    Invalid(String),

    /// The simulated kubelet could not start or is stopped.
    #[error("simulated kubelet: {0}")]
    Kubelet(String),

    /// The test PostgreSQL server could not be set up (initdb, start-up, createdb).
    #[error("PostgreSQL: {0}")]
    Postgres(String),

    /// A manifest given to `apply_yaml` is not usable.
    #[error("apply: {0}")]
    Apply(String),

    #[error("YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),

    #[error(transparent)]
    Kube(#[from] kube::Error),

    #[error(transparent)]
    Kubeconfig(#[from] kube::config::KubeconfigError),

    #[error("invalid HTTP request: {0}")]
    Http(#[from] http::Error),

    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            write!(f, "\ncaused by: {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
