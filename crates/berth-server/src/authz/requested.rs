//! What one API call asks IAM to allow: for each call of a service Berth serves, the IAM
//! actions, the resource ARN each acts on, and the condition keys the request itself
//! supplies ([`Requested`]). Every one must be allowed for the call to go ahead. Pure: the
//! request in, the list out; no store, no I/O. Facts that live in the store (a resource's
//! tags for `aws:ResourceTag/…`, the task definition's roles at RunTask) are the caller's
//! to add.
//!
//! # Sources
//!
//! The actions, resource types and condition keys follow AWS's *Service Authorization
//! Reference*: "Actions, resources, and condition keys for Amazon Elastic Container
//! Service" (`ecs:`), "… for Amazon Elastic Container Registry" (`ecr:`), "… for Amazon
//! CloudWatch Logs" (`logs:`), "… for Elastic Load Balancing V2" (`elasticloadbalancing:`),
//! "… for AWS Identity and Access Management (IAM)" (`iam:`) and "… for AWS Security Token
//! Service" (`sts:`). An action whose reference row has no resource type is on `*`; one
//! with a required resource type is on that resource's ARN, built from the request.
//!
//! # Shapes of the answer
//!
//! * **Unknown operations.** An operation the tables here do not know yields one
//!   [`Requested`] of action `SERVICE:Operation` on resource `*`, so nothing is silently
//!   left unauthorized: only a policy that allows that action on every resource lets it
//!   through (the handler then rejects it as unknown or unsupported).
//! * **Multivalued keys.** [`Requested::context`] is a list of `(key, value)` pairs; a key
//!   that appears several times is one multivalued key (`aws:TagKeys`, `ecs:subnet`,
//!   `ecs:capacity-provider`, …). [`Requested::values`] collects them.
//! * **Names and ARNs.** Requests may name a resource by name, short id or full ARN. Names
//!   and ids become ARNs in the caller's account and region ([`Place`]); a full ARN is kept
//!   as given (its account and region included), except that ECS's old short ARNs
//!   (`task/ID`) are put into the long format Berth issues (`task/CLUSTER/ID`).
//! * **Not yet existing resources.** A create names the resource it will make; where AWS
//!   mints part of the ARN (an ELB's id, an ECS task's id, a task definition's revision),
//!   that part is `*` (`loadbalancer/app/web/*`, `task/prod/*`, `task-definition/web:*`).
//! * **"Every resource of a type".** A call that acts on all resources of a type because
//!   it names none (DescribeRepositories without names, DescribeCapacityProviders, an ECR
//!   `_catalog`) is on `TYPE/*` of the account (`repository/*`).
//!
//! # Coverage
//!
//! Mapped: every operation of the services' botocore models that Berth serves or could
//! serve — ECS (clusters, task definitions, tasks, container instances, attributes,
//! services, service deployments and revisions, task sets, capacity providers, account
//! settings, tags, ExecuteCommand, task protection); ECR (repositories, images, layers,
//! lifecycle and repository policies, scanning, tags, and the registry-wide settings on
//! `*`); CloudWatch Logs (groups, streams, events, retention, tags, metric and
//! subscription filters, KMS keys, data protection, transformers, queries, live tail,
//! destinations, anomaly detectors, and the account-wide actions on `*`); ELBv2 (load
//! balancers, target groups, listeners, rules, targets, trust stores, tags, Describe* on
//! `*`); IAM (users, groups, roles, instance profiles, managed and inline policies,
//! permissions boundaries, access keys, login profiles, MFA, SSH keys, signing and
//! service-specific credentials, server certificates, OIDC and SAML providers,
//! service-linked roles, simulation, account-wide settings); STS (AssumeRole and its web
//! identity, SAML and root variants, GetFederationToken, GetSessionToken,
//! GetCallerIdentity, …); Secrets Manager (every operation on a secret, on the secret's
//! ARN, which the front door resolves from the store since it ends in a random suffix;
//! ListSecrets and the account-wide actions on `*`); SSM Parameter Store (the parameter
//! operations, on `parameter/NAME`). Left to the unknown-operation rule: ECS daemons and Express
//! gateway services, ECR ListImageReferrers (the reference names no action for it), Logs
//! deliveries, lookup tables, scheduled queries and S3 table integrations, IAM delegation
//! requests and organizations access reports.
//!
//! # Where Berth follows AWS beyond the reference tables, and where it chose
//!
//! * **ECS clusters.** `cluster` absent means `default`, as ECS does. Cluster-scoped
//!   actions carry `ecs:cluster` (the cluster's ARN); for a task, service or container
//!   instance given by ARN it is the cluster in that ARN.
//! * **ECS task definitions given by family.** RunTask, StartTask, CreateService,
//!   UpdateService and CreateTaskSet accept a family without revision; AWS authorizes the
//!   revision it resolves (the latest ACTIVE one). This module cannot read the store, so it
//!   answers `task-definition/FAMILY:*`: a policy on `FAMILY:*` (AWS's recommended form)
//!   allows it; one on a single revision does not. RegisterTaskDefinition is on
//!   `FAMILY:*` as well (the new revision's number is not known yet).
//! * **`iam:PassRole` for ECS.** AWS checks `iam:PassRole` (with `iam:PassedToService`)
//!   when RegisterTaskDefinition names `taskRoleArn`/`executionRoleArn` (passed to
//!   `ecs-tasks.amazonaws.com`), when RunTask/StartTask override them, and when a call
//!   passes ECS its own roles (CreateService's `role`, managed EBS volumes' `roleArn`,
//!   CreateCapacityProvider's infrastructure role: `ecs.amazonaws.com`). AWS also checks
//!   PassRole at RunTask/StartTask for the roles the task definition names (EventBridge's
//!   ECS target documentation says so); those are in the store, so the handler adds them
//!   with [`pass_task_roles`]. Role names become `arn:aws:iam::ACCOUNT:role/NAME`.
//! * **Tag on create.** A create that carries tags needs the service's tagging action too,
//!   on the new resource, with the request's `aws:RequestTag/…` and `aws:TagKeys`:
//!   `ecs:TagResource` (with `ecs:CreateAction`), `ecr:TagResource`, `logs:TagResource`,
//!   `elasticloadbalancing:AddTags` (with `elasticloadbalancing:CreateAction`) and IAM's
//!   `iam:TagUser`/`iam:TagRole`/… . The create itself carries the same tag keys.
//! * **ECS ListTasks** is on the container instance it names; without one it is on `*`
//!   (with `ecs:cluster`), since the reference names no other resource for it.
//! * **CloudWatch Logs ARNs.** AWS evaluates log-group actions on
//!   `arn:aws:logs:R:A:log-group:NAME:log-stream:` (the form its AccessDenied messages
//!   name; the Logs user guide's "use the ARN with the trailing `:*` in IAM policies"
//!   matches it), DescribeLogGroups on the account-wide `log-group::log-stream:`, and log
//!   stream actions (CreateLogStream, DeleteLogStream, PutLogEvents, GetLogEvents) on
//!   `log-group:NAME:log-stream:STREAM`. TagResource, UntagResource and
//!   ListTagsForResource are on the ARN without the suffix, as the Logs API reference says.
//!   Berth answers the same, so a policy on `log-group:NAME:*` behaves as in AWS.
//!   GetLogRecord and GetQueryResults name no group (a record pointer, a query id): `*`.
//! * **IAM listings.** ListUsers, ListRoles, ListGroups, ListInstanceProfiles,
//!   ListPolicies and ListServerCertificates are on `arn:aws:iam::ACCOUNT:KIND/` plus the
//!   request's `PathPrefix` (`role/` when none), the resource AWS's AccessDenied messages
//!   name for them; a policy on `*` or `arn:aws:iam::ACCOUNT:role/*` allows them.
//! * **IAM actions that default to the caller.** Where `UserName` is optional (the caller's
//!   own access keys, password, MFA devices, …) and absent, the resource is the caller's
//!   ARN ([`IamPlace::caller`]). Renames (UpdateUser, UpdateGroup,
//!   UpdateServerCertificate) need the action on the new name's ARN too, as IAM documents.
//!   GetAccessKeyLastUsed names only a key, whose owner is unknown here: `user/*`.
//! * **STS.** GetCallerIdentity needs no permission (AWS always allows it): no entries.
//!   AssumeRole with session tags also needs `sts:TagSession`, and with a source identity
//!   `sts:SetSourceIdentity`, on the role.
//! * **The Docker registry** (`/v2/…`), as ECR authorizes the same operations:
//!   `GET|HEAD manifests` → `ecr:BatchGetImage`; `PUT manifests` → `ecr:PutImage`;
//!   `DELETE manifests` and `DELETE blobs` → `ecr:BatchDeleteImage`; `GET blobs` →
//!   `ecr:GetDownloadUrlForLayer`; `HEAD blobs` → `ecr:BatchCheckLayerAvailability`;
//!   `POST blobs/uploads/` → `ecr:InitiateLayerUpload` (with `?digest=`, a whole upload in
//!   one request: also `ecr:UploadLayerPart` and `ecr:CompleteLayerUpload`; with
//!   `?mount=…&from=OTHER`, also `ecr:GetDownloadUrlForLayer` on OTHER, whose layer it
//!   reads); `PATCH`, `GET` (status) and `DELETE` (cancel) of an upload →
//!   `ecr:UploadLayerPart`; `PUT` of an upload → `ecr:CompleteLayerUpload`; `tags/list` →
//!   `ecr:ListImages`; `referrers` → `ecr:BatchGetImage` (it reads manifests);
//!   `_catalog` → `ecr:DescribeRepositories` on `repository/*`; `GET /v2/` needs nothing
//!   beyond a valid login (which took `ecr:GetAuthorizationToken`). Anything else is
//!   `ecr:RegistryRequest` on `*`, an action no AWS policy names narrowly.

use berth_api::arn::Arn;
use berth_registry::http::route::{self, Route};
use http::Method;
use serde_json::Value;

/// The cluster ECS acts on when a request names none.
const DEFAULT_CLUSTER: &str = "default";

/// The service principal ECS task roles and task execution roles are passed to.
pub const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

/// The service principal ECS's own roles are passed to (a service's load balancer role,
/// managed EBS volumes' role, a capacity provider's infrastructure role).
pub const ECS_SERVICE: &str = "ecs.amazonaws.com";

/// The service principal CloudWatch Logs' roles are passed to (subscription filters and
/// destinations that deliver to other services).
pub const LOGS_SERVICE: &str = "logs.amazonaws.com";

/// One thing a call asks to do: every one must be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// The IAM action, `service:Action` (`ecs:RunTask`).
    pub action: String,
    /// The resource's full ARN, or `*` for actions on no particular resource.
    pub resource: String,
    /// Condition keys the request supplies, e.g. (`ecs:cluster`, cluster ARN),
    /// (`aws:RequestTag/Owner`, `me`), (`aws:TagKeys`, `Owner`). A key repeated is one
    /// multivalued key.
    pub context: Vec<(String, String)>,
}

impl Requested {
    /// `action` on `resource`, with no condition keys yet.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Requested {
        Requested {
            action: action.into(),
            resource: resource.into(),
            context: Vec::new(),
        }
    }

    /// Adds a value of condition key `key`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Requested {
        self.context.push((key.to_owned(), value.into()));
        self
    }

    /// Adds a value of `key` when there is one.
    fn with_opt(self, key: &str, value: Option<impl Into<String>>) -> Requested {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    /// Adds every value of a multivalued key (none: the key stays absent).
    pub fn with_all<I, V>(mut self, key: &str, values: I) -> Requested
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        for value in values {
            self.context.push((key.to_owned(), value.into()));
        }
        self
    }

    /// Adds the tags a request carries: `aws:RequestTag/KEY` = value for each, and their
    /// keys as `aws:TagKeys`.
    fn with_tags(self, tags: &[(String, String)]) -> Requested {
        let tagged = tags.iter().fold(self, |r, (key, value)| {
            r.with(&format!("aws:RequestTag/{key}"), value.clone())
        });
        tagged.with_all("aws:TagKeys", tags.iter().map(|(key, _)| key.clone()))
    }

    /// The values of condition key `key` (matched without regard to case, as IAM does).
    pub fn values(&self, key: &str) -> Vec<&str> {
        self.context
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Where a call acts: the caller's account and the region it signed for. Names in a
/// request become ARNs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub account: &'a str,
    pub region: &'a str,
}

impl Place<'_> {
    /// `arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE`.
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }

    /// The ARN of ECR repository `name` here.
    pub fn arn_of_repository(&self, name: &str) -> String {
        self.arn("ecr", &format!("repository/{name}"))
    }
}

/// The answer for an operation the tables do not know: `service:operation` on `*`.
fn unknown(service: &str, operation: &str) -> Vec<Requested> {
    vec![Requested::new(format!("{service}:{operation}"), "*")]
}

/// `iam:PassRole` on `role` (a role ARN, or a role name in `account`) for `service`.
pub fn pass_role(role: &str, account: &str, service: &str) -> Requested {
    Requested::new("iam:PassRole", role_arn(role, account)).with("iam:PassedToService", service)
}

/// The `iam:PassRole` entries RunTask and StartTask need for the roles their task
/// definition names (its `taskRoleArn` and `executionRoleArn`, read from the store by the
/// handler): each passed to [`ECS_TASKS`].
pub fn pass_task_roles(roles: &[&str], account: &str) -> Vec<Requested> {
    roles
        .iter()
        .filter(|role| !role.is_empty())
        .map(|role| pass_role(role, account, ECS_TASKS))
        .collect()
}

/// A role's ARN from an ARN or a name (`NAME` or `PATH/NAME`) in `account`.
fn role_arn(given: &str, account: &str) -> String {
    if given.starts_with("arn:") {
        given.to_owned()
    } else {
        format!(
            "arn:aws:iam::{account}:role/{}",
            given.trim_start_matches('/')
        )
    }
}

/// `"true"`/`"false"`, as IAM compares booleans.
fn bool_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// Order-keeping removal of repeats.
fn dedup(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

// ---- JSON request bodies ----

/// A non-empty string member.
fn text<'v>(body: &'v Value, key: &str) -> Option<&'v str> {
    body.get(key)?.as_str().filter(|s| !s.is_empty())
}

/// The non-empty strings of an array member.
fn texts<'v>(body: &'v Value, key: &str) -> Vec<&'v str> {
    objects(body, key)
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The elements of an array member.
fn objects<'v>(body: &'v Value, key: &str) -> &'v [Value] {
    body.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A member nested under `path`.
fn nested<'v>(body: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(body, |v, key| v.get(key))
}

/// A number given as a JSON number or a string of digits.
fn integer(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// Tags given as a list of objects with key and value members (`[{"key","value"}]` in
/// ECS, `[{"Key","Value"}]` in ECR).
fn listed_tags(body: &Value, key: &str, value: &str) -> Vec<(String, String)> {
    objects(body, "tags")
        .iter()
        .filter_map(|tag| {
            let k = text(tag, key)?;
            Some((k.to_owned(), text(tag, value).unwrap_or("").to_owned()))
        })
        .collect()
}

/// Tags given as an object (`{"KEY": "VALUE"}`, CloudWatch Logs).
fn mapped_tags(body: &Value, member: &str) -> Vec<(String, String)> {
    body.get(member)
        .and_then(Value::as_object)
        .map(|tags| {
            tags.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

// ---- Query (form) parameters ----

/// A Query request's parameter by flattened name (`LoadBalancerArn`, `Names.member.1`).
type Params<'p> = &'p dyn Fn(&str) -> Option<String>;

/// A non-empty parameter.
fn param(params: Params<'_>, name: &str) -> Option<String> {
    params(name).filter(|v| !v.is_empty())
}

/// The members of list parameter `name` (`name.member.1`, `name.member.2`, …).
fn members(params: Params<'_>, name: &str) -> Vec<String> {
    (1..)
        .map_while(|i| params(&format!("{name}.member.{i}")))
        .collect()
}

/// A field of each member of a list of structures (`name.member.N.field`).
fn member_fields(params: Params<'_>, name: &str, field: &str) -> Vec<String> {
    (1..)
        .map_while(|i| params(&format!("{name}.member.{i}.{field}")))
        .collect()
}

/// The `Tags.member.N.Key`/`.Value` pairs of a Query request.
fn query_tags(params: Params<'_>) -> Vec<(String, String)> {
    (1..)
        .map_while(|i| {
            let key = params(&format!("Tags.member.{i}.Key"))?;
            Some((
                key,
                params(&format!("Tags.member.{i}.Value")).unwrap_or_default(),
            ))
        })
        .collect()
}

// ---- ECS ----

/// What an ECS call (`X-Amz-Target: AmazonEC2ContainerServiceV20141113.OPERATION`, its JSON
/// body) asks IAM to allow. See the module documentation for the choices made.
pub fn ecs(operation: &str, body: &Value, at: Place<'_>) -> Vec<Requested> {
    ecs_known(operation, body, at).unwrap_or_else(|| unknown("ecs", operation))
}

/// [`ecs`] for the operations the table knows.
fn ecs_known(operation: &str, body: &Value, at: Place<'_>) -> Option<Vec<Requested>> {
    let e = Ecs { body, at };
    let action = format!("ecs:{operation}");
    let req = |resource: String| Requested::new(action.as_str(), resource);
    let tags = listed_tags(body, "key", "value");
    let out = match operation {
        "CreateCluster" => {
            let name = text(body, "clusterName").unwrap_or(DEFAULT_CLUSTER);
            let arn = e.arn(&format!("cluster/{name}"));
            let main = req(arn.clone())
                .with_all(
                    "ecs:capacity-provider",
                    e.providers("capacityProviders", "defaultCapacityProviderStrategy"),
                )
                .with_opt("ecs:fargate-ephemeral-storage-kms-key", e.storage_key())
                .with_tags(&tags);
            e.created(operation, main, arn, &tags)
        }
        "DeleteCluster"
        | "UpdateClusterSettings"
        | "DeregisterContainerInstance"
        | "ListContainerInstances"
        | "ListAttributes"
        | "SubmitTaskStateChange"
        | "SubmitContainerStateChange"
        | "SubmitAttachmentStateChanges" => vec![req(e.cluster_arn())],
        "UpdateCluster" => {
            vec![req(e.cluster_arn())
                .with_opt("ecs:fargate-ephemeral-storage-kms-key", e.storage_key())]
        }
        "PutClusterCapacityProviders" => vec![req(e.cluster_arn()).with_all(
            "ecs:capacity-provider",
            e.providers("capacityProviders", "defaultCapacityProviderStrategy"),
        )],
        "RegisterContainerInstance" => {
            let main = req(e.cluster_arn()).with_tags(&tags);
            let instances = e.arn(&format!("container-instance/{}/*", e.cluster_name()));
            e.created(operation, main, instances, &tags)
        }
        "DescribeClusters" => {
            let given = texts(body, "clusters");
            if given.is_empty() {
                vec![req(e.cluster_arn_of(None))]
            } else {
                given
                    .into_iter()
                    .map(|c| req(e.cluster_arn_of(Some(c))))
                    .collect()
            }
        }
        "ListClusters"
        | "ListTaskDefinitions"
        | "ListTaskDefinitionFamilies"
        | "DescribeTaskDefinition"
        | "DeregisterTaskDefinition"
        | "DiscoverPollEndpoint"
        | "ListAccountSettings" => vec![req("*".into())],
        "PutAccountSetting" | "PutAccountSettingDefault" | "DeleteAccountSetting" => {
            vec![req("*".into()).with_opt("ecs:account-setting", text(body, "name"))]
        }
        "ListServices" => vec![req("*".into()).with("ecs:cluster", e.cluster_arn())],
        "ListServicesByNamespace" => vec![req("*".into()).with_opt(
            "ecs:namespace",
            text(body, "namespace").filter(|n| n.starts_with("arn:")),
        )],
        "ListTasks" => match text(body, "containerInstance") {
            Some(instance) => vec![e.scoped(req(e.in_cluster("container-instance", instance)))],
            None => vec![req("*".into()).with("ecs:cluster", e.cluster_arn())],
        },
        "RegisterTaskDefinition" => {
            let family = text(body, "family").unwrap_or("");
            let arn = e.arn(&format!("task-definition/{family}:*"));
            let privileged = objects(body, "containerDefinitions")
                .iter()
                .any(|c| c.get("privileged").and_then(Value::as_bool) == Some(true));
            let main = req(arn.clone())
                .with_all(
                    "ecs:compute-compatibility",
                    texts(body, "requiresCompatibilities"),
                )
                .with("ecs:privileged", bool_text(privileged))
                .with_opt("ecs:task-cpu", integer(body.get("cpu")))
                .with_opt("ecs:task-memory", integer(body.get("memory")))
                .with_tags(&tags);
            let mut out = e.created(operation, main, arn, &tags);
            out.extend(e.passed(body, &["taskRoleArn", "executionRoleArn"], ECS_TASKS));
            out
        }
        "DeleteTaskDefinitions" => texts(body, "taskDefinitions")
            .into_iter()
            .map(|td| req(e.task_definition(Some(td))))
            .collect(),
        "RunTask" | "StartTask" => {
            let mut main = req(e.task_definition(text(body, "taskDefinition")))
                .with("ecs:cluster", e.cluster_arn());
            main = if operation == "RunTask" {
                main.with_all(
                    "ecs:capacity-provider",
                    e.providers("", "capacityProviderStrategy"),
                )
            } else {
                main.with_all(
                    "ecs:container-instances",
                    texts(body, "containerInstances")
                        .into_iter()
                        .map(|i| e.in_cluster("container-instance", i)),
                )
            };
            let execute = body.get("enableExecuteCommand").and_then(Value::as_bool);
            let main = main
                .with(
                    "ecs:enable-execute-command",
                    bool_text(execute.unwrap_or(false)),
                )
                .with_tags(&tags);
            let tasks = e.arn(&format!("task/{}/*", e.cluster_name()));
            let mut out = e.created(operation, main, tasks, &tags);
            if let Some(overrides) = body.get("overrides") {
                out.extend(e.passed(overrides, &["taskRoleArn", "executionRoleArn"], ECS_TASKS));
            }
            out.extend(e.volume_roles());
            out
        }
        "StopTask" => vec![e.scoped(req(e.in_cluster("task", text(body, "task").unwrap_or(""))))],
        "DescribeTasks" => e.each_in_cluster(&req, "task", "tasks"),
        "GetTaskProtection" | "UpdateTaskProtection" => {
            let tasks = e.each_in_cluster(&req, "task", "tasks");
            if tasks.is_empty() {
                vec![e.scoped(req(e.arn(&format!("task/{}/*", e.cluster_name()))))]
            } else {
                tasks
            }
        }
        "ExecuteCommand" => {
            let task = e.in_cluster("task", text(body, "task").unwrap_or(""));
            let cluster = e.cluster_of(&task);
            let with_keys = |r: Requested| {
                r.with("ecs:cluster", cluster.clone())
                    .with("ecs:task", task.clone())
                    .with_opt("ecs:container-name", text(body, "container"))
            };
            vec![
                with_keys(req(cluster.clone())),
                with_keys(req(task.clone())),
            ]
        }
        "DescribeContainerInstances" | "UpdateContainerInstancesState" => {
            e.each_in_cluster(&req, "container-instance", "containerInstances")
        }
        "PutAttributes" | "DeleteAttributes" => {
            let targets: Vec<Requested> = objects(body, "attributes")
                .iter()
                .filter(|a| text(a, "targetType").is_none_or(|t| t == "container-instance"))
                .filter_map(|a| text(a, "targetId"))
                .map(|id| e.scoped(req(e.in_cluster("container-instance", id))))
                .collect();
            if targets.is_empty() {
                vec![req("*".into()).with("ecs:cluster", e.cluster_arn())]
            } else {
                targets
            }
        }
        "TagResource" => {
            vec![req(text(body, "resourceArn").unwrap_or("*").into()).with_tags(&tags)]
        }
        "UntagResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())
            .with_all("aws:TagKeys", texts(body, "tagKeys"))],
        "ListTagsForResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())],
        "CreateService" => {
            let name = text(body, "serviceName").unwrap_or("");
            let arn = e.arn(&format!("service/{}/{name}", e.cluster_name()));
            let execute = body.get("enableExecuteCommand").and_then(Value::as_bool);
            let main = e
                .service_keys(req(arn.clone()).with("ecs:cluster", e.cluster_arn()))
                .with(
                    "ecs:enable-execute-command",
                    bool_text(execute.unwrap_or(false)),
                )
                .with_tags(&tags);
            let mut out = e.created(operation, main, arn, &tags);
            out.extend(e.passed(body, &["role"], ECS_SERVICE));
            out.extend(e.volume_roles());
            out
        }
        "UpdateService" => {
            let arn = e.in_cluster("service", text(body, "service").unwrap_or(""));
            let main = e.service_keys(e.scoped(req(arn))).with_opt(
                "ecs:enable-execute-command",
                body.get("enableExecuteCommand")
                    .and_then(Value::as_bool)
                    .map(bool_text),
            );
            let mut out = vec![main];
            out.extend(e.volume_roles());
            out
        }
        "DeleteService" | "ListServiceDeployments" | "UpdateServicePrimaryTaskSet" => {
            vec![e.scoped(req(
                e.in_cluster("service", text(body, "service").unwrap_or(""))
            ))]
        }
        "DescribeServices" => e.each_in_cluster(&req, "service", "services"),
        "DescribeServiceDeployments" => e.with_services(&req, texts(body, "serviceDeploymentArns")),
        "StopServiceDeployment" | "ContinueServiceDeployment" => e.with_services(
            &req,
            text(body, "serviceDeploymentArn").into_iter().collect(),
        ),
        "DescribeServiceRevisions" => e.with_services(&req, texts(body, "serviceRevisionArns")),
        "CreateTaskSet" => {
            let service = e.in_cluster("service", text(body, "service").unwrap_or(""));
            let arn = e.task_set(&service, "*");
            let main = req(arn.clone())
                .with("ecs:cluster", e.cluster_of(&service))
                .with("ecs:service", service.clone())
                .with(
                    "ecs:task-definition",
                    e.task_definition(text(body, "taskDefinition")),
                )
                .with_all(
                    "ecs:capacity-provider",
                    e.providers("", "capacityProviderStrategy"),
                )
                .with_tags(&tags);
            e.created(operation, main, arn, &tags)
        }
        "DeleteTaskSet" | "UpdateTaskSet" | "DescribeTaskSets" => {
            let service = e.in_cluster("service", text(body, "service").unwrap_or(""));
            let mut sets: Vec<&str> = texts(body, "taskSets");
            if let Some(one) = text(body, "taskSet") {
                sets.push(one);
            }
            if sets.is_empty() {
                sets.push("*");
            }
            sets.into_iter()
                .map(|set| {
                    req(e.task_set(&service, set))
                        .with("ecs:cluster", e.cluster_of(&service))
                        .with("ecs:service", service.clone())
                })
                .collect()
        }
        "CreateCapacityProvider" => {
            let arn = e.provider(text(body, "name").unwrap_or(""));
            let main = req(arn.clone()).with_tags(&tags);
            let mut out = e.created(operation, main, arn.clone(), &tags);
            if let Some(cluster) = text(body, "cluster") {
                out.push(
                    Requested::new(
                        "ecs:PutClusterCapacityProviders",
                        e.cluster_arn_of(Some(cluster)),
                    )
                    .with("ecs:capacity-provider", arn),
                );
            }
            if let Some(provider) = body.get("managedInstancesProvider") {
                out.extend(e.passed(provider, &["infrastructureRoleArn"], ECS_SERVICE));
            }
            out
        }
        "DeleteCapacityProvider" => {
            vec![req(e.provider(text(body, "capacityProvider").unwrap_or("")))]
        }
        "UpdateCapacityProvider" => vec![req(e.provider(text(body, "name").unwrap_or("")))],
        "DescribeCapacityProviders" => {
            let given = texts(body, "capacityProviders");
            if given.is_empty() {
                vec![req(e.arn("capacity-provider/*"))]
            } else {
                given.into_iter().map(|p| req(e.provider(p))).collect()
            }
        }
        _ => return None,
    };
    Some(out)
}

/// One ECS request being read.
struct Ecs<'a> {
    body: &'a Value,
    at: Place<'a>,
}

impl Ecs<'_> {
    /// An ECS ARN in the caller's account and region.
    fn arn(&self, resource: &str) -> String {
        self.at.arn("ecs", resource)
    }

    /// The cluster the request names (by name or ARN), `default` when none.
    fn cluster_name(&self) -> String {
        match text(self.body, "cluster") {
            None => DEFAULT_CLUSTER.to_owned(),
            Some(given) => match Arn::parse(given) {
                Ok(arn) if arn.resource_type() == "cluster" => arn.resource_path().to_owned(),
                _ => given.to_owned(),
            },
        }
    }

    /// The ARN of the cluster the request names.
    fn cluster_arn(&self) -> String {
        self.cluster_arn_of(text(self.body, "cluster"))
    }

    /// The ARN of a cluster given by name or ARN (`default` when none).
    fn cluster_arn_of(&self, given: Option<&str>) -> String {
        match given {
            Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
            Some(name) => self.arn(&format!("cluster/{name}")),
            None => self.arn(&format!("cluster/{DEFAULT_CLUSTER}")),
        }
    }

    /// The ARN of a resource that lives in a cluster (`task`, `container-instance`,
    /// `service`), given by id/name or ARN: the long format `KIND/CLUSTER/ID`, in the
    /// request's cluster unless a long ARN names its own.
    fn in_cluster(&self, kind: &str, given: &str) -> String {
        match Arn::parse(given) {
            Ok(arn) if arn.resource_path().contains('/') => given.to_owned(),
            Ok(arn) => {
                let id = match arn.resource_path() {
                    "" => arn.resource.clone(),
                    id => id.to_owned(),
                };
                Arn {
                    resource: format!("{kind}/{}/{id}", self.cluster_name()),
                    ..arn
                }
                .to_string()
            }
            Err(_) => self.arn(&format!("{kind}/{}/{given}", self.cluster_name())),
        }
    }

    /// The ARN of the cluster a `KIND/CLUSTER/…` ARN lives in (the request's cluster when
    /// it names none).
    fn cluster_of(&self, resource: &str) -> String {
        match Arn::parse(resource) {
            Ok(arn) => match arn.resource_path().split_once('/') {
                Some((cluster, _)) => Arn {
                    resource: format!("cluster/{cluster}"),
                    ..arn
                }
                .to_string(),
                None => self.cluster_arn(),
            },
            Err(_) => self.cluster_arn(),
        }
    }

    /// `request` with `ecs:cluster` of the cluster its resource lives in.
    fn scoped(&self, request: Requested) -> Requested {
        let cluster = self.cluster_of(&request.resource);
        request.with("ecs:cluster", cluster)
    }

    /// One scoped request for each id or ARN in list member `member`.
    fn each_in_cluster(
        &self,
        req: &dyn Fn(String) -> Requested,
        kind: &str,
        member: &str,
    ) -> Vec<Requested> {
        texts(self.body, member)
            .into_iter()
            .map(|given| self.scoped(req(self.in_cluster(kind, given))))
            .collect()
    }

    /// A task definition's ARN from `FAMILY:REVISION`, `FAMILY` or an ARN; a family
    /// without revision is `FAMILY:*` (see the module documentation).
    fn task_definition(&self, given: Option<&str>) -> String {
        let Some(given) = given else {
            return self.arn("task-definition/*");
        };
        let arn = if given.starts_with("arn:") {
            given.to_owned()
        } else {
            self.arn(&format!("task-definition/{given}"))
        };
        let family_and_revision = arn.rsplit('/').next().unwrap_or("");
        if family_and_revision.contains(':') {
            arn
        } else {
            format!("{arn}:*")
        }
    }

    /// A capacity provider's ARN from its name or ARN.
    fn provider(&self, given: &str) -> String {
        if given.starts_with("arn:") {
            given.to_owned()
        } else {
            self.arn(&format!("capacity-provider/{given}"))
        }
    }

    /// The capacity providers a request names, in list member `names` and strategy member
    /// `strategy`, as ARNs (`ecs:capacity-provider`).
    fn providers(&self, names: &str, strategy: &str) -> Vec<String> {
        let named = texts(self.body, names).into_iter();
        let in_strategy = objects(self.body, strategy)
            .iter()
            .filter_map(|item| text(item, "capacityProvider"));
        dedup(named.chain(in_strategy).map(|p| self.provider(p)).collect())
    }

    /// A task set's ARN in `service` (a service ARN): `task-set/CLUSTER/SERVICE/ID`.
    fn task_set(&self, service: &str, given: &str) -> String {
        if given.starts_with("arn:") {
            return given.to_owned();
        }
        match Arn::parse(service) {
            Ok(arn) => {
                let path = arn.resource_path().to_owned();
                Arn {
                    resource: format!("task-set/{path}/{given}"),
                    ..arn
                }
                .to_string()
            }
            Err(_) => self.arn(&format!(
                "task-set/{}/{service}/{given}",
                self.cluster_name()
            )),
        }
    }

    /// `ecs:fargate-ephemeral-storage-kms-key` of CreateCluster/UpdateCluster.
    fn storage_key(&self) -> Option<&str> {
        nested(
            self.body,
            &[
                "configuration",
                "managedStorageConfiguration",
                "fargateEphemeralStorageKmsKeyId",
            ],
        )
        .and_then(Value::as_str)
    }

    /// The condition keys CreateService and UpdateService take from their request.
    fn service_keys(&self, request: Requested) -> Requested {
        let body = self.body;
        let awsvpc = nested(body, &["networkConfiguration", "awsvpcConfiguration"]);
        let connect = body.get("serviceConnectConfiguration");
        request
            .with_opt(
                "ecs:task-definition",
                text(body, "taskDefinition").map(|td| self.task_definition(Some(td))),
            )
            .with_all(
                "ecs:capacity-provider",
                self.providers("", "capacityProviderStrategy"),
            )
            .with_opt("ecs:propagate-tags", text(body, "propagateTags"))
            .with_opt(
                "ecs:enable-ecs-managed-tags",
                body.get("enableECSManagedTags")
                    .and_then(Value::as_bool)
                    .map(bool_text),
            )
            .with_all(
                "ecs:subnet",
                awsvpc.map(|v| texts(v, "subnets")).unwrap_or_default(),
            )
            .with_opt(
                "ecs:auto-assign-public-ip",
                awsvpc
                    .and_then(|v| text(v, "assignPublicIp"))
                    .map(|ip| bool_text(ip == "ENABLED")),
            )
            .with_opt(
                "ecs:enable-service-connect",
                connect
                    .and_then(|c| c.get("enabled"))
                    .and_then(Value::as_bool)
                    .map(bool_text),
            )
            .with_opt(
                "ecs:namespace",
                connect
                    .and_then(|c| text(c, "namespace"))
                    .filter(|n| n.starts_with("arn:")),
            )
    }

    /// The entries a create needs: `main`, and with tags `ecs:TagResource` on the new
    /// `resource` (with `ecs:CreateAction`).
    fn created(
        &self,
        operation: &str,
        main: Requested,
        resource: String,
        tags: &[(String, String)],
    ) -> Vec<Requested> {
        let mut out = vec![main];
        if !tags.is_empty() {
            out.push(
                Requested::new("ecs:TagResource", resource)
                    .with("ecs:CreateAction", operation)
                    .with_tags(tags),
            );
        }
        out
    }

    /// `iam:PassRole` to `service` for each role member of `from` that is given.
    fn passed(&self, from: &Value, members: &[&str], service: &str) -> Vec<Requested> {
        members
            .iter()
            .filter_map(|member| text(from, member))
            .map(|role| pass_role(role, self.at.account, service))
            .collect()
    }

    /// `iam:PassRole` for the roles of managed EBS volumes (`volumeConfigurations`).
    fn volume_roles(&self) -> Vec<Requested> {
        objects(self.body, "volumeConfigurations")
            .iter()
            .filter_map(|v| v.get("managedEBSVolume"))
            .flat_map(|ebs| self.passed(ebs, &["roleArn"], ECS_SERVICE))
            .collect()
    }

    /// For service deployments or revisions (`KIND/CLUSTER/SERVICE/ID`): each with
    /// `ecs:cluster` and `ecs:service`, and the service itself (both are required
    /// resources of these actions).
    fn with_services(&self, req: &dyn Fn(String) -> Requested, given: Vec<&str>) -> Vec<Requested> {
        let mut out: Vec<Requested> = Vec::new();
        for arn in given {
            let parsed = Arn::parse(arn).ok();
            let service = parsed.as_ref().and_then(|a| {
                let mut parts = a.resource_path().splitn(3, '/');
                let (cluster, service) = (parts.next()?, parts.next()?);
                Some(
                    Arn {
                        resource: format!("service/{cluster}/{service}"),
                        ..a.clone()
                    }
                    .to_string(),
                )
            });
            let cluster = self.cluster_of(arn);
            out.push(
                req(arn.to_owned())
                    .with("ecs:cluster", cluster.clone())
                    .with_opt("ecs:service", service.clone()),
            );
            if let Some(service) = service {
                let on_service = req(service).with("ecs:cluster", cluster);
                if !out.contains(&on_service) {
                    out.push(on_service);
                }
            }
        }
        out
    }
}

// ---- ECR ----

/// What an ECR call (`AmazonEC2ContainerRegistry_V20150921.OPERATION`, its JSON body)
/// asks IAM to allow. A `registryId` names the account whose repository it is.
pub fn ecr(operation: &str, body: &Value, at: Place<'_>) -> Vec<Requested> {
    ecr_known(operation, body, at).unwrap_or_else(|| unknown("ecr", operation))
}

/// [`ecr`] for the operations the table knows.
fn ecr_known(operation: &str, body: &Value, at: Place<'_>) -> Option<Vec<Requested>> {
    let registry = Place {
        account: text(body, "registryId").unwrap_or(at.account),
        region: at.region,
    };
    let repository = |name: &str| registry.arn("ecr", &format!("repository/{name}"));
    let action = format!("ecr:{operation}");
    let req = |resource: String| Requested::new(action.as_str(), resource);
    let named = || {
        text(body, "repositoryName")
            .map(repository)
            .unwrap_or_else(|| "*".into())
    };
    let out = match operation {
        "BatchCheckLayerAvailability"
        | "BatchDeleteImage"
        | "BatchGetImage"
        | "CompleteLayerUpload"
        | "DeleteLifecyclePolicy"
        | "DeleteRepository"
        | "DeleteRepositoryPolicy"
        | "DescribeImageReplicationStatus"
        | "DescribeImages"
        | "DescribeImageScanFindings"
        | "DescribeImageSigningStatus"
        | "GetDownloadUrlForLayer"
        | "GetLifecyclePolicy"
        | "GetLifecyclePolicyPreview"
        | "GetRepositoryPolicy"
        | "InitiateLayerUpload"
        | "ListImages"
        | "PutImage"
        | "PutImageScanningConfiguration"
        | "PutImageTagMutability"
        | "PutLifecyclePolicy"
        | "SetRepositoryPolicy"
        | "StartImageScan"
        | "StartLifecyclePolicyPreview"
        | "UpdateImageStorageClass"
        | "UploadLayerPart" => vec![req(named())],
        "CreateRepository" => {
            let tags = listed_tags(body, "Key", "Value");
            let mut out = vec![req(named()).with_tags(&tags)];
            if !tags.is_empty() {
                out.push(Requested::new("ecr:TagResource", named()).with_tags(&tags));
            }
            out
        }
        "DescribeRepositories" | "BatchGetRepositoryScanningConfiguration" => {
            let names = texts(body, "repositoryNames");
            if names.is_empty() {
                vec![req(repository("*"))]
            } else {
                names.into_iter().map(|n| req(repository(n))).collect()
            }
        }
        "TagResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())
            .with_tags(&listed_tags(body, "Key", "Value"))],
        "UntagResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())
            .with_all("aws:TagKeys", texts(body, "tagKeys"))],
        "ListTagsForResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())],
        "GetAuthorizationToken"
        | "CreatePullThroughCacheRule"
        | "DeletePullThroughCacheRule"
        | "DescribePullThroughCacheRules"
        | "UpdatePullThroughCacheRule"
        | "ValidatePullThroughCacheRule"
        | "CreateRepositoryCreationTemplate"
        | "DeleteRepositoryCreationTemplate"
        | "DescribeRepositoryCreationTemplates"
        | "UpdateRepositoryCreationTemplate"
        | "DeleteRegistryPolicy"
        | "GetRegistryPolicy"
        | "PutRegistryPolicy"
        | "DescribeRegistry"
        | "GetRegistryScanningConfiguration"
        | "PutRegistryScanningConfiguration"
        | "PutReplicationConfiguration"
        | "DeleteSigningConfiguration"
        | "GetSigningConfiguration"
        | "PutSigningConfiguration"
        | "RegisterPullTimeUpdateExclusion"
        | "DeregisterPullTimeUpdateExclusion"
        | "ListPullTimeUpdateExclusions" => vec![req("*".into())],
        "GetAccountSetting" | "PutAccountSetting" => {
            vec![req("*".into()).with_opt("ecr:AccountSetting", text(body, "name"))]
        }
        _ => return None,
    };
    Some(out)
}

/// What a Docker registry API request (`/v2/…`, with its query string) asks IAM to
/// allow, as ECR authorizes the same operations (see the module documentation). A
/// repository name may contain slashes.
pub fn registry(method: &Method, path_and_query: &str, at: Place<'_>) -> Vec<Requested> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if path == "/v2" || path == "/v2/" {
        return Vec::new();
    }
    let on = |action: &str, name: &str| {
        Requested::new(
            format!("ecr:{action}"),
            at.arn("ecr", &format!("repository/{name}")),
        )
    };
    let method = method.as_str();
    let out = match route::parse(path) {
        Some(Route::Catalog) if method == "GET" => vec![on("DescribeRepositories", "*")],
        Some(Route::Tags { name }) if method == "GET" => vec![on("ListImages", &name)],
        Some(Route::Manifest { name, .. }) => match method {
            "GET" | "HEAD" => vec![on("BatchGetImage", &name)],
            "PUT" => vec![on("PutImage", &name)],
            "DELETE" => vec![on("BatchDeleteImage", &name)],
            _ => Vec::new(),
        },
        Some(Route::Blob { name, .. }) => match method {
            "GET" => vec![on("GetDownloadUrlForLayer", &name)],
            "HEAD" => vec![on("BatchCheckLayerAvailability", &name)],
            "DELETE" => vec![on("BatchDeleteImage", &name)],
            _ => Vec::new(),
        },
        Some(Route::UploadStart { name }) if method == "POST" => {
            let mut out = vec![on("InitiateLayerUpload", &name)];
            if query_value(query, "digest").is_some() {
                out.push(on("UploadLayerPart", &name));
                out.push(on("CompleteLayerUpload", &name));
            }
            if let (Some(_), Some(from)) = (query_value(query, "mount"), query_value(query, "from"))
            {
                out.push(on("GetDownloadUrlForLayer", &from));
            }
            out
        }
        Some(Route::Upload { name, .. }) => match method {
            "PATCH" | "GET" | "DELETE" => vec![on("UploadLayerPart", &name)],
            "PUT" => vec![on("CompleteLayerUpload", &name)],
            _ => Vec::new(),
        },
        Some(Route::Referrers { name, .. }) if method == "GET" => {
            vec![on("BatchGetImage", &name)]
        }
        _ => Vec::new(),
    };
    if out.is_empty() {
        vec![Requested::new("ecr:RegistryRequest", "*")]
    } else {
        out
    }
}

/// A query string's first value of `key`, percent-decoded; `None` when absent or empty.
fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
        .filter(|v| !v.is_empty())
}

/// `%XX` escapes decoded (an invalid escape is kept as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- CloudWatch Logs ----

/// What a Secrets Manager call (`secretsmanager.OPERATION`) asks IAM to allow: the
/// action of the same name on the secret's ARN. That ARN ends in a random suffix only
/// the store knows, so the front door resolves it (`secret_arn`); without it (a secret
/// not yet made, or not found) the resource is `secret:NAME-??????`, which a policy on
/// `NAME-*` or `NAME-??????` (AWS's advice for naming secrets in policies) matches.
/// Each carries `secretsmanager:SecretId` as given; CreateSecret also
/// `secretsmanager:Name`, and with tags needs `secretsmanager:TagResource` too, with
/// the request's tag keys. ListSecrets (and the account-wide actions) are on `*`.
pub fn secretsmanager(
    operation: &str,
    body: &Value,
    at: Place<'_>,
    secret_arn: Option<&str>,
) -> Vec<Requested> {
    const ON_A_SECRET: &[&str] = &[
        "CreateSecret",
        "GetSecretValue",
        "PutSecretValue",
        "UpdateSecret",
        "DescribeSecret",
        "DeleteSecret",
        "RestoreSecret",
        "TagResource",
        "UntagResource",
        "GetResourcePolicy",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
        "ValidateResourcePolicy",
        "RotateSecret",
        "CancelRotateSecret",
        "UpdateSecretVersionStage",
        "ListSecretVersionIds",
        "ReplicateSecretToRegions",
        "RemoveRegionsFromReplication",
        "StopReplicationToReplica",
    ];
    let action = format!("secretsmanager:{operation}");
    if ["ListSecrets", "GetRandomPassword", "BatchGetSecretValue"].contains(&operation) {
        return vec![Requested::new(action, "*")];
    }
    if !ON_A_SECRET.contains(&operation) {
        return unknown("secretsmanager", operation);
    }
    let given = text(body, "SecretId").or_else(|| text(body, "Name"));
    let resource = match (secret_arn, given) {
        (Some(arn), _) => arn.to_string(),
        (None, Some(id)) if id.starts_with("arn:") => id.to_string(),
        (None, id) => format!(
            "arn:aws:secretsmanager:{}:{}:secret:{}-??????",
            at.region,
            at.account,
            id.unwrap_or("*")
        ),
    };
    let tags = listed_tags_of(body, "Tags");
    let main = Requested::new(action, resource.clone())
        .with_opt("secretsmanager:SecretId", text(body, "SecretId"));
    match operation {
        "CreateSecret" => {
            let main = main.with_opt("secretsmanager:Name", text(body, "Name"));
            if tags.is_empty() {
                vec![main]
            } else {
                vec![
                    main.with_tags(&tags),
                    Requested::new("secretsmanager:TagResource", resource).with_tags(&tags),
                ]
            }
        }
        "TagResource" => vec![main.with_tags(&tags)],
        "UntagResource" => vec![main.with_all(
            "aws:TagKeys",
            texts(body, "TagKeys").into_iter().map(str::to_owned),
        )],
        _ => vec![main],
    }
}

/// What an SSM Parameter Store call (`AmazonSSM.OPERATION`) asks IAM to allow: the
/// action on each parameter it names, `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME` (a
/// path's leading `/` not doubled; a `:VERSION` or `:LABEL` selector dropped);
/// GetParametersByPath on the path's ARN; DescribeParameters on `*`. PutParameter with
/// tags also needs `ssm:AddTagsToResource` on the parameter.
pub fn ssm(operation: &str, body: &Value, at: Place<'_>) -> Vec<Requested> {
    let scope = crate::keys::Scope::new(at.account, at.region);
    let arn = |name: &str| crate::secrets::parameters::arn_for_authz(&scope, name);
    let action = format!("ssm:{operation}");
    match operation {
        "PutParameter"
        | "GetParameter"
        | "DeleteParameter"
        | "GetParameterHistory"
        | "LabelParameterVersion"
        | "UnlabelParameterVersion" => {
            let resource = arn(text(body, "Name").unwrap_or("*"));
            let tags = listed_tags_of(body, "Tags");
            let mut out = vec![Requested::new(action, resource.clone()).with_tags(&tags)];
            if operation == "PutParameter" && !tags.is_empty() {
                out.push(Requested::new("ssm:AddTagsToResource", resource).with_tags(&tags));
            }
            out
        }
        "GetParameters" | "DeleteParameters" => {
            dedup(texts(body, "Names").into_iter().map(&arn).collect())
                .into_iter()
                .map(|resource| Requested::new(action.as_str(), resource))
                .collect()
        }
        "GetParametersByPath" => vec![Requested::new(
            action,
            arn(text(body, "Path").unwrap_or("/")),
        )],
        "DescribeParameters" => vec![Requested::new(action, "*")],
        _ => unknown("ssm", operation),
    }
}

/// Tags given as `[{"Key": K, "Value": V}]` under `member` (Secrets Manager, SSM).
fn listed_tags_of(body: &Value, member: &str) -> Vec<(String, String)> {
    objects(body, member)
        .iter()
        .filter_map(|t| {
            Some((
                text(t, "Key")?.to_owned(),
                text(t, "Value").unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

/// What a CloudWatch Logs call (`Logs_20140328.OPERATION`, its JSON body) asks IAM to
/// allow. Log groups may be given by name or ARN (`logGroupIdentifier`); see the module
/// documentation for the ARN forms AWS evaluates.
pub fn logs(operation: &str, body: &Value, at: Place<'_>) -> Vec<Requested> {
    logs_known(operation, body, at).unwrap_or_else(|| unknown("logs", operation))
}

/// [`logs`] for the operations the table knows.
fn logs_known(operation: &str, body: &Value, at: Place<'_>) -> Option<Vec<Requested>> {
    let action = format!("logs:{operation}");
    let req = |resource: String| Requested::new(action.as_str(), resource);
    let named = text(body, "logGroupIdentifier").or_else(|| text(body, "logGroupName"));
    let group = |given: Option<&str>| LogGroup::of(given.unwrap_or(""), at);
    let out = match operation {
        "CreateExportTask"
        | "DeleteDataProtectionPolicy"
        | "DeleteLogGroup"
        | "DeleteMetricFilter"
        | "DeleteRetentionPolicy"
        | "DeleteSubscriptionFilter"
        | "DeleteTransformer"
        | "DescribeLogStreams"
        | "DescribeMetricFilters"
        | "DescribeSubscriptionFilters"
        | "FilterLogEvents"
        | "GetDataProtectionPolicy"
        | "GetLogGroupFields"
        | "GetTransformer"
        | "ListTagsLogGroup"
        | "PutBearerTokenAuthentication"
        | "PutDataProtectionPolicy"
        | "PutLogGroupDeletionProtection"
        | "PutMetricFilter"
        | "PutRetentionPolicy"
        | "PutTransformer" => vec![req(group(named).evaluated())],
        "DescribeLogGroups" => vec![req(group(None).evaluated())],
        "AssociateKmsKey" | "DisassociateKmsKey" => {
            let target = named
                .or_else(|| text(body, "resourceIdentifier").filter(|r| r.contains(":log-group:")));
            match target {
                Some(g) => vec![req(group(Some(g)).evaluated())],
                None => vec![req("*".into())],
            }
        }
        "CreateLogGroup" => {
            let tags = mapped_tags(body, "tags");
            let group = group(named);
            let mut out = vec![req(group.evaluated()).with_tags(&tags)];
            if !tags.is_empty() {
                out.push(Requested::new("logs:TagResource", group.bare()).with_tags(&tags));
            }
            out
        }
        "TagLogGroup" => vec![req(group(named).evaluated()).with_tags(&mapped_tags(body, "tags"))],
        "UntagLogGroup" => {
            vec![req(group(named).evaluated()).with_all("aws:TagKeys", texts(body, "tags"))]
        }
        "CreateLogStream" | "DeleteLogStream" | "GetLogEvents" | "PutLogEvents" => {
            let stream = text(body, "logStreamName").unwrap_or("");
            vec![req(group(named).stream(stream))]
        }
        "StartLiveTail" => texts(body, "logGroupIdentifiers")
            .into_iter()
            .map(|g| req(group(Some(g)).evaluated()))
            .collect(),
        "StartQuery" => {
            let mut given = texts(body, "logGroupIdentifiers");
            given.extend(texts(body, "logGroupNames"));
            given.extend(text(body, "logGroupName"));
            if given.is_empty() {
                vec![req(group(None).evaluated())]
            } else {
                let arns = given.into_iter().map(|g| group(Some(g)).evaluated());
                dedup(arns.collect()).into_iter().map(req).collect()
            }
        }
        "PutSubscriptionFilter" => {
            let mut out = vec![req(group(named).evaluated())];
            if let Some(destination) = text(body, "destinationArn").filter(|d| d.contains(":logs:"))
            {
                out.push(req(destination.to_owned()));
            }
            out.extend(text(body, "roleArn").map(|r| pass_role(r, at.account, LOGS_SERVICE)));
            out
        }
        "CreateLogAnomalyDetector" => {
            let tags = mapped_tags(body, "tags");
            texts(body, "logGroupArnList")
                .into_iter()
                .map(|g| req(group(Some(g)).evaluated()).with_tags(&tags))
                .collect()
        }
        "TagResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())
            .with_tags(&mapped_tags(body, "tags"))],
        "UntagResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())
            .with_all("aws:TagKeys", texts(body, "tagKeys"))],
        "ListTagsForResource" => vec![req(text(body, "resourceArn").unwrap_or("*").into())],
        "PutDestination" => {
            let name = text(body, "destinationName").unwrap_or("");
            let mut out = vec![req(at.arn("logs", &format!("destination:{name}")))
                .with_tags(&mapped_tags(body, "tags"))];
            out.extend(text(body, "roleArn").map(|r| pass_role(r, at.account, LOGS_SERVICE)));
            out
        }
        "PutDestinationPolicy" | "DeleteDestination" => {
            let name = text(body, "destinationName").unwrap_or("");
            vec![req(at.arn("logs", &format!("destination:{name}")))]
        }
        "DeleteLogAnomalyDetector"
        | "GetLogAnomalyDetector"
        | "UpdateLogAnomalyDetector"
        | "UpdateAnomaly"
        | "ListAnomalies" => vec![req(text(body, "anomalyDetectorArn").unwrap_or("*").into())],
        "CancelExportTask"
        | "DeleteAccountPolicy"
        | "DeleteIndexPolicy"
        | "DeleteQueryDefinition"
        | "DeleteResourcePolicy"
        | "DescribeAccountPolicies"
        | "DescribeDestinations"
        | "DescribeExportTasks"
        | "DescribeFieldIndexes"
        | "DescribeIndexPolicies"
        | "DescribeQueries"
        | "DescribeQueryDefinitions"
        | "DescribeResourcePolicies"
        | "GetLogFields"
        | "GetLogRecord"
        | "GetQueryResults"
        | "ListAggregateLogGroupSummaries"
        | "ListLogAnomalyDetectors"
        | "ListLogGroups"
        | "ListLogGroupsForQuery"
        | "PutAccountPolicy"
        | "PutIndexPolicy"
        | "PutQueryDefinition"
        | "PutResourcePolicy"
        | "StopQuery"
        | "TestMetricFilter"
        | "TestTransformer" => vec![req("*".into())],
        _ => return None,
    };
    Some(out)
}

/// A log group as a request names it (name or ARN, with or without the trailing `:*`).
struct LogGroup {
    partition: String,
    region: String,
    account: String,
    name: String,
}

impl LogGroup {
    /// The group `given` names (an empty name: every group of the account).
    fn of(given: &str, at: Place<'_>) -> LogGroup {
        if let Ok(arn) = Arn::parse(given) {
            if let Some(rest) = arn.resource.strip_prefix("log-group:") {
                let name = rest.strip_suffix(":*").unwrap_or(rest);
                let name = name.split(":log-stream:").next().unwrap_or(name);
                return LogGroup {
                    name: name.to_owned(),
                    partition: arn.partition,
                    region: arn.region,
                    account: arn.account,
                };
            }
        }
        LogGroup {
            partition: "aws".into(),
            region: at.region.to_owned(),
            account: at.account.to_owned(),
            name: given.to_owned(),
        }
    }

    /// `arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME`.
    fn bare(&self) -> String {
        format!(
            "arn:{}:logs:{}:{}:log-group:{}",
            self.partition, self.region, self.account, self.name
        )
    }

    /// The ARN AWS evaluates log group actions on: `…:log-group:NAME:log-stream:`.
    fn evaluated(&self) -> String {
        self.stream("")
    }

    /// A stream of the group: `…:log-group:NAME:log-stream:STREAM`.
    fn stream(&self, stream: &str) -> String {
        format!("{}:log-stream:{stream}", self.bare())
    }
}

// ---- ELBv2 ----

/// What an ELBv2 Query call (`Action=…`, `Version=2015-12-01`) asks IAM to allow;
/// `params` reads a parameter by its flattened name (`LoadBalancerArn`, `Names.member.1`).
pub fn elbv2(
    action: &str,
    params: &dyn Fn(&str) -> Option<String>,
    at: Place<'_>,
) -> Vec<Requested> {
    elbv2_known(action, params, at).unwrap_or_else(|| unknown("elasticloadbalancing", action))
}

/// [`elbv2`] for the actions the table knows.
fn elbv2_known(action: &str, params: Params<'_>, at: Place<'_>) -> Option<Vec<Requested>> {
    let name = format!("elasticloadbalancing:{action}");
    let req = |resource: String| Requested::new(name.as_str(), resource);
    let given = |member: &str| param(params, member).unwrap_or_else(|| "*".into());
    let tags = query_tags(params);
    let created = |main: Requested, resource: String| {
        let mut out = vec![main];
        if !tags.is_empty() {
            out.push(
                Requested::new("elasticloadbalancing:AddTags", resource)
                    .with("elasticloadbalancing:CreateAction", action)
                    .with_tags(&tags),
            );
        }
        out
    };
    let security_groups = || members(params, "SecurityGroups");
    let subnets = || {
        let mut all = members(params, "Subnets");
        all.extend(member_fields(params, "SubnetMappings", "SubnetId"));
        dedup(all)
    };
    let out = match action {
        "CreateLoadBalancer" => {
            let kind = match param(params, "Type").as_deref() {
                Some("network") => "net",
                Some("gateway") => "gwy",
                _ => "app",
            };
            let lb = param(params, "Name").unwrap_or_default();
            let arn = at.arn(
                "elasticloadbalancing",
                &format!("loadbalancer/{kind}/{lb}/*"),
            );
            let main = req(arn.clone())
                .with_opt("elasticloadbalancing:Scheme", param(params, "Scheme"))
                .with_all("elasticloadbalancing:SecurityGroup", security_groups())
                .with_all("elasticloadbalancing:Subnet", subnets())
                .with_tags(&tags);
            created(main, arn)
        }
        "CreateTargetGroup" | "CreateTrustStore" => {
            let kind = if action == "CreateTargetGroup" {
                "targetgroup"
            } else {
                "truststore"
            };
            let named = param(params, "Name").unwrap_or_default();
            let arn = at.arn("elasticloadbalancing", &format!("{kind}/{named}/*"));
            created(req(arn.clone()).with_tags(&tags), arn)
        }
        "CreateListener" => {
            let lb = given("LoadBalancerArn");
            let main = req(lb.clone())
                .with_opt(
                    "elasticloadbalancing:ListenerProtocol",
                    param(params, "Protocol"),
                )
                .with_opt(
                    "elasticloadbalancing:SecurityPolicy",
                    param(params, "SslPolicy"),
                )
                .with_tags(&tags);
            created(main, child_wildcard(&lb, ":loadbalancer/", ":listener/"))
        }
        "CreateRule" => {
            let listener = given("ListenerArn");
            let main = req(listener.clone()).with_tags(&tags);
            created(
                main,
                child_wildcard(&listener, ":listener/", ":listener-rule/"),
            )
        }
        "DeleteLoadBalancer"
        | "ModifyLoadBalancerAttributes"
        | "SetIpAddressType"
        | "ModifyCapacityReservation"
        | "ModifyIpPools" => vec![req(given("LoadBalancerArn"))],
        "SetSecurityGroups" => vec![req(given("LoadBalancerArn"))
            .with_all("elasticloadbalancing:SecurityGroup", security_groups())],
        "SetSubnets" => {
            vec![req(given("LoadBalancerArn")).with_all("elasticloadbalancing:Subnet", subnets())]
        }
        "DeleteTargetGroup"
        | "ModifyTargetGroup"
        | "ModifyTargetGroupAttributes"
        | "RegisterTargets"
        | "DeregisterTargets" => vec![req(given("TargetGroupArn"))],
        "DeleteListener"
        | "ModifyListenerAttributes"
        | "AddListenerCertificates"
        | "RemoveListenerCertificates" => vec![req(given("ListenerArn"))],
        "ModifyListener" => vec![req(given("ListenerArn"))
            .with_opt(
                "elasticloadbalancing:ListenerProtocol",
                param(params, "Protocol"),
            )
            .with_opt(
                "elasticloadbalancing:SecurityPolicy",
                param(params, "SslPolicy"),
            )],
        "DeleteRule" | "ModifyRule" => vec![req(given("RuleArn"))],
        "SetRulePriorities" => member_fields(params, "RulePriorities", "RuleArn")
            .into_iter()
            .map(req)
            .collect(),
        "AddTrustStoreRevocations"
        | "RemoveTrustStoreRevocations"
        | "DeleteTrustStore"
        | "ModifyTrustStore"
        | "GetTrustStoreCaCertificatesBundle"
        | "GetTrustStoreRevocationContent"
        | "DeleteSharedTrustStoreAssociation" => vec![req(given("TrustStoreArn"))],
        "GetResourcePolicy" => vec![req(given("ResourceArn"))],
        "AddTags" => members(params, "ResourceArns")
            .into_iter()
            .map(|arn| req(arn).with_tags(&tags))
            .collect(),
        "RemoveTags" => members(params, "ResourceArns")
            .into_iter()
            .map(|arn| req(arn).with_all("aws:TagKeys", members(params, "TagKeys")))
            .collect(),
        "DescribeAccountLimits"
        | "DescribeCapacityReservation"
        | "DescribeListenerAttributes"
        | "DescribeListenerCertificates"
        | "DescribeListeners"
        | "DescribeLoadBalancerAttributes"
        | "DescribeLoadBalancers"
        | "DescribeRules"
        | "DescribeSSLPolicies"
        | "DescribeTags"
        | "DescribeTargetGroupAttributes"
        | "DescribeTargetGroups"
        | "DescribeTargetHealth"
        | "DescribeTrustStoreAssociations"
        | "DescribeTrustStoreRevocations"
        | "DescribeTrustStores" => vec![req("*".into())],
        _ => return None,
    };
    Some(out)
}

/// The ARNs under a parent that do not exist yet: `…:loadbalancer/app/N/ID` with `from` =
/// `:loadbalancer/`, `to` = `:listener/` gives `…:listener/app/N/ID/*`. A parent that is
/// not of the `from` type gives `*`.
fn child_wildcard(parent: &str, from: &str, to: &str) -> String {
    if parent.contains(from) {
        format!("{}/*", parent.replacen(from, to, 1))
    } else {
        "*".into()
    }
}

// ---- STS ----

/// What an STS Query call asks IAM to allow (`AssumeRole` is also decided by the role's
/// trust policy, which the evaluator reads with the same entry).
pub fn sts(action: &str, params: &dyn Fn(&str) -> Option<String>, at: Place<'_>) -> Vec<Requested> {
    let name = format!("sts:{action}");
    let role = || param(params, "RoleArn").unwrap_or_else(|| "*".into());
    match action {
        "GetCallerIdentity" => Vec::new(),
        "AssumeRole" => {
            let tags = query_tags(params);
            let transitive = members(params, "TransitiveTagKeys");
            let source = param(params, "SourceIdentity");
            let mut out = vec![Requested::new(name, role())
                .with_opt("sts:RoleSessionName", param(params, "RoleSessionName"))
                .with_opt("sts:ExternalId", param(params, "ExternalId"))
                .with_opt("sts:SourceIdentity", source.clone())
                .with_all("sts:TransitiveTagKeys", transitive.clone())
                .with_tags(&tags)];
            if !tags.is_empty() {
                out.push(
                    Requested::new("sts:TagSession", role())
                        .with_all("sts:TransitiveTagKeys", transitive)
                        .with_tags(&tags),
                );
            }
            if let Some(source) = source {
                out.push(
                    Requested::new("sts:SetSourceIdentity", role())
                        .with("sts:SourceIdentity", source),
                );
            }
            out
        }
        "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" => vec![Requested::new(name, role())
            .with_opt("sts:RoleSessionName", param(params, "RoleSessionName"))],
        "AssumeRoot" => {
            let target = param(params, "TargetPrincipal").unwrap_or_default();
            vec![Requested::new(name, format!("arn:aws:iam::{target}:root"))
                .with_opt("sts:TaskPolicyArn", param(params, "TaskPolicyArn.arn"))]
        }
        "GetFederationToken" => {
            let user = param(params, "Name").unwrap_or_default();
            vec![Requested::new(
                name,
                format!("arn:aws:sts::{}:federated-user/{user}", at.account),
            )
            .with_tags(&query_tags(params))]
        }
        "GetSessionToken"
        | "DecodeAuthorizationMessage"
        | "GetAccessKeyInfo"
        | "GetWebIdentityToken"
        | "GetDelegatedAccessToken" => vec![Requested::new(name, "*")],
        _ => unknown("sts", action),
    }
}

// ---- IAM ----

/// An IAM entity whose stored ARN (with its path) the caller can look up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IamKind {
    User,
    Role,
    Group,
    InstanceProfile,
}

impl IamKind {
    /// The ARN's resource type: `user`, `role`, `group`, `instance-profile`.
    pub fn word(self) -> &'static str {
        match self {
            IamKind::User => "user",
            IamKind::Role => "role",
            IamKind::Group => "group",
            IamKind::InstanceProfile => "instance-profile",
        }
    }
}

/// Who asks IAM: the account, and the caller's own ARN (the resource of actions whose
/// optional `UserName` is absent, such as ListAccessKeys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IamPlace<'a> {
    pub account: &'a str,
    pub caller: &'a str,
}

/// What an IAM Query call asks IAM to allow. `arn_of` gives the stored ARN (with its
/// path) of a user, role, group or instance profile by name, `None` when it does not
/// exist (then the ARN is `arn:aws:iam::ACCOUNT:KIND/NAME`). Creates build the new ARN
/// from the request's `Path`.
pub fn iam(
    action: &str,
    params: &dyn Fn(&str) -> Option<String>,
    at: IamPlace<'_>,
    arn_of: &dyn Fn(IamKind, &str) -> Option<String>,
) -> Vec<Requested> {
    iam_known(action, params, at, arn_of).unwrap_or_else(|| unknown("iam", action))
}

/// How an IAM action finds its resource.
enum IamTarget {
    /// An entity named by a parameter (`UserName`, `RoleName`, …).
    Entity(IamKind, &'static str),
    /// The user named by `UserName`, or the caller when it is absent.
    UserOrCaller,
    /// A full ARN given in a parameter.
    Given(&'static str),
    /// A path-named entity without a lookup: `WORD` + `/NAME` from a parameter.
    Named(&'static str, &'static str),
    /// A listing of one kind: `WORD` + the request's `PathPrefix`.
    Listing(&'static str),
    /// No particular resource.
    Anything,
}

/// The resource each IAM action the table knows is on.
fn iam_target(action: &str) -> Option<IamTarget> {
    use IamKind::{Group, InstanceProfile, Role, User};
    use IamTarget::*;
    Some(match action {
        "ChangePassword"
        | "CreateAccessKey"
        | "CreateLoginProfile"
        | "DeactivateMFADevice"
        | "DeleteAccessKey"
        | "DeleteLoginProfile"
        | "DeleteServiceSpecificCredential"
        | "DeleteSigningCertificate"
        | "GetLoginProfile"
        | "GetMFADevice"
        | "GetUser"
        | "ListAccessKeys"
        | "ListMFADevices"
        | "ListServiceSpecificCredentials"
        | "ListSigningCertificates"
        | "ListSSHPublicKeys"
        | "ResetServiceSpecificCredential"
        | "UpdateAccessKey"
        | "UpdateLoginProfile"
        | "UpdateServiceSpecificCredential"
        | "UpdateSigningCertificate"
        | "UploadSigningCertificate" => UserOrCaller,
        "AttachUserPolicy"
        | "CreateServiceSpecificCredential"
        | "DeleteSSHPublicKey"
        | "DeleteUser"
        | "DeleteUserPermissionsBoundary"
        | "DeleteUserPolicy"
        | "DetachUserPolicy"
        | "EnableMFADevice"
        | "GetSSHPublicKey"
        | "GetUserPolicy"
        | "ListAttachedUserPolicies"
        | "ListGroupsForUser"
        | "ListUserPolicies"
        | "ListUserTags"
        | "PutUserPermissionsBoundary"
        | "PutUserPolicy"
        | "ResyncMFADevice"
        | "TagUser"
        | "UntagUser"
        | "UpdateSSHPublicKey"
        | "UploadSSHPublicKey" => Entity(User, "UserName"),
        "AddUserToGroup"
        | "AttachGroupPolicy"
        | "DeleteGroup"
        | "DeleteGroupPolicy"
        | "DetachGroupPolicy"
        | "GetGroup"
        | "GetGroupPolicy"
        | "ListAttachedGroupPolicies"
        | "ListGroupPolicies"
        | "PutGroupPolicy"
        | "RemoveUserFromGroup" => Entity(Group, "GroupName"),
        "AttachRolePolicy"
        | "DeleteRole"
        | "DeleteRolePermissionsBoundary"
        | "DeleteRolePolicy"
        | "DeleteServiceLinkedRole"
        | "DetachRolePolicy"
        | "GetRole"
        | "GetRolePolicy"
        | "ListAttachedRolePolicies"
        | "ListInstanceProfilesForRole"
        | "ListRolePolicies"
        | "ListRoleTags"
        | "PutRolePermissionsBoundary"
        | "PutRolePolicy"
        | "TagRole"
        | "UntagRole"
        | "UpdateAssumeRolePolicy"
        | "UpdateRole"
        | "UpdateRoleDescription" => Entity(Role, "RoleName"),
        "AddRoleToInstanceProfile"
        | "DeleteInstanceProfile"
        | "GetInstanceProfile"
        | "ListInstanceProfileTags"
        | "RemoveRoleFromInstanceProfile"
        | "TagInstanceProfile"
        | "UntagInstanceProfile" => Entity(InstanceProfile, "InstanceProfileName"),
        "CreatePolicyVersion"
        | "DeletePolicy"
        | "DeletePolicyVersion"
        | "GetPolicy"
        | "GetPolicyVersion"
        | "ListEntitiesForPolicy"
        | "ListPolicyTags"
        | "ListPolicyVersions"
        | "SetDefaultPolicyVersion"
        | "TagPolicy"
        | "UntagPolicy" => Given("PolicyArn"),
        "AddClientIDToOpenIDConnectProvider"
        | "DeleteOpenIDConnectProvider"
        | "GetOpenIDConnectProvider"
        | "ListOpenIDConnectProviderTags"
        | "RemoveClientIDFromOpenIDConnectProvider"
        | "TagOpenIDConnectProvider"
        | "UntagOpenIDConnectProvider"
        | "UpdateOpenIDConnectProviderThumbprint" => Given("OpenIDConnectProviderArn"),
        "DeleteSAMLProvider"
        | "GetSAMLProvider"
        | "ListSAMLProviderTags"
        | "TagSAMLProvider"
        | "UntagSAMLProvider"
        | "UpdateSAMLProvider" => Given("SAMLProviderArn"),
        "DeleteVirtualMFADevice" | "ListMFADeviceTags" | "TagMFADevice" | "UntagMFADevice" => {
            Given("SerialNumber")
        }
        "GetContextKeysForPrincipalPolicy" | "SimulatePrincipalPolicy" => Given("PolicySourceArn"),
        "GenerateServiceLastAccessedDetails" | "ListPoliciesGrantingServiceAccess" => Given("Arn"),
        "DeleteServerCertificate"
        | "GetServerCertificate"
        | "ListServerCertificateTags"
        | "TagServerCertificate"
        | "UntagServerCertificate" => Named("server-certificate", "ServerCertificateName"),
        "ListUsers" => Listing("user"),
        "ListRoles" => Listing("role"),
        "ListGroups" => Listing("group"),
        "ListInstanceProfiles" => Listing("instance-profile"),
        "ListPolicies" => Listing("policy"),
        "ListServerCertificates" => Listing("server-certificate"),
        "CreateAccountAlias"
        | "DeleteAccountAlias"
        | "DeleteAccountPasswordPolicy"
        | "DisableOrganizationsRootCredentialsManagement"
        | "DisableOrganizationsRootSessions"
        | "DisableOutboundWebIdentityFederation"
        | "EnableOrganizationsRootCredentialsManagement"
        | "EnableOrganizationsRootSessions"
        | "EnableOutboundWebIdentityFederation"
        | "GenerateCredentialReport"
        | "GetAccountAuthorizationDetails"
        | "GetAccountPasswordPolicy"
        | "GetAccountSummary"
        | "GetContextKeysForCustomPolicy"
        | "GetCredentialReport"
        | "GetOrganizationsAccessReport"
        | "GetOutboundWebIdentityFederationInfo"
        | "GetServiceLastAccessedDetails"
        | "GetServiceLastAccessedDetailsWithEntities"
        | "ListAccountAliases"
        | "ListOpenIDConnectProviders"
        | "ListOrganizationsFeatures"
        | "ListSAMLProviders"
        | "ListVirtualMFADevices"
        | "SetSecurityTokenServicePreferences"
        | "SimulateCustomPolicy"
        | "UpdateAccountPasswordPolicy" => Anything,
        _ => return None,
    })
}

/// `/` for no path, else the path with its leading and trailing `/`.
fn iam_path(path: Option<String>) -> String {
    match path {
        None => "/".into(),
        Some(path) => {
            let inner = path.trim_matches('/');
            if inner.is_empty() {
                "/".into()
            } else {
                format!("/{inner}/")
            }
        }
    }
}

/// The name IAM gives a service's service-linked role, for the services Berth knows.
fn service_linked_role_name(service: &str) -> Option<&'static str> {
    match service {
        "ecs.amazonaws.com" => Some("AWSServiceRoleForECS"),
        "elasticloadbalancing.amazonaws.com" => Some("AWSServiceRoleForElasticLoadBalancing"),
        _ => None,
    }
}

/// [`iam`] for the actions the table knows.
fn iam_known(
    action: &str,
    params: Params<'_>,
    at: IamPlace<'_>,
    arn_of: &dyn Fn(IamKind, &str) -> Option<String>,
) -> Option<Vec<Requested>> {
    let account = at.account;
    let name = format!("iam:{action}");
    let iam_arn = |resource: &str| format!("arn:aws:iam::{account}:{resource}");
    let entity = |kind: IamKind, entity_name: &str| {
        arn_of(kind, entity_name)
            .unwrap_or_else(|| iam_arn(&format!("{}/{entity_name}", kind.word())))
    };
    let new_arn = |word: &str, name_param: &str| {
        let new_name = param(params, name_param).unwrap_or_default();
        iam_arn(&format!(
            "{word}{}{new_name}",
            iam_path(param(params, "Path"))
        ))
    };
    let tags = query_tags(params);
    // A create: the action, and with tags its tagging action, on the new ARN.
    let created = |main: Requested, tag_action: &str| {
        let resource = main.resource.clone();
        let mut out = vec![main.with_tags(&tags)];
        if !tags.is_empty() {
            out.push(Requested::new(format!("iam:{tag_action}"), resource).with_tags(&tags));
        }
        out
    };
    let boundary = || param(params, "PermissionsBoundary");
    let out = match action {
        "CreateUser" => created(
            Requested::new(name.as_str(), new_arn("user", "UserName"))
                .with_opt("iam:PermissionsBoundary", boundary()),
            "TagUser",
        ),
        "CreateRole" => created(
            Requested::new(name.as_str(), new_arn("role", "RoleName"))
                .with_opt("iam:PermissionsBoundary", boundary()),
            "TagRole",
        ),
        "CreateGroup" => vec![Requested::new(name.as_str(), new_arn("group", "GroupName"))],
        "CreateInstanceProfile" => created(
            Requested::new(
                name.as_str(),
                new_arn("instance-profile", "InstanceProfileName"),
            ),
            "TagInstanceProfile",
        ),
        "CreatePolicy" => created(
            Requested::new(name.as_str(), new_arn("policy", "PolicyName")),
            "TagPolicy",
        ),
        "UploadServerCertificate" => created(
            Requested::new(
                name.as_str(),
                new_arn("server-certificate", "ServerCertificateName"),
            ),
            "TagServerCertificate",
        ),
        "CreateVirtualMFADevice" => created(
            Requested::new(name.as_str(), new_arn("mfa", "VirtualMFADeviceName")),
            "TagMFADevice",
        ),
        "CreateSAMLProvider" => {
            let provider = param(params, "Name").unwrap_or_default();
            created(
                Requested::new(name.as_str(), iam_arn(&format!("saml-provider/{provider}"))),
                "TagSAMLProvider",
            )
        }
        "CreateOpenIDConnectProvider" => {
            let url = param(params, "Url").unwrap_or_default();
            let host_and_path = url
                .strip_prefix("https://")
                .unwrap_or(&url)
                .trim_end_matches('/');
            created(
                Requested::new(
                    name.as_str(),
                    iam_arn(&format!("oidc-provider/{host_and_path}")),
                ),
                "TagOpenIDConnectProvider",
            )
        }
        "CreateServiceLinkedRole" => {
            let service = param(params, "AWSServiceName").unwrap_or_default();
            let role = match (
                service_linked_role_name(&service),
                param(params, "CustomSuffix"),
            ) {
                (Some(role), Some(suffix)) => format!("{role}_{suffix}"),
                (Some(role), None) => role.to_owned(),
                (None, _) => "*".to_owned(),
            };
            vec![Requested::new(
                name.as_str(),
                iam_arn(&format!("role/aws-service-role/{service}/{role}")),
            )
            .with("iam:AWSServiceName", service)]
        }
        "GetServiceLinkedRoleDeletionStatus" => {
            // DeletionTaskId: task/aws-service-role/SERVICE/ROLE/ID
            let task = param(params, "DeletionTaskId").unwrap_or_default();
            let role = task
                .strip_prefix("task/")
                .and_then(|rest| rest.rsplit_once('/'))
                .map(|(role, _)| iam_arn(&format!("role/{role}")))
                .unwrap_or_else(|| "*".into());
            vec![Requested::new(name.as_str(), role)]
        }
        "UpdateUser" | "UpdateGroup" | "UpdateServerCertificate" => {
            let (kind, word, param_name, new_name_param) = match action {
                "UpdateUser" => (Some(IamKind::User), "user", "UserName", "NewUserName"),
                "UpdateGroup" => (Some(IamKind::Group), "group", "GroupName", "NewGroupName"),
                _ => (
                    None,
                    "server-certificate",
                    "ServerCertificateName",
                    "NewServerCertificateName",
                ),
            };
            let old_name = param(params, param_name).unwrap_or_default();
            let old = match kind {
                Some(kind) => entity(kind, &old_name),
                None => iam_arn(&format!("{word}/{old_name}")),
            };
            let mut out = vec![Requested::new(name.as_str(), old.clone())];
            let new_path = param(params, "NewPath");
            let new_name = param(params, new_name_param);
            if new_path.is_some() || new_name.is_some() {
                // The renamed entity: the new name and/or path, the rest as it was.
                let old_path = old
                    .split_once(&format!(":{word}"))
                    .and_then(|(_, rest)| rest.rsplit_once('/'))
                    .map(|(path, _)| format!("{path}/"))
                    .unwrap_or_else(|| "/".into());
                let path = new_path.map(|p| iam_path(Some(p))).unwrap_or(old_path);
                let renamed = iam_arn(&format!("{word}{path}{}", new_name.unwrap_or(old_name)));
                if renamed != old {
                    out.push(Requested::new(name.as_str(), renamed));
                }
            }
            out
        }
        "GetAccessKeyLastUsed" => vec![Requested::new(name.as_str(), iam_arn("user/*"))],
        _ => {
            let resource = match iam_target(action)? {
                IamTarget::Entity(kind, member) => {
                    entity(kind, &param(params, member).unwrap_or_default())
                }
                IamTarget::UserOrCaller => match param(params, "UserName") {
                    Some(user) => entity(IamKind::User, &user),
                    None => at.caller.to_owned(),
                },
                IamTarget::Given(member) => param(params, member).unwrap_or_else(|| "*".into()),
                IamTarget::Named(word, member) => iam_arn(&format!(
                    "{word}/{}",
                    param(params, member).unwrap_or_default()
                )),
                IamTarget::Listing(word) => {
                    let prefix = param(params, "PathPrefix").unwrap_or_else(|| "/".into());
                    iam_arn(&format!("{word}{prefix}"))
                }
                IamTarget::Anything => "*".into(),
            };
            let mut one = Requested::new(name.as_str(), resource);
            if action.starts_with("Attach") || action.starts_with("Detach") {
                one = one.with_opt("iam:PolicyARN", param(params, "PolicyArn"));
            }
            if action.starts_with("Put") && action.ends_with("PermissionsBoundary") {
                one = one.with_opt("iam:PermissionsBoundary", boundary());
            }
            if action.starts_with("Tag") {
                one = one.with_tags(&tags);
            }
            if action.starts_with("Untag") {
                one = one.with_all("aws:TagKeys", members(params, "TagKeys"));
            }
            vec![one]
        }
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: Place<'static> = Place {
        account: "123456789012",
        region: "eu-west-1",
    };

    fn ecs_arn(resource: &str) -> String {
        format!("arn:aws:ecs:eu-west-1:123456789012:{resource}")
    }

    /// The (action, resource) pairs of an answer, in order.
    fn pairs(requested: &[Requested]) -> Vec<(&str, &str)> {
        requested
            .iter()
            .map(|r| (r.action.as_str(), r.resource.as_str()))
            .collect()
    }

    /// Query parameters from `name=value` pairs.
    fn query(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    // ---- ECS ----

    #[test]
    fn run_task_is_on_the_task_definition_in_the_default_cluster() {
        let out = ecs("RunTask", &json!({"taskDefinition": "web:3"}), AT);
        assert_eq!(
            pairs(&out),
            [("ecs:RunTask", ecs_arn("task-definition/web:3").as_str())]
        );
        assert_eq!(out[0].values("ecs:cluster"), [ecs_arn("cluster/default")]);
        assert_eq!(out[0].values("ecs:enable-execute-command"), ["false"]);
    }

    #[test]
    fn cluster_names_and_arns_give_the_same_cluster_key() {
        let by_name = ecs(
            "RunTask",
            &json!({"cluster": "prod", "taskDefinition": "web:3"}),
            AT,
        );
        let by_arn = ecs(
            "RunTask",
            &json!({"cluster": ecs_arn("cluster/prod"), "taskDefinition": "web:3"}),
            AT,
        );
        assert_eq!(by_name, by_arn);
        assert_eq!(by_name[0].values("ECS:Cluster"), [ecs_arn("cluster/prod")]);
    }

    #[test]
    fn task_definitions_by_family_arn_or_revision() {
        let resource = |td: &str| {
            ecs("RunTask", &json!({"taskDefinition": td}), AT)[0]
                .resource
                .clone()
        };
        assert_eq!(resource("web"), ecs_arn("task-definition/web:*"));
        assert_eq!(resource("web:7"), ecs_arn("task-definition/web:7"));
        let other = "arn:aws:ecs:us-east-2:999999999999:task-definition/api:2";
        assert_eq!(resource(other), other);
        assert_eq!(
            resource("arn:aws:ecs:us-east-2:999999999999:task-definition/api"),
            "arn:aws:ecs:us-east-2:999999999999:task-definition/api:*"
        );
    }

    #[test]
    fn run_task_with_capacity_providers_and_execute_command() {
        let out = ecs(
            "RunTask",
            &json!({
                "taskDefinition": "web",
                "enableExecuteCommand": true,
                "capacityProviderStrategy": [
                    {"capacityProvider": "FARGATE"},
                    {"capacityProvider": ecs_arn("capacity-provider/spot")},
                    {"capacityProvider": "FARGATE"}
                ]
            }),
            AT,
        );
        assert_eq!(out[0].values("ecs:enable-execute-command"), ["true"]);
        assert_eq!(
            out[0].values("ecs:capacity-provider"),
            [
                ecs_arn("capacity-provider/FARGATE"),
                ecs_arn("capacity-provider/spot")
            ]
        );
    }

    #[test]
    fn describe_tasks_names_every_task_in_long_arn_format() {
        let out = ecs(
            "DescribeTasks",
            &json!({
                "cluster": "prod",
                "tasks": [
                    "0123abcd",
                    ecs_arn("task/other/4567"),
                    ecs_arn("task/89ef")
                ]
            }),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                ("ecs:DescribeTasks", ecs_arn("task/prod/0123abcd").as_str()),
                ("ecs:DescribeTasks", ecs_arn("task/other/4567").as_str()),
                ("ecs:DescribeTasks", ecs_arn("task/prod/89ef").as_str()),
            ]
        );
        // Each task's cluster is the one its ARN names.
        assert_eq!(out[0].values("ecs:cluster"), [ecs_arn("cluster/prod")]);
        assert_eq!(out[1].values("ecs:cluster"), [ecs_arn("cluster/other")]);
    }

    #[test]
    fn stop_task_by_arn_takes_the_cluster_from_the_arn() {
        let task = ecs_arn("task/prod/0123abcd");
        let out = ecs("StopTask", &json!({"task": task}), AT);
        assert_eq!(pairs(&out), [("ecs:StopTask", task.as_str())]);
        assert_eq!(out[0].values("ecs:cluster"), [ecs_arn("cluster/prod")]);
        let by_id = ecs("StopTask", &json!({"task": "0123abcd"}), AT);
        assert_eq!(by_id[0].resource, ecs_arn("task/default/0123abcd"));
    }

    #[test]
    fn describe_clusters_without_names_is_the_default_cluster() {
        let out = ecs("DescribeClusters", &json!({}), AT);
        assert_eq!(
            pairs(&out),
            [("ecs:DescribeClusters", ecs_arn("cluster/default").as_str())]
        );
        let two = ecs("DescribeClusters", &json!({"clusters": ["a", "b"]}), AT);
        assert_eq!(two.len(), 2);
        assert_eq!(two[1].resource, ecs_arn("cluster/b"));
    }

    #[test]
    fn run_task_role_overrides_are_passed_to_ecs_tasks() {
        let out = ecs(
            "RunTask",
            &json!({
                "taskDefinition": "web:1",
                "overrides": {
                    "taskRoleArn": "app",
                    "executionRoleArn": "arn:aws:iam::123456789012:role/ops/exec"
                }
            }),
            AT,
        );
        assert_eq!(
            pairs(&out[1..]),
            [
                ("iam:PassRole", "arn:aws:iam::123456789012:role/app"),
                ("iam:PassRole", "arn:aws:iam::123456789012:role/ops/exec"),
            ]
        );
        for pass in &out[1..] {
            assert_eq!(pass.values("iam:PassedToService"), [ECS_TASKS]);
        }
        let stored = pass_task_roles(&["app", ""], "123456789012");
        assert_eq!(stored, out[1..2]);
    }

    #[test]
    fn register_task_definition_tags_roles_and_keys() {
        let out = ecs(
            "RegisterTaskDefinition",
            &json!({
                "family": "web",
                "taskRoleArn": "app",
                "executionRoleArn": "exec",
                "cpu": "256",
                "memory": "512",
                "requiresCompatibilities": ["FARGATE"],
                "containerDefinitions": [{"name": "a"}, {"name": "b", "privileged": true}],
                "tags": [{"key": "Owner", "value": "me"}, {"key": "Team", "value": "x"}]
            }),
            AT,
        );
        let td = ecs_arn("task-definition/web:*");
        assert_eq!(
            pairs(&out),
            [
                ("ecs:RegisterTaskDefinition", td.as_str()),
                ("ecs:TagResource", td.as_str()),
                ("iam:PassRole", "arn:aws:iam::123456789012:role/app"),
                ("iam:PassRole", "arn:aws:iam::123456789012:role/exec"),
            ]
        );
        let main = &out[0];
        assert_eq!(main.values("aws:RequestTag/Owner"), ["me"]);
        assert_eq!(main.values("aws:TagKeys"), ["Owner", "Team"]);
        assert_eq!(main.values("ecs:privileged"), ["true"]);
        assert_eq!(main.values("ecs:task-cpu"), ["256"]);
        assert_eq!(main.values("ecs:task-memory"), ["512"]);
        assert_eq!(main.values("ecs:compute-compatibility"), ["FARGATE"]);
        assert_eq!(
            out[1].values("ecs:CreateAction"),
            ["RegisterTaskDefinition"]
        );
        assert_eq!(out[1].values("aws:RequestTag/Team"), ["x"]);
        assert_eq!(out[2].values("iam:PassedToService"), [ECS_TASKS]);
    }

    #[test]
    fn create_service_is_on_the_new_service_with_its_keys() {
        let out = ecs(
            "CreateService",
            &json!({
                "cluster": "prod",
                "serviceName": "api",
                "taskDefinition": "api:4",
                "role": "ecsServiceRole",
                "networkConfiguration": {"awsvpcConfiguration": {
                    "subnets": ["subnet-1", "subnet-2"], "assignPublicIp": "ENABLED"}},
                "tags": [{"key": "Owner", "value": "me"}]
            }),
            AT,
        );
        let service = ecs_arn("service/prod/api");
        assert_eq!(
            pairs(&out),
            [
                ("ecs:CreateService", service.as_str()),
                ("ecs:TagResource", service.as_str()),
                (
                    "iam:PassRole",
                    "arn:aws:iam::123456789012:role/ecsServiceRole"
                ),
            ]
        );
        let main = &out[0];
        assert_eq!(main.values("ecs:cluster"), [ecs_arn("cluster/prod")]);
        assert_eq!(
            main.values("ecs:task-definition"),
            [ecs_arn("task-definition/api:4")]
        );
        assert_eq!(main.values("ecs:subnet"), ["subnet-1", "subnet-2"]);
        assert_eq!(main.values("ecs:auto-assign-public-ip"), ["true"]);
        assert_eq!(main.values("aws:TagKeys"), ["Owner"]);
        assert_eq!(out[2].values("iam:PassedToService"), [ECS_SERVICE]);
    }

    #[test]
    fn update_and_delete_service_by_name_or_arn() {
        let by_name = ecs(
            "UpdateService",
            &json!({"cluster": "prod", "service": "api", "taskDefinition": "api"}),
            AT,
        );
        assert_eq!(by_name[0].resource, ecs_arn("service/prod/api"));
        assert_eq!(
            by_name[0].values("ecs:task-definition"),
            [ecs_arn("task-definition/api:*")]
        );
        // Not given: not claimed.
        assert!(by_name[0].values("ecs:enable-execute-command").is_empty());
        let by_arn = ecs(
            "DeleteService",
            &json!({"service": ecs_arn("service/prod/api")}),
            AT,
        );
        assert_eq!(by_arn[0].resource, ecs_arn("service/prod/api"));
        assert_eq!(by_arn[0].values("ecs:cluster"), [ecs_arn("cluster/prod")]);
    }

    #[test]
    fn create_cluster_with_tags_also_tags() {
        let out = ecs(
            "CreateCluster",
            &json!({"clusterName": "prod", "tags": [{"key": "Env", "value": "p"}]}),
            AT,
        );
        let cluster = ecs_arn("cluster/prod");
        assert_eq!(
            pairs(&out),
            [
                ("ecs:CreateCluster", cluster.as_str()),
                ("ecs:TagResource", cluster.as_str())
            ]
        );
        assert_eq!(out[0].values("aws:RequestTag/Env"), ["p"]);
        assert_eq!(out[1].values("ecs:CreateAction"), ["CreateCluster"]);
        let untagged = ecs("CreateCluster", &json!({}), AT);
        assert_eq!(
            pairs(&untagged),
            [("ecs:CreateCluster", ecs_arn("cluster/default").as_str())]
        );
    }

    #[test]
    fn tag_and_untag_carry_the_request_tags() {
        let arn = ecs_arn("service/prod/api");
        let tag = ecs(
            "TagResource",
            &json!({"resourceArn": arn, "tags": [{"key": "A", "value": "1"}]}),
            AT,
        );
        assert_eq!(pairs(&tag), [("ecs:TagResource", arn.as_str())]);
        assert_eq!(tag[0].values("aws:RequestTag/A"), ["1"]);
        let untag = ecs(
            "UntagResource",
            &json!({"resourceArn": arn, "tagKeys": ["A", "B"]}),
            AT,
        );
        assert_eq!(untag[0].values("aws:TagKeys"), ["A", "B"]);
        assert!(untag[0].values("aws:RequestTag/A").is_empty());
    }

    #[test]
    fn list_tasks_is_on_the_container_instance_or_everything() {
        let on_instance = ecs(
            "ListTasks",
            &json!({"cluster": "prod", "containerInstance": "abc"}),
            AT,
        );
        assert_eq!(
            on_instance[0].resource,
            ecs_arn("container-instance/prod/abc")
        );
        let all = ecs("ListTasks", &json!({"cluster": "prod"}), AT);
        assert_eq!(pairs(&all), [("ecs:ListTasks", "*")]);
        assert_eq!(all[0].values("ecs:cluster"), [ecs_arn("cluster/prod")]);
    }

    #[test]
    fn execute_command_needs_cluster_and_task() {
        let out = ecs(
            "ExecuteCommand",
            &json!({"cluster": "prod", "task": "t1", "container": "app",
                    "command": "sh", "interactive": true}),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                ("ecs:ExecuteCommand", ecs_arn("cluster/prod").as_str()),
                ("ecs:ExecuteCommand", ecs_arn("task/prod/t1").as_str()),
            ]
        );
        assert_eq!(out[1].values("ecs:container-name"), ["app"]);
        assert_eq!(out[1].values("ecs:task"), [ecs_arn("task/prod/t1")]);
    }

    #[test]
    fn service_deployments_are_on_the_deployment_and_its_service() {
        let deployment = ecs_arn("service-deployment/prod/api/d1");
        let out = ecs(
            "DescribeServiceDeployments",
            &json!({"serviceDeploymentArns": [deployment, ecs_arn("service-deployment/prod/api/d2")]}),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                ("ecs:DescribeServiceDeployments", deployment.as_str()),
                (
                    "ecs:DescribeServiceDeployments",
                    ecs_arn("service/prod/api").as_str()
                ),
                (
                    "ecs:DescribeServiceDeployments",
                    ecs_arn("service-deployment/prod/api/d2").as_str()
                ),
            ]
        );
        assert_eq!(out[0].values("ecs:service"), [ecs_arn("service/prod/api")]);
    }

    #[test]
    fn unknown_ecs_operation_is_on_everything() {
        assert_eq!(
            pairs(&ecs("Frobnicate", &json!({}), AT)),
            [("ecs:Frobnicate", "*")]
        );
    }

    #[test]
    fn every_ecs_operation_berth_serves_is_mapped() {
        for op in berth_api::ecs::Operation::ALL {
            assert!(
                ecs_known(op.as_str(), &json!({}), AT).is_some(),
                "{op:?} is not mapped"
            );
        }
    }

    // ---- ECR and the registry ----

    fn repo(name: &str) -> String {
        format!("arn:aws:ecr:eu-west-1:123456789012:repository/{name}")
    }

    #[test]
    fn ecr_image_operations_are_on_the_repository() {
        for op in [
            "BatchGetImage",
            "GetDownloadUrlForLayer",
            "BatchCheckLayerAvailability",
            "InitiateLayerUpload",
            "UploadLayerPart",
            "CompleteLayerUpload",
            "PutImage",
        ] {
            let out = ecr(op, &json!({"repositoryName": "team/app"}), AT);
            assert_eq!(
                pairs(&out),
                [(format!("ecr:{op}").as_str(), repo("team/app").as_str())]
            );
        }
        let other_registry = ecr(
            "BatchGetImage",
            &json!({"registryId": "999999999999", "repositoryName": "app"}),
            AT,
        );
        assert_eq!(
            other_registry[0].resource,
            "arn:aws:ecr:eu-west-1:999999999999:repository/app"
        );
    }

    #[test]
    fn ecr_registry_wide_operations() {
        assert_eq!(
            pairs(&ecr("GetAuthorizationToken", &json!({}), AT)),
            [("ecr:GetAuthorizationToken", "*")]
        );
        assert_eq!(
            pairs(&ecr("DescribeRepositories", &json!({}), AT)),
            [("ecr:DescribeRepositories", repo("*").as_str())]
        );
        let named = ecr(
            "DescribeRepositories",
            &json!({"repositoryNames": ["a", "b/c"]}),
            AT,
        );
        assert_eq!(named[1].resource, repo("b/c"));
        assert_eq!(
            pairs(&ecr("Frobnicate", &json!({}), AT)),
            [("ecr:Frobnicate", "*")]
        );
    }

    #[test]
    fn create_repository_with_tags_also_tags() {
        let out = ecr(
            "CreateRepository",
            &json!({"repositoryName": "app", "tags": [{"Key": "Owner", "Value": "me"}]}),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                ("ecr:CreateRepository", repo("app").as_str()),
                ("ecr:TagResource", repo("app").as_str())
            ]
        );
        assert_eq!(out[0].values("aws:RequestTag/Owner"), ["me"]);
        assert_eq!(out[1].values("aws:TagKeys"), ["Owner"]);
    }

    #[test]
    fn every_ecr_operation_berth_serves_is_mapped() {
        for op in berth_api::ecr::Operation::ALL {
            assert!(
                ecr_known(op.as_str(), &json!({}), AT).is_some(),
                "{op:?} is not mapped"
            );
        }
    }

    #[test]
    fn registry_routes_with_slashed_names() {
        let at = |method: Method, path: &str| registry(&method, path, AT);
        let only = |method: Method, path: &str, action: &str, name: &str| {
            assert_eq!(
                pairs(&at(method.clone(), path)),
                [(action, repo(name).as_str())],
                "{method} {path}"
            );
        };
        only(
            Method::GET,
            "/v2/team/app/manifests/v1",
            "ecr:BatchGetImage",
            "team/app",
        );
        only(
            Method::HEAD,
            "/v2/team/app/manifests/v1",
            "ecr:BatchGetImage",
            "team/app",
        );
        only(
            Method::PUT,
            "/v2/a/b/c/manifests/v1",
            "ecr:PutImage",
            "a/b/c",
        );
        only(
            Method::DELETE,
            "/v2/team/app/manifests/sha256:ab",
            "ecr:BatchDeleteImage",
            "team/app",
        );
        only(
            Method::GET,
            "/v2/team/app/blobs/sha256:ab",
            "ecr:GetDownloadUrlForLayer",
            "team/app",
        );
        only(
            Method::HEAD,
            "/v2/team/app/blobs/sha256:ab",
            "ecr:BatchCheckLayerAvailability",
            "team/app",
        );
        only(
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            "ecr:InitiateLayerUpload",
            "team/app",
        );
        only(
            Method::PATCH,
            "/v2/team/app/blobs/uploads/u-1",
            "ecr:UploadLayerPart",
            "team/app",
        );
        only(
            Method::PUT,
            "/v2/team/app/blobs/uploads/u-1?digest=sha256:ab",
            "ecr:CompleteLayerUpload",
            "team/app",
        );
        only(
            Method::GET,
            "/v2/team/app/tags/list?n=10",
            "ecr:ListImages",
            "team/app",
        );
        only(Method::GET, "/v2/_catalog", "ecr:DescribeRepositories", "*");
        only(
            Method::GET,
            "/v2/team/app/referrers/sha256:ab",
            "ecr:BatchGetImage",
            "team/app",
        );
        assert!(at(Method::GET, "/v2/").is_empty());
        assert!(at(Method::GET, "/v2").is_empty());
    }

    #[test]
    fn registry_mounts_read_the_source_and_monolithic_uploads_complete() {
        let mount = registry(
            &Method::POST,
            "/v2/team/app/blobs/uploads/?mount=sha256:ab&from=base%2Fimage",
            AT,
        );
        assert_eq!(
            pairs(&mount),
            [
                ("ecr:InitiateLayerUpload", repo("team/app").as_str()),
                ("ecr:GetDownloadUrlForLayer", repo("base/image").as_str()),
            ]
        );
        let whole = registry(&Method::POST, "/v2/app/blobs/uploads/?digest=sha256:ab", AT);
        assert_eq!(
            pairs(&whole),
            [
                ("ecr:InitiateLayerUpload", repo("app").as_str()),
                ("ecr:UploadLayerPart", repo("app").as_str()),
                ("ecr:CompleteLayerUpload", repo("app").as_str()),
            ]
        );
        assert_eq!(
            pairs(&registry(&Method::POST, "/v2/app/manifests/v1", AT)),
            [("ecr:RegistryRequest", "*")]
        );
        assert_eq!(
            pairs(&registry(&Method::GET, "/v2/nothing", AT)),
            [("ecr:RegistryRequest", "*")]
        );
    }

    // ---- CloudWatch Logs ----

    fn logs_arn(resource: &str) -> String {
        format!("arn:aws:logs:eu-west-1:123456789012:{resource}")
    }

    #[test]
    fn log_group_actions_by_name_or_arn() {
        let expected = logs_arn("log-group:/ecs/web:log-stream:");
        for body in [
            json!({"logGroupName": "/ecs/web"}),
            json!({"logGroupIdentifier": "/ecs/web"}),
            json!({"logGroupIdentifier": logs_arn("log-group:/ecs/web")}),
            json!({"logGroupIdentifier": logs_arn("log-group:/ecs/web:*")}),
        ] {
            for op in [
                "FilterLogEvents",
                "DescribeLogStreams",
                "PutRetentionPolicy",
            ] {
                let out = logs(op, &body, AT);
                assert_eq!(
                    pairs(&out),
                    [(format!("logs:{op}").as_str(), expected.as_str())],
                    "{body}"
                );
            }
        }
    }

    #[test]
    fn log_stream_actions_are_on_the_stream() {
        for op in [
            "PutLogEvents",
            "GetLogEvents",
            "CreateLogStream",
            "DeleteLogStream",
        ] {
            let out = logs(
                op,
                &json!({"logGroupName": "/ecs/web", "logStreamName": "app/web/1"}),
                AT,
            );
            assert_eq!(
                out[0].resource,
                logs_arn("log-group:/ecs/web:log-stream:app/web/1")
            );
        }
    }

    #[test]
    fn describe_log_groups_is_account_wide() {
        assert_eq!(
            pairs(&logs(
                "DescribeLogGroups",
                &json!({"logGroupNamePrefix": "/ecs"}),
                AT
            )),
            [(
                "logs:DescribeLogGroups",
                logs_arn("log-group::log-stream:").as_str()
            )]
        );
    }

    #[test]
    fn create_log_group_with_tags_also_tags_the_bare_arn() {
        let out = logs(
            "CreateLogGroup",
            &json!({"logGroupName": "g", "tags": {"Owner": "me"}}),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                (
                    "logs:CreateLogGroup",
                    logs_arn("log-group:g:log-stream:").as_str()
                ),
                ("logs:TagResource", logs_arn("log-group:g").as_str()),
            ]
        );
        assert_eq!(out[0].values("aws:RequestTag/Owner"), ["me"]);
        assert_eq!(out[1].values("aws:TagKeys"), ["Owner"]);
    }

    #[test]
    fn log_tagging_is_on_the_given_arn() {
        let arn = logs_arn("log-group:g");
        let out = logs(
            "UntagResource",
            &json!({"resourceArn": arn, "tagKeys": ["A"]}),
            AT,
        );
        assert_eq!(pairs(&out), [("logs:UntagResource", arn.as_str())]);
        assert_eq!(out[0].values("aws:TagKeys"), ["A"]);
    }

    #[test]
    fn live_tail_and_queries_name_every_group() {
        let out = logs(
            "StartLiveTail",
            &json!({"logGroupIdentifiers": [logs_arn("log-group:a"), logs_arn("log-group:b")]}),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                (
                    "logs:StartLiveTail",
                    logs_arn("log-group:a:log-stream:").as_str()
                ),
                (
                    "logs:StartLiveTail",
                    logs_arn("log-group:b:log-stream:").as_str()
                ),
            ]
        );
        let query = logs(
            "StartQuery",
            &json!({"logGroupNames": ["a", "c"], "logGroupName": "a"}),
            AT,
        );
        assert_eq!(query.len(), 2);
        assert_eq!(
            pairs(&logs("Frobnicate", &json!({}), AT)),
            [("logs:Frobnicate", "*")]
        );
    }

    #[test]
    fn every_logs_operation_berth_serves_is_mapped() {
        for op in berth_api::logs::Operation::ALL {
            assert!(
                logs_known(op.as_str(), &json!({}), AT).is_some(),
                "{op:?} is not mapped"
            );
        }
    }

    // ---- Secrets Manager and SSM ----

    #[test]
    fn every_secrets_operation_berth_serves_is_mapped() {
        for op in berth_api::secretsmanager::Operation::ALL {
            let out = secretsmanager(op.as_str(), &json!({"SecretId": "db"}), AT, None);
            assert!(
                // Only listing is on every secret; the unknown-operation rule's `*`
                // would show here otherwise.
                out.iter().all(|r| r.action.starts_with("secretsmanager:")
                    && (r.resource != "*" || op.as_str() == "ListSecrets")),
                "{op:?}: {out:?}"
            );
        }
        for op in berth_api::ssm::Operation::ALL {
            let out = ssm(
                op.as_str(),
                &json!({"Name": "/a", "Names": ["/a"], "Path": "/a"}),
                AT,
            );
            assert!(
                !out.is_empty()
                    && out
                        .iter()
                        .all(|r| r.action == format!("ssm:{}", op.as_str())),
                "{op:?}: {out:?}"
            );
        }
    }

    #[test]
    fn secrets_are_on_their_suffixed_arn() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf";
        let out = secretsmanager("GetSecretValue", &json!({"SecretId": "db"}), AT, Some(arn));
        assert_eq!(pairs(&out), [("secretsmanager:GetSecretValue", arn)]);
        assert_eq!(out[0].values("secretsmanager:SecretId"), ["db"]);
        // Not (yet) in the store: any suffix, which `db-*` matches.
        let out = secretsmanager(
            "CreateSecret",
            &json!({"Name": "db", "Tags": [{"Key": "team", "Value": "core"}]}),
            AT,
            None,
        );
        let pending = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-??????";
        assert_eq!(
            pairs(&out),
            [
                ("secretsmanager:CreateSecret", pending),
                ("secretsmanager:TagResource", pending)
            ]
        );
        assert_eq!(out[0].values("aws:RequestTag/team"), ["core"]);
        assert_eq!(out[0].values("secretsmanager:Name"), ["db"]);
        let out = secretsmanager("ListSecrets", &json!({}), AT, None);
        assert_eq!(pairs(&out), [("secretsmanager:ListSecrets", "*")]);
    }

    #[test]
    fn parameters_are_on_their_arns_without_selectors() {
        let out = ssm("GetParameter", &json!({"Name": "/app/db:prod"}), AT);
        assert_eq!(
            pairs(&out),
            [(
                "ssm:GetParameter",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"
            )]
        );
        let out = ssm("GetParameters", &json!({"Names": ["a", "a:2", "/b"]}), AT);
        assert_eq!(
            pairs(&out),
            [
                (
                    "ssm:GetParameters",
                    "arn:aws:ssm:eu-west-1:123456789012:parameter/a"
                ),
                (
                    "ssm:GetParameters",
                    "arn:aws:ssm:eu-west-1:123456789012:parameter/b"
                )
            ]
        );
        let out = ssm(
            "PutParameter",
            &json!({"Name": "/x", "Tags": [{"Key": "k", "Value": "v"}]}),
            AT,
        );
        assert_eq!(out[1].action, "ssm:AddTagsToResource");
        assert_eq!(
            pairs(&ssm("DescribeParameters", &json!({}), AT)),
            [("ssm:DescribeParameters", "*")]
        );
    }

    // ---- ELBv2 ----

    fn elb_arn(resource: &str) -> String {
        format!("arn:aws:elasticloadbalancing:eu-west-1:123456789012:{resource}")
    }

    #[test]
    fn create_load_balancer_is_on_its_name_with_tags_and_keys() {
        let params = query(&[
            ("Name", "web"),
            ("Scheme", "internal"),
            ("Subnets.member.1", "subnet-1"),
            ("Subnets.member.2", "subnet-2"),
            ("SecurityGroups.member.1", "sg-1"),
            ("Tags.member.1.Key", "Owner"),
            ("Tags.member.1.Value", "me"),
        ]);
        let out = elbv2("CreateLoadBalancer", &params, AT);
        let lb = elb_arn("loadbalancer/app/web/*");
        assert_eq!(
            pairs(&out),
            [
                ("elasticloadbalancing:CreateLoadBalancer", lb.as_str()),
                ("elasticloadbalancing:AddTags", lb.as_str()),
            ]
        );
        assert_eq!(out[0].values("elasticloadbalancing:Scheme"), ["internal"]);
        assert_eq!(
            out[0].values("elasticloadbalancing:Subnet"),
            ["subnet-1", "subnet-2"]
        );
        assert_eq!(
            out[0].values("elasticloadbalancing:SecurityGroup"),
            ["sg-1"]
        );
        assert_eq!(out[0].values("aws:RequestTag/Owner"), ["me"]);
        assert_eq!(
            out[1].values("elasticloadbalancing:CreateAction"),
            ["CreateLoadBalancer"]
        );
        let network = elbv2(
            "CreateLoadBalancer",
            &query(&[("Name", "tcp"), ("Type", "network")]),
            AT,
        );
        assert_eq!(
            pairs(&network),
            [(
                "elasticloadbalancing:CreateLoadBalancer",
                elb_arn("loadbalancer/net/tcp/*").as_str()
            )]
        );
    }

    #[test]
    fn create_listener_is_on_the_load_balancer_and_tags_the_new_listener() {
        let lb = elb_arn("loadbalancer/app/web/0123");
        let out = elbv2(
            "CreateListener",
            &query(&[
                ("LoadBalancerArn", &lb),
                ("Protocol", "HTTP"),
                ("Tags.member.1.Key", "A"),
            ]),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [
                ("elasticloadbalancing:CreateListener", lb.as_str()),
                (
                    "elasticloadbalancing:AddTags",
                    elb_arn("listener/app/web/0123/*").as_str()
                ),
            ]
        );
        assert_eq!(
            out[0].values("elasticloadbalancing:ListenerProtocol"),
            ["HTTP"]
        );
        assert_eq!(out[1].values("aws:RequestTag/A"), [""]);
    }

    #[test]
    fn elbv2_arns_given_and_describes_on_everything() {
        let tg = elb_arn("targetgroup/api/1111");
        let out = elbv2("RegisterTargets", &query(&[("TargetGroupArn", &tg)]), AT);
        assert_eq!(
            pairs(&out),
            [("elasticloadbalancing:RegisterTargets", tg.as_str())]
        );
        let created = elbv2("CreateTargetGroup", &query(&[("Name", "api")]), AT);
        assert_eq!(created[0].resource, elb_arn("targetgroup/api/*"));
        let priorities = elbv2(
            "SetRulePriorities",
            &query(&[
                ("RulePriorities.member.1.RuleArn", "r1"),
                ("RulePriorities.member.1.Priority", "1"),
                ("RulePriorities.member.2.RuleArn", "r2"),
            ]),
            AT,
        );
        assert_eq!(priorities.len(), 2);
        let tagged = elbv2(
            "AddTags",
            &query(&[
                ("ResourceArns.member.1", "a"),
                ("ResourceArns.member.2", "b"),
                ("Tags.member.1.Key", "K"),
                ("Tags.member.1.Value", "V"),
            ]),
            AT,
        );
        assert_eq!(pairs(&tagged).len(), 2);
        assert_eq!(tagged[1].values("aws:RequestTag/K"), ["V"]);
        assert_eq!(
            pairs(&elbv2("DescribeLoadBalancers", &query(&[]), AT)),
            [("elasticloadbalancing:DescribeLoadBalancers", "*")]
        );
        assert_eq!(
            pairs(&elbv2("Frobnicate", &query(&[]), AT)),
            [("elasticloadbalancing:Frobnicate", "*")]
        );
    }

    #[test]
    fn every_elbv2_action_berth_serves_is_mapped() {
        for action in [
            "CreateLoadBalancer",
            "DescribeLoadBalancers",
            "DeleteLoadBalancer",
            "CreateTargetGroup",
            "DescribeTargetGroups",
            "ModifyTargetGroup",
            "DeleteTargetGroup",
            "DescribeTargetGroupAttributes",
            "ModifyTargetGroupAttributes",
            "CreateListener",
            "DescribeListeners",
            "DeleteListener",
            "CreateRule",
            "DescribeRules",
            "DeleteRule",
            "RegisterTargets",
            "DeregisterTargets",
            "DescribeTargetHealth",
        ] {
            assert!(
                elbv2_known(action, &query(&[]), AT).is_some(),
                "{action} is not mapped"
            );
        }
    }

    // ---- IAM ----

    const IAM_AT: IamPlace<'static> = IamPlace {
        account: "123456789012",
        caller: "arn:aws:iam::123456789012:user/alice",
    };

    fn stored(kind: IamKind, name: &str) -> Option<String> {
        (name == "app").then(|| format!("arn:aws:iam::123456789012:{}/svc/app", kind.word()))
    }

    #[test]
    fn attach_role_policy_names_the_stored_role_and_the_policy() {
        let policy = "arn:aws:iam::123456789012:policy/team/ReadLogs";
        let out = iam(
            "AttachRolePolicy",
            &query(&[("RoleName", "app"), ("PolicyArn", policy)]),
            IAM_AT,
            &stored,
        );
        assert_eq!(
            pairs(&out),
            [(
                "iam:AttachRolePolicy",
                "arn:aws:iam::123456789012:role/svc/app"
            )]
        );
        assert_eq!(out[0].values("iam:PolicyARN"), [policy]);
        let missing = iam("GetRole", &query(&[("RoleName", "gone")]), IAM_AT, &stored);
        assert_eq!(missing[0].resource, "arn:aws:iam::123456789012:role/gone");
    }

    #[test]
    fn create_role_with_path_tags_and_boundary() {
        let boundary = "arn:aws:iam::123456789012:policy/Boundary";
        let out = iam(
            "CreateRole",
            &query(&[
                ("RoleName", "app"),
                ("Path", "/svc/"),
                ("PermissionsBoundary", boundary),
                ("Tags.member.1.Key", "Owner"),
                ("Tags.member.1.Value", "me"),
            ]),
            IAM_AT,
            &|_, _| None,
        );
        let role = "arn:aws:iam::123456789012:role/svc/app";
        assert_eq!(
            pairs(&out),
            [("iam:CreateRole", role), ("iam:TagRole", role)]
        );
        assert_eq!(out[0].values("iam:PermissionsBoundary"), [boundary]);
        assert_eq!(out[0].values("aws:RequestTag/Owner"), ["me"]);
        assert_eq!(out[1].values("aws:TagKeys"), ["Owner"]);
        let plain = iam(
            "CreateUser",
            &query(&[("UserName", "bob")]),
            IAM_AT,
            &|_, _| None,
        );
        assert_eq!(
            pairs(&plain),
            [("iam:CreateUser", "arn:aws:iam::123456789012:user/bob")]
        );
    }

    #[test]
    fn user_actions_default_to_the_caller() {
        let own = iam("ListAccessKeys", &query(&[]), IAM_AT, &stored);
        assert_eq!(pairs(&own), [("iam:ListAccessKeys", IAM_AT.caller)]);
        let other = iam(
            "ListAccessKeys",
            &query(&[("UserName", "app")]),
            IAM_AT,
            &stored,
        );
        assert_eq!(other[0].resource, "arn:aws:iam::123456789012:user/svc/app");
    }

    #[test]
    fn iam_listings_and_account_wide_actions() {
        let roles = iam("ListRoles", &query(&[]), IAM_AT, &stored);
        assert_eq!(
            pairs(&roles),
            [("iam:ListRoles", "arn:aws:iam::123456789012:role/")]
        );
        let prefixed = iam(
            "ListUsers",
            &query(&[("PathPrefix", "/dev/")]),
            IAM_AT,
            &stored,
        );
        assert_eq!(prefixed[0].resource, "arn:aws:iam::123456789012:user/dev/");
        assert_eq!(
            pairs(&iam("GetAccountSummary", &query(&[]), IAM_AT, &stored)),
            [("iam:GetAccountSummary", "*")]
        );
        assert_eq!(
            pairs(&iam("Frobnicate", &query(&[]), IAM_AT, &stored)),
            [("iam:Frobnicate", "*")]
        );
    }

    #[test]
    fn renames_need_the_old_and_the_new_name() {
        let out = iam(
            "UpdateUser",
            &query(&[("UserName", "app"), ("NewUserName", "api")]),
            IAM_AT,
            &stored,
        );
        assert_eq!(
            pairs(&out),
            [
                ("iam:UpdateUser", "arn:aws:iam::123456789012:user/svc/app"),
                ("iam:UpdateUser", "arn:aws:iam::123456789012:user/svc/api"),
            ]
        );
        let moved = iam(
            "UpdateGroup",
            &query(&[("GroupName", "ops"), ("NewPath", "/teams/")]),
            IAM_AT,
            &stored,
        );
        assert_eq!(
            moved[1].resource,
            "arn:aws:iam::123456789012:group/teams/ops"
        );
    }

    #[test]
    fn iam_tagging_and_untagging() {
        let tag = iam(
            "TagUser",
            &query(&[
                ("UserName", "bob"),
                ("Tags.member.1.Key", "A"),
                ("Tags.member.1.Value", "1"),
            ]),
            IAM_AT,
            &|_, _| None,
        );
        assert_eq!(tag[0].values("aws:RequestTag/A"), ["1"]);
        let untag = iam(
            "UntagPolicy",
            &query(&[
                ("PolicyArn", "arn:aws:iam::123456789012:policy/P"),
                ("TagKeys.member.1", "A"),
                ("TagKeys.member.2", "B"),
            ]),
            IAM_AT,
            &|_, _| None,
        );
        assert_eq!(untag[0].resource, "arn:aws:iam::123456789012:policy/P");
        assert_eq!(untag[0].values("aws:TagKeys"), ["A", "B"]);
    }

    // ---- STS ----

    #[test]
    fn assume_role_is_on_the_role_with_its_keys() {
        let role = "arn:aws:iam::123456789012:role/deploy";
        let out = sts(
            "AssumeRole",
            &query(&[
                ("RoleArn", role),
                ("RoleSessionName", "ci"),
                ("ExternalId", "x-1"),
                ("Tags.member.1.Key", "Project"),
                ("Tags.member.1.Value", "berth"),
            ]),
            AT,
        );
        assert_eq!(
            pairs(&out),
            [("sts:AssumeRole", role), ("sts:TagSession", role)]
        );
        assert_eq!(out[0].values("sts:RoleSessionName"), ["ci"]);
        assert_eq!(out[0].values("sts:ExternalId"), ["x-1"]);
        assert_eq!(out[1].values("aws:RequestTag/Project"), ["berth"]);
        let plain = sts(
            "AssumeRole",
            &query(&[("RoleArn", role), ("RoleSessionName", "ci")]),
            AT,
        );
        assert_eq!(pairs(&plain), [("sts:AssumeRole", role)]);
    }

    #[test]
    fn sts_identity_and_session_tokens() {
        assert!(sts("GetCallerIdentity", &query(&[]), AT).is_empty());
        assert_eq!(
            pairs(&sts("GetSessionToken", &query(&[]), AT)),
            [("sts:GetSessionToken", "*")]
        );
        assert_eq!(
            pairs(&sts("Frobnicate", &query(&[]), AT)),
            [("sts:Frobnicate", "*")]
        );
    }
}
