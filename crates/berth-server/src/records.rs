//! Typed access to the store: records are JSON values under the keys of [`crate::keys`],
//! read with the revision they were read at so writes can compare-and-swap on it.

use berth_api::error::ApiError;
use berth_store::{KeyValue, Op, Revision, Store, StoreError, Txn, TxnOutcome};
use serde::de::DeserializeOwned;
use serde::Serialize;

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
pub fn decode<T: DeserializeOwned>(kv: KeyValue) -> Result<Record<T>, ApiError> {
    let value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Server(format!("stored record {} cannot be read: {e}", kv.key)))?;
    Ok(Record {
        key: kv.key,
        value,
        revision: kv.mod_revision,
    })
}

/// Reads and decodes one record.
pub async fn get<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<Record<T>>, ApiError> {
    store
        .get(key)
        .await
        .map_err(store_error)?
        .map(decode)
        .transpose()
}

/// Reads and decodes every record under a prefix, in key order.
pub async fn list<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
) -> Result<Vec<Record<T>>, ApiError> {
    let page = store.page(prefix, None, 0).await.map_err(store_error)?;
    page.kvs.into_iter().map(decode).collect()
}

/// A put of a record's JSON.
pub fn put<T: Serialize>(key: impl Into<String>, value: &T) -> Op {
    Op::put(key, serde_json::to_vec(value).expect("records serialize"))
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
