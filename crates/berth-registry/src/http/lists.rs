//! The listing endpoints: a repository's tags (`/v2/NAME/tags/list`), the catalog of
//! repositories (`/v2/_catalog`), both paginated with `n` and `last` and a
//! `Link: <…>; rel="next"` header while more follow, and the referrers of a manifest
//! (`/v2/NAME/referrers/DIGEST`, an OCI index, optionally filtered by `artifactType`).

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderName, CONTENT_TYPE, LINK};
use http::StatusCode;
use serde_json::json;

use super::error::{ApiError, Code};
use super::{answer, Call, Result};
use crate::auth::Action;
use crate::digest::Digest;
use crate::manifests::OCI_INDEX;
use crate::names::{NameError, RepoName};

/// The most entries one page returns, whatever `n` asks (the `Link` header leads on).
/// Without `n`, the whole list is returned, as the spec describes.
pub const MAX_PAGE: usize = 1000;

/// `n` and `last` of a listing request.
struct Paging {
    /// `None`: no `n` given.
    n: Option<usize>,
    last: Option<String>,
}

impl Paging {
    fn of(call: &Call) -> Result<Paging> {
        let n = match call.param("n")? {
            None => None,
            Some(n) => Some(n.trim().parse::<usize>().map_err(|_| {
                ApiError::new(
                    Code::Unsupported,
                    format!("invalid n '{n}': expected a non-negative integer"),
                )
                .with_status(StatusCode::BAD_REQUEST)
            })?),
        };
        let last = call.param("last")?.filter(|last| !last.is_empty());
        Ok(Paging { n, last })
    }

    /// The store limit for this page (0: everything).
    fn limit(&self) -> usize {
        self.n.map_or(0, |n| n.min(MAX_PAGE))
    }
}

/// `GET /v2/NAME/tags/list`.
pub async fn tags(call: &Call, name: &RepoName) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Pull).await?;
    let paging = Paging::of(call)?;
    let metadata = &call.registry.metadata;
    if paging.n == Some(0) {
        // Still a 404 for an unknown repository.
        metadata.list_tags(&scope, name, None, 1).await?;
        return Ok(page_answer(
            json!({"name": name.as_str(), "tags": []}),
            None,
        ));
    }
    let page = metadata
        .list_tags(&scope, name, paging.last.as_deref(), paging.limit())
        .await?;
    let link = page.more.then(|| page.tags.last()).flatten().map(|last| {
        format!(
            "</v2/{name}/tags/list?n={}&last={last}>; rel=\"next\"",
            paging.limit()
        )
    });
    let body = json!({"name": name.as_str(), "tags": page.tags});
    Ok(page_answer(body, link))
}

/// `GET /v2/_catalog`.
pub async fn catalog(call: &Call) -> Result<Response> {
    let scope = call.authorize(None, crate::auth::Action::Catalog).await?;
    let paging = Paging::of(call)?;
    if paging.n == Some(0) {
        return Ok(page_answer(json!({"repositories": []}), None));
    }
    let page = call
        .registry
        .metadata
        .list_repositories(&scope, paging.last.as_deref(), paging.limit())
        .await?;
    let names: Vec<&str> = page.repositories.iter().map(|r| r.name.as_str()).collect();
    let link = page.more.then(|| names.last()).flatten().map(|last| {
        format!(
            "</v2/_catalog?n={}&last={last}>; rel=\"next\"",
            paging.limit()
        )
    });
    Ok(page_answer(json!({ "repositories": names }), link))
}

/// `GET /v2/NAME/referrers/DIGEST`.
pub async fn referrers(call: &Call, name: &RepoName, subject: &str) -> Result<Response> {
    let scope = call.authorize(Some(name), Action::Pull).await?;
    let subject: Digest = subject.parse().map_err(NameError::from)?;
    let filter = call.param("artifactType")?.filter(|t| !t.is_empty());
    let mut referrers = call
        .registry
        .metadata
        .referrers(&scope, name, &subject)
        .await?;
    if let Some(filter) = &filter {
        referrers.retain(|r| r.artifact_type.as_deref() == Some(filter.as_str()));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": referrers,
    });
    let mut headers = vec![(CONTENT_TYPE, OCI_INDEX.to_owned())];
    if filter.is_some() {
        headers.push((
            HeaderName::from_static("oci-filters-applied"),
            "artifactType".to_owned(),
        ));
    }
    Ok(answer(
        StatusCode::OK,
        headers,
        Body::from(index.to_string()),
    ))
}

fn page_answer(body: serde_json::Value, link: Option<String>) -> Response {
    let mut headers = vec![(CONTENT_TYPE, "application/json".to_owned())];
    if let Some(link) = link {
        headers.push((LINK, link));
    }
    answer(StatusCode::OK, headers, Body::from(body.to_string()))
}
