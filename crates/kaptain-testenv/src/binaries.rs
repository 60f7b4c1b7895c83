//! Finding etcd, kube-apiserver, kube-controller-manager and kube-scheduler.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};

/// Where the Kubernetes binaries live.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub etcd: PathBuf,
    pub apiserver: PathBuf,
    pub controller_manager: Option<PathBuf>,
    pub scheduler: Option<PathBuf>,
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Binaries {
    /// A directory counts when it has `etcd` and `kube-apiserver`; the controller manager and
    /// the scheduler are optional (setup-envtest's KUBEBUILDER_ASSETS has neither).
    fn in_dir(dir: &Path) -> Option<Self> {
        let etcd = dir.join("etcd");
        let apiserver = dir.join("kube-apiserver");
        if !is_executable(&etcd) || !is_executable(&apiserver) {
            return None;
        }
        let optional = |name: &str| Some(dir.join(name)).filter(|p| is_executable(p));
        Some(Self {
            etcd,
            apiserver,
            controller_manager: optional("kube-controller-manager"),
            scheduler: optional("kube-scheduler"),
        })
    }

    fn complete(&self) -> bool {
        self.controller_manager.is_some() && self.scheduler.is_some()
    }
}

/// `$KAPTAIN_K8S_CACHE`, else `~/.cache/kaptain/k8s-v1.20.2` (the provisioning script's cache).
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KAPTAIN_K8S_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".cache/kaptain/k8s-v1.20.2"))
}

/// `scripts/provision-k8s.sh` (see [`find_script`]).
fn provision_script() -> Option<PathBuf> {
    find_script("provision-k8s.sh")
}

/// `scripts/<name>`, looked for above the crate under test (run-time `CARGO_MANIFEST_DIR`)
/// and above this crate's own sources.
pub(crate) fn find_script(name: &str) -> Option<PathBuf> {
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let compile_time = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    runtime
        .into_iter()
        .chain(std::iter::once(compile_time))
        .flat_map(|dir| {
            dir.ancestors()
                .map(|a| a.join("scripts").join(name))
                .collect::<Vec<_>>()
        })
        .find(|p| p.is_file())
}

/// Locates the binaries: `$KUBEBUILDER_ASSETS`, `$KAPTAIN_K8S_BIN`, the cache, and finally
/// runs `scripts/provision-k8s.sh` (which builds into the cache once) and uses what it prints.
pub(crate) fn locate() -> Result<Binaries> {
    let mut tried = Vec::new();
    for var in ["KUBEBUILDER_ASSETS", "KAPTAIN_K8S_BIN"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if let Some(found) = Binaries::in_dir(&dir) {
                return Ok(found);
            }
            tried.push(format!(
                "${var}={} (no etcd + kube-apiserver)",
                dir.display()
            ));
        }
    }
    if let Some(dir) = cache_dir() {
        match Binaries::in_dir(&dir) {
            Some(found) if found.complete() => return Ok(found),
            _ => tried.push(format!("{} (incomplete or missing)", dir.display())),
        }
    }
    let Some(script) = provision_script() else {
        tried.push("scripts/provision-k8s.sh (not found above CARGO_MANIFEST_DIR)".into());
        return Err(Error::BinariesNotFound(format!(
            "tried {}",
            tried.join(", ")
        )));
    };
    tracing::info!(script = %script.display(), "provisioning Kubernetes binaries (first run can take minutes)");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        return Err(Error::Provision {
            script,
            status: output.status.to_string(),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Error::BinariesNotFound(format!("{} printed nothing", script.display())))?;
    Binaries::in_dir(&dir).ok_or_else(|| {
        Error::BinariesNotFound(format!(
            "{} printed {}, which has no etcd + kube-apiserver",
            script.display(),
            dir.display()
        ))
    })
}
