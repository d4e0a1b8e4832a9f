//! AWS managed policies that Berth's users attach most, as data: name, ARN, path,
//! description, default version and the policy document of that version.
//!
//! The documents under `policies/` are AWS's own, as `GetPolicyVersion` returns them (element
//! order and values unchanged, pretty-printed), taken from the zoph-io/MAMIP snapshot of
//! 2026-03-07 (<https://github.com/zoph-io/MAMIP>). Descriptions are from the AWS Managed
//! Policy Reference (<https://docs.aws.amazon.com/aws-managed-policy/latest/reference/>).
//! `ReadOnlyAccess` is the full policy (version v178, about 2,700 action patterns), not an
//! abridgement.

use crate::document::Policy;
use crate::error::MalformedPolicy;

/// One AWS managed policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// The policy name, e.g. `AmazonECS_FullAccess`.
    pub name: &'static str,
    /// `arn:aws:iam::aws:policy` + path + name.
    pub arn: &'static str,
    /// `/` or `/service-role/`.
    pub path: &'static str,
    /// AWS's description.
    pub description: &'static str,
    /// The default version's ID, e.g. `v21`.
    pub default_version_id: &'static str,
    /// The default version's document (JSON).
    pub document: &'static str,
}

impl ManagedPolicy {
    /// The document parsed as an identity policy.
    pub fn policy(&self) -> Result<Policy, MalformedPolicy> {
        Policy::parse_identity(self.document)
    }
}

/// Every managed policy Berth ships, sorted by name.
pub const MANAGED_POLICIES: &[ManagedPolicy] = &[
    ManagedPolicy {
        name: "AWSGlueServiceRole",
        arn: "arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole",
        path: "/service-role/",
        description: "Policy for AWS Glue service role which allows access to related services including EC2, S3, and Cloudwatch Logs",
        default_version_id: "v5",
        document: include_str!("../policies/AWSGlueServiceRole.json"),
    },
    ManagedPolicy {
        name: "AdministratorAccess",
        arn: "arn:aws:iam::aws:policy/AdministratorAccess",
        path: "/",
        description: "Provides full access to AWS services and resources.",
        default_version_id: "v1",
        document: include_str!("../policies/AdministratorAccess.json"),
    },
    ManagedPolicy {
        name: "AmazonEC2ContainerRegistryFullAccess",
        arn: "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess",
        path: "/",
        description: "Provides administrative access to Amazon ECR resources",
        default_version_id: "v3",
        document: include_str!("../policies/AmazonEC2ContainerRegistryFullAccess.json"),
    },
    ManagedPolicy {
        name: "AmazonEC2ContainerRegistryPowerUser",
        arn: "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser",
        path: "/",
        description: "Provides full access to Amazon EC2 Container Registry repositories, but does not allow repository deletion or policy changes.",
        default_version_id: "v3",
        document: include_str!("../policies/AmazonEC2ContainerRegistryPowerUser.json"),
    },
    ManagedPolicy {
        name: "AmazonEC2ContainerRegistryReadOnly",
        arn: "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        path: "/",
        description: "Provides read-only access to Amazon EC2 Container Registry repositories.",
        default_version_id: "v3",
        document: include_str!("../policies/AmazonEC2ContainerRegistryReadOnly.json"),
    },
    ManagedPolicy {
        name: "AmazonEC2ContainerServiceforEC2Role",
        arn: "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
        path: "/service-role/",
        description: "Default policy for the Amazon EC2 Role for Amazon EC2 Container Service.",
        default_version_id: "v10",
        document: include_str!("../policies/AmazonEC2ContainerServiceforEC2Role.json"),
    },
    ManagedPolicy {
        name: "AmazonECSTaskExecutionRolePolicy",
        arn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        path: "/service-role/",
        description: "Provides access to other AWS service resources that are required to run Amazon ECS tasks",
        default_version_id: "v1",
        document: include_str!("../policies/AmazonECSTaskExecutionRolePolicy.json"),
    },
    ManagedPolicy {
        name: "AmazonECS_FullAccess",
        arn: "arn:aws:iam::aws:policy/AmazonECS_FullAccess",
        path: "/",
        description: "Provides administrative access to Amazon ECS resources and enables ECS features through access to other AWS service resources, including VPCs, Auto Scaling groups, and CloudFormation stacks.",
        default_version_id: "v21",
        document: include_str!("../policies/AmazonECS_FullAccess.json"),
    },
    ManagedPolicy {
        name: "AmazonS3FullAccess",
        arn: "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        path: "/",
        description: "Provides full access to all buckets via the AWS Management Console.",
        default_version_id: "v2",
        document: include_str!("../policies/AmazonS3FullAccess.json"),
    },
    ManagedPolicy {
        name: "AmazonSSMReadOnlyAccess",
        arn: "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess",
        path: "/",
        description: "Provides read only access to Amazon SSM.",
        default_version_id: "v1",
        document: include_str!("../policies/AmazonSSMReadOnlyAccess.json"),
    },
    ManagedPolicy {
        name: "CloudWatchLogsFullAccess",
        arn: "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
        path: "/",
        description: "Provides full access to CloudWatch Logs",
        default_version_id: "v8",
        document: include_str!("../policies/CloudWatchLogsFullAccess.json"),
    },
    ManagedPolicy {
        name: "CloudWatchLogsReadOnlyAccess",
        arn: "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess",
        path: "/",
        description: "Provides read only access to CloudWatch Logs",
        default_version_id: "v12",
        document: include_str!("../policies/CloudWatchLogsReadOnlyAccess.json"),
    },
    ManagedPolicy {
        name: "ReadOnlyAccess",
        arn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
        path: "/",
        description: "Provides read-only access to AWS services and resources.",
        default_version_id: "v178",
        document: include_str!("../policies/ReadOnlyAccess.json"),
    },
];

/// The managed policy with this ARN.
pub fn by_arn(arn: &str) -> Option<&'static ManagedPolicy> {
    MANAGED_POLICIES.iter().find(|policy| policy.arn == arn)
}

/// The managed policy with this name.
pub fn by_name(name: &str) -> Option<&'static ManagedPolicy> {
    MANAGED_POLICIES.iter().find(|policy| policy.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluate, Decision, Principal, Request, RequestContext};

    #[test]
    fn every_document_parses_as_an_identity_policy_and_round_trips() {
        for managed in MANAGED_POLICIES {
            let policy = managed
                .policy()
                .unwrap_or_else(|error| panic!("{}: {error}", managed.name));
            policy
                .require_current_version()
                .unwrap_or_else(|error| panic!("{}: {error}", managed.name));
            let again = crate::Policy::parse_identity(&policy.to_json())
                .unwrap_or_else(|error| panic!("{} re-serialized: {error}", managed.name));
            assert_eq!(policy, again, "{}", managed.name);
        }
    }

    #[test]
    fn arns_are_path_plus_name() {
        for managed in MANAGED_POLICIES {
            assert_eq!(
                managed.arn,
                format!("arn:aws:iam::aws:policy{}{}", managed.path, managed.name)
            );
            assert!(managed.default_version_id.starts_with('v'));
            assert!(!managed.description.is_empty());
        }
        let names: Vec<&str> = MANAGED_POLICIES.iter().map(|p| p.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn lookups() {
        assert_eq!(
            by_arn("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
                .map(|p| p.name),
            Some("AmazonECSTaskExecutionRolePolicy")
        );
        assert_eq!(by_name("AdministratorAccess").map(|p| p.path), Some("/"));
        assert!(by_name("NoSuchPolicy").is_none());
    }

    fn allowed(policy_name: &str, action: &str, resource: &str) -> bool {
        let policy = by_name(policy_name)
            .expect("known policy")
            .policy()
            .expect("parses");
        let alice = Principal::user("arn:aws:iam::123456789012:user/alice");
        let context = RequestContext::new();
        evaluate(
            &[&policy],
            None,
            &Request::new(&alice, action, resource, &context),
        )
        .decision
            == Decision::Allow
    }

    #[test]
    fn managed_policies_grant_what_their_names_say() {
        let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
        let repository = "arn:aws:ecr:us-east-1:123456789012:repository/web";
        assert!(allowed("AdministratorAccess", "iam:CreateUser", "*"));
        assert!(allowed("ReadOnlyAccess", "ecs:DescribeClusters", cluster));
        assert!(allowed("ReadOnlyAccess", "ecr:BatchGetImage", repository));
        assert!(allowed("ReadOnlyAccess", "logs:GetLogEvents", "*"));
        let parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/app/db";
        assert!(allowed(
            "AmazonSSMReadOnlyAccess",
            "ssm:GetParameters",
            parameter
        ));
        assert!(!allowed(
            "AmazonSSMReadOnlyAccess",
            "ssm:PutParameter",
            parameter
        ));
        assert!(allowed(
            "ReadOnlyAccess",
            "elasticloadbalancing:DescribeLoadBalancers",
            "*"
        ));
        assert!(!allowed("ReadOnlyAccess", "ecs:DeleteCluster", cluster));
        assert!(!allowed("ReadOnlyAccess", "iam:CreateUser", "*"));
        assert!(allowed(
            "AmazonECSTaskExecutionRolePolicy",
            "ecr:GetAuthorizationToken",
            "*"
        ));
        assert!(allowed(
            "AmazonECSTaskExecutionRolePolicy",
            "logs:PutLogEvents",
            "*"
        ));
        assert!(!allowed(
            "AmazonECSTaskExecutionRolePolicy",
            "ecs:RunTask",
            "*"
        ));
        assert!(allowed(
            "AmazonEC2ContainerRegistryPowerUser",
            "ecr:PutImage",
            repository
        ));
        assert!(!allowed(
            "AmazonEC2ContainerRegistryPowerUser",
            "ecr:DeleteRepository",
            repository
        ));
        assert!(!allowed(
            "AmazonEC2ContainerRegistryReadOnly",
            "ecr:PutImage",
            repository
        ));
        assert!(allowed(
            "AmazonEC2ContainerRegistryFullAccess",
            "ecr:DeleteRepository",
            repository
        ));
        assert!(allowed(
            "AmazonEC2ContainerServiceforEC2Role",
            "ecs:RegisterContainerInstance",
            "*"
        ));
        assert!(allowed(
            "AmazonEC2ContainerServiceforEC2Role",
            "ecs:SubmitTaskStateChange",
            "*"
        ));
        assert!(allowed(
            "CloudWatchLogsFullAccess",
            "logs:DeleteLogGroup",
            "*"
        ));
        assert!(!allowed(
            "CloudWatchLogsReadOnlyAccess",
            "logs:DeleteLogGroup",
            "*"
        ));
        assert!(allowed(
            "AmazonS3FullAccess",
            "s3:PutObject",
            "arn:aws:s3:::bucket/key"
        ));
        assert!(allowed(
            "AmazonECS_FullAccess",
            "ecs:CreateService",
            cluster
        ));
    }

    #[test]
    fn the_full_access_policy_only_passes_roles_to_ecs() {
        let policy = by_name("AmazonECS_FullAccess")
            .expect("known")
            .policy()
            .expect("parses");
        let alice = Principal::user("arn:aws:iam::123456789012:user/alice");
        let role = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
        let to_ecs = RequestContext::new().with("iam:PassedToService", "ecs-tasks.amazonaws.com");
        let to_lambda = RequestContext::new().with("iam:PassedToService", "lambda.amazonaws.com");
        let decide = |context: &RequestContext| {
            evaluate(
                &[&policy],
                None,
                &Request::new(&alice, "iam:PassRole", role, context),
            )
            .decision
        };
        assert_eq!(decide(&to_ecs), Decision::Allow);
        assert_eq!(decide(&to_lambda), Decision::ImplicitDeny);
    }
}
