//! `GET`, `HEAD`, `PUT` and `DELETE /v2/NAME/manifests/REFERENCE`, by tag or digest.
//!
//! A manifest is answered with the media type it was pushed with. When the client's
//! `Accept` lists types without a wildcard and the stored type is not among them, the
//! answer is 404 `MANIFEST_UNKNOWN`, as Docker's registry answers (it has no other form
//! of the manifest to offer). A push stores the exact bytes sent, after checking them
//! ([`crate::manifests`]) and checking that everything they reference is in the
//! repository.

use axum::body::Body;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::{HeaderName, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION};
use http::StatusCode;

use super::error::{ApiError, Code};
use super::{answer, digest_header, Call, Result};
use crate::auth::Action;
use crate::blobs::BlobError;
use crate::manifests::{ManifestError, MAX_MANIFEST_SIZE};
use crate::names::{Reference, RepoName, Tag};

pub async fn handle(
    call: &Call,
    name: &RepoName,
    reference: &str,
    method: Method,
    body: Body,
) -> Result<Response> {
    match method {
        Method::GET | Method::HEAD => get(call, name, reference, method == Method::HEAD).await,
        Method::PUT => put(call, name, reference, body).await,
        Method::DELETE => delete(call, name, reference).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn get(call: &Call, name: &RepoName, reference: &str, head: bool) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Pull).await?;
    let reference = Reference::parse(reference)?;
    let registry = &call.registry;
    let Some((digest, record)) = registry.metadata.resolve(&scope, name, &reference).await? else {
        return Err(unknown(&reference));
    };
    if !acceptable(&call.headers, &record.media_type) {
        return Err(ApiError::new(
            Code::ManifestUnknown,
            format!(
                "manifest {reference} is a {}, which the request's Accept header excludes",
                record.media_type
            ),
        ));
    }
    let bytes = registry
        .blobs
        .read_small(&digest)
        .await
        .map_err(|e| match e {
            BlobError::BlobUnknown(_) => unknown(&reference),
            e => e.into(),
        })?;
    let headers = vec![
        (CONTENT_TYPE, record.media_type.clone()),
        (CONTENT_LENGTH, bytes.len().to_string()),
        (digest_header(), digest.to_string()),
        (ETAG, format!("\"{digest}\"")),
    ];
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    Ok(answer(StatusCode::OK, headers, body))
}

async fn put(call: &Call, name: &RepoName, reference: &str, body: Body) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Push).await?;
    let reference = Reference::parse(reference)?;
    let bytes = read_manifest(call, body).await?;
    let (named, mut tags) = match &reference {
        Reference::Digest(named) => (Some(named), Vec::new()),
        Reference::Tag(tag) => (None, vec![tag.clone()]),
    };
    let mut extra_tags = Vec::new();
    for (key, value) in call.query()? {
        if key == "tag" {
            extra_tags.push(Tag::parse(&value)?);
        }
    }
    tags.extend(extra_tags.iter().cloned());
    let pushed = call
        .registry
        .push_manifest(&scope, name, bytes, call.header(CONTENT_TYPE), named, &tags)
        .await?;
    let digest = pushed.digest;
    let mut headers = vec![
        (LOCATION, format!("/v2/{name}/manifests/{digest}")),
        (digest_header(), digest.to_string()),
        (CONTENT_LENGTH, "0".to_owned()),
    ];
    if let Some(subject) = &pushed.manifest.subject {
        headers.push((
            HeaderName::from_static("oci-subject"),
            subject.digest.to_string(),
        ));
    }
    for tag in extra_tags {
        headers.push((HeaderName::from_static("oci-tag"), tag.to_string()));
    }
    Ok(answer(StatusCode::CREATED, headers, Body::empty()))
}

/// The request body, refused once it passes the manifest size limit.
async fn read_manifest(call: &Call, body: Body) -> Result<Bytes> {
    let announced = call
        .header(CONTENT_LENGTH)
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(size) = announced.filter(|size| *size > MAX_MANIFEST_SIZE) {
        return Err(ManifestError::TooLarge { size }.into());
    }
    let mut stream = body.into_data_stream();
    let mut buffer = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                Code::ManifestInvalid,
                format!("reading the manifest failed: {e}"),
            )
        })?;
        let size = buffer.len() + chunk.len();
        if size > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge { size }.into());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

async fn delete(call: &Call, name: &RepoName, reference: &str) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Delete).await?;
    let reference = Reference::parse(reference)?;
    let registry = &call.registry;
    let deleted = match &reference {
        Reference::Tag(tag) => registry.metadata.delete_tag(&scope, name, tag).await?,
        Reference::Digest(digest) => registry.delete_image(&scope, name, digest).await?.is_some(),
    };
    if !deleted {
        return Err(unknown(&reference));
    }
    let headers = vec![(CONTENT_LENGTH, "0".to_owned())];
    Ok(answer(StatusCode::ACCEPTED, headers, Body::empty()))
}

/// Whether the request's `Accept` headers admit `media_type`. No `Accept`, `*/*` or a
/// matching `type/*` admits everything.
fn acceptable(headers: &HeaderMap, media_type: &str) -> bool {
    let accepted: Vec<String> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            let v = v.split(';').next().unwrap_or("");
            v.trim().to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .collect();
    accepted.is_empty()
        || accepted.iter().any(|a| {
            a == "*/*"
                || a == media_type
                || a.strip_suffix('*')
                    .is_some_and(|prefix| prefix.ends_with('/') && media_type.starts_with(prefix))
        })
}

fn unknown(reference: &Reference) -> ApiError {
    ApiError::new(
        Code::ManifestUnknown,
        format!("manifest {reference} is unknown to the repository"),
    )
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::manifests::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn accept_headers_narrow_what_is_answered() {
        assert!(acceptable(&accept(&[]), OCI_MANIFEST));
        assert!(acceptable(&accept(&["*/*"]), OCI_MANIFEST));
        assert!(acceptable(&accept(&["application/*"]), OCI_MANIFEST));
        assert!(acceptable(
            &accept(&[&format!("{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.9")]),
            OCI_MANIFEST
        ));
        assert!(acceptable(
            &accept(&[DOCKER_MANIFEST, OCI_INDEX]),
            OCI_INDEX
        ));
        assert!(!acceptable(&accept(&[DOCKER_MANIFEST]), OCI_MANIFEST));
        assert!(!acceptable(&accept(&["text/*"]), OCI_MANIFEST));
    }
}
