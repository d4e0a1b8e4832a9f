//! Request plumbing every page shares: the session a request carries (or why it is
//! refused), CSRF checks, HTML answers, and API errors in words.

use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use berth_api::error::ApiError;
use berth_server::context::{Caller, Principal};
use berth_server::sign_in;
use maud::Markup;
use serde::Deserialize;

use crate::session::{self, Session, COOKIE};
use crate::{pages, signed_out, Console};

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the epoch: when sessions are issued and signed out of.
pub(crate) fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Whether the request came over TLS (cookies are then Secure).
pub(crate) fn over_tls(extensions: &Extensions) -> bool {
    extensions.get::<berth_server::tls::OverTls>().is_some()
}

pub(crate) fn cookie_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, name))
}

/// An HTML answer with `status`, never cached.
pub(crate) fn html(status: StatusCode, page: Markup) -> Response {
    let mut r = (status, axum::response::Html(page.into_string())).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(crate) fn with_cookie(mut r: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// A request's session and caller, or the answer to give instead: to the sign-in page
/// when there is no valid session (clearing a session whose sign-in is gone).
pub(crate) struct SignedInRequest {
    pub session: Session,
    pub caller: Caller,
    pub csrf: String,
}

impl SignedInRequest {
    /// Who is signed in, as the header shows them.
    pub fn principal(&self) -> String {
        match &self.caller.principal {
            Principal::Root => format!("root ({})", self.caller.account),
            _ => self.caller.principal_arn.clone(),
        }
    }
}

/// Why a request is not served as asked.
pub(crate) enum Refusal {
    /// No valid session: to the sign-in page, clearing a session whose sign-in is gone.
    NoSession { clear: bool, tls: bool },
    /// A form without its session's CSRF token.
    Csrf,
    /// The store could not be read; the request may be retried.
    Store(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoSession { clear, tls } => to_sign_in(clear, tls),
            Refusal::Csrf => forbidden(),
            Refusal::Store(e) => html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::layout(
                    "Unavailable",
                    None,
                    Some(&format!(
                        "The console cannot read its sessions right now ({e}); try again."
                    )),
                    maud::html! {},
                ),
            ),
        }
    }
}

pub(crate) fn to_sign_in(clear: bool, tls: bool) -> Response {
    let r = Redirect::to("/console/login").into_response();
    if clear {
        with_cookie(r, session::set_cookie(COOKIE, "", 0, tls))
    } else {
        r
    }
}

pub(crate) async fn signed_in(
    c: &Console,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<SignedInRequest, Refusal> {
    let tls = over_tls(extensions);
    let Some(s) = cookie_of(headers, COOKIE).and_then(|v| c.sealer.open(v, now())) else {
        return Err(Refusal::NoSession { clear: false, tls });
    };
    let gone = Refusal::NoSession { clear: true, tls };
    let signed_out = signed_out::since(&*c.front.core.store, &c.front.core.account, &s.who)
        .await
        .map_err(|e| Refusal::Store(e.to_string()))?;
    if signed_out.is_some_and(|at| s.issued <= at) {
        return Err(gone);
    }
    let caller = sign_in::caller(&c.front, &s.who, &s.region).map_err(|_| gone)?;
    Ok(SignedInRequest {
        csrf: c.sealer.csrf(&s.nonce),
        session: s,
        caller,
    })
}

/// Refuses a form whose CSRF token is not its session's.
pub(crate) fn check_csrf(c: &Console, r: &SignedInRequest, token: &str) -> Result<(), Refusal> {
    if c.sealer.csrf_matches(&r.session.nonce, token) {
        Ok(())
    } else {
        Err(Refusal::Csrf)
    }
}

pub(crate) fn forbidden() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::layout(
            "Refused",
            None,
            Some("The form was not sent from this console session (missing or wrong CSRF token). Reload the page and try again."),
            maud::html! {},
        ),
    )
}

/// The status an API error is shown with.
pub(crate) fn status_of(e: &ApiError) -> StatusCode {
    match e {
        ApiError::AccessDenied(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    }
}

/// An API error in words: its code and message, as the AWS CLI prints them.
pub(crate) fn words(e: &ApiError) -> String {
    format!("{}: {}", e.code(), e.message())
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A signed-in page: `shown` rendered under `title` (with `error` from a failed action
/// above it), or the error that kept it from being read.
pub(crate) fn answer(
    r: &SignedInRequest,
    title: &str,
    shown: Result<Markup, ApiError>,
    error: Option<&ApiError>,
) -> Response {
    let principal = r.principal();
    let who = Some((principal.as_str(), r.csrf.as_str()));
    match shown {
        Ok(body) => html(
            error.map_or(StatusCode::OK, status_of),
            pages::layout(title, who, error.map(words).as_deref(), body),
        ),
        Err(e) => html(
            status_of(&e),
            pages::layout(title, who, Some(&words(&e)), maud::html! {}),
        ),
    }
}

/// A signed-in request as an extractor: handlers take a [`SignedInRequest`] and are
/// refused (to the sign-in page) without a valid session.
impl axum::extract::FromRequestParts<std::sync::Arc<Console>> for SignedInRequest {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &std::sync::Arc<Console>,
    ) -> Result<SignedInRequest, Refusal> {
        signed_in(console, &parts.headers, &parts.extensions).await
    }
}
