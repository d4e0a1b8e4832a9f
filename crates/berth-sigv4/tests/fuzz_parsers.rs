//! Fuzzes SigV4 verification, the one parser every API request goes through: the
//! `Authorization` header (algorithm, parameters, credential scope), the `X-Amz-Date` and
//! `Date` headers, the signed-header list and the signature, through [`verify`],
//! [`Verifier::verify`] and [`signing_service`].
//!
//! Properties: arbitrary and token-soup headers are always refused (never accepted,
//! never a panic) with a 400 or 403; a correctly signed request mutated part by part,
//! or given any `X-Amz-Date` or `Date`, is refused the same way unless the mutation left
//! it meaning the same (it then verifies as its signer, never as anyone else); tampering
//! with what the signature covers is always caught; the cached and uncached verifiers
//! agree; and whatever [`sign`] signs — any method, path, query, headers, body, scope
//! and time — verifies, within the clock skew only. (This crate reads no presigned
//! query strings.)
//!
//! 256 cases per property by default; for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-sigv4 --test fuzz_parsers --release`

use std::collections::HashMap;

use berth_sigv4::{
    sign, signing_service, verify, AuthError, Credentials, Identity, Payload, Request,
    SigningParams, Verified, Verifier,
};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// 256 cases, or `PROPTEST_CASES` when it is set.
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TEMPORARY_AKID: &str = "ASIATEMPORARY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE/token+with=chars";
const SIGNED_AT: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);

/// The server's keys: a long-term one and a temporary one with its session token.
fn known_keys() -> HashMap<String, Identity> {
    HashMap::from([
        (
            AKID.to_owned(),
            Identity {
                secret_access_key: SECRET.into(),
                account_id: "123456789012".into(),
                session_token: None,
            },
        ),
        (
            TEMPORARY_AKID.to_owned(),
            Identity {
                secret_access_key: "temporary-secret".into(),
                account_id: "210987654321".into(),
                session_token: Some(TOKEN.into()),
            },
        ),
    ])
}

/// A refusal carries AWS's names for it and a status the client is to blame for.
fn check_refusal(e: &AuthError) -> Result<(), TestCaseError> {
    prop_assert!(matches!(e.status(), 400 | 403), "{e:?}");
    prop_assert!(!e.code().is_empty() && !e.query_code().is_empty());
    prop_assert!(!e.message().is_empty(), "{e:?}");
    Ok(())
}

/// Verifies `req` with and without the key cache; they must agree.
fn verify_both(
    req: &Request<'_>,
    keys: &HashMap<String, Identity>,
    now: OffsetDateTime,
    service: Option<&str>,
) -> Result<Result<Verified, AuthError>, TestCaseError> {
    let uncached = verify(req, keys, now, service);
    let cached = Verifier::new().verify(req, keys, now, service);
    prop_assert_eq!(&uncached, &cached);
    if let Err(e) = &uncached {
        check_refusal(e)?;
    }
    // Reading the scope's service without verifying must not panic either.
    let _ = signing_service(req);
    Ok(uncached)
}

/// A request as the server hands it to the verifier.
fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        path,
        query,
        headers,
        authority: None,
        payload: Payload::Bytes(body),
    }
}

// ------------------------------------------------------------------ arbitrary input

/// Pieces of SigV4 headers, right and wrong, for token-soup headers.
const AUTH_TOKENS: &[&str] = &[
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA512",
    "AWS4-",
    "AWS",
    "Bearer",
    " ",
    "  ",
    "\t",
    ",",
    ", ",
    "=",
    "/",
    "//",
    ";",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    "AKIDEXAMPLE",
    "ASIATEMPORARY",
    "20150830",
    "20150831",
    "us-east-1",
    "ecs",
    "logs",
    "aws4_request",
    "host",
    "x-amz-date",
    "date",
    "host;x-amz-date",
    "content-type;host;x-amz-date;x-amz-target",
    "990c9036f09419c3cd7bc828217b889ce440e30e83d4a3608a681a67b2be2517",
    "zz",
    "é",
];

/// Date header values: the two formats, right and subtly wrong.
const DATES: &[&str] = &[
    "20150830T123600Z",
    "20150830T123600",
    "20151330T123600Z",
    "20150230T123600Z",
    "20150830T246000Z",
    "+0150830T123600Z",
    "99991231T235959Z",
    "00000101T000000Z",
    "Sun, 30 Aug 2015 12:36:00 GMT",
    "Sun, 30 Aug 2015 12:36:00 -0000",
    "30 Aug 2015 14:36:00 +0200",
    "30 Aug 2015 14:36:00 +9999",
    "30 Aug 2015 14:36:00 -2400",
    "99 Aug 4294967295 99:99:99 GMT",
    "30 Aug 2015 12:36 GMT",
    "Fri, 31 Dec 9999 23:59:59 -2359",
    "Sat, 1 Jan 0000 00:00:00 +2359",
    ",",
    "",
];

/// Any header value the `http` crate lets through: tab, visible ASCII, space and
/// obsolete non-ASCII bytes.
fn raw_header_value() -> impl Strategy<Value = HeaderValue> {
    let byte = prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff];
    prop::collection::vec(byte, 0..96)
        .prop_map(|b| HeaderValue::from_bytes(&b).expect("only header-value bytes"))
}

/// A header value assembled from SigV4's own pieces.
fn token_soup() -> impl Strategy<Value = HeaderValue> {
    prop::collection::vec(prop::sample::select(AUTH_TOKENS), 0..14)
        .prop_map(|parts| HeaderValue::from_str(&parts.concat()).expect("header text"))
}

/// A value for `X-Amz-Date` or `Date`: a known spelling, date-like characters, or bytes.
fn date_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        prop::sample::select(DATES).prop_map(HeaderValue::from_static),
        "[0-9TZ:, +-]{0,24}".prop_map(|s| HeaderValue::from_str(&s).expect("header text")),
        raw_header_value(),
    ]
}

/// Headers that look like a signed request's without being one.
fn unsigned_headers() -> impl Strategy<Value = HeaderMap> {
    (
        prop::collection::vec(prop_oneof![token_soup(), raw_header_value()], 0..3),
        prop::option::of(date_value()),
        prop::option::of(date_value()),
        prop::option::of(prop::sample::select(vec![
            "UNSIGNED-PAYLOAD",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "zz",
        ])),
        prop::option::of(raw_header_value()),
    )
        .prop_map(|(authorizations, amz_date, date, content_sha, token)| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static("ecs.berth.local"));
            for a in authorizations {
                h.append(AUTHORIZATION, a);
            }
            if let Some(v) = amz_date {
                h.insert("x-amz-date", v);
            }
            if let Some(v) = date {
                h.insert("date", v);
            }
            if let Some(v) = content_sha {
                h.insert("x-amz-content-sha256", HeaderValue::from_static(v));
            }
            if let Some(v) = token {
                h.insert("x-amz-security-token", v);
            }
            h
        })
}

// ------------------------------------------------------------------ signed requests

/// A correctly signed request to mutate.
#[derive(Debug, Clone)]
struct Signed {
    method: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    headers: HeaderMap,
    body: Vec<u8>,
    service: &'static str,
}

/// Requests as the AWS CLI sends them: ECS JSON, ELBv2 Query with a query string, a
/// GET with a path, and one with temporary credentials.
fn signed_seed(which: usize) -> Signed {
    let (method, path, query, service, body, target, temporary) = match which % 4 {
        0 => (
            "POST",
            "/",
            None,
            "ecs",
            br#"{"cluster":"default","taskDefinition":"web:3"}"#.as_slice(),
            Some("AmazonEC2ContainerServiceV20141113.RunTask"),
            false,
        ),
        1 => (
            "POST",
            "/",
            Some("Action=DescribeTargetGroups&Version=2015-12-01&Names.member.1=my%20tg"),
            "elasticloadbalancing",
            b"".as_slice(),
            None,
            false,
        ),
        2 => (
            "GET",
            "/v2/team/app/manifests/latest",
            None,
            "ecr",
            b"".as_slice(),
            None,
            false,
        ),
        _ => (
            "POST",
            "/",
            None,
            "logs",
            br#"{"logGroupName":"/ecs/web"}"#.as_slice(),
            Some("Logs_20140328.CreateLogGroup"),
            true,
        ),
    };
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("api.berth.local:8443"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Some(target) = target {
        headers.insert("x-amz-target", HeaderValue::from_static(target));
    }
    let credentials = if temporary {
        Credentials {
            access_key_id: TEMPORARY_AKID.into(),
            secret_access_key: "temporary-secret".into(),
            session_token: Some(TOKEN.into()),
        }
    } else {
        Credentials {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        }
    };
    let signed = sign(
        &request(method, path, query, &headers, body),
        &SigningParams {
            credentials: &credentials,
            region: "us-east-1",
            service,
            time: SIGNED_AT,
            // The ECS and ECR seeds also send and sign X-Amz-Content-Sha256.
            content_sha256_header: matches!(which % 4, 0 | 2),
        },
    )
    .expect("the seed signs");
    signed.apply(&mut headers);
    Signed {
        method,
        path,
        query,
        headers,
        body: body.to_vec(),
        service,
    }
}

/// Replacements for one slash-separated part of the credential.
const CREDENTIAL_PARTS: &[&str] = &[
    "",
    "AKIDEXAMPLE",
    "ASIATEMPORARY",
    "UNKNOWNKEY",
    "20150830",
    "20150831",
    "2015083",
    "us-east-1",
    "us-west-2",
    "ecs",
    "logs",
    "aws4_request",
    "aws4_request/",
    "a/b",
    "é",
];

/// Separators between the Authorization header's parameters.
const SEPARATORS: &[&str] = &[", ", ",", " ", "\t", ",,", " , ", ""];

/// One change to a signed request, aimed at a part of its `Authorization` header or at
/// what the signature covers.
#[derive(Debug, Clone)]
enum Mutation {
    DropParameter(usize),
    DuplicateParameter(usize),
    SwapParameters(usize, usize),
    Separator(&'static str),
    CredentialPart(usize, &'static str),
    ExtraCredentialPart(&'static str),
    DropSignedHeader(usize),
    AddSignedHeader(&'static str),
    UppercaseSignedHeaders,
    Algorithm(&'static str),
    TruncateSignature(usize),
    SignatureChar(usize, char),
    DropEqualSign(usize),
    AmzDate(Option<&'static str>),
    DateHeader(&'static str),
    SecondAuthorization,
    SessionToken(Option<&'static str>),
    FlipBodyByte(usize),
    HostHeader(&'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<usize>();
    let part = prop::sample::select(CREDENTIAL_PARTS);
    prop_oneof![
        index.prop_map(Mutation::DropParameter),
        index.prop_map(Mutation::DuplicateParameter),
        (index, index).prop_map(|(a, b)| Mutation::SwapParameters(a, b)),
        prop::sample::select(SEPARATORS).prop_map(Mutation::Separator),
        (index, part.clone()).prop_map(|(i, p)| Mutation::CredentialPart(i, p)),
        part.prop_map(Mutation::ExtraCredentialPart),
        index.prop_map(Mutation::DropSignedHeader),
        prop::sample::select(vec!["content-type", "x-absent", "", "HOST", "date"])
            .prop_map(Mutation::AddSignedHeader),
        Just(Mutation::UppercaseSignedHeaders),
        prop::sample::select(vec!["AWS4-HMAC-SHA512", "aws4-hmac-sha256", "AWS4-", "AWS"])
            .prop_map(Mutation::Algorithm),
        index.prop_map(Mutation::TruncateSignature),
        (
            index,
            prop::sample::select(vec!['0', 'f', 'F', 'g', ' ', 'é'])
        )
            .prop_map(|(i, c)| Mutation::SignatureChar(i, c)),
        index.prop_map(Mutation::DropEqualSign),
        prop::option::of(prop::sample::select(DATES)).prop_map(Mutation::AmzDate),
        prop::sample::select(DATES).prop_map(Mutation::DateHeader),
        Just(Mutation::SecondAuthorization),
        prop::option::of(prop::sample::select(vec![TOKEN, "other-token", ""]))
            .prop_map(Mutation::SessionToken),
        index.prop_map(Mutation::FlipBodyByte),
        prop::sample::select(vec!["api.berth.local", "evil.example", ""])
            .prop_map(Mutation::HostHeader),
    ]
}

/// The Authorization header split into its algorithm and `name=value` parameters.
struct AuthorizationParts {
    algorithm: String,
    parameters: Vec<String>,
    separator: &'static str,
}

impl AuthorizationParts {
    /// The parts of a header as [`sign`] writes it.
    fn of(headers: &HeaderMap) -> Self {
        let value = headers[AUTHORIZATION]
            .to_str()
            .expect("signed header is text");
        let (algorithm, rest) = value.split_once(' ').expect("algorithm and parameters");
        AuthorizationParts {
            algorithm: algorithm.to_owned(),
            parameters: rest.split(", ").map(str::to_owned).collect(),
            separator: ", ",
        }
    }

    /// The header again, with the current separator.
    fn text(&self) -> String {
        format!(
            "{} {}",
            self.algorithm,
            self.parameters.join(self.separator)
        )
    }

    /// The parameter named `name`, to edit in place.
    fn parameter(&mut self, name: &str) -> Option<&mut String> {
        let prefix = format!("{name}=");
        self.parameters.iter_mut().find(|p| p.starts_with(&prefix))
    }

    /// Applies `edit` to the value of parameter `name`, if present.
    fn edit(&mut self, name: &str, edit: impl FnOnce(&str) -> String) {
        if let Some(p) = self.parameter(name) {
            let value = p[name.len() + 1..].to_owned();
            *p = format!("{name}={}", edit(&value));
        }
    }
}

/// `signed` after `mutations`.
fn mutate(mut signed: Signed, mutations: &[Mutation]) -> Signed {
    let mut auth = AuthorizationParts::of(&signed.headers);
    let mut second_authorization = false;
    for m in mutations {
        let count = auth.parameters.len().max(1);
        match m {
            Mutation::DropParameter(i) => {
                if !auth.parameters.is_empty() {
                    auth.parameters.remove(i % count);
                }
            }
            Mutation::DuplicateParameter(i) => {
                if let Some(p) = auth.parameters.get(i % count).cloned() {
                    auth.parameters.push(p);
                }
            }
            Mutation::SwapParameters(a, b) => {
                if !auth.parameters.is_empty() {
                    auth.parameters.swap(a % count, b % count);
                }
            }
            Mutation::Separator(s) => auth.separator = s,
            Mutation::CredentialPart(i, replacement) => auth.edit("Credential", |c| {
                let mut parts: Vec<&str> = c.split('/').collect();
                let at = i % parts.len();
                parts[at] = replacement;
                parts.join("/")
            }),
            Mutation::ExtraCredentialPart(part) => {
                auth.edit("Credential", |c| format!("{c}/{part}"))
            }
            Mutation::DropSignedHeader(i) => auth.edit("SignedHeaders", |h| {
                let mut names: Vec<&str> = h.split(';').collect();
                names.remove(i % names.len());
                names.join(";")
            }),
            Mutation::AddSignedHeader(name) => {
                auth.edit("SignedHeaders", |h| format!("{h};{name}"))
            }
            Mutation::UppercaseSignedHeaders => {
                auth.edit("SignedHeaders", |h| h.to_ascii_uppercase())
            }
            Mutation::Algorithm(a) => auth.algorithm = (*a).to_owned(),
            Mutation::TruncateSignature(i) => auth.edit("Signature", |s| {
                let keep = i % (s.chars().count() + 1);
                s.chars().take(keep).collect()
            }),
            Mutation::SignatureChar(i, c) => auth.edit("Signature", |s| {
                let mut chars: Vec<char> = s.chars().collect();
                if !chars.is_empty() {
                    let at = i % chars.len();
                    chars[at] = *c;
                }
                chars.into_iter().collect()
            }),
            Mutation::DropEqualSign(i) => {
                if !auth.parameters.is_empty() {
                    let p = &mut auth.parameters[i % count];
                    *p = p.replacen('=', "", 1);
                }
            }
            Mutation::AmzDate(value) => match value {
                Some(v) => {
                    signed
                        .headers
                        .insert("x-amz-date", HeaderValue::from_static(v));
                }
                None => {
                    signed.headers.remove("x-amz-date");
                }
            },
            Mutation::DateHeader(v) => {
                signed.headers.insert("date", HeaderValue::from_static(v));
            }
            Mutation::SecondAuthorization => second_authorization = true,
            Mutation::SessionToken(token) => match token {
                Some(t) => {
                    signed
                        .headers
                        .append("x-amz-security-token", HeaderValue::from_static(t));
                }
                None => {
                    signed.headers.remove("x-amz-security-token");
                }
            },
            Mutation::FlipBodyByte(i) => {
                if signed.body.is_empty() {
                    signed.body.push(b' ');
                } else {
                    let at = i % signed.body.len();
                    signed.body[at] ^= 0x20;
                }
            }
            Mutation::HostHeader(host) => {
                signed
                    .headers
                    .insert("host", HeaderValue::from_static(host));
            }
        }
    }
    let value = HeaderValue::from_str(&auth.text()).expect("mutations keep header text valid");
    signed.headers.insert(AUTHORIZATION, value.clone());
    if second_authorization {
        signed.headers.append(AUTHORIZATION, value);
    }
    signed
}

/// Verifies a seed, mutated or not, with the server's keys.
fn verify_signed(
    s: &Signed,
    now: OffsetDateTime,
) -> Result<Result<Verified, AuthError>, TestCaseError> {
    verify_both(
        &request(s.method, s.path, s.query, &s.headers, &s.body),
        &known_keys(),
        now,
        Some(s.service),
    )
}

// ------------------------------------------------------------------ round trips

/// Header names a client may send and sign; the ones the signer itself manages are left
/// out.
fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        prop::sample::select(vec![
            "content-type",
            "x-amz-target",
            "x-amz-user-agent",
            "amz-sdk-request",
            "accept",
            "content-encoding",
        ])
        .prop_map(HeaderName::from_static),
        "x-[a-z0-9-]{1,12}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).expect("valid")),
    ]
}

/// What a client could sign, and the key, scope and time it signs with.
#[derive(Debug, Clone)]
struct Signing {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    access_key_id: String,
    secret: String,
    session_token: Option<String>,
    region: String,
    service: String,
    unix_seconds: i64,
    content_sha256_header: bool,
}

/// Anything a client could sign, with any key, scope and time.
fn signing() -> impl Strategy<Value = Signing> {
    let header_value = "[ -~\t]{0,24}"
        .prop_map(|v| HeaderValue::from_str(&v).expect("visible ASCII is a header value"));
    (
        (
            "[A-Z]{1,8}",
            "\\PC{0,40}",
            prop::option::of("\\PC{0,40}"),
            prop::collection::vec((header_name(), header_value), 0..6),
            prop::collection::vec(any::<u8>(), 0..64),
        ),
        (
            "[A-Z0-9]{4,20}",
            "\\PC{0,40}",
            prop::option::of("[A-Za-z0-9/+=]{1,40}"),
            "[a-z0-9-]{1,16}",
            "[a-z0-9-]{1,16}",
            // 1970 to late 9999 (the years X-Amz-Date can write), leaving room for the
            // skew added below and the verifier's window around it.
            0i64..253_402_300_799 - 3600,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (method, path, query, headers, body),
                (
                    access_key_id,
                    secret,
                    session_token,
                    region,
                    service,
                    unix_seconds,
                    content_sha256_header,
                ),
            )| Signing {
                method,
                path,
                query,
                headers,
                body,
                access_key_id,
                secret,
                session_token,
                region,
                service,
                unix_seconds,
                content_sha256_header,
            },
        )
}

impl Signing {
    /// The signed headers, and the keys that know the signer.
    fn sign(&self) -> (HeaderMap, HashMap<String, Identity>) {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("berth.local"));
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        let credentials = Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret.clone(),
            session_token: self.session_token.clone(),
        };
        let signed = sign(
            &request(
                &self.method,
                &self.path,
                self.query.as_deref(),
                &headers,
                &self.body,
            ),
            &SigningParams {
                credentials: &credentials,
                region: &self.region,
                service: &self.service,
                time: self.time(),
                content_sha256_header: self.content_sha256_header,
            },
        )
        .expect("generated scopes are header-safe");
        signed.apply(&mut headers);
        let keys = HashMap::from([(
            self.access_key_id.clone(),
            Identity {
                secret_access_key: self.secret.clone(),
                account_id: "123456789012".into(),
                session_token: self.session_token.clone(),
            },
        )]);
        (headers, keys)
    }

    /// The signing time.
    fn time(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.unix_seconds).expect("in range")
    }
}

proptest! {
    #![proptest_config(config())]

    /// Headers made of arbitrary bytes or of SigV4's own pieces never verify, never
    /// panic, and are refused with a 400 or 403.
    #[test]
    fn unsigned_requests_are_refused(
        headers in unsigned_headers(),
        path in "\\PC{0,16}",
        query in prop::option::of("\\PC{0,24}"),
        body in prop::collection::vec(any::<u8>(), 0..32),
        service in prop::option::of(prop::sample::select(vec!["ecs", "logs"])),
    ) {
        let req = request("POST", &path, query.as_deref(), &headers, &body);
        let verified = verify_both(&req, &known_keys(), SIGNED_AT, service)?;
        prop_assert!(verified.is_err(), "forged: {verified:?}");
    }

    /// A signed request with its Authorization header, date, token, host or body
    /// mutated: verification may only succeed as its signer, and every refusal is a
    /// 400 or 403.
    #[test]
    fn mutated_signed_requests_verify_as_their_signer_or_are_refused(
        seed in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let original = signed_seed(seed);
        let signer = verify_signed(&original, SIGNED_AT)?.expect("the seed verifies");
        let mutated = mutate(original, &mutations);
        if let Ok(who) = verify_signed(&mutated, SIGNED_AT)? {
            prop_assert_eq!(who, signer);
        }
    }

    /// The signing time given in either header, in any form, is read or refused with a
    /// 400 or 403; it never verifies as anyone but the signer.
    #[test]
    fn date_headers_are_read_or_refused(
        seed in 0usize..4,
        value in date_value(),
        in_date_header in any::<bool>(),
    ) {
        let mut s = signed_seed(seed);
        if in_date_header {
            s.headers.remove("x-amz-date");
            s.headers.insert("date", value);
        } else {
            s.headers.insert("x-amz-date", value);
        }
        let signer = verify_signed(&signed_seed(seed), SIGNED_AT)?.expect("the seed verifies");
        if let Ok(who) = verify_signed(&s, SIGNED_AT)? {
            prop_assert_eq!(who, signer);
        }
    }

    /// Changing a byte of the body or a digit of the signature is always caught.
    #[test]
    fn tampering_is_detected(
        seed in 0usize..4,
        at in any::<usize>(),
        tamper_body in any::<bool>(),
    ) {
        let original = signed_seed(seed);
        let mutated = if tamper_body {
            mutate(original, &[Mutation::FlipBodyByte(at)])
        } else {
            let mut auth = AuthorizationParts::of(&original.headers);
            let digit = auth.parameter("Signature").map_or('0', |s| {
                let hex = &s["Signature=".len()..];
                let old = hex.as_bytes()[at % hex.len()];
                if old == b'0' { '1' } else { '0' }
            });
            mutate(original, &[Mutation::SignatureChar(at, digit)])
        };
        let verified = verify_signed(&mutated, SIGNED_AT)?;
        let e = verified.expect_err("tampered request verified");
        prop_assert_eq!(e.status(), 403);
    }

    /// Whatever the signer signs verifies as its signer, at the signing time and up to
    /// the clock skew either way, and not beyond it.
    #[test]
    fn signed_requests_verify_within_the_clock_skew(
        s in signing(),
        skew_seconds in -1200i64..1200,
    ) {
        let (headers, keys) = s.sign();
        let req = request(&s.method, &s.path, s.query.as_deref(), &headers, &s.body);
        let who = verify_both(&req, &keys, s.time(), Some(&s.service))?
            .unwrap_or_else(|e| panic!("{s:?} did not verify: {e:?}"));
        prop_assert_eq!(&who.access_key_id, &s.access_key_id);
        prop_assert_eq!(&who.region, &s.region);
        prop_assert_eq!(who.signed_at, s.time());
        let later = s.time() + Duration::seconds(skew_seconds);
        let verified = verify_both(&req, &keys, later, Some(&s.service))?;
        prop_assert_eq!(verified.is_ok(), skew_seconds.abs() <= 15 * 60, "{:?}", verified);
    }
}

#[test]
fn every_seed_verifies() {
    for seed in 0..4 {
        let s = signed_seed(seed);
        verify(
            &request(s.method, s.path, s.query, &s.headers, &s.body),
            &known_keys(),
            SIGNED_AT,
            Some(s.service),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// Found by `date_headers_are_read_or_refused`: a `Date` whose zone puts it past the
/// last representable UTC time panicked while being converted.
#[test]
fn a_date_past_year_9999_in_utc_is_refused() {
    let mut s = signed_seed(0);
    s.headers.remove("x-amz-date");
    s.headers.insert(
        "date",
        HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 -2359"),
    );
    let e = verify(
        &request(s.method, s.path, s.query, &s.headers, &s.body),
        &known_keys(),
        SIGNED_AT,
        Some(s.service),
    )
    .unwrap_err();
    assert_eq!(e.code(), "IncompleteSignatureException", "{e}");
    assert_eq!(e.status(), 400);
}
