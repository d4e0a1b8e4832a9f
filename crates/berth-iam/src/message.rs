//! The `AccessDenied` message, worded as AWS words it:
//!
//! * `User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no
//!   identity-based policy allows the ACTION action` (implicit deny);
//! * `User: ARN is not authorized to perform: ACTION on resource: RESOURCE with an explicit
//!   deny in an identity-based policy` (explicit deny), optionally followed by `: POLICY-ARN`
//!   as AWS has done since January 2026 for same-account denials;
//! * the same with `resource-based` (and `a` for the article).
//!
//! Sources: IAM User Guide, "Troubleshoot access denied error messages"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html>) and the
//! AWS Security Blog post "Enhanced access denied error messages with policy ARNs"
//! (<https://aws.amazon.com/blogs/security/enhanced-access-denied-error-messages-with-policy-arns>).
//! AWS writes `User:` for every kind of caller, role sessions included.

use crate::evaluate::{Decision, Outcome};
use crate::PolicyType;

fn article(policy_type: PolicyType) -> &'static str {
    match policy_type {
        PolicyType::IdentityBased => "an",
        PolicyType::ResourceBased => "a",
    }
}

/// The message for a request that nothing allowed.
pub fn implicit_deny_message(
    principal_arn: &str,
    action: &str,
    resource: &str,
    policy_type: PolicyType,
) -> String {
    format!(
        "User: {principal_arn} is not authorized to perform: {action} on resource: {resource} \
         because no {} policy allows the {action} action",
        policy_type.as_str()
    )
}

/// The message for a request a Deny statement refused; `policy_arn` names the denying policy
/// (for managed policies) when the caller may see it.
pub fn explicit_deny_message(
    principal_arn: &str,
    action: &str,
    resource: &str,
    policy_type: PolicyType,
    policy_arn: Option<&str>,
) -> String {
    let mut message = format!(
        "User: {principal_arn} is not authorized to perform: {action} on resource: {resource} \
         with an explicit deny in {} {} policy",
        article(policy_type),
        policy_type.as_str()
    );
    if let Some(arn) = policy_arn {
        message.push_str(": ");
        message.push_str(arn);
    }
    message
}

/// The message for an [`Outcome`], or `None` when it allows.
pub fn access_denied_message(
    principal_arn: &str,
    action: &str,
    resource: &str,
    outcome: &Outcome,
) -> Option<String> {
    let policy_type = outcome.denied_by.unwrap_or(PolicyType::IdentityBased);
    match outcome.decision {
        Decision::Allow => None,
        Decision::ImplicitDeny => Some(implicit_deny_message(
            principal_arn,
            action,
            resource,
            policy_type,
        )),
        Decision::ExplicitDeny => Some(explicit_deny_message(
            principal_arn,
            action,
            resource,
            policy_type,
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluate, Policy, Principal, Request, RequestContext};

    const USER: &str = "arn:aws:iam::123456789012:user/alice";
    const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

    #[test]
    fn implicit_deny_wording() {
        assert_eq!(
            implicit_deny_message(
                USER,
                "ecs:DeleteCluster",
                CLUSTER,
                PolicyType::IdentityBased
            ),
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: \
             ecs:DeleteCluster on resource: arn:aws:ecs:us-east-1:123456789012:cluster/prod \
             because no identity-based policy allows the ecs:DeleteCluster action"
        );
        assert!(
            implicit_deny_message(USER, "ecr:BatchGetImage", "r", PolicyType::ResourceBased)
                .ends_with("because no resource-based policy allows the ecr:BatchGetImage action")
        );
    }

    #[test]
    fn explicit_deny_wording() {
        assert_eq!(
            explicit_deny_message(
                USER,
                "iam:ListRoles",
                "arn:aws:iam::123456789012:role/*",
                PolicyType::IdentityBased,
                None
            ),
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: \
             iam:ListRoles on resource: arn:aws:iam::123456789012:role/* with an explicit deny \
             in an identity-based policy"
        );
        assert!(
            explicit_deny_message(USER, "a:b", "r", PolicyType::ResourceBased, None)
                .ends_with("with an explicit deny in a resource-based policy")
        );
        assert!(explicit_deny_message(
            USER,
            "a:b",
            "r",
            PolicyType::IdentityBased,
            Some("arn:aws:iam::123456789012:policy/NoDeletes")
        )
        .ends_with("in an identity-based policy: arn:aws:iam::123456789012:policy/NoDeletes"));
    }

    #[test]
    fn outcomes_choose_the_wording() {
        let deny = Policy::parse_identity(
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "ecs:*", "Resource": "*"}}"#,
        )
        .expect("valid");
        let alice = Principal::user(USER);
        let context = RequestContext::new();
        let request = Request::new(&alice, "ecs:ListClusters", "*", &context);
        let denied = evaluate(&[&deny], None, &request);
        assert!(
            access_denied_message(USER, "ecs:ListClusters", "*", &denied)
                .expect("denied")
                .contains("with an explicit deny in an identity-based policy")
        );
        let nothing = evaluate(&[], None, &request);
        assert!(
            access_denied_message(USER, "ecs:ListClusters", "*", &nothing)
                .expect("denied")
                .contains("because no identity-based policy allows")
        );
        let allow = Policy::parse_identity(
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
        )
        .expect("valid");
        assert_eq!(
            access_denied_message(
                USER,
                "ecs:ListClusters",
                "*",
                &evaluate(&[&allow], None, &request)
            ),
            None
        );
    }
}
