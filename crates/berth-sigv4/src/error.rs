//! Why a request was refused (one variant per AWS error name, the `Display` is AWS's message)
//! and why signing failed.

/// What the canonical request and string to sign were when a signature did not match, for
/// server logs; AWS's Query services echo the same two strings back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureMismatch {
    /// The canonical request the server computed (a signed session token's value redacted).
    pub canonical_request: String,
    /// The string to sign the server computed.
    pub string_to_sign: String,
}

/// A request that failed SigV4 authentication. `Display` is the message AWS sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header or the date is malformed or incomplete.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The signature is wrong, expired, not yet valid, or scoped to the wrong date, region or
    /// service.
    #[error("{message}")]
    InvalidSignature {
        /// The message sent to the client.
        message: String,
        /// The server's canonical request and string to sign, when the signature itself
        /// did not match.
        mismatch: Option<Box<SignatureMismatch>>,
    },
    /// The access key is unknown, or the session token is missing, unexpected or wrong.
    #[error("{0}")]
    UnrecognizedClient(String),
}

/// The message for a well-formed signature that does not match.
pub(crate) const SIGNATURE_DOES_NOT_MATCH: &str = "The request signature we calculated does not \
     match the signature you provided. Check your AWS Secret Access Key and signing method. \
     Consult the service documentation for details.";

impl AuthError {
    /// The error name for JSON protocols (ECS, ECR, Logs): the `__type` of the response.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::InvalidSignature { .. } => "InvalidSignatureException",
            AuthError::UnrecognizedClient(_) => "UnrecognizedClientException",
        }
    }

    /// The error code for the Query protocol (ELBv2), which names the same errors differently.
    pub fn query_code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationToken",
            AuthError::IncompleteSignature(_) => "IncompleteSignature",
            AuthError::InvalidSignature { .. } => "SignatureDoesNotMatch",
            AuthError::UnrecognizedClient(_) => "InvalidClientTokenId",
        }
    }

    /// The HTTP status: 400 for a malformed signature (as AWS documents and sends for
    /// IncompleteSignature), 403 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::IncompleteSignature(_) => 400,
            _ => 403,
        }
    }

    /// The message, as `Display` also writes it.
    pub fn message(&self) -> String {
        self.to_string()
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        AuthError::InvalidSignature {
            message: message.into(),
            mismatch: None,
        }
    }

    pub(crate) fn bad_token(message: &str) -> Self {
        AuthError::UnrecognizedClient(message.to_owned())
    }
}

/// Signing could not produce valid headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Neither a `Host` header nor a URI authority says which host the request is for.
    #[error("cannot sign a request without a Host header or an absolute URI: set one of them")]
    MissingHost,
    /// A credential or scope value cannot be sent in an HTTP header.
    #[error("the {0} contains characters that cannot appear in an HTTP header")]
    InvalidHeaderValue(&'static str),
}
