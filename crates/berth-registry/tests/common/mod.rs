//! A registry served on a real TCP port over an embedded store in a temporary directory,
//! with a client that signs in as the test user.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use berth_registry::metadata::TagMutability;
use berth_registry::{BasicAuthorizer, Digest, Registry, RepoName, Scope};
use berth_store::embedded::EmbeddedStore;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub const USER: &str = "user";
pub const PASSWORD: &str = "pass";

pub fn scope() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

pub struct TestRegistry {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestRegistry {
    /// Serves a registry with the repositories `repos` already created.
    pub async fn start(repos: &[&str]) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
        let authorizer = BasicAuthorizer::new(USER, PASSWORD, scope());
        let registry = Registry::open(
            &dir.path().join("registry"),
            Arc::new(store),
            Arc::new(authorizer),
        )
        .unwrap();
        let registry = Arc::new(registry);
        for repo in repos {
            registry
                .metadata
                .create_repository(
                    &scope(),
                    &RepoName::parse(repo).unwrap(),
                    TagMutability::Mutable,
                )
                .await
                .unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = registry.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        TestRegistry {
            addr,
            registry,
            client: reqwest::Client::new(),
            dir,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request signed in as the test user.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth(USER, Some(PASSWORD))
    }

    /// Uploads a blob in one POST and checks the answer.
    pub async fn push_blob(&self, repo: &str, content: &[u8]) -> Digest {
        let digest = Digest::of(content);
        let response = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .body(content.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        digest
    }

    /// Pushes a manifest under `reference` and returns its digest.
    pub async fn push_manifest(&self, repo: &str, reference: &str, manifest: &Value) -> Digest {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let media_type = manifest["mediaType"].as_str().unwrap().to_owned();
        let response = self
            .req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        Digest::of(&bytes)
    }

    /// Pushes a config and a layer, and an OCI manifest naming them, under `reference`.
    pub async fn push_image(&self, repo: &str, reference: &str, seed: &str) -> (Digest, Value) {
        let config = format!("{{\"seed\":\"{seed}\"}}");
        let layer = format!("layer of {seed}");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": self.descriptor(repo, "application/vnd.oci.image.config.v1+json", config.as_bytes()).await,
            "layers": [self.descriptor(repo, "application/vnd.oci.image.layer.v1.tar", layer.as_bytes()).await],
        });
        (
            self.push_manifest(repo, reference, &manifest).await,
            manifest,
        )
    }

    /// Pushes `content` as a blob and describes it.
    pub async fn descriptor(&self, repo: &str, media_type: &str, content: &[u8]) -> Value {
        let digest = self.push_blob(repo, content).await;
        json!({"mediaType": media_type, "digest": digest.to_string(), "size": content.len()})
    }
}

/// The first error code of a spec error body.
pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["errors"][0]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}
