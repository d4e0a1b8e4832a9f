//! Reading stored blobs as streams of bounded chunks, whole or as one byte range, so a
//! download's memory does not depend on the blob's size.

use std::io::SeekFrom;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{io_error, BlobError};
use crate::digest::Digest;

/// The most bytes one chunk of a read stream carries.
const READ_CHUNK: usize = 512 * 1024;

/// An open stored blob.
pub struct BlobFile {
    file: File,
    size: u64,
}

impl BlobFile {
    /// Opens the blob at `path`; a missing file is an unknown blob.
    pub(super) async fn open(path: &Path, digest: &Digest) -> Result<BlobFile, BlobError> {
        let context = format!("reading blob {digest}");
        let file = match File::open(path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::BlobUnknown(digest.clone()))
            }
            Err(e) => return Err(io_error(context)(e)),
        };
        let size = file.metadata().await.map_err(io_error(context))?.len();
        Ok(BlobFile { file, size })
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes `start..start + len` (clamped to the blob) as a stream of chunks.
    pub async fn stream(
        mut self,
        start: u64,
        len: u64,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, BlobError> {
        let start = start.min(self.size);
        let len = len.min(self.size - start);
        self.file
            .seek(SeekFrom::Start(start))
            .await
            .map_err(io_error("seeking in a blob"))?;
        let reader = self.file.take(len);
        Ok(futures::stream::try_unfold(
            reader,
            |mut reader| async move {
                let mut chunk = BytesMut::with_capacity(READ_CHUNK);
                let n = reader.read_buf(&mut chunk).await?;
                Ok::<_, std::io::Error>((n > 0).then(|| (chunk.freeze(), reader)))
            },
        ))
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
