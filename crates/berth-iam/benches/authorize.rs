//! Micro benchmark of authorizing one request for a user with 10 attached policies of 10
//! statements each (wildcard actions, ARNs with wildcards, conditions, one Deny), as the server
//! does for every API call. Run with `cargo bench -p berth-iam --bench authorize`.
//! Wall-clock timing needs `std::time::Instant`, which the workspace bans elsewhere in favour
//! of tokio's clock.
#![allow(clippy::disallowed_types)]

use std::hint::black_box;
use std::time::Instant;

use berth_iam::{evaluate, Decision, Policy, Principal, Request, RequestContext};

const EVALUATIONS: usize = 1_000_000;
const ACCOUNT: &str = "123456789012";

/// Ten statements in the shapes people write: service wildcards, ARNs with wildcards, policy
/// variables, tag and transport conditions; policy 7 carries the Deny.
fn policy(index: usize) -> Policy {
    let services = [
        "ecs",
        "ecr",
        "logs",
        "elasticloadbalancing",
        "iam",
        "sts",
        "cloudformation",
        "ec2",
        "ssm",
        "secretsmanager",
    ];
    let service = services[index];
    let mut statements = vec![
        format!(
            r#"{{"Sid": "Read{index}", "Effect": "Allow", "Action": ["{service}:Describe*", "{service}:List*", "{service}:Get*"], "Resource": "*"}}"#
        ),
        format!(
            r#"{{"Sid": "Write{index}", "Effect": "Allow", "Action": ["{service}:Create*", "{service}:Update*"], "Resource": "arn:aws:{service}:*:{ACCOUNT}:team-{index}/*", "Condition": {{"StringEquals": {{"aws:RequestTag/team": "web"}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "Own{index}", "Effect": "Allow", "Action": "{service}:*", "Resource": "arn:aws:{service}:*:{ACCOUNT}:*/${{aws:username}}/*"}}"#
        ),
        format!(
            r#"{{"Sid": "Tagged{index}", "Effect": "Allow", "Action": ["{service}:Tag*", "{service}:Untag*"], "Resource": "*", "Condition": {{"ForAllValues:StringEquals": {{"aws:TagKeys": ["team", "env", "owner"]}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "Net{index}", "Effect": "Allow", "Action": "{service}:Start*", "Resource": "arn:aws:{service}:us-east-1:{ACCOUNT}:*", "Condition": {{"IpAddress": {{"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "Secure{index}", "Effect": "Allow", "Action": "{service}:Put*", "Resource": "arn:aws:{service}:*:*:prod-*", "Condition": {{"Bool": {{"aws:SecureTransport": "true"}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "Pass{index}", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::{ACCOUNT}:role/{service}-*", "Condition": {{"StringLike": {{"iam:PassedToService": "{service}*.amazonaws.com"}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "Window{index}", "Effect": "Allow", "Action": "{service}:Run*", "Resource": "*", "Condition": {{"DateLessThan": {{"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "Cluster{index}", "Effect": "Allow", "Action": ["{service}:Stop*", "{service}:Delete*"], "Resource": "arn:aws:{service}:*:{ACCOUNT}:cluster/dev-*"}}"#
        ),
        format!(
            r#"{{"Sid": "Misc{index}", "Effect": "Allow", "NotAction": ["iam:*", "sts:*", "organizations:*"], "Resource": "arn:aws:{service}:*:{ACCOUNT}:sandbox/*"}}"#
        ),
    ];
    if index == 7 {
        statements[9] = format!(
            r#"{{"Sid": "NoProdDeletes", "Effect": "Deny", "Action": ["*:Delete*", "ecs:StopTask"], "Resource": "arn:aws:*:*:{ACCOUNT}:*prod*"}}"#
        );
    }
    let text = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",")
    );
    Policy::parse_identity(&text).unwrap_or_else(|error| panic!("policy {index}: {error}"))
}

fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn main() {
    let policies: Vec<Policy> = (0..10).map(policy).collect();
    let attached: Vec<&Policy> = policies.iter().collect();
    let alice = Principal::user(&format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    let mut context = RequestContext::new();
    context.insert("aws:username", "alice");
    context.insert("aws:userid", "AIDAEXAMPLE");
    context.insert("aws:PrincipalArn", alice.arn());
    context.insert("aws:PrincipalAccount", ACCOUNT);
    context.insert("aws:CurrentTime", "2026-06-01T12:00:00Z");
    context.insert("aws:EpochTime", "1780315200");
    context.insert("aws:SecureTransport", "true");
    context.insert("aws:SourceIp", "10.1.2.3");
    context.insert("aws:RequestTag/team", "web");
    context.insert_all("aws:TagKeys", ["team", "env"]);
    context.insert("aws:PrincipalTag/team", "web");

    // A mix of what the API serves: reads, writes, a denied delete, an unmatched action.
    let requests = [
        (
            "ecs:DescribeTasks",
            "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef",
        ),
        (
            "ecs:RunTask",
            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
        ),
        (
            "ecr:PutImage",
            "arn:aws:ecr:us-east-1:123456789012:repository/alice/web",
        ),
        (
            "ecs:DeleteService",
            "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
        ),
        (
            "logs:PutLogEvents",
            "arn:aws:logs:us-east-1:123456789012:log-group:web:log-stream:a",
        ),
        (
            "elasticloadbalancing:ModifyListener",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2",
        ),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/ecs-tasks"),
        ("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/abc"),
    ];
    let requests: Vec<Request<'_>> = requests
        .iter()
        .map(|(action, resource)| Request::new(&alice, action, resource, &context))
        .collect();
    for request in &requests {
        let outcome = evaluate(&attached, None, request);
        println!("{:<40} {:?}", request.action(), outcome.decision);
    }

    // Warm up.
    let mut allowed = 0usize;
    for index in 0..50_000 {
        let request = &requests[index % requests.len()];
        if evaluate(black_box(&attached), None, black_box(request)).decision == Decision::Allow {
            allowed += 1;
        }
    }

    let mut samples: Vec<u64> = Vec::with_capacity(EVALUATIONS);
    let started = Instant::now();
    for index in 0..EVALUATIONS {
        let request = &requests[index % requests.len()];
        let before = Instant::now();
        let outcome = evaluate(black_box(&attached), None, black_box(request));
        let elapsed = before.elapsed();
        if outcome.decision == Decision::Allow {
            allowed += 1;
        }
        samples.push(elapsed.as_nanos() as u64);
    }
    let total = started.elapsed();
    samples.sort_unstable();
    println!(
        "{EVALUATIONS} evaluations (10 policies x 10 statements): median {} ns, p90 {} ns, p99 {} ns, max {} ns, mean {:.0} ns (wall, including timer overhead); {allowed} allowed",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
        total.as_nanos() as f64 / EVALUATIONS as f64,
    );
}
