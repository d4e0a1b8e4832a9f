//! Reading stored blobs as streams of bounded chunks, whole or as one byte range, so a
//! download's memory does not depend on the blob's size.
//!
//! One blocking thread per download reads ahead of the network: it reads each chunk
//! with one `read` straight into the buffer that is sent (no intermediate copy) and
//! hands it over a channel of [`READ_AHEAD`] chunks, so the disk (or page cache) and
//! the socket work at the same time, and a slow client holds at most that many chunks.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;

use super::{io_error, BlobError};
use crate::digest::Digest;

/// The most bytes one chunk of a read stream carries.
const READ_CHUNK: usize = 1024 * 1024;
/// How many chunks the reader may be ahead of the client.
const READ_AHEAD: usize = 2;

/// An open stored blob.
pub struct BlobFile {
    file: std::fs::File,
    size: u64,
}

impl BlobFile {
    /// Opens the blob at `path`; a missing file is an unknown blob.
    pub(super) async fn open(path: &Path, digest: &Digest) -> Result<BlobFile, BlobError> {
        let context = format!("reading blob {digest}");
        let path = path.to_owned();
        let opened = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            let size = file.metadata()?.len();
            Ok::<_, std::io::Error>(BlobFile { file, size })
        })
        .await
        .map_err(|e| io_error(context.clone())(std::io::Error::other(e)))?;
        match opened {
            Ok(blob) => Ok(blob),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::BlobUnknown(digest.clone()))
            }
            Err(e) => Err(io_error(context)(e)),
        }
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes `start..start + len` (clamped to the blob) as a stream of chunks.
    pub async fn stream(
        self,
        start: u64,
        len: u64,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, BlobError> {
        let start = start.min(self.size);
        let len = len.min(self.size - start);
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let mut file = self.file;
        tokio::task::spawn_blocking(move || {
            let mut remaining = len;
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            while remaining > 0 {
                let want = remaining.min(READ_CHUNK as u64);
                let mut chunk = Vec::with_capacity(want as usize);
                let read = (&mut file).take(want).read_to_end(&mut chunk);
                let item = match read {
                    Ok(0) => Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the blob ended before its recorded size",
                    )),
                    Ok(n) => {
                        remaining -= n as u64;
                        Ok(Bytes::from(chunk))
                    }
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                // A closed channel means the client went away: stop reading.
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    async fn collect(file: BlobFile, start: u64, len: u64) -> Vec<u8> {
        let chunks: Vec<Bytes> = file
            .stream(start, len)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.iter().all(|c| c.len() <= READ_CHUNK));
        chunks.concat()
    }

    #[tokio::test]
    async fn streams_whole_blobs_and_ranges_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let digest = Digest::of(&content);
        let open = || BlobFile::open(&path, &digest);
        assert_eq!(open().await.unwrap().size(), 200_000);
        assert_eq!(collect(open().await.unwrap(), 0, u64::MAX).await, content);
        assert_eq!(
            collect(open().await.unwrap(), 70_000, 10).await,
            &content[70_000..70_010]
        );
        assert_eq!(
            collect(open().await.unwrap(), 199_990, 100).await,
            &content[199_990..]
        );
        assert!(collect(open().await.unwrap(), 300_000, 5).await.is_empty());
        let missing = BlobFile::open(&dir.path().join("nope"), &digest).await;
        assert!(matches!(missing, Err(BlobError::BlobUnknown(_))));
    }
}
