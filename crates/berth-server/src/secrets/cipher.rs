//! The key that seals secret values at rest (Secrets Manager values, SecureString
//! parameters): AES-256-GCM from `ring`, a fresh 96-bit nonce per value, and the
//! record's identity (secret ARN and version id, parameter name and version) as
//! associated data, so a sealed value copied into another record does not open.
//!
//! # Where the key comes from
//!
//! - **Given by the operator** (`--secrets-key-file` / `BERTH_SECRETS_KEY_FILE`): a
//!   file holding 32 bytes as 64 hex digits (`openssl rand -hex 32`). The key then lives
//!   only on the servers' disks; the store keeps its fingerprint alone, so a copy of the
//!   store (a redb file, an etcd backup) opens nothing. Every replica must be given the
//!   same key.
//! - **Otherwise generated** on first start into `DATA_DIR/secrets.key` (mode 0600) and
//!   shared with every replica through the store (`/secrets/key`), as the registry's
//!   token key and the account's keys are: replicas over etcd need nothing more, but
//!   whoever reads the store can open the values.
//!
//! A replica whose key does not match the fingerprint in the store refuses to start,
//! saying which key the store's values were sealed with. Giving a key file where the
//! store held a generated key (with the same bytes) takes the key out of the store.
//!
//! The key is never logged: [`SecretsKey`]'s `Debug` shows its fingerprint only.

use std::path::{Path, PathBuf};

use base64::Engine;
use berth_model::secret::Sealed;
use berth_store::records::{self, RecordError, Step};
use berth_store::{Compare, Op, Store, Txn};
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};

/// The file a generated key is kept in, under the data directory.
pub const KEY_FILE: &str = "secrets.key";
/// The store key of the key's fingerprint (and of the key itself when generated).
const STORE_KEY: &str = "/secrets/key";

/// The key that seals and opens secret values.
pub struct SecretsKey {
    key: LessSafeKey,
    fingerprint: String,
    /// The key's bytes, hex, kept to share a generated key through the store.
    hex: String,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey(fingerprint {})", self.fingerprint)
    }
}

/// Why a sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the stored value is not in the sealed format")]
    Malformed,
    #[error("the stored value does not open with this server's secrets key (altered, or sealed with another key)")]
    Refused,
}

/// What the store holds at [`STORE_KEY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredKey {
    fingerprint: String,
    /// The key itself, hex, when it was generated rather than given.
    #[serde(default)]
    key: Option<String>,
}

impl SecretsKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> SecretsKey {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key"));
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[b"berth secrets key fingerprint\0".as_slice(), bytes].concat(),
        );
        SecretsKey {
            key,
            fingerprint: hex::encode(&digest.as_ref()[..8]),
            hex: hex::encode(bytes),
        }
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<SecretsKey, String> {
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("a secrets key is 32 bytes written as 64 hex digits (openssl rand -hex 32)")?;
        Ok(SecretsKey::from_bytes(&bytes))
    }

    /// A short fingerprint of the key, safe to show.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `plain` for the record `context` names.
    pub fn seal(&self, plain: &[u8], context: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut out,
            )
            .expect("AES-GCM seals any value under 64 GiB");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Sealed(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, OpenError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed.0)
            .map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Malformed);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Malformed)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| OpenError::Refused)?;
        Ok(plain.to_vec())
    }

    /// The key to use, agreed with the store: the operator's (`given`, a key file), or
    /// the one generated into `data_dir` (made on first start), or, when the store
    /// already shares a generated one, that one (written to `data_dir`).
    pub async fn settle(
        store: &dyn Store,
        data_dir: &Path,
        given: Option<&Path>,
    ) -> Result<SecretsKey, String> {
        let local_path = data_dir.join(KEY_FILE);
        let (local, given_path) = match given {
            Some(path) => (read_key(path)?, Some(path.to_path_buf())),
            None => match std::fs::read_to_string(&local_path) {
                Ok(text) => (
                    SecretsKey::from_hex(&text)
                        .map_err(|e| format!("{}: {e}", local_path.display()))?,
                    None,
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let mut bytes = [0u8; 32];
                    rand::thread_rng().fill_bytes(&mut bytes);
                    (SecretsKey::from_bytes(&bytes), None)
                }
                Err(e) => return Err(format!("cannot read {}: {e}", local_path.display())),
            },
        };
        let (local, given_path) = (&local, &given_path);
        let adopted: Option<String> = records::update(store, STORE_KEY, || async move {
            let existing = store.get(STORE_KEY).await?;
            let stored = existing
                .as_ref()
                .map(|kv| {
                    serde_json::from_slice::<StoredKey>(&kv.value).map_err(|e| {
                        RecordError::Corrupt {
                            key: STORE_KEY.into(),
                            reason: e.to_string(),
                        }
                    })
                })
                .transpose()?;
            let wanted = match (&stored, given_path) {
                (Some(s), None) if s.key.is_some() => return Ok(Step::Done(Ok(s.key.clone()))),
                (Some(s), _) if s.fingerprint != local.fingerprint => {
                    return Ok(Step::Done(Err(mismatch(s, given_path.as_deref()))))
                }
                (Some(s), Some(_)) if s.key.is_none() => return Ok(Step::Done(Ok(None))),
                (Some(_), None) => return Ok(Step::Done(Ok(None))),
                (_, Some(_)) => StoredKey {
                    fingerprint: local.fingerprint.clone(),
                    key: None,
                },
                (None, None) => StoredKey {
                    fingerprint: local.fingerprint.clone(),
                    key: Some(local.hex.clone()),
                },
            };
            let txn = Txn::new()
                .when(Compare::unchanged(
                    STORE_KEY,
                    existing.map_or(0, |kv| kv.mod_revision),
                ))
                .then(Op::put(
                    STORE_KEY,
                    serde_json::to_vec(&wanted).expect("serializes"),
                ));
            Ok::<_, RecordError>(Step::Commit(txn, Ok(None)))
        })
        .await
        .map_err(|e| format!("cannot settle the secrets key through the store: {e}"))??;
        let key = match adopted {
            Some(hex) => SecretsKey::from_hex(&hex)
                .map_err(|e| format!("the store's shared secrets key: {e}"))?,
            None => SecretsKey::from_hex(&local.hex).expect("own key"),
        };
        if given.is_none() {
            crate::identity::write_private(&local_path, key.hex.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        Ok(key)
    }
}

/// The refusal to start with a key other than the one the store's values are sealed
/// with.
fn mismatch(stored: &StoredKey, given: Option<&Path>) -> String {
    let this = match given {
        Some(path) => format!("the key in {}", path.display()),
        None => format!("the generated key in the data directory's {KEY_FILE}"),
    };
    format!(
        "{this} is not the key the store's secrets are sealed with (fingerprint {}); give \
         every replica the same --secrets-key-file (BERTH_SECRETS_KEY_FILE)",
        stored.fingerprint
    )
}

fn read_key(path: &Path) -> Result<SecretsKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the secrets key file {}: {e}", path.display()))?;
    SecretsKey::from_hex(&text).map_err(|e| format!("{}: {e}", PathBuf::from(path).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretsKey {
        SecretsKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn values_round_trip_and_tampering_is_refused() {
        let k = key(7);
        let sealed = k.seal(b"hunter2", "secret/a/v1");
        assert!(!sealed.0.contains("hunter2"));
        assert_ne!(
            k.seal(b"hunter2", "secret/a/v1"),
            sealed,
            "fresh nonce each time"
        );
        assert_eq!(k.open(&sealed, "secret/a/v1").unwrap(), b"hunter2");
        // Another record's context, another key, a flipped bit: all refused.
        assert_eq!(k.open(&sealed, "secret/b/v1"), Err(OpenError::Refused));
        assert_eq!(key(8).open(&sealed, "secret/a/v1"), Err(OpenError::Refused));
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed.0)
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = Sealed(base64::engine::general_purpose::STANDARD.encode(bytes));
        assert_eq!(k.open(&flipped, "secret/a/v1"), Err(OpenError::Refused));
        assert_eq!(
            k.open(&Sealed("bm9wZQ==".into()), "x"),
            Err(OpenError::Malformed)
        );
        assert!(!format!("{k:?}").contains(&"07".repeat(32)));
    }

    #[test]
    fn key_files_hold_hex() {
        assert!(SecretsKey::from_hex(&format!("{}\n", "ab".repeat(32))).is_ok());
        assert!(SecretsKey::from_hex("abcd").is_err());
        assert!(SecretsKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[tokio::test]
    async fn generated_keys_are_shared_and_given_keys_must_match() {
        use std::os::unix::fs::PermissionsExt;
        let store_dir = tempfile::tempdir().unwrap();
        let store =
            berth_store::embedded::EmbeddedStore::open(&store_dir.path().join("s")).unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = SecretsKey::settle(&store, a.path(), None).await.unwrap();
        let mode = std::fs::metadata(a.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second replica adopts the shared key.
        let second = SecretsKey::settle(&store, b.path(), None).await.unwrap();
        assert_eq!(first.fingerprint(), second.fingerprint());
        let sealed = first.seal(b"v", "c");
        assert_eq!(second.open(&sealed, "c").unwrap(), b"v");
        // A different given key is refused; the same one takes the key out of the store.
        let other = a.path().join("other.key");
        std::fs::write(&other, "11".repeat(32)).unwrap();
        let e = SecretsKey::settle(&store, a.path(), Some(&other))
            .await
            .unwrap_err();
        assert!(
            e.contains("not the key the store's secrets are sealed with"),
            "{e}"
        );
        let same = a.path().join("same.key");
        std::fs::write(&same, &first.hex).unwrap();
        SecretsKey::settle(&store, a.path(), Some(&same))
            .await
            .unwrap();
        let kv = store.get(STORE_KEY).await.unwrap().unwrap();
        let stored: StoredKey = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored.key, None);
        // Now a replica without the key file cannot start with a key of its own.
        let c = tempfile::tempdir().unwrap();
        let e = SecretsKey::settle(&store, c.path(), None)
            .await
            .unwrap_err();
        assert!(e.contains("--secrets-key-file"), "{e}");
    }
}
