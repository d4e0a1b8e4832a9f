//! `GET`, `HEAD` and `DELETE /v2/NAME/blobs/DIGEST`. A repository serves a blob it
//! links (or a manifest it holds, which is a blob too), streamed from the blob store,
//! whole or as one byte range.

use axum::body::Body;
use axum::http::Method;
use axum::response::Response;
use http::header::{
    HeaderName, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE,
};
use http::StatusCode;

use super::error::{ApiError, Code};
use super::ranges::{resolve_range, RangeRequest};
use super::{answer, digest_header, Call, Result};
use crate::auth::Action;
use crate::digest::Digest;
use crate::names::RepoName;
use crate::{Registry, Scope};

pub async fn handle(
    call: &Call,
    name: &RepoName,
    digest: &str,
    method: Method,
) -> Result<Response> {
    match method {
        Method::GET | Method::HEAD => get(call, name, digest, method == Method::HEAD).await,
        Method::DELETE => delete(call, name, digest).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn get(call: &Call, name: &RepoName, digest: &str, head: bool) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Pull).await?;
    let digest: Digest = digest.parse().map_err(crate::names::NameError::from)?;
    serve(
        &call.registry,
        &scope,
        name,
        &digest,
        call.header(RANGE),
        head,
    )
    .await
}

/// Answers a GET (or HEAD) of a blob that repository `name` links, whole or the byte
/// range `range` asks for. The caller has authorized the request.
pub(super) async fn serve(
    registry: &Registry,
    scope: &Scope,
    name: &RepoName,
    digest: &Digest,
    range: Option<&str>,
    head: bool,
) -> Result<Response> {
    let digest = digest.clone();
    let metadata = &registry.metadata;
    let linked = metadata.blob_link(scope, name, &digest).await?.is_some()
        || metadata.manifest(scope, name, &digest).await?.is_some();
    if !linked {
        return Err(unknown(&digest));
    }
    // A HEAD needs the size only; a GET opens the file once and streams from it.
    let (size, file) = if head {
        match registry.blobs.stat(&digest).await? {
            Some(size) => (size, None),
            None => return Err(unknown(&digest)),
        }
    } else {
        let file = registry
            .blobs
            .open_blob(&digest)
            .await
            .map_err(|e| match e {
                crate::blobs::BlobError::BlobUnknown(_) => unknown(&digest),
                e => e.into(),
            })?;
        (file.size(), Some(file))
    };
    let (status, start, len, mut headers) = match resolve_range(range, size) {
        RangeRequest::Whole => (StatusCode::OK, 0, size, vec![]),
        RangeRequest::Part { start, end } => (
            StatusCode::PARTIAL_CONTENT,
            start,
            end - start + 1,
            vec![(CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))],
        ),
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::new(
                Code::Unsupported,
                "the requested range is outside the blob",
            )
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_header(CONTENT_RANGE, format!("bytes */{size}")));
        }
    };
    headers.extend([
        (CONTENT_LENGTH, len.to_string()),
        (CONTENT_TYPE, "application/octet-stream".to_owned()),
        (ACCEPT_RANGES, "bytes".to_owned()),
        (ETAG, format!("\"{digest}\"")),
        (digest_header(), digest.to_string()),
    ]);
    let body = match file {
        None => Body::empty(),
        Some(file) => Body::from_stream(file.stream(start, len).await?),
    };
    Ok(answer(status, headers, body))
}

async fn delete(call: &Call, name: &RepoName, digest: &str) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Delete).await?;
    let digest: Digest = digest.parse().map_err(crate::names::NameError::from)?;
    if !call
        .registry
        .metadata
        .unlink_blob(&scope, name, &digest)
        .await?
    {
        return Err(unknown(&digest));
    }
    let headers: Vec<(HeaderName, String)> = vec![
        (CONTENT_LENGTH, "0".into()),
        (digest_header(), digest.to_string()),
    ];
    Ok(answer(StatusCode::ACCEPTED, headers, Body::empty()))
}

fn unknown(digest: &Digest) -> ApiError {
    ApiError::new(
        Code::BlobUnknown,
        format!("blob {digest} is unknown to the repository"),
    )
    .with_detail(serde_json::json!({ "digest": digest.to_string() }))
}
