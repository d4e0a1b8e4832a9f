//! Reclaiming space over HTTP and the real blob store: deleting an image unlinks the
//! blobs only it named, and a collection deletes the files nothing links while blobs
//! still used elsewhere, recent blobs and live uploads stay.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use berth_registry::gc::Collection;
use berth_registry::Digest;
use common::{error_code, TestRegistry};
use reqwest::Method;

fn blob_file(r: &TestRegistry, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    r.dir
        .path()
        .join("registry/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
}

fn layer_of(manifest: &serde_json::Value) -> Digest {
    manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

const NO_GRACE: Collection = Collection {
    grace: Duration::ZERO,
    abandoned_after: Duration::from_secs(3600),
};

#[tokio::test]
async fn deleted_images_give_their_blobs_back_and_shared_ones_stay() {
    let r = TestRegistry::start(&["a", "b"]).await;
    let (doomed, doomed_manifest) = r.push_image("a", "old", "doomed").await;
    let (_, kept_manifest) = r.push_image("a", "new", "kept").await;
    // Repository b holds the doomed image's layer too (pushed separately).
    let shared_layer = layer_of(&doomed_manifest);
    r.push_blob("b", b"layer of doomed").await;
    let doomed_config: Digest = doomed_manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let delete = r
        .req(Method::DELETE, &format!("/v2/a/manifests/{doomed}"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 202);

    // A fresh upload in progress must survive.
    let upload = r
        .req(Method::POST, "/v2/a/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 202);
    let location = upload.headers()["location"].to_str().unwrap().to_owned();

    let collected = r.registry.collect_garbage(NO_GRACE).await.unwrap();
    // The config and the manifest itself are gone; the layer b links and everything of
    // the kept image stay.
    assert_eq!(collected.blobs, 2, "{collected:?}");
    assert!(!blob_file(&r, &doomed_config).exists());
    assert!(!blob_file(&r, &doomed).exists());
    assert!(blob_file(&r, &shared_layer).exists());
    assert!(blob_file(&r, &layer_of(&kept_manifest)).exists());
    assert_eq!(collected.uploads, 0);
    let status = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(status.status(), 204, "the upload in progress survives");
    let from_a = r
        .req(Method::GET, &format!("/v2/a/blobs/{shared_layer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(from_a).await, (404, "BLOB_UNKNOWN".into()));
    let from_b = r
        .req(Method::GET, &format!("/v2/b/blobs/{shared_layer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(from_b.status(), 200);
    assert_eq!(from_b.bytes().await.unwrap().as_ref(), b"layer of doomed");
    let kept = r
        .req(Method::GET, "/v2/a/manifests/new")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
}

#[tokio::test]
async fn recent_blobs_stay_until_their_grace_has_passed() {
    let r = TestRegistry::start(&["a"]).await;
    let (doomed, _) = r.push_image("a", "v1", "doomed").await;
    r.req(Method::DELETE, &format!("/v2/a/manifests/{doomed}"))
        .send()
        .await
        .unwrap();
    let patient = Collection {
        grace: Duration::from_secs(3600),
        ..NO_GRACE
    };
    let collected = r.registry.collect_garbage(patient).await.unwrap();
    assert_eq!(collected.blobs, 0);
    assert!(blob_file(&r, &doomed).exists());
    let collected = r.registry.collect_garbage(NO_GRACE).await.unwrap();
    assert_eq!(collected.blobs, 3, "manifest, config and layer");
    assert!(!blob_file(&r, &doomed).exists());
}

#[tokio::test]
async fn re_pushing_a_collected_image_stores_it_again() {
    let r = TestRegistry::start(&["a"]).await;
    let (digest, manifest) = r.push_image("a", "v1", "again").await;
    r.req(Method::DELETE, &format!("/v2/a/manifests/{digest}"))
        .send()
        .await
        .unwrap();
    r.registry.collect_garbage(NO_GRACE).await.unwrap();
    let (again, _) = r.push_image("a", "v1", "again").await;
    assert_eq!(again, digest);
    let layer = r
        .req(Method::GET, &format!("/v2/a/blobs/{}", layer_of(&manifest)))
        .send()
        .await
        .unwrap();
    assert_eq!(layer.status(), 200);
    assert_eq!(layer.bytes().await.unwrap().as_ref(), b"layer of again");
    assert!(blob_file(&r, &digest).exists());
}

#[tokio::test]
async fn abandoned_links_and_uploads_are_removed() {
    let r = TestRegistry::start(&["a"]).await;
    let loose = r.push_blob("a", b"pushed but never named").await;
    let upload = r
        .req(Method::POST, "/v2/a/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let location = upload.headers()["location"].to_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let impatient = Collection {
        grace: Duration::ZERO,
        abandoned_after: Duration::from_millis(10),
    };
    let collected = r.registry.collect_garbage(impatient).await.unwrap();
    assert_eq!(collected.abandoned_links, 1, "{collected:?}");
    assert_eq!(collected.blobs, 1);
    assert_eq!(collected.uploads, 1);
    assert!(!blob_file(&r, &loose).exists());
    let gone = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(error_code(gone).await, (404, "BLOB_UPLOAD_UNKNOWN".into()));
}
