//! Deciding a request, with AWS's logic for identity and resource policies:
//!
//! 1. a `Deny` statement that applies, in any policy, denies (explicit deny);
//! 2. otherwise, within one account, an `Allow` in an identity policy *or* in the resource
//!    policy allows; across accounts both sides must allow;
//! 3. otherwise the request is denied (implicit deny).
//!
//! A statement applies when its action, resource and (for resource policies) principal match
//! and all its conditions hold. A resource policy that names the caller only through its
//! account (`arn:aws:iam::ACCOUNT:root` or the bare ID) delegates to that account: it counts
//! as the resource side's Allow, but a caller other than the account's root still needs an
//! Allow from its own identity policies. An account's root user always has its identity
//! side's Allow (explicit denies still apply, and another account's resource still needs its
//! resource policy's Allow).
//!
//! [`evaluate`] answers one request and stops at the first explicit deny; [`simulate`]
//! lists every statement that decided the answer, for `SimulatePrincipalPolicy`'s
//! `MatchedStatements`.

use crate::document::{Effect, Policy, PrincipalMatch, Statement};
use crate::request::{Principal, PrincipalKind, Request, RequestContext};
use crate::PolicyType;

/// The answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Some policy allows it and none denies it.
    Allow,
    /// A Deny statement applies.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
}

/// Which policy a statement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyRef {
    /// The identity policy at this index of the slice given to [`evaluate`]/[`simulate`].
    Identity(usize),
    /// The resource policy.
    Resource,
}

/// A statement that took part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchedStatement {
    /// The policy it is in.
    pub policy: PolicyRef,
    /// Its index in that policy's `Statement` list.
    pub statement: usize,
}

impl MatchedStatement {
    /// The kind of policy the statement is in.
    pub fn policy_type(&self) -> PolicyType {
        match self.policy {
            PolicyRef::Identity(_) => PolicyType::IdentityBased,
            PolicyRef::Resource => PolicyType::ResourceBased,
        }
    }
}

/// The decision and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// Allow, explicit deny or implicit deny.
    pub decision: Decision,
    /// The first Deny statement that applied (explicit deny), or the first Allow statement
    /// that counted (allow); `None` for an implicit deny or an allow the account root has
    /// without a statement.
    pub statement: Option<MatchedStatement>,
    /// For a deny, the kind of policy AWS names in the `AccessDenied` message: the one with
    /// the Deny, or the side that lacked an Allow.
    pub denied_by: Option<PolicyType>,
}

/// A decision with every statement that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// The decision, as [`evaluate`] returns it.
    pub outcome: Outcome,
    /// For an explicit deny every Deny statement that applied, for an allow every Allow
    /// statement that counted; empty for an implicit deny.
    pub matched_statements: Vec<MatchedStatement>,
}

/// What one pass over the policies found.
#[derive(Default)]
struct Findings {
    first_deny: Option<MatchedStatement>,
    first_identity_allow: Option<MatchedStatement>,
    first_resource_allow: Option<(MatchedStatement, PrincipalMatch)>,
    resource_allow_strength: Option<PrincipalMatch>,
}

/// Decides `request` against the caller's identity policies and the resource's policy.
pub fn evaluate(
    identity: &[&Policy],
    resource_policy: Option<&Policy>,
    request: &Request<'_>,
) -> Outcome {
    let mut findings = Findings::default();
    let stop_at_deny = true;
    visit(
        identity,
        resource_policy,
        request,
        stop_at_deny,
        |_, _, _| {},
        &mut findings,
    );
    decide(&findings, request)
}

/// Decides `request` like [`evaluate`] and lists every statement that decided it.
pub fn simulate(
    identity: &[&Policy],
    resource_policy: Option<&Policy>,
    request: &Request<'_>,
) -> Simulation {
    let mut findings = Findings::default();
    let mut applied: Vec<(MatchedStatement, Effect, PrincipalMatch)> = Vec::new();
    visit(
        identity,
        resource_policy,
        request,
        false,
        |matched, effect, strength| applied.push((matched, effect, strength)),
        &mut findings,
    );
    let outcome = decide(&findings, request);
    let identity_counts = identity_side_counts(request);
    let matched_statements = match outcome.decision {
        Decision::ImplicitDeny => Vec::new(),
        Decision::ExplicitDeny => applied
            .iter()
            .filter(|(_, effect, _)| *effect == Effect::Deny)
            .map(|(matched, _, _)| *matched)
            .collect(),
        Decision::Allow => applied
            .iter()
            .filter(|(matched, effect, strength)| {
                *effect == Effect::Allow
                    && match matched.policy {
                        PolicyRef::Identity(_) => identity_counts,
                        PolicyRef::Resource => *strength != PrincipalMatch::None,
                    }
            })
            .map(|(matched, _, _)| *matched)
            .collect(),
    };
    Simulation {
        outcome,
        matched_statements,
    }
}

/// Services and anonymous callers have no identity policies of their own.
fn identity_side_counts(request: &Request<'_>) -> bool {
    request.principal().account().is_some()
}

fn statement_applies(statement: &Statement, request: &Request<'_>) -> bool {
    statement.matches_action(request.action())
        && statement.matches_resource(request.resource_parts(), request.context())
        && statement.conditions_hold(request.context())
}

fn visit(
    identity: &[&Policy],
    resource_policy: Option<&Policy>,
    request: &Request<'_>,
    stop_at_deny: bool,
    mut on_applied: impl FnMut(MatchedStatement, Effect, PrincipalMatch),
    findings: &mut Findings,
) {
    for (policy_index, policy) in identity.iter().enumerate() {
        for (statement_index, statement) in policy.statements().iter().enumerate() {
            if findings.first_identity_allow.is_some()
                && statement.effect() == Effect::Allow
                && stop_at_deny
            {
                continue;
            }
            if !statement_applies(statement, request) {
                continue;
            }
            let matched = MatchedStatement {
                policy: PolicyRef::Identity(policy_index),
                statement: statement_index,
            };
            on_applied(matched, statement.effect(), PrincipalMatch::Direct);
            match statement.effect() {
                Effect::Deny => {
                    findings.first_deny.get_or_insert(matched);
                    if stop_at_deny {
                        return;
                    }
                }
                Effect::Allow => {
                    findings.first_identity_allow.get_or_insert(matched);
                }
            }
        }
    }
    let Some(policy) = resource_policy else {
        return;
    };
    for (statement_index, statement) in policy.statements().iter().enumerate() {
        let strength = statement.match_principal(request.principal());
        if strength == PrincipalMatch::None || !statement_applies(statement, request) {
            continue;
        }
        let matched = MatchedStatement {
            policy: PolicyRef::Resource,
            statement: statement_index,
        };
        on_applied(matched, statement.effect(), strength);
        match statement.effect() {
            Effect::Deny => {
                findings.first_deny.get_or_insert(matched);
                if stop_at_deny {
                    return;
                }
            }
            Effect::Allow => {
                if findings
                    .resource_allow_strength
                    .is_none_or(|best| strength > best)
                {
                    findings.resource_allow_strength = Some(strength);
                    findings.first_resource_allow = Some((matched, strength));
                }
            }
        }
    }
}

fn decide(findings: &Findings, request: &Request<'_>) -> Outcome {
    if let Some(deny) = findings.first_deny {
        return Outcome {
            decision: Decision::ExplicitDeny,
            statement: Some(deny),
            denied_by: Some(deny.policy_type()),
        };
    }
    let principal = request.principal();
    let same_account = match (principal.account(), request.resource_account()) {
        (Some(caller), Some(owner)) => caller == owner,
        _ => true,
    };
    // The root user's own account never limits it: its identity side always allows.
    let is_root = principal.kind() == PrincipalKind::Root;
    let identity_allows = findings.first_identity_allow.is_some() || is_root;
    let resource_allow = findings.first_resource_allow;
    let allow = |statement: Option<MatchedStatement>| Outcome {
        decision: Decision::Allow,
        statement,
        denied_by: None,
    };
    let implicit = |side: PolicyType| Outcome {
        decision: Decision::ImplicitDeny,
        statement: None,
        denied_by: Some(side),
    };
    let has_identity_side = identity_side_counts(request);
    if same_account {
        if identity_allows && has_identity_side {
            return allow(findings.first_identity_allow);
        }
        if let Some((statement, PrincipalMatch::Direct)) = resource_allow {
            return allow(Some(statement));
        }
        if has_identity_side {
            implicit(PolicyType::IdentityBased)
        } else {
            implicit(PolicyType::ResourceBased)
        }
    } else if !identity_allows {
        implicit(PolicyType::IdentityBased)
    } else if let Some((statement, _)) = resource_allow {
        allow(findings.first_identity_allow.or(Some(statement)))
    } else {
        implicit(PolicyType::ResourceBased)
    }
}

/// What a role's trust policy says about a caller asking to assume the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustVerdict {
    /// A Deny statement applies.
    Denied,
    /// No Allow statement names the caller.
    NotTrusted,
    /// An Allow statement names the caller's account: the caller also needs `sts:AssumeRole`
    /// on the role from its own identity policies (unless it is the account's root).
    TrustsAccount,
    /// An Allow statement names the caller itself (or `*`).
    TrustsPrincipal,
}

/// What `trust` says about `principal` performing `action` (`sts:AssumeRole`,
/// `sts:AssumeRoleWithWebIdentity`, `sts:TagSession`, …) with the given context. For the
/// whole decision including the caller's identity policies, use [`evaluate`] with the trust
/// policy as the resource policy and the role's ARN as the resource.
pub fn evaluate_trust(
    trust: &Policy,
    principal: &Principal,
    action: &str,
    context: &RequestContext,
) -> TrustVerdict {
    let request = Request::new(principal, action, "*", context);
    let mut best = PrincipalMatch::None;
    for statement in trust.statements() {
        let strength = statement.match_principal(principal);
        if strength == PrincipalMatch::None
            || !statement.matches_action(action)
            || !statement.conditions_hold(request.context())
        {
            continue;
        }
        match statement.effect() {
            Effect::Deny => return TrustVerdict::Denied,
            Effect::Allow => best = best.max(strength),
        }
    }
    match best {
        PrincipalMatch::None => TrustVerdict::NotTrusted,
        PrincipalMatch::Account => TrustVerdict::TrustsAccount,
        PrincipalMatch::Direct => TrustVerdict::TrustsPrincipal,
    }
}

/// Whether `trust` lets the AWS service `service` (for example `ecs-tasks.amazonaws.com`)
/// perform `sts:AssumeRole`, with an empty request context.
pub fn trusts_service(trust: &Policy, service: &str) -> bool {
    evaluate_trust(
        trust,
        &Principal::service(service),
        "sts:AssumeRole",
        &RequestContext::new(),
    ) == TrustVerdict::TrustsPrincipal
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const OTHER: &str = "444455556666";

    fn identity(statements: &str) -> Policy {
        Policy::parse_identity(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#
        ))
        .expect("valid identity policy")
    }

    fn resource(statements: &str) -> Policy {
        Policy::parse_resource(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#
        ))
        .expect("valid resource policy")
    }

    fn trust(statements: &str) -> Policy {
        Policy::parse_trust(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#
        ))
        .expect("valid trust policy")
    }

    fn alice() -> Principal {
        Principal::user(&format!("arn:aws:iam::{ACCOUNT}:user/alice"))
    }

    fn decide(
        policies: &[&Policy],
        resource_policy: Option<&Policy>,
        principal: &Principal,
        action: &str,
        resource: &str,
    ) -> Outcome {
        let context = RequestContext::new()
            .with("aws:username", "alice")
            .with("aws:PrincipalTag/team", "web");
        evaluate(
            policies,
            resource_policy,
            &Request::new(principal, action, resource, &context),
        )
    }

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

    #[test]
    fn nothing_allows_by_default() {
        let outcome = decide(&[], None, &alice(), "ecs:ListClusters", "*");
        assert_eq!(outcome.decision, Decision::ImplicitDeny);
        assert_eq!(outcome.denied_by, Some(PolicyType::IdentityBased));
    }

    #[test]
    fn an_allow_allows_and_reports_its_statement() {
        let policy = identity(
            r#"{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
               {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}"#,
        );
        let outcome = decide(&[&policy], None, &alice(), "ecs:DescribeClusters", CLUSTER);
        assert_eq!(outcome.decision, Decision::Allow);
        assert_eq!(
            outcome.statement,
            Some(MatchedStatement {
                policy: PolicyRef::Identity(0),
                statement: 1
            })
        );
    }

    #[test]
    fn actions_match_case_insensitively_and_resources_case_sensitively() {
        let policy = identity(
            r#"{"Effect": "Allow", "Action": "ECS:describeclusters", "Resource": "arn:aws:ecs:*:*:cluster/prod"}"#,
        );
        assert_eq!(
            decide(&[&policy], None, &alice(), "ecs:DescribeClusters", CLUSTER).decision,
            Decision::Allow
        );
        assert_eq!(
            decide(
                &[&policy],
                None,
                &alice(),
                "ecs:DescribeClusters",
                "arn:aws:ecs:us-east-1:123456789012:cluster/Prod"
            )
            .decision,
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow() {
        let allow = identity(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#);
        let deny = identity(r#"{"Effect": "Deny", "Action": "ecs:Delete*", "Resource": "*"}"#);
        let outcome = decide(
            &[&allow, &deny],
            None,
            &alice(),
            "ecs:DeleteCluster",
            CLUSTER,
        );
        assert_eq!(outcome.decision, Decision::ExplicitDeny);
        assert_eq!(
            outcome.statement,
            Some(MatchedStatement {
                policy: PolicyRef::Identity(1),
                statement: 0
            })
        );
        assert_eq!(outcome.denied_by, Some(PolicyType::IdentityBased));
        assert_eq!(
            decide(
                &[&allow, &deny],
                None,
                &alice(),
                "ecs:CreateCluster",
                CLUSTER
            )
            .decision,
            Decision::Allow
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let policy = identity(
            r#"{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
               {"Effect": "Deny", "Action": "ecs:*", "NotResource": "arn:aws:ecs:*:*:cluster/dev"}"#,
        );
        assert_eq!(
            decide(&[&policy], None, &alice(), "iam:CreateUser", "*").decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&[&policy], None, &alice(), "logs:GetLogEvents", "*").decision,
            Decision::Allow
        );
        assert_eq!(
            decide(&[&policy], None, &alice(), "ecs:ListTasks", CLUSTER).decision,
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(
                &[&policy],
                None,
                &alice(),
                "ecs:ListTasks",
                "arn:aws:ecs:us-east-1:123456789012:cluster/dev"
            )
            .decision,
            Decision::Allow
        );
    }

    #[test]
    fn resource_variables_resolve_from_the_context() {
        let policy = identity(
            r#"{"Effect": "Allow", "Action": "ecr:*", "Resource": "arn:aws:ecr:*:*:repository/${aws:username}/*"}"#,
        );
        let own = "arn:aws:ecr:us-east-1:123456789012:repository/alice/web";
        let other = "arn:aws:ecr:us-east-1:123456789012:repository/bob/web";
        assert_eq!(
            decide(&[&policy], None, &alice(), "ecr:PutImage", own).decision,
            Decision::Allow
        );
        assert_eq!(
            decide(&[&policy], None, &alice(), "ecr:PutImage", other).decision,
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn variables_are_text_in_2008_documents() {
        let old = Policy::parse_identity(
            r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "ecr:*",
                "Resource": "arn:aws:ecr:*:*:repository/${aws:username}"}}"#,
        )
        .expect("valid");
        let literal = "arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}";
        let resolved = "arn:aws:ecr:us-east-1:123456789012:repository/alice";
        assert_eq!(
            decide(&[&old], None, &alice(), "ecr:PutImage", literal).decision,
            Decision::Allow
        );
        assert_eq!(
            decide(&[&old], None, &alice(), "ecr:PutImage", resolved).decision,
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn conditions_gate_statements() {
        let policy = identity(
            r#"{"Effect": "Allow", "Action": "ecs:*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "web"}, "Bool": {"aws:SecureTransport": "true"}}}"#,
        );
        let principal = alice();
        let mut context = RequestContext::new().with("aws:PrincipalTag/team", "web");
        let request = Request::new(&principal, "ecs:ListClusters", "*", &context);
        assert_eq!(
            evaluate(&[&policy], None, &request).decision,
            Decision::ImplicitDeny
        );
        context.insert("aws:SecureTransport", "true");
        let request = Request::new(&principal, "ecs:ListClusters", "*", &context);
        assert_eq!(
            evaluate(&[&policy], None, &request).decision,
            Decision::Allow
        );
    }

    #[test]
    fn same_account_resource_policy_allow_suffices() {
        let repository = "arn:aws:ecr:us-east-1:123456789012:repository/web";
        let policy = resource(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:user/alice"}}, "Action": "ecr:BatchGetImage"}}"#
        ));
        let outcome = decide(
            &[],
            Some(&policy),
            &alice(),
            "ecr:BatchGetImage",
            repository,
        );
        assert_eq!(outcome.decision, Decision::Allow);
        assert_eq!(
            outcome.statement,
            Some(MatchedStatement {
                policy: PolicyRef::Resource,
                statement: 0
            })
        );
        let bob = Principal::user(&format!("arn:aws:iam::{ACCOUNT}:user/bob"));
        assert_eq!(
            decide(&[], Some(&policy), &bob, "ecr:BatchGetImage", repository).decision,
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn an_account_principal_delegates_to_identity_policies() {
        let repository = "arn:aws:ecr:us-east-1:123456789012:repository/web";
        let policy = resource(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "ecr:*"}}"#
        ));
        assert_eq!(
            decide(
                &[],
                Some(&policy),
                &alice(),
                "ecr:BatchGetImage",
                repository
            )
            .decision,
            Decision::ImplicitDeny
        );
        let root = Principal::root(ACCOUNT);
        assert_eq!(
            decide(&[], Some(&policy), &root, "ecr:BatchGetImage", repository).decision,
            Decision::Allow
        );
    }

    #[test]
    fn cross_account_needs_both_sides() {
        let repository = "arn:aws:ecr:us-east-1:444455556666:repository/shared";
        let grant = identity(r#"{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}"#);
        let by_account = resource(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ACCOUNT}"}}, "Action": "ecr:BatchGetImage"}}"#
        ));
        let outcome = decide(&[&grant], None, &alice(), "ecr:BatchGetImage", repository);
        assert_eq!(outcome.decision, Decision::ImplicitDeny);
        assert_eq!(outcome.denied_by, Some(PolicyType::ResourceBased));
        let outcome = decide(
            &[],
            Some(&by_account),
            &alice(),
            "ecr:BatchGetImage",
            repository,
        );
        assert_eq!(outcome.decision, Decision::ImplicitDeny);
        assert_eq!(outcome.denied_by, Some(PolicyType::IdentityBased));
        assert_eq!(
            decide(
                &[&grant],
                Some(&by_account),
                &alice(),
                "ecr:BatchGetImage",
                repository
            )
            .decision,
            Decision::Allow
        );
        // Another account's root gets nothing from the owner's identity side.
        let foreign_root = Principal::root(OTHER);
        let own = "arn:aws:ecr:us-east-1:123456789012:repository/web";
        assert_eq!(
            decide(&[], None, &foreign_root, "ecr:BatchGetImage", own).decision,
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn the_account_root_is_allowed_in_its_own_account_unless_denied() {
        let root = Principal::root(ACCOUNT);
        assert_eq!(
            decide(&[], None, &root, "ecs:DeleteCluster", CLUSTER).decision,
            Decision::Allow
        );
        let deny = resource(r#"{"Effect": "Deny", "Principal": "*", "Action": "ecs:*"}"#);
        assert_eq!(
            decide(&[], Some(&deny), &root, "ecs:DeleteCluster", CLUSTER).decision,
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn a_resource_policy_deny_names_its_policy_type() {
        let allow = identity(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#);
        let deny = resource(&format!(
            r#"{{"Effect": "Deny", "Principal": {{"AWS": "{ACCOUNT}"}}, "Action": "ecr:DeleteRepository"}}"#
        ));
        let outcome = decide(
            &[&allow],
            Some(&deny),
            &alice(),
            "ecr:DeleteRepository",
            "arn:aws:ecr:us-east-1:123456789012:repository/web",
        );
        assert_eq!(outcome.decision, Decision::ExplicitDeny);
        assert_eq!(outcome.denied_by, Some(PolicyType::ResourceBased));
    }

    #[test]
    fn not_principal_excludes_the_named() {
        let policy = resource(&format!(
            r#"{{"Effect": "Deny", "NotPrincipal": {{"AWS": "arn:aws:iam::{ACCOUNT}:user/alice"}}, "Action": "ecr:*"}}"#
        ));
        let allow = identity(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#);
        let repository = "arn:aws:ecr:us-east-1:123456789012:repository/web";
        assert_eq!(
            decide(
                &[&allow],
                Some(&policy),
                &alice(),
                "ecr:PutImage",
                repository
            )
            .decision,
            Decision::Allow
        );
        let bob = Principal::user(&format!("arn:aws:iam::{ACCOUNT}:user/bob"));
        assert_eq!(
            decide(&[&allow], Some(&policy), &bob, "ecr:PutImage", repository).decision,
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn role_sessions_match_their_role() {
        let role = format!("arn:aws:iam::{ACCOUNT}:role/deploy");
        let session = Principal::assumed_role(
            &format!("arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci"),
            &role,
        );
        let policy = resource(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{role}"}}, "Action": "ecr:*"}}"#
        ));
        assert_eq!(
            decide(
                &[],
                Some(&policy),
                &session,
                "ecr:PutImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/web"
            )
            .decision,
            Decision::Allow
        );
    }

    #[test]
    fn simulate_lists_every_deciding_statement() {
        let first = identity(
            r#"{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
               {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}"#,
        );
        let second = identity(r#"{"Effect": "Allow", "Action": "ecs:List*", "Resource": "*"}"#);
        let principal = alice();
        let context = RequestContext::new();
        let request = Request::new(&principal, "ecs:ListClusters", "*", &context);
        let simulation = simulate(&[&first, &second], None, &request);
        assert_eq!(simulation.outcome.decision, Decision::Allow);
        assert_eq!(
            simulation.matched_statements,
            vec![
                MatchedStatement {
                    policy: PolicyRef::Identity(0),
                    statement: 0
                },
                MatchedStatement {
                    policy: PolicyRef::Identity(1),
                    statement: 0
                },
            ]
        );
        let deny = identity(
            r#"{"Effect": "Deny", "Action": "ecs:List*", "Resource": "*"},
               {"Effect": "Deny", "Action": "*", "Resource": "*"}"#,
        );
        let simulation = simulate(&[&first, &deny], None, &request);
        assert_eq!(simulation.outcome.decision, Decision::ExplicitDeny);
        assert_eq!(simulation.matched_statements.len(), 2);
        assert!(simulation
            .matched_statements
            .iter()
            .all(|m| m.policy == PolicyRef::Identity(1)));
        let simulation = simulate(&[], None, &request);
        assert_eq!(simulation.outcome.decision, Decision::ImplicitDeny);
        assert!(simulation.matched_statements.is_empty());
    }

    #[test]
    fn trust_policies_name_services_and_principals() {
        let policy = trust(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"Service": "ecs-tasks.amazonaws.com"}}, "Action": "sts:AssumeRole"}},
               {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "sts:AssumeRole"}},
               {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OTHER}:user/carol"}}, "Action": ["sts:AssumeRole", "sts:TagSession"],
                 "Condition": {{"StringEquals": {{"sts:ExternalId": "secret"}}}}}}"#
        ));
        assert!(trusts_service(&policy, "ecs-tasks.amazonaws.com"));
        assert!(!trusts_service(&policy, "ec2.amazonaws.com"));
        let context = RequestContext::new();
        assert_eq!(
            evaluate_trust(&policy, &alice(), "sts:AssumeRole", &context),
            TrustVerdict::TrustsAccount
        );
        assert_eq!(
            evaluate_trust(
                &policy,
                &Principal::root(ACCOUNT),
                "sts:AssumeRole",
                &context
            ),
            TrustVerdict::TrustsPrincipal
        );
        let carol = Principal::user(&format!("arn:aws:iam::{OTHER}:user/carol"));
        assert_eq!(
            evaluate_trust(&policy, &carol, "sts:AssumeRole", &context),
            TrustVerdict::NotTrusted
        );
        let with_id = RequestContext::new().with("sts:ExternalId", "secret");
        assert_eq!(
            evaluate_trust(&policy, &carol, "sts:AssumeRole", &with_id),
            TrustVerdict::TrustsPrincipal
        );
        let denying = trust(
            r#"{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
                               {"Effect": "Deny", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}"#,
        );
        assert!(!trusts_service(&denying, "ec2.amazonaws.com"));
        assert!(trusts_service(&denying, "ecs-tasks.amazonaws.com"));
    }

    #[test]
    fn assume_role_combines_trust_and_identity() {
        let role = format!("arn:aws:iam::{ACCOUNT}:role/deploy");
        let policy = trust(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "sts:AssumeRole"}}"#
        ));
        let may_assume = identity(&format!(
            r#"{{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "{role}"}}"#
        ));
        assert_eq!(
            decide(&[], Some(&policy), &alice(), "sts:AssumeRole", &role).decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                &[&may_assume],
                Some(&policy),
                &alice(),
                "sts:AssumeRole",
                &role
            )
            .decision,
            Decision::Allow
        );
        let service = Principal::service("ecs-tasks.amazonaws.com");
        let for_tasks = trust(
            r#"{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}"#,
        );
        let outcome = decide(&[], Some(&for_tasks), &service, "sts:AssumeRole", &role);
        assert_eq!(outcome.decision, Decision::Allow);
        let outcome = decide(&[], Some(&policy), &service, "sts:AssumeRole", &role);
        assert_eq!(outcome.decision, Decision::ImplicitDeny);
        assert_eq!(outcome.denied_by, Some(PolicyType::ResourceBased));
    }
}
