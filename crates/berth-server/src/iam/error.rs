//! IAM's and STS's errors: one variant per error code their Query APIs answer, with its
//! HTTP status; [`super::respond`] turns any of them into an `<ErrorResponse>`.

use berth_query::QueryError;
use berth_store::records::RecordError;

macro_rules! iam_errors {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $status:literal), )*) => {
        /// An IAM or STS error; the string is the message.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum IamError {
            $( $(#[$doc])* #[error("{0}")] $variant(String), )*
        }

        impl IamError {
            /// AWS's error code.
            pub fn code(&self) -> &'static str {
                match self { $( IamError::$variant(_) => $code, )* }
            }

            /// The HTTP status it is answered with.
            pub fn status(&self) -> u16 {
                match self { $( IamError::$variant(_) => $status, )* }
            }

            /// The message.
            pub fn message(&self) -> &str {
                match self { $( IamError::$variant(m) => m, )* }
            }
        }
    };
}

iam_errors! {
    /// The entity named does not exist.
    NoSuchEntity => ("NoSuchEntity", 404),
    /// An entity of that name already exists.
    EntityAlreadyExists => ("EntityAlreadyExists", 409),
    /// The entity still has subordinate entities (policies, keys, members) attached.
    DeleteConflict => ("DeleteConflict", 409),
    /// One of AWS's quotas would be exceeded.
    LimitExceeded => ("LimitExceeded", 409),
    /// The policy document is not valid.
    MalformedPolicyDocument => ("MalformedPolicyDocument", 400),
    /// A value is not valid for the action.
    InvalidInput => ("InvalidInput", 400),
    /// A member breaks its model's constraints.
    Validation => ("ValidationError", 400),
    /// The entity is AWS's and cannot be changed (an AWS managed policy).
    Unmodifiable => ("UnmodifiableEntity", 400),
    /// The password does not meet the account's password policy.
    PasswordPolicyViolation => ("PasswordPolicyViolation", 400),
    /// The caller may not perform the action.
    AccessDenied => ("AccessDenied", 403),
    /// The action is not one this service has.
    InvalidAction => ("InvalidAction", 400),
    /// The session's token has expired.
    ExpiredToken => ("ExpiredToken", 400),
    /// Too many concurrent changes to the same entity; retry.
    Throttling => ("Throttling", 400),
    /// Berth failed; the request may be retried.
    ServiceFailure => ("ServiceFailure", 500),
}

impl From<QueryError> for IamError {
    fn from(e: QueryError) -> Self {
        IamError::Validation(e.message().to_string())
    }
}

impl From<RecordError> for IamError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Contention { what } => IamError::Throttling(format!(
                "Rate exceeded: too many concurrent changes to {what}; retry the request."
            )),
            other => IamError::ServiceFailure(other.to_string()),
        }
    }
}

impl From<berth_iam::MalformedPolicy> for IamError {
    fn from(e: berth_iam::MalformedPolicy) -> Self {
        IamError::MalformedPolicyDocument(e.to_string())
    }
}

impl IamError {
    /// The error for a missing entity of `kind` (`role`, `user`, …) named `name`, in
    /// AWS's words.
    pub fn no_such(kind: &str, name: &str) -> IamError {
        IamError::NoSuchEntity(format!("The {kind} with name {name} cannot be found."))
    }
}
