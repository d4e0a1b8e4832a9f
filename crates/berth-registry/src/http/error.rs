//! Every failure becomes HTTP here, and only here: the distribution spec's error codes,
//! their statuses, and the JSON body `{"errors":[{"code","message","detail"}]}`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{HeaderName, HeaderValue, WWW_AUTHENTICATE};
use http::StatusCode;
use serde_json::{json, Value};

use crate::auth::AuthError;
use crate::blobs::BlobError;
use crate::manifests::ManifestError;
use crate::metadata::MetadataError;
use crate::names::NameError;
use crate::push::PushError;

/// The error codes of the distribution spec (plus `UNKNOWN` and `UNAVAILABLE` for
/// server-side failures, as Docker's registry names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    Unknown,
    Unavailable,
}

impl Code {
    /// The code as the spec spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::Unknown => "UNKNOWN",
            Code::Unavailable => "UNAVAILABLE",
        }
    }

    /// The status this code is usually answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::TagInvalid => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// One entry of an error body.
#[derive(Debug, Clone)]
struct Entry {
    code: Code,
    message: String,
    detail: Value,
}

/// An error answer: a status, one or more spec errors, and extra headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    entries: Vec<Entry>,
    headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// One error with its code's usual status.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            status: code.status(),
            entries: vec![Entry {
                code,
                message: message.into(),
                detail: Value::Null,
            }],
            headers: Vec::new(),
        }
    }

    /// Answers with `status` instead of the code's usual one.
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    /// Sets the detail of the (last) error.
    pub fn with_detail(mut self, detail: Value) -> ApiError {
        if let Some(entry) = self.entries.last_mut() {
            entry.detail = detail;
        }
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A path that names no endpoint.
    pub fn no_route() -> ApiError {
        ApiError::new(Code::Unsupported, "no such endpoint of the registry API")
            .with_status(StatusCode::NOT_FOUND)
    }

    /// A method the endpoint does not have.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            Code::Unsupported,
            "the endpoint does not support this method",
        )
    }

    /// A server-side failure; the detail goes to the log, a summary to the client.
    pub fn internal(error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%error, "registry request failed");
        ApiError::new(Code::Unknown, format!("internal error: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errors: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut entry = json!({"code": e.code.as_str(), "message": e.message});
                if !e.detail.is_null() {
                    entry["detail"] = e.detail.clone();
                }
                entry
            })
            .collect();
        let mut response = (self.status, Json(json!({ "errors": errors }))).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> ApiError {
        let code = match e {
            NameError::InvalidName { .. } => Code::NameInvalid,
            NameError::InvalidTag(_) => Code::TagInvalid,
            NameError::Digest(_) => Code::DigestInvalid,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> ApiError {
        let message = e.to_string();
        match e {
            BlobError::BlobUnknown(digest) => ApiError::new(Code::BlobUnknown, message)
                .with_detail(json!({ "digest": digest.to_string() })),
            BlobError::UploadUnknown(_) => ApiError::new(Code::BlobUploadUnknown, message),
            BlobError::OutOfOrder { .. } => ApiError::new(Code::BlobUploadInvalid, message)
                .with_status(StatusCode::RANGE_NOT_SATISFIABLE),
            BlobError::SizeMismatch { .. } => ApiError::new(Code::SizeInvalid, message),
            BlobError::DigestMismatch { expected, actual } => {
                ApiError::new(Code::DigestInvalid, message).with_detail(json!({
                    "expected": expected.to_string(), "actual": actual.to_string()
                }))
            }
            BlobError::UploadDamaged(_) | BlobError::Body(_) => {
                ApiError::new(Code::BlobUploadInvalid, message)
            }
            BlobError::Io { .. } => ApiError::internal(&e),
        }
    }
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> ApiError {
        let message = e.to_string();
        match e {
            // A client's login is for one region, which ECR's words leave unsaid: a
            // repository made in another region is not found here.
            MetadataError::RepositoryNotFound { region, .. } => ApiError::new(
                Code::NameUnknown,
                format!(
                    "{message} in region {region} (the region of this docker login; a \
                     repository belongs to the region it was created in)"
                ),
            ),
            MetadataError::ReferencesUnknown { missing, .. } => {
                let mut error = ApiError::new(Code::ManifestBlobUnknown, message);
                error.entries = missing
                    .iter()
                    .map(|digest| Entry {
                        code: Code::ManifestBlobUnknown,
                        message: format!("blob or manifest unknown to the repository: {digest}"),
                        detail: json!({ "digest": digest.to_string() }),
                    })
                    .collect();
                error
            }
            MetadataError::TagImmutable { .. } => ApiError::new(Code::TagInvalid, message),
            MetadataError::RepositoryAlreadyExists { .. }
            | MetadataError::RepositoryNotEmpty { .. } => {
                ApiError::new(Code::Denied, message).with_status(StatusCode::CONFLICT)
            }
            MetadataError::Contention(_) | MetadataError::Store(_) => {
                tracing::warn!(error = %message, "registry metadata unavailable");
                ApiError::new(Code::Unavailable, message)
            }
            MetadataError::Corrupt { .. } => ApiError::internal(&e),
        }
    }
}

impl From<ManifestError> for ApiError {
    fn from(e: ManifestError) -> ApiError {
        let error = ApiError::new(Code::ManifestInvalid, e.to_string());
        match e {
            ManifestError::TooLarge { .. } => error.with_status(StatusCode::PAYLOAD_TOO_LARGE),
            _ => error,
        }
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> ApiError {
        match e {
            PushError::Manifest(e) => e.into(),
            PushError::Blobs(e) => e.into(),
            PushError::Metadata(e) => e.into(),
            PushError::DigestMismatch { .. } => ApiError::new(Code::DigestInvalid, e.to_string()),
        }
    }
}

/// Turns an authorization refusal into its answer; 401s carry a Basic challenge.
pub fn auth_error(e: AuthError, realm: &str) -> ApiError {
    match e {
        AuthError::Unauthenticated(message) => ApiError::new(Code::Unauthorized, message)
            .with_header(WWW_AUTHENTICATE, format!("Basic realm=\"{realm}\"")),
        AuthError::Denied(message) => ApiError::new(Code::Denied, message),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::digest::Digest;

    async fn body_of(error: ApiError) -> (StatusCode, Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn errors_have_the_spec_shape() {
        let (status, body) = body_of(ApiError::new(Code::NameInvalid, "bad name")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"errors": [{"code": "NAME_INVALID", "message": "bad name"}]})
        );
        let missing = vec![Digest::of(b"a"), Digest::of(b"b")];
        let e = MetadataError::ReferencesUnknown {
            name: "x".into(),
            missing,
        };
        let (status, body) = body_of(e.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|e| e["code"] == "MANIFEST_BLOB_UNKNOWN"));
        assert_eq!(errors[1]["detail"]["digest"], Digest::of(b"b").to_string());
    }

    #[tokio::test]
    async fn unauthenticated_answers_carry_a_challenge() {
        let e = auth_error(AuthError::Unauthenticated("who?".into()), "berth");
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"berth\""
        );
        let (status, _) = body_of(auth_error(AuthError::Denied("no".into()), "r")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn out_of_order_chunks_are_416() {
        let e = BlobError::OutOfOrder {
            offset: 5,
            start: 9,
        };
        let (status, body) = body_of(e.into()).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(body["errors"][0]["code"], "BLOB_UPLOAD_INVALID");
    }
}
