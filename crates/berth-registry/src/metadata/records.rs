//! The records stored under [`super::keys`], as JSON with camelCase fields (their
//! [`berth_store::records::Stored`] layout). New fields get `#[serde(default)]` so
//! records written by older versions still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// Whether a repository's tags may be moved to another image (ECR's
/// `imageTagMutability`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRecord {
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    #[serde(flatten)]
    pub settings: RepositorySettings,
    /// Set while the repository is being deleted: it no longer exists for any caller,
    /// and nothing can be written to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

/// What a repository's owner configures: given at creation, changed later through the
/// ECR API. The registry itself enforces only the tag mutability; the rest is kept for
/// the ECR API (which applies the lifecycle policy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySettings {
    #[serde(default)]
    pub image_tag_mutability: TagMutability,
    /// ECR's `imageScanningConfiguration.scanOnPush`, kept as given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scan_on_push: bool,
    /// Resource tags, key to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<LifecyclePolicyRecord>,
    /// ECR's repository policy (a resource-based IAM policy), its JSON text as set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_policy: Option<String>,
}

impl From<TagMutability> for RepositorySettings {
    fn from(image_tag_mutability: TagMutability) -> Self {
        RepositorySettings {
            image_tag_mutability,
            ..RepositorySettings::default()
        }
    }
}

/// A repository's lifecycle policy as its owner wrote it, and when it was last applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePolicyRecord {
    /// The policy's JSON text, exactly as put.
    pub text: String,
    /// Milliseconds since the Unix epoch; `None` until it is first applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated_at: Option<u64>,
}

/// A repository's link to a blob: the blob is part of the repository and may be pulled
/// from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobLink {
    pub size: u64,
    /// When the blob was last linked or named by a manifest pushed to the repository;
    /// milliseconds since the Unix epoch. Garbage collection leaves links this recent
    /// alone, so a push in progress keeps the layers it has uploaded so far.
    pub linked_at: u64,
}

/// A manifest stored in a repository (its bytes are the blob with its digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRecord {
    pub media_type: String,
    /// The manifest's own size in bytes.
    pub size: u64,
    /// When it was first pushed to this repository; milliseconds since the Unix epoch.
    pub pushed_at: u64,
    /// The config and layer blobs it references.
    #[serde(default)]
    pub blobs: Vec<Digest>,
    /// The sum of its layers' sizes (ECR's `imageSizeInBytes`).
    #[serde(default)]
    pub layers_size: u64,
    /// The manifests it lists (image indexes and manifest lists).
    #[serde(default)]
    pub manifests: Vec<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_media_type: Option<String>,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRecord {
    pub digest: Digest,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// A manifest that names a subject, as the referrers API lists it: an OCI descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

berth_store::stored_as_json!(
    RepositoryRecord,
    BlobLink,
    ManifestRecord,
    TagRecord,
    Referrer
);

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_camel_case_json_and_tolerate_missing_fields() {
        let repo = RepositoryRecord {
            name: "team/app".into(),
            created_at: 5,
            settings: TagMutability::Immutable.into(),
            deleting: false,
        };
        let json = serde_json::to_value(&repo).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "team/app", "createdAt": 5,
                               "imageTagMutability": "IMMUTABLE"})
        );
        let old: RepositoryRecord = serde_json::from_str(r#"{"name":"a","createdAt":1}"#).unwrap();
        assert_eq!(old.settings, RepositorySettings::default());
        assert!(!old.deleting);
        let m: ManifestRecord =
            serde_json::from_str(r#"{"mediaType":"x","size":1,"pushedAt":2}"#).unwrap();
        assert!(m.blobs.is_empty() && m.subject.is_none());
    }
}
