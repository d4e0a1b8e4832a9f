//! Registry push and pull through a release `berth server`, side by side with Debian's
//! `docker-registry` (the CNCF distribution registry 2.8) on the same machine, in the
//! same run, both driven by skopeo:
//!
//! - push (`skopeo copy oci:DIR docker://...`) and pull (`skopeo copy docker://... oci:DIR`)
//!   of a single-layer image whose layer is 50 MB, then 500 MB, of random bytes (so
//!   nothing compresses), five rounds each, registries alternating, dirty pages flushed
//!   (`sync`) before every timed copy, pulls written to tmpfs (`/dev/shm`) when there
//!   is one; every round makes
//!   a new layer so neither registry can skip an upload it has seen;
//! - blob HEAD requests from 32 concurrent keep-alive connections for 10 s: rate and p99.
//!
//! Berth authenticates every request (an ECR token); distribution runs without auth.
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-server --bench registry`
//! (`BERTH_BENCH_SIZES=1` for a quick run that is mostly the HEAD figure)
//! (needs `skopeo`, `tar` and `docker-registry`: `apt-get install skopeo docker-registry`).
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use berth_testkit::bench::{release_binary, start_server, ChildGuard};
use berth_testkit::EcsClient;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const ROUNDS: usize = 5;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` as blob `sha256:HEX` of the OCI layout at `dir`; returns HEX.
fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    hex
}

/// An OCI layout with one image whose single layer is a tar of `mb` MB of random bytes.
fn make_image(dir: &Path, mb: usize) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let payload = dir.join("payload");
    let mut data = vec![0u8; mb * 1_000_000];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(&payload, &data).unwrap();
    drop(data);
    let layer_path = dir.join("layer.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&layer_path)
        .arg("-C")
        .arg(dir)
        .arg("payload")
        .status()
        .expect("run tar");
    assert!(status.success());
    std::fs::remove_file(&payload).unwrap();
    let layer = std::fs::read(&layer_path).unwrap();
    std::fs::remove_file(&layer_path).unwrap();
    let layer_hex = put_blob(dir, &layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]}
    }))
    .unwrap();
    let config_hex = put_blob(dir, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_hex}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{layer_hex}"), "size": layer.len()}]
    }))
    .unwrap();
    let manifest_hex = put_blob(dir, &manifest);
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Runs `skopeo copy` and returns how long it took.
fn skopeo_copy(from: &str, to: &str, creds: &[&str], home: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(creds)
        .args([from, to])
        // A home of its own: no blob-info cache carries over between copies.
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {from} {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// Flushes dirty pages (hundreds of MB after a 500 MB copy) before a measurement, so
/// the kernel's writeback of one operation's files does not stall the next one.
fn settle() {
    let _ = Command::new("sync").status();
}

/// HEAD requests on `url` with `auth` (an Authorization value, or empty) from 32
/// concurrent keep-alive connections for 10 s: (requests/s, p99). wrk cannot drive
/// HEAD (it waits for a body after Content-Length), so this is the load generator.
async fn head_rate(url: &str, auth: &str) -> (f64, Duration) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut workers = Vec::new();
    for _ in 0..32 {
        let (http, url, auth) = (http.clone(), url.to_string(), auth.to_string());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let mut req = http.head(&url);
                if !auth.is_empty() {
                    req = req.header("authorization", &auth);
                }
                let resp = req.send().await.expect("HEAD");
                assert_eq!(resp.status(), 200, "HEAD {url}");
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    (all.len() as f64 / 10.0, p99)
}

struct Registry {
    name: &'static str,
    host: String,
    creds: Vec<String>,
    auth_header: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for tool in ["skopeo", "docker-registry", "tar"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "{tool} is missing: apt-get install skopeo docker-registry"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    // Pulls land in memory (tmpfs) when the machine has one, so the client's own disk
    // writes — the same for both registries — do not drown the difference between them.
    let pulled = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let (_server, endpoint) =
        start_server(&release_binary(), &dir.path().join("berth"), KEY, SECRET).await;
    let client = EcsClient::new(&endpoint, KEY, SECRET, "us-east-1");
    let token = client
        .ecr("GetAuthorizationToken", json!({}))
        .await
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(
            token["authorizationData"][0]["authorizationToken"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let login = String::from_utf8(decoded).unwrap();

    let port = free_port();
    let storage = dir.path().join("distribution");
    let config = dir.path().join("distribution.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        ),
    )
    .unwrap();
    let _distribution = ChildGuard(
        Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry"),
    );
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registries = [
        Registry {
            name: "berth",
            host: endpoint.trim_start_matches("http://").to_string(),
            creds: vec![],
            auth_header: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(&login)
            ),
        },
        Registry {
            name: "distribution",
            host: format!("127.0.0.1:{port}"),
            creds: vec![],
            auth_header: String::new(),
        },
    ];
    let creds_for = |r: &Registry, flag: &str| -> Vec<String> {
        if r.name == "berth" {
            vec![format!("--{flag}-creds"), login.clone()]
        } else {
            r.creds.clone()
        }
    };

    // BERTH_BENCH_SIZES (MB, comma-separated) narrows the copies, e.g. to iterate on
    // the HEAD figure with `BERTH_BENCH_SIZES=1`; the recorded runs use the default.
    let sizes: Vec<usize> = std::env::var("BERTH_BENCH_SIZES")
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![50, 500]);
    println!("push and pull with skopeo (seconds), {ROUNDS} rounds:");
    for (i, &mb) in sizes.iter().enumerate() {
        let mut times: Vec<(&str, &str, Duration)> = Vec::new();
        for round in 0..ROUNDS {
            let image = dir.path().join(format!("image-{mb}-{round}"));
            make_image(&image, mb);
            let order: Vec<&Registry> = if round % 2 == 0 {
                registries.iter().collect()
            } else {
                registries.iter().rev().collect()
            };
            for r in order {
                let repo = format!("bench/img{mb}r{round}");
                if r.name == "berth" {
                    client
                        .ecr("CreateRepository", json!({"repositoryName": repo}))
                        .await
                        .unwrap();
                }
                let home = dir.path().join(format!("home-{}-{mb}-{round}", r.name));
                std::fs::create_dir_all(&home).unwrap();
                let remote = format!("docker://{}/{repo}:v1", r.host);
                let src = format!("oci:{}:bench", image.display());
                settle();
                let push = skopeo_copy(
                    &src,
                    &remote,
                    &creds_for(r, "dest")
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                    &home,
                );
                let out = pulled
                    .path()
                    .join(format!("pulled-{}-{mb}-{round}", r.name));
                settle();
                let pull = skopeo_copy(
                    &remote,
                    &format!("oci:{}:bench", out.display()),
                    &creds_for(r, "src")
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                    &home,
                );
                std::fs::remove_dir_all(&out).unwrap();
                times.push((r.name, "push", push));
                times.push((r.name, "pull", pull));
            }
            std::fs::remove_dir_all(&image).unwrap();
        }
        for op in ["push", "pull"] {
            let of = |name: &str| -> Vec<f64> {
                times
                    .iter()
                    .filter(|(n, o, _)| *n == name && *o == op)
                    .map(|(_, _, d)| d.as_secs_f64())
                    .collect()
            };
            let (b, d) = (of("berth"), of("distribution"));
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "  {mb:>3} MB {op}: berth {:?} median {:.2}; distribution {:?} median {:.2}; ratio {:.2}",
                b.iter().map(|x| (x * 100.0).round() / 100.0).collect::<Vec<_>>(),
                median(b.clone()),
                d.iter().map(|x| (x * 100.0).round() / 100.0).collect::<Vec<_>>(),
                median(d.clone()),
                median(b) / median(d)
            );
        }
        // Measured once, before the biggest copies leave the machine busy writing back.
        if i == 0 {
            head_figures(&http, &registries, &format!("bench/img{mb}r{}", ROUNDS - 1)).await;
        }
    }
}

/// The blob HEAD figure of each registry, on the layer of `repo:v1`.
async fn head_figures(http: &reqwest::Client, registries: &[Registry], repo: &str) {
    settle();
    println!("blob HEAD, 32 connections, 10 s (after the first size's copies):");
    for r in registries {
        // The layer as the registry holds it, from the manifest it serves.
        let mut req = http
            .get(format!("http://{}/v2/{repo}/manifests/v1", r.host))
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, \
                 application/vnd.docker.distribution.manifest.v2+json",
            );
        if !r.auth_header.is_empty() {
            req = req.header("authorization", &r.auth_header);
        }
        let manifest: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        let layer = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let url = format!("http://{}/v2/{repo}/blobs/{layer}", r.host);
        let (rate, p99) = head_rate(&url, &r.auth_header).await;
        println!(
            "  {:<12} {rate:>8.0} req/s  p99 {:.2} ms",
            r.name,
            p99.as_secs_f64() * 1000.0
        );
    }
}
