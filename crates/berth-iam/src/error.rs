//! Why a policy document was refused. One variant per message AWS sends with the
//! `MalformedPolicyDocument` error code; `Display` is that message, word for word where the
//! wording is known.
//!
//! Sources for the wordings: messages reported by AWS users in public issue trackers (for
//! example hashicorp/terraform-provider-aws#10419, terraform-aws-modules/terraform-aws-iam#603,
//! aws/aws-cdk#7615, 99designs/iamy#65, terraform-aws-modules/terraform-aws-eks-pod-identity#34,
//! aws-actions/configure-aws-credentials#332, cattle-ops/terraform-aws-gitlab-runner#1257) and
//! the order in which IAM checks them as reconstructed by moto's `iam/policy_validation.py`.
//! Variants whose wording could not be found say so in their doc.

/// A policy document that IAM would refuse with `MalformedPolicyDocument`. `Display` is the
/// message AWS sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedPolicy {
    /// Not JSON, not an object, an unknown element, a value of the wrong JSON type, an
    /// unknown `Version`, `Effect` other than Allow/Deny, both `Action` and `NotAction` (or
    /// `Resource`/`NotResource`, `Principal`/`NotPrincipal`), an empty `Statement`, or an
    /// unknown condition operator. IAM says no more than this for any of them.
    #[error("Syntax errors in policy.")]
    Syntax,
    /// The document is well-formed JSON of the right shape but IAM's older parser refuses it:
    /// `Effect` in the wrong case, a date condition value that is not a date, a resource with
    /// an empty service or too few ARN segments.
    #[error("The policy failed legacy parsing")]
    LegacyParsing,
    /// The operation (for example `CreatePolicy`) requires `"Version": "2012-10-17"`; see
    /// [`crate::Policy::require_current_version`].
    #[error("Policy document must be version 2012-10-17 or greater.")]
    VersionTooOld,
    /// Two statements carry the same non-empty `Sid`.
    #[error("Statement IDs (SID) in a single policy must be unique.")]
    DuplicateSid,
    /// A statement has neither `Action` nor `NotAction`, or an empty list.
    #[error("Policy statement must contain actions.")]
    MissingActions,
    /// A statement of an identity policy has neither `Resource` nor `NotResource`, or an
    /// empty list.
    #[error("Policy statement must contain resources.")]
    MissingResources,
    /// An identity policy (attached to a user, group or role) names a `Principal` or
    /// `NotPrincipal`.
    #[error("Policy document should not specify a principal.")]
    PrincipalNotAllowed,
    /// A trust or resource policy statement has neither `Principal` nor `NotPrincipal`.
    #[error("Missing required field Principal")]
    MissingPrincipal,
    /// A role trust policy names an element it may not have (`Resource`, `NotResource`).
    #[error("Has prohibited field {0}")]
    ProhibitedField(&'static str),
    /// A principal that is not an account, a user, a role, a session, a service or `*`
    /// (wildcards inside ARNs are not allowed). Displays as AWS does:
    /// `Invalid principal in policy: "AWS":"value"`.
    #[error("Invalid principal in policy: \"{kind}\":\"{value}\"")]
    InvalidPrincipal {
        /// `AWS`, `Service`, `Federated`, `CanonicalUser` or the unknown key given.
        kind: String,
        /// The value as written.
        value: String,
    },
    /// A resource with no `:` at all that is not `*`.
    #[error("Resource {0} must be in ARN format or \"*\".")]
    ResourceNotArn(String),
    /// An action without a service prefix (other than `*`).
    #[error("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")]
    ActionWithoutVendor,
    /// An action with more than one `:`.
    #[error("Actions/Condition can contain only one colon.")]
    ActionWithTooManyColons,
    /// A service prefix with characters other than letters, digits, `-` and `.`.
    #[error("Vendor {0} is not valid")]
    InvalidVendor(String),
}

impl MalformedPolicy {
    /// The AWS error code for every variant.
    pub fn code(&self) -> &'static str {
        "MalformedPolicyDocument"
    }
}
