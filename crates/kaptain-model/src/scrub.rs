//! Credentials out of free text: what no error message, tool output or prompt may carry.
//!
//! Pure string scanning (no regex engine), shared by the engine (tool outputs, error lines)
//! and the LLM layer (everything sent to a model). It removes what has a recognisable
//! shape; values with no shape (a Secret's data) are kept out by never reading them
//! (the tools show Secret keys only) and, for a prompt, by the literal list the caller
//! hands the LLM layer.

/// The mask written in place of a credential.
pub const MASK: &str = "***";

/// Removes credentials from free text:
/// - URL user-info (`https://user:pass@host` → `https://***@host`);
/// - the word after `Bearer` / `Basic`;
/// - the value of a sensitive key in `key: value`, `key=value` or `"key": "value"` form
///   (`token`, `password`, `secret`, `api_key`, `client-key-data`, `client-certificate-data`,
///   `private_key`, `credential`, ... — but not `secretName`, `tokenPath` and other names of
///   things);
/// - JSON Web Tokens (`eyJ…​.…​.…`) and well-known key shapes (`sk-…`, `ghp_…`, `AKIA…`,
///   `xoxb-…`);
/// - PEM private key blocks.
pub fn scrub_text(s: &str) -> String {
    let s = scrub_pem(s);
    let s = scrub_userinfo(&s);
    let s = scrub_after_scheme_words(&s);
    let s = scrub_key_values(&s);
    scrub_token_shapes(&s)
}

/// `-----BEGIN … PRIVATE KEY----- … -----END … PRIVATE KEY-----` → the markers around `***`.
fn scrub_pem(s: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(BEGIN) {
        let after = &rest[i + BEGIN.len()..];
        let Some(hdr_end) = after.find("-----") else {
            break;
        };
        let label = &after[..hdr_end];
        if !label.contains("PRIVATE KEY") {
            out.push_str(&rest[..i + BEGIN.len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..i]);
        out.push_str(&format!("-----BEGIN {label}----- {MASK}"));
        let body = &after[hdr_end + 5..];
        let end_marker = format!("-----END {label}-----");
        match body.find(&end_marker) {
            Some(j) => {
                out.push_str(&format!(" {end_marker}"));
                rest = &body[j + end_marker.len()..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn scrub_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The word after `Bearer` or `Basic` (an Authorization header's credential).
fn scrub_after_scheme_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hide_next = false;
    for (n, w) in s.split(' ').enumerate() {
        if n > 0 {
            out.push(' ');
        }
        if hide_next && !w.is_empty() {
            out.push_str(MASK);
            hide_next = false;
            continue;
        }
        let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        hide_next = bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic");
        out.push_str(w);
    }
    out
}

const SENSITIVE: &[&str] = &[
    "token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "access-key",
    "accesskey",
    "client-key-data",
    "client-certificate-data",
    "private_key",
    "private-key",
    "privatekey",
    "credential",
    "auth-data",
    "cookie",
];

/// Key endings that name a thing rather than hold a value (`secretName`, `tokenPath`).
const NAMES_A_THING: &[&str] = &[
    "name",
    "ref",
    "type",
    "path",
    "keys",
    "mode",
    "namespace",
    "items",
    "file",
    "volume",
    "source",
    "count",
    "ttl",
    "seconds",
    "expiry",
    "expires",
    "url",
];

fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| k.contains(s)) && !NAMES_A_THING.iter().any(|n| k.ends_with(n))
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The value of a sensitive `key: value`, `key=value`, `"key": "value"` → `***`.
fn scrub_key_values(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        if c != ':' && c != '=' {
            continue;
        }
        // A URL scheme (`https://`) is not a key.
        if c == ':' && chars.get(i) == Some(&'/') {
            continue;
        }
        // Look back: optional quote, the key.
        let mut k_end = i - 1;
        while k_end > 0 && matches!(chars[k_end - 1], ' ') {
            k_end -= 1;
        }
        if k_end > 0 && matches!(chars[k_end - 1], '"' | '\'') {
            k_end -= 1;
        }
        let mut k_start = k_end;
        while k_start > 0 && key_char(chars[k_start - 1]) {
            k_start -= 1;
        }
        if k_start == k_end {
            continue;
        }
        let key: String = chars[k_start..k_end].iter().collect();
        if !is_sensitive_key(&key) {
            continue;
        }
        // Look forward: spaces, an optional quote, the value.
        let mut j = i;
        while j < chars.len() && chars[j] == ' ' {
            j += 1;
        }
        let Some(&first) = chars.get(j) else {
            continue;
        };
        if matches!(first, '{' | '[' | '\n' | '\r') {
            continue;
        }
        let (start, end, close) = if matches!(first, '"' | '\'') {
            let mut e = j + 1;
            while e < chars.len() && chars[e] != first {
                if chars[e] == '\\' {
                    e += 1;
                }
                e += 1;
            }
            (j + 1, e.min(chars.len()), true)
        } else {
            let mut e = j;
            while e < chars.len()
                && !chars[e].is_whitespace()
                && !matches!(chars[e], ',' | ';' | '}' | ']' | ')' | '"' | '\'' | '&')
            {
                e += 1;
            }
            (j, e, false)
        };
        if end <= start {
            continue;
        }
        out.extend(&chars[i..start]);
        out.push_str(MASK);
        i = end;
        if close && i < chars.len() {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '/' | '=')
}

/// Whole tokens shaped like credentials: JWTs and well-known API key forms.
fn scrub_token_shapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_credential(word) {
            out.push_str(MASK);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn looks_like_credential(w: &str) -> bool {
    let w = w.trim_end_matches('.');
    let alnum_run = |s: &str, min: usize| {
        s.len() >= min
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    // A JWT: three base64url parts, the first a JSON header.
    if let Some(rest) = w.strip_prefix("eyJ") {
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() >= 2 && parts.iter().take(2).all(|p| alnum_run(p, 4)) {
            return true;
        }
    }
    if let Some(r) = w.strip_prefix("sk-") {
        return alnum_run(r, 20);
    }
    for p in [
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "xoxp-",
    ] {
        if let Some(r) = w.strip_prefix(p) {
            return alnum_run(r, 16);
        }
    }
    if let Some(r) = w.strip_prefix("AKIA") {
        return r.len() == 16
            && r.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_authorization_headers() {
        let s = scrub_text(
            "GET https://alice:hunter2@10.0.0.1:6443/api failed; Authorization: Bearer abc.def",
        );
        assert!(!s.contains("hunter2") && !s.contains("abc.def"), "{s}");
        assert!(s.contains("https://***@10.0.0.1:6443/api"), "{s}");
        assert_eq!(scrub_text("plain text"), "plain text");
        assert_eq!(scrub_text("Basic dXNlcjpwYXNz"), "Basic ***");
    }

    #[test]
    fn sensitive_keys_lose_their_values_names_of_things_do_not() {
        let s = scrub_text(
            "token: abcdef123 password=hunter2, \"api_key\": \"k-123\" client-key-data: LS0tLS1CRUd",
        );
        for gone in ["abcdef123", "hunter2", "k-123", "LS0tLS1CRUd"] {
            assert!(!s.contains(gone), "{gone} in {s}");
        }
        assert!(
            s.contains("token: ***") && s.contains("\"api_key\": \"***\""),
            "{s}"
        );
        let kept = "secretName: db-creds tokenPath=/var/run/x secret: {nested}";
        assert_eq!(scrub_text(kept), kept);
    }

    #[test]
    fn token_shapes_and_private_keys() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl";
        let s = scrub_text(&format!(
            "use {jwt} or sk-abcdefghijklmnopqrstuvwx or AKIAABCDEFGHIJKLMNOP now"
        ));
        assert_eq!(s, "use *** or *** or *** now");
        let pem = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\nafter";
        let s = scrub_text(pem);
        assert!(!s.contains("MIIEow") && s.ends_with("after"), "{s}");
        // Certificates are public.
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(scrub_text(cert), cert);
    }
}
