//! What garbage collection needs from the blob store: protecting a blob that is about to
//! be linked, and deleting the blobs nothing links.
//!
//! The store knows nothing of links, so collection works by time: a blob is deleted only
//! when the caller's set of referenced digests (read from the records *after* `cutoff`)
//! lacks it and its file was last modified before `cutoff`. Every path that makes a blob
//! referenced first gives it a fresh modification time — a finished upload renames a
//! just-written file into place, and a mount or a manifest re-push calls
//! [`BlobStore::keep`] — and only then records the link, so a blob that gets linked while
//! a collection runs is always too new for it.

use std::collections::HashSet;
use std::io;
use std::time::SystemTime;

use super::{io_error, BlobError, BlobStore};
use crate::digest::Digest;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub blobs: usize,
    pub bytes: u64,
}

impl BlobStore {
    /// The size of a stored blob, after marking it as just used so that a collection
    /// running now leaves it alone; `None` when it is not stored.
    pub async fn keep(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        let path = self.blob_path(digest);
        let context = format!("refreshing blob {digest}");
        let touched = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            file.set_modified(SystemTime::now())?;
            file.metadata().map(|m| m.len())
        })
        .await
        .map_err(|e| io_error(context.clone())(io::Error::other(e)))?;
        match touched {
            Ok(size) => Ok(Some(size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(context)(e)),
        }
    }

    /// Deletes every stored blob that `referenced` lacks and that was last modified
    /// before `cutoff`. `referenced` must have been read after `cutoff`.
    pub async fn sweep(
        &self,
        referenced: HashSet<Digest>,
        cutoff: SystemTime,
    ) -> Result<Swept, BlobError> {
        let root = self.root.join("blobs").join("sha256");
        let context = format!("collecting garbage in {}", root.display());
        tokio::task::spawn_blocking(move || sweep_dir(&root, &referenced, cutoff))
            .await
            .map_err(|e| io_error(context.clone())(io::Error::other(e)))?
            .map_err(io_error(context))
    }
}

fn sweep_dir(
    root: &std::path::Path,
    referenced: &HashSet<Digest>,
    cutoff: SystemTime,
) -> io::Result<Swept> {
    let mut swept = Swept::default();
    for shard in std::fs::read_dir(root)? {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        let mut removed_here = false;
        for entry in std::fs::read_dir(shard.path())? {
            let entry = entry?;
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok())
            else {
                continue;
            };
            if referenced.contains(&digest) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.modified()? >= cutoff {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    swept.blobs += 1;
                    swept.bytes += meta.len();
                    removed_here = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if removed_here {
            std::fs::File::open(shard.path())?.sync_all()?;
        }
    }
    Ok(swept)
}
