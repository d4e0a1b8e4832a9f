//! Fuzzes what the registry parses from clients: repository names, tags, references and
//! digests ([`RepoName`], [`Tag`], [`Reference`], [`Digest`]), request paths
//! ([`route::parse`]), manifests ([`manifests::parse`] with any `Content-Type`), and,
//! over HTTP against a served registry, blob `Range` headers, upload `Content-Range`
//! headers, manifest pushes and paths naming any repository and reference.
//!
//! Properties: nothing panics; what is accepted prints back exactly as given (names,
//! tags, references, digests); a served range is the bytes it names; and no request,
//! however malformed, is answered with a 5xx.
//!
//! 256 cases per property by default (the HTTP ones 64, each case being a few requests);
//! for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-registry --test fuzz_parsers --release`

mod common;

use std::sync::OnceLock;

use berth_registry::http::route::{self, Route};
use berth_registry::manifests::{self, Manifest};
use berth_registry::names::{MAX_NAME_LEN, MAX_TAG_LEN};
use berth_registry::{Digest, Reference, RepoName, Tag};
use common::TestRegistry;
use proptest::prelude::*;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Value};

/// `cases`, or `PROPTEST_CASES` when it is set.
fn config(cases: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(cases)
    }
}

// ------------------------------------------------------------------ names and digests

const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Valid spellings of each kind, to mutate.
const VALID_NAMES: &[&str] = &["app", "team/app", "a1/b2.c3_d4__e5-f6", "my---app/x"];
const VALID_TAGS: &[&str] = &["latest", "v1.2.3", "_x", "A-b_c.d"];

/// The digest of the empty blob, as clients write it.
fn valid_digest() -> String {
    format!("sha256:{HEX}")
}

/// Characters that matter to the grammars: every separator, the digest's `:`, path
/// characters, case, and non-ASCII.
const GRAMMAR_CHARS: &[char] = &[
    'a', 'z', '0', '9', 'A', 'Z', 'f', 'g', '.', '_', '-', '/', ':', '@', '%', '+', ' ', '\0', 'é',
    '\u{212A}',
];

/// One edit of a valid spelling.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Replace(usize, char),
    Remove(usize),
    /// Repeats the text until it is at least this long (past the length limits).
    Repeat(usize),
    Uppercase,
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    let c = prop::sample::select(GRAMMAR_CHARS);
    prop_oneof![
        (at, c.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (at, c).prop_map(|(i, c)| Edit::Replace(i, c)),
        at.prop_map(Edit::Remove),
        (100usize..300).prop_map(Edit::Repeat),
        Just(Edit::Uppercase),
    ]
}

/// `text` after `edits`, positions taken modulo its length.
fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match *e {
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Replace(i, c) if !chars.is_empty() => {
                let at = i % chars.len();
                chars[at] = c;
            }
            Edit::Remove(i) if !chars.is_empty() => {
                chars.remove(i % chars.len());
            }
            Edit::Repeat(times) => {
                let copy = chars.clone();
                while chars.len() < times {
                    chars.extend(&copy);
                    if copy.is_empty() {
                        break;
                    }
                }
            }
            Edit::Uppercase => {
                chars = chars
                    .into_iter()
                    .collect::<String>()
                    .to_uppercase()
                    .chars()
                    .collect()
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// A spelling to try as a name, tag, reference and digest: arbitrary, or a valid one
/// of any kind edited.
fn name_like() -> impl Strategy<Value = String> {
    let valid = prop_oneof![
        prop::sample::select(VALID_NAMES).prop_map(str::to_owned),
        prop::sample::select(VALID_TAGS).prop_map(str::to_owned),
        Just(valid_digest()),
        Just(format!("sha512:{HEX}{HEX}")),
    ];
    prop_oneof![
        "\\PC{0,40}",
        "[a-z0-9._/:-]{0,40}",
        (valid, prop::collection::vec(edit(), 1..4)).prop_map(|(v, e)| apply_edits(&v, &e)),
    ]
}

/// Names the OCI grammar accepts: components of lowercase runs joined by separators.
fn grammar_name() -> impl Strategy<Value = String> {
    let run = "[a-z0-9]{1,6}";
    let separator = prop::sample::select(vec![".", "_", "__", "-", "--", "---"]);
    let component =
        (run, prop::collection::vec((separator, run), 0..3)).prop_map(|(first, rest)| {
            rest.into_iter()
                .fold(first, |acc, (sep, run)| format!("{acc}{sep}{run}"))
        });
    prop::collection::vec(component, 1..5).prop_map(|c| c.join("/"))
}

/// The checks every spelling goes through: parse as each kind, and print back.
fn check_spelling(text: &str) -> Result<(), TestCaseError> {
    match RepoName::parse(text) {
        Ok(name) => {
            prop_assert_eq!(name.as_str(), text);
            prop_assert_eq!(name.to_string(), text);
            prop_assert!(!text.is_empty() && text.len() <= MAX_NAME_LEN);
            prop_assert!(text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_/".contains(&b)));
        }
        Err(e) => prop_assert!(e.to_string().contains("invalid repository name")),
    }
    match Tag::parse(text) {
        Ok(tag) => {
            prop_assert_eq!(tag.as_str(), text);
            prop_assert!(!text.is_empty() && text.len() <= MAX_TAG_LEN);
        }
        Err(e) => prop_assert!(e.to_string().contains("invalid tag")),
    }
    match text.parse::<Digest>() {
        Ok(digest) => {
            prop_assert_eq!(digest.to_string(), text);
            prop_assert_eq!(digest.hex().len(), 64);
        }
        Err(e) => prop_assert!(e.to_string().contains("digest")),
    }
    // As JSON, a digest goes through the same parser.
    let from_json = serde_json::from_value::<Digest>(Value::String(text.to_owned()));
    prop_assert_eq!(from_json.is_ok(), text.parse::<Digest>().is_ok());
    if let Ok(reference) = Reference::parse(text) {
        prop_assert_eq!(reference.to_string(), text);
    }
    Ok(())
}

// ------------------------------------------------------------------ manifests

const OCI_MANIFEST: &str = manifests::OCI_MANIFEST;
const OCI_INDEX: &str = manifests::OCI_INDEX;
const DOCKER_MANIFEST: &str = manifests::DOCKER_MANIFEST;
const DOCKER_MANIFEST_LIST: &str = manifests::DOCKER_MANIFEST_LIST;

/// A descriptor of the blob whose content is `seed`.
fn descriptor(media_type: &str, seed: &str, size: u64) -> Value {
    let digest = Digest::of(seed.as_bytes()).to_string();
    json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// Manifests as docker, buildx and oras push them.
fn valid_manifests() -> Vec<Value> {
    let layer = "application/vnd.oci.image.layer.v1.tar+gzip";
    let config = "application/vnd.oci.image.config.v1+json";
    vec![
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(config, "config", 1469),
            "layers": [descriptor(layer, "l1", 3_623_807), descriptor(layer, "l2", 32)]}),
        json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": descriptor("application/vnd.docker.container.image.v1+json", "c", 7023),
            "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", "l", 977),
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                 "digest": Digest::of(b"foreign").to_string(), "size": 10,
                 "urls": ["https://example.com/layer"]}]}),
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, "amd64", 525),
                          descriptor(OCI_MANIFEST, "arm64", 525)],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}),
        json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [descriptor(DOCKER_MANIFEST, "amd64", 428)]}),
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": descriptor("application/vnd.oci.empty.v1+json", "{}", 2),
            "layers": [descriptor("application/spdx+json", "sbom", 2048)],
            "subject": descriptor(OCI_MANIFEST, "subject", 525)}),
    ]
}

/// Values a member may be set to: the right type with extreme values, and wrong types.
fn any_member_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!(2.5)),
        Just(json!(1)),
        Just(json!(2)),
        Just(json!("")),
        Just(json!(valid_digest())),
        Just(json!("sha512:abcd")),
        Just(json!("sha256:../../etc/passwd")),
        Just(json!(OCI_MANIFEST)),
        Just(json!(OCI_INDEX)),
        Just(json!(DOCKER_MANIFEST)),
        Just(json!(
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        )),
        Just(Value::Null),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([descriptor(OCI_MANIFEST, "x", u64::MAX)])),
        Just(json!({"k": "v"})),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

/// Members of a manifest and of its descriptors.
const MANIFEST_MEMBERS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
    "digest",
    "size",
    "urls",
];

/// One structure-aware change to a manifest.
#[derive(Debug, Clone)]
enum ManifestEdit {
    /// Sets a member of the manifest or of one of its descriptors.
    Set {
        descriptor: Option<usize>,
        member: &'static str,
        value: Value,
    },
    Remove {
        descriptor: Option<usize>,
        member: &'static str,
    },
    /// Sets the size of every descriptor (totals past `u64::MAX`).
    EverySize(Value),
    /// Repeats the layers or manifests (large totals, many children).
    MultiplyDescriptors(usize),
}

/// Most layers or children an edit leaves a manifest with.
const MAX_DESCRIPTORS: usize = 4000;

/// Edits weighted towards what a registry must survive: extreme sizes, wrong types.
fn manifest_edit() -> impl Strategy<Value = ManifestEdit> {
    let descriptor = prop::option::of(any::<usize>());
    let member = prop::sample::select(MANIFEST_MEMBERS);
    prop_oneof![
        (descriptor.clone(), member.clone(), any_member_value()).prop_map(
            |(descriptor, member, value)| ManifestEdit::Set {
                descriptor,
                member,
                value
            }
        ),
        (descriptor, member)
            .prop_map(|(descriptor, member)| ManifestEdit::Remove { descriptor, member }),
        prop_oneof![
            Just(json!(u64::MAX)),
            Just(json!(u64::MAX / 2 + 1)),
            any_member_value()
        ]
        .prop_map(ManifestEdit::EverySize),
        (2usize..40).prop_map(ManifestEdit::MultiplyDescriptors),
    ]
}

/// The descriptor objects of `manifest`: config, subject, layers and children.
fn descriptors(manifest: &mut Value) -> Vec<&mut Value> {
    let Some(object) = manifest.as_object_mut() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("config" | "subject", v @ Value::Object(_)) => found.push(v),
            ("layers" | "manifests", Value::Array(items)) => found.extend(items.iter_mut()),
            _ => {}
        }
    }
    found
}

/// `manifest` after `edits`; an edit of a descriptor that is not there does nothing.
fn edit_manifest(mut manifest: Value, edits: &[ManifestEdit]) -> Value {
    for e in edits {
        match e {
            ManifestEdit::Set {
                descriptor,
                member,
                value,
            } => {
                if let Some(object) =
                    pick(&mut manifest, *descriptor).and_then(Value::as_object_mut)
                {
                    object.insert((*member).to_owned(), value.clone());
                }
            }
            ManifestEdit::Remove { descriptor, member } => {
                if let Some(object) =
                    pick(&mut manifest, *descriptor).and_then(Value::as_object_mut)
                {
                    object.remove(*member);
                }
            }
            ManifestEdit::EverySize(size) => {
                for descriptor in descriptors(&mut manifest) {
                    if let Some(object) = descriptor.as_object_mut() {
                        object.insert("size".to_owned(), size.clone());
                    }
                }
            }
            ManifestEdit::MultiplyDescriptors(times) => {
                for key in ["layers", "manifests"] {
                    if let Some(Value::Array(items)) = manifest.get_mut(key) {
                        // Bounded: repeated edits multiply.
                        if items.len() * times > MAX_DESCRIPTORS {
                            continue;
                        }
                        let copy = items.clone();
                        for _ in 1..*times {
                            items.extend(copy.iter().cloned());
                        }
                    }
                }
            }
        }
    }
    manifest
}

/// The manifest itself (`None`) or one of its descriptors.
fn pick(manifest: &mut Value, descriptor: Option<usize>) -> Option<&mut Value> {
    match descriptor {
        None => Some(manifest),
        Some(i) => {
            let mut all = descriptors(manifest);
            let len = all.len();
            (len > 0).then(|| all.swap_remove(i % len))
        }
    }
}

/// `Content-Type` headers a push may carry.
fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(manifests::MEDIA_TYPES.to_vec()).prop_map(str::to_owned),
        prop::sample::select(manifests::MEDIA_TYPES.to_vec())
            .prop_map(|t| format!("{}; charset=utf-8", t.to_uppercase())),
        Just("application/json".to_owned()),
        Just("application/octet-stream".to_owned()),
        Just(";".to_owned()),
        Just(String::new()),
        "[ -~]{0,30}",
    ])
}

/// Manifest bodies: arbitrary bytes, or valid manifests edited, serialized, and maybe
/// cut short or given a stray byte.
fn manifest_body() -> impl Strategy<Value = Vec<u8>> {
    let edited = (
        prop::sample::select(valid_manifests()),
        prop::collection::vec(manifest_edit(), 0..5),
        prop::option::of((any::<usize>(), any::<u8>(), any::<bool>())),
    )
        .prop_map(|(manifest, edits, damage)| {
            let mut bytes = serde_json::to_vec(&edit_manifest(manifest, &edits)).expect("JSON");
            if let Some((at, byte, truncate)) = damage {
                let at = at % (bytes.len() + 1);
                if truncate {
                    bytes.truncate(at);
                } else {
                    bytes.insert(at, byte);
                }
            }
            bytes
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..128),
        4 => edited,
    ]
}

/// Everything a handler asks of an accepted manifest.
fn use_manifest(m: &Manifest) -> Result<(), TestCaseError> {
    let blobs = m.required_blobs();
    let children = m.child_manifests();
    prop_assert!(blobs.len() <= m.layers.len() + 1);
    prop_assert_eq!(children.len(), m.manifests.len());
    prop_assert!(m.kind.is_list() || m.config.is_some());
    let record = m.record(1234, 0);
    prop_assert_eq!(record.blobs, blobs);
    prop_assert!(m.layers.iter().all(|l| record.layers_size >= l.size));
    let _ = m.effective_artifact_type();
    let _ = m.referrer(&Digest::of(b"m"), 1234);
    Ok(())
}

// ------------------------------------------------------------------ over HTTP

/// A registry served for the HTTP properties, with one repository holding one blob.
struct Served {
    runtime: tokio::runtime::Runtime,
    registry: TestRegistry,
    blob: Vec<u8>,
    digest: Digest,
}

/// The repository the HTTP properties push to and read from.
const REPO: &str = "fuzz/app";

/// The registry, started on first use and shared by the HTTP properties.
fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let blob: Vec<u8> = (0..100u8).collect();
        let (registry, digest) = runtime.block_on(async {
            let registry = TestRegistry::start(&[REPO]).await;
            let digest = registry.push_blob(REPO, &blob).await;
            (registry, digest)
        });
        Served {
            runtime,
            registry,
            blob,
            digest,
        }
    })
}

impl Served {
    /// Sends a request and checks the answer is not a server error; returns the status,
    /// headers and body.
    fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, HeaderValue)],
        body: Vec<u8>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), TestCaseError> {
        let mut request = self.registry.req(method.clone(), path).body(body);
        for (name, value) in headers {
            request = request.header(*name, value.clone());
        }
        let answer = self.runtime.block_on(async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        // A handler that panics drops the connection without an answer.
        let (status, headers, body) = answer.map_err(|e| {
            TestCaseError::fail(format!("{method} {path} {headers:?} got no answer: {e:?}"))
        })?;
        prop_assert!(
            status < 500,
            "{method} {path} {headers:?} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok((status, headers, body))
    }
}

/// `Range` headers: the RFC's forms, their edge cases, and arbitrary bytes.
fn range_header() -> impl Strategy<Value = HeaderValue> {
    let number =
        prop_oneof![0u64..120, Just(u64::MAX), Just(u64::MAX - 1)].prop_map(|n| n.to_string());
    let spec = prop_oneof![
        (number.clone(), number.clone()).prop_map(|(a, b)| format!("bytes={a}-{b}")),
        number.clone().prop_map(|a| format!("bytes={a}-")),
        number.clone().prop_map(|b| format!("bytes=-{b}")),
        (number.clone(), number).prop_map(|(a, b)| format!("bytes={a}-{b},0-1")),
        Just("bytes=99999999999999999999-".to_owned()),
        Just("bytes=-".to_owned()),
        Just("bytes= 1 - 2 ".to_owned()),
        Just("items=0-1".to_owned()),
        "bytes=[0-9, -]{0,12}",
    ];
    prop_oneof![
        4 => spec.prop_map(|s| HeaderValue::from_str(&s).expect("ASCII")),
        1 => prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..24)
            .prop_map(|b| HeaderValue::from_bytes(&b).expect("header bytes")),
    ]
}

/// Path segments for a repository name or a reference, sent percent-encoded.
fn path_segment() -> impl Strategy<Value = String> {
    name_like().prop_map(|s| {
        percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC)
            .to_string()
            .replace("%2F", "/")
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// Any spelling parses or is refused as each kind, and what parses prints back as
    /// given.
    #[test]
    fn names_tags_references_and_digests_print_back_or_are_refused(text in name_like()) {
        check_spelling(&text)?;
    }

    /// Names built from the OCI grammar are accepted up to the length limit.
    #[test]
    fn grammar_names_are_accepted(name in grammar_name()) {
        let parsed = RepoName::parse(&name);
        prop_assert_eq!(parsed.is_ok(), name.len() <= MAX_NAME_LEN, "{:?}", parsed);
        check_spelling(&name)?;
    }

    /// Request paths name an endpoint or none; nothing panics.
    #[test]
    fn paths_route_or_do_not(
        tail in "[a-z/_%:.0-9-]{0,40}|\\PC{0,40}",
        kind in prop::sample::select(vec![
            "", "/manifests/", "/blobs/", "/blobs/uploads/", "/blobs/uploads", "/referrers/",
            "/tags/list",
        ]),
    ) {
        let path = format!("/v2/{tail}{kind}");
        if let Some(
            Route::Manifest { reference: last, .. }
            | Route::Blob { digest: last, .. }
            | Route::Referrers { digest: last, .. }
            | Route::Upload { id: last, .. },
        ) = route::parse(&path)
        {
            prop_assert!(!last.is_empty());
        }
    }

    /// Manifests of any shape and bytes, with any Content-Type, parse or are refused;
    /// what parses can be recorded and indexed.
    #[test]
    fn manifests_parse_or_are_refused(body in manifest_body(), content_type in content_type()) {
        match manifests::parse(&body, content_type.as_deref()) {
            Ok(manifest) => use_manifest(&manifest)?,
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// A blob GET or HEAD with any Range header is answered whole, with exactly the
    /// bytes the range names, or 416; never a server error.
    #[test]
    fn blob_ranges_serve_the_bytes_they_name(range in range_header(), head in any::<bool>()) {
        let s = served();
        let method = if head { Method::HEAD } else { Method::GET };
        let path = format!("/v2/{REPO}/blobs/{}", s.digest);
        let (status, headers, body) =
            s.send(method, &path, &[("range", range.clone())], Vec::new())?;
        let content_range = headers.get("content-range").and_then(|v| v.to_str().ok());
        match status {
            200 => prop_assert!(head || body == s.blob),
            206 => {
                let spec = content_range
                    .and_then(|v| v.strip_prefix("bytes "))
                    .expect("Content-Range");
                let (span, total) = spec.split_once('/').expect("START-END/SIZE");
                let (start, end) = span.split_once('-').expect("START-END");
                let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
                prop_assert_eq!(total, "100");
                prop_assert!(start <= end && end < s.blob.len());
                prop_assert!(head || body == s.blob[start..=end]);
            }
            416 => prop_assert_eq!(content_range, Some("bytes */100")),
            other => prop_assert!(false, "{range:?} answered {other}"),
        }
    }

    /// An upload chunk with any Content-Range is taken or refused with a 4xx.
    #[test]
    fn upload_chunks_take_any_content_range(
        range in range_header(),
        chunk in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let s = served();
        let start = format!("/v2/{REPO}/blobs/uploads/");
        let (status, headers, _) = s.send(Method::POST, &start, &[], Vec::new())?;
        prop_assert_eq!(status, 202);
        let location = headers["location"].to_str().expect("ASCII").to_owned();
        let content_range = HeaderValue::from_bytes(
            range.as_bytes().strip_prefix(b"bytes=").unwrap_or(range.as_bytes()),
        ).expect("a suffix of a header value");
        s.send(Method::PATCH, &location, &[("content-range", content_range)], chunk)?;
        s.send(Method::DELETE, &location, &[], Vec::new())?;
    }

    /// Pushing any manifest body with any Content-Type is stored or refused with a 4xx.
    #[test]
    fn manifest_pushes_never_fail_on_the_server(
        body in manifest_body(),
        content_type in content_type(),
        tag in prop::sample::select(vec!["latest", "v1"]),
    ) {
        let s = served();
        let headers: Vec<(&str, HeaderValue)> = content_type
            .iter()
            .filter_map(|t| HeaderValue::from_str(t).ok())
            .map(|v| ("content-type", v))
            .collect();
        s.send(Method::PUT, &format!("/v2/{REPO}/manifests/{tag}"), &headers, body)?;
    }

    /// Any repository name and reference in a path is answered without a server error.
    #[test]
    fn any_name_and_reference_in_a_path_is_answered(
        name in path_segment(),
        reference in path_segment(),
        endpoint in prop::sample::select(vec![
            "manifests", "blobs", "referrers", "tags/list", "blobs/uploads",
        ]),
        method in prop::sample::select(vec![Method::GET, Method::HEAD, Method::DELETE]),
    ) {
        served().send(method, &format!("/v2/{name}/{endpoint}/{reference}"), &[], Vec::new())?;
    }
}

#[test]
fn the_seed_manifests_are_valid() {
    for manifest in valid_manifests() {
        let bytes = serde_json::to_vec(&manifest).unwrap();
        manifests::parse(&bytes, None).unwrap_or_else(|e| panic!("{manifest}: {e}"));
    }
}

/// Found by `manifests_parse_or_are_refused`: layer sizes are the client's word, and
/// their total overflowed (a panic in debug builds, a wrong size in release ones).
#[test]
fn layer_sizes_past_u64_max_add_up_to_the_maximum() {
    let mut manifest = valid_manifests().remove(0);
    manifest = edit_manifest(manifest, &[ManifestEdit::EverySize(json!(u64::MAX))]);
    let parsed = manifests::parse(&serde_json::to_vec(&manifest).unwrap(), None).unwrap();
    assert_eq!(parsed.record(1, 0).layers_size, u64::MAX);
}
