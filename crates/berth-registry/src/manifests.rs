//! Manifest parsing and validation for the four media types the registry stores:
//! Docker image manifest v2 schema 2 and manifest list, OCI image manifest and OCI image
//! index. Parsing extracts what the registry must check and index — the config and
//! layer blobs, the child manifests, the `subject` and the artifact type — and keeps the
//! pushed bytes untouched (they are stored exactly as sent).
//!
//! The media type comes from the `Content-Type` header, or from the manifest's
//! `mediaType` field when the header is missing or generic; when both are given they must
//! agree. A manifest that carries the fields of both kinds (`config`/`layers` and
//! `manifests`) is refused, so one document cannot be read as two different things.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::metadata::{ManifestRecord, Referrer};

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// Docker image manifest, v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Every manifest media type the registry accepts.
pub const MEDIA_TYPES: [&str; 4] = [
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is {size} bytes; the limit is {limit} bytes", limit = MAX_MANIFEST_SIZE)]
    TooLarge { size: usize },
    #[error(
        "unsupported manifest media type '{0}': expected one of {expected}",
        expected = MEDIA_TYPES.join(", ")
    )]
    UnsupportedMediaType(String),
    #[error("the Content-Type '{header}' differs from the manifest's mediaType '{field}'")]
    MediaTypeMismatch { header: String, field: String },
    #[error("the manifest is not valid JSON of its media type: {0}")]
    Malformed(String),
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

/// The shape of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    DockerManifest,
    DockerManifestList,
    OciManifest,
    OciIndex,
}

impl ManifestKind {
    /// The kind of a media type, when it is one of the four.
    pub fn from_media_type(media_type: &str) -> Option<ManifestKind> {
        match media_type {
            DOCKER_MANIFEST => Some(ManifestKind::DockerManifest),
            DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
            OCI_MANIFEST => Some(ManifestKind::OciManifest),
            OCI_INDEX => Some(ManifestKind::OciIndex),
            _ => None,
        }
    }

    /// The media type of this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::DockerManifest => DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => DOCKER_MANIFEST_LIST,
            ManifestKind::OciManifest => OCI_MANIFEST,
            ManifestKind::OciIndex => OCI_INDEX,
        }
    }

    /// Whether it lists other manifests (an index or manifest list).
    pub fn is_list(self) -> bool {
        matches!(
            self,
            ManifestKind::DockerManifestList | ManifestKind::OciIndex
        )
    }
}

/// A content descriptor: what a manifest says about content it references.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// Layers that are fetched from their `urls` rather than pushed (Docker's foreign
    /// layers, OCI's non-distributable ones) need not be in the registry.
    fn is_external(&self) -> bool {
        !self.urls.is_empty()
            && (self.media_type.contains("foreign") || self.media_type.contains("nondistributable"))
    }
}

/// Every field of any of the four shapes; which may appear depends on the kind.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub kind: ManifestKind,
    pub artifact_type: Option<String>,
    /// Image manifests only.
    pub config: Option<Descriptor>,
    /// Image manifests only.
    pub layers: Vec<Descriptor>,
    /// Indexes and manifest lists only.
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub annotations: BTreeMap<String, String>,
}

/// Parses and validates a pushed manifest; `content_type` is the request's header.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(ManifestError::TooLarge { size: bytes.len() });
    }
    let raw: Raw =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    let kind = kind_of(&raw, content_type)?;
    if raw.schema_version != Some(2) {
        return Err(ManifestError::Invalid("schemaVersion must be 2".into()));
    }
    if kind.is_list() {
        if raw.config.is_some() || raw.layers.is_some() {
            return Err(ManifestError::Invalid(format!(
                "a {} has no config or layers",
                kind.media_type()
            )));
        }
    } else if raw.manifests.is_some() {
        return Err(ManifestError::Invalid(format!(
            "a {} has no manifests list",
            kind.media_type()
        )));
    } else if raw.config.is_none() {
        return Err(ManifestError::Invalid("config is required".into()));
    }
    Ok(Manifest {
        kind,
        artifact_type: raw.artifact_type,
        config: raw.config,
        layers: raw.layers.unwrap_or_default(),
        manifests: raw.manifests.unwrap_or_default(),
        subject: raw.subject,
        annotations: raw.annotations,
    })
}

/// The kind named by the header, else by the `mediaType` field, else by the shape
/// (OCI manifests may omit `mediaType`).
fn kind_of(raw: &Raw, content_type: Option<&str>) -> Result<ManifestKind, ManifestError> {
    let header = content_type
        .map(|h| {
            h.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|h| !h.is_empty() && h != "application/json" && h != "application/octet-stream");
    let field = raw.media_type.as_deref();
    let named = match (header.as_deref(), field) {
        (Some(h), Some(f)) if h != f => {
            return Err(ManifestError::MediaTypeMismatch {
                header: h.to_owned(),
                field: f.to_owned(),
            })
        }
        (Some(h), _) => Some(h),
        (None, f) => f,
    };
    match named {
        Some(media_type) => ManifestKind::from_media_type(media_type)
            .ok_or_else(|| ManifestError::UnsupportedMediaType(media_type.to_owned())),
        None if raw.manifests.is_some() => Ok(ManifestKind::OciIndex),
        None if raw.config.is_some() => Ok(ManifestKind::OciManifest),
        None => Err(ManifestError::Invalid(
            "no media type: set Content-Type or the mediaType field".into(),
        )),
    }
}

impl Manifest {
    /// The blobs that must be in the repository: the config and every layer that is
    /// not fetched from elsewhere.
    pub fn required_blobs(&self) -> Vec<Digest> {
        let layers = self.layers.iter().filter(|l| !l.is_external());
        self.config
            .iter()
            .chain(layers)
            .map(|d| d.digest.clone())
            .collect()
    }

    /// The manifests an index or list names; they must be in the repository.
    pub fn child_manifests(&self) -> Vec<Digest> {
        self.manifests.iter().map(|d| d.digest.clone()).collect()
    }

    /// The type the referrers API reports: `artifactType`, else (image manifests) the
    /// config's media type.
    pub fn effective_artifact_type(&self) -> Option<String> {
        let artifact_type = self.artifact_type.clone().filter(|t| !t.is_empty());
        artifact_type.or_else(|| self.config.as_ref().map(|c| c.media_type.clone()))
    }

    /// The record the metadata keeps for this manifest of `size` bytes.
    pub fn record(&self, size: u64, pushed_at: u64) -> ManifestRecord {
        ManifestRecord {
            media_type: self.kind.media_type().to_owned(),
            size,
            pushed_at,
            blobs: self.required_blobs(),
            // Sizes are the client's word: their total may not fit, and must not panic.
            layers_size: self
                .layers
                .iter()
                .fold(0, |total: u64, l| total.saturating_add(l.size)),
            manifests: self.child_manifests(),
            subject: self.subject.as_ref().map(|s| s.digest.clone()),
            artifact_type: self.artifact_type.clone(),
            config_media_type: self.config.as_ref().map(|c| c.media_type.clone()),
        }
    }

    /// This manifest's entry in its subject's referrers list, when it has a subject.
    pub fn referrer(&self, digest: &Digest, size: u64) -> Option<Referrer> {
        self.subject.as_ref()?;
        Some(Referrer {
            media_type: self.kind.media_type().to_owned(),
            digest: digest.clone(),
            size,
            artifact_type: self.effective_artifact_type(),
            annotations: self.annotations.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn d(seed: &str) -> String {
        Digest::of(seed.as_bytes()).to_string()
    }

    fn desc(media_type: &str, seed: &str) -> serde_json::Value {
        json!({"mediaType": media_type, "digest": d(seed), "size": 10})
    }

    fn image(media_type: &str) -> serde_json::Value {
        json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": desc("application/vnd.oci.image.config.v1+json", "config"),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", "l1"),
                       desc("application/vnd.oci.image.layer.v1.tar+gzip", "l2")],
        })
    }

    fn bytes(v: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn image_manifests_name_their_config_and_layers() {
        for media_type in [OCI_MANIFEST, DOCKER_MANIFEST] {
            let m = parse(&bytes(&image(media_type)), Some(media_type)).unwrap();
            assert_eq!(m.kind.media_type(), media_type);
            let blobs: Vec<String> = m.required_blobs().iter().map(|d| d.to_string()).collect();
            assert_eq!(blobs, [d("config"), d("l1"), d("l2")]);
            assert!(m.child_manifests().is_empty());
            let record = m.record(123, 7);
            assert_eq!(record.layers_size, 20);
            assert_eq!(record.media_type, media_type);
        }
    }

    #[test]
    fn indexes_name_their_children() {
        for media_type in [OCI_INDEX, DOCKER_MANIFEST_LIST] {
            let index = json!({"schemaVersion": 2, "mediaType": media_type,
                "manifests": [desc(OCI_MANIFEST, "a"), desc(DOCKER_MANIFEST, "b")]});
            let m = parse(&bytes(&index), None).unwrap();
            assert!(m.kind.is_list());
            assert!(m.required_blobs().is_empty());
            let children: Vec<String> = m.child_manifests().iter().map(|d| d.to_string()).collect();
            assert_eq!(children, [d("a"), d("b")]);
        }
    }

    #[test]
    fn media_type_comes_from_the_header_or_the_field() {
        let mut untyped = image(OCI_MANIFEST);
        untyped.as_object_mut().unwrap().remove("mediaType");
        let m = parse(&bytes(&untyped), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::DockerManifest);
        let m = parse(&bytes(&untyped), Some("application/json")).unwrap();
        assert_eq!(m.kind, ManifestKind::OciManifest, "inferred from the shape");
        let m = parse(
            &bytes(&image(OCI_MANIFEST)),
            Some(&format!("{OCI_MANIFEST}; charset=utf-8")),
        )
        .unwrap();
        assert_eq!(m.kind, ManifestKind::OciManifest);
        let e = parse(&bytes(&image(OCI_MANIFEST)), Some(DOCKER_MANIFEST)).unwrap_err();
        assert!(matches!(e, ManifestError::MediaTypeMismatch { .. }));
        let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        let e = parse(&bytes(&image(OCI_MANIFEST)), Some(schema1)).unwrap_err();
        assert!(matches!(e, ManifestError::MediaTypeMismatch { .. }));
        let e = parse(&bytes(&image(schema1)), None).unwrap_err();
        assert_eq!(e, ManifestError::UnsupportedMediaType(schema1.into()));
    }

    #[test]
    fn invalid_manifests_are_refused() {
        let too_big = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert!(matches!(
            parse(&too_big, Some(OCI_MANIFEST)),
            Err(ManifestError::TooLarge { .. })
        ));
        assert!(matches!(
            parse(b"{nope", None),
            Err(ManifestError::Malformed(_))
        ));
        let mut v1 = image(OCI_MANIFEST);
        v1["schemaVersion"] = json!(1);
        assert!(matches!(
            parse(&bytes(&v1), None),
            Err(ManifestError::Invalid(_))
        ));
        let mut both = image(OCI_MANIFEST);
        both["manifests"] = json!([]);
        assert!(matches!(
            parse(&bytes(&both), None),
            Err(ManifestError::Invalid(_))
        ));
        let mut index_with_layers = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": []});
        index_with_layers["layers"] = json!([]);
        assert!(parse(&bytes(&index_with_layers), None).is_err());
        let no_config = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []});
        assert!(parse(&bytes(&no_config), None).is_err());
        let mut bad_digest = image(OCI_MANIFEST);
        bad_digest["layers"][0]["digest"] = json!("sha512:abcd");
        let e = parse(&bytes(&bad_digest), None).unwrap_err().to_string();
        assert!(e.contains("sha256 digests only"), "{e}");
        let mut negative = image(OCI_MANIFEST);
        negative["config"]["size"] = json!(-1);
        assert!(matches!(
            parse(&bytes(&negative), None),
            Err(ManifestError::Malformed(_))
        ));
    }

    #[test]
    fn subjects_and_artifact_types_feed_the_referrers_index() {
        let mut sbom = image(OCI_MANIFEST);
        sbom["subject"] = desc(OCI_MANIFEST, "subject");
        sbom["annotations"] = json!({"org.example": "yes"});
        let m = parse(&bytes(&sbom), None).unwrap();
        let digest = Digest::of(b"sbom");
        let r = m.referrer(&digest, 99).unwrap();
        assert_eq!(
            r.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(r.annotations["org.example"], "yes");
        assert_eq!(m.record(99, 0).subject.unwrap().to_string(), d("subject"));
        sbom["artifactType"] = json!("application/vnd.example.sbom");
        let m = parse(&bytes(&sbom), None).unwrap();
        assert_eq!(
            m.referrer(&digest, 99).unwrap().artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
            "subject": desc(OCI_MANIFEST, "subject")});
        let m = parse(&bytes(&index), None).unwrap();
        assert_eq!(m.referrer(&digest, 1).unwrap().artifact_type, None);
        assert!(parse(&bytes(&image(OCI_MANIFEST)), None)
            .unwrap()
            .referrer(&digest, 1)
            .is_none());
    }

    #[test]
    fn foreign_layers_need_not_be_pushed() {
        let mut m = image(DOCKER_MANIFEST);
        m["layers"][1] = json!({
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": d("l2"), "size": 10, "urls": ["https://example.com/layer"]});
        let m = parse(&bytes(&m), None).unwrap();
        assert_eq!(m.required_blobs().len(), 2);
    }
}
