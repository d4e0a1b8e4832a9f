//! IAM's size quotas for policy documents. AWS does not count white space; the limits are in
//! characters (IAM User Guide, "IAM and AWS STS quotas",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>):
//! managed policy 6,144; role trust policy 2,048 (AWS lets an account raise it to 4,096);
//! inline policies, all of an entity's together: user 2,048, group 5,120, role 10,240.
//!
//! Exceeding one is IAM's `LimitExceeded` error (HTTP 409), not `MalformedPolicyDocument`;
//! the messages are the ones AWS users report (e.g. kubeflow/kubeflow#6687,
//! ministryofjustice/cloud-platform-environments#14473, aws/aws-cdk#18531).

/// Which quota a document (or an entity's inline documents together) must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeQuota<'a> {
    /// A customer managed policy version (6,144).
    ManagedPolicy,
    /// A role's trust policy (2,048).
    RoleTrustPolicy,
    /// All inline policies of the named user (2,048).
    InlineUserPolicies {
        /// The user's name, for the message.
        user: &'a str,
    },
    /// All inline policies of the named group (5,120).
    InlineGroupPolicies {
        /// The group's name, for the message.
        group: &'a str,
    },
    /// All inline policies of the named role (10,240).
    InlineRolePolicies {
        /// The role's name, for the message.
        role: &'a str,
    },
}

impl SizeQuota<'_> {
    /// The limit in characters, white space not counted.
    pub fn limit(&self) -> usize {
        match self {
            SizeQuota::ManagedPolicy => 6_144,
            SizeQuota::RoleTrustPolicy => 2_048,
            SizeQuota::InlineUserPolicies { .. } => 2_048,
            SizeQuota::InlineGroupPolicies { .. } => 5_120,
            SizeQuota::InlineRolePolicies { .. } => 10_240,
        }
    }
}

/// A document over its quota. `Display` is AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicySizeExceeded {
    /// A managed policy over 6,144 characters.
    #[error("Cannot exceed quota for PolicySize: {limit}")]
    PolicySize {
        /// The limit.
        limit: usize,
    },
    /// A role trust policy over its limit.
    #[error("Cannot exceed quota for ACLSizePerRole: {limit}")]
    TrustPolicySize {
        /// The limit.
        limit: usize,
    },
    /// An entity's inline policies over their limit.
    #[error("Maximum policy size of {limit} bytes exceeded for {entity} {name}")]
    InlinePolicySize {
        /// The limit.
        limit: usize,
        /// `user`, `group` or `role`.
        entity: &'static str,
        /// The entity's name.
        name: String,
    },
}

impl PolicySizeExceeded {
    /// The AWS error code for every variant.
    pub fn code(&self) -> &'static str {
        "LimitExceeded"
    }
}

/// The size of a document as IAM counts it: characters other than white space.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Checks a size (from [`policy_size`], summed over an entity's inline policies where the
/// quota is per entity) against a quota.
pub fn check_size(size: usize, quota: SizeQuota<'_>) -> Result<(), PolicySizeExceeded> {
    let limit = quota.limit();
    if size <= limit {
        return Ok(());
    }
    Err(match quota {
        SizeQuota::ManagedPolicy => PolicySizeExceeded::PolicySize { limit },
        SizeQuota::RoleTrustPolicy => PolicySizeExceeded::TrustPolicySize { limit },
        SizeQuota::InlineUserPolicies { user } => PolicySizeExceeded::InlinePolicySize {
            limit,
            entity: "user",
            name: user.to_owned(),
        },
        SizeQuota::InlineGroupPolicies { group } => PolicySizeExceeded::InlinePolicySize {
            limit,
            entity: "group",
            name: group.to_owned(),
        },
        SizeQuota::InlineRolePolicies { role } => PolicySizeExceeded::InlinePolicySize {
            limit,
            entity: "role",
            name: role.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_not_counted() {
        assert_eq!(policy_size("{ \"a\" :\n\t\"b\" }"), 9);
    }

    #[test]
    fn limits_and_messages() {
        assert_eq!(check_size(6_144, SizeQuota::ManagedPolicy), Ok(()));
        assert_eq!(
            check_size(6_145, SizeQuota::ManagedPolicy)
                .expect_err("over")
                .to_string(),
            "Cannot exceed quota for PolicySize: 6144"
        );
        assert_eq!(
            check_size(2_049, SizeQuota::RoleTrustPolicy)
                .expect_err("over")
                .to_string(),
            "Cannot exceed quota for ACLSizePerRole: 2048"
        );
        assert_eq!(
            check_size(10_241, SizeQuota::InlineRolePolicies { role: "web" })
                .expect_err("over")
                .to_string(),
            "Maximum policy size of 10240 bytes exceeded for role web"
        );
        assert_eq!(
            check_size(5_120, SizeQuota::InlineGroupPolicies { group: "g" }),
            Ok(())
        );
        assert!(check_size(2_049, SizeQuota::InlineUserPolicies { user: "u" }).is_err());
        assert_eq!(
            check_size(9_000, SizeQuota::ManagedPolicy)
                .expect_err("over")
                .code(),
            "LimitExceeded"
        );
    }
}
