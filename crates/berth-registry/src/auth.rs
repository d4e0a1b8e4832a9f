//! Who may do what: the [`Authorizer`] the server plugs in decides, from a request's
//! method, URI and headers ([`RequestHead`]), whether the caller may perform an
//! [`Action`] on a repository, and in which
//! account and region ([`Scope`]) the request acts. [`BasicAuthorizer`] is a fixed
//! user and password, for tests and single-user setups.
//!
//! A refusal is either [`AuthError::Unauthenticated`] (401 with a
//! `WWW-Authenticate: Basic realm="…"` challenge, so Docker and skopeo send their
//! credentials) or [`AuthError::Denied`] (403).

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderMap, Method, Uri};

use crate::Scope;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `GET /v2/`: only check that the caller is known.
    Ping,
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete blobs, manifests and tags.
    Delete,
    /// List repositories.
    Catalog,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials that may not perform this action.
    #[error("{0}")]
    Denied(String),
}

/// What an authorizer may look at of a request: an authorizer that maps each route to
/// finer permissions than [`Action`] (ECR's) reads the method and URI.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

/// Decides whether a request may act, and where.
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// Checks the request's credentials for `action` on `repo` (`None` for `Ping` and
    /// `Catalog`) and returns the scope the request acts in.
    async fn authorize(
        &self,
        request: &RequestHead<'_>,
        repo: Option<&str>,
        action: Action,
    ) -> Result<Scope, AuthError>;

    /// The realm named in 401 challenges.
    fn realm(&self) -> &str {
        "berth"
    }
}

/// One fixed user and password (HTTP basic auth), acting in one scope; every action is
/// allowed once the credentials match.
pub struct BasicAuthorizer {
    user: String,
    password: String,
    scope: Scope,
}

impl BasicAuthorizer {
    /// Accepts `user`:`password`, acting in `scope`.
    pub fn new(user: impl Into<String>, password: impl Into<String>, scope: Scope) -> Self {
        BasicAuthorizer {
            user: user.into(),
            password: password.into(),
            scope,
        }
    }
}

/// The user and password of an `Authorization: Basic …` header.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[async_trait]
impl Authorizer for BasicAuthorizer {
    async fn authorize(
        &self,
        request: &RequestHead<'_>,
        _repo: Option<&str>,
        _action: Action,
    ) -> Result<Scope, AuthError> {
        match basic_credentials(request.headers) {
            Some((user, password)) if user == self.user && password == self.password => {
                Ok(self.scope.clone())
            }
            Some(_) => Err(AuthError::Unauthenticated(
                "the user name or password is wrong".into(),
            )),
            None => Err(AuthError::Unauthenticated(
                "authentication required: send HTTP basic credentials".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn scope() -> Scope {
        Scope {
            account: "000000000000".into(),
            region: "local".into(),
        }
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    fn head(headers: &HeaderMap) -> RequestHead<'_> {
        static GET: Method = Method::GET;
        static URI: std::sync::OnceLock<Uri> = std::sync::OnceLock::new();
        RequestHead {
            method: &GET,
            uri: URI.get_or_init(|| Uri::from_static("/v2/")),
            headers,
        }
    }

    #[tokio::test]
    async fn basic_auth_accepts_only_the_configured_user() {
        let auth = BasicAuthorizer::new("user", "pa:ss", scope());
        let good = base64::engine::general_purpose::STANDARD.encode("user:pa:ss");
        let headers = with_auth(&format!("Basic {good}"));
        let ok = auth
            .authorize(&head(&headers), Some("a"), Action::Push)
            .await;
        assert_eq!(ok, Ok(scope()));
        let bad = base64::engine::general_purpose::STANDARD.encode("user:nope");
        for headers in [
            HeaderMap::new(),
            with_auth(&format!("Basic {bad}")),
            with_auth("Bearer abc"),
            with_auth("Basic !!!"),
        ] {
            let e = auth.authorize(&head(&headers), None, Action::Ping).await;
            assert!(matches!(e, Err(AuthError::Unauthenticated(_))), "{e:?}");
        }
    }
}
