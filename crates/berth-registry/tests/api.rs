//! The distribution API end to end: a real TCP listener, an embedded store in a
//! temporary directory, and reqwest (or a raw socket, for paths reqwest would
//! normalise) as the client.

mod common;

use berth_registry::Digest;
use common::{error_code, scope, TestRegistry, PASSWORD, USER};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Sends a request exactly as written (reqwest would resolve `..` in paths).
async fn raw(r: &TestRegistry, method: &str, path: &str) -> (u16, String) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let mut stream = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        r.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    (status, answer)
}

#[tokio::test]
async fn the_base_endpoint_asks_for_credentials() {
    let r = TestRegistry::start(&[]).await;
    let anonymous = r.client.get(r.url("/v2/")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        header(&anonymous, "www-authenticate"),
        "Basic realm=\"berth\""
    );
    let (_, code) = error_code(anonymous).await;
    assert_eq!(code, "UNAUTHORIZED");
    let wrong = r
        .client
        .get(r.url("/v2/"))
        .basic_auth(USER, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = r.req(Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(&ok, "docker-distribution-api-version"),
        "registry/2.0"
    );
    let blob = r
        .client
        .get(r.url(&format!("/v2/team/app/blobs/{}", Digest::of(b"x"))))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), 401);
}

#[tokio::test]
async fn monolithic_uploads_store_and_serve_blobs() {
    let r = TestRegistry::start(&["team/app"]).await;
    let content = b"hello, registry".to_vec();
    let digest = Digest::of(&content);
    let post = r
        .req(
            Method::POST,
            &format!("/v2/team/app/blobs/uploads/?digest={digest}"),
        )
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 201);
    assert_eq!(
        header(&post, "location"),
        format!("/v2/team/app/blobs/{digest}")
    );
    assert_eq!(header(&post, "docker-content-digest"), digest.to_string());

    let head = r
        .req(Method::HEAD, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), content.len().to_string());
    assert_eq!(header(&head, "docker-content-digest"), digest.to_string());
    let get = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.bytes().await.unwrap(), content);

    // POST then PUT.
    let other = b"second blob".to_vec();
    let other_digest = Digest::of(&other);
    let post = r
        .req(Method::POST, "/v2/team/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 202);
    assert_eq!(header(&post, "range"), "0-0");
    assert!(!header(&post, "docker-upload-uuid").is_empty());
    let location = header(&post, "location");
    let put = r
        .req(Method::PUT, &format!("{location}?digest={other_digest}"))
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let get = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{other_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap(), other);
}

#[tokio::test]
async fn chunked_uploads_take_chunks_in_order() {
    let r = TestRegistry::start(&["team/app"]).await;
    let post = r
        .req(Method::POST, "/v2/team/app/blobs/uploads/")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    let location = header(&post, "location");
    let patch = |range: &str, body: &'static [u8]| {
        r.req(Method::PATCH, &location)
            .header("content-range", range)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let first = patch("0-4", b"01234").await.unwrap();
    assert_eq!(first.status(), 202);
    assert_eq!(header(&first, "range"), "0-4");
    assert_eq!(header(&first, "location"), location);

    let skipped = patch("10-14", b"abcde").await.unwrap();
    assert_eq!(skipped.status(), 416);
    assert_eq!(header(&skipped, "range"), "0-4");
    let (_, code) = error_code(skipped).await;
    assert_eq!(code, "BLOB_UPLOAD_INVALID");
    let status = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(header(&status, "range"), "0-4");

    assert_eq!(patch("5-9", b"56789").await.unwrap().status(), 202);
    let whole = b"0123456789ab";
    let digest = Digest::of(whole);
    let put = r
        .req(Method::PUT, &format!("{location}?digest={digest}"))
        .header("content-range", "10-11")
        .body(&b"ab"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let get = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap(), &whole[..]);
    let finished = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(
        error_code(finished).await,
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );
}

#[tokio::test]
async fn out_of_order_chunks_leave_nothing_visible() {
    let r = TestRegistry::start(&["team/app"]).await;
    let location = header(
        &r.req(Method::POST, "/v2/team/app/blobs/uploads/")
            .send()
            .await
            .unwrap(),
        "location",
    );
    let skipped = r
        .req(Method::PATCH, &location)
        .header("content-range", "5-9")
        .body(&b"56789"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(skipped.status(), 416);
    let malformed = r
        .req(Method::PATCH, &location)
        .header("content-range", "bogus")
        .body(&b"x"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 416);
    let status = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(header(&status, "range"), "0-0");
    let digest = Digest::of(b"56789");
    let put = r
        .req(Method::PUT, &format!("{location}?digest={digest}"))
        .header("content-range", "5-9")
        .body(&b"56789"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 416);
    let head = r
        .req(Method::HEAD, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);
    let cancel = r.req(Method::DELETE, &location).send().await.unwrap();
    assert_eq!(cancel.status(), 204);
    let gone = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(error_code(gone).await, (404, "BLOB_UPLOAD_UNKNOWN".into()));
    let uploads = std::fs::read_dir(r.dir.path().join("registry/uploads")).unwrap();
    assert_eq!(uploads.count(), 0);
}

#[tokio::test]
async fn a_wrong_digest_is_refused_and_nothing_is_visible() {
    let r = TestRegistry::start(&["team/app"]).await;
    let claimed = Digest::of(b"what the client claims");
    let actual = Digest::of(b"what it sends");
    let post = r
        .req(
            Method::POST,
            &format!("/v2/team/app/blobs/uploads/?digest={claimed}"),
        )
        .body(&b"what it sends"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(post).await, (400, "DIGEST_INVALID".into()));
    let location = header(
        &r.req(Method::POST, "/v2/team/app/blobs/uploads/")
            .send()
            .await
            .unwrap(),
        "location",
    );
    let put = r
        .req(Method::PUT, &format!("{location}?digest={claimed}"))
        .body(&b"what it sends"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(put).await, (400, "DIGEST_INVALID".into()));
    for digest in [&claimed, &actual] {
        let head = r
            .req(Method::HEAD, &format!("/v2/team/app/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 404);
    }
    assert!(r.registry.blobs.stat(&actual).await.unwrap().is_none());
    let gone = r.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let sha512 = r
        .req(
            Method::POST,
            "/v2/team/app/blobs/uploads/?digest=sha512:abcd",
        )
        .body(&b"x"[..])
        .send()
        .await
        .unwrap();
    let status = sha512.status();
    let body = sha512.text().await.unwrap();
    assert_eq!(status, 400);
    assert!(
        body.contains("DIGEST_INVALID") && body.contains("sha256 digests only"),
        "{body}"
    );
}

#[tokio::test]
async fn manifests_push_pull_and_negotiate() {
    let r = TestRegistry::start(&["team/app"]).await;
    let (digest, manifest) = r.push_image("team/app", "v1", "one").await;
    let bytes = serde_json::to_vec(&manifest).unwrap();
    for reference in ["v1".to_owned(), digest.to_string()] {
        let get = r
            .req(Method::GET, &format!("/v2/team/app/manifests/{reference}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 200);
        assert_eq!(header(&get, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&get, "docker-content-digest"), digest.to_string());
        assert_eq!(get.bytes().await.unwrap(), bytes);
    }
    let head = r
        .req(Method::HEAD, "/v2/team/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), bytes.len().to_string());
    let docker_only = r
        .req(Method::GET, "/v2/team/app/manifests/v1")
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(docker_only).await,
        (404, "MANIFEST_UNKNOWN".into())
    );
    let wildcard = r
        .req(Method::GET, "/v2/team/app/manifests/v1")
        .header("accept", format!("{DOCKER_MANIFEST}, */*"))
        .send()
        .await
        .unwrap();
    assert_eq!(wildcard.status(), 200);

    let wrong_digest = r
        .req(
            Method::PUT,
            &format!("/v2/team/app/manifests/{}", Digest::of(b"x")),
        )
        .header("content-type", OCI_MANIFEST)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong_digest).await,
        (400, "DIGEST_INVALID".into())
    );
    let bad_tag = r
        .req(Method::PUT, "/v2/team/app/manifests/.bad")
        .header("content-type", OCI_MANIFEST)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad_tag).await, (400, "TAG_INVALID".into()));
    // Tags given as query parameters of a push by digest.
    let tagged = r
        .req(
            Method::PUT,
            &format!("/v2/team/app/manifests/{digest}?tag=1.0&tag=stable"),
        )
        .header("content-type", OCI_MANIFEST)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.status(), 201);
    let oci_tags: Vec<&str> = tagged
        .headers()
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(oci_tags, ["1.0", "stable"]);
    let tags: Value = r
        .req(Method::GET, "/v2/team/app/tags/list")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["1.0", "stable", "v1"]));
    let garbage = r
        .req(Method::PUT, "/v2/team/app/manifests/v2")
        .header("content-type", OCI_MANIFEST)
        .body("{\"schemaVersion\": 2")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(garbage).await, (400, "MANIFEST_INVALID".into()));
}

#[tokio::test]
async fn a_manifest_naming_a_missing_blob_is_refused() {
    let r = TestRegistry::start(&["team/app", "team/other"]).await;
    let config = r
        .descriptor(
            "team/app",
            "application/vnd.oci.image.config.v1+json",
            b"{}",
        )
        .await;
    let elsewhere = r
        .descriptor(
            "team/other",
            "application/vnd.oci.image.layer.v1.tar",
            b"other layer",
        )
        .await;
    let missing = Digest::of(b"never pushed");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar",
             "digest": missing.to_string(), "size": 12},
            elsewhere,
        ],
    });
    let put = r
        .req(Method::PUT, "/v2/team/app/manifests/v1")
        .header("content-type", OCI_MANIFEST)
        .json(&manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 400);
    let body: Value = put.json().await.unwrap();
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert!(errors.iter().all(|e| e["code"] == "MANIFEST_BLOB_UNKNOWN"));
    let digests: Vec<&str> = errors
        .iter()
        .map(|e| e["detail"]["digest"].as_str().unwrap())
        .collect();
    assert!(digests.contains(&missing.to_string().as_str()));
    let get = r
        .req(Method::GET, "/v2/team/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404);

    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": missing.to_string(), "size": 10}]});
    let put = r
        .req(Method::PUT, "/v2/team/app/manifests/multi")
        .header("content-type", OCI_INDEX)
        .json(&index)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(put).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
}

#[tokio::test]
async fn oversized_manifests_are_refused() {
    let r = TestRegistry::start(&["team/app"]).await;
    let padding = "x".repeat(4 * 1024 * 1024);
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "a/b", "digest": Digest::of(b"").to_string(), "size": 0},
        "layers": [], "annotations": {"padding": padding}});
    let put = r
        .req(Method::PUT, "/v2/team/app/manifests/big")
        .header("content-type", OCI_MANIFEST)
        .json(&manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(put).await, (413, "MANIFEST_INVALID".into()));
}

#[tokio::test]
async fn invalid_and_traversal_names_are_refused() {
    let r = TestRegistry::start(&["team/app"]).await;
    for path in [
        "/v2/A/tags/list",
        "/v2/a//b/tags/list",
        "/v2/../x/tags/list",
        "/v2/team/../../x/manifests/v1",
        "/v2/%2e%2e/x/tags/list",
        "/v2/a%2Fb/tags/list",
    ] {
        let (status, answer) = raw(&r, "GET", path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("NAME_INVALID"), "{path}: {answer}");
    }
    let digest = Digest::of(b"");
    for path in [
        format!("/v2/../x/blobs/uploads/?digest={digest}"),
        "/v2/../../x/blobs/uploads/".to_owned(),
    ] {
        let (status, answer) = raw(&r, "POST", &path).await;
        assert_eq!(status, 400, "{path}: {answer}");
    }
    let (status, _) = raw(&r, "GET", "/v2/team/app/blobs/sha256:..%2F..%2Fx").await;
    assert_eq!(status, 400);
    let (status, answer) = raw(&r, "GET", "/v2/team/app/blobs/uploads/..%2F..%2Fstore").await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer.contains("BLOB_UPLOAD_UNKNOWN"), "{answer}");
    let long = format!("/v2/{}/tags/list", "a".repeat(256));
    let (status, _) = raw(&r, "GET", &long).await;
    assert_eq!(status, 400);
    // Nothing was written beside the registry's directories.
    let mut entries: Vec<String> = std::fs::read_dir(r.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["registry", "store"]);
}

#[tokio::test]
async fn pushes_to_a_missing_repository_are_name_unknown() {
    let r = TestRegistry::start(&[]).await;
    let post = r
        .req(Method::POST, "/v2/team/ghost/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
    let body: Value = post.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "NAME_UNKNOWN");
    assert_eq!(
        body["errors"][0]["message"],
        "The repository with name 'team/ghost' does not exist in the registry with id \
         '123456789012' in region us-east-1 (the region of this docker login; a repository \
         belongs to the region it was created in)"
    );
    let put = r
        .req(Method::PUT, "/v2/team/ghost/manifests/v1")
        .header("content-type", OCI_MANIFEST)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(put).await, (404, "NAME_UNKNOWN".into()));
    let tags = r
        .req(Method::GET, "/v2/team/ghost/tags/list")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(tags).await, (404, "NAME_UNKNOWN".into()));
}

#[tokio::test]
async fn blobs_mount_across_repositories() {
    let r = TestRegistry::start(&["team/app", "team/other"]).await;
    let digest = r.push_blob("team/app", b"shared layer").await;
    let before = r
        .req(Method::HEAD, &format!("/v2/team/other/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        before.status(),
        404,
        "repositories see only their own blobs"
    );
    let mount = r
        .req(
            Method::POST,
            &format!("/v2/team/other/blobs/uploads/?mount={digest}&from=team/app"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), 201);
    assert_eq!(
        header(&mount, "location"),
        format!("/v2/team/other/blobs/{digest}")
    );
    let after = r
        .req(Method::GET, &format!("/v2/team/other/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.bytes().await.unwrap(), &b"shared layer"[..]);
    // A blob the source does not hold cannot be mounted: an upload starts instead.
    let absent = Digest::of(b"absent");
    let fallback = r
        .req(
            Method::POST,
            &format!("/v2/team/other/blobs/uploads/?mount={absent}&from=team/app"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fallback.status(), 202);
    assert!(header(&fallback, "location").starts_with("/v2/team/other/blobs/uploads/"));
    // An upload of one repository cannot be continued through another.
    let location = header(&fallback, "location");
    let hijack = location.replace("team/other", "team/app");
    let status = r.req(Method::GET, &hijack).send().await.unwrap();
    assert_eq!(
        error_code(status).await,
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_uploads_of_one_blob_both_succeed() {
    let r = std::sync::Arc::new(TestRegistry::start(&["team/app"]).await);
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let digest = Digest::of(&content);
    let uploads: Vec<_> = (0..2)
        .map(|_| {
            let (r, content, digest) = (r.clone(), content.clone(), digest.clone());
            tokio::spawn(async move {
                let post = r
                    .req(Method::POST, "/v2/team/app/blobs/uploads/")
                    .send()
                    .await
                    .unwrap();
                let mut location = header(&post, "location");
                let mut start = 0;
                for chunk in content.chunks(500_000) {
                    let end = start + chunk.len() - 1;
                    let patch = r
                        .req(Method::PATCH, &location)
                        .header("content-range", format!("{start}-{end}"))
                        .body(chunk.to_vec())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(patch.status(), 202);
                    location = header(&patch, "location");
                    start = end + 1;
                }
                let put = r
                    .req(Method::PUT, &format!("{location}?digest={digest}"))
                    .send()
                    .await
                    .unwrap();
                put.status().as_u16()
            })
        })
        .collect();
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), 201);
    }
    let get = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap(), content);
}

/// Follows `Link` headers from `path`, returning every page's entries under `field`.
async fn follow_pages(r: &TestRegistry, mut path: String, field: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let response = r.req(Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let link = header(&response, "link");
        let body: Value = response.json().await.unwrap();
        let entries = body[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        pages.push(entries);
        if link.is_empty() {
            return pages;
        }
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.split_once(">; rel=\"next\""))
            .map(|(url, _)| url.to_owned());
        path = next.unwrap_or_else(|| panic!("malformed Link: {link}"));
    }
}

#[tokio::test]
async fn tags_and_the_catalog_paginate() {
    let r = TestRegistry::start(&["team/app", "team/app-b", "team", "a", "z/y"]).await;
    for tag in ["v3", "v1", "latest", "v2", "V0"] {
        r.push_image("team/app", tag, "same").await;
    }
    let pages = follow_pages(&r, "/v2/team/app/tags/list?n=2".into(), "tags").await;
    assert_eq!(pages, [vec!["V0", "latest"], vec!["v1", "v2"], vec!["v3"]]);
    let all = follow_pages(&r, "/v2/team/app/tags/list".into(), "tags").await;
    assert_eq!(all, [vec!["V0", "latest", "v1", "v2", "v3"]]);
    let after = follow_pages(&r, "/v2/team/app/tags/list?last=v1".into(), "tags").await;
    assert_eq!(after, [vec!["v2", "v3"]]);
    let none = r
        .req(Method::GET, "/v2/team/app/tags/list?n=0")
        .send()
        .await
        .unwrap();
    assert!(header(&none, "link").is_empty());
    let body: Value = none.json().await.unwrap();
    assert_eq!(body, json!({"name": "team/app", "tags": []}));

    let catalog = follow_pages(&r, "/v2/_catalog?n=2".into(), "repositories").await;
    assert_eq!(
        catalog,
        [
            vec!["a", "team"],
            vec!["team/app", "team/app-b"],
            vec!["z/y"]
        ]
    );
    let bad = r
        .req(Method::GET, "/v2/_catalog?n=many")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn referrers_list_manifests_by_subject() {
    let r = TestRegistry::start(&["team/app"]).await;
    let (image, image_manifest) = r.push_image("team/app", "v1", "image").await;
    let subject = json!({"mediaType": OCI_MANIFEST, "digest": image.to_string(),
        "size": serde_json::to_vec(&image_manifest).unwrap().len()});
    let empty = r
        .descriptor("team/app", "application/vnd.oci.empty.v1+json", b"{}")
        .await;
    let mut artifacts = Vec::new();
    for (artifact_type, note) in [
        ("application/vnd.example.sbom", "sbom"),
        ("application/vnd.example.sig", "sig"),
    ] {
        let layer = r
            .descriptor("team/app", "application/octet-stream", note.as_bytes())
            .await;
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type, "config": empty, "layers": [layer],
            "subject": subject, "annotations": {"note": note}});
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = Digest::of(&bytes);
        let put = r
            .req(Method::PUT, &format!("/v2/team/app/manifests/{digest}"))
            .header("content-type", OCI_MANIFEST)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
        assert_eq!(header(&put, "oci-subject"), image.to_string());
        artifacts.push(digest);
    }
    let all = r
        .req(Method::GET, &format!("/v2/team/app/referrers/{image}"))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 200);
    assert_eq!(header(&all, "content-type"), OCI_INDEX);
    assert!(header(&all, "oci-filters-applied").is_empty());
    let index: Value = all.json().await.unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    for m in manifests {
        assert!(artifacts.iter().any(|d| m["digest"] == d.to_string()));
        assert!(m["annotations"]["note"].is_string());
    }
    let sboms = r
        .req(
            Method::GET,
            &format!("/v2/team/app/referrers/{image}?artifactType=application/vnd.example.sbom"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(header(&sboms, "oci-filters-applied"), "artifactType");
    let index: Value = sboms.json().await.unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["artifactType"], "application/vnd.example.sbom");
    assert_eq!(manifests[0]["annotations"]["note"], "sbom");
    let nothing = r
        .req(
            Method::GET,
            &format!("/v2/team/app/referrers/{}", Digest::of(b"none")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status(), 200);
    let index: Value = nothing.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]));
    let invalid = r
        .req(Method::GET, "/v2/team/app/referrers/sha256:nope")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(invalid).await, (400, "DIGEST_INVALID".into()));
}

#[tokio::test]
async fn blobs_serve_byte_ranges() {
    let r = TestRegistry::start(&["team/app"]).await;
    let content = b"0123456789";
    let digest = r.push_blob("team/app", content).await;
    let path = format!("/v2/team/app/blobs/{digest}");
    let part = r
        .req(Method::GET, &path)
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, "content-range"), "bytes 2-5/10");
    assert_eq!(header(&part, "content-length"), "4");
    assert_eq!(header(&part, "docker-content-digest"), digest.to_string());
    assert_eq!(part.bytes().await.unwrap(), &b"2345"[..]);
    let tail = r
        .req(Method::GET, &path)
        .header("range", "bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap(), &b"789"[..]);
    let outside = r
        .req(Method::GET, &path)
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);
    assert_eq!(header(&outside, "content-range"), "bytes */10");
}

#[tokio::test]
async fn deleted_content_is_gone() {
    let r = TestRegistry::start(&["team/app"]).await;
    let (digest, manifest) = r.push_image("team/app", "v1", "doomed").await;
    r.push_manifest("team/app", "v2", &manifest).await;
    let layer: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let untag = r
        .req(Method::DELETE, "/v2/team/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(untag.status(), 202);
    let by_tag = r
        .req(Method::GET, "/v2/team/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(by_tag).await, (404, "MANIFEST_UNKNOWN".into()));
    let by_digest = format!("/v2/team/app/manifests/{digest}");
    assert_eq!(
        r.req(Method::GET, &by_digest)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let delete = r.req(Method::DELETE, &by_digest).send().await.unwrap();
    assert_eq!(delete.status(), 202);
    let gone = r.req(Method::GET, &by_digest).send().await.unwrap();
    assert_eq!(error_code(gone).await, (404, "MANIFEST_UNKNOWN".into()));
    let other_tag = r
        .req(Method::GET, "/v2/team/app/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_tag.status(),
        404,
        "tags of a deleted manifest go with it"
    );
    let again = r.req(Method::DELETE, &by_digest).send().await.unwrap();
    assert_eq!(again.status(), 404);

    // The layer only that manifest named is no longer part of the repository.
    let unlinked = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{layer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unlinked).await, (404, "BLOB_UNKNOWN".into()));

    let loose = r.push_blob("team/app", b"a blob no manifest names").await;
    let blob = format!("/v2/team/app/blobs/{loose}");
    assert_eq!(
        r.req(Method::DELETE, &blob).send().await.unwrap().status(),
        202
    );
    let gone = r.req(Method::GET, &blob).send().await.unwrap();
    assert_eq!(error_code(gone).await, (404, "BLOB_UNKNOWN".into()));
    assert_eq!(
        r.req(Method::DELETE, &blob).send().await.unwrap().status(),
        404
    );
    let listed = r
        .req(Method::GET, "/v2/team/app/tags/list")
        .send()
        .await
        .unwrap();
    let body: Value = listed.json().await.unwrap();
    assert_eq!(body["tags"], json!([]));

    // Deleting the repository through the metadata (as the ECR API will) takes the
    // rest with it.
    let name = berth_registry::RepoName::parse("team/app").unwrap();
    r.registry
        .metadata
        .delete_repository(&scope(), &name, true)
        .await
        .unwrap();
    let tags = r
        .req(Method::GET, "/v2/team/app/tags/list")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(tags).await, (404, "NAME_UNKNOWN".into()));
}

#[tokio::test]
async fn unknown_endpoints_and_methods_are_refused() {
    let r = TestRegistry::start(&["team/app"]).await;
    let nothing = r
        .req(Method::GET, "/v2/team/app/other/x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(nothing).await, (404, "UNSUPPORTED".into()));
    let method = r
        .req(Method::POST, "/v2/team/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(method).await, (405, "UNSUPPORTED".into()));
}

/// Peak resident memory of this process, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A 2 GiB blob goes up in one POST and comes back down, streamed both ways: the
/// process's peak memory hardly moves. Slow and disk-hungry, so run on demand:
/// `cargo test -p berth-registry --test api -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_two_gib_blob_streams_through_http() {
    use sha2::Digest as _;
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 2048;
    let r = TestRegistry::start(&["team/app"]).await;
    let chunk = vec![42u8; CHUNK];
    let mut hasher = sha2::Sha256::new();
    for _ in 0..CHUNKS {
        hasher.update(&chunk);
    }
    let digest = Digest::from_hasher(hasher);
    let size = CHUNK * CHUNKS;
    let before = peak_rss_kib();

    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let mut stream = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let head = format!(
        "POST /v2/team/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Basic {auth}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n",
        r.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..CHUNKS {
        stream.write_all(&chunk).await.unwrap();
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let mut get = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&get, "content-length"), size.to_string());
    let mut hasher = sha2::Sha256::new();
    let mut received = 0;
    while let Some(part) = get.chunk().await.unwrap() {
        received += part.len();
        hasher.update(&part);
    }
    assert_eq!(received, size);
    assert_eq!(Digest::from_hasher(hasher), digest);
    let grown = peak_rss_kib().saturating_sub(before);
    eprintln!("2 GiB over HTTP: peak memory grew by {grown} KiB");
    assert!(grown < 64 * 1024, "peak memory grew by {grown} KiB");
}

#[tokio::test]
async fn an_upload_continues_after_a_restart() {
    let r = TestRegistry::start(&["team/app"]).await;
    let post = r
        .req(Method::POST, "/v2/team/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let location = header(&post, "location");
    let first = r
        .req(Method::PATCH, &location)
        .body(&b"written before "[..])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);

    // A second registry over the same directory and store: a restarted server, whose
    // memory holds no hasher for the upload.
    let restarted = std::sync::Arc::new(berth_registry::Registry {
        blobs: berth_registry::BlobStore::open(&r.dir.path().join("registry")).unwrap(),
        metadata: r.registry.metadata.clone(),
        authorizer: std::sync::Arc::new(berth_registry::BasicAuthorizer::new(
            USER,
            PASSWORD,
            scope(),
        )),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = restarted.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let url = |path: &str| format!("http://{addr}{path}");

    let status = r
        .client
        .get(url(&location))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&status, "range"), "0-14");
    let whole = b"written before and after";
    let digest = Digest::of(whole);
    let put = r
        .client
        .put(url(&format!("{location}?digest={digest}")))
        .basic_auth(USER, Some(PASSWORD))
        .header("content-range", "15-23")
        .body(&b"and after"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let get = r
        .req(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap(), &whole[..]);
    server.abort();
}
