//! GetDownloadUrlForLayer's URLs: `GET /ecr/layers/TOKEN` serves one layer to whoever
//! holds the URL, without other credentials, as ECR's pre-signed S3 URLs do. The token
//! is a download grant ([`crate::registry_token::DownloadGrant`]) signed with the
//! registry's key; it names the repository and digest and expires after
//! [`crate::registry_token::DOWNLOAD_LIFETIME`]. The layer must still be in the
//! repository when it is fetched. `Range` requests work as on the registry.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use berth_registry::{Digest, RepoName, Scope};
use http::header::RANGE;
use http::StatusCode;

use super::Ecr;
use crate::context::Clock;

/// Where download URLs point, under the API's own address.
pub const ROUTE: &str = "/ecr/layers/{token}";

/// The URL of a grant's token.
pub fn url(ecr: &Ecr, token: &str) -> String {
    format!("http://{}/ecr/layers/{token}", ecr.host)
}

/// `GET /ecr/layers/TOKEN`.
pub async fn layer(
    State(ecr): State<Arc<Ecr>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let now = Clock.now().as_secs_f64() as i64;
    let grant = match ecr.key.verify_download(&token, now) {
        Ok(grant) => grant,
        Err(e) => return (StatusCode::FORBIDDEN, format!("{e}\n")).into_response(),
    };
    let (Ok(name), Ok(digest)) = (
        RepoName::parse(&grant.repository),
        grant.digest.parse::<Digest>(),
    ) else {
        return (StatusCode::FORBIDDEN, "the grant names no valid layer\n").into_response();
    };
    let scope = Scope {
        account: grant.account,
        region: grant.region,
    };
    let range = headers.get(RANGE).and_then(|v| v.to_str().ok());
    berth_registry::http::serve_blob(&ecr.registry, &scope, &name, &digest, range).await
}
