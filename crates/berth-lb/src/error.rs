//! ELBv2's errors: one variant per error code the Query API returns, with its HTTP
//! status. Handlers return `Err(ElbError::TargetGroupNotFound(..))`; [`crate::Elb::error_response`]
//! turns any of them into an `<ErrorResponse>` in one place.

use berth_query::QueryError;
use berth_store::records::RecordError;
use berth_store::StoreError;

macro_rules! elb_errors {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $status:literal), )*) => {
        /// An error as ELBv2 reports it: a code, an HTTP status and a message.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum ElbError {
            $( $(#[$doc])* #[error("{0}")] $variant(String), )*
            /// An error of the front door (SigV4, body size) in the Query protocol's
            /// words.
            #[error("{message}")]
            FrontDoor {
                code: &'static str,
                status: u16,
                message: String,
            },
        }

        impl ElbError {
            /// The error code, sent as `<Code>`.
            pub fn code(&self) -> &'static str {
                match self {
                    $( ElbError::$variant(_) => $code, )*
                    ElbError::FrontDoor { code, .. } => code,
                }
            }
            /// The HTTP status ELBv2 uses for this error.
            pub fn status(&self) -> u16 {
                match self {
                    $( ElbError::$variant(_) => $status, )*
                    ElbError::FrontDoor { status, .. } => *status,
                }
            }
            /// The human-readable message.
            pub fn message(&self) -> &str {
                match self {
                    $( ElbError::$variant(m) => m, )*
                    ElbError::FrontDoor { message, .. } => message,
                }
            }
        }
    };
}

elb_errors! {
    /// A parameter is missing, malformed or out of range.
    Validation => ("ValidationError", 400),
    /// The `Action` parameter names no operation Berth serves.
    InvalidAction => ("InvalidAction", 400),
    /// The request has no `Action` parameter.
    MissingAction => ("MissingAction", 400),
    /// The named load balancer does not exist.
    LoadBalancerNotFound => ("LoadBalancerNotFound", 400),
    /// The named target group does not exist.
    TargetGroupNotFound => ("TargetGroupNotFound", 400),
    /// The named listener does not exist.
    ListenerNotFound => ("ListenerNotFound", 400),
    /// The named rule does not exist.
    RuleNotFound => ("RuleNotFound", 400),
    /// A load balancer of that name exists with other settings.
    DuplicateLoadBalancerName => ("DuplicateLoadBalancerName", 400),
    /// A target group of that name exists with other settings.
    DuplicateTargetGroupName => ("DuplicateTargetGroupName", 400),
    /// The load balancer has a listener on that port already.
    DuplicateListener => ("DuplicateListener", 400),
    /// A target is not valid for its target group.
    InvalidTarget => ("InvalidTarget", 400),
    /// The request is well-formed but cannot be carried out as asked.
    InvalidConfigurationRequest => ("InvalidConfigurationRequest", 400),
    /// The resource is still used by another.
    ResourceInUse => ("ResourceInUse", 400),
    /// A rule of the listener has that priority already.
    PriorityInUse => ("PriorityInUse", 400),
    /// A target group may serve one load balancer only.
    TargetGroupAssociationLimit => ("TargetGroupAssociationLimit", 400),
    /// The listener's protocol cannot forward to the target group's.
    IncompatibleProtocols => ("IncompatibleProtocols", 400),
    /// The protocol is not supported (for this load balancer type, or by Berth).
    UnsupportedProtocol => ("UnsupportedProtocol", 400),
    /// An action is malformed or of a type Berth does not serve.
    InvalidLoadBalancerAction => ("InvalidLoadBalancerAction", 400),
    /// The operation is not allowed on this resource (the default rule).
    OperationNotPermitted => ("OperationNotPermitted", 400),
    /// A target group would hold more targets than allowed.
    TooManyTargets => ("TooManyTargets", 400),
    /// A listener would have more rules than allowed.
    TooManyRules => ("TooManyRules", 400),
    /// A load balancer would have more listeners than allowed.
    TooManyListeners => ("TooManyListeners", 400),
    /// An action would forward to more target groups than allowed.
    TooManyTargetGroups => ("TooManyTargetGroups", 400),
    /// Too many concurrent changes; the request may be retried.
    Throttling => ("Throttling", 400),
    /// Berth failed; the request may be retried.
    Internal => ("InternalFailure", 500),
}

impl ElbError {
    /// A failure of the store, which the caller may retry.
    pub fn store(e: StoreError) -> ElbError {
        ElbError::Internal(format!(
            "The store failed: {e}. The request may be retried."
        ))
    }

    /// A `ValidationError` in AWS's words for one member that breaks a constraint.
    pub fn constraint(value: impl std::fmt::Display, member: &str, constraint: &str) -> ElbError {
        QueryError::constraint(value, member, constraint).into()
    }

    /// A required member is absent.
    pub fn missing(member: &str) -> ElbError {
        QueryError::missing(member).into()
    }
}

/// A request that does not fit its action is a `ValidationError`.
impl From<QueryError> for ElbError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Validation(m) => ElbError::Validation(m),
        }
    }
}

/// The records layer's errors in ELBv2's words: contention is `Throttling` ("Too many
/// concurrent changes to WHAT"), a failing store or an unreadable record
/// `InternalFailure`.
impl From<RecordError> for ElbError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(e) => ElbError::store(e),
            RecordError::Corrupt { key, reason } => {
                ElbError::Internal(format!("stored record {key} cannot be read: {reason}"))
            }
            RecordError::Contention { what } => ElbError::Throttling(format!(
                "Too many concurrent changes to {what}; retry the request"
            )),
        }
    }
}

pub use berth_query::error::lower_first;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_codes_statuses_and_messages() {
        let e = ElbError::TargetGroupNotFound("One or more target groups not found".into());
        assert_eq!(e.code(), "TargetGroupNotFound");
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "One or more target groups not found");
        assert_eq!(ElbError::Internal(String::new()).status(), 500);
        let front = ElbError::FrontDoor {
            code: "SignatureDoesNotMatch",
            status: 403,
            message: "bad".into(),
        };
        assert_eq!(
            (front.code(), front.status(), front.message()),
            ("SignatureDoesNotMatch", 403, "bad")
        );
    }

    #[test]
    fn validation_messages_name_members_as_aws_does() {
        let e = ElbError::missing("TargetGroupArn");
        assert!(e.message().contains("'targetGroupArn'"), "{}", e.message());
        let e = ElbError::constraint(
            3,
            "healthCheckIntervalSeconds",
            "Member must have value greater than or equal to 5",
        );
        assert!(e
            .message()
            .starts_with("1 validation error detected: Value '3'"));
    }
}
