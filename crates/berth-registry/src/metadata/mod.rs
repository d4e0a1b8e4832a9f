//! What each repository holds — the repository itself, its blob links, manifests, tags
//! and referrers — recorded in the [`berth_store::Store`], so it is durable, shared by
//! every server replica and consistent under concurrent pushes. Key layout:
//! [`keys`]; record shapes: [`records`].
//!
//! Records are laid out as JSON ([`berth_store::records::Stored`]), and every write is
//! an optimistic compare-and-swap transaction made through the records layer's one loop
//! ([`berth_store::records::update`]): read, decide, commit only if what was read is
//! unchanged, else back off and read again. The invariants this keeps:
//!
//! - Nothing is written to a repository that does not exist: each write compares the
//!   repository record it read. Deleting a repository first marks its record
//!   `deleting` (which fails every write still in flight, and makes later ones see
//!   no repository), then removes its content in batches, then the record.
//! - A manifest is recorded only while every blob and child manifest it names is in the
//!   repository (their keys are compared in the same transaction).
//! - A tag points at a recorded manifest: tagging rewrites the manifest record in the
//!   same transaction, so a concurrent delete of that manifest (which compares the
//!   record) either sees the new tag and removes it too, or fails and retries.
//! - Two pushes of one tag both commit, one after the other; the tag ends at one of
//!   them, never at a mix.

mod content;
pub mod keys;
pub mod records;
mod repos;
mod scan;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use berth_store::records::{self as stored, Record, RecordError, Step};
use berth_store::{Revision, Store, StoreError, Txn, TxnOutcome};

use crate::digest::Digest;
use crate::names::RepoName;
use crate::Scope;
pub use content::{Image, TagPage};
pub use records::{
    BlobLink, LifecyclePolicyRecord, ManifestRecord, Referrer, RepositoryRecord,
    RepositorySettings, TagMutability, TagRecord,
};
pub use repos::RepositoryPage;

/// Why a metadata call failed. Repository messages are ECR's, word for word.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(
        "The repository with name '{name}' does not exist in the registry with id \
         '{registry_id}'"
    )]
    RepositoryNotFound {
        name: String,
        registry_id: String,
        /// The region looked in: ECR's message does not say it, the registry's does.
        region: String,
    },
    #[error(
        "The repository with name '{name}' already exists in the registry with id \
         '{registry_id}'"
    )]
    RepositoryAlreadyExists { name: String, registry_id: String },
    #[error(
        "The repository with name '{name}' in registry with id '{registry_id}' cannot be \
         deleted because it still contains images"
    )]
    RepositoryNotEmpty { name: String, registry_id: String },
    /// A manifest names blobs or manifests the repository does not hold.
    #[error("the manifest references content unknown to repository '{name}': {}", list(.missing))]
    ReferencesUnknown { name: String, missing: Vec<Digest> },
    #[error(
        "The image tag '{tag}' already exists in the '{name}' repository and cannot be \
         overwritten because the repository is immutable."
    )]
    TagImmutable { tag: String, name: String },
    #[error("{0} was changed concurrently too many times; retry the request")]
    Contention(String),
    #[error("the store failed: {0}; the request may be retried")]
    Store(#[from] StoreError),
    #[error("stored record {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
}

impl From<RecordError> for MetadataError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(e) => MetadataError::Store(e),
            RecordError::Corrupt { key, reason } => MetadataError::Corrupt { key, reason },
            RecordError::Contention { what } => MetadataError::Contention(what),
        }
    }
}

fn list(digests: &[Digest]) -> String {
    let names: Vec<String> = digests.iter().map(Digest::to_string).collect();
    names.join(", ")
}

/// The registry's records in a [`Store`].
#[derive(Clone)]
pub struct Metadata {
    store: Arc<dyn Store>,
}

impl Metadata {
    /// Keeps the registry's records in `store`.
    pub fn new(store: Arc<dyn Store>) -> Metadata {
        Metadata { store }
    }

    /// [`berth_store::records::update`] over the registry's store, answering with its
    /// errors; `what` names the contended thing.
    async fn update<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, MetadataError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, MetadataError>>,
    {
        stored::update(&*self.store, what, attempt).await
    }

    /// [`berth_store::records::update_at`] over the registry's store, answering with
    /// its errors.
    async fn update_at<T, F, Fut>(
        &self,
        what: &str,
        attempt: F,
    ) -> Result<(T, Option<Revision>), MetadataError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, MetadataError>>,
    {
        stored::update_at(&*self.store, what, attempt).await
    }

    /// Commits `txn` once, outside an update loop: the revision its writes got, or `None`
    /// when a compare failed.
    async fn commit(&self, txn: Txn) -> Result<Option<Revision>, MetadataError> {
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { revision } => Ok(Some(revision)),
            TxnOutcome::Conflict { .. } => Ok(None),
        }
    }

    /// The repository's record when it exists and is not being deleted.
    async fn live_repo(
        &self,
        scope: &Scope,
        name: &RepoName,
    ) -> Result<Record<RepositoryRecord>, MetadataError> {
        match stored::get::<RepositoryRecord>(&*self.store, &keys::repo(scope, name)).await? {
            Some(repo) if !repo.value.deleting => Ok(repo),
            _ => Err(not_found(scope, name)),
        }
    }
}

fn not_found(scope: &Scope, name: &RepoName) -> MetadataError {
    MetadataError::repository_not_found(scope, name)
}

impl MetadataError {
    /// No repository `name` in `scope`.
    pub fn repository_not_found(scope: &Scope, name: &RepoName) -> MetadataError {
        MetadataError::RepositoryNotFound {
            name: name.to_string(),
            registry_id: scope.account.clone(),
            region: scope.region.clone(),
        }
    }
}
