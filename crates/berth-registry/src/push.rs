//! Storing a pushed manifest, shared by the distribution API's `PUT .../manifests/` and
//! ECR's PutImage: check it, store its bytes as a blob, record it with its tags.

use bytes::Bytes;

use crate::blobs::BlobError;
use crate::digest::Digest;
use crate::manifests::{self, Manifest, ManifestError};
use crate::metadata::records::now_millis;
use crate::metadata::{ManifestRecord, MetadataError};
use crate::names::{RepoName, Tag};
use crate::{Registry, Scope};

/// A manifest that was stored.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub manifest: Manifest,
    pub record: ManifestRecord,
}

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the manifest's digest is {actual}, not {named}")]
    DigestMismatch { named: Digest, actual: Digest },
    #[error(transparent)]
    Blobs(#[from] BlobError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl Registry {
    /// Stores `bytes` as a manifest of repository `name` (which must exist) and points
    /// `tags` at it. `content_type` is the media type the client gave, if any; `named`
    /// the digest the client expects it to have.
    pub async fn push_manifest(
        &self,
        scope: &Scope,
        name: &RepoName,
        bytes: Bytes,
        content_type: Option<&str>,
        named: Option<&Digest>,
        tags: &[Tag],
    ) -> Result<Pushed, PushError> {
        if self.metadata.repository(scope, name).await?.is_none() {
            return Err(MetadataError::repository_not_found(scope, name).into());
        }
        let manifest = manifests::parse(&bytes, content_type)?;
        let digest = Digest::of(&bytes);
        if let Some(named) = named.filter(|named| **named != digest) {
            return Err(PushError::DigestMismatch {
                named: named.clone(),
                actual: digest,
            });
        }
        let size = bytes.len() as u64;
        self.blobs.put_bytes(bytes).await?;
        let record = manifest.record(size, now_millis());
        let referrer = manifest.referrer(&digest, size);
        self.metadata
            .put_manifest(
                scope,
                name,
                &digest,
                record.clone(),
                referrer.as_ref(),
                tags,
            )
            .await?;
        Ok(Pushed {
            digest,
            manifest,
            record,
        })
    }
}
