//! AWS Signature Version 4: verification of incoming requests (server side) and signing of
//! outgoing ones (Berth's own clients, agents and tests).
//!
//! Every Berth API (ECS and ECR over JSON 1.1, CloudWatch Logs, ELBv2's Query protocol with
//! form bodies) authenticates with this crate, so the AWS CLI and boto3 work unchanged.
//!
//! # Verifying (server)
//!
//! Build one [`Verifier`] at startup (it caches derived signing keys) and hand each request's
//! parts and body bytes to it. Nothing is copied: [`Request`] only borrows.
//!
//! ```
//! # use berth_sigv4::{Identity, Request, Verifier};
//! # use std::collections::HashMap;
//! # fn handle(parts: &http::request::Parts, body: &[u8]) -> Result<(), berth_sigv4::AuthError> {
//! let verifier = Verifier::new();
//! let keys: HashMap<String, Identity> = HashMap::new(); // anything that implements SecretLookup
//! let now = time::OffsetDateTime::now_utc();
//! let who = verifier.verify(&Request::from_parts(parts, body), &keys, now, Some("ecs"))?;
//! println!("{} in account {}", who.access_key_id, who.account_id);
//! # Ok(()) }
//! ```
//!
//! On failure, [`AuthError::code`] (JSON protocols), [`AuthError::query_code`] (the Query
//! protocol), [`AuthError::status`] and the `Display` message are what goes on the wire.
//!
//! # Signing (clients)
//!
//! [`sign_request`] signs an `http::Request` in place the way botocore does; [`sign`] returns
//! the headers to add for any other request representation.

#![warn(missing_docs)]

mod auth_header;
mod canonical;
mod error;
mod key;
mod request;
mod sign;
mod timestamp;
mod verify;

#[cfg(test)]
mod suite_tests;

pub use error::{AuthError, SignError, SignatureMismatch};
pub use request::{Payload, Request};
pub use sign::{sign, sign_request, Credentials, Signed, SigningParams};
pub use verify::{
    signing_service, verify, Identity, SecretLookup, Verified, Verifier, MAX_CLOCK_SKEW,
};

/// The only signing algorithm Berth accepts and produces.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The `X-Amz-Content-Sha256` value a client sends when it did not hash the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Hex SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
