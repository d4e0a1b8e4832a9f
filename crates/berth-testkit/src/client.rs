//! An ECS client that signs every request with SigV4, as the AWS CLI does.

use berth_sigv4::{Credentials, SigningParams};
use serde_json::Value;

/// An error response: HTTP status, `__type` and message.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

/// Calls ECS operations on one endpoint.
#[derive(Clone)]
pub struct EcsClient {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    region: String,
}

impl EcsClient {
    /// A client for `endpoint` (e.g. `http://127.0.0.1:7430`).
    pub fn new(endpoint: &str, access_key_id: &str, secret: &str, region: &str) -> Self {
        EcsClient {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            credentials: Credentials {
                access_key_id: access_key_id.into(),
                secret_access_key: secret.into(),
                session_token: None,
            },
            region: region.into(),
        }
    }

    /// The same client signing with temporary credentials (a task role's).
    pub fn with_session(&self, access_key_id: &str, secret: &str, token: &str) -> Self {
        EcsClient {
            credentials: Credentials {
                access_key_id: access_key_id.into(),
                secret_access_key: secret.into(),
                session_token: Some(token.into()),
            },
            ..self.clone()
        }
    }

    /// Calls `AmazonEC2ContainerServiceV20141113.<action>` with `body`.
    pub async fn call(&self, action: &str, body: Value) -> Result<Value, CallError> {
        self.call_raw(action, serde_json::to_vec(&body).expect("json"))
            .await
    }

    /// Calls an operation that must succeed; panics with the error otherwise.
    pub async fn ok(&self, action: &str, body: Value) -> Value {
        match self.call(action, body).await {
            Ok(v) => v,
            Err(e) => panic!("{action} failed: {e:?}"),
        }
    }

    /// Calls an operation that must fail; panics with the response otherwise.
    pub async fn err(&self, action: &str, body: Value) -> CallError {
        match self.call(action, body).await {
            Ok(v) => panic!("{action} succeeded but should have failed: {v}"),
            Err(e) => e,
        }
    }

    /// Calls with a raw body (for malformed-input tests).
    pub async fn call_raw(&self, action: &str, body: Vec<u8>) -> Result<Value, CallError> {
        let target = format!("AmazonEC2ContainerServiceV20141113.{action}");
        self.call_service("ecs", &target, body).await
    }

    /// Calls CloudWatch Logs' `Logs_20140328.<action>` with `body`.
    pub async fn logs(&self, action: &str, body: Value) -> Result<Value, CallError> {
        let target = format!("Logs_20140328.{action}");
        let body = serde_json::to_vec(&body).expect("json");
        self.call_service("logs", &target, body).await
    }

    /// Calls ECR's `AmazonEC2ContainerRegistry_V20150921.<action>` with `body`.
    pub async fn ecr(&self, action: &str, body: Value) -> Result<Value, CallError> {
        let target = format!("AmazonEC2ContainerRegistry_V20150921.{action}");
        let body = serde_json::to_vec(&body).expect("json");
        self.call_service("ecr", &target, body).await
    }

    /// Calls Secrets Manager's `secretsmanager.<action>` with `body`.
    pub async fn secretsmanager(&self, action: &str, body: Value) -> Result<Value, CallError> {
        let target = format!("secretsmanager.{action}");
        let body = serde_json::to_vec(&body).expect("json");
        self.call_service("secretsmanager", &target, body).await
    }

    /// Calls SSM's `AmazonSSM.<action>` with `body`.
    pub async fn ssm(&self, action: &str, body: Value) -> Result<Value, CallError> {
        let target = format!("AmazonSSM.{action}");
        let body = serde_json::to_vec(&body).expect("json");
        self.call_service("ssm", &target, body).await
    }

    /// Calls Berth's join-token API, `Berth_20261207.<action>`, with `body`.
    pub async fn berth(&self, action: &str, body: Value) -> Result<Value, CallError> {
        let target = format!("Berth_20261207.{action}");
        let body = serde_json::to_vec(&body).expect("json");
        self.call_service("berth", &target, body).await
    }

    /// Calls a Query protocol service (IAM, STS, ELBv2) signed as `service` with form
    /// members `pairs`: the HTTP status and the XML answer.
    pub async fn query(&self, service: &str, pairs: &[(&str, &str)]) -> (u16, String) {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let content_type = (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        match self
            .send_signed(service, &[content_type], body.into_bytes())
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    /// POSTs `body` with `headers` to `/`, signed for `service`.
    async fn send_signed(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let uri = format!("{}/", self.endpoint);
        let mut req = http::Request::post(&uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut req = req.body(body).expect("request");
        let params = SigningParams {
            credentials: &self.credentials,
            region: &self.region,
            service,
            time: time::OffsetDateTime::now_utc(),
            content_sha256_header: false,
        };
        berth_sigv4::sign_request(&mut req, &params).expect("sign");
        let (parts, body) = req.into_parts();
        self.http
            .post(&uri)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
    }

    /// Calls `target` of the JSON 1.1 service signed as `service`.
    async fn call_service(
        &self,
        service: &str,
        target: &str,
        body: Vec<u8>,
    ) -> Result<Value, CallError> {
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let resp = self
            .send_signed(service, &headers, body)
            .await
            .map_err(|e| CallError {
                status: 0,
                kind: "Transport".into(),
                message: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == 200 {
            Ok(value)
        } else {
            Err(CallError {
                status,
                kind: value["__type"].as_str().unwrap_or_default().to_string(),
                message: value["message"].as_str().unwrap_or_default().to_string(),
            })
        }
    }
}

/// A form or URL component: unreserved characters as they are, the rest percent-encoded.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
