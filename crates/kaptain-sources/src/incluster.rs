//! The pod's service account as a kube [`Config`], with errors that say what is missing or
//! wrong (kube's own name neither the file nor the variable). Used by `kaptain serve
//! --in-cluster` and by every live command when there is no kubeconfig.

use std::path::Path;

use kube::Config;
use kube::config::InClusterError;

use crate::Error;
use crate::live::flatten;

/// Where kube reads a pod's service account (fixed by Kubernetes).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The variables that point at the API server in a pod.
const ENV: [&str; 2] = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"];

/// Whether this process looks like it runs in a pod (the API server is in its environment).
pub fn in_a_pod() -> bool {
    std::env::var_os(ENV[0]).is_some_and(|v| !v.is_empty())
}

/// The service account's config, as kube reads it (the API server from
/// `KUBERNETES_SERVICE_HOST`/`_PORT`, the token, CA and namespace from
/// [`SERVICE_ACCOUNT_DIR`]), or an [`Error::InCluster`] naming what is missing or wrong.
pub fn config() -> Result<Config, Error> {
    for var in ENV {
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            return Err(Error::InCluster(format!(
                "{var} is not set (is this running in a pod?)"
            )));
        }
    }
    let config = Config::incluster().map_err(|e| {
        let file = match &e {
            InClusterError::ReadDefaultNamespace(_) => Some("namespace"),
            InClusterError::ReadCertificateBundle(_) | InClusterError::ParseCertificates(_) => {
                Some("ca.crt")
            }
            _ => None,
        };
        Error::InCluster(match file {
            Some(f) => format!("{SERVICE_ACCOUNT_DIR}/{f}: {}", flatten(&e)),
            None => flatten(&e),
        })
    })?;
    check_token(&Path::new(SERVICE_ACCOUNT_DIR).join("token"))?;
    Ok(config)
}

/// kube reads the token file when the client is built and again every minute (projected
/// tokens rotate) and sends it verbatim: a missing file would fail later with a vaguer error,
/// and a trailing newline would fail every request as "failed to parse header value".
fn check_token(path: &Path) -> Result<(), Error> {
    let token = std::fs::read_to_string(path)
        .map_err(|e| Error::InCluster(format!("{}: {e}", path.display())))?;
    check_token_text(&token).map_err(|m| Error::InCluster(format!("{}: {m}", path.display())))
}

fn check_token_text(token: &str) -> Result<(), &'static str> {
    if token.trim().is_empty() {
        Err("the token is empty")
    } else if token.trim() != token {
        Err(
            "the token starts or ends with whitespace (a newline?), which cannot be sent in an \
             HTTP header",
        )
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_token_text;

    #[test]
    fn a_token_must_be_one_bare_line() {
        assert_eq!(check_token_text("eyJhbGciOi.abc.def"), Ok(()));
        assert!(check_token_text("").is_err());
        assert!(check_token_text(" \n").is_err());
        assert!(check_token_text("eyJhbGciOi.abc.def\n").is_err_and(|m| m.contains("newline")));
    }
}
