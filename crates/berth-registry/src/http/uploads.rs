//! Blob uploads: `POST /v2/NAME/blobs/uploads/` starts one (or stores a whole blob with
//! `?digest=`, or mounts one from another repository with `?mount=&from=`), and
//! `/v2/NAME/blobs/uploads/ID` takes chunks (`PATCH`), reports progress (`GET`),
//! finishes (`PUT ?digest=`) or cancels (`DELETE`). Bodies stream into the blob store;
//! a finished blob is linked into the repository.

use axum::body::Body;
use axum::http::Method;
use axum::response::Response;
use http::header::{HeaderName, CONTENT_LENGTH, CONTENT_RANGE, LOCATION, RANGE, TRANSFER_ENCODING};
use http::StatusCode;

use super::error::{ApiError, Code};
use super::ranges::{parse_content_range, upload_range};
use super::{answer, digest_header, Call, Result};
use crate::auth::Action;
use crate::blobs::{BlobError, ChunkRange, UploadId};
use crate::digest::Digest;
use crate::metadata::{keys, MetadataError};
use crate::names::{NameError, RepoName};
use crate::Scope;

/// `POST /v2/NAME/blobs/uploads/`.
pub async fn start(call: &Call, name: &RepoName, body: Body) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Push).await?;
    let registry = &call.registry;
    if registry.metadata.repository(&scope, name).await?.is_none() {
        return Err(MetadataError::repository_not_found(&scope, name).into());
    }
    if let Some(mount) = call.param("mount")? {
        let from = call.param("from")?;
        if let Some(mounted) = self::mount(call, &scope, name, &mount, from).await? {
            return Ok(mounted);
        }
    }
    if let Some(digest) = call.param("digest")? {
        let digest = parse_digest(&digest)?;
        let size = registry.blobs.put(&digest, body.into_data_stream()).await?;
        registry
            .metadata
            .link_blob(&scope, name, &digest, size)
            .await?;
        return Ok(created(name, &digest));
    }
    let id = registry.blobs.start_upload(&owner(&scope, name)).await?;
    Ok(progress(StatusCode::ACCEPTED, name, &id, 0))
}

/// Links a blob that repository `from` holds into `name`, when the caller may pull it;
/// `None` (start a normal upload instead) when it cannot be mounted.
async fn mount(
    call: &Call,
    scope: &Scope,
    name: &RepoName,
    digest: &str,
    from: Option<String>,
) -> Result<Option<Response>> {
    let digest = parse_digest(digest)?;
    let Some(from) = from.and_then(|from| RepoName::parse(&from).ok()) else {
        return Ok(None);
    };
    match call.authorize(Some(&from), Action::Pull).await {
        Ok(from_scope) if from_scope == *scope => {}
        _ => return Ok(None),
    }
    let metadata = &call.registry.metadata;
    match metadata.blob_link(scope, &from, &digest).await {
        Ok(Some(_)) => {}
        Ok(None) | Err(MetadataError::RepositoryNotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let Some(size) = call.registry.blobs.keep(&digest).await? else {
        return Ok(None);
    };
    metadata.link_blob(scope, name, &digest, size).await?;
    Ok(Some(created(name, &digest)))
}

/// `/v2/NAME/blobs/uploads/ID`.
pub async fn handle(
    call: &Call,
    name: &RepoName,
    id: &str,
    method: Method,
    body: Body,
) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Push).await?;
    let id = UploadId::parse(id)?;
    let owner = owner(&scope, name);
    let blobs = &call.registry.blobs;
    match method {
        Method::GET => {
            let status = blobs.upload_status(&id, &owner).await?;
            Ok(progress(StatusCode::NO_CONTENT, name, &id, status.offset))
        }
        Method::PATCH => {
            let range = chunk_range(call, name, &id)?;
            let status = blobs
                .append_upload(&id, &owner, range, body.into_data_stream())
                .await
                .map_err(|e| chunk_error(e, name, &id))?;
            Ok(progress(StatusCode::ACCEPTED, name, &id, status.offset))
        }
        Method::PUT => {
            let digest = call.param("digest")?.ok_or_else(|| {
                ApiError::new(
                    Code::DigestInvalid,
                    "the digest query parameter is required",
                )
            })?;
            let digest = parse_digest(&digest)?;
            let (range, body) = if has_body(call) {
                (chunk_range(call, name, &id)?, Some(body.into_data_stream()))
            } else {
                (None, None)
            };
            let size = blobs
                .complete_upload(&id, &owner, &digest, range, body)
                .await
                .map_err(|e| chunk_error(e, name, &id))?;
            call.registry
                .metadata
                .link_blob(&scope, name, &digest, size)
                .await?;
            Ok(created(name, &digest))
        }
        Method::DELETE => {
            blobs.cancel_upload(&id, &owner).await?;
            let headers = vec![(CONTENT_LENGTH, "0".to_owned())];
            Ok(answer(StatusCode::NO_CONTENT, headers, Body::empty()))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Who an upload belongs to: the repository, within its scope.
fn owner(scope: &Scope, name: &RepoName) -> String {
    keys::content(scope, name)
}

fn parse_digest(digest: &str) -> Result<Digest> {
    digest
        .parse::<Digest>()
        .map_err(|e| NameError::from(e).into())
}

/// The request's `Content-Range`, when it has one; a malformed one is a 416.
fn chunk_range(call: &Call, name: &RepoName, id: &UploadId) -> Result<Option<ChunkRange>> {
    let Some(header) = call.header(CONTENT_RANGE) else {
        return Ok(None);
    };
    match parse_content_range(header) {
        Some(range) => Ok(Some(range)),
        None => Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("invalid Content-Range '{header}': expected START-END"),
        )
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
        .with_header(LOCATION, location(name, id))),
    }
}

/// An out-of-order chunk's answer tells the client where the upload stands.
fn chunk_error(e: BlobError, name: &RepoName, id: &UploadId) -> ApiError {
    match e {
        BlobError::OutOfOrder { offset, .. } => ApiError::from(e)
            .with_header(LOCATION, location(name, id))
            .with_header(RANGE, upload_range(offset))
            .with_header(upload_uuid_header(), id.to_string()),
        e => e.into(),
    }
}

fn has_body(call: &Call) -> bool {
    call.headers.contains_key(TRANSFER_ENCODING)
        || call
            .header(CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

fn location(name: &RepoName, id: &UploadId) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn upload_uuid_header() -> HeaderName {
    HeaderName::from_static("docker-upload-uuid")
}

/// 202/204 with where the upload is and how much it holds.
fn progress(status: StatusCode, name: &RepoName, id: &UploadId, offset: u64) -> Response {
    let headers = vec![
        (LOCATION, location(name, id)),
        (RANGE, upload_range(offset)),
        (upload_uuid_header(), id.to_string()),
        (CONTENT_LENGTH, "0".to_owned()),
    ];
    answer(status, headers, Body::empty())
}

/// 201 for a blob now in the repository.
fn created(name: &RepoName, digest: &Digest) -> Response {
    let headers = vec![
        (LOCATION, format!("/v2/{name}/blobs/{digest}")),
        (digest_header(), digest.to_string()),
        (CONTENT_LENGTH, "0".to_owned()),
    ];
    answer(StatusCode::CREATED, headers, Body::empty())
}
