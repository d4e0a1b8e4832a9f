//! Berth's container registry: the OCI Distribution Spec v1.1 API (what `docker push`,
//! `docker pull` and skopeo speak) over a content-addressed blob store, with its
//! repositories, tags and manifests recorded in the shared [`berth_store::Store`].
//!
//! ```text
//!  client ──► http (router, auth, errors) ──► blobs     files under ROOT, by digest
//!                                        └──► metadata  repos, links, manifests, tags,
//!                                                       referrers in the Store (CAS)
//! ```
//!
//! - [`names`], [`digest`]: what names, tags and digests may be.
//! - [`blobs`]: the blob store and uploads (streamed, hashed as they arrive, published
//!   atomically).
//! - [`manifests`]: parsing and validating the four manifest media types.
//! - [`metadata`]: repositories and their content in the store.
//! - [`push`]: storing a pushed manifest (the distribution API's and ECR's PutImage).
//! - [`gc`]: deleting images and reclaiming the blobs nothing uses any more.
//! - [`auth`]: the [`auth::Authorizer`] the server plugs in.
//! - [`http`]: the axum router.
//!
//! The server builds one [`Registry`] and mounts [`Registry::router`]; the ECR API
//! creates, lists and deletes repositories through [`Registry::metadata`].

pub mod auth;
pub mod blobs;
pub mod digest;
pub mod gc;
pub mod http;
pub mod manifests;
pub mod metadata;
pub mod names;
pub mod push;

use std::path::Path;
use std::sync::Arc;

use berth_store::Store;

pub use auth::{Action, AuthError, Authorizer, BasicAuthorizer, RequestHead};
pub use blobs::{BlobError, BlobStore};
pub use digest::Digest;
pub use metadata::{Metadata, MetadataError};
pub use names::{Reference, RepoName, Tag};

/// The account and region a request acts in (a registry per account and region, as in
/// ECR).
pub use berth_api::Scope;

/// A registry: its blob store, its records and who may use it.
pub struct Registry {
    pub blobs: BlobStore,
    pub metadata: Metadata,
    pub authorizer: Arc<dyn Authorizer>,
}

impl Registry {
    /// A registry keeping blobs under `root` and records in `store`. Blocking (creates
    /// directories): call at startup.
    pub fn open(
        root: &Path,
        store: Arc<dyn Store>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Registry, BlobError> {
        Ok(Registry {
            blobs: BlobStore::open(root)?,
            metadata: Metadata::new(store),
            authorizer,
        })
    }

    /// The repositories, manifests and tags (for the ECR API).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The distribution API under `/v2/`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        http::router(self.clone())
    }
}
