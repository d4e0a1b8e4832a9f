//! Typed access to the store: records live under the keys of [`crate::keys`], laid out as
//! their [`Stored`] implementation says, and are read with the revision they were read at
//! so writes can compare-and-swap on it.

use berth_api::error::ApiError;
use berth_model::cluster::ClusterRecord;
use berth_model::container_instance::InstanceRecord;
use berth_model::task_definition::TaskDefinitionRecord;
use berth_store::{KeyValue, Op, Revision, Store, StoreError, Txn, TxnOutcome};

/// How a record type is laid out in the store.
pub trait Stored: Sized {
    /// The bytes stored for this record.
    fn encode(&self) -> Vec<u8>;
    /// The record back from its stored bytes; the error says what was wrong.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// Implements [`Stored`] as plain JSON of the record.
macro_rules! stored_as_json {
    ($($record:ty),* $(,)?) => {$(
        impl $crate::records::Stored for $record {
            fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("records serialize")
            }
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(bytes).map_err(|e| e.to_string())
            }
        }
    )*};
}
pub(crate) use stored_as_json;

stored_as_json!(
    ClusterRecord,
    InstanceRecord,
    TaskDefinitionRecord,
    berth_model::service::ServiceRecord
);

/// A record read from the store, with the revision that last changed it.
#[derive(Debug, Clone)]
pub struct Record<T> {
    pub key: String,
    pub value: T,
    pub revision: Revision,
}

/// A store failure as the caller sees it: a server error that may be retried.
pub fn store_error(e: StoreError) -> ApiError {
    ApiError::Server(format!(
        "The store failed: {e}. The request may be retried."
    ))
}

/// Decodes one stored record.
pub fn decode<T: Stored>(kv: KeyValue) -> Result<Record<T>, ApiError> {
    let value = T::decode(&kv.value)
        .map_err(|e| ApiError::Server(format!("stored record {} cannot be read: {e}", kv.key)))?;
    Ok(Record {
        key: kv.key,
        value,
        revision: kv.mod_revision,
    })
}

/// Reads and decodes one record.
pub async fn get<T: Stored>(store: &dyn Store, key: &str) -> Result<Option<Record<T>>, ApiError> {
    store
        .get(key)
        .await
        .map_err(store_error)?
        .map(decode)
        .transpose()
}

/// Reads and decodes every record under a prefix, in key order.
pub async fn list<T: Stored>(store: &dyn Store, prefix: &str) -> Result<Vec<Record<T>>, ApiError> {
    let page = store.page(prefix, None, 0).await.map_err(store_error)?;
    page.kvs.into_iter().map(decode).collect()
}

/// A put of a record.
pub fn put<T: Stored>(key: impl Into<String>, value: &T) -> Op {
    Op::put(key, value.encode())
}

/// Commits a transaction, mapping store failures to API errors.
pub async fn commit(store: &dyn Store, txn: Txn) -> Result<TxnOutcome, ApiError> {
    store.txn(txn).await.map_err(store_error)
}

/// How many times an optimistic read-decide-commit loop tries before giving up.
pub const MAX_ATTEMPTS: usize = 64;

/// The error when a record kept changing under an optimistic loop.
pub fn too_much_contention(what: &str) -> ApiError {
    ApiError::Server(format!(
        "{what} was changed concurrently too many times; retry the request."
    ))
}

/// Decoded records kept by key and revision, so hot paths that read many records (every
/// RunTask reads all of its cluster's instances) decode each version of a record once.
/// Always correct: the store is still read on every call, and a record whose revision
/// differs from the cached one is decoded afresh.
pub struct DecodedCache<T> {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Revision, std::sync::Arc<T>)>>,
}

/// Past this many entries the cache starts over (records that were deleted leave
/// entries behind; this bounds them).
const DECODED_CACHE_LIMIT: usize = 50_000;

impl<T: Stored> Default for DecodedCache<T> {
    fn default() -> Self {
        DecodedCache {
            entries: Default::default(),
        }
    }
}

impl<T: Stored> DecodedCache<T> {
    /// Every record under `prefix`, in key order, decoded at most once per revision.
    pub async fn list(
        &self,
        store: &dyn Store,
        prefix: &str,
    ) -> Result<Vec<Record<std::sync::Arc<T>>>, ApiError> {
        let page = store.page(prefix, None, 0).await.map_err(store_error)?;
        let mut entries = self.entries.lock().expect("decoded cache lock");
        if entries.len() > DECODED_CACHE_LIMIT {
            entries.clear();
        }
        page.kvs
            .into_iter()
            .map(|kv| {
                let value = match entries.get(&kv.key) {
                    Some((revision, value)) if *revision == kv.mod_revision => value.clone(),
                    _ => {
                        let value = std::sync::Arc::new(T::decode(&kv.value).map_err(|e| {
                            ApiError::Server(format!(
                                "stored record {} cannot be read: {e}",
                                kv.key
                            ))
                        })?);
                        entries.insert(kv.key.clone(), (kv.mod_revision, value.clone()));
                        value
                    }
                };
                Ok(Record {
                    key: kv.key,
                    value,
                    revision: kv.mod_revision,
                })
            })
            .collect()
    }
}

/// Every account and region's prefix of one kind of ECS record that holds any
/// (`/ecs/ACCOUNT/REGION/KIND/`), for loops that visit every scope.
pub async fn scope_prefixes(store: &dyn Store, kind: &str) -> Result<Vec<String>, ApiError> {
    let page = store.page("/ecs/", None, 0).await.map_err(store_error)?;
    let mut prefixes: Vec<String> = page
        .kvs
        .iter()
        .filter_map(|kv| {
            let parts: Vec<&str> = kv.key.splitn(6, '/').collect();
            (parts.len() >= 5 && parts[4] == kind)
                .then(|| format!("/ecs/{}/{}/{kind}/", parts[2], parts[3]))
        })
        .collect();
    prefixes.dedup();
    Ok(prefixes)
}
