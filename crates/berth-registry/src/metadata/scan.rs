//! Reads across every scope, for maintenance: all repositories (to apply their lifecycle
//! policies) and every digest some repository uses (for blob garbage collection).
//! Both page through [`keys::ROOT`] in batches, so memory grows with the number of
//! repositories and distinct blobs, not with the number of keys.

use std::collections::HashSet;

use berth_store::records::decode;
use berth_store::KeyValue;

use super::keys::{self, KeyKind};
use super::{Metadata, MetadataError, RepositoryRecord};
use crate::digest::Digest;
use crate::names::RepoName;
use crate::Scope;

/// How many keys one page of a scan reads.
const SCAN_PAGE: usize = 1000;

impl Metadata {
    async fn scan(&self, mut visit: impl FnMut(KeyValue)) -> Result<(), MetadataError> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .page(keys::ROOT, after.as_deref(), SCAN_PAGE)
                .await?;
            let last = page.kvs.last().map(|kv| kv.key.clone());
            page.kvs.into_iter().for_each(&mut visit);
            match (page.more, last) {
                (true, Some(last)) => after = Some(last),
                _ => return Ok(()),
            }
        }
    }

    /// Every repository that exists (not being deleted), with its scope.
    pub async fn all_repositories(
        &self,
    ) -> Result<Vec<(Scope, RepoName, RepositoryRecord)>, MetadataError> {
        let mut found = Vec::new();
        let mut failure: Option<MetadataError> = None;
        self.scan(|kv| {
            if let KeyKind::Repository(scope) = keys::classify(&kv.key) {
                match decode::<RepositoryRecord>(kv).map(|r| r.value) {
                    Ok(record) if !record.deleting => {
                        if let Ok(name) = RepoName::parse(&record.name) {
                            found.push((scope, name, record));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => failure = Some(e.into()),
                }
            }
        })
        .await?;
        failure.map_or(Ok(found), Err)
    }

    /// Every digest some repository links as a blob or holds as a manifest.
    pub async fn referenced_digests(&self) -> Result<HashSet<Digest>, MetadataError> {
        let mut digests = HashSet::new();
        self.scan(|kv| {
            if let KeyKind::Content(digest) = keys::classify(&kv.key) {
                digests.insert(digest);
            }
        })
        .await?;
        Ok(digests)
    }
}
