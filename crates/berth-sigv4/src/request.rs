//! The borrowed view of an HTTP request that signing and verification work on.

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The body of a request as the signature covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The whole body; it is hashed with SHA-256.
    Bytes(&'a [u8]),
    /// The SHA-256 of the body, computed elsewhere (for example while streaming it).
    Sha256([u8; 32]),
    /// The body is not covered: the signer sends `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`, and
    /// the verifier accepts only requests that declare exactly that.
    Unsigned,
}

impl Payload<'_> {
    /// The SHA-256 of the body, or `None` for [`Payload::Unsigned`].
    pub(crate) fn sha256(&self) -> Option<[u8; 32]> {
        match self {
            Payload::Bytes(body) => Some(Sha256::digest(body).into()),
            Payload::Sha256(hash) => Some(*hash),
            Payload::Unsigned => None,
        }
    }
}

/// An HTTP request as received or about to be sent, borrowed without copying.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path exactly as on the wire (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?`, if any.
    pub query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The URI authority, used as `host` when there is no `Host` header (HTTP/2's `:authority`).
    pub authority: Option<&'a str>,
    /// The body, or its hash.
    pub payload: Payload<'a>,
}

impl<'a> Request<'a> {
    /// A request from `http::request::Parts` (what axum hands a handler) and the body bytes.
    pub fn from_parts(parts: &'a http::request::Parts, body: &'a [u8]) -> Self {
        Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            authority: parts.uri.authority().map(|a| a.as_str()),
            payload: Payload::Bytes(body),
        }
    }

    /// A request from an `http::Request` whose body is in memory.
    pub fn from_http<B: AsRef<[u8]>>(req: &'a http::Request<B>) -> Self {
        Request {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            headers: req.headers(),
            authority: req.uri().authority().map(|a| a.as_str()),
            payload: Payload::Bytes(req.body().as_ref()),
        }
    }
}
