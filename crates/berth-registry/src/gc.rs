//! Deleting images and reclaiming what they used.
//!
//! Space comes back in two steps. Deleting an image ([`Registry::delete_image`]) removes
//! its manifest and, at once, the repository's links to the blobs no other manifest of
//! the repository names, so those blobs can no longer be pulled from it. A collection
//! ([`Registry::collect_garbage`], run periodically by the server) then deletes the
//! blob files no repository links any more (see the blob store's `collect` module for
//! why that is safe while pushes go on), links that uploads left without a manifest for
//! longer than [`Collection::abandoned_after`], and uploads idle that long.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::blobs::{BlobError, Swept};
use crate::digest::Digest;
use crate::metadata::records::now_millis;
use crate::metadata::{ManifestRecord, MetadataError};
use crate::names::RepoName;
use crate::{Registry, Scope};

/// How a collection treats recent content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// A blob file no repository links is deleted only once it is this old, so a blob
    /// being linked while the collection runs is never taken.
    pub grace: Duration,
    /// Links no manifest names, and uploads nobody continues, are removed after this
    /// long: a push that stalls longer starts over.
    pub abandoned_after: Duration,
}

impl Default for Collection {
    fn default() -> Self {
        Collection {
            grace: Duration::from_secs(300),
            abandoned_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// What one collection reclaimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Links removed because no manifest named them for too long.
    pub abandoned_links: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub uploads: usize,
}

/// Why a collection stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
}

impl Registry {
    /// Deletes an image (a manifest and its tags) and unlinks the blobs only it named;
    /// returns its record, or `None` when the repository did not hold it.
    pub async fn delete_image(
        &self,
        scope: &Scope,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>, MetadataError> {
        let Some(record) = self.metadata.delete_manifest(scope, name, digest).await? else {
            return Ok(None);
        };
        let released: BTreeSet<Digest> = record.blobs.iter().cloned().collect();
        self.metadata
            .unlink_unreferenced(scope, name, &released, 0)
            .await?;
        Ok(Some(record))
    }

    /// Reclaims abandoned links and uploads and every blob file nothing links.
    pub async fn collect_garbage(&self, settings: Collection) -> Result<Collected, GcError> {
        let mut collected = Collected::default();
        let abandoned_before =
            now_millis().saturating_sub(settings.abandoned_after.as_millis() as u64);
        for (scope, name, _) in self.metadata.all_repositories().await? {
            match self
                .metadata
                .unlink_unreferenced(&scope, &name, &BTreeSet::new(), abandoned_before)
                .await
            {
                Ok(unlinked) => collected.abandoned_links += unlinked.len(),
                // Deleted meanwhile: its links are gone with it.
                Err(MetadataError::RepositoryNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The cutoff comes first: everything linked after it is in `referenced` or has
        // a newer file (see the blob store's `collect` module).
        let cutoff = SystemTime::now()
            .checked_sub(settings.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let referenced = self.metadata.referenced_digests().await?;
        let Swept { blobs, bytes } = self.blobs.sweep(referenced, cutoff).await?;
        collected.blobs = blobs;
        collected.bytes = bytes;
        collected.uploads = self.blobs.purge_uploads(settings.abandoned_after).await?;
        Ok(collected)
    }
}
