//! The metadata over a real embedded store: repository life cycle, references that must
//! exist, tags under concurrency, and repositories whose names nest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth_store::embedded::EmbeddedStore;
use berth_store::{Store, Txn};

use super::records::now_millis;
use super::*;
use crate::names::{Reference, Tag};

fn scope() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

fn name(s: &str) -> RepoName {
    RepoName::parse(s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap()
}

async fn metadata() -> (tempfile::TempDir, Metadata, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    (dir, Metadata::new(store.clone()), store)
}

fn record(blobs: &[&Digest], subject: Option<&Digest>) -> ManifestRecord {
    ManifestRecord {
        media_type: crate::manifests::OCI_MANIFEST.into(),
        size: 100,
        pushed_at: 1,
        blobs: blobs.iter().map(|d| (*d).clone()).collect(),
        layers_size: 0,
        manifests: Vec::new(),
        subject: subject.cloned(),
        artifact_type: None,
        config_media_type: None,
    }
}

fn referrer(digest: &Digest, artifact_type: &str) -> Referrer {
    Referrer {
        media_type: crate::manifests::OCI_MANIFEST.into(),
        digest: digest.clone(),
        size: 100,
        artifact_type: Some(artifact_type.into()),
        annotations: BTreeMap::new(),
    }
}

async fn create(m: &Metadata, n: &str) {
    m.create_repository(&scope(), &name(n), TagMutability::Mutable)
        .await
        .unwrap();
}

#[tokio::test]
async fn repositories_are_created_listed_and_deleted() {
    let (_dir, m, _) = metadata().await;
    for n in ["b", "a/b", "a", "a-b"] {
        create(&m, n).await;
    }
    let e = m
        .create_repository(&scope(), &name("a"), TagMutability::Mutable)
        .await
        .unwrap_err();
    assert!(matches!(e, MetadataError::RepositoryAlreadyExists { .. }));
    let all = m.list_repositories(&scope(), None, 0).await.unwrap();
    let names: Vec<&str> = all.repositories.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "a-b", "a/b", "b"]);
    let page = m.list_repositories(&scope(), Some("a-b"), 1).await.unwrap();
    assert_eq!(page.repositories[0].name, "a/b");
    assert!(page.more);
    m.delete_repository(&scope(), &name("a"), false)
        .await
        .unwrap();
    assert!(m.repository(&scope(), &name("a")).await.unwrap().is_none());
    assert!(m
        .repository(&scope(), &name("a/b"))
        .await
        .unwrap()
        .is_some());
    let e = m
        .delete_repository(&scope(), &name("a"), false)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The repository with name 'a' does not exist in the registry with id '123456789012'"
    );
    let other = Scope {
        account: "999999999999".into(),
        region: "us-east-1".into(),
    };
    assert!(m.repository(&other, &name("b")).await.unwrap().is_none());
}

#[tokio::test]
async fn manifests_need_their_blobs_in_the_repository() {
    let (_dir, m, _) = metadata().await;
    create(&m, "app").await;
    create(&m, "other").await;
    let (config, layer, manifest) = (Digest::of(b"c"), Digest::of(b"l"), Digest::of(b"m"));
    m.link_blob(&scope(), &name("other"), &layer, 1)
        .await
        .unwrap();
    let e = m
        .put_manifest(
            &scope(),
            &name("app"),
            &manifest,
            record(&[&config, &layer], None),
            None,
            &[tag("v1")],
        )
        .await
        .unwrap_err();
    match e {
        MetadataError::ReferencesUnknown { missing, .. } => {
            assert_eq!(
                missing.len(),
                2,
                "a blob of another repository does not count"
            )
        }
        e => panic!("{e}"),
    }
    m.link_blob(&scope(), &name("app"), &config, 1)
        .await
        .unwrap();
    m.link_blob(&scope(), &name("app"), &layer, 1)
        .await
        .unwrap();
    m.put_manifest(
        &scope(),
        &name("app"),
        &manifest,
        record(&[&config, &layer], None),
        None,
        &[tag("v1")],
    )
    .await
    .unwrap();
    let (digest, found) = m
        .resolve(&scope(), &name("app"), &Reference::Tag(tag("v1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((digest, found.blobs.len()), (manifest.clone(), 2));
    let index = Digest::of(b"index");
    let mut list = record(&[], None);
    list.manifests = vec![manifest.clone(), Digest::of(b"absent")];
    let e = m
        .put_manifest(&scope(), &name("app"), &index, list, None, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, MetadataError::ReferencesUnknown { missing, .. } if missing.len() == 1));
    let e = m
        .link_blob(&scope(), &name("ghost"), &layer, 1)
        .await
        .unwrap_err();
    assert!(matches!(e, MetadataError::RepositoryNotFound { .. }));
}

#[tokio::test]
async fn nested_names_never_share_content() {
    let (_dir, m, _) = metadata().await;
    for n in ["a", "a/b", "a-b"] {
        create(&m, n).await;
        let d = Digest::of(n.as_bytes());
        m.link_blob(&scope(), &name(n), &d, 1).await.unwrap();
        m.put_manifest(
            &scope(),
            &name(n),
            &d,
            record(&[&d], None),
            None,
            &[tag(n.replace('/', "_").as_str())],
        )
        .await
        .unwrap();
    }
    for n in ["a", "a/b", "a-b"] {
        let tags = m.list_tags(&scope(), &name(n), None, 0).await.unwrap();
        assert_eq!(tags.tags, [n.replace('/', "_")], "{n}");
        assert_eq!(m.images(&scope(), &name(n)).await.unwrap().len(), 1);
    }
    m.delete_repository(&scope(), &name("a"), true)
        .await
        .unwrap();
    for n in ["a/b", "a-b"] {
        assert_eq!(m.images(&scope(), &name(n)).await.unwrap().len(), 1, "{n}");
    }
    create(&m, "a").await;
    assert!(m.images(&scope(), &name("a")).await.unwrap().is_empty());
}

#[tokio::test]
async fn tags_page_in_order() {
    let (_dir, m, _) = metadata().await;
    create(&m, "app").await;
    let d = Digest::of(b"m");
    let tags: Vec<Tag> = ["b", "a", "C", "a1", "_x"].iter().map(|t| tag(t)).collect();
    m.put_manifest(&scope(), &name("app"), &d, record(&[], None), None, &tags)
        .await
        .unwrap();
    let all = m.list_tags(&scope(), &name("app"), None, 0).await.unwrap();
    assert_eq!(all.tags, ["C", "_x", "a", "a1", "b"]);
    let first = m.list_tags(&scope(), &name("app"), None, 2).await.unwrap();
    assert_eq!(first.tags, ["C", "_x"]);
    assert!(first.more);
    let rest = m
        .list_tags(&scope(), &name("app"), Some("_x"), 10)
        .await
        .unwrap();
    assert_eq!(rest.tags, ["a", "a1", "b"]);
    assert!(!rest.more);
}

#[tokio::test]
async fn concurrent_pushes_of_one_tag_all_commit_and_agree() {
    let (_dir, m, _) = metadata().await;
    create(&m, "app").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let m = m.clone();
            tokio::spawn(async move {
                let d = Digest::of(format!("manifest {i}").as_bytes());
                m.put_manifest(
                    &scope(),
                    &name("app"),
                    &d,
                    record(&[], None),
                    None,
                    &[tag("latest")],
                )
                .await
                .map(|()| d)
            })
        })
        .collect();
    let mut pushed = Vec::new();
    for task in tasks {
        pushed.push(task.await.unwrap().unwrap());
    }
    let (latest, _) = m
        .resolve(&scope(), &name("app"), &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert!(pushed.contains(&latest));
    let images = m.images(&scope(), &name("app")).await.unwrap();
    assert_eq!(images.len(), 16);
    let tagged: Vec<&Image> = images.iter().filter(|i| !i.tags.is_empty()).collect();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].digest, latest);
}

#[tokio::test]
async fn deleting_a_manifest_removes_its_tags_and_referrer_entry() {
    let (_dir, m, _) = metadata().await;
    create(&m, "app").await;
    let (image, sbom) = (Digest::of(b"image"), Digest::of(b"sbom"));
    m.put_manifest(
        &scope(),
        &name("app"),
        &image,
        record(&[], None),
        None,
        &[tag("v1"), tag("v2")],
    )
    .await
    .unwrap();
    let r = referrer(&sbom, "application/spdx");
    m.put_manifest(
        &scope(),
        &name("app"),
        &sbom,
        record(&[], Some(&image)),
        Some(&r),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        m.referrers(&scope(), &name("app"), &image).await.unwrap(),
        [r]
    );
    assert!(m
        .delete_tag(&scope(), &name("app"), &tag("v2"))
        .await
        .unwrap());
    assert!(!m
        .delete_tag(&scope(), &name("app"), &tag("v2"))
        .await
        .unwrap());
    assert!(m
        .delete_manifest(&scope(), &name("app"), &sbom)
        .await
        .unwrap()
        .is_some());
    assert!(m
        .referrers(&scope(), &name("app"), &image)
        .await
        .unwrap()
        .is_empty());
    let deleted = m
        .delete_manifest(&scope(), &name("app"), &image)
        .await
        .unwrap()
        .expect("the image was there");
    assert_eq!(deleted.subject, None);
    assert!(m
        .delete_manifest(&scope(), &name("app"), &image)
        .await
        .unwrap()
        .is_none());
    let tags = m.list_tags(&scope(), &name("app"), None, 0).await.unwrap();
    assert!(tags.tags.is_empty());
}

#[tokio::test]
async fn immutable_repositories_refuse_to_move_tags() {
    let (_dir, m, _) = metadata().await;
    m.create_repository(&scope(), &name("app"), TagMutability::Immutable)
        .await
        .unwrap();
    let (one, two) = (Digest::of(b"1"), Digest::of(b"2"));
    m.put_manifest(
        &scope(),
        &name("app"),
        &one,
        record(&[], None),
        None,
        &[tag("v1")],
    )
    .await
    .unwrap();
    m.put_manifest(
        &scope(),
        &name("app"),
        &one,
        record(&[], None),
        None,
        &[tag("v1")],
    )
    .await
    .expect("re-pushing the same image is fine");
    let e = m
        .put_manifest(
            &scope(),
            &name("app"),
            &two,
            record(&[], None),
            None,
            &[tag("v1")],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, MetadataError::TagImmutable { .. }), "{e}");
    let mutable = m
        .update_repository(&scope(), &name("app"), |s| {
            s.image_tag_mutability = TagMutability::Mutable;
            Ok::<_, MetadataError>(())
        })
        .await
        .unwrap();
    assert_eq!(
        mutable.settings.image_tag_mutability,
        TagMutability::Mutable
    );
    m.put_manifest(
        &scope(),
        &name("app"),
        &two,
        record(&[], None),
        None,
        &[tag("v1")],
    )
    .await
    .expect("a mutable repository moves the tag");
    let absent = m
        .update_repository(&scope(), &name("absent"), |_| Ok::<_, MetadataError>(()))
        .await
        .unwrap_err();
    assert!(
        matches!(absent, MetadataError::RepositoryNotFound { .. }),
        "{absent}"
    );
}

#[tokio::test]
async fn non_empty_repositories_need_force_and_interrupted_deletes_finish() {
    let (_dir, m, store) = metadata().await;
    create(&m, "app").await;
    let d = Digest::of(b"m");
    m.put_manifest(
        &scope(),
        &name("app"),
        &d,
        record(&[], None),
        None,
        &[tag("v1")],
    )
    .await
    .unwrap();
    let e = m
        .delete_repository(&scope(), &name("app"), false)
        .await
        .unwrap_err();
    assert!(matches!(e, MetadataError::RepositoryNotEmpty { .. }));
    assert!(m
        .resolve(&scope(), &name("app"), &Reference::Tag(tag("v1")))
        .await
        .unwrap()
        .is_some());

    // A deletion that stopped after marking the record: the repository is gone for
    // every caller, and creating it again finishes the removal first.
    let key = keys::repo(&scope(), &name("app"));
    let mut marked: RepositoryRecord = m.repository(&scope(), &name("app")).await.unwrap().unwrap();
    marked.deleting = true;
    store
        .txn(Txn::new().then(berth_store::records::put(&key, &marked)))
        .await
        .unwrap();
    assert!(m
        .repository(&scope(), &name("app"))
        .await
        .unwrap()
        .is_none());
    let e = m
        .put_manifest(&scope(), &name("app"), &d, record(&[], None), None, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, MetadataError::RepositoryNotFound { .. }));
    assert!(m
        .list_repositories(&scope(), None, 0)
        .await
        .unwrap()
        .repositories
        .is_empty());
    create(&m, "app").await;
    assert!(m.images(&scope(), &name("app")).await.unwrap().is_empty());
    let leftovers = store
        .page(&keys::content(&scope(), &name("app")), None, 0)
        .await
        .unwrap();
    assert!(leftovers.kvs.is_empty());
}

#[tokio::test]
async fn unreferenced_links_are_released_and_shared_or_recent_ones_stay() {
    let (_dir, m, _store) = metadata().await;
    create(&m, "app").await;
    let (shared, only_old, abandoned, fresh) = (
        Digest::of(b"shared"),
        Digest::of(b"only-old"),
        Digest::of(b"abandoned"),
        Digest::of(b"fresh"),
    );
    for d in [&shared, &only_old, &abandoned] {
        m.link_blob(&scope(), &name("app"), d, 1).await.unwrap();
    }
    let (old, new) = (Digest::of(b"old"), Digest::of(b"new"));
    let (app, sc) = (name("app"), scope());
    let put = |digest: &Digest, blobs: &[&Digest]| {
        let (app, sc, m) = (app.clone(), sc.clone(), m.clone());
        let (digest, record) = (digest.clone(), record(blobs, None));
        async move { m.put_manifest(&sc, &app, &digest, record, None, &[]).await }
    };
    put(&old, &[&shared, &only_old]).await.unwrap();
    put(&new, &[&shared]).await.unwrap();
    let cutoff = now_millis() + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    m.link_blob(&scope(), &name("app"), &fresh, 1)
        .await
        .unwrap();

    let deleted = m
        .delete_manifest(&scope(), &name("app"), &old)
        .await
        .unwrap()
        .unwrap();
    let released: BTreeSet<Digest> = deleted.blobs.into_iter().collect();
    // Nothing is old enough: only the deleted manifest's own blob goes.
    let unlinked = m
        .unlink_unreferenced(&scope(), &name("app"), &released, 0)
        .await
        .unwrap();
    assert_eq!(unlinked, vec![only_old.clone()]);
    // Links older than the cutoff that no manifest names go too; the fresh one stays.
    let unlinked = m
        .unlink_unreferenced(&scope(), &name("app"), &BTreeSet::new(), cutoff)
        .await
        .unwrap();
    assert_eq!(unlinked, vec![abandoned.clone()]);
    for (digest, linked) in [
        (&shared, true),
        (&fresh, true),
        (&only_old, false),
        (&abandoned, false),
    ] {
        let link = m.blob_link(&scope(), &name("app"), digest).await.unwrap();
        assert_eq!(link.is_some(), linked, "{digest}");
    }
}

#[tokio::test]
async fn pushing_a_manifest_refreshes_its_links() {
    let (_dir, m, _store) = metadata().await;
    create(&m, "app").await;
    let layer = Digest::of(b"layer");
    m.link_blob(&scope(), &name("app"), &layer, 1)
        .await
        .unwrap();
    let before = m
        .blob_link(&scope(), &name("app"), &layer)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    m.put_manifest(
        &scope(),
        &name("app"),
        &Digest::of(b"m"),
        record(&[&layer], None),
        None,
        &[],
    )
    .await
    .unwrap();
    let after = m
        .blob_link(&scope(), &name("app"), &layer)
        .await
        .unwrap()
        .unwrap();
    assert!(after.linked_at > before.linked_at, "{before:?} {after:?}");
}
