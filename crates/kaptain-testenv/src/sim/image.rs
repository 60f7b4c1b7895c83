//! Image references: validation as the kubelet's `applyDefaultImageTag` does it, the simulated
//! registry's answers, and the `image` / `imageID` a container status shows.

use super::util::hex64;

/// A parsed `[domain/]path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    pub domain: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// `domain/path` as written (without tag or digest).
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The image as a Docker runtime reports it: the default tag `latest` applied.
    pub fn with_default_tag(&self) -> String {
        let repo = self.repository();
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{repo}@{d}"),
            (Some(t), None) => format!("{repo}:{t}"),
            (None, None) => format!("{repo}:latest"),
        }
    }

    /// `docker-pullable://repo@sha256:...`, stable per image.
    pub fn image_id(&self) -> String {
        let digest = match &self.digest {
            Some(d) => d.clone(),
            None => format!("sha256:{}", hex64(&["image", &self.with_default_tag()])),
        };
        format!("docker-pullable://{}@{digest}", self.repository())
    }

    fn host(&self) -> Option<&str> {
        self.domain
            .as_deref()
            .map(|d| d.rsplit_once(':').map_or(d, |(host, _)| host))
    }

    /// What the simulated registry answers: `Err(message)` with the runtime's error text
    /// (it becomes the ErrImagePull waiting message and the Failed event).
    pub fn pull(&self) -> Result<(), String> {
        const PREFIX: &str = "rpc error: code = Unknown desc = Error response from daemon: ";
        if let Some(host) = self.host().filter(|h| h.ends_with(".invalid")) {
            return Err(format!(
                "{PREFIX}Get https://{}/v2/: dial tcp: lookup {host}: no such host",
                self.domain.as_deref().unwrap_or(host)
            ));
        }
        if self.tag.as_deref() == Some("does-not-exist") {
            return Err(format!(
                "{PREFIX}manifest for {} not found: manifest unknown: manifest unknown",
                self.with_default_tag()
            ));
        }
        if self.path.rsplit('/').next() == Some("does-not-exist") {
            return Err(format!(
                "{PREFIX}pull access denied for {}, repository does not exist or may require \
                 'docker login': denied: requested access to the resource is denied",
                self.repository()
            ));
        }
        Ok(())
    }
}

/// Parses an image reference like the Docker reference library (`ParseNormalizedNamed`);
/// `Err` is the kubelet's text after `Failed to apply default image tag "X": `.
pub(crate) fn parse(image: &str) -> Result<ImageRef, String> {
    let invalid = |detail: &str| {
        Err(format!(
            "couldn't parse image reference \"{image}\": invalid reference format{detail}"
        ))
    };
    if image.is_empty() || image.len() > 255 || image.chars().any(char::is_whitespace) {
        return invalid("");
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(algo, hex)| {
            !algo.is_empty()
                && algo
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-_".contains(c))
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !ok {
            return invalid("");
        }
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name[last_slash..].find(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let mut chars = t.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || t.len() > 128
            || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return invalid("");
        }
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    if let Some(d) = domain {
        let (host, port) = match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        };
        let host_ok = !host.is_empty()
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !host_ok || !port_ok {
            return invalid("");
        }
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return invalid(": repository name must be lowercase");
    }
    if path.is_empty() || !path.split('/').all(path_component_ok) {
        return invalid("");
    }
    Ok(ImageRef {
        domain: domain.map(str::to_owned),
        path: path.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn path_component_ok(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|ch| ch == '-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_references() {
        let r = parse("nginx").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.with_default_tag(), "nginx:latest");
        let r = parse("registry.example.com:5000/team/app:1.2.3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.domain.as_deref(), Some("registry.example.com:5000"));
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2.3"));
        assert!(parse("shop/web__x-y.z:2.0").is_ok());
        assert!(
            r.image_id()
                .starts_with("docker-pullable://registry.example.com:5000/team/app@sha256:")
        );
    }

    #[test]
    fn invalid_references() {
        let e = parse("shop/Web:1.0").err().unwrap_or_default();
        assert!(
            e.ends_with("invalid reference format: repository name must be lowercase"),
            "{e}"
        );
        assert!(parse("shop web:1.0").is_err());
        assert!(parse("shop/web:").is_err());
        assert!(parse("shop//web").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn registry_answers() {
        let pull = |i: &str| parse(i).map_err(|e| e.to_string()).and_then(|r| r.pull());
        assert!(pull("nginx:1.19").is_ok());
        let e = pull("registry.invalid/app:1").err().unwrap_or_default();
        assert!(e.contains("no such host"), "{e}");
        let e = pull("shop/app:does-not-exist").err().unwrap_or_default();
        assert!(
            e.contains("manifest for shop/app:does-not-exist not found"),
            "{e}"
        );
        let e = pull("shop/does-not-exist:1").err().unwrap_or_default();
        assert!(
            e.contains("pull access denied for shop/does-not-exist"),
            "{e}"
        );
    }
}
