//! Uploads in progress: start, append chunks in order, report status, cancel, complete.
//!
//! Bytes stream straight from the request body to `ROOT/uploads/UUID/data` and through
//! an incremental SHA-256, one body frame at a time, so memory does not depend on the
//! blob's size. `ROOT/uploads/UUID/state` records the upload's owner (the repository it
//! was started for; another repository cannot touch it) and how many bytes it holds.
//!
//! A chunk is all or nothing: the data file is fsynced before the state records the new
//! length, and a chunk that fails midway (body error, wrong length) is cut off again.
//! After a crash the state may lag the data file; the next append truncates the data to
//! the recorded length first.
//!
//! SHA-256's running state cannot be saved to disk, so the hasher of each upload lives in
//! memory between requests, beside the length it has hashed. When it is missing (the
//! process restarted) or out of step, the data written so far is re-hashed from the file
//! before the upload goes on. Each upload has its own lock, so concurrent requests for
//! one upload take turns and uploads of different blobs never wait for each other.

use std::fmt;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use uuid::Uuid;

use super::{fsutil, io_error, BlobError, BlobStore};
use crate::digest::Digest;

/// How much of an upload's data is read at once when it is re-hashed.
const REHASH_BUFFER: usize = 256 * 1024;

/// The id of an upload: a random UUID, which is also its directory's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(Uuid);

impl UploadId {
    /// Parses an id from an upload URL; anything but a UUID is an unknown upload.
    pub fn parse(s: &str) -> Result<UploadId, BlobError> {
        Uuid::parse_str(s)
            .map(UploadId)
            .map_err(|_| BlobError::UploadUnknown(s.to_owned()))
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// Where a chunk belongs in the blob, from a `Content-Range: START-END` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

impl ChunkRange {
    /// The number of bytes the range covers.
    pub fn byte_count(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }
}

/// What an upload holds so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadStatus {
    /// The number of bytes received: the next chunk starts here.
    pub offset: u64,
}

/// `ROOT/uploads/UUID/state`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadState {
    owner: String,
    offset: u64,
    started_at_millis: u64,
}

/// The in-memory part of an upload: its hasher, when it has one.
#[derive(Default)]
pub(super) struct Session {
    hashing: Option<Hashing>,
}

/// A hasher that has seen exactly the first `offset` bytes of the upload.
struct Hashing {
    hasher: Sha256,
    offset: u64,
}

impl BlobStore {
    pub(super) fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.to_string())
    }

    /// The lock and hasher slot of an upload (created on first use).
    fn session(&self, id: &UploadId) -> Arc<tokio::sync::Mutex<Session>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.entry(*id).or_default().clone()
    }

    /// Drops an upload's session; only once its directory is gone for good.
    fn forget_session(&self, id: &UploadId) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(id);
    }

    /// Reads an upload's state, checking that `owner` started it.
    async fn read_state(&self, id: &UploadId, owner: &str) -> Result<UploadState, BlobError> {
        let path = self.upload_dir(id).join("state");
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.forget_session(id);
                return Err(BlobError::UploadUnknown(id.to_string()));
            }
            Err(e) => return Err(io_error(format!("reading {}", path.display()))(e)),
        };
        let state: UploadState =
            serde_json::from_slice(&bytes).map_err(|_| BlobError::UploadDamaged(id.to_string()))?;
        if state.owner != owner {
            return Err(BlobError::UploadUnknown(id.to_string()));
        }
        Ok(state)
    }

    async fn write_state(&self, id: &UploadId, state: &UploadState) -> Result<(), BlobError> {
        let bytes = serde_json::to_vec(state).map_err(|e| BlobError::Io {
            context: "encoding upload state".into(),
            source: e.into(),
        })?;
        fsutil::replace_file(&self.upload_dir(id).join("state"), bytes).await
    }

    /// Starts an upload for `owner` (an opaque string; the HTTP layer uses the
    /// repository) and returns its id.
    pub async fn start_upload(&self, owner: &str) -> Result<UploadId, BlobError> {
        let id = UploadId(Uuid::new_v4());
        let dir = self.upload_dir(&id);
        tokio::fs::create_dir(&dir)
            .await
            .map_err(io_error(format!("creating {}", dir.display())))?;
        File::create(dir.join("data"))
            .await
            .map_err(io_error(format!("creating {}", dir.display())))?;
        let started_at_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let state = UploadState {
            owner: owner.to_owned(),
            offset: 0,
            started_at_millis,
        };
        self.write_state(&id, &state).await?;
        Ok(id)
    }

    /// How many bytes an upload holds.
    pub async fn upload_status(
        &self,
        id: &UploadId,
        owner: &str,
    ) -> Result<UploadStatus, BlobError> {
        let state = self.read_state(id, owner).await?;
        Ok(UploadStatus {
            offset: state.offset,
        })
    }

    /// Appends one chunk; `range`, when given, must start where the upload ends and
    /// match the body's length. Returns the upload's new length.
    pub async fn append_upload<S, E>(
        &self,
        id: &UploadId,
        owner: &str,
        range: Option<ChunkRange>,
        body: S,
    ) -> Result<UploadStatus, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: fmt::Display,
    {
        let session = self.session(id);
        let mut session = session.lock().await;
        let mut state = self.read_state(id, owner).await?;
        self.append_locked(id, &mut state, &mut session, range, body)
            .await?;
        Ok(UploadStatus {
            offset: state.offset,
        })
    }

    /// Discards an upload.
    pub async fn cancel_upload(&self, id: &UploadId, owner: &str) -> Result<(), BlobError> {
        let session = self.session(id);
        let _session = session.lock().await;
        self.read_state(id, owner).await?;
        self.discard(id).await
    }

    /// Finishes an upload: appends the final chunk when there is one, checks that the
    /// whole upload hashes to `expected`, and moves it into place. Returns the blob's
    /// size. On a digest mismatch the upload is discarded and nothing becomes visible.
    pub async fn complete_upload<S, E>(
        &self,
        id: &UploadId,
        owner: &str,
        expected: &Digest,
        range: Option<ChunkRange>,
        body: Option<S>,
    ) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: fmt::Display,
    {
        let session = self.session(id);
        let mut session = session.lock().await;
        let mut state = self.read_state(id, owner).await?;
        if let Some(body) = body {
            self.append_locked(id, &mut state, &mut session, range, body)
                .await?;
        } else if let Some(range) = range {
            check_start(&state, range)?;
        }
        let hasher = self.hasher_at(id, &mut session, state.offset).await?;
        let actual = Digest::from_hasher(hasher);
        if actual != *expected {
            self.discard(id).await?;
            return Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        self.publish(id, expected, state.offset).await?;
        self.discard(id).await?;
        Ok(state.offset)
    }

    /// Removes uploads untouched for longer than `idle` (abandoned by their clients);
    /// returns how many. Uploads busy with a request are left alone.
    pub async fn purge_uploads(&self, idle: Duration) -> Result<usize, BlobError> {
        let uploads = self.root.join("uploads");
        let mut entries = tokio::fs::read_dir(&uploads)
            .await
            .map_err(io_error(format!("listing {}", uploads.display())))?;
        let mut purged = 0;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(io_error(format!("listing {}", uploads.display())))?
        {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| UploadId::parse(n).ok())
            else {
                continue;
            };
            let session = self.session(&id);
            let Ok(_busy) = session.try_lock() else {
                continue;
            };
            let touched = tokio::fs::metadata(entry.path().join("state"))
                .await
                .and_then(|m| m.modified())
                .ok();
            let age = touched.and_then(|t| SystemTime::now().duration_since(t).ok());
            if age.is_none_or(|age| age > idle) {
                self.discard(&id).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Streams `body` onto the end of the upload (see the module doc for the rules).
    async fn append_locked<S, E>(
        &self,
        id: &UploadId,
        state: &mut UploadState,
        session: &mut Session,
        range: Option<ChunkRange>,
        mut body: S,
    ) -> Result<(), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: fmt::Display,
    {
        if let Some(range) = range {
            check_start(state, range)?;
        }
        let before = self.hasher_at(id, session, state.offset).await?;
        let path = self.upload_dir(id).join("data");
        let context = format!("writing {}", path.display());
        let mut file = open_data(&path, id).await?;
        file.set_len(state.offset)
            .await
            .map_err(io_error(context.clone()))?;
        file.seek(SeekFrom::Start(state.offset))
            .await
            .map_err(io_error(context.clone()))?;
        let mut hasher = before.clone();
        let mut received = 0u64;
        let streamed = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
                file.write_all(&chunk)
                    .await
                    .map_err(io_error(context.clone()))?;
                hasher.update(&chunk);
                received += chunk.len() as u64;
            }
            match range {
                Some(range) if range.byte_count() != received => Err(BlobError::SizeMismatch {
                    expected: range.byte_count(),
                    received,
                }),
                _ => Ok(()),
            }
        }
        .await;
        let synced = match streamed {
            Ok(()) => sync_data(&mut file, &context).await,
            Err(e) => Err(e),
        };
        if let Err(e) = synced {
            // Cut the partial chunk off; if that fails too, the next append does it.
            let _ = file.set_len(state.offset).await;
            session.hashing = Some(Hashing {
                hasher: before,
                offset: state.offset,
            });
            return Err(e);
        }
        state.offset += received;
        self.write_state(id, state).await?;
        session.hashing = Some(Hashing {
            hasher,
            offset: state.offset,
        });
        Ok(())
    }

    /// A hasher that has seen the upload's first `offset` bytes: the session's when it is
    /// in step, else one re-computed from the data file.
    async fn hasher_at(
        &self,
        id: &UploadId,
        session: &mut Session,
        offset: u64,
    ) -> Result<Sha256, BlobError> {
        match session.hashing.take() {
            Some(h) if h.offset == offset => Ok(h.hasher),
            _ => self.rehash(id, offset).await,
        }
    }

    /// Hashes the first `offset` bytes of the upload's data file.
    async fn rehash(&self, id: &UploadId, offset: u64) -> Result<Sha256, BlobError> {
        let path = self.upload_dir(id).join("data");
        let context = format!("reading {}", path.display());
        let mut file = open_data(&path, id).await?.take(offset);
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; REHASH_BUFFER];
        let mut hashed = 0u64;
        loop {
            let n = file
                .read(&mut buffer)
                .await
                .map_err(io_error(context.clone()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            hashed += n as u64;
        }
        if hashed != offset {
            return Err(BlobError::UploadDamaged(id.to_string()));
        }
        tracing::debug!(upload = %id, bytes = offset, "re-hashed upload");
        Ok(hasher)
    }

    /// Moves a verified upload's data to its blob path, durably.
    async fn publish(&self, id: &UploadId, digest: &Digest, size: u64) -> Result<(), BlobError> {
        let data = self.upload_dir(id).join("data");
        let context = format!("finishing {}", data.display());
        let file = open_data(&data, id).await?;
        // A failed append may have left bytes past the recorded length.
        file.set_len(size)
            .await
            .map_err(io_error(context.clone()))?;
        file.sync_all().await.map_err(io_error(context.clone()))?;
        drop(file);
        let target = self.blob_path(digest);
        let Some(shard) = target.parent() else {
            return Err(BlobError::Io {
                context,
                source: std::io::Error::other("blob path has no parent"),
            });
        };
        match tokio::fs::create_dir(shard).await {
            Ok(()) => fsutil::sync_dir(&self.root.join("blobs").join("sha256")).await?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(context)(e)),
        }
        // An identical blob may already be there (or land concurrently): the rename
        // replaces it atomically with the same bytes.
        tokio::fs::rename(&data, &target)
            .await
            .map_err(io_error(context))?;
        fsutil::sync_dir(shard).await
    }

    /// Removes an upload's directory and session.
    async fn discard(&self, id: &UploadId) -> Result<(), BlobError> {
        let dir = self.upload_dir(id);
        let removed = tokio::fs::remove_dir_all(&dir).await;
        self.forget_session(id);
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(format!("removing {}", dir.display()))(e)),
        }
    }
}

/// A chunk must start exactly where the upload ends.
fn check_start(state: &UploadState, range: ChunkRange) -> Result<(), BlobError> {
    if range.start != state.offset || range.end < range.start {
        return Err(BlobError::OutOfOrder {
            offset: state.offset,
            start: range.start,
        });
    }
    Ok(())
}

async fn open_data(path: &std::path::Path, id: &UploadId) -> Result<File, BlobError> {
    match OpenOptions::new().read(true).write(true).open(path).await {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(BlobError::UploadUnknown(id.to_string()))
        }
        Err(e) => Err(io_error(format!("opening {}", path.display()))(e)),
    }
}

async fn sync_data(file: &mut File, context: &str) -> Result<(), BlobError> {
    file.flush().await.map_err(io_error(context))?;
    file.sync_data().await.map_err(io_error(context))
}
