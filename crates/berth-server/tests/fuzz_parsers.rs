//! Fuzzes the server's readers of request input: [`json::parse`] and [`json::parse_with`]
//! of the JSON 1.1 body of every ECS, ECR and CloudWatch Logs operation (as its
//! `berth_api` request type), `nextToken`s ([`pagination::decode_token`]),
//! `maxResults` ([`pagination::max_results`]) and the access key id read from a request's
//! `Authorization` header or presigned query ([`task_credentials::access_key_id`]).
//!
//! Bodies are arbitrary bytes, or realistic requests (and every type's minimal one)
//! mutated structurally: members dropped, duplicated, renamed, retyped or added; enum
//! values misspelt; numbers past every integer type; nesting past the parser's limit;
//! strings broken with invalid UTF-8; bodies cut short. Properties: nothing panics;
//! every refusal is a 400 (`SerializationException` or `InvalidParameterException`, or
//! the operation's own error for an enum value) with a message, never a 5xx; and what
//! parses serializes back to a body that parses to the same request.
//!
//! 256 cases per property by default; for a longer run:
//! `PROPTEST_CASES=100000 cargo test -p berth-server --test fuzz_parsers --release`

use berth_api::error::ApiError;
use berth_server::{json, pagination, task_credentials};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json as doc, Value};

/// 256 cases, or `PROPTEST_CASES` when it is set.
fn config() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(256)
    }
}

// ------------------------------------------------------------------ request types

/// What checking a body as one type found: whether it was accepted (a refusal having
/// passed the checks).
type Checked = Result<bool, TestCaseError>;

/// One operation's request type, checked through `json::parse`.
struct RequestType {
    name: &'static str,
    /// Parses a body as the type (see [`check_as`]).
    check: fn(&[u8]) -> Checked,
    /// The type's smallest valid document: its required members at their defaults.
    minimal: fn() -> Value,
}

/// A refusal of a request body: a 400 with AWS's name for it and a message.
fn check_refusal(body: &[u8], e: &ApiError) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        e.status(),
        400,
        "{} refused with {:?}",
        String::from_utf8_lossy(body),
        e
    );
    prop_assert!(
        matches!(
            e.code(),
            "SerializationException" | "InvalidParameterException" | "ClientException"
        ),
        "{e:?}"
    );
    prop_assert!(!e.message().is_empty());
    Ok(())
}

/// Parses `body` as `T`; what parses must serialize to a body that parses back equal.
fn check_as<T>(body: &[u8]) -> Checked
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let parsed = match json::parse::<T>(body) {
        Ok(parsed) => parsed,
        Err(e) => return check_refusal(body, &e).map(|()| false),
    };
    let again = serde_json::to_vec(&parsed).expect("requests serialize");
    let reparsed = json::parse::<T>(&again).unwrap_or_else(|e| {
        panic!(
            "{} re-serialized as unreadable: {e:?}",
            String::from_utf8_lossy(&again)
        )
    });
    prop_assert_eq!(&reparsed, &parsed);
    Ok(true)
}

/// A type's smallest valid document: its `Default` (required members at their
/// defaults), or the one given for types with a required enum member.
macro_rules! minimal_document {
    ($service:ident :: $name:ident) => {
        serde_json::to_value(berth_api::$service::$name::default()).expect("requests serialize")
    };
    ($service:ident :: $name:ident, $document:tt) => {
        doc!($document)
    };
}

/// The request types of every operation, by service.
macro_rules! request_types {
    ($($service:ident :: $name:ident $(=> $document:tt)?),* $(,)?) => {
        const REQUEST_TYPES: &[RequestType] = &[$(
            RequestType {
                name: concat!(stringify!($service), "::", stringify!($name)),
                check: check_as::<berth_api::$service::$name>,
                minimal: || minimal_document!($service::$name $(, $document)?),
            },
        )*];
    };
}

request_types![
    ecs::CreateClusterRequest,
    ecs::DeleteClusterRequest,
    ecs::DescribeClustersRequest,
    ecs::ListClustersRequest,
    ecs::UpdateClusterRequest,
    ecs::UpdateClusterSettingsRequest,
    ecs::PutClusterCapacityProvidersRequest,
    ecs::RegisterTaskDefinitionRequest,
    ecs::DeregisterTaskDefinitionRequest,
    ecs::DeleteTaskDefinitionsRequest,
    ecs::DescribeTaskDefinitionRequest,
    ecs::ListTaskDefinitionsRequest,
    ecs::ListTaskDefinitionFamiliesRequest,
    ecs::RunTaskRequest,
    ecs::StartTaskRequest,
    ecs::StopTaskRequest,
    ecs::DescribeTasksRequest,
    ecs::ListTasksRequest,
    ecs::ExecuteCommandRequest,
    ecs::RegisterContainerInstanceRequest,
    ecs::DeregisterContainerInstanceRequest,
    ecs::DescribeContainerInstancesRequest,
    ecs::ListContainerInstancesRequest,
    ecs::UpdateContainerInstancesStateRequest => {"containerInstances": [], "status": "DRAINING"},
    ecs::PutAttributesRequest,
    ecs::DeleteAttributesRequest,
    ecs::ListAttributesRequest => {"targetType": "container-instance"},
    ecs::TagResourceRequest,
    ecs::UntagResourceRequest,
    ecs::ListTagsForResourceRequest,
    ecs::SubmitTaskStateChangeRequest,
    ecs::SubmitContainerStateChangeRequest,
    ecs::CreateServiceRequest,
    ecs::UpdateServiceRequest,
    ecs::DeleteServiceRequest,
    ecs::DescribeServicesRequest,
    ecs::ListServicesRequest,
    ecs::ListServiceDeploymentsRequest,
    ecs::DescribeServiceDeploymentsRequest,
    ecs::PutAccountSettingRequest => {"name": "taskLongArnFormat", "value": "enabled"},
    ecs::PutAccountSettingDefaultRequest => {"name": "serviceLongArnFormat", "value": "enabled"},
    ecs::ListAccountSettingsRequest,
    ecs::DeleteAccountSettingRequest => {"name": "containerInstanceLongArnFormat"},
    ecr::CreateRepositoryRequest,
    ecr::DescribeRepositoriesRequest,
    ecr::DeleteRepositoryRequest,
    ecr::GetAuthorizationTokenRequest,
    ecr::ListImagesRequest,
    ecr::DescribeImagesRequest,
    ecr::BatchGetImageRequest,
    ecr::BatchDeleteImageRequest,
    ecr::PutImageTagMutabilityRequest => {
        "repositoryName": "team/web", "imageTagMutability": "MUTABLE"
    },
    ecr::BatchCheckLayerAvailabilityRequest,
    ecr::PutImageRequest,
    ecr::PutLifecyclePolicyRequest,
    ecr::GetLifecyclePolicyRequest,
    ecr::DeleteLifecyclePolicyRequest,
    ecr::SetRepositoryPolicyRequest,
    ecr::GetRepositoryPolicyRequest,
    ecr::DeleteRepositoryPolicyRequest,
    ecr::GetDownloadUrlForLayerRequest,
    ecr::TagResourceRequest,
    ecr::UntagResourceRequest,
    ecr::ListTagsForResourceRequest,
    logs::CreateLogGroupRequest,
    logs::DeleteLogGroupRequest,
    logs::DescribeLogGroupsRequest,
    logs::CreateLogStreamRequest,
    logs::DeleteLogStreamRequest,
    logs::DescribeLogStreamsRequest,
    logs::PutLogEventsRequest,
    logs::GetLogEventsRequest,
    logs::FilterLogEventsRequest,
    logs::PutRetentionPolicyRequest,
    logs::DeleteRetentionPolicyRequest,
    logs::TagResourceRequest,
    logs::UntagResourceRequest,
    logs::ListTagsForResourceRequest,
    logs::TagLogGroupRequest,
    logs::UntagLogGroupRequest,
    logs::ListTagsLogGroupRequest,
];

/// The request type named `service::Name`.
fn request_type(name: &str) -> &'static RequestType {
    REQUEST_TYPES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no request type {name}"))
}

/// Requests as the AWS CLI, boto3 and the ECS agent send them, with their types.
fn realistic_requests() -> Vec<(&'static str, Value)> {
    vec![
        (
            "ecs::RegisterTaskDefinitionRequest",
            doc!({
                "family": "web",
                "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["EC2", "FARGATE"],
                "cpu": "256",
                "memory": "512",
                "containerDefinitions": [{
                    "name": "web",
                    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4",
                    "cpu": 128,
                    "memoryReservation": 256,
                    "essential": true,
                    "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
                    "environment": [{"name": "STAGE", "value": "prod"}],
                    "command": ["serve", "--port", "8080"],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"}
                    },
                    "dockerLabels": {"team": "web"}
                }],
                "tags": [{"key": "team", "value": "web"}]
            }),
        ),
        (
            "ecs::RunTaskRequest",
            doc!({
                "cluster": "prod",
                "taskDefinition": "web:3",
                "count": 2,
                "launchType": "EC2",
                "startedBy": "ci",
                "networkConfiguration": {"awsvpcConfiguration": {
                    "subnets": ["subnet-1"], "securityGroups": ["sg-1"],
                    "assignPublicIp": "DISABLED"
                }},
                "overrides": {"containerOverrides": [
                    {"name": "web", "environment": [{"name": "DEBUG", "value": "1"}]}
                ]},
                "placementConstraints": [
                    {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
                ],
                "placementStrategy": [
                    {"type": "spread", "field": "attribute:ecs.availability-zone"}
                ],
                "tags": [{"key": "run", "value": "42"}]
            }),
        ),
        (
            "ecs::CreateServiceRequest",
            doc!({
                "cluster": "prod",
                "serviceName": "web",
                "taskDefinition": "web:3",
                "desiredCount": 3,
                "launchType": "EC2",
                "schedulingStrategy": "REPLICA",
                "loadBalancers": [{
                    "targetGroupArn":
                        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123",
                    "containerName": "web", "containerPort": 8080
                }],
                "deploymentConfiguration": {
                    "maximumPercent": 200, "minimumHealthyPercent": 50,
                    "deploymentCircuitBreaker": {"enable": true, "rollback": true}
                },
                "healthCheckGracePeriodSeconds": 30,
                "enableECSManagedTags": true,
                "propagateTags": "SERVICE"
            }),
        ),
        (
            "ecs::ListContainerInstancesRequest",
            doc!({"cluster": "prod", "filter": "attribute:stack == prod", "status": "ACTIVE",
                  "maxResults": 10, "nextToken": "YWJj"}),
        ),
        (
            "ecs::SubmitTaskStateChangeRequest",
            doc!({
                "cluster": "prod",
                "task": "arn:aws:ecs:us-east-1:123456789012:task/prod/0123",
                "status": "RUNNING",
                "pullStartedAt": 1_700_000_000,
                "pullStoppedAt": 1_700_000_001.25,
                "containers": [{"containerName": "web", "status": "RUNNING", "exitCode": 0,
                    "networkBindings": [
                        {"containerPort": 8080, "hostPort": 32768, "protocol": "tcp"}
                    ]}]
            }),
        ),
        (
            "ecs::UpdateServiceRequest",
            doc!({"cluster": "prod", "service": "web", "desiredCount": 0,
                  "forceNewDeployment": true}),
        ),
        (
            "ecr::PutImageRequest",
            doc!({
                "repositoryName": "team/web",
                "imageManifest": "{\"schemaVersion\":2}",
                "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
                "imageTag": "latest"
            }),
        ),
        (
            "ecr::DescribeImagesRequest",
            doc!({"repositoryName": "team/web", "imageIds": [{"imageTag": "latest"},
                  {"imageDigest":
                    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}],
                  "filter": {"tagStatus": "TAGGED"}, "maxResults": 100}),
        ),
        (
            "ecr::CreateRepositoryRequest",
            doc!({"repositoryName": "team/web", "imageTagMutability": "IMMUTABLE",
                  "tags": [{"Key": "team", "Value": "web"}]}),
        ),
        (
            "ecr::PutLifecyclePolicyRequest",
            doc!({"repositoryName": "team/web", "lifecyclePolicyText":
            concat!(
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","#,
                r#""countType":"imageCountMoreThan","countNumber":5},"#,
                r#""action":{"type":"expire"}}]}"#
            )}),
        ),
        (
            "logs::PutLogEventsRequest",
            doc!({"logGroupName": "/ecs/web", "logStreamName": "web/web/0123",
                  "logEvents": [{"timestamp": 1_700_000_000_000_i64, "message": "GET /health 200"},
                                {"timestamp": 1_700_000_000_001_i64,
                                 "message": "{\"level\":\"error\"}"}]}),
        ),
        (
            "logs::FilterLogEventsRequest",
            doc!({"logGroupName": "/ecs/web", "logStreamNames": ["web/web/0123"],
                  "startTime": 1_700_000_000_000_i64, "filterPattern": "{ $.level = \"error\" }",
                  "limit": 50, "interleaved": true}),
        ),
        (
            "logs::CreateLogGroupRequest",
            doc!({"logGroupName": "/ecs/web", "tags": {"team": "web"},
                  "logGroupClass": "STANDARD"}),
        ),
    ]
}

// ------------------------------------------------------------------ mutations

/// A JSON document that can also hold what `serde_json::Value` cannot: numbers past
/// every Rust type, duplicate keys, invalid UTF-8 inside strings.
#[derive(Debug, Clone)]
enum Node {
    /// A scalar's bytes as written (`null`, `1e400`, `"a\xffb"`).
    Raw(Vec<u8>),
    Array(Vec<Node>),
    /// Members in order; a key may repeat.
    Object(Vec<(String, Node)>),
}

impl Node {
    /// The document `value` is.
    fn from_value(value: &Value) -> Node {
        match value {
            Value::Array(items) => Node::Array(items.iter().map(Node::from_value).collect()),
            Value::Object(members) => Node::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), Node::from_value(v)))
                    .collect(),
            ),
            scalar => Node::Raw(scalar.to_string().into_bytes()),
        }
    }

    /// Appends the document's bytes to `out`.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Node::Raw(bytes) => out.extend_from_slice(bytes),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Node::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(Value::from(key.as_str()).to_string().as_bytes());
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }

    /// Every node, in document order, by its path of child indexes.
    fn paths(&self, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(prefix.clone());
        let children: Vec<&Node> = match self {
            Node::Raw(_) => return,
            Node::Array(items) => items.iter().collect(),
            Node::Object(members) => members.iter().map(|(_, v)| v).collect(),
        };
        for (i, child) in children.into_iter().enumerate() {
            prefix.push(i);
            child.paths(prefix, out);
            prefix.pop();
        }
    }

    /// The node at `path` (one of [`Node::paths`]).
    fn at(&mut self, path: &[usize]) -> &mut Node {
        match path.split_first() {
            None => self,
            Some((&i, rest)) => match self {
                Node::Array(items) => items[i].at(rest),
                Node::Object(members) => members[i].1.at(rest),
                Node::Raw(_) => unreachable!("paths only lead into containers"),
            },
        }
    }
}

/// Replacement values: every JSON type, numbers past `i32`, `i64`, `u64` and `f64`,
/// enum values misspelt, odd strings.
const REPLACEMENTS: &[&str] = &[
    "null",
    "true",
    "0",
    "-1",
    "2147483648",
    "-2147483649",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1e400",
    "-1e400",
    "1e-400",
    "1.5",
    "-0.0",
    "123456789012345678901234567890",
    "\"\"",
    "\"Fargate\"",
    "\"fargate\"",
    "\"EC2 \"",
    "\"ACTIVE\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\uDFFF\\uD800\"",
    "[]",
    "{}",
    "[null]",
    "{\"\":null}",
];

/// Member names to add or rename to: real ones of several types, wrong-case and unknown
/// ones.
const MEMBER_NAMES: &[&str] = &[
    "cluster",
    "Cluster",
    "family",
    "launchType",
    "count",
    "tags",
    "status",
    "taskDefinition",
    "logGroupName",
    "repositoryName",
    "imageIds",
    "filter",
    "unknownMember",
    "",
    "__proto__",
    "é",
];

/// One structure-aware change to a document.
#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Duplicate(usize),
    Replace(usize, &'static str),
    Rename(usize, &'static str),
    Add(usize, &'static str, &'static str),
    Nest(usize, usize, bool),
    LongString(usize, usize),
    InvalidUtf8(usize),
}

/// Mutations weighted towards what breaks parsers: wrong values and types.
fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    let replacement = prop::sample::select(REPLACEMENTS);
    let name = prop::sample::select(MEMBER_NAMES);
    prop_oneof![
        2 => at.prop_map(Mutation::Remove),
        1 => at.prop_map(Mutation::Duplicate),
        4 => (at, replacement.clone()).prop_map(|(i, r)| Mutation::Replace(i, r)),
        1 => (at, name.clone()).prop_map(|(i, n)| Mutation::Rename(i, n)),
        2 => (at, name, replacement).prop_map(|(i, n, r)| Mutation::Add(i, n, r)),
        1 => (at, prop_oneof![1usize..8, 100usize..300], any::<bool>())
            .prop_map(|(i, depth, arrays)| Mutation::Nest(i, depth, arrays)),
        1 => (at, 1000usize..100_000).prop_map(|(i, len)| Mutation::LongString(i, len)),
        1 => at.prop_map(Mutation::InvalidUtf8),
    ]
}

/// The path of the node `at` picks, and of its parent.
fn pick(root: &Node, at: usize) -> (Vec<usize>, Option<(Vec<usize>, usize)>) {
    let mut paths = Vec::new();
    root.paths(&mut Vec::new(), &mut paths);
    let path = paths[at % paths.len()].clone();
    let parent = path
        .split_last()
        .map(|(&index, parent)| (parent.to_vec(), index));
    (path, parent)
}

/// Applies `m` to the node it picks; a change the node cannot take does nothing.
fn mutate(root: &mut Node, m: &Mutation) {
    let at = match m {
        Mutation::Remove(at)
        | Mutation::Duplicate(at)
        | Mutation::Replace(at, _)
        | Mutation::Rename(at, _)
        | Mutation::Add(at, _, _)
        | Mutation::Nest(at, _, _)
        | Mutation::LongString(at, _)
        | Mutation::InvalidUtf8(at) => *at,
    };
    let (path, parent) = pick(root, at);
    match m {
        Mutation::Remove(_) | Mutation::Duplicate(_) | Mutation::Rename(..) => {
            let Some((parent, index)) = parent else {
                return;
            };
            match (root.at(&parent), m) {
                (Node::Array(items), Mutation::Remove(_)) => {
                    items.remove(index);
                }
                (Node::Object(members), Mutation::Remove(_)) => {
                    members.remove(index);
                }
                (Node::Array(items), Mutation::Duplicate(_)) => {
                    let copy = items[index].clone();
                    items.insert(index, copy);
                }
                (Node::Object(members), Mutation::Duplicate(_)) => {
                    let copy = members[index].clone();
                    members.insert(index, copy);
                }
                (Node::Object(members), Mutation::Rename(_, name)) => {
                    members[index].0 = (*name).to_owned();
                }
                _ => {}
            }
        }
        Mutation::Replace(_, raw) => *root.at(&path) = Node::Raw(raw.as_bytes().to_vec()),
        Mutation::Add(_, name, raw) => {
            if let Node::Object(members) = root.at(&path) {
                members.push(((*name).to_owned(), Node::Raw(raw.as_bytes().to_vec())));
            }
        }
        Mutation::Nest(_, depth, arrays) => {
            let node = root.at(&path);
            for _ in 0..*depth {
                let inner = std::mem::replace(node, Node::Raw(Vec::new()));
                *node = if *arrays {
                    Node::Array(vec![inner])
                } else {
                    Node::Object(vec![("a".to_owned(), inner)])
                };
            }
        }
        Mutation::LongString(_, len) => {
            *root.at(&path) = Node::Raw(format!("\"{}\"", "x".repeat(*len)).into_bytes());
        }
        Mutation::InvalidUtf8(_) => {
            let node = root.at(&path);
            if let Node::Raw(bytes) = node {
                if bytes.first() == Some(&b'"') && bytes.len() >= 2 {
                    bytes.insert(1, 0xff);
                    return;
                }
            }
            *node = Node::Raw(b"\"\xc3\x28\"".to_vec());
        }
    }
}

/// Damage to the written bytes: cut short, or a byte changed.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Byte(usize, u8),
}

/// Damage, for one body in five.
fn damage() -> impl Strategy<Value = Option<Damage>> {
    prop::option::weighted(
        0.2,
        prop_oneof![
            any::<usize>().prop_map(Damage::Truncate),
            (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Byte(at, b)),
        ],
    )
}

/// `seed` mutated, written, and maybe damaged.
fn mutated_body(seed: &Value, mutations: &[Mutation], damage: &Option<Damage>) -> Vec<u8> {
    let mut root = Node::from_value(seed);
    for m in mutations {
        mutate(&mut root, m);
    }
    let mut body = Vec::new();
    root.write(&mut body);
    match *damage {
        Some(Damage::Truncate(at)) => body.truncate(at % (body.len() + 1)),
        Some(Damage::Byte(at, b)) if !body.is_empty() => {
            let at = at % body.len();
            body[at] = b;
        }
        _ => {}
    }
    body
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes are parsed or refused with a 400 by every request type.
    #[test]
    fn arbitrary_bodies_parse_or_are_refused(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            "[ \\{\\}\\[\\]:,\"0-9a-zA-Z.eE+-]{0,64}".prop_map(String::into_bytes),
        ],
    ) {
        for t in REQUEST_TYPES {
            (t.check)(&body)?;
        }
    }

    /// Every type's minimal document, mutated, is parsed or refused with a 400.
    #[test]
    fn mutated_minimal_requests_parse_or_are_refused(
        mutations in prop::collection::vec(mutation(), 1..4),
        damage in damage(),
    ) {
        for t in REQUEST_TYPES {
            let body = mutated_body(&(t.minimal)(), &mutations, &damage);
            (t.check)(&body)?;
        }
    }

    /// Realistic requests, mutated, are parsed or refused with a 400, including with
    /// the operation's own error for an enum value (`parse_with`).
    #[test]
    fn mutated_realistic_requests_parse_or_are_refused(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 0..5),
        damage in damage(),
    ) {
        let requests = realistic_requests();
        let (name, seed) = which.get(&requests);
        let body = mutated_body(seed, &mutations, &damage);
        (request_type(name).check)(&body)?;
        let as_create_service =
            json::parse_with::<berth_api::ecs::CreateServiceRequest>(&body, ApiError::Client);
        if let Err(e) = as_create_service {
            check_refusal(&body, &e)?;
        }
    }

    /// A token minted for a key reads back as that key under its prefix; anything
    /// else is refused with a 400.
    #[test]
    fn pagination_tokens_read_back_or_are_refused(
        key in "\\PC{0,24}",
        prefix in prop::sample::select(vec!["", "cluster/", "c"]),
        token in prop_oneof!["\\PC{0,32}", "[A-Za-z0-9_=+/-]{0,32}"],
        max in any::<Option<i32>>(),
    ) {
        let decoded = pagination::decode_token(Some(&pagination::encode_token(&key)), prefix);
        if key.starts_with(prefix) && !key.is_empty() {
            prop_assert_eq!(decoded, Ok(Some(key)));
        }
        if let Err(e) = pagination::decode_token(Some(&token), prefix) {
            check_refusal(token.as_bytes(), &e)?;
        }
        match pagination::max_results(max, pagination::DEFAULT_MAX_RESULTS) {
            Ok(n) => prop_assert!((1..=pagination::DEFAULT_MAX_RESULTS).contains(&n)),
            Err(e) => check_refusal(b"maxResults", &e)?,
        }
    }

    /// The access key id is read from any Authorization header or presigned query
    /// without panicking, and is the credential's first part when there is one.
    #[test]
    fn access_key_ids_are_read_from_anything(
        authorization in prop::option::of(prop::collection::vec(
            prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..64)),
        query in prop::option::of("([A-Za-z0-9=&/_.-]|%2F|X-Amz-Credential=){0,48}"),
    ) {
        let uri = match &query {
            Some(q) => format!("/?{q}"),
            None => "/".to_owned(),
        };
        let mut builder = http::Request::builder().uri(uri);
        if let Some(value) = &authorization {
            builder = builder.header(
                "authorization",
                http::HeaderValue::from_bytes(value).expect("header bytes"),
            );
        }
        let (parts, ()) = builder.body(()).expect("a valid request").into_parts();
        if let Some(id) = task_credentials::access_key_id(&parts) {
            prop_assert!(!id.contains('/'));
        }
    }
}

#[test]
fn the_realistic_requests_are_valid() {
    for (name, seed) in realistic_requests() {
        let body = serde_json::to_vec(&seed).unwrap();
        let accepted = (request_type(name).check)(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(accepted, "{name} refused {seed}");
    }
    for t in REQUEST_TYPES {
        let body = serde_json::to_vec(&(t.minimal)()).unwrap();
        assert!((t.check)(&body).unwrap(), "{}", t.name);
    }
}
