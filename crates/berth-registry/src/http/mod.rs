//! The distribution API over HTTP: one axum [`Router`] for `/v2/`.
//!
//! Every request under `/v2/` goes through `dispatch`: the path is parsed into a
//! [`route::Route`] (names contain `/`, so axum's router cannot split them), the
//! repository name is validated, the [`crate::auth::Authorizer`] decides who may act and
//! where, and one handler per endpoint family does the work (`blobs`, `uploads`,
//! `manifests`, `lists`). Failures are [`error::ApiError`]s, turned into the spec's JSON
//! errors in one place. Every answer carries `Docker-Distribution-API-Version`.
//!
//! Request bodies are streamed to disk (blobs) or read up to the manifest size limit
//! (manifests); nothing else is buffered.

mod blobs;
pub mod error;
mod lists;
mod manifests;
mod ranges;
pub mod route;
mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;

use crate::auth::Action;
use crate::names::RepoName;
use crate::{Registry, Scope};
use error::{auth_error, ApiError};
use route::Route;

/// The header naming the API version on every answer.
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";

/// The router of the distribution API; mount it at the root of a server.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", get(ping))
        .route("/v2/", get(ping))
        .route("/v2/{*rest}", any(dispatch))
        .with_state(registry)
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Serves a blob of repository `name` as `GET /v2/NAME/blobs/DIGEST` would (with the
/// `Range` header's value, if any), for a request the caller authorized in its own way
/// (ECR's layer download URLs). Errors are the spec's JSON errors.
pub async fn serve_blob(
    registry: &Registry,
    scope: &Scope,
    name: &RepoName,
    digest: &crate::Digest,
    range: Option<&str>,
) -> Response {
    let served = blobs::serve(registry, scope, name, digest, range, false).await;
    with_version(served.unwrap_or_else(IntoResponse::into_response))
}

/// One request as the handlers see it.
struct Call {
    registry: Arc<Registry>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Call {
    /// Authorizes `action` on `repo` (or on the registry).
    async fn authorize(&self, repo: Option<&RepoName>, action: Action) -> Result<Scope> {
        let authorizer = &self.registry.authorizer;
        let head = crate::auth::RequestHead {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
        };
        authorizer
            .authorize(&head, repo.map(RepoName::as_str), action)
            .await
            .map_err(|e| auth_error(e, authorizer.realm()))
    }

    /// The query's pairs, in order (a key may repeat).
    fn query(&self) -> Result<Vec<(String, String)>> {
        Query::<Vec<(String, String)>>::try_from_uri(&self.uri)
            .map(|q| q.0)
            .map_err(|e| {
                ApiError::new(error::Code::Unsupported, format!("invalid query: {e}"))
                    .with_status(StatusCode::BAD_REQUEST)
            })
    }

    /// The first value of query parameter `key`.
    fn param(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .query()?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }

    /// A request header as text.
    fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn ping(
    State(registry): State<Arc<Registry>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let authorizer = &registry.authorizer;
    let head = crate::auth::RequestHead {
        method: &method,
        uri: &uri,
        headers: &headers,
    };
    let result = authorizer.authorize(&head, None, Action::Ping).await;
    let response = match result {
        Ok(_) => ([(http::header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Err(e) => auth_error(e, authorizer.realm()).into_response(),
    };
    with_version(response)
}

async fn dispatch(
    State(registry): State<Arc<Registry>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let call = Call {
        registry,
        method,
        uri,
        headers,
    };
    let response = match handle(call, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    with_version(response)
}

async fn handle(call: Call, body: Body) -> Result<Response> {
    let route = route::parse(call.uri.path()).ok_or_else(ApiError::no_route)?;
    let method = call.method.clone();
    match (route, method) {
        (Route::Catalog, Method::GET) => lists::catalog(&call).await,
        (Route::Tags { name }, Method::GET) => lists::tags(&call, &repo(&name)?).await,
        (Route::Referrers { name, digest }, Method::GET) => {
            lists::referrers(&call, &repo(&name)?, &digest).await
        }
        (Route::Manifest { name, reference }, m) => {
            manifests::handle(&call, &repo(&name)?, &reference, m, body).await
        }
        (Route::Blob { name, digest }, m) => blobs::handle(&call, &repo(&name)?, &digest, m).await,
        (Route::UploadStart { name }, Method::POST) => {
            uploads::start(&call, &repo(&name)?, body).await
        }
        (Route::Upload { name, id }, m) => {
            uploads::handle(&call, &repo(&name)?, &id, m, body).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn repo(name: &str) -> Result<RepoName> {
    Ok(RepoName::parse(name)?)
}

fn with_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static(API_VERSION_HEADER),
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// Builds an answer from a status, headers and a body.
fn answer(status: StatusCode, headers: Vec<(HeaderName, String)>, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        match HeaderValue::from_str(&value) {
            Ok(value) => {
                response.headers_mut().append(name, value);
            }
            Err(_) => tracing::warn!(header = %name, "dropped a response header that is not valid"),
        }
    }
    response
}

/// `Docker-Content-Digest`.
fn digest_header() -> HeaderName {
    HeaderName::from_static("docker-content-digest")
}
