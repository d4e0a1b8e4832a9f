//! Server-side verification of SigV4 `Authorization` headers, in the order and with the
//! messages AWS's JSON services use.
//!
//! Checks, first failure wins: header present → parameters well-formed and complete → date
//! parses → date within [`MAX_CLOCK_SKEW`] → `host` and the date header are signed → algorithm
//! → credential has five parts → scope (region, service, terminator, date) → access key known →
//! `X-Amz-Content-Sha256` matches the body → signature → session token.
//!
//! Session tokens: an [`Identity`] with a `session_token` (temporary credentials, as tasks will
//! get) requires `X-Amz-Security-Token` to equal it; an identity without one (a long-term key)
//! refuses a request that sends a token, since the client believes it is using credentials that
//! do not exist. The token header may be signed or not (AWS accepts both).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, DATE};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::auth_header::{self, parse_credential};
use crate::canonical::{
    string_to_sign, write_canonical_request, write_header_values, write_trimmed, CanonicalInput,
};
use crate::error::{AuthError, SignatureMismatch, SIGNATURE_DOES_NOT_MATCH};
use crate::key::{hmac_sha256, signing_key, KeyCache};
use crate::request::Request;
use crate::timestamp::{format_amz_date, parse_amz_date, parse_http_date};
use crate::{ALGORITHM, UNSIGNED_PAYLOAD};

/// How far a request's date may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);

const INVALID_TOKEN: &str = "The security token included in the request is invalid";

/// What the server knows about an access key.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The secret access key the client signs with.
    pub secret_access_key: String,
    /// The account the key belongs to.
    pub account_id: String,
    /// For temporary credentials, the token requests must carry in `X-Amz-Security-Token`;
    /// `None` for a long-term key, whose requests must not carry one.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Finds the identity behind an access key ID.
pub trait SecretLookup {
    /// The identity for `access_key_id`, or `None` if the key is unknown.
    fn secret(&self, access_key_id: &str) -> Option<Identity>;
}

impl<S: BuildHasher> SecretLookup for HashMap<String, Identity, S> {
    fn secret(&self, access_key_id: &str) -> Option<Identity> {
        self.get(access_key_id).cloned()
    }
}

impl<F: Fn(&str) -> Option<Identity>> SecretLookup for F {
    fn secret(&self, access_key_id: &str) -> Option<Identity> {
        self(access_key_id)
    }
}

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key ID from the credential scope.
    pub access_key_id: String,
    /// The account of that key.
    pub account_id: String,
    /// The region the signature is scoped to.
    pub region: String,
    /// The service the signature is scoped to.
    pub service: String,
    /// When the client signed the request (`X-Amz-Date`, or `Date`).
    pub signed_at: OffsetDateTime,
}

/// Verifies requests, caching derived signing keys; share one per server.
#[derive(Default)]
pub struct Verifier {
    keys: KeyCache,
    region: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier that accepts any region in the credential scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only accept signatures scoped to `region`.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Verifies `req` at time `now`; `expected_service` (e.g. `"ecs"`) refuses signatures
    /// scoped to another service.
    pub fn verify<L: SecretLookup + ?Sized>(
        &self,
        req: &Request<'_>,
        lookup: &L,
        now: OffsetDateTime,
        expected_service: Option<&str>,
    ) -> Result<Verified, AuthError> {
        check(
            req,
            lookup,
            now,
            expected_service,
            self.region.as_deref(),
            Some(&self.keys),
        )
    }
}

/// Verifies `req` at time `now` without a key cache (see [`Verifier::verify`]).
pub fn verify<L: SecretLookup + ?Sized>(
    req: &Request<'_>,
    lookup: &L,
    now: OffsetDateTime,
    expected_service: Option<&str>,
) -> Result<Verified, AuthError> {
    check(req, lookup, now, expected_service, None, None)
}

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");

/// A header value as text; bytes outside visible ASCII (rare, never valid here) are replaced.
fn text(value: &HeaderValue) -> Cow<'_, str> {
    match value.to_str() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(value.as_bytes()),
    }
}

fn header_str<'h>(req: &Request<'h>, name: &HeaderName) -> Option<Cow<'h, str>> {
    req.headers.get(name).map(text)
}

/// The service a request's credential scope names (`…/REGION/SERVICE/aws4_request`),
/// read without verifying anything, so a front door can tell a request for a service
/// it does not serve from one with a bad signature. `None` when the request carries no
/// readable SigV4 Authorization header.
pub fn signing_service(req: &Request<'_>) -> Option<String> {
    let raw = req.headers.get(AUTHORIZATION)?;
    let auth = text(raw);
    let header = auth_header::parse(&auth).ok()?;
    let credential = auth_header::parse_credential(header.credential?).ok()?;
    Some(credential.service.to_string())
}

fn check<L: SecretLookup + ?Sized>(
    req: &Request<'_>,
    lookup: &L,
    now: OffsetDateTime,
    expected_service: Option<&str>,
    expected_region: Option<&str>,
    keys: Option<&KeyCache>,
) -> Result<Verified, AuthError> {
    let mut authorizations = req.headers.get_all(AUTHORIZATION).iter();
    let Some(raw) = authorizations.next() else {
        return Err(AuthError::MissingAuthenticationToken);
    };
    if authorizations.next().is_some() {
        return Err(AuthError::IncompleteSignature(
            "The request must carry exactly one Authorization header.".into(),
        ));
    }
    let auth = text(raw);
    if auth.trim().is_empty() {
        return Err(AuthError::MissingAuthenticationToken);
    }
    let header = auth_header::parse(&auth)?;

    // X-Amz-Date wins over Date, as in every AWS SDK.
    let date = match header_str(req, &X_AMZ_DATE) {
        Some(v) => Some(("x-amz-date", v)),
        None => header_str(req, &DATE).map(|v| ("date", v)),
    };
    let credential = header.credential.filter(|c| !c.is_empty());
    let signature = header.signature.filter(|s| !s.is_empty());
    let (Some(credential), Some(signature), Some(signed_headers), Some((date_name, date_value))) =
        (credential, signature, header.signed_headers, date.as_ref())
    else {
        let mut message = String::new();
        if credential.is_none() {
            message.push_str("Authorization header requires 'Credential' parameter. ");
        }
        if signature.is_none() {
            message.push_str("Authorization header requires 'Signature' parameter. ");
        }
        if header.signed_headers.is_none() {
            message.push_str("Authorization header requires 'SignedHeaders' parameter. ");
        }
        if date.is_none() {
            message.push_str(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header. ",
            );
        }
        message.push_str("Authorization=");
        message.push_str(&auth);
        return Err(AuthError::IncompleteSignature(message));
    };

    let parsed = if *date_name == "x-amz-date" {
        parse_amz_date(date_value)
    } else {
        parse_http_date(date_value)
    };
    // A `Date` with a zone can name a time whose UTC is past year 9999: refused like
    // any other unreadable date, not converted (which would panic).
    let Some(signed_at) = parsed.and_then(|t| t.checked_to_offset(UtcOffset::UTC)) else {
        return Err(AuthError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{date_value}'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    let amz_date = format_amz_date(signed_at);
    check_clock_skew(signed_at, &amz_date, now)?;

    let is_signed = |name: &str| {
        signed_headers
            .split(';')
            .any(|h| h.eq_ignore_ascii_case(name))
    };
    if !is_signed("host") {
        return Err(AuthError::invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if !is_signed(date_name) {
        let shown = if *date_name == "date" {
            "Date"
        } else {
            "X-Amz-Date"
        };
        return Err(AuthError::invalid(format!(
            "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
        )));
    }
    if header.algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} for now).",
            header.algorithm
        )));
    }

    let cred = parse_credential(credential)?;
    let mut scope_problems = Vec::new();
    if cred.region.is_empty() || expected_region.is_some_and(|r| r != cred.region) {
        scope_problems.push(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            cred.region
        ));
    }
    if let Some(service) = expected_service.filter(|s| *s != cred.service) {
        scope_problems.push(format!(
            "Credential should be scoped to correct service: '{service}'."
        ));
    }
    if cred.terminator != "aws4_request" {
        scope_problems.push(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            cred.terminator
        ));
    }
    if cred.date != &amz_date[..8] {
        scope_problems.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{amz_date}'.",
            cred.date,
            &amz_date[..8]
        ));
    }
    if !scope_problems.is_empty() {
        return Err(AuthError::invalid(scope_problems.join(" ")));
    }

    let Some(identity) = lookup.secret(cred.access_key_id) else {
        return Err(AuthError::bad_token(
            "The security token included in the request is invalid.",
        ));
    };

    let declared = header_str(req, &X_AMZ_CONTENT_SHA256);
    let mut actual_hex = [0u8; 64];
    let actual = req.payload.sha256().map(|hash| {
        hex::encode_to_slice(hash, &mut actual_hex).expect("64 hex digits for 32 bytes");
        std::str::from_utf8(&actual_hex).unwrap_or_default()
    });
    let payload_hash: &str = match (declared.as_deref(), actual) {
        (Some(UNSIGNED_PAYLOAD), _) => UNSIGNED_PAYLOAD,
        (Some(declared), Some(actual)) => {
            if !declared.eq_ignore_ascii_case(actual) {
                return Err(AuthError::invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was \
                     computed.",
                ));
            }
            declared
        }
        (None, Some(actual)) => actual,
        (_, None) => {
            return Err(AuthError::invalid(
                "This endpoint does not read the body before authenticating: send \
                 'X-Amz-Content-Sha256: UNSIGNED-PAYLOAD'.",
            ))
        }
    };

    let mut canonical = Vec::with_capacity(512);
    write_canonical_request(
        &mut canonical,
        &CanonicalInput {
            method: req.method,
            path: req.path,
            normalize_path: true,
            query: req.query,
            signed_headers,
            payload_hash,
        },
        |name, out| {
            let present = write_header_values(out, req.headers, name);
            if !present && name.eq_ignore_ascii_case("host") {
                if let Some(authority) = req.authority {
                    write_trimmed(out, authority.as_bytes());
                }
            }
        },
    );
    let sts = string_to_sign(&amz_date, cred.scope, &canonical);
    let key = match keys {
        Some(cache) => cache.get_or_derive(
            cred.full,
            &identity.secret_access_key,
            cred.date,
            cred.region,
            cred.service,
        ),
        None => signing_key(
            &identity.secret_access_key,
            cred.date,
            cred.region,
            cred.service,
        ),
    };
    let expected = hmac_sha256(&key, sts.as_bytes());
    let mut provided = [0u8; 32];
    let well_formed = hex::decode_to_slice(signature, &mut provided).is_ok();
    if !(well_formed & bool::from(expected.ct_eq(&provided))) {
        return Err(AuthError::InvalidSignature {
            message: SIGNATURE_DOES_NOT_MATCH.into(),
            mismatch: Some(Box::new(SignatureMismatch {
                canonical_request: redact_token(&canonical),
                string_to_sign: sts,
            })),
        });
    }

    let mut tokens = req.headers.get_all(X_AMZ_SECURITY_TOKEN).iter();
    let sent = tokens.next();
    if tokens.next().is_some() {
        return Err(AuthError::bad_token(INVALID_TOKEN));
    }
    let token_ok = match (&identity.session_token, sent) {
        (None, None) => true,
        (Some(expected), Some(sent)) => bool::from(expected.as_bytes().ct_eq(sent.as_bytes())),
        _ => false,
    };
    if !token_ok {
        return Err(AuthError::bad_token(INVALID_TOKEN));
    }

    Ok(Verified {
        access_key_id: cred.access_key_id.to_owned(),
        account_id: identity.account_id,
        region: cred.region.to_owned(),
        service: cred.service.to_owned(),
        signed_at,
    })
}

/// The canonical request as text for logs, with a signed session token's value blanked out.
fn redact_token(canonical: &[u8]) -> String {
    const NAME: &str = "x-amz-security-token:";
    String::from_utf8_lossy(canonical)
        .split('\n')
        .map(|line| match line.get(..NAME.len()) {
            Some(name) if name.eq_ignore_ascii_case(NAME) => {
                Cow::Owned(format!("{name}<redacted>"))
            }
            _ => Cow::Borrowed(line),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses a signing time more than [`MAX_CLOCK_SKEW`] before or after `now`, with AWS's
/// messages (times to the second, in UTC).
fn check_clock_skew(
    signed_at: OffsetDateTime,
    amz_date: &str,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    let now = now.to_offset(UtcOffset::UTC);
    let now = now - Duration::nanoseconds(i64::from(now.nanosecond()));
    let earliest = now - MAX_CLOCK_SKEW;
    let latest = now + MAX_CLOCK_SKEW;
    if signed_at < earliest {
        return Err(AuthError::invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(earliest),
            format_amz_date(now)
        )));
    }
    if signed_at > latest {
        return Err(AuthError::invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(latest),
            format_amz_date(now)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod signing_service_tests {
    use super::*;

    #[test]
    fn names_the_scopes_service_without_verifying() {
        let req = http::Request::post("http://h/")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=00",
            )
            .body(Vec::<u8>::new())
            .unwrap();
        assert_eq!(
            signing_service(&Request::from_http(&req)).as_deref(),
            Some("iam")
        );
        let unsigned = http::Request::post("http://h/")
            .body(Vec::<u8>::new())
            .unwrap();
        assert_eq!(signing_service(&Request::from_http(&unsigned)), None);
    }
}
