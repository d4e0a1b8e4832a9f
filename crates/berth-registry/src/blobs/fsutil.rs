//! Small file system steps the blob store needs to be crash-safe: fsync a directory (so
//! a rename or unlink in it survives a crash) and replace a small file atomically.

use std::path::{Path, PathBuf};

use super::{io_error, BlobError};

/// Fsyncs a directory, making the entries created, renamed or removed in it durable.
pub async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    let dir: PathBuf = dir.to_owned();
    let context = format!("syncing directory {}", dir.display());
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| BlobError::Io {
            context: context.clone(),
            source: std::io::Error::other(e),
        })?
        .map_err(io_error(context))
}

/// Replaces `path` with `contents` in one step: a reader sees the old or the new file,
/// never a torn one. Not fsynced: callers use it for state that may be lost in a crash
/// as long as it is never wrong.
pub async fn replace_file(path: &Path, contents: Vec<u8>) -> Result<(), BlobError> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, contents)
        .await
        .map_err(io_error(format!("writing {}", tmp.display())))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(io_error(format!("renaming {}", tmp.display())))
}
