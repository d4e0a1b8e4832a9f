//! The content-addressed blob store: every blob (layers, configs and manifests alike) is
//! one file named by its digest, shared by every repository that links it.
//!
//! ```text
//! ROOT/blobs/sha256/ab/abcdef…     a complete, verified blob (one copy per digest)
//! ROOT/uploads/UUID/data           the bytes of an upload in progress
//! ROOT/uploads/UUID/state          JSON: who owns the upload, how many bytes are in
//! ```
//!
//! Paths are built from a parsed [`Digest`] (64 hex digits) or an [`UploadId`] (a UUID)
//! only, never from a repository name, so nothing a client sends can point outside
//! `ROOT`.
//!
//! A blob becomes visible in one step: the finished upload's data file is fsynced and
//! renamed into place, and the directory fsynced, so a reader sees either nothing or the
//! whole verified blob, even across a crash. Two uploads of the same content both
//! succeed: the rename is atomic and the bytes are identical. Which repositories may see
//! a blob is not decided here but by [`crate::metadata`]'s links.
//!
//! How uploads are hashed across requests: see the `upload` module.

mod collect;
mod fsutil;
mod read;
#[cfg(test)]
mod tests;
mod upload;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;

use crate::digest::Digest;
pub use collect::Swept;
pub use read::BlobFile;
pub use upload::{ChunkRange, UploadId, UploadStatus};

/// Why a blob store call failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob with this digest is stored.
    #[error("blob {0} is unknown to the registry")]
    BlobUnknown(Digest),
    /// No upload with this id exists (finished, cancelled, expired or never started), or
    /// it belongs to another repository.
    #[error("blob upload {0} is unknown; start a new upload")]
    UploadUnknown(String),
    /// A chunk did not start where the upload ends.
    #[error(
        "chunk starts at byte {start} but the upload has {offset} bytes; send the chunk \
         that starts at {offset}"
    )]
    OutOfOrder { offset: u64, start: u64 },
    /// A chunk's length differs from the length its range announced.
    #[error("the chunk announced {expected} bytes but carried {received}")]
    SizeMismatch { expected: u64, received: u64 },
    /// The uploaded bytes do not hash to the digest the client named.
    #[error("the uploaded content has digest {actual}, not {expected}; the upload is discarded")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// The upload's data on disk is shorter than its recorded length.
    #[error("blob upload {0} is damaged on disk; start a new upload")]
    UploadDamaged(String),
    /// The request body failed before it ended.
    #[error("the upload body failed: {0}")]
    Body(String),
    /// A file system call failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

/// The blob store rooted at one directory.
pub struct BlobStore {
    root: PathBuf,
    /// Hashers of uploads in progress, keyed by upload id; see [`upload`].
    sessions: Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<upload::Session>>>>,
}

impl BlobStore {
    /// Opens (creating its directories if needed) the store under `root`. Blocking:
    /// call at startup.
    pub fn open(root: &Path) -> Result<BlobStore, BlobError> {
        for dir in [root.join("blobs").join("sha256"), root.join("uploads")] {
            std::fs::create_dir_all(&dir)
                .map_err(io_error(format!("creating {}", dir.display())))?;
        }
        Ok(BlobStore {
            root: root.to_owned(),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives: `ROOT/blobs/sha256/ab/abcdef…`.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join("sha256")
            .join(&hex[..2])
            .join(hex)
    }

    /// The size of a stored blob, or `None` when it is not stored.
    ///
    /// One `stat` of a file under the local data directory, whose directory entries the
    /// kernel caches: made in place rather than through the blocking pool, whose
    /// hand-offs cost more than the call (it is on the path of every blob HEAD).
    pub async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        match std::fs::metadata(self.blob_path(digest)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(format!("reading blob {digest}"))(e)),
        }
    }

    /// Opens a stored blob for reading.
    pub async fn open_blob(&self, digest: &Digest) -> Result<BlobFile, BlobError> {
        BlobFile::open(&self.blob_path(digest), digest).await
    }

    /// A whole stored blob in memory; for small blobs (manifests) only.
    pub async fn read_small(&self, digest: &Digest) -> Result<Bytes, BlobError> {
        match tokio::fs::read(self.blob_path(digest)).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(BlobError::BlobUnknown(digest.clone()))
            }
            Err(e) => Err(io_error(format!("reading blob {digest}"))(e)),
        }
    }

    /// Removes a stored blob; `false` when it was not stored. Repositories that still
    /// link it will then answer 404 for it, so callers (garbage collection) delete only
    /// blobs nothing links.
    pub async fn delete(&self, digest: &Digest) -> Result<bool, BlobError> {
        let path = self.blob_path(digest);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(format!("deleting blob {digest}"))(e)),
        }
        if let Some(dir) = path.parent() {
            fsutil::sync_dir(dir).await?;
        }
        Ok(true)
    }

    /// Stores `body` as one blob in one call (a monolithic upload): it must hash to
    /// `expected`. Returns its size. Nothing is visible unless it verifies.
    pub async fn put<S, E>(&self, expected: &Digest, body: S) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let id = self.start_upload("").await?;
        let result = self
            .complete_upload(&id, "", expected, None, Some(body))
            .await;
        if result.is_err() {
            // The upload may survive a failed append; it has no other owner to clean it.
            let _ = self.cancel_upload(&id, "").await;
        }
        result
    }

    /// Stores a small in-memory blob (a manifest) and returns its digest. A copy already
    /// stored is kept (see [`BlobStore::keep`]) rather than written again.
    pub async fn put_bytes(&self, bytes: Bytes) -> Result<Digest, BlobError> {
        let digest = Digest::of(&bytes);
        if self.keep(&digest).await?.is_none() {
            let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
            self.put(&digest, body).await?;
        }
        Ok(digest)
    }
}
