//! The blob store against a real directory: uploads whole and in chunks, refusals that
//! leave nothing behind, restarts in the middle of an upload, and races.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{stream, Stream, TryStreamExt};

use super::*;

fn body(parts: &[&[u8]]) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + Unpin {
    let parts: Vec<Result<Bytes, Infallible>> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    stream::iter(parts)
}

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    (dir, store)
}

async fn read_all(store: &BlobStore, digest: &Digest) -> Vec<u8> {
    let file = store.open_blob(digest).await.unwrap();
    let size = file.size();
    let chunks: Vec<Bytes> = file
        .stream(0, size)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

/// Files under `uploads/` (none once every upload is finished or cancelled).
fn upload_files(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .count()
}

fn range(start: u64, end: u64) -> Option<ChunkRange> {
    Some(ChunkRange { start, end })
}

#[tokio::test]
async fn monolithic_puts_land_at_their_digest_path() {
    let (dir, store) = store();
    let digest = Digest::of(b"hello");
    assert_eq!(store.put(&digest, body(&[b"hel", b"lo"])).await.unwrap(), 5);
    let hex = digest.hex();
    let path = dir.path().join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    assert_eq!(std::fs::read(path).unwrap(), b"hello");
    assert_eq!(store.stat(&digest).await.unwrap(), Some(5));
    assert_eq!(read_all(&store, &digest).await, b"hello");
    assert_eq!(upload_files(&dir), 0);
    assert_eq!(
        store.put_bytes(Bytes::from_static(b"hello")).await.unwrap(),
        digest
    );
}

#[tokio::test]
async fn chunked_uploads_accept_chunks_in_order_only() {
    let (dir, store) = store();
    let id = store.start_upload("repo").await.unwrap();
    let s = store
        .append_upload(&id, "repo", range(0, 2), body(&[b"abc"]))
        .await
        .unwrap();
    assert_eq!(s.offset, 3);
    // A chunk that skips ahead or repeats is refused, and changes nothing.
    for r in [range(5, 6), range(0, 1), range(2, 3)] {
        let e = store
            .append_upload(&id, "repo", r, body(&[b"xy"]))
            .await
            .unwrap_err();
        assert!(matches!(e, BlobError::OutOfOrder { offset: 3, .. }), "{e}");
    }
    // A chunk shorter than its range is cut off again.
    let e = store
        .append_upload(&id, "repo", range(3, 9), body(&[b"def"]))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        BlobError::SizeMismatch {
            expected: 7,
            received: 3
        }
    ));
    assert_eq!(store.upload_status(&id, "repo").await.unwrap().offset, 3);
    // Chunks without a range go on the end.
    store
        .append_upload(&id, "repo", None, body(&[b"de"]))
        .await
        .unwrap();
    let digest = Digest::of(b"abcdefg");
    let size = store
        .complete_upload(&id, "repo", &digest, range(5, 6), Some(body(&[b"fg"])))
        .await
        .unwrap();
    assert_eq!(size, 7);
    assert_eq!(read_all(&store, &digest).await, b"abcdefg");
    assert_eq!(upload_files(&dir), 0);
    let gone = store.upload_status(&id, "repo").await.unwrap_err();
    assert!(matches!(gone, BlobError::UploadUnknown(_)));
}

#[tokio::test]
async fn a_wrong_digest_discards_the_upload_and_publishes_nothing() {
    let (dir, store) = store();
    let id = store.start_upload("repo").await.unwrap();
    store
        .append_upload(&id, "repo", None, body(&[b"data"]))
        .await
        .unwrap();
    let claimed = Digest::of(b"other");
    let e = store
        .complete_upload(
            &id,
            "repo",
            &claimed,
            None,
            None::<stream::Empty<Result<Bytes, Infallible>>>,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::DigestMismatch { .. }), "{e}");
    assert_eq!(store.stat(&claimed).await.unwrap(), None);
    assert_eq!(store.stat(&Digest::of(b"data")).await.unwrap(), None);
    assert_eq!(upload_files(&dir), 0);
    let e = store.put(&claimed, body(&[b"data"])).await.unwrap_err();
    assert!(matches!(e, BlobError::DigestMismatch { .. }));
    assert_eq!(upload_files(&dir), 0);
}

#[tokio::test]
async fn a_failing_body_leaves_the_upload_as_it_was() {
    let (_dir, store) = store();
    let id = store.start_upload("repo").await.unwrap();
    store
        .append_upload(&id, "repo", None, body(&[b"ok"]))
        .await
        .unwrap();
    let failing = stream::iter([Ok(Bytes::from_static(b"partial")), Err("connection reset")]);
    let e = store
        .append_upload(&id, "repo", None, failing)
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Body(_)), "{e}");
    assert_eq!(store.upload_status(&id, "repo").await.unwrap().offset, 2);
    store
        .append_upload(&id, "repo", range(2, 3), body(&[b"!!"]))
        .await
        .unwrap();
    let digest = Digest::of(b"ok!!");
    store
        .complete_upload(&id, "repo", &digest, None, Some(body(&[])))
        .await
        .unwrap();
    assert_eq!(read_all(&store, &digest).await, b"ok!!");
}

#[tokio::test]
async fn uploads_survive_a_restart_by_rehashing() {
    let dir = tempfile::tempdir().unwrap();
    let first = BlobStore::open(dir.path()).unwrap();
    let id = first.start_upload("repo").await.unwrap();
    first
        .append_upload(&id, "repo", None, body(&[b"before "]))
        .await
        .unwrap();
    // Garbage past the recorded length, as a crash in mid-chunk leaves it.
    let data = dir.path().join("uploads").join(id.to_string()).join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes.extend_from_slice(b"torn chunk");
    std::fs::write(&data, bytes).unwrap();
    drop(first);

    let second = BlobStore::open(dir.path()).unwrap();
    assert_eq!(second.upload_status(&id, "repo").await.unwrap().offset, 7);
    second
        .append_upload(&id, "repo", range(7, 11), body(&[b"after"]))
        .await
        .unwrap();
    let digest = Digest::of(b"before after");
    second
        .complete_upload(&id, "repo", &digest, None, Some(body(&[])))
        .await
        .unwrap();
    assert_eq!(read_all(&second, &digest).await, b"before after");
}

#[tokio::test]
async fn uploads_belong_to_their_owner() {
    let (_dir, store) = store();
    let id = store.start_upload("team/a").await.unwrap();
    let e = store
        .append_upload(&id, "team/b", None, body(&[b"x"]))
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::UploadUnknown(_)));
    assert!(store.cancel_upload(&id, "team/b").await.is_err());
    store.cancel_upload(&id, "team/a").await.unwrap();
    assert!(store.upload_status(&id, "team/a").await.is_err());
    assert!(matches!(
        UploadId::parse("../../etc"),
        Err(BlobError::UploadUnknown(_))
    ));
}

#[tokio::test]
async fn concurrent_uploads_of_one_blob_both_succeed() {
    let (dir, store) = store();
    let store = Arc::new(store);
    let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let digest = Digest::of(&content);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (store, content, digest) = (store.clone(), content.clone(), digest.clone());
            tokio::spawn(async move {
                let id = store.start_upload("repo").await.unwrap();
                for chunk in content.chunks(100_000) {
                    store
                        .append_upload(&id, "repo", None, body(&[chunk]))
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
                store
                    .complete_upload(&id, "repo", &digest, None, Some(body(&[])))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 1_000_000);
    }
    assert_eq!(read_all(&store, &digest).await, content);
    assert_eq!(upload_files(&dir), 0);
}

#[tokio::test]
async fn concurrent_chunks_to_one_upload_take_turns() {
    let (_dir, store) = store();
    let store = Arc::new(store);
    let id = store.start_upload("repo").await.unwrap();
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let chunk = vec![i; 10_000];
                store
                    .append_upload(&id, "repo", None, body(&[&chunk]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let status = store.upload_status(&id, "repo").await.unwrap();
    assert_eq!(status.offset, 80_000);
    // Whatever the order, the hash matches the bytes on disk.
    let data = std::fs::read(store.upload_dir(&id).join("data")).unwrap();
    let digest = Digest::of(&data);
    store
        .complete_upload(&id, "repo", &digest, None, Some(body(&[])))
        .await
        .unwrap();
}

#[tokio::test]
async fn idle_uploads_are_purged_and_blobs_deleted() {
    let (dir, store) = store();
    let id = store.start_upload("repo").await.unwrap();
    assert_eq!(
        store
            .purge_uploads(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store.purge_uploads(Duration::from_millis(1)).await.unwrap(),
        1
    );
    assert!(store.upload_status(&id, "repo").await.is_err());
    assert_eq!(upload_files(&dir), 0);

    let digest = store.put_bytes(Bytes::from_static(b"x")).await.unwrap();
    assert!(store.delete(&digest).await.unwrap());
    assert!(!store.delete(&digest).await.unwrap());
    assert!(matches!(
        store.open_blob(&digest).await,
        Err(BlobError::BlobUnknown(_))
    ));
}

/// Peak resident memory of this process, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A 2 GiB blob streams through an upload and back out in bounded memory. Slow and
/// disk-hungry, so run on demand: `cargo test -p berth-registry -- --ignored`.
#[tokio::test]
#[ignore]
async fn a_two_gib_blob_streams_in_bounded_memory() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 2048;
    let (_dir, store) = store();
    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let mut hasher = sha2::Sha256::default();
    for _ in 0..CHUNKS {
        sha2::Digest::update(&mut hasher, &chunk);
    }
    let digest = Digest::from_hasher(hasher);
    let before = peak_rss_kib();
    let body = stream::iter((0..CHUNKS).map(move |_| Ok::<_, Infallible>(chunk.clone())));
    let size = store.put(&digest, body).await.unwrap();
    assert_eq!(size, (CHUNK * CHUNKS) as u64);
    let file = store.open_blob(&digest).await.unwrap();
    let read = file
        .stream(0, size)
        .await
        .unwrap()
        .try_fold(0u64, |n, c| async move { Ok(n + c.len() as u64) })
        .await
        .unwrap();
    assert_eq!(read, size);
    let grown = peak_rss_kib().saturating_sub(before);
    eprintln!("2 GiB blob: peak memory grew by {grown} KiB");
    assert!(grown < 64 * 1024, "peak memory grew by {grown} KiB");
}
