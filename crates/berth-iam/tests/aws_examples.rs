//! Policies in the shapes of the IAM User Guide's example policies ("Example IAM
//! identity-based policies", the trust policy examples of ECS and cross-account roles),
//! decided as AWS documents them.

use berth_iam::{
    evaluate, evaluate_trust, trusts_service, Decision, Policy, Principal, Request, RequestContext,
    TrustVerdict,
};

const ACCOUNT: &str = "111122223333";

fn user(name: &str) -> Principal {
    Principal::user(&format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
}

fn decide(
    policy: &Policy,
    principal: &Principal,
    action: &str,
    resource: &str,
    context: &RequestContext,
) -> Decision {
    evaluate(
        &[policy],
        None,
        &Request::new(principal, action, resource, context),
    )
    .decision
}

#[test]
fn users_manage_only_their_own_credentials() {
    let policy = Policy::parse_identity(
        r#"{
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowManageOwnAccessKeys",
                    "Effect": "Allow",
                    "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey"],
                    "Resource": "arn:aws:iam::*:user/${aws:username}"
                }
            ]
        }"#,
    )
    .expect("valid");
    let alice = user("alice");
    let context = RequestContext::new().with("aws:username", "alice");
    let own = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let other = format!("arn:aws:iam::{ACCOUNT}:user/bob");
    assert_eq!(
        decide(&policy, &alice, "iam:CreateAccessKey", &own, &context),
        Decision::Allow
    );
    assert_eq!(
        decide(&policy, &alice, "iam:CreateAccessKey", &other, &context),
        Decision::ImplicitDeny
    );
}

#[test]
fn deny_everything_without_mfa_except_managing_mfa() {
    let policy = Policy::parse_identity(
        r#"{
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Sid": "DenyAllExceptListedIfNoMFA",
                    "Effect": "Deny",
                    "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices", "sts:GetSessionToken"],
                    "Resource": "*",
                    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
                }
            ]
        }"#,
    )
    .expect("valid");
    let alice = user("alice");
    let long_term_keys = RequestContext::new();
    let no_mfa = RequestContext::new().with("aws:MultiFactorAuthPresent", "false");
    let mfa = RequestContext::new().with("aws:MultiFactorAuthPresent", "true");
    for context in [&long_term_keys, &no_mfa] {
        assert_eq!(
            decide(&policy, &alice, "ecs:RunTask", "*", context),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&policy, &alice, "iam:EnableMFADevice", "*", context),
            Decision::Allow
        );
    }
    assert_eq!(
        decide(&policy, &alice, "ecs:RunTask", "*", &mfa),
        Decision::Allow
    );
}

#[test]
fn deny_requests_from_outside_an_address_range() {
    let policy = Policy::parse_identity(
        r#"{
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {
                        "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
                        "Bool": {"aws:ViaAWSService": "false"}
                    }
                }
            ]
        }"#,
    )
    .expect("valid");
    let alice = user("alice");
    let inside = RequestContext::new()
        .with("aws:SourceIp", "203.0.113.10")
        .with("aws:ViaAWSService", "false");
    let outside = RequestContext::new()
        .with("aws:SourceIp", "198.51.100.1")
        .with("aws:ViaAWSService", "false");
    let via_service = RequestContext::new()
        .with("aws:SourceIp", "198.51.100.1")
        .with("aws:ViaAWSService", "true");
    assert_eq!(
        decide(&policy, &alice, "ecs:ListClusters", "*", &inside),
        Decision::Allow
    );
    assert_eq!(
        decide(&policy, &alice, "ecs:ListClusters", "*", &outside),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&policy, &alice, "ecs:ListClusters", "*", &via_service),
        Decision::Allow
    );
}

#[test]
fn allow_only_within_a_date_range() {
    let policy = Policy::parse_identity(
        r#"{
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "ecs:*",
                "Resource": "*",
                "Condition": {
                    "DateGreaterThan": {"aws:CurrentTime": "2026-04-01T00:00:00Z"},
                    "DateLessThan": {"aws:CurrentTime": "2026-06-30T23:59:59Z"}
                }
            }
        }"#,
    )
    .expect("valid");
    let alice = user("alice");
    let during = RequestContext::new().with("aws:CurrentTime", "2026-05-15T08:00:00Z");
    let after = RequestContext::new().with("aws:CurrentTime", "2026-07-01T00:00:00Z");
    assert_eq!(
        decide(&policy, &alice, "ecs:ListClusters", "*", &during),
        Decision::Allow
    );
    assert_eq!(
        decide(&policy, &alice, "ecs:ListClusters", "*", &after),
        Decision::ImplicitDeny
    );
}

#[test]
fn tag_based_access_with_principal_tags() {
    let policy = Policy::parse_identity(
        r#"{
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ecs:StopTask", "ecs:UpdateService"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
                },
                {
                    "Effect": "Allow",
                    "Action": "ecs:TagResource",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"},
                        "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}
                    }
                }
            ]
        }"#,
    )
    .expect("valid");
    let alice = user("alice");
    let service = "arn:aws:ecs:us-east-1:111122223333:service/prod/web";
    let mine = RequestContext::new()
        .with("aws:PrincipalTag/team", "web")
        .with("aws:ResourceTag/team", "web");
    let theirs = RequestContext::new()
        .with("aws:PrincipalTag/team", "web")
        .with("aws:ResourceTag/team", "data");
    assert_eq!(
        decide(&policy, &alice, "ecs:UpdateService", service, &mine),
        Decision::Allow
    );
    assert_eq!(
        decide(&policy, &alice, "ecs:UpdateService", service, &theirs),
        Decision::ImplicitDeny
    );
    let mut tagging = RequestContext::new()
        .with("aws:PrincipalTag/team", "web")
        .with("aws:RequestTag/team", "web");
    tagging.insert_all("aws:TagKeys", ["team"]);
    assert_eq!(
        decide(&policy, &alice, "ecs:TagResource", service, &tagging),
        Decision::Allow
    );
    tagging.insert_all("aws:TagKeys", ["team", "cost-center"]);
    assert_eq!(
        decide(&policy, &alice, "ecs:TagResource", service, &tagging),
        Decision::ImplicitDeny
    );
}

#[test]
fn ecs_task_execution_trust_policy() {
    let trust = Policy::parse_trust(
        r#"{
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "",
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole"
                }
            ]
        }"#,
    )
    .expect("valid");
    assert!(trusts_service(&trust, "ecs-tasks.amazonaws.com"));
    assert!(!trusts_service(&trust, "ec2.amazonaws.com"));
    assert_eq!(
        evaluate_trust(
            &trust,
            &user("alice"),
            "sts:AssumeRole",
            &RequestContext::new()
        ),
        TrustVerdict::NotTrusted
    );
}

#[test]
fn cross_account_trust_with_an_external_id() {
    let trust = Policy::parse_trust(
        r#"{
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "Unique-ID-1234"}}
            }
        }"#,
    )
    .expect("valid");
    let partner = Principal::user("arn:aws:iam::444455556666:user/integration");
    let role = format!("arn:aws:iam::{ACCOUNT}:role/partner-access");
    let with_id = RequestContext::new().with("sts:ExternalId", "Unique-ID-1234");
    let without = RequestContext::new();
    assert_eq!(
        evaluate_trust(&trust, &partner, "sts:AssumeRole", &with_id),
        TrustVerdict::TrustsAccount
    );
    assert_eq!(
        evaluate_trust(&trust, &partner, "sts:AssumeRole", &without),
        TrustVerdict::NotTrusted
    );
    // The partner's own account must also let its user call sts:AssumeRole on the role.
    let partner_grant = Policy::parse_identity(&format!(
        r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "{role}"}}}}"#
    ))
    .expect("valid");
    let request = Request::new(&partner, "sts:AssumeRole", &role, &with_id);
    assert_eq!(
        evaluate(&[], Some(&trust), &request).decision,
        Decision::ImplicitDeny
    );
    assert_eq!(
        evaluate(&[&partner_grant], Some(&trust), &request).decision,
        Decision::Allow
    );
}

#[test]
fn an_ecr_repository_policy_shares_pulls_with_another_account() {
    let repository_policy = Policy::parse_resource(
        r#"{
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowCrossAccountPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
                }
            ]
        }"#,
    )
    .expect("valid");
    let puller = Principal::user("arn:aws:iam::444455556666:user/ci");
    let grant = Policy::parse_identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}"#,
    )
    .expect("valid");
    let repository = format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/web");
    let context = RequestContext::new();
    let pull = Request::new(&puller, "ecr:BatchGetImage", &repository, &context);
    let push = Request::new(&puller, "ecr:PutImage", &repository, &context);
    assert_eq!(
        evaluate(&[&grant], Some(&repository_policy), &pull).decision,
        Decision::Allow
    );
    assert_eq!(
        evaluate(&[&grant], Some(&repository_policy), &push).decision,
        Decision::ImplicitDeny
    );
}
