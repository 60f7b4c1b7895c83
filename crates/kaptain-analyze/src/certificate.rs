//! TLS certificates in Secrets (`tls.crt`) that have expired, expire within 30 days, or cannot
//! be parsed. Works offline: redacted snapshots keep `tls.crt`. Ingresses that serve the
//! certificate are named in the message, since they are what users see break.

use k8s_openapi::api::core::v1::Secret;
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, Finding, Severity};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::{X509Certificate, parse_x509_certificate};

use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{ns_name, obj_ref};

const DAY: i64 = 86_400;
const EXPIRING_WITHIN_DAYS: i64 = 30;
const CERT_MANAGER_NAME: &str = "cert-manager.io/certificate-name";

const EXPIRED: CheckInfo = CheckInfo::new(
    "certificate.expired",
    Category::Certificate,
    Severity::Critical,
    "A TLS certificate in a Secret (tls.crt) has expired",
    &[Kind::Secret, Kind::Ingress],
)
.confidence(0.99);

const EXPIRING: CheckInfo = CheckInfo::new(
    "certificate.expiring",
    Category::Certificate,
    Severity::High,
    "A TLS certificate in a Secret (tls.crt) expires within 30 days",
    &[Kind::Secret, Kind::Ingress],
)
.confidence(0.99);

const INVALID: CheckInfo = CheckInfo::new(
    "certificate.invalid",
    Category::Certificate,
    Severity::Medium,
    "A Secret's tls.crt does not hold a parseable PEM certificate",
    &[Kind::Secret, Kind::Ingress],
)
.confidence(0.9);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(EXPIRED, |c, i, o| expiry(c, i, o, true)),
        Check::new(EXPIRING, |c, i, o| expiry(c, i, o, false)),
        Check::new(INVALID, invalid),
    ]
}

/// What we keep of one parsed certificate.
#[derive(Debug, Clone)]
struct CertInfo {
    subject: String,
    common_name: Option<String>,
    dns_names: Vec<String>,
    /// notAfter, Unix seconds.
    not_after: i64,
}

impl CertInfo {
    fn from_x509(c: &X509Certificate<'_>) -> Self {
        let common_name = c
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        let dns_names = match c.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(d) => Some((*d).to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        CertInfo {
            subject: c.subject().to_string(),
            common_name,
            dns_names,
            not_after: c.validity().not_after.timestamp(),
        }
    }

    /// `CN=shop.example.com, DNS: shop.example.com, www.shop.example.com`.
    fn describe(&self) -> String {
        let mut s = match &self.common_name {
            Some(cn) => format!("CN={cn}"),
            None if self.subject.is_empty() => "no subject".to_string(),
            None => self.subject.clone(),
        };
        if !self.dns_names.is_empty() {
            let shown: Vec<&str> = self.dns_names.iter().take(5).map(String::as_str).collect();
            let more = self.dns_names.len().saturating_sub(5);
            s.push_str(&format!(", DNS: {}", shown.join(", ")));
            if more > 0 {
                s.push_str(&format!(" (+{more} more)"));
            }
        }
        s
    }
}

/// The certificates in a `tls.crt` value (leaf first), and the first parse error, if any.
/// `None` for empty or redacted values (nothing to check).
fn parse_bundle(bytes: &[u8]) -> Option<(Vec<CertInfo>, Option<String>)> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let mut certs = Vec::new();
    let mut error = None;
    let mut blocks = 0;
    for (i, pem) in Pem::iter_from_buffer(bytes).enumerate() {
        blocks += 1;
        match pem {
            Ok(p) if p.label == "CERTIFICATE" => match parse_x509_certificate(&p.contents) {
                Ok((_, c)) => certs.push(CertInfo::from_x509(&c)),
                Err(e) => {
                    error.get_or_insert_with(|| {
                        format!("PEM block {} is not a valid X.509 certificate: {e}", i + 1)
                    });
                }
            },
            Ok(_) => {}
            Err(e) => {
                error.get_or_insert_with(|| format!("PEM block {}: {e}", i + 1));
                // The reader cannot resynchronise after a broken block.
                break;
            }
        }
    }
    if blocks == 0 {
        // Not PEM at all: accept a raw DER certificate, otherwise report it.
        match parse_x509_certificate(bytes) {
            Ok((_, c)) => certs.push(CertInfo::from_x509(&c)),
            Err(_) => error = Some("no PEM block (-----BEGIN CERTIFICATE-----) found".to_string()),
        }
    } else if certs.is_empty() && error.is_none() {
        error = Some("the PEM blocks hold no CERTIFICATE".to_string());
    }
    Some((certs, error))
}

/// Secrets that carry a `tls.crt`, with its parsed content.
fn tls_secrets<'a>(
    ctx: &Ctx<'a>,
) -> impl Iterator<Item = (&'a Secret, Vec<CertInfo>, Option<String>)> + 'a {
    ctx.idx.objects.secrets.iter().filter_map(|s| {
        let crt = s.data.as_ref()?.get("tls.crt")?;
        let (certs, err) = parse_bundle(&crt.0)?;
        Some((s, certs, err))
    })
}

/// `ns/name` of the Ingresses that serve this Secret.
fn ingresses_using(ctx: &Ctx, ns: &str, name: &str) -> Vec<String> {
    ctx.idx
        .objects
        .ingresses
        .in_namespace(ns)
        .filter(|i| {
            i.spec
                .iter()
                .flat_map(|s| s.tls.iter().flatten())
                .any(|t| t.secret_name.as_deref() == Some(name))
        })
        .map(|i| format!("{ns}/{}", i.metadata.name.as_deref().unwrap_or("")))
        .collect()
}

fn date(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// Renewal commands: cert-manager when it manages the Secret, a manual replace otherwise.
fn renew_fix(s: &Secret) -> (String, Vec<String>) {
    let (ns, name) = ns_name(&s.metadata);
    let inspect = format!(
        "kubectl -n {ns} get secret {name} -o jsonpath='{{.data.tls\\.crt}}' | base64 -d | openssl x509 -noout -subject -enddate"
    );
    let cm = s
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CERT_MANAGER_NAME));
    match cm {
        Some(cert) => (
            format!(
                "cert-manager manages this Secret (Certificate {cert}) but has not renewed it: check the \
                 Certificate's status and its issuer, then trigger a renewal."
            ),
            vec![
                format!("kubectl -n {ns} describe certificate {cert}"),
                format!("cmctl renew {cert} -n {ns}"),
                inspect,
            ],
        ),
        None => (
            "Renew the certificate with its issuer and replace the Secret's tls.crt and tls.key in place.".to_string(),
            vec![
                inspect,
                format!(
                    "kubectl -n {ns} create secret tls {name} --cert=tls.crt --key=tls.key --dry-run=client -o yaml | kubectl apply -f -"
                ),
            ],
        ),
    }
}

fn expiry(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>, want_expired: bool) {
    let now = ctx.now.as_second();
    for (secret, certs, _) in tls_secrets(ctx) {
        let Some(leaf) = certs.first() else { continue };
        // The chain is only as good as its earliest-expiring certificate (the leaf on ties).
        let (idx, first) = certs
            .iter()
            .enumerate()
            .min_by_key(|(i, c)| (c.not_after, *i))
            .unwrap_or((0, leaf));
        let left = first.not_after - now;
        let expired = left <= 0;
        if expired != want_expired || (!expired && left > EXPIRING_WITHIN_DAYS * DAY) {
            continue;
        }
        let (ns, name) = ns_name(&secret.metadata);
        let days = left.abs() / DAY;
        let when = if expired {
            format!("expired on {} ({days} days ago)", date(first.not_after))
        } else {
            format!("expires on {} (in {days} days)", date(first.not_after))
        };
        let which = if idx == 0 {
            format!("The certificate {}", leaf.describe())
        } else {
            format!(
                "Certificate {} in the chain (position {} after the leaf {})",
                first.describe(),
                idx,
                leaf.describe()
            )
        };
        let ingresses = ingresses_using(ctx, ns, name);
        let impact = if ingresses.is_empty() {
            String::new()
        } else {
            format!(" Ingresses serving it: {}.", ingresses.join(", "))
        };
        let consequence = if expired {
            "TLS clients reject connections that present it."
        } else {
            "TLS clients will reject it once it expires unless it is renewed."
        };
        let (summary, cmds) = renew_fix(secret);
        let mut ev = vec![Evidence::spec(format!(
            "tls.crt leaf: {}; notAfter {}",
            leaf.describe(),
            date(leaf.not_after)
        ))];
        if idx != 0 {
            ev.push(Evidence::spec(format!(
                "tls.crt chain certificate {}: {}; notAfter {}",
                idx + 1,
                first.describe(),
                date(first.not_after)
            )));
        }
        ev.extend(
            ingresses
                .iter()
                .map(|i| Evidence::reference(format!("Ingress {i} → spec.tls secretName {name}"))),
        );
        if let Some(c) = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CERT_MANAGER_NAME))
        {
            ev.push(Evidence::reference(format!(
                "managed by cert-manager Certificate {ns}/{c}"
            )));
        }
        let subject = leaf
            .common_name
            .as_ref()
            .or_else(|| leaf.dns_names.first())
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        let title = if expired {
            format!(
                "TLS certificate{subject} in Secret {name} expired {days} days ago ({})",
                date(first.not_after)
            )
        } else {
            format!(
                "TLS certificate{subject} in Secret {name} expires in {days} days ({})",
                date(first.not_after)
            )
        };
        ctx.finding(info, obj_ref(Kind::Secret, &secret.metadata), "tls.crt")
            .title(title)
            .message(format!(
                "{which} in Secret {ns}/{name} {when}. {consequence}{impact}"
            ))
            .evidences(ev)
            .fix(summary, cmds)
            .push(out);
    }
}

fn invalid(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for (secret, certs, err) in tls_secrets(ctx) {
        let Some(err) = err else { continue };
        let (ns, name) = ns_name(&secret.metadata);
        let ingresses = ingresses_using(ctx, ns, name);
        let impact = if ingresses.is_empty() {
            String::new()
        } else {
            format!(
                " Ingresses serving it ({}) fall back to the controller's default certificate or fail.",
                ingresses.join(", ")
            )
        };
        let (_, mut cmds) = renew_fix(secret);
        cmds.retain(|c| !c.starts_with("cmctl"));
        ctx.finding(info, obj_ref(Kind::Secret, &secret.metadata), "tls.crt")
            .title(format!("Secret {name} has an unreadable tls.crt: {err}"))
            .message(format!(
                "The tls.crt of Secret {ns}/{name} could not be parsed as PEM certificates ({err}); {} certificate(s) \
                 were read. TLS servers using it may fail to load it.{impact}",
                certs.len()
            ))
            .evidence(Evidence::spec(format!("data[tls.crt]: {err}")))
            .evidences(ingresses.iter().map(|i| Evidence::reference(format!("Ingress {i} → spec.tls secretName {name}"))))
            .fix(
                "Put the PEM-encoded certificate chain (leaf first) in tls.crt, e.g. by recreating the Secret from \
                 the certificate and key files.",
                cmds,
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use rcgen::{CertificateParams, DnType, KeyPair, date_time_ymd};

    use crate::testutil::{index, run};
    use kaptain_model::Severity;

    fn pem(cn: &str, (y, m, d): (i32, u8, u8)) -> String {
        let mut params = CertificateParams::new(vec![cn.to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(y, m, d);
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("self-signed").pem()
    }

    fn secret(name: &str, crt: &str, annotations: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(crt);
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: shop{annotations}}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {b64}\n  tls.key: \"\"\n"
        )
    }

    const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  tls: [{hosts: [old.example.com], secretName: old-tls}]
  rules: [{host: old.example.com}]
"#;

    fn fixture() -> String {
        [
            secret("old-tls", &pem("old.example.com", (2025, 6, 1)), ""),
            secret(
                "soon-tls",
                &pem("soon.example.com", (2026, 1, 15)),
                ", annotations: {cert-manager.io/certificate-name: soon}",
            ),
            secret("good-tls", &pem("good.example.com", (2027, 1, 1)), ""),
            secret("redacted-tls", "", ""),
            secret(
                "broken-tls",
                "-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n",
                "",
            ),
            INGRESS.to_string(),
        ]
        .join("---\n")
    }

    #[test]
    fn expired_certificate_is_critical_and_names_its_ingress() {
        let f = run("certificate.expired", &index(&fixture(), &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.name, "old-tls");
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].title.contains("old.example.com") && f[0].title.contains("2025-06-01"),
            "{}",
            f[0].title
        );
        assert!(f[0].message.contains("shop/web"), "{}", f[0].message);
        assert!(
            f[0].remediation
                .commands
                .iter()
                .any(|c| c.contains("create secret tls old-tls"))
        );
    }

    #[test]
    fn expiring_certificate_uses_cert_manager_and_valid_one_does_not_fire() {
        let f = run("certificate.expiring", &index(&fixture(), &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.name, "soon-tls");
        assert!(f[0].title.contains("expires in 13 days"), "{}", f[0].title);
        assert!(f[0].evidence[0].detail.contains("DNS: soon.example.com"));
        assert!(
            f[0].remediation
                .commands
                .iter()
                .any(|c| c == "cmctl renew soon -n shop")
        );
        // good-tls (2027) and the redacted secret produce nothing in either check.
        let only_good = [
            secret("good-tls", &pem("good.example.com", (2027, 1, 1)), ""),
            secret("r", "", ""),
        ]
        .join("---\n");
        let idx = index(&only_good, &[]);
        assert!(run("certificate.expiring", &idx).is_empty());
        assert!(run("certificate.expired", &idx).is_empty());
        assert!(run("certificate.invalid", &idx).is_empty());
    }

    #[test]
    fn expired_intermediate_in_chain_counts() {
        let chain = format!(
            "{}{}",
            pem("leaf.example.com", (2027, 1, 1)),
            pem("Old Intermediate", (2025, 12, 1))
        );
        let f = run(
            "certificate.expired",
            &index(&secret("chain-tls", &chain, ""), &[]),
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].message.contains("Old Intermediate") && f[0].message.contains("leaf.example.com")
        );
    }

    #[test]
    fn undecodable_pem_is_invalid() {
        let f = run("certificate.invalid", &index(&fixture(), &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.name, "broken-tls");
        assert!(f[0].title.contains("base64"), "{}", f[0].title);
    }
}
