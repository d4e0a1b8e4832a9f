//! A real client against the registry: skopeo copies an OCI layout image (built here: a
//! tar layer, a config and a manifest) into the registry and back, and the digests
//! survive the round trip. Fails when skopeo is missing; install it with
//! `apt-get install -y skopeo`.

mod common;

use std::path::Path;
use std::process::Output;

use berth_registry::Digest;
use common::{TestRegistry, PASSWORD, USER};
use serde_json::{json, Value};

/// One regular file in a ustar archive, followed by the end-of-archive blocks.
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let field = |header: &mut [u8; 512], at: usize, value: &[u8]| {
        header[at..at + value.len()].copy_from_slice(value);
    };
    field(&mut header, 0, name.as_bytes());
    field(&mut header, 100, b"0000644\0");
    field(&mut header, 108, b"0000000\0");
    field(&mut header, 116, b"0000000\0");
    field(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    field(&mut header, 136, b"00000000000\0");
    field(&mut header, 148, b"        ");
    field(&mut header, 156, b"0");
    field(&mut header, 257, b"ustar\0");
    field(&mut header, 263, b"00");
    let checksum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    field(&mut header, 148, format!("{checksum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

/// Writes `content` as a blob of an OCI layout and describes it.
fn write_blob(layout: &Path, media_type: &str, content: &[u8]) -> Value {
    let digest = Digest::of(content);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), content).unwrap();
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": content.len()})
}

/// An OCI image layout holding one image tagged `v1`; returns its manifest digest.
fn build_layout(layout: &Path) -> Digest {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let tar = tar_with_file("hello.txt", b"hello from berth\n");
    let layer = write_blob(layout, "application/vnd.oci.image.layer.v1.tar", &tar);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar).to_string()]},
    });
    let config = write_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).unwrap(),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let mut descriptor = write_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest_bytes,
    );
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    let index = json!({"schemaVersion": 2, "manifests": [descriptor]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    Digest::of(&manifest_bytes)
}

async fn skopeo(args: &[&str]) -> Output {
    let output = tokio::process::Command::new("skopeo")
        .args(args)
        .output()
        .await;
    match output {
        Ok(output) => output,
        Err(e) => panic!(
            "skopeo could not be run ({e}); install it with `apt-get install -y skopeo` \
             (Debian/Ubuntu) and run the test again"
        ),
    }
}

fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_oci_image_in_and_out() {
    let r = TestRegistry::start(&["team/app", "team/copy"]).await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let digest = build_layout(&source);
    let creds = format!("{USER}:{PASSWORD}");
    let remote = format!("docker://{}/team/app:v1", r.addr);

    let push = skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", source.display()),
        &remote,
    ])
    .await;
    check(&push, "skopeo copy oci: -> docker://");

    let inspect = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &remote,
    ])
    .await;
    check(&inspect, "skopeo inspect --raw");
    assert_eq!(Digest::of(&inspect.stdout), digest);

    let copy = work.path().join("copy");
    let pull = skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &remote,
        &format!("oci:{}:v1", copy.display()),
    ])
    .await;
    check(&pull, "skopeo copy docker:// -> oci:");
    let index: Value =
        serde_json::from_slice(&std::fs::read(copy.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.to_string());
    for entry in std::fs::read_dir(source.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copied = copy.join("blobs/sha256").join(entry.file_name());
        assert_eq!(
            std::fs::read(entry.path()).unwrap(),
            std::fs::read(&copied).unwrap(),
            "blob {:?} differs after the round trip",
            entry.file_name()
        );
    }

    // Docker's manifest format, and a copy between two repositories of the registry.
    let docker = format!("docker://{}/team/app:docker", r.addr);
    let convert = skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", source.display()),
        &docker,
    ])
    .await;
    check(&convert, "skopeo copy --format v2s2");
    let between = skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        &creds,
        "--dest-creds",
        &creds,
        &docker,
        &format!("docker://{}/team/copy:docker", r.addr),
    ])
    .await;
    check(&between, "skopeo copy docker:// -> docker://");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{}/team/copy:docker", r.addr),
    ])
    .await;
    check(&raw, "skopeo inspect --raw (copy)");
    let manifest: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{}/team/app", r.addr),
    ])
    .await;
    check(&tags, "skopeo list-tags");
    let tags: Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(tags["Tags"], json!(["docker", "v1"]));
}
