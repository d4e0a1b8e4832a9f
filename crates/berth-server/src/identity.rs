//! Who may call Berth: the account's access key pair (generated on first start and kept
//! in the data directory, or given by the operator) and the token agents present.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The account and the long-term access key pair that signs requests to it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid identity file ({source}); remove it to generate new keys")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("account id '{0}' must be 12 digits")]
    BadAccount(String),
}

const IDENTITY_FILE: &str = "identity.json";
const AGENT_TOKEN_FILE: &str = "agent-token";

impl Identity {
    /// Loads the key pair kept in `data_dir`, or creates one. Keys given by the operator
    /// win over stored ones and are stored for the next start.
    pub fn load_or_create(
        data_dir: &Path,
        account_id: &str,
        given: Option<(String, String)>,
    ) -> Result<Identity, IdentityError> {
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::BadAccount(account_id.to_string()));
        }
        let path = data_dir.join(IDENTITY_FILE);
        let stored =
            match std::fs::read(&path) {
                Ok(bytes) => Some(serde_json::from_slice::<Identity>(&bytes).map_err(
                    |source| IdentityError::Corrupt {
                        path: path.clone(),
                        source,
                    },
                )?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(IdentityError::Io { path, source }),
            };
        let identity = match (given, stored) {
            (Some((access_key_id, secret_access_key)), _) => Identity {
                account_id: account_id.to_string(),
                access_key_id,
                secret_access_key,
            },
            (None, Some(stored)) => Identity {
                account_id: account_id.to_string(),
                ..stored
            },
            (None, None) => Identity::generate(account_id),
        };
        let json = serde_json::to_vec_pretty(&identity).expect("identity serializes");
        write_private(&path, &json)?;
        Ok(identity)
    }

    /// A fresh key pair shaped like AWS's (AKIA…, 40-character secret).
    pub fn generate(account_id: &str) -> Identity {
        let mut rng = rand::thread_rng();
        let id: String = (0..16)
            .map(|_| {
                let c = rng.gen_range(0..36u8);
                if c < 10 {
                    (b'0' + c) as char
                } else {
                    (b'A' + c - 10) as char
                }
            })
            .collect();
        Identity {
            account_id: account_id.to_string(),
            access_key_id: format!("AKIA{id}"),
            secret_access_key: Alphanumeric.sample_string(&mut rng, 40),
        }
    }
}

/// Loads the agent token kept in `data_dir`, creating it on first start. Returns the
/// token and the file it lives in.
pub fn load_or_create_agent_token(data_dir: &Path) -> Result<(String, PathBuf), IdentityError> {
    let path = data_dir.join(AGENT_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok((s.trim().to_string(), path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(IdentityError::Io { path, source }),
    }
    let token = format!(
        "berth-agent-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 48)
    );
    write_private(&path, token.as_bytes())?;
    Ok((token, path))
}

/// The store key of the account's key pair, shared by every replica.
const STORE_IDENTITY: &str = "/identity/keys";
/// The store key of the agent token, shared by every replica.
const STORE_AGENT_TOKEN: &str = "/identity/agent-token";

/// The identity and agent token every replica of a control plane shares, kept in the
/// store: the first replica to start publishes its own (from its data directory), later
/// ones adopt what is there; keys an operator gives (`given`) replace the stored ones.
/// The data directory's copies are rewritten to match, for the tools that read them.
pub async fn settle_in_store(
    store: &dyn berth_store::Store,
    data_dir: &Path,
    local: Identity,
    given: bool,
    local_token: String,
) -> Result<(Identity, String), String> {
    let identity = settle(store, STORE_IDENTITY, local, given, |bytes| {
        serde_json::from_slice::<Identity>(bytes).map_err(|e| e.to_string())
    })
    .await?;
    let token = settle(store, STORE_AGENT_TOKEN, local_token, false, |bytes| {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    })
    .await?;
    let json = serde_json::to_vec_pretty(&identity).expect("identity serializes");
    write_private(&data_dir.join(IDENTITY_FILE), &json).map_err(|e| e.to_string())?;
    write_private(&data_dir.join(AGENT_TOKEN_FILE), token.as_bytes()).map_err(|e| e.to_string())?;
    Ok((identity, token))
}

/// The value at `key`: the stored one, or `local` when there is none or `replace` says
/// so (written with compare-and-swap, so racing replicas agree).
async fn settle<T: serde::Serialize + StoredBytes>(
    store: &dyn berth_store::Store,
    key: &str,
    local: T,
    replace: bool,
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, String> {
    use berth_store::records::{self, RecordError, Step};
    use berth_store::{Compare, Op, Txn};
    let (local, parse) = (&local, &parse);
    records::update(store, key, || async move {
        let existing = store.get(key).await.map_err(RecordError::from)?;
        if let (Some(kv), false) = (&existing, replace) {
            let value = parse(&kv.value).map_err(|reason| RecordError::Corrupt {
                key: key.to_string(),
                reason,
            })?;
            return Ok(Step::Done(value));
        }
        let txn = Txn::new()
            .when(Compare::unchanged(
                key,
                existing.map_or(0, |kv| kv.mod_revision),
            ))
            .then(Op::put(key, local.bytes()));
        Ok::<_, RecordError>(Step::Commit(
            txn,
            parse(&local.bytes()).expect("own value parses"),
        ))
    })
    .await
    .map_err(|e| format!("cannot share {key} through the store: {e}"))
}

/// How a shared value is written to the store.
trait StoredBytes {
    fn bytes(&self) -> Vec<u8>;
}

impl StoredBytes for Identity {
    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("identity serializes")
    }
}

impl StoredBytes for String {
    fn bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_across_starts_and_given_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path(), "000000000000", None).unwrap();
        assert!(first.access_key_id.starts_with("AKIA") && first.access_key_id.len() == 20);
        assert_eq!(first.secret_access_key.len(), 40);
        let again = Identity::load_or_create(dir.path(), "000000000000", None).unwrap();
        assert_eq!(first, again);
        let given = Identity::load_or_create(
            dir.path(),
            "000000000000",
            Some(("AKIAGIVEN".into(), "secret".into())),
        )
        .unwrap();
        assert_eq!(given.access_key_id, "AKIAGIVEN");
        assert_eq!(
            Identity::load_or_create(dir.path(), "000000000000", None).unwrap(),
            given
        );
    }

    #[test]
    fn rejects_a_bad_account_id() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Identity::load_or_create(dir.path(), "12", None).is_err());
    }

    #[tokio::test]
    async fn replicas_share_the_first_ones_keys_and_token_and_given_keys_replace_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = berth_store::embedded::EmbeddedStore::open(&dir.path().join("s")).unwrap();
        let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a_dir).unwrap();
        std::fs::create_dir_all(&b_dir).unwrap();
        let a = Identity::generate("000000000000");
        let (first, token) = settle_in_store(&store, &a_dir, a.clone(), false, "tok-a".into())
            .await
            .unwrap();
        assert_eq!((first.clone(), token.as_str()), (a.clone(), "tok-a"));
        let b = Identity::generate("000000000000");
        let (second, token) = settle_in_store(&store, &b_dir, b.clone(), false, "tok-b".into())
            .await
            .unwrap();
        assert_eq!(
            (second, token.as_str()),
            (a.clone(), "tok-a"),
            "the second adopts the first's"
        );
        assert_eq!(
            Identity::load_or_create(&b_dir, "000000000000", None).unwrap(),
            a,
            "and its data directory says so"
        );
        let (given, _) = settle_in_store(&store, &b_dir, b.clone(), true, "tok-b".into())
            .await
            .unwrap();
        assert_eq!(given, b, "keys an operator gives replace the stored ones");
    }

    #[test]
    fn agent_token_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = load_or_create_agent_token(dir.path()).unwrap();
        let (b, _) = load_or_create_agent_token(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.len() > 20);
    }
}
