//! Client-side signing, header for header the way botocore's `SigV4Auth` signs (so Berth's
//! own clients look exactly like the AWS CLI): every header present is signed except the
//! hop-by-hop ones botocore skips and `user-agent`; `X-Amz-Date`, and `X-Amz-Security-Token`
//! for temporary credentials, are added and signed; `host` is always signed.

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use http::HeaderMap;
use time::OffsetDateTime;

use crate::canonical::{
    string_to_sign, write_canonical_request, write_header_values, write_trimmed, CanonicalInput,
};
use crate::error::SignError;
use crate::key::{hmac_sha256, signing_key};
use crate::request::{Payload, Request};
use crate::timestamp::format_amz_date;
use crate::{ALGORITHM, UNSIGNED_PAYLOAD};

/// Headers botocore never signs (`SIGNED_HEADERS_BLACKLIST`), plus the ones the signer sets.
const NOT_SIGNED: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// An access key to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key ID, e.g. `AKIDEXAMPLE`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What to sign with and for.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// The key to sign with.
    pub credentials: &'a Credentials,
    /// The region of the credential scope, e.g. `us-east-1`.
    pub region: &'a str,
    /// The service of the credential scope, e.g. `ecs`.
    pub service: &'a str,
    /// The signing time, sent as `X-Amz-Date`.
    pub time: OffsetDateTime,
    /// Also send and sign `X-Amz-Content-Sha256` (botocore does only for S3; always sent for
    /// [`Payload::Unsigned`]).
    pub content_sha256_header: bool,
}

/// The result of signing: headers to add, and the intermediate strings for debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Headers to set on the request (`X-Amz-Date`, maybe `X-Amz-Security-Token` and
    /// `X-Amz-Content-Sha256`, then `Authorization`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The hex signature.
    pub signature: String,
    /// The canonical request that was signed.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
}

impl Signed {
    /// Sets the signing headers on `headers`, replacing any previous values.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// Signs `req`, returning the headers to add to it.
pub fn sign(req: &Request<'_>, params: &SigningParams<'_>) -> Result<Signed, SignError> {
    sign_with(req, params, true)
}

/// Signs an in-memory `http::Request` in place; adds a `Host` header from the URI if it has
/// none, so that what is sent is what was signed.
pub fn sign_request<B: AsRef<[u8]>>(
    req: &mut http::Request<B>,
    params: &SigningParams<'_>,
) -> Result<(), SignError> {
    let signed = sign(&Request::from_http(req), params)?;
    if !req.headers().contains_key(HOST) {
        let authority = req.uri().authority().ok_or(SignError::MissingHost)?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| SignError::InvalidHeaderValue("URI authority"))?;
        req.headers_mut().insert(HOST, host);
    }
    signed.apply(req.headers_mut());
    Ok(())
}

/// Signs with or without path normalization (the test suite checks both).
pub(crate) fn sign_with(
    req: &Request<'_>,
    params: &SigningParams<'_>,
    normalize_path: bool,
) -> Result<Signed, SignError> {
    let amz_date = format_amz_date(params.time);
    let date = &amz_date[..8];
    let has_host = req.headers.contains_key(HOST);
    let authority = match (has_host, req.authority) {
        (true, _) => None,
        (false, Some(authority)) => Some(authority),
        (false, None) => return Err(SignError::MissingHost),
    };

    let payload_hash = match req.payload.sha256() {
        Some(hash) => hex::encode(hash),
        None => UNSIGNED_PAYLOAD.to_owned(),
    };
    let send_content_sha256 = params.content_sha256_header
        || req.payload == Payload::Unsigned
        || req.headers.contains_key("x-amz-content-sha256");
    let token = params.credentials.session_token.as_deref();

    let mut names: Vec<&str> = req
        .headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|name| !NOT_SIGNED.contains(name))
        .collect();
    names.push("x-amz-date");
    if !has_host {
        names.push("host");
    }
    if token.is_some() {
        names.push("x-amz-security-token");
    }
    if send_content_sha256 {
        names.push("x-amz-content-sha256");
    }
    names.sort_unstable();
    names.dedup();
    let signed_headers = names.join(";");

    let mut canonical = Vec::with_capacity(512);
    write_canonical_request(
        &mut canonical,
        &CanonicalInput {
            method: req.method,
            path: req.path,
            normalize_path,
            query: req.query,
            signed_headers: &signed_headers,
            payload_hash: &payload_hash,
        },
        |name, out| match (name, authority) {
            ("x-amz-date", _) => out.extend_from_slice(amz_date.as_bytes()),
            ("x-amz-security-token", _) => write_trimmed(out, token.unwrap_or("").as_bytes()),
            ("x-amz-content-sha256", _) => out.extend_from_slice(payload_hash.as_bytes()),
            ("host", Some(authority)) => write_trimmed(out, authority.as_bytes()),
            _ => {
                write_header_values(out, req.headers, name);
            }
        },
    );
    let scope = format!("{date}/{}/{}/aws4_request", params.region, params.service);
    let sts = string_to_sign(&amz_date, &scope, &canonical);
    let key = signing_key(
        &params.credentials.secret_access_key,
        date,
        params.region,
        params.service,
    );
    let signature = hex::encode(hmac_sha256(&key, sts.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        params.credentials.access_key_id
    );

    let mut headers = vec![(
        HeaderName::from_static("x-amz-date"),
        HeaderValue::from_str(&amz_date).map_err(|_| SignError::InvalidHeaderValue("date"))?,
    )];
    if let Some(token) = token {
        let mut token = HeaderValue::from_str(token)
            .map_err(|_| SignError::InvalidHeaderValue("session token"))?;
        token.set_sensitive(true);
        headers.push((HeaderName::from_static("x-amz-security-token"), token));
    }
    if send_content_sha256 {
        headers.push((
            HeaderName::from_static("x-amz-content-sha256"),
            HeaderValue::from_str(&payload_hash)
                .map_err(|_| SignError::InvalidHeaderValue("payload hash"))?,
        ));
    }
    let mut authorization = HeaderValue::from_str(&authorization)
        .map_err(|_| SignError::InvalidHeaderValue("access key ID, region or service"))?;
    authorization.set_sensitive(true);
    headers.push((AUTHORIZATION, authorization));

    Ok(Signed {
        headers,
        signature,
        canonical_request: String::from_utf8_lossy(&canonical).into_owned(),
        string_to_sign: sts,
    })
}
