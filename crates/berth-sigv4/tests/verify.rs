//! Sign → verify round trips and every way verification refuses a request, with AWS's error
//! names, statuses and messages.

use std::collections::HashMap;

use berth_sigv4::{
    sign, sign_request, verify, AuthError, Credentials, Identity, Payload, Request, SigningParams,
    Verifier,
};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use time::macros::datetime;
use time::OffsetDateTime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE/token+with=chars";
const SIGNED_AT: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);
const BODY: &[u8] = br#"{"cluster":"default"}"#;
const MISMATCH: &str = "The request signature we calculated does not match the signature you \
    provided. Check your AWS Secret Access Key and signing method. Consult the service \
    documentation for details.";

fn keys() -> HashMap<String, Identity> {
    let mut keys = HashMap::new();
    keys.insert(
        AKID.to_owned(),
        Identity {
            secret_access_key: SECRET.into(),
            account_id: "123456789012".into(),
            session_token: None,
        },
    );
    keys.insert(
        "ASIATEMPORARY".to_owned(),
        Identity {
            secret_access_key: "temporary-secret".into(),
            account_id: "210987654321".into(),
            session_token: Some(TOKEN.into()),
        },
    );
    keys
}

fn creds(akid: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: token.map(str::to_owned),
    }
}

fn ecs_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("ecs.berth.local:8080"));
    h.insert(
        "x-amz-target",
        HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.ListClusters"),
    );
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    h
}

fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
    Request {
        method: "POST",
        path: "/",
        query: None,
        headers,
        authority: None,
        payload: Payload::Bytes(body),
    }
}

/// ECS headers signed with `c` for `service` at `at`.
fn signed_with(c: &Credentials, service: &str, at: OffsetDateTime) -> HeaderMap {
    let mut h = ecs_headers();
    let signed = sign(
        &request(&h, BODY),
        &SigningParams {
            credentials: c,
            region: "us-east-1",
            service,
            time: at,
            content_sha256_header: false,
        },
    )
    .unwrap();
    signed.apply(&mut h);
    h
}

fn signed() -> HeaderMap {
    signed_with(&creds(AKID, SECRET, None), "ecs", SIGNED_AT)
}

fn check(headers: &HeaderMap, body: &[u8]) -> Result<berth_sigv4::Verified, AuthError> {
    verify(&request(headers, body), &keys(), SIGNED_AT, Some("ecs"))
}

fn check_at(headers: &HeaderMap, now: OffsetDateTime) -> Result<berth_sigv4::Verified, AuthError> {
    verify(&request(headers, BODY), &keys(), now, Some("ecs"))
}

fn authorization(h: &HeaderMap) -> String {
    h.get(AUTHORIZATION).unwrap().to_str().unwrap().to_owned()
}

fn set_authorization(h: &mut HeaderMap, value: &str) {
    h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
}

fn incomplete(message: &str) -> AuthError {
    AuthError::IncompleteSignature(message.to_owned())
}

fn assert_invalid(result: Result<berth_sigv4::Verified, AuthError>, message: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.code(), "InvalidSignatureException", "{err}");
    assert_eq!(err.query_code(), "SignatureDoesNotMatch");
    assert_eq!(err.status(), 403);
    assert_eq!(err.to_string(), message);
}

// ------------------------------------------------------------------ round trips

#[test]
fn a_signed_request_verifies_and_names_its_signer() {
    let who = check(&signed(), BODY).unwrap();
    assert_eq!(who.access_key_id, AKID);
    assert_eq!(who.account_id, "123456789012");
    assert_eq!(who.region, "us-east-1");
    assert_eq!(who.service, "ecs");
    assert_eq!(who.signed_at, SIGNED_AT);
}

#[test]
fn the_cached_verifier_agrees_with_the_uncached_one() {
    let verifier = Verifier::new();
    let h = signed();
    for _ in 0..3 {
        let who = verifier
            .verify(&request(&h, BODY), &keys(), SIGNED_AT, Some("ecs"))
            .unwrap();
        assert_eq!(who, check(&h, BODY).unwrap());
    }
    // After a secret rotation the cached key must not be reused.
    let mut rotated = keys();
    rotated.get_mut(AKID).unwrap().secret_access_key = "rotated".into();
    let err = verifier
        .verify(&request(&h, BODY), &rotated, SIGNED_AT, Some("ecs"))
        .unwrap_err();
    assert_eq!(err.to_string(), MISMATCH);
    let h = signed_with(&creds(AKID, "rotated", None), "ecs", SIGNED_AT);
    verifier
        .verify(&request(&h, BODY), &rotated, SIGNED_AT, Some("ecs"))
        .unwrap();
}

#[test]
fn headers_added_after_signing_and_unsigned_ones_do_not_matter() {
    let mut h = signed();
    h.insert("user-agent", HeaderValue::from_static("aws-cli/2.15.0"));
    h.insert(
        "amz-sdk-request",
        HeaderValue::from_static("attempt=2; max=3"),
    );
    h.insert("content-length", HeaderValue::from_static("21"));
    check(&h, BODY).unwrap();
}

#[test]
fn no_expected_service_accepts_any_service() {
    let h = signed_with(&creds(AKID, SECRET, None), "logs", SIGNED_AT);
    let who = verify(&request(&h, BODY), &keys(), SIGNED_AT, None).unwrap();
    assert_eq!(who.service, "logs");
}

#[test]
fn query_order_and_encoding_do_not_matter_to_the_signature() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("elb.berth.local"));
    let c = creds(AKID, SECRET, None);
    let params = SigningParams {
        credentials: &c,
        region: "us-east-1",
        service: "elasticloadbalancing",
        time: SIGNED_AT,
        content_sha256_header: false,
    };
    let mut req = Request {
        method: "GET",
        path: "/a/./b//c",
        query: Some("Version=2015-12-01&Action=DescribeTargetGroups&Names.member.1=my%20tg"),
        headers: &h,
        authority: None,
        payload: Payload::Bytes(b""),
    };
    let signed = sign(&req, &params).unwrap();
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    req.headers = &h2;
    req.path = "/a/b/c";
    req.query = Some("Action=DescribeTargetGroups&Names.member.1=my%20tg&Version=2015-12-01");
    verify(&req, &keys(), SIGNED_AT, Some("elasticloadbalancing")).unwrap();
    req.query = Some("Action=DescribeTargetGroups&Names.member.1=other&Version=2015-12-01");
    assert_eq!(
        verify(&req, &keys(), SIGNED_AT, None)
            .unwrap_err()
            .to_string(),
        MISMATCH
    );
}

#[test]
fn http2_requests_without_a_host_header_use_the_uri_authority() {
    let c = creds(AKID, SECRET, None);
    let mut req = http::Request::builder()
        .method("POST")
        .uri("https://ecs.berth.local:8443/?x=1")
        .header("content-type", "application/x-amz-json-1.1")
        .body(BODY.to_vec())
        .unwrap();
    sign_request(
        &mut req,
        &SigningParams {
            credentials: &c,
            region: "us-east-1",
            service: "ecs",
            time: SIGNED_AT,
            content_sha256_header: false,
        },
    )
    .unwrap();
    // sign_request sets Host so that what is sent is what was signed.
    assert_eq!(req.headers()["host"], "ecs.berth.local:8443");
    verify(&Request::from_http(&req), &keys(), SIGNED_AT, Some("ecs")).unwrap();

    let (mut parts, body) = req.into_parts();
    parts.headers.remove("host");
    let from_parts = Request::from_parts(&parts, &body);
    assert_eq!(from_parts.authority, Some("ecs.berth.local:8443"));
    verify(&from_parts, &keys(), SIGNED_AT, Some("ecs")).unwrap();
}

#[test]
fn signing_needs_a_host() {
    let h = HeaderMap::new();
    let c = creds(AKID, SECRET, None);
    let err = sign(
        &request(&h, BODY),
        &SigningParams {
            credentials: &c,
            region: "us-east-1",
            service: "ecs",
            time: SIGNED_AT,
            content_sha256_header: false,
        },
    )
    .unwrap_err();
    assert_eq!(err, berth_sigv4::SignError::MissingHost);
}

#[test]
fn credentials_do_not_print_their_secrets() {
    let shown = format!("{:?}", creds(AKID, SECRET, Some(TOKEN)));
    assert!(shown.contains(AKID));
    assert!(!shown.contains(SECRET));
    assert!(!shown.contains(TOKEN));
}

// ------------------------------------------------------------- missing or malformed

#[test]
fn no_authorization_header_is_a_missing_token() {
    let mut h = ecs_headers();
    h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    let err = check(&h, BODY).unwrap_err();
    assert_eq!(err, AuthError::MissingAuthenticationToken);
    assert_eq!(err.code(), "MissingAuthenticationTokenException");
    assert_eq!(err.query_code(), "MissingAuthenticationToken");
    assert_eq!(err.status(), 403);
    assert_eq!(err.to_string(), "Missing Authentication Token");

    set_authorization(&mut h, "  ");
    assert_eq!(
        check(&h, BODY).unwrap_err(),
        AuthError::MissingAuthenticationToken
    );
}

#[test]
fn missing_parameters_and_date_are_listed_as_aws_lists_them() {
    let mut h = ecs_headers();
    set_authorization(
        &mut h,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request",
    );
    let err = check(&h, BODY).unwrap_err();
    assert_eq!(err.code(), "IncompleteSignatureException");
    assert_eq!(err.query_code(), "IncompleteSignature");
    assert_eq!(err.status(), 400);
    assert_eq!(
        err,
        incomplete(
            "Authorization header requires 'Signature' parameter. Authorization header requires \
             'SignedHeaders' parameter. Authorization header requires existence of either a \
             'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 \
             Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request"
        )
    );
}

#[test]
fn other_authorization_schemes_miss_every_parameter() {
    let mut h = signed();
    set_authorization(&mut h, "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
    assert_eq!(
        check(&h, BODY).unwrap_err(),
        incomplete(
            "Authorization header requires 'Credential' parameter. Authorization header \
             requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
             parameter. Authorization=AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="
        )
    );
}

#[test]
fn a_parameter_without_equal_sign_is_incomplete() {
    let mut h = signed();
    let value = authorization(&h).replace("Credential=", "Credential ");
    set_authorization(&mut h, &value);
    assert_eq!(
        check(&h, BODY).unwrap_err(),
        incomplete(&format!(
            "'Credential' not a valid key=value pair (missing equal-sign) in Authorization \
             header: '{value}'."
        ))
    );
}

#[test]
fn two_authorization_headers_are_incomplete() {
    let mut h = signed();
    let value = h.get(AUTHORIZATION).unwrap().clone();
    h.append(AUTHORIZATION, value);
    assert_eq!(check(&h, BODY).unwrap_err().status(), 400);
}

#[test]
fn an_unsupported_algorithm_is_incomplete() {
    let mut h = signed();
    let value = authorization(&h).replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
    set_authorization(&mut h, &value);
    assert_eq!(
        check(&h, BODY).unwrap_err(),
        incomplete(
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now)."
        )
    );
}

#[test]
fn a_credential_without_five_parts_is_incomplete() {
    let mut h = signed();
    let value = authorization(&h).replace("/aws4_request", "");
    set_authorization(&mut h, &value);
    assert_eq!(
        check(&h, BODY).unwrap_err(),
        incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/us-east-1/ecs'"
        )
    );
}

#[test]
fn a_malformed_date_is_incomplete() {
    let mut h = signed();
    h.insert(
        "x-amz-date",
        HeaderValue::from_static("2015-08-30T12:36:00Z"),
    );
    assert_eq!(
        check(&h, BODY).unwrap_err(),
        incomplete(
            "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        )
    );
}

// ------------------------------------------------------------------ wrong signatures

#[test]
fn an_unknown_access_key_is_an_unrecognized_client() {
    let h = signed_with(&creds("AKIDUNKNOWN", SECRET, None), "ecs", SIGNED_AT);
    let err = check(&h, BODY).unwrap_err();
    assert_eq!(err.code(), "UnrecognizedClientException");
    assert_eq!(err.query_code(), "InvalidClientTokenId");
    assert_eq!(err.status(), 403);
    assert_eq!(
        err.to_string(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn a_wrong_secret_does_not_match_and_says_what_was_computed() {
    let h = signed_with(&creds(AKID, "not-the-secret", None), "ecs", SIGNED_AT);
    let err = check(&h, BODY).unwrap_err();
    let AuthError::InvalidSignature {
        mismatch: Some(detail),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(detail.canonical_request.starts_with(
        "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:ecs.berth.local:8080\n"
    ));
    assert!(detail
        .string_to_sign
        .starts_with("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/ecs/aws4_request\n"));
    assert_invalid(Err(err), MISMATCH);
}

#[test]
fn a_tampered_body_does_not_match() {
    assert_invalid(check(&signed(), br#"{"cluster":"prod"}"#), MISMATCH);
}

#[test]
fn a_tampered_signed_header_does_not_match() {
    let mut h = signed();
    h.insert(
        "x-amz-target",
        HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.DeleteCluster"),
    );
    assert_invalid(check(&h, BODY), MISMATCH);
}

#[test]
fn a_tampered_or_garbled_signature_does_not_match() {
    let mut h = signed();
    let value = authorization(&h);
    let (head, sig) = value.rsplit_once('=').unwrap();
    let flipped: String = sig
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == '0' {
                    '1'
                } else {
                    '0'
                }
            } else {
                c
            }
        })
        .collect();
    for bad in [flipped.as_str(), "zz", &sig[..10], &format!("{sig}00")] {
        set_authorization(&mut h, &format!("{head}={bad}"));
        assert_invalid(check(&h, BODY), MISMATCH);
    }
}

#[test]
fn host_must_be_signed() {
    let mut h = signed();
    let value = authorization(&h).replace(
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target",
        "SignedHeaders=content-type;x-amz-date;x-amz-target",
    );
    set_authorization(&mut h, &value);
    assert_invalid(
        check(&h, BODY),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
}

#[test]
fn the_date_header_used_must_be_signed() {
    let mut h = signed();
    let value = authorization(&h).replace(
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target",
        "SignedHeaders=content-type;host;x-amz-target",
    );
    set_authorization(&mut h, &value);
    assert_invalid(
        check(&h, BODY),
        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
    );
}

// ------------------------------------------------------------------------- time

#[test]
fn a_stale_date_has_expired() {
    let h = signed_with(
        &creds(AKID, SECRET, None),
        "ecs",
        datetime!(2013-05-24 00:00:00 UTC),
    );
    assert_invalid(
        check_at(&h, datetime!(2013-05-24 00:20:00.75 UTC)),
        "Signature expired: 20130524T000000Z is now earlier than 20130524T000500Z \
         (20130524T002000Z - 15 min.)",
    );
}

#[test]
fn a_future_date_is_not_yet_current() {
    let h = signed_with(
        &creds(AKID, SECRET, None),
        "ecs",
        datetime!(2013-05-24 00:30:00 UTC),
    );
    assert_invalid(
        check_at(&h, datetime!(2013-05-24 00:10:00 UTC)),
        "Signature not yet current: 20130524T003000Z is still later than 20130524T002500Z \
         (20130524T001000Z + 15 min.)",
    );
}

#[test]
fn fifteen_minutes_either_way_is_still_accepted() {
    let h = signed();
    check_at(&h, datetime!(2015-08-30 12:51:00 UTC)).unwrap();
    check_at(&h, datetime!(2015-08-30 12:21:00 UTC)).unwrap();
    assert!(check_at(&h, datetime!(2015-08-30 12:51:01 UTC)).is_err());
    assert!(check_at(&h, datetime!(2015-08-30 12:20:59 UTC)).is_err());
}

#[test]
fn the_scope_date_must_be_the_request_date() {
    let mut h = signed();
    let value = authorization(&h).replace("/20150830/", "/20150829/");
    set_authorization(&mut h, &value);
    assert_invalid(
        check(&h, BODY),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20150829' != '20150830', from '20150830T123600Z'.",
    );
}

// ------------------------------------------------------------------------ scope

#[test]
fn a_signature_for_another_service_is_refused() {
    let h = signed_with(&creds(AKID, SECRET, None), "logs", SIGNED_AT);
    assert_invalid(
        check(&h, BODY),
        "Credential should be scoped to correct service: 'ecs'.",
    );
}

#[test]
fn a_signature_for_another_region_is_refused_when_the_region_is_fixed() {
    let h = signed();
    let verifier = Verifier::new().with_region("eu-west-1");
    assert_invalid(
        verifier.verify(&request(&h, BODY), &keys(), SIGNED_AT, Some("ecs")),
        "Credential should be scoped to a valid region, not 'us-east-1'.",
    );
}

#[test]
fn every_scope_problem_is_reported_at_once() {
    let mut h = signed();
    let value = authorization(&h).replace(
        "/20150830/us-east-1/ecs/aws4_request",
        "/20150829//logs/aws5_request",
    );
    set_authorization(&mut h, &value);
    assert_invalid(
        check(&h, BODY),
        "Credential should be scoped to a valid region, not ''. Credential should be scoped to \
         correct service: 'ecs'. Credential should be scoped with a valid terminator: \
         'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD \
         from ISO-8601 version of date from HTTP: '20150829' != '20150830', from \
         '20150830T123600Z'.",
    );
}

// --------------------------------------------------------------- session tokens

fn temporary_check(h: &HeaderMap) -> Result<berth_sigv4::Verified, AuthError> {
    check(h, BODY)
}

#[test]
fn temporary_credentials_verify_with_their_token() {
    let h = signed_with(
        &creds("ASIATEMPORARY", "temporary-secret", Some(TOKEN)),
        "ecs",
        SIGNED_AT,
    );
    assert_eq!(h["x-amz-security-token"], TOKEN);
    let who = temporary_check(&h).unwrap();
    assert_eq!(who.account_id, "210987654321");
}

#[test]
fn a_mismatch_report_does_not_leak_the_session_token() {
    let h = signed_with(
        &creds("ASIATEMPORARY", "wrong", Some(TOKEN)),
        "ecs",
        SIGNED_AT,
    );
    let AuthError::InvalidSignature {
        mismatch: Some(detail),
        ..
    } = temporary_check(&h).unwrap_err()
    else {
        panic!("expected a signature mismatch");
    };
    assert!(detail
        .canonical_request
        .contains("\nx-amz-security-token:<redacted>\n"));
    assert!(!detail.canonical_request.contains(TOKEN));
    let shown = format!("{:?}", keys()["ASIATEMPORARY"]);
    assert!(!shown.contains(TOKEN) && !shown.contains("temporary-secret"));
}

#[test]
fn a_verifier_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Verifier>();
}

#[test]
fn temporary_credentials_without_their_token_are_refused() {
    let h = signed_with(
        &creds("ASIATEMPORARY", "temporary-secret", None),
        "ecs",
        SIGNED_AT,
    );
    let err = temporary_check(&h).unwrap_err();
    assert_eq!(err.code(), "UnrecognizedClientException");
    assert_eq!(
        err.to_string(),
        "The security token included in the request is invalid"
    );
}

#[test]
fn a_wrong_token_is_refused() {
    let h = signed_with(
        &creds(
            "ASIATEMPORARY",
            "temporary-secret",
            Some("a-stolen-or-stale-token"),
        ),
        "ecs",
        SIGNED_AT,
    );
    let err = temporary_check(&h).unwrap_err();
    assert_eq!(err.code(), "UnrecognizedClientException");
    assert_eq!(err.status(), 403);
}

#[test]
fn a_long_term_key_sending_a_token_is_refused() {
    let h = signed_with(&creds(AKID, SECRET, Some(TOKEN)), "ecs", SIGNED_AT);
    assert_eq!(
        check(&h, BODY).unwrap_err().to_string(),
        "The security token included in the request is invalid"
    );
}

// ---------------------------------------------------------------- payload hash

fn signed_with_content_sha256(payload: Payload<'_>) -> HeaderMap {
    let mut h = ecs_headers();
    let c = creds(AKID, SECRET, None);
    let req = Request {
        payload,
        ..request(&h, BODY)
    };
    let signed = sign(
        &req,
        &SigningParams {
            credentials: &c,
            region: "us-east-1",
            service: "ecs",
            time: SIGNED_AT,
            content_sha256_header: true,
        },
    )
    .unwrap();
    signed.apply(&mut h);
    h
}

#[test]
fn a_declared_body_hash_must_match_the_body() {
    let h = signed_with_content_sha256(Payload::Bytes(BODY));
    check(&h, BODY).unwrap();
    assert_invalid(
        check(&h, b"{}"),
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
}

#[test]
fn a_precomputed_body_hash_verifies() {
    use sha2::Digest;
    let h = signed_with_content_sha256(Payload::Bytes(BODY));
    let req = Request {
        payload: Payload::Sha256(sha2::Sha256::digest(BODY).into()),
        ..request(&h, b"")
    };
    verify(&req, &keys(), SIGNED_AT, Some("ecs")).unwrap();
}

#[test]
fn an_unsigned_payload_is_not_checked_against_the_body() {
    let h = signed_with_content_sha256(Payload::Unsigned);
    assert_eq!(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    check(&h, BODY).unwrap();
    check(&h, b"anything").unwrap();
    let req = Request {
        payload: Payload::Unsigned,
        ..request(&h, b"")
    };
    verify(&req, &keys(), SIGNED_AT, Some("ecs")).unwrap();
}

#[test]
fn a_server_that_does_not_read_the_body_requires_unsigned_payload() {
    let h = signed();
    let req = Request {
        payload: Payload::Unsigned,
        ..request(&h, b"")
    };
    let err = verify(&req, &keys(), SIGNED_AT, Some("ecs")).unwrap_err();
    assert_eq!(err.code(), "InvalidSignatureException");
}
