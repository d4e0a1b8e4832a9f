//! ECR's image operations over the registry's manifests and tags: ListImages,
//! DescribeImages, BatchGetImage, BatchDeleteImage, PutImage, BatchCheckLayerAvailability
//! and GetDownloadUrlForLayer. An image is a manifest of the repository; ListImages
//! names it once per tag (and once, by digest alone, when it has no tag), as ECR does.
//! Deleting an image by digest releases the layers only it used; their space comes
//! back at the registry's next upkeep pass, which the deletion starts.

use berth_api::ecr::{
    BatchCheckLayerAvailabilityRequest, BatchCheckLayerAvailabilityResponse,
    BatchDeleteImageRequest, BatchDeleteImageResponse, BatchGetImageRequest, BatchGetImageResponse,
    DescribeImagesRequest, DescribeImagesResponse, GetDownloadUrlForLayerRequest,
    GetDownloadUrlForLayerResponse, Image, ImageDetail, ImageFailure, ImageFailureCode,
    ImageIdentifier, Layer, LayerAvailability, LayerFailure, LayerFailureCode, ListImagesRequest,
    ListImagesResponse, PutImageRequest, PutImageResponse, TagStatus, Timestamp,
};
use berth_api::error::ApiError;
use berth_registry::metadata::{Image as Stored, MetadataError};
use berth_registry::push::PushError;
use berth_registry::{Digest, RepoName, Tag};

use super::Call;
use super::{check_registry, max_results, metadata_error, repo_name, scope};
use crate::pagination;

async fn images(ctx: &Call<'_>, name: &RepoName) -> Result<Vec<Stored>, ApiError> {
    ctx.ecr
        .registry
        .metadata()
        .images(&scope(ctx), name)
        .await
        .map_err(metadata_error)
}

/// `maxResults` (1 to 1000, default 100) and `nextToken` (an offset) of a listing.
fn page_bounds(max: Option<i32>, token: Option<&str>) -> Result<(usize, usize), ApiError> {
    let limit = max_results(max)?;
    let start = match pagination::decode_token(token, "")? {
        Some(offset) => offset
            .parse()
            .map_err(|_| ApiError::InvalidParameter("Invalid nextToken".into()))?,
        None => 0,
    };
    Ok((start, limit))
}

fn next_token(start: usize, limit: usize, total: usize) -> Option<String> {
    (start + limit < total).then(|| pagination::encode_token(&(start + limit).to_string()))
}

fn wanted(tag_status: Option<TagStatus>, image: &Stored) -> bool {
    match tag_status {
        Some(TagStatus::Tagged) => !image.tags.is_empty(),
        Some(TagStatus::Untagged) => image.tags.is_empty(),
        _ => true,
    }
}

pub async fn list(ctx: &Call<'_>, req: ListImagesRequest) -> Result<ListImagesResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let status = req.filter.as_ref().and_then(|f| f.tag_status);
    let mut ids = Vec::new();
    for image in images(ctx, &name)
        .await?
        .iter()
        .filter(|i| wanted(status, i))
    {
        let digest = Some(image.digest.to_string());
        if image.tags.is_empty() {
            ids.push(ImageIdentifier {
                image_digest: digest.clone(),
                image_tag: None,
            });
        }
        for tag in &image.tags {
            ids.push(ImageIdentifier {
                image_digest: digest.clone(),
                image_tag: Some(tag.clone()),
            });
        }
    }
    let (start, limit) = page_bounds(req.max_results, req.next_token.as_deref())?;
    let next = next_token(start, limit, ids.len());
    Ok(ListImagesResponse {
        image_ids: Some(ids.into_iter().skip(start).take(limit).collect()),
        next_token: next,
    })
}

fn detail(ctx: &Call<'_>, name: &RepoName, image: &Stored) -> ImageDetail {
    ImageDetail {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(name.to_string()),
        image_digest: Some(image.digest.to_string()),
        image_tags: (!image.tags.is_empty()).then(|| image.tags.clone()),
        // The sizes are the pusher's word (summed without overflow): past i64, the most.
        image_size_in_bytes: i64::try_from(image.manifest.layers_size).unwrap_or(i64::MAX),
        image_pushed_at: Some(Timestamp::from_millis(image.manifest.pushed_at as i64)),
        image_manifest_media_type: Some(image.manifest.media_type.clone()),
        artifact_media_type: image.manifest.config_media_type.clone(),
        subject_manifest_digest: image.manifest.subject.as_ref().map(Digest::to_string),
        ..Default::default()
    }
}

/// Which stored image an identifier names: by digest, by tag, or both (which must agree).
fn find<'a>(all: &'a [Stored], id: &ImageIdentifier) -> Result<&'a Stored, ImageFailure> {
    let failure = |code, reason: &str| ImageFailure {
        image_id: Some(id.clone()),
        failure_code: Some(code),
        failure_reason: Some(reason.to_string()),
    };
    if id.image_digest.is_none() && id.image_tag.is_none() {
        return Err(failure(
            ImageFailureCode::MissingDigestAndTag,
            "Invalid request parameters: both tag and digest cannot be null",
        ));
    }
    if let Some(d) = &id.image_digest {
        if d.parse::<Digest>().is_err() {
            return Err(failure(
                ImageFailureCode::InvalidImageDigest,
                "Invalid image digest",
            ));
        }
    }
    if let Some(t) = &id.image_tag {
        if Tag::parse(t).is_err() {
            return Err(failure(
                ImageFailureCode::InvalidImageTag,
                "Invalid image tag",
            ));
        }
    }
    let found = all.iter().find(|i| {
        id.image_digest
            .as_deref()
            .is_none_or(|d| i.digest.to_string() == d)
            && id.image_tag.as_ref().is_none_or(|t| i.tags.contains(t))
    });
    found.ok_or_else(|| failure(ImageFailureCode::ImageNotFound, "Requested image not found"))
}

pub async fn describe(
    ctx: &Call<'_>,
    req: DescribeImagesRequest,
) -> Result<DescribeImagesResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let all = images(ctx, &name).await?;
    if let Some(ids) = req.image_ids.filter(|ids| !ids.is_empty()) {
        let mut details = Vec::new();
        for id in &ids {
            let image = find(&all, id).map_err(|f| {
                ApiError::ImageNotFound(format!(
                    "The image with imageId {} does not exist within the repository with name \
                     '{name}' in the registry with id '{}'",
                    serde_json::to_string(&f.image_id).unwrap_or_default(),
                    ctx.caller.account
                ))
            })?;
            details.push(detail(ctx, &name, image));
        }
        return Ok(DescribeImagesResponse {
            image_details: Some(details),
            next_token: None,
        });
    }
    let status = req.filter.as_ref().and_then(|f| f.tag_status);
    let chosen: Vec<&Stored> = all.iter().filter(|i| wanted(status, i)).collect();
    let (start, limit) = page_bounds(req.max_results, req.next_token.as_deref())?;
    Ok(DescribeImagesResponse {
        next_token: next_token(start, limit, chosen.len()),
        image_details: Some(
            chosen
                .into_iter()
                .skip(start)
                .take(limit)
                .map(|i| detail(ctx, &name, i))
                .collect(),
        ),
    })
}

pub async fn batch_get(
    ctx: &Call<'_>,
    req: BatchGetImageRequest,
) -> Result<BatchGetImageResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let all = images(ctx, &name).await?;
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for id in &req.image_ids {
        match find(&all, id) {
            Ok(image) => {
                let bytes = ctx
                    .ecr
                    .registry
                    .blobs
                    .read_small(&image.digest)
                    .await
                    .map_err(|e| ApiError::Server(e.to_string()))?;
                found.push(Image {
                    registry_id: Some(ctx.caller.account.clone()),
                    repository_name: Some(name.to_string()),
                    image_id: Some(ImageIdentifier {
                        image_digest: Some(image.digest.to_string()),
                        image_tag: id.image_tag.clone(),
                    }),
                    image_manifest: Some(String::from_utf8_lossy(&bytes).into_owned()),
                    image_manifest_media_type: Some(image.manifest.media_type.clone()),
                });
            }
            Err(f) => failures.push(f),
        }
    }
    Ok(BatchGetImageResponse {
        images: Some(found),
        failures: Some(failures),
    })
}

pub async fn batch_delete(
    ctx: &Call<'_>,
    req: BatchDeleteImageRequest,
) -> Result<BatchDeleteImageResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let registry = &ctx.ecr.registry;
    let scope = scope(ctx);
    let all = images(ctx, &name).await?;
    let (mut deleted, mut failures) = (Vec::new(), Vec::new());
    // Per image, the tags this call has removed so far.
    let mut untagged: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    for id in &req.image_ids {
        let image = match find(&all, id) {
            Ok(image) => image,
            Err(f) => {
                failures.push(f);
                continue;
            }
        };
        match (&id.image_tag, &id.image_digest) {
            // A tag alone: the tag goes; when it was the image's last, the image goes
            // with it, as in ECR.
            (Some(tag), None) => {
                let parsed =
                    Tag::parse(tag).map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
                registry
                    .metadata
                    .delete_tag(&scope, &name, &parsed)
                    .await
                    .map_err(metadata_error)?;
                let gone = untagged.entry(image.digest.to_string()).or_default();
                gone.insert(tag.clone());
                if image.tags.iter().all(|t| gone.contains(t)) {
                    registry
                        .delete_image(&scope, &name, &image.digest)
                        .await
                        .map_err(metadata_error)?;
                }
            }
            // A digest: the manifest and every tag on it go.
            _ => {
                registry
                    .delete_image(&scope, &name, &image.digest)
                    .await
                    .map_err(metadata_error)?;
            }
        }
        deleted.push(ImageIdentifier {
            image_digest: Some(image.digest.to_string()),
            image_tag: id.image_tag.clone(),
        });
    }
    Ok(BatchDeleteImageResponse {
        image_ids: Some(deleted),
        failures: Some(failures),
    })
}

/// Whether the repository holds each layer (a blob pushed or mounted into it).
pub async fn check_layers(
    ctx: &Call<'_>,
    req: BatchCheckLayerAvailabilityRequest,
) -> Result<BatchCheckLayerAvailabilityResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let metadata = ctx.ecr.registry.metadata();
    let scope = scope(ctx);
    let (mut layers, mut failures) = (Vec::new(), Vec::new());
    for text in &req.layer_digests {
        let Ok(digest) = text.parse::<Digest>() else {
            failures.push(LayerFailure {
                layer_digest: Some(text.clone()),
                failure_code: Some(LayerFailureCode::InvalidLayerDigest),
                failure_reason: Some("Invalid layer digest".into()),
            });
            continue;
        };
        match metadata
            .blob_link(&scope, &name, &digest)
            .await
            .map_err(metadata_error)?
        {
            Some(link) => layers.push(Layer {
                layer_digest: Some(text.clone()),
                layer_availability: Some(LayerAvailability::Available),
                layer_size: link.size as i64,
                media_type: None,
            }),
            None => failures.push(LayerFailure {
                layer_digest: Some(text.clone()),
                failure_code: Some(LayerFailureCode::MissingLayerDigest),
                failure_reason: Some("Requested layer not found".into()),
            }),
        }
    }
    Ok(BatchCheckLayerAvailabilityResponse {
        layers: Some(layers),
        failures: Some(failures),
    })
}

/// PutImage: stores a manifest whose layers are already in the repository (pushed with
/// `docker push`, or another image's), under an optional tag — the way to retag an
/// image without pulling it.
pub async fn put(ctx: &Call<'_>, req: PutImageRequest) -> Result<PutImageResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let scope = scope(ctx);
    let tag = req
        .image_tag
        .as_deref()
        .map(Tag::parse)
        .transpose()
        .map_err(|e| {
            ApiError::InvalidParameter(format!(
                "Invalid parameter at 'imageTag' failed to satisfy constraint: {e}"
            ))
        })?;
    let named = req
        .image_digest
        .as_deref()
        .map(str::parse::<Digest>)
        .transpose()
        .map_err(|e| {
            ApiError::InvalidParameter(format!(
                "Invalid parameter at 'imageDigest' failed to satisfy constraint: {e}"
            ))
        })?;
    let bytes = bytes::Bytes::from(req.image_manifest.clone().into_bytes());
    let digest = Digest::of(&bytes);
    let existing = images(ctx, &name).await?;
    let held = existing.iter().find(|i| i.digest == digest);
    if held.is_some_and(|i| req.image_tag.as_ref().is_none_or(|t| i.tags.contains(t))) {
        return Err(ApiError::ImageAlreadyExists(format!(
            "Image with digest '{digest}'{} already exists in the repository with name \
             '{name}' in registry with id '{}'",
            tag.as_ref()
                .map(|t| format!(" and tag '{t}'"))
                .unwrap_or_default(),
            ctx.caller.account
        )));
    }
    let tags: Vec<Tag> = tag.iter().cloned().collect();
    let pushed = ctx
        .ecr
        .registry
        .push_manifest(
            &scope,
            &name,
            bytes,
            req.image_manifest_media_type.as_deref(),
            named.as_ref(),
            &tags,
        )
        .await
        .map_err(|e| push_error(e, &name))?;
    Ok(PutImageResponse {
        image: Some(Image {
            registry_id: Some(ctx.caller.account.clone()),
            repository_name: Some(name.to_string()),
            image_id: Some(ImageIdentifier {
                image_digest: Some(pushed.digest.to_string()),
                image_tag: req.image_tag,
            }),
            image_manifest: Some(req.image_manifest),
            image_manifest_media_type: Some(pushed.record.media_type),
        }),
    })
}

fn push_error(e: PushError, name: &RepoName) -> ApiError {
    match e {
        PushError::Manifest(e) => ApiError::InvalidParameter(format!(
            "Invalid parameter at 'imageManifest' failed to satisfy constraint: {e}"
        )),
        PushError::DigestMismatch { named, actual } => ApiError::ImageDigestDoesNotMatch(format!(
            "The image digest '{named}' does not match the digest of the manifest, '{actual}'"
        )),
        PushError::Metadata(MetadataError::ReferencesUnknown { missing, .. }) => {
            let list: Vec<String> = missing.iter().map(Digest::to_string).collect();
            ApiError::LayersNotFound(format!(
                "Layers or images [{}] are not in the repository with name '{name}'; push \
                 them first",
                list.join(", ")
            ))
        }
        PushError::Metadata(e) => metadata_error(e),
        PushError::Blobs(e) => ApiError::Server(e.to_string()),
    }
}

/// GetDownloadUrlForLayer: a URL anyone holding it may fetch the layer from, for an
/// hour (see [`super::download`]).
pub async fn download_url(
    ctx: &Call<'_>,
    req: GetDownloadUrlForLayerRequest,
) -> Result<GetDownloadUrlForLayerResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let digest: Digest = req.layer_digest.parse().map_err(|e| {
        ApiError::InvalidParameter(format!(
            "Invalid parameter at 'layerDigest' failed to satisfy constraint: {e}"
        ))
    })?;
    let scope = scope(ctx);
    let linked = ctx
        .ecr
        .registry
        .metadata()
        .blob_link(&scope, &name, &digest)
        .await
        .map_err(metadata_error)?;
    if linked.is_none() {
        return Err(ApiError::LayersNotFound(format!(
            "The layer '{digest}' does not exist in the repository with name '{name}' in \
             the registry with id '{}'",
            ctx.caller.account
        )));
    }
    let now = ctx.core.clock.now().as_secs_f64() as i64;
    let grant = crate::registry_token::DownloadGrant {
        account: scope.account,
        region: scope.region,
        repository: name.to_string(),
        digest: digest.to_string(),
        expires: now + crate::registry_token::DOWNLOAD_LIFETIME.as_secs() as i64,
    };
    let token = ctx.ecr.key.sign_download(&grant);
    Ok(GetDownloadUrlForLayerResponse {
        download_url: Some(super::download::url(ctx.ecr, &token)),
        layer_digest: Some(digest.to_string()),
    })
}
