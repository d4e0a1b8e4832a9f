//! IAM policy documents for Berth: parsing and validation with AWS's error wordings, and
//! evaluation with AWS's logic. Pure: no I/O, no clock, no async.
//!
//! The server authorizes every ECS, ECR, Logs, ELBv2, IAM and STS request with [`evaluate`];
//! IAM's API validates documents with [`Policy::parse_identity`], [`Policy::parse_resource`]
//! and [`Policy::parse_trust`] (the `Display` of [`MalformedPolicy`] is the message AWS sends
//! with `MalformedPolicyDocument`) and answers `SimulatePrincipalPolicy` /
//! `SimulateCustomPolicy` with [`simulate`].
//!
//! ```
//! use berth_iam::{evaluate, Decision, Policy, Principal, Request, RequestContext};
//!
//! let policy = Policy::parse_identity(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": [
//!         {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"},
//!         {"Effect": "Deny", "Action": "ecs:DescribeTasks",
//!          "Resource": "arn:aws:ecs:*:*:task/prod/*"}
//!     ]
//! }"#).unwrap();
//! let alice = Principal::user("arn:aws:iam::123456789012:user/alice");
//! let context = RequestContext::new();
//! let request = Request::new(
//!     &alice,
//!     "ecs:DescribeClusters",
//!     "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
//!     &context,
//! );
//! assert_eq!(evaluate(&[&policy], None, &request).decision, Decision::Allow);
//! ```
//!
//! Patterns are compiled when a document is parsed, so evaluation walks prepared matchers and
//! allocates only when a statement uses a policy variable.
//!
//! See `README.md` beside this crate for the evaluation logic as a diagram.

#![warn(missing_docs)]

mod condition;
mod date;
mod document;
mod error;
mod evaluate;
pub mod managed;
mod message;
mod pattern;
mod quota;
mod request;
mod variables;

pub use document::{Effect, Policy, PolicyKind, PolicyVersion, Statement};
pub use error::MalformedPolicy;
pub use evaluate::{
    evaluate, evaluate_trust, simulate, trusts_service, Decision, MatchedStatement, Outcome,
    PolicyRef, Simulation, TrustVerdict,
};
pub use message::{access_denied_message, explicit_deny_message, implicit_deny_message};
pub use quota::{check_size, policy_size, PolicySizeExceeded, SizeQuota};
pub use request::{Principal, PrincipalKind, Request, RequestContext};

/// The kind of policy that decided a request, as AWS names it in `AccessDenied` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    /// A policy attached to the caller (user, group or role): managed or inline.
    IdentityBased,
    /// A policy attached to the resource: a role's trust policy, a repository policy, …
    ResourceBased,
}

impl PolicyType {
    /// The words AWS uses: `identity-based` or `resource-based`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::IdentityBased => "identity-based",
            PolicyType::ResourceBased => "resource-based",
        }
    }
}
