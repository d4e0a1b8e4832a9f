//! Requests exactly as the AWS CLI (1.45.11, botocore 1.43.11) and botocore sign them,
//! captured on the wire from a local HTTP server, must verify; and Berth's signer must produce
//! botocore's signature for the same request.

use berth_sigv4::{sign, Credentials, Identity, Payload, Request, SigningParams, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};
use time::macros::datetime;
use time::OffsetDateTime;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn headers(raw: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(": ").unwrap();
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn identity(token: Option<&str>) -> impl Fn(&str) -> Option<Identity> + '_ {
    move |akid| {
        (akid == "AKIDEXAMPLE").then(|| Identity {
            secret_access_key: SECRET.into(),
            account_id: "123456789012".into(),
            session_token: token.map(str::to_owned),
        })
    }
}

fn verifies(
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
    service: &str,
    token: Option<&str>,
) -> berth_sigv4::Verified {
    let req = Request {
        method: if body.is_empty() { "GET" } else { "POST" },
        path,
        query,
        headers,
        authority: None,
        payload: Payload::Bytes(body),
    };
    Verifier::new()
        .with_region("us-east-1")
        .verify(&req, &identity(token), now, Some(service))
        .unwrap_or_else(|e| panic!("{}: {e}", e.code()))
}

#[test]
fn aws_cli_ecs_list_clusters_verifies() {
    let h = headers(
        "Host: 127.0.0.1:18999
         Accept-Encoding: identity
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters
         Content-Type: application/x-amz-json-1.1
         User-Agent: aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v669 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/C,g,b,N,D,Z cfg/retry-mode#legacy botocore/1.43.11
         X-Amz-Date: 20261122T034736Z
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=27c51734a41df2722f5f8a4114d8d14407530c535494423685b68462014163e5
         amz-sdk-invocation-id: ec4eda9c-4807-439d-bc12-2129d7b55a91
         amz-sdk-request: attempt=1
         Content-Length: 2",
    );
    let who = verifies(
        &h,
        "/",
        None,
        b"{}",
        datetime!(2026-11-22 03:47:40 UTC),
        "ecs",
        None,
    );
    assert_eq!(who.access_key_id, "AKIDEXAMPLE");
    assert_eq!(who.account_id, "123456789012");
    assert_eq!(who.region, "us-east-1");
    assert_eq!(who.service, "ecs");
    assert_eq!(who.signed_at, datetime!(2026-11-22 03:47:36 UTC));
}

#[test]
fn aws_cli_ecs_call_with_a_session_token_verifies() {
    let h = headers(
        "Host: 127.0.0.1:18999
         Accept-Encoding: identity
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters
         Content-Type: application/x-amz-json-1.1
         User-Agent: aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v669 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,b,N,g,D cfg/retry-mode#legacy botocore/1.43.11
         X-Amz-Date: 20261122T034743Z
         X-Amz-Security-Token: IQoJb3JpZ2luX2VjEXAMPLE/token+with=chars
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=5316de0d0bff172336c903b6c6abe90236076332ace12787f80385eac2cb3b8f
         amz-sdk-invocation-id: 5466b8b5-ab49-44b2-af7a-25c9c3888709
         amz-sdk-request: attempt=1
         Content-Length: 25",
    );
    verifies(
        &h,
        "/",
        None,
        br#"{"clusters": ["default"]}"#,
        datetime!(2026-11-22 03:47:43 UTC),
        "ecs",
        Some("IQoJb3JpZ2luX2VjEXAMPLE/token+with=chars"),
    );
}

#[test]
fn aws_cli_elbv2_query_protocol_form_body_verifies() {
    let h = headers(
        "Host: 127.0.0.1:18999
         Accept-Encoding: identity
         Content-Type: application/x-www-form-urlencoded; charset=utf-8
         User-Agent: aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44-fc-v669 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,C,D,g,N,b cfg/retry-mode#legacy botocore/1.43.11
         X-Amz-Date: 20261122T034741Z
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5da59d54c5683c5b62f3e00120fe4b4f7bcf95b4a4c5e9987206604fd6824e35
         amz-sdk-invocation-id: 5f8c8ab1-bd5a-4faf-aab5-3f4a7b1f8386
         amz-sdk-request: attempt=1
         Content-Length: 68",
    );
    verifies(
        &h,
        "/",
        None,
        b"Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=my+lb",
        datetime!(2026-11-22 03:50:00 UTC),
        "elasticloadbalancing",
        None,
    );
}

/// botocore with `Date` instead of `X-Amz-Date` (its `formatdate` writes `-0000`).
#[test]
fn botocore_date_header_request_verifies() {
    let h = headers(
        "Host: localhost:8080
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters
         Content-Type: application/x-amz-json-1.1
         Date: Sun, 30 Aug 2015 12:36:00 -0000
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, SignedHeaders=content-type;date;host;x-amz-target, Signature=c037716dc8417fcd35af1b2640f2a3ed4e017aa2edfd91ec439c1c0db5da1f51",
    );
    let who = verifies(
        &h,
        "/",
        None,
        b"{}",
        datetime!(2015-08-30 12:36:00 UTC),
        "ecs",
        None,
    );
    assert_eq!(who.signed_at, datetime!(2015-08-30 12:36:00 UTC));
}

/// botocore signing `GET /some%20path/./x?b=2&a=1&c=a%20b`: the path is normalized and its
/// escapes encoded again (`/some%2520path/x`), the query sorted.
#[test]
fn botocore_path_and_query_canonicalization_verifies() {
    let h = headers(
        "Host: localhost:8080
         X-Amz-Date: 20150830T123600Z
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=d4db8989cabcfdd0cac39a8b495bcfaa05074b86c945b6b95f9772613ae887f2",
    );
    verifies(
        &h,
        "/some%20path/./x",
        Some("b=2&a=1&c=a%20b"),
        b"",
        datetime!(2015-08-30 12:36:00 UTC),
        "ecs",
        None,
    );
}

/// An ECS JSON 1.1 call as botocore signs it at 20150830T123600Z for `http://localhost:8080/`:
/// Berth's signer must produce botocore's Authorization header byte for byte, and the canonical
/// request is checked by hand.
#[test]
fn signer_matches_botocore_for_an_ecs_json_call() {
    let h = headers(
        "Host: localhost:8080
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters
         Content-Type: application/x-amz-json-1.1
         User-Agent: Botocore/1.43.11 ua/2.1 os/linux#6.18.44-fc-v669 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/D,e,Z,N,b cfg/retry-mode#legacy",
    );
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    let req = Request {
        method: "POST",
        path: "/",
        query: None,
        headers: &h,
        authority: None,
        payload: Payload::Bytes(b"{}"),
    };
    let signed = sign(
        &req,
        &SigningParams {
            credentials: &creds,
            region: "us-east-1",
            service: "ecs",
            time: datetime!(2015-08-30 12:36:00 UTC),
            content_sha256_header: false,
        },
    )
    .unwrap();

    // By hand: method, path, empty query, the four signed headers sorted, the list, sha256("{}").
    assert_eq!(
        signed.canonical_request,
        "POST\n/\n\n\
         content-type:application/x-amz-json-1.1\n\
         host:localhost:8080\n\
         x-amz-date:20150830T123600Z\n\
         x-amz-target:AmazonEC2ContainerServiceV20141113.ListClusters\n\n\
         content-type;host;x-amz-date;x-amz-target\n\
         44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(
        signed.string_to_sign.lines().take(3).collect::<Vec<_>>(),
        [
            "AWS4-HMAC-SHA256",
            "20150830T123600Z",
            "20150830/us-east-1/ecs/aws4_request"
        ]
    );
    let authorization = &signed
        .headers
        .iter()
        .find(|(n, _)| n == http::header::AUTHORIZATION)
        .unwrap()
        .1;
    assert_eq!(
        authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
         Signature=990c9036f09419c3cd7bc828217b889ce440e30e83d4a3608a681a67b2be2517"
    );
    assert_eq!(signed.headers[0].0, "x-amz-date");
    assert_eq!(signed.headers[0].1, "20150830T123600Z");
    assert_eq!(signed.headers.len(), 2);
}

/// The same with temporary credentials and botocore's ELBv2 form body.
#[test]
fn signer_matches_botocore_with_a_token_and_for_the_query_protocol() {
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: Some("FQoGZXIvYXdzEXAMPLETOKEN//+=".into()),
    };
    let h = headers(
        "Host: localhost:8080
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters
         Content-Type: application/x-amz-json-1.1",
    );
    let body = br#"{"clusters": ["default"]}"#;
    let req = Request {
        method: "POST",
        path: "/",
        query: None,
        headers: &h,
        authority: None,
        payload: Payload::Bytes(body),
    };
    let params = SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "ecs",
        time: datetime!(2015-08-30 12:36:00 UTC),
        content_sha256_header: false,
    };
    let signed = sign(&req, &params).unwrap();
    assert_eq!(
        signed.signature,
        "bf66d494fa7a085f2f93c17f31d126e5e12e800aaa9f35bbb3d1c5b21f5e1410"
    );
    assert!(signed
        .headers
        .iter()
        .any(|(n, v)| n == "x-amz-security-token" && v == "FQoGZXIvYXdzEXAMPLETOKEN//+="));

    let long_term = Credentials {
        session_token: None,
        ..creds.clone()
    };
    let h = headers(
        "Host: localhost:8080
         Content-Type: application/x-www-form-urlencoded; charset=utf-8",
    );
    let req = Request {
        method: "POST",
        path: "/",
        query: None,
        headers: &h,
        authority: None,
        payload: Payload::Bytes(
            b"Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=my+lb",
        ),
    };
    let signed = sign(
        &req,
        &SigningParams {
            credentials: &long_term,
            service: "elasticloadbalancing",
            ..params
        },
    )
    .unwrap();
    assert_eq!(
        signed.signature,
        "89ceba96cf08ac6dd8040219f4f1e10cdd6319ac89153960746a879449235e42"
    );
}
