//! What a repository holds: blob links, manifests, tags and the referrers index. Every
//! call first checks that the repository exists, so callers can tell an unknown
//! repository from unknown content.

use std::collections::{BTreeMap, BTreeSet};

use berth_store::records::{decode, get, list, put, Step};
use berth_store::{Compare, Op, Txn};

use super::records::now_millis;
use super::{
    keys, BlobLink, ManifestRecord, Metadata, MetadataError, Referrer, RepositoryRecord,
    TagMutability, TagRecord,
};
use crate::digest::Digest;
use crate::names::{Reference, RepoName, Tag};
use crate::Scope;

/// One page of a repository's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPage {
    /// In ASCII order.
    pub tags: Vec<String>,
    /// True when more tags follow.
    pub more: bool,
}

/// A manifest of a repository with the tags that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub digest: Digest,
    pub manifest: ManifestRecord,
    /// In ASCII order.
    pub tags: Vec<String>,
}

impl Metadata {
    /// Records that the repository holds the blob `digest` of `size` bytes.
    pub async fn link_blob(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), MetadataError> {
        let link = &BlobLink {
            size,
            linked_at: now_millis(),
        };
        self.update(&format!("repository {name}"), || async move {
            let repo = self.live_repo(scope, name).await?;
            let txn = Txn::new()
                .when(Compare::unchanged(keys::repo(scope, name), repo.revision))
                .then(put(keys::blob_link(scope, name, digest), link));
            Ok(Step::Commit(txn, ()))
        })
        .await
    }

    /// The repository's link to a blob, when it has one.
    pub async fn blob_link(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<BlobLink>, MetadataError> {
        // One read for both: this is on the path of every blob HEAD and GET.
        let mut found = self
            .store
            .get_many(&[
                keys::repo(scope, name),
                keys::blob_link(scope, name, digest),
            ])
            .await?
            .into_iter();
        let (repo, link) = (found.next().flatten(), found.next().flatten());
        match repo.map(decode::<RepositoryRecord>).transpose()? {
            Some(repo) if !repo.value.deleting => {}
            _ => return Err(super::not_found(scope, name)),
        }
        Ok(link.map(decode).transpose()?.map(|link| link.value))
    }

    /// Removes the repository's link to a blob; `false` when it had none.
    pub async fn unlink_blob(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<bool, MetadataError> {
        self.live_repo(scope, name).await?;
        let key = &keys::blob_link(scope, name, digest);
        self.update(&format!("blob {digest}"), || async move {
            let Some(link) = get::<BlobLink>(&*self.store, key).await? else {
                return Ok(Step::Done(false));
            };
            let txn = Txn::new()
                .when(Compare::unchanged(key, link.revision))
                .then(Op::delete(key));
            Ok(Step::Commit(txn, true))
        })
        .await
    }

    /// Records manifest `digest` (already in the blob store) and points `tags` at it.
    /// Every blob and child manifest it names must be in the repository; `referrer` is
    /// its entry in the referrers index of its subject, when it has one.
    pub async fn put_manifest(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
        record: ManifestRecord,
        referrer: Option<&Referrer>,
        tags: &[Tag],
    ) -> Result<(), MetadataError> {
        let blobs = record
            .blobs
            .iter()
            .map(|d| (keys::blob_link(scope, name, d), d));
        let children = record
            .manifests
            .iter()
            .map(|d| (keys::manifest(scope, name, d), d));
        let referenced: BTreeSet<(String, Digest)> =
            blobs.chain(children).map(|(k, d)| (k, d.clone())).collect();
        let (ref_keys, ref_digests): (Vec<String>, Vec<Digest>) = referenced.into_iter().unzip();
        let manifest_key = keys::manifest(scope, name, digest);
        let tag_keys: Vec<String> = tags.iter().map(|t| keys::tag(scope, name, t)).collect();
        let mut own_keys = vec![manifest_key.clone()];
        own_keys.extend(tag_keys.iter().cloned());
        let (ref_keys, ref_digests, manifest_key) = (&ref_keys, &ref_digests, &manifest_key);
        let (tag_keys, own_keys, record) = (&tag_keys, &own_keys, &record);
        self.update(&format!("manifest {digest}"), || async move {
            let repo = self.live_repo(scope, name).await?;
            let found = self.store.get_many(ref_keys).await?;
            let missing: Vec<Digest> = found
                .iter()
                .zip(ref_digests)
                .filter(|(kv, _)| kv.is_none())
                .map(|(_, d)| d.clone())
                .collect();
            if !missing.is_empty() {
                return Err(MetadataError::ReferencesUnknown {
                    name: name.to_string(),
                    missing,
                });
            }
            let mut own = self.store.get_many(own_keys).await?.into_iter();
            let mut txn =
                Txn::new().when(Compare::unchanged(keys::repo(scope, name), repo.revision));
            let links = keys::blob_links(scope, name);
            let now = now_millis();
            for (key, kv) in ref_keys.iter().zip(found) {
                let Some(kv) = kv else { continue };
                txn = txn.when(Compare::unchanged(key, kv.mod_revision));
                if key.starts_with(&links) {
                    // Rewriting the link makes a concurrent unlink of it fail its compare,
                    // and its new time keeps garbage collection off it.
                    let mut link = decode::<BlobLink>(kv)?.value;
                    link.linked_at = now;
                    txn = txn.then(put(key, &link));
                }
            }
            let mut record = record.clone();
            let existing = own
                .next()
                .flatten()
                .map(decode::<ManifestRecord>)
                .transpose()?;
            if let Some(existing) = &existing {
                // A re-push keeps the time of the first push.
                record.pushed_at = existing.value.pushed_at;
            }
            txn = txn
                .when(Compare::unchanged(
                    manifest_key,
                    existing.map_or(0, |r| r.revision),
                ))
                .then(put(manifest_key, &record));
            let tag_record = TagRecord {
                digest: digest.clone(),
                updated_at: now_millis(),
            };
            for ((key, kv), tag) in tag_keys.iter().zip(own).zip(tags) {
                let current = kv.map(decode::<TagRecord>).transpose()?;
                if let Some(current) = &current {
                    let immutable =
                        repo.value.settings.image_tag_mutability == TagMutability::Immutable;
                    if immutable && current.value.digest != *digest {
                        return Err(MetadataError::TagImmutable {
                            tag: tag.to_string(),
                            name: name.to_string(),
                        });
                    }
                }
                txn = txn
                    .when(Compare::unchanged(key, current.map_or(0, |r| r.revision)))
                    .then(put(key, &tag_record));
            }
            if let (Some(subject), Some(referrer)) = (&record.subject, referrer) {
                let key = keys::referrer(scope, name, subject, digest);
                txn = txn.then(put(key, referrer));
            }
            Ok(Step::Commit(txn, ()))
        })
        .await
    }

    /// A manifest of the repository, when it holds it.
    pub async fn manifest(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>, MetadataError> {
        self.live_repo(scope, name).await?;
        let record = get(&*self.store, &keys::manifest(scope, name, digest)).await?;
        Ok(record.map(|r| r.value))
    }

    /// The manifest a tag or digest names, when the repository holds it.
    pub async fn resolve(
        &self,
        scope: &Scope,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<Option<(Digest, ManifestRecord)>, MetadataError> {
        let digest = match reference {
            Reference::Digest(digest) => digest.clone(),
            Reference::Tag(tag) => {
                self.live_repo(scope, name).await?;
                match get::<TagRecord>(&*self.store, &keys::tag(scope, name, tag)).await? {
                    Some(tag) => tag.value.digest,
                    None => return Ok(None),
                }
            }
        };
        let record = self.manifest(scope, name, &digest).await?;
        Ok(record.map(|r| (digest, r)))
    }

    /// Tags in ASCII order, strictly after `last` when given, at most `limit` (0: all).
    pub async fn list_tags(
        &self,
        scope: &Scope,
        name: &RepoName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<TagPage, MetadataError> {
        self.live_repo(scope, name).await?;
        let prefix = keys::tags(scope, name);
        let start_after = last.map(|last| format!("{prefix}{last}"));
        let page = self
            .store
            .page(&prefix, start_after.as_deref(), limit)
            .await?;
        let tags = page
            .kvs
            .iter()
            .filter_map(|kv| kv.key.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        Ok(TagPage {
            tags,
            more: page.more,
        })
    }

    /// Removes a tag (the manifest stays); `false` when there was no such tag.
    pub async fn delete_tag(
        &self,
        scope: &Scope,
        name: &RepoName,
        tag: &Tag,
    ) -> Result<bool, MetadataError> {
        self.live_repo(scope, name).await?;
        let key = &keys::tag(scope, name, tag);
        self.update(&format!("tag {tag}"), || async move {
            let Some(current) = get::<TagRecord>(&*self.store, key).await? else {
                return Ok(Step::Done(false));
            };
            let txn = Txn::new()
                .when(Compare::unchanged(key, current.revision))
                .then(Op::delete(key));
            Ok(Step::Commit(txn, true))
        })
        .await
    }

    /// Removes a manifest, every tag pointing at it and its referrers entry, and returns
    /// its record; `None` when the repository did not hold it. The blobs it named stay
    /// linked: [`Metadata::unlink_unreferenced`] releases them.
    pub async fn delete_manifest(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>, MetadataError> {
        let key = &keys::manifest(scope, name, digest);
        self.update(&format!("manifest {digest}"), || async move {
            self.live_repo(scope, name).await?;
            let Some(manifest) = get::<ManifestRecord>(&*self.store, key).await? else {
                return Ok(Step::Done(None));
            };
            let tags = list::<TagRecord>(&*self.store, &keys::tags(scope, name)).await?;
            let mut txn = Txn::new()
                .when(Compare::unchanged(key, manifest.revision))
                .then(Op::delete(key));
            for tag in &tags {
                if tag.value.digest == *digest {
                    txn = txn
                        .when(Compare::unchanged(&tag.key, tag.revision))
                        .then(Op::delete(&tag.key));
                }
            }
            if let Some(subject) = &manifest.value.subject {
                txn = txn.then(Op::delete(keys::referrer(scope, name, subject, digest)));
            }
            Ok(Step::Commit(txn, Some(manifest.value)))
        })
        .await
    }

    /// Removes the repository's links to blobs that none of its manifests names, when the
    /// blob is one of `released` (blobs of manifests just deleted) or was last linked
    /// before `linked_before` (milliseconds since the Unix epoch; uploads abandoned
    /// before a manifest named them). Returns the unlinked digests.
    ///
    /// A manifest pushed meanwhile that names one of these blobs rewrites its link (see
    /// [`Metadata::put_manifest`]), so the unlink's compare fails and the link stays.
    pub async fn unlink_unreferenced(
        &self,
        scope: &Scope,
        name: &RepoName,
        released: &BTreeSet<Digest>,
        linked_before: u64,
    ) -> Result<Vec<Digest>, MetadataError> {
        self.live_repo(scope, name).await?;
        let (manifests, links) = (keys::manifests(scope, name), keys::blob_links(scope, name));
        let snapshot = self
            .store
            .snapshot(&[manifests.clone(), links.clone()])
            .await?;
        let (manifest_kvs, link_kvs): (Vec<_>, Vec<_>) = snapshot
            .kvs
            .into_iter()
            .partition(|kv| kv.key.starts_with(&manifests));
        let mut referenced = BTreeSet::new();
        for kv in manifest_kvs {
            referenced.extend(decode::<ManifestRecord>(kv)?.value.blobs);
        }
        let mut unlinked = Vec::new();
        for kv in link_kvs.into_iter().filter(|kv| kv.key.starts_with(&links)) {
            let Some(Ok(digest)) = kv.key.strip_prefix(&links).map(str::parse::<Digest>) else {
                continue;
            };
            let link = decode::<BlobLink>(kv)?;
            let expired = released.contains(&digest) || link.value.linked_at < linked_before;
            if referenced.contains(&digest) || !expired {
                continue;
            }
            // One try: a link rewritten meanwhile is in use again and stays.
            let txn = Txn::new()
                .when(Compare::unchanged(&link.key, link.revision))
                .then(Op::delete(&link.key));
            if self.commit(txn).await?.is_some() {
                unlinked.push(digest);
            }
        }
        Ok(unlinked)
    }

    /// The manifests of the repository whose subject is `subject`, in digest order.
    pub async fn referrers(
        &self,
        scope: &Scope,
        name: &RepoName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, MetadataError> {
        self.live_repo(scope, name).await?;
        let referrers = list(&*self.store, &keys::referrers(scope, name, subject)).await?;
        Ok(referrers.into_iter().map(|r| r.value).collect())
    }

    /// Every manifest of the repository with its tags, in digest order (for the ECR
    /// API's image listings).
    pub async fn images(
        &self,
        scope: &Scope,
        name: &RepoName,
    ) -> Result<Vec<Image>, MetadataError> {
        self.live_repo(scope, name).await?;
        let (manifests, tags) = (keys::manifests(scope, name), keys::tags(scope, name));
        let snapshot = self
            .store
            .snapshot(&[manifests.clone(), tags.clone()])
            .await?;
        let mut tags_of: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        let mut images = Vec::new();
        for kv in snapshot.kvs {
            if let Some(tag) = kv.key.strip_prefix(&tags).map(str::to_owned) {
                let record = decode::<TagRecord>(kv)?.value;
                tags_of.entry(record.digest).or_default().push(tag);
            } else if let Some(digest) = kv.key.strip_prefix(&manifests) {
                let digest = digest.parse().map_err(|e: crate::digest::DigestError| {
                    MetadataError::Corrupt {
                        key: kv.key.clone(),
                        reason: e.to_string(),
                    }
                })?;
                images.push(Image {
                    digest,
                    manifest: decode(kv)?.value,
                    tags: Vec::new(),
                });
            }
        }
        for image in &mut images {
            image.tags = tags_of.remove(&image.digest).unwrap_or_default();
            image.tags.sort();
        }
        Ok(images)
    }
}
