//! The server's use of the records layer ([`berth_store::records`], re-exported here):
//! records live under the keys of [`crate::keys`], laid out as their
//! [`Stored`](berth_store::records::Stored) implementation in `berth-model` says. Also a
//! cache that decodes each version of a hot record once, and the scopes that hold
//! records of a kind.

use berth_api::error::ApiError;
use berth_store::{Revision, Store};

pub use berth_store::records::{decode, get, get_many, list, modify, put, Record, Step, Stored};

/// [`berth_store::records::update`], answering with the API's errors.
pub async fn update<T, F, Fut>(store: &dyn Store, what: &str, attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Step<T>, ApiError>>,
{
    berth_store::records::update(store, what, attempt).await
}

/// [`berth_store::records::update_at`], answering with the API's errors.
pub async fn update_at<T, F, Fut>(
    store: &dyn Store,
    what: &str,
    attempt: F,
) -> Result<(T, Option<Revision>), ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Step<T>, ApiError>>,
{
    berth_store::records::update_at(store, what, attempt).await
}

/// Commits one transaction outside an [`update`] loop (an undo, a one-shot write).
pub async fn commit(
    store: &dyn Store,
    txn: berth_store::Txn,
) -> Result<berth_store::TxnOutcome, ApiError> {
    store.txn(txn).await.map_err(store_error)
}

/// The error for a store failure met outside the records layer.
pub fn store_error(e: berth_store::StoreError) -> ApiError {
    berth_store::records::RecordError::from(e).into()
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
    /// `kvs` decoded, each version of a record at most once.
    pub fn decode_all(
        &self,
        kvs: Vec<berth_store::KeyValue>,
    ) -> Result<Vec<Record<std::sync::Arc<T>>>, ApiError> {
        let mut entries = self.entries.lock().expect("decoded cache lock");
        if entries.len() > DECODED_CACHE_LIMIT {
            entries.clear();
        }
        kvs.into_iter()
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
/// (`/ecs/ACCOUNT/REGION/KIND/`), for loops that visit every scope. Skips from scope to
/// scope (two small reads each), however many records each holds.
pub async fn scope_prefixes(store: &dyn Store, kind: &str) -> Result<Vec<String>, ApiError> {
    let mut prefixes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .page("/ecs/", after.as_deref(), 1)
            .await
            .map_err(store_error)?;
        let Some(kv) = page.kvs.first() else { break };
        let parts: Vec<&str> = kv.key.splitn(5, '/').collect();
        let [_, _, account, region, ..] = parts[..] else {
            break;
        };
        let scope = format!("/ecs/{account}/{region}/");
        let of_kind = format!("{scope}{kind}/");
        if !store
            .page(&of_kind, None, 1)
            .await
            .map_err(store_error)?
            .kvs
            .is_empty()
        {
            prefixes.push(of_kind);
        }
        // Past every key of this scope: names and ids in keys are ASCII below 0x7f.
        after = Some(format!("{scope}\u{7f}"));
    }
    Ok(prefixes)
}
