//! Settings, with secret values (LLM API keys, webhook URLs) encrypted at rest.
//!
//! Secret values are sealed with XChaCha20-Poly1305 under a 32-byte key that never enters
//! the database: a fresh random 24-byte nonce per write (random nonces of this size never
//! repeat in practice), and the setting's name as associated data, so a sealed value copied
//! to another name does not decrypt. Stored as `xc1:` + base64(nonce || ciphertext || tag).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::db::{RowExt, hex, micros, with_pool};
use crate::error::{Error, Result};

/// The environment variable the server reads a key from (64 hex digits or base64 of 32
/// bytes), instead of a key file.
pub const KEY_ENV: &str = "KAPTAIN_SECRET_KEY";
const SEALED_PREFIX: &str = "xc1:";
const NONCE_BYTES: usize = 24;

/// The 32-byte key that encrypts secret settings. Its `Debug` output hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        Ok(SecretKey(bytes))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// Parses a key written as 64 hex digits or as base64 (standard or URL-safe, padded or
    /// not) of 32 bytes; surrounding whitespace is ignored. `source_name` names the file or
    /// variable in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let text = text.trim();
        let bad = |message: &str| Error::Key {
            source_name: source_name.to_owned(),
            message: message.to_owned(),
        };
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .map_err(|_| bad("not hex"))?
        } else {
            [STANDARD, URL_SAFE]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
                .or_else(|| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(text)
                        .ok()
                })
                .ok_or_else(|| bad("expected 64 hex digits or base64 of 32 bytes"))?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
            bad(&format!("the key has {} bytes; it must have 32", v.len()))
        })?;
        Ok(SecretKey(bytes))
    }

    /// The key from [`KEY_ENV`] (`KAPTAIN_SECRET_KEY`), if set and not empty.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => SecretKey::parse(&text, KEY_ENV).map(Some),
            _ => Ok(None),
        }
    }

    /// The key as 64 lower-case hex digits (the key file's format).
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    fn seal(&self, name: &str, plaintext: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
        let aad = aad(name);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Corrupt(format!("cannot encrypt setting {name:?}")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    fn open(&self, name: &str, stored: &str) -> Result<String> {
        let decrypt = || Error::Decrypt {
            name: name.to_owned(),
        };
        let raw = stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() >= NONCE_BYTES)
            .ok_or_else(decrypt)?;
        let (nonce, sealed) = raw.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| decrypt())?;
        let aad = aad(name);
        let plain = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| decrypt())?;
        String::from_utf8(plain).map_err(|_| decrypt())
    }
}

fn aad(name: &str) -> Vec<u8> {
    format!("kaptain.setting:{name}").into_bytes()
}

/// Reads the key in `path`, or creates the file with a new random key (64 hex digits and a
/// newline), readable and writable by its owner only (0600), creating its directory (0700)
/// when missing. Processes racing to create it end up with the same key.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => return SecretKey::parse(&text, &name),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    // Written whole under a name of its own, then linked into place: a link does not replace
    // an existing file, so a racing creator either wins or reads the winner's complete key
    // (never a file created but not yet written).
    let key = SecretKey::generate()?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: u64 = {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| Error::Random(e.to_string()))?;
        u64::from_le_bytes(b)
    };
    let tmp = path.with_file_name(format!(
        ".{file_name}.{}.{suffix:016x}.tmp",
        std::process::id()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
            file.sync_all()
        });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(io)?;
            SecretKey::parse(&text, &name)
        }
        Err(e) => Err(io(e)),
    }
}

/// A setting as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettingInfo {
    /// The setting's name (`llm.api_key`).
    pub name: String,
    /// Whether its value is encrypted.
    pub secret: bool,
    /// When it was last written.
    pub updated_at: Timestamp,
}

impl Store {
    /// Writes setting `name`. A `secret` value is encrypted with the store's key
    /// ([`Error::NoSecretKey`] without one); others are stored as they are.
    pub async fn set_setting(&self, name: &str, value: &str, secret: bool) -> Result<()> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("setting name is empty".into()));
        }
        let stored = if secret {
            self.key
                .as_ref()
                .ok_or_else(|| Error::NoSecretKey {
                    name: name.to_owned(),
                })?
                .seal(name, value)?
        } else {
            value.to_owned()
        };
        let now = micros(Timestamp::now());
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO settings (name, secret, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET secret = excluded.secret, \
                 value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(secret)
            .bind(stored)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The value of setting `name` (decrypted when secret), or `None` when it is not set.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(bool, String)> = with_pool!(self, pool => {
            let row = sqlx::query("SELECT secret, value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
            row.map(|r| Ok::<_, Error>((r.bool("secret")?, r.string("value")?)))
                .transpose()?
        });
        match row {
            None => Ok(None),
            Some((false, value)) => Ok(Some(value)),
            Some((true, sealed)) => {
                let key = self.key.as_ref().ok_or_else(|| Error::NoSecretKey {
                    name: name.to_owned(),
                })?;
                key.open(name, &sealed).map(Some)
            }
        }
    }

    /// Every setting's name, whether it is secret, and when it changed — no values.
    pub async fn settings(&self) -> Result<Vec<SettingInfo>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT name, secret, updated_at FROM settings ORDER BY name")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(SettingInfo {
                        name: r.string("name")?,
                        secret: r.bool("secret")?,
                        updated_at: r.ts("updated_at")?,
                    })
                })
                .collect()
        })
    }

    /// Removes setting `name`; whether it existed.
    pub async fn delete_setting(&self, name: &str) -> Result<bool> {
        with_pool!(self, pool => {
            let done = sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_the_name() {
        let key = SecretKey::generate().expect("key");
        let sealed = key.seal("llm.api_key", "sk-very-secret").expect("seal");
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("sk-very-secret"));
        assert_eq!(
            key.open("llm.api_key", &sealed).expect("open"),
            "sk-very-secret"
        );
        assert!(key.open("webhook.url", &sealed).is_err(), "name is bound");
        let other = SecretKey::generate().expect("key");
        assert!(other.open("llm.api_key", &sealed).is_err(), "wrong key");
        assert_ne!(
            sealed,
            key.seal("llm.api_key", "sk-very-secret").expect("seal"),
            "fresh nonce per write"
        );
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let key = SecretKey::generate().expect("key");
        assert_eq!(SecretKey::parse(&key.to_hex(), "t").expect("hex"), key);
        let b64 = STANDARD.encode(key.0);
        assert_eq!(
            SecretKey::parse(&format!(" {b64}\n"), "t").expect("b64"),
            key
        );
        let err = SecretKey::parse("abcd", "KAPTAIN_SECRET_KEY").expect_err("short");
        assert!(err.to_string().contains("KAPTAIN_SECRET_KEY"), "{err}");
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/secret.key");
        let a = load_or_create_key(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = load_or_create_key(&path).expect("load");
        assert_eq!(a, b);
        std::fs::write(&path, "garbage").expect("write");
        let err = load_or_create_key(&path).expect_err("garbage");
        assert!(err.to_string().contains("secret.key"), "{err}");
    }

    #[test]
    fn racing_creators_get_the_same_key() {
        // Replicas (or `kaptain serve` and another command) starting together with a key
        // file that does not exist yet: none may read it half-written.
        for round in 0..50 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("secret.key");
            let start = std::sync::Arc::new(std::sync::Barrier::new(6));
            let threads: Vec<_> = (0..6)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        load_or_create_key(&path)
                    })
                })
                .collect();
            let keys: Vec<SecretKey> = threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .expect("thread")
                        .unwrap_or_else(|e| panic!("round {round}: {e}"))
                })
                .collect();
            assert!(keys.windows(2).all(|w| w[0] == w[1]), "round {round}");
            assert_eq!(load_or_create_key(&path).expect("load"), keys[0]);
            let files = std::fs::read_dir(dir.path()).expect("dir").count();
            assert_eq!(files, 1, "round {round}: temporary files left behind");
        }
    }
}
