//! Property tests of evaluation (deny monotonicity, order independence, `*`/`*` allows all)
//! and a structure-aware fuzz of the parser (no panics; what is accepted re-serializes to a
//! document that decides the same).

use berth_iam::{evaluate, Decision, Policy, PolicyKind, Principal, Request, RequestContext};
use proptest::prelude::*;
use serde_json::Value;

const ACTIONS: &[&str] = &[
    "*",
    "ecs:*",
    "ecs:Describe*",
    "ecs:List*",
    "ecs:RunTask",
    "ecr:Get*",
    "ecr:BatchGetImage",
    "logs:PutLogEvents",
    "logs:*Log*",
    "ecs:?ist*",
    "iam:PassRole",
    "sts:AssumeRole",
];

const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:ecs:*:*:cluster/*",
    "arn:aws:ecs:us-east-1:123456789012:task/prod/*",
    "arn:aws:ecr:*:123456789012:repository/${aws:username}/*",
    "arn:aws:logs:*:*:log-group:web*",
    "arn:aws:iam::123456789012:role/ecs-*",
    "arn:aws:ecs",
    "arn:aws:*:*:*:*prod*",
];

const CONDITIONS: &[&str] = &[
    r#"{"StringEquals": {"aws:PrincipalTag/team": "web"}}"#,
    r#"{"StringNotEquals": {"aws:RequestTag/env": ["prod", "staging"]}}"#,
    r#"{"StringLike": {"iam:PassedToService": "ecs*.amazonaws.com"}}"#,
    r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}"#,
    r#"{"ForAnyValue:StringLike": {"aws:TagKeys": "own*"}}"#,
    r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
    r#"{"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}"#,
    r#"{"Null": {"aws:RequestTag/env": "true"}}"#,
    r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
    r#"{"NotIpAddress": {"aws:SourceIp": ["192.168.0.0/16"]}}"#,
    r#"{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}"#,
    r#"{"NumericLessThanEquals": {"ecs:task-count": "5"}}"#,
    r#"{"ArnLike": {"aws:SourceArn": "arn:aws:ecs:*:123456789012:*"}}"#,
];

const REQUEST_ACTIONS: &[&str] = &[
    "ecs:DescribeTasks",
    "ecs:ListClusters",
    "ecs:RunTask",
    "ecs:DeleteCluster",
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ECR:batchgetimage",
    "logs:PutLogEvents",
    "logs:CreateLogGroup",
    "ec2:ListThings",
    "iam:PassRole",
    "sts:AssumeRole",
    "kms:Decrypt",
];

const REQUEST_RESOURCES: &[&str] = &[
    "*",
    "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
    "arn:aws:ecs:us-east-1:123456789012:task/prod/abc",
    "arn:aws:ecr:us-east-1:123456789012:repository/alice/web",
    "arn:aws:ecr:us-east-1:123456789012:repository/bob/web",
    "arn:aws:logs:us-east-1:123456789012:log-group:web-app",
    "arn:aws:iam::123456789012:role/ecs-tasks",
];

#[derive(Debug, Clone)]
struct StatementSpec {
    deny: bool,
    not_action: bool,
    actions: Vec<usize>,
    not_resource: bool,
    resources: Vec<usize>,
    conditions: Vec<usize>,
}

fn statement_spec() -> impl Strategy<Value = StatementSpec> {
    (
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..ACTIONS.len(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..RESOURCES.len(), 1..3),
        prop::collection::vec(0..CONDITIONS.len(), 0..3),
    )
        .prop_map(
            |(deny, not_action, actions, not_resource, resources, conditions)| StatementSpec {
                deny,
                not_action,
                actions,
                not_resource,
                resources,
                conditions,
            },
        )
}

fn statement_json(spec: &StatementSpec) -> String {
    let list = |indices: &[usize], vocabulary: &[&str]| {
        let items: Vec<String> = indices
            .iter()
            .map(|index| format!("\"{}\"", vocabulary[*index]))
            .collect();
        format!("[{}]", items.join(","))
    };
    let mut merged = serde_json::Map::new();
    for index in &spec.conditions {
        let block: Value = serde_json::from_str(CONDITIONS[*index]).expect("valid condition");
        if let Value::Object(block) = block {
            for (operator, keys) in block {
                let entry = merged
                    .entry(operator)
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if let (Value::Object(entry), Value::Object(keys)) = (entry, keys) {
                    entry.extend(keys);
                }
            }
        }
    }
    let condition = if merged.is_empty() {
        String::new()
    } else {
        format!(r#", "Condition": {}"#, Value::Object(merged))
    };
    format!(
        r#"{{"Effect": "{}", "{}": {}, "{}": {}{}}}"#,
        if spec.deny { "Deny" } else { "Allow" },
        if spec.not_action {
            "NotAction"
        } else {
            "Action"
        },
        list(&spec.actions, ACTIONS),
        if spec.not_resource {
            "NotResource"
        } else {
            "Resource"
        },
        list(&spec.resources, RESOURCES),
        condition
    )
}

fn policy_json(statements: &[StatementSpec]) -> String {
    let statements: Vec<String> = statements.iter().map(statement_json).collect();
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",")
    )
}

fn parse(statements: &[StatementSpec]) -> Policy {
    let text = policy_json(statements);
    Policy::parse_identity(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[derive(Debug, Clone)]
struct RequestSpec {
    action: usize,
    resource: usize,
    context: Vec<(usize, usize)>,
}

const CONTEXT_KEYS: &[(&str, &[&str])] = &[
    ("aws:username", &["alice", "bob"]),
    ("aws:PrincipalTag/team", &["web", "data"]),
    ("aws:RequestTag/env", &["prod", "dev"]),
    (
        "iam:PassedToService",
        &["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"],
    ),
    ("aws:SecureTransport", &["true", "false"]),
    ("aws:MultiFactorAuthPresent", &["true", "false"]),
    ("aws:SourceIp", &["10.1.2.3", "192.168.1.1", "203.0.113.9"]),
    (
        "aws:CurrentTime",
        &["2026-06-01T00:00:00Z", "2028-01-01T00:00:00Z"],
    ),
    ("ecs:task-count", &["1", "10", "many"]),
    (
        "aws:SourceArn",
        &[
            "arn:aws:ecs:us-east-1:123456789012:service/x",
            "arn:aws:ecs:us-east-1:999999999999:service/x",
        ],
    ),
];

fn request_spec() -> impl Strategy<Value = RequestSpec> {
    (
        0..REQUEST_ACTIONS.len(),
        0..REQUEST_RESOURCES.len(),
        prop::collection::vec((0..CONTEXT_KEYS.len(), 0..3usize), 0..8),
    )
        .prop_map(|(action, resource, context)| RequestSpec {
            action,
            resource,
            context,
        })
}

fn context_of(spec: &RequestSpec, tag_keys: bool) -> RequestContext {
    let mut context = RequestContext::new();
    for (key, value) in &spec.context {
        let (name, values) = CONTEXT_KEYS[*key];
        context.insert(name, values[*value % values.len()]);
    }
    if tag_keys {
        context.insert_all("aws:TagKeys", ["team", "owner"]);
    }
    context
}

fn decide(policies: &[&Policy], spec: &RequestSpec) -> Decision {
    let alice = Principal::user("arn:aws:iam::123456789012:user/alice");
    let context = context_of(spec, spec.action & 1 == 0);
    let request = Request::new(
        &alice,
        REQUEST_ACTIONS[spec.action],
        REQUEST_RESOURCES[spec.resource],
        &context,
    );
    evaluate(policies, None, &request).decision
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adding_a_deny_never_allows(
        statements in prop::collection::vec(statement_spec(), 1..6),
        mut extra in statement_spec(),
        requests in prop::collection::vec(request_spec(), 1..8),
    ) {
        extra.deny = true;
        let before = parse(&statements);
        let mut with_deny = statements.clone();
        with_deny.push(extra);
        let after = parse(&with_deny);
        for request in &requests {
            let old = decide(&[&before], request);
            let new = decide(&[&after], request);
            if old != Decision::Allow {
                prop_assert_ne!(new, Decision::Allow);
            }
            if old == Decision::ExplicitDeny {
                prop_assert_eq!(new, Decision::ExplicitDeny);
            }
        }
    }

    #[test]
    fn statement_and_policy_order_do_not_matter(
        first in prop::collection::vec(statement_spec(), 1..5),
        second in prop::collection::vec(statement_spec(), 1..5),
        rotation in 0usize..5,
        requests in prop::collection::vec(request_spec(), 1..8),
    ) {
        let a = parse(&first);
        let b = parse(&second);
        let mut reversed = first.clone();
        reversed.reverse();
        let rotation = rotation % second.len();
        let mut rotated = second.clone();
        rotated.rotate_left(rotation);
        let a_reordered = parse(&reversed);
        let b_reordered = parse(&rotated);
        for request in &requests {
            let expected = decide(&[&a, &b], request);
            prop_assert_eq!(decide(&[&b, &a], request), expected);
            prop_assert_eq!(decide(&[&a_reordered, &b_reordered], request), expected);
            prop_assert_eq!(decide(&[&b_reordered, &a_reordered], request), expected);
        }
    }

    #[test]
    fn allow_everything_allows_every_request(
        action in "[a-z0-9-]{1,12}:[A-Za-z*?]{0,20}",
        resource in "(\\*|arn:aws:[a-z]{0,5}:[a-z0-9-]{0,9}:[0-9]{0,12}:[ -~]{0,30}|[ -~]{0,30})",
        requests in prop::collection::vec(request_spec(), 1..4),
    ) {
        let admin = Policy::parse_identity(
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
        ).expect("valid");
        let alice = Principal::user("arn:aws:iam::123456789012:user/alice");
        for spec in &requests {
            let context = context_of(spec, true);
            // Within the caller's account (another account's resource also needs its
            // resource policy's Allow).
            let request = Request::new(&alice, &action, &resource, &context)
                .with_resource_account("123456789012");
            prop_assert_eq!(evaluate(&[&admin], None, &request).decision, Decision::Allow);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
            let _ = Policy::parse(&text, kind);
        }
    }

    #[test]
    fn mutated_documents_never_panic_and_round_trip(
        statements in prop::collection::vec(statement_spec(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, prop::sample::select(vec!['{', '}', '[', ']', '"', ',', ':', '*', '?', '$', 'x', '\\', ' ', 'é'])), 0..4),
        node in any::<prop::sample::Index>(),
        replacement in 0usize..10,
        requests in prop::collection::vec(request_spec(), 1..6),
    ) {
        let valid = policy_json(&statements);
        let mut candidates = vec![mutate_text(&valid, &edits)];
        let mut value: Value = serde_json::from_str(&valid).expect("valid json");
        let count = count_nodes(&value);
        replace_node(&mut value, node.index(count), replacement);
        candidates.push(value.to_string());
        for text in candidates {
            for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
                let Ok(policy) = Policy::parse(&text, kind) else { continue };
                let again = Policy::parse(&policy.to_json(), kind);
                prop_assert!(again.is_ok(), "re-serialized document refused: {}", policy.to_json());
                let again = again.expect("checked");
                prop_assert_eq!(&again, &policy);
                if kind == PolicyKind::Identity {
                    for request in &requests {
                        prop_assert_eq!(decide(&[&again], request), decide(&[&policy], request));
                    }
                }
            }
        }
    }
}

/// Applies byte-level edits (delete, insert, replace, duplicate) at character boundaries.
fn mutate_text(text: &str, edits: &[(prop::sample::Index, usize, char)]) -> String {
    let mut characters: Vec<char> = text.chars().collect();
    for (position, operation, character) in edits {
        let at = position.index(characters.len() + 1);
        match operation {
            0 if at < characters.len() => {
                characters.remove(at);
            }
            1 => characters.insert(at, *character),
            2 if at < characters.len() => characters[at] = *character,
            3 if at < characters.len() => {
                let end = (at + 8).min(characters.len());
                let copy: Vec<char> = characters[at..end].to_vec();
                characters.splice(at..at, copy);
            }
            _ => {}
        }
    }
    characters.into_iter().collect()
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `target`-th node (pre-order) with a value of another shape, or renames a key.
fn replace_node(value: &mut Value, target: usize, replacement: usize) {
    fn walk(value: &mut Value, target: usize, seen: &mut usize, replacement: usize) -> bool {
        if *seen == target {
            *value = match replacement {
                0 => Value::Null,
                1 => Value::from(7),
                2 => Value::from("x"),
                3 => Value::Array(Vec::new()),
                4 => Value::Object(serde_json::Map::new()),
                5 => Value::from("*"),
                6 => Value::from(true),
                7 => Value::from(vec!["ecs:*", "arn:aws:ecs:*:*:*"]),
                8 => match value.take() {
                    Value::Object(mut map) => {
                        if let Some(key) = map.keys().next().cloned() {
                            let moved = map.remove(&key).unwrap_or(Value::Null);
                            map.insert(format!("{key}X"), moved);
                        }
                        Value::Object(map)
                    }
                    other => Value::Array(vec![other]),
                },
                _ => serde_json::json!({"AWS": "123456789012"}),
            };
            return true;
        }
        *seen += 1;
        match value {
            Value::Array(items) => items
                .iter_mut()
                .any(|item| walk(item, target, seen, replacement)),
            Value::Object(map) => map
                .values_mut()
                .any(|item| walk(item, target, seen, replacement)),
            _ => false,
        }
    }
    let mut seen = 0;
    walk(value, target, &mut seen, replacement);
}
