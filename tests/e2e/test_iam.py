"""IAM and STS end to end: the seeds' IAM steps with the real AWS CLI, users with their
own keys through boto3, policies deciding every call, and STS sessions.

One shared server (`berth`): every name is unique to its test. The account root (the
`berth` profile) sets things up; users and role sessions then act with keys of their
own, exactly as a team's members would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    ACCOUNT,
    ECS_TASKS_TRUST,
    REGION,
    Berth,
    client,
    client_error,
    error_code,
    error_message,
    eventually,
    keyed,
    new_user,
    unique,
)

ACCOUNT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
}


def doc(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def denied(call: Any, *args: Any, **kwargs: Any) -> ClientError:
    err = client_error(call, *args, **kwargs)
    assert error_code(err) in ("AccessDeniedException", "AccessDenied"), err.response
    return err


# --------------------------------------------------------------------------- the seeds' steps


def test_seed_000_creates_a_service_role_and_attaches_two_aws_policies(berth: Berth, tmp_path: Path) -> None:
    # Seed 000, as written: create-role from file://document.json, then attach-role-policy twice.
    name = unique("sorenServiceRoleECS")
    document = tmp_path / "document.json"
    document.write_text(json.dumps(ECS_TASKS_TRUST, indent=2))
    created = berth.aws(
        "iam", "create-role",
        "--role-name", name,
        "--description", "Service role for an ECS task.",
        "--assume-role-policy-document", f"file://{document}",
    )["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    assert created["RoleId"].startswith("AROA") and len(created["RoleId"]) == 21
    assert created["AssumeRolePolicyDocument"] == ECS_TASKS_TRUST, "botocore decodes the URL-encoded document"
    for policy in ("service-role/AWSGlueServiceRole", "AmazonS3FullAccess"):
        berth.aws("iam", "attach-role-policy", "--role-name", name, "--policy-arn", f"arn:aws:iam::aws:policy/{policy}")
    attached = berth.aws("iam", "list-attached-role-policies", "--role-name", name)["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in attached) == ["AWSGlueServiceRole", "AmazonS3FullAccess"]
    role = berth.aws("iam", "get-role", "--role-name", name)["Role"]
    assert role["Description"] == "Service role for an ECS task."
    assert role["MaxSessionDuration"] == 3600

    # A role with policies attached is not deleted (AWS's DeleteConflict), and stays.
    failed = berth.aws_error("iam", "delete-role", "--role-name", name, code="DeleteConflict")
    assert "must detach all policies first" in failed.stderr
    berth.aws("iam", "get-role", "--role-name", name)


def test_aws_managed_policies_read_back_as_aws_publishes_them(berth: Berth) -> None:
    iam = berth.client("iam")
    arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    actions = {a for s in version["Document"]["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"ecr:GetAuthorizationToken", "ecr:BatchGetImage", "logs:CreateLogStream", "logs:PutLogEvents"} <= actions
    listed = iam.list_policies(Scope="AWS")["Policies"]
    names = {p["PolicyName"] for p in listed}
    assert {"AdministratorAccess", "AmazonECS_FullAccess", "AmazonEC2ContainerRegistryReadOnly", "CloudWatchLogsReadOnlyAccess"} <= names


@pytest.mark.parametrize(
    "document,expected",
    [
        ("{not json", "Syntax errors in policy."),
        (json.dumps({"Version": "2011-01-01", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}), None),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}), None),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}), None),
    ],
    ids=["malformed-json", "wrong-version", "unknown-effect", "no-action"],
)
def test_bad_policy_documents_are_malformed_and_store_nothing(berth: Berth, document: str, expected: str | None) -> None:
    iam = berth.client("iam")
    name = unique("bad")
    err = client_error(iam.create_policy, PolicyName=name, PolicyDocument=document)
    assert error_code(err) == "MalformedPolicyDocument", err.response
    if expected:
        assert error_message(err) == expected
    listed = iam.list_policies(Scope="Local")["Policies"]
    assert name not in {p["PolicyName"] for p in listed}, "nothing stored"


# --------------------------------------------------------------------------- users and decisions


def test_a_user_is_allowed_what_its_policies_allow_and_nothing_else(berth: Berth) -> None:
    ecs_root = berth.client("ecs")
    cluster = unique("team")
    ecs_root.create_cluster(clusterName=cluster)
    name, session = new_user(berth)
    ecs = client(berth, session, "ecs")
    err = denied(ecs.list_clusters)
    assert error_message(err) == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: ecs:ListClusters "
        "on resource: * because no identity-based policy allows the ecs:ListClusters action"
    )
    # Attaching AmazonECS_FullAccess takes effect on the next call.
    berth.client("iam").attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonECS_FullAccess")
    assert f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}" in ecs.list_clusters()["clusterArns"]
    # An explicit Deny beats the Allow.
    berth.client("iam").put_user_policy(
        UserName=name,
        PolicyName="no-deletes",
        PolicyDocument=doc([{"Effect": "Deny", "Action": "ecs:DeleteCluster", "Resource": "*"}]),
    )
    err = denied(ecs.delete_cluster, cluster=cluster)
    assert "with an explicit deny in an identity-based policy" in error_message(err)
    assert ecs_root.describe_clusters(clusters=[cluster])["clusters"][0]["status"] == "ACTIVE", "nothing changed"


def test_resource_level_permissions_and_not_action(berth: Berth) -> None:
    ecs_root = berth.client("ecs")
    mine, theirs = unique("mine"), unique("theirs")
    for c in (mine, theirs):
        ecs_root.create_cluster(clusterName=c)
    name, session = new_user(
        berth,
        inline={
            "one-cluster": doc([
                {"Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": f"arn:aws:ecs:*:*:cluster/{mine}"},
                # NotAction: everything but IAM and ECS.
                {"Effect": "Allow", "NotAction": ["iam:*", "ecs:*"], "Resource": "*"},
            ])
        },
    )
    ecs = client(berth, session, "ecs")
    assert ecs.describe_clusters(clusters=[mine])["clusters"][0]["clusterName"] == mine
    denied(ecs.describe_clusters, clusters=[theirs])
    denied(ecs.list_clusters)
    # NotAction grants Logs but not IAM.
    client(berth, session, "logs").describe_log_groups()
    denied(client(berth, session, "iam").list_users)


def test_an_inactive_or_deleted_access_key_signs_nothing(berth: Berth) -> None:
    name, session = new_user(berth, "arn:aws:iam::aws:policy/AmazonECS_FullAccess")
    ecs = client(berth, session, "ecs")
    ecs.list_clusters()
    iam = berth.client("iam")
    key_id = session.get_credentials().access_key
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    err = eventually(lambda: client_error(ecs.list_clusters), what="the inactive key refused")
    assert error_code(err) == "UnrecognizedClientException", err.response
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Active")
    eventually(lambda: ecs.list_clusters(), what="the key active again")
    iam.delete_access_key(UserName=name, AccessKeyId=key_id)
    err = eventually(lambda: client_error(ecs.list_clusters), what="the deleted key refused")
    assert error_code(err) == "UnrecognizedClientException", err.response


def test_a_user_cannot_be_deleted_while_it_has_keys(berth: Berth) -> None:
    name, session = new_user(berth)
    iam = berth.client("iam")
    err = client_error(iam.delete_user, UserName=name)
    assert error_code(err) == "DeleteConflict"
    iam.delete_access_key(UserName=name, AccessKeyId=session.get_credentials().access_key)
    iam.delete_user(UserName=name)
    assert error_code(client_error(iam.get_user, UserName=name)) == "NoSuchEntity"


def test_group_policies_apply_to_their_members(berth: Berth) -> None:
    iam = berth.client("iam")
    group = unique("readers")
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess")
    name, session = new_user(berth)
    logs = client(berth, session, "logs")
    denied(logs.describe_log_groups)
    iam.add_user_to_group(GroupName=group, UserName=name)
    logs.describe_log_groups()
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [name]
    denied(logs.create_log_group, logGroupName=unique("/readers/cannot-write"))


# --------------------------------------------------------------------------- STS


def test_get_caller_identity_names_root_and_users(berth: Berth) -> None:
    me = berth.aws("sts", "get-caller-identity")
    assert me == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}
    name, session = new_user(berth)  # no policies: GetCallerIdentity needs none
    who = client(berth, session, "sts").get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert who["UserId"].startswith("AIDA")


def test_assume_role_gives_a_session_with_the_roles_permissions_only(berth: Berth) -> None:
    iam = berth.client("iam")
    role = unique("deployer")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ACCOUNT_TRUST))
    iam.put_role_policy(
        RoleName=role,
        PolicyName="clusters",
        PolicyDocument=doc([{"Effect": "Allow", "Action": ["ecs:ListClusters", "ecs:CreateCluster"], "Resource": "*"}]),
    )
    # A user may assume it only with sts:AssumeRole of its own (the trust names the account).
    name, session = new_user(berth)
    sts = client(berth, session, "sts")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="alice")
    iam.put_user_policy(
        UserName=name,
        PolicyName="assume",
        PolicyDocument=doc([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]),
    )
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="alice", DurationSeconds=900)
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice"
    as_role = keyed(berth, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert client(berth, as_role, "sts").get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice"
    ecs = client(berth, as_role, "ecs")
    ecs.list_clusters()
    err = denied(ecs.delete_cluster, cluster="default")
    assert f"assumed-role/{role}/alice is not authorized to perform: ecs:DeleteCluster" in error_message(err)
    # The session without its token is not a key at all.
    no_token = keyed(berth, creds["AccessKeyId"], creds["SecretAccessKey"])
    assert client_error(client(berth, no_token, "ecs").list_clusters).response["Error"]["Code"] in (
        "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException"
    )


def test_a_role_that_only_trusts_ecs_tasks_cannot_be_assumed_by_a_user(berth: Berth) -> None:
    iam = berth.client("iam")
    role = unique("taskonly")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))
    name, session = new_user(berth, inline={"all-sts": doc([{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}])})
    err = denied(
        client(berth, session, "sts").assume_role,
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        RoleSessionName="nope",
    )
    assert "sts:AssumeRole" in error_message(err)


def test_get_session_token_acts_as_the_user(berth: Berth) -> None:
    name, session = new_user(berth, "arn:aws:iam::aws:policy/AmazonECS_FullAccess")
    token = client(berth, session, "sts").get_session_token(DurationSeconds=900)["Credentials"]
    as_session = keyed(berth, token["AccessKeyId"], token["SecretAccessKey"], token["SessionToken"])
    assert client(berth, as_session, "sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    client(berth, as_session, "ecs").list_clusters()
    denied(client(berth, as_session, "iam").list_users)


def test_passing_a_role_to_a_task_definition_needs_iam_pass_role(berth: Berth) -> None:
    iam = berth.client("iam")
    role = unique("app-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    name, session = new_user(berth, inline={"ecs": doc([{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}])})
    ecs = client(berth, session, "ecs")
    family = unique("passed")
    container = [{"name": "main", "image": "busybox", "memory": 32}]
    ecs.register_task_definition(family=family, containerDefinitions=container)  # no role: no PassRole
    err = denied(ecs.register_task_definition, family=family, taskRoleArn=role_arn, containerDefinitions=container)
    assert f"iam:PassRole on resource: {role_arn}" in error_message(err)
    revisions = berth.client("ecs").list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    assert len(revisions) == 1, "the refused revision was not registered"
    # PassRole for ECS tasks only (AmazonECS_FullAccess's own condition shape).
    iam.put_user_policy(
        UserName=name,
        PolicyName="pass-to-ecs-tasks",
        PolicyDocument=doc([{
            "Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        }]),
    )
    registered = ecs.register_task_definition(family=family, taskRoleArn=role_arn, containerDefinitions=container)
    assert registered["taskDefinition"]["taskRoleArn"] == role_arn


def test_task_roles_must_exist_and_trust_ecs_tasks(berth: Berth) -> None:
    """As AWS: RegisterTaskDefinition takes only roles that exist; a task launches only
    with roles ECS tasks may assume (the task role and the execution role alike)."""
    ecs, iam = berth.client(), berth.client("iam")
    family = unique("roles")
    container = [{"name": "main", "image": "busybox", "memory": 32}]
    for member in ("taskRoleArn", "executionRoleArn"):
        missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}"
        err = client_error(ecs.register_task_definition, family=family, containerDefinitions=container,
                           **{member: missing})
        assert (error_code(err), error_message(err)) == ("ClientException", "Role is not valid"), member
    assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == [], "nothing was registered"

    role = unique("untrusting")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ACCOUNT_TRUST))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    cluster = ecs.create_cluster(clusterName=unique("roles"))["cluster"]["clusterName"]
    for member in ("taskRoleArn", "executionRoleArn"):
        ecs.register_task_definition(family=family, containerDefinitions=container, **{member: role_arn})
        err = client_error(ecs.run_task, cluster=cluster, taskDefinition=family)
        assert error_code(err) == "ClientException", err.response
        assert error_message(err) == (
            f"ECS was unable to assume the role '{role_arn}' that was provided for this task. Please verify "
            "that the role being passed has the proper trust relationship and permissions and that your IAM "
            "user has permissions to pass this role."
        )
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == [], "no task was started"
    # Trusting ECS tasks, it gets past the role check to placement (this cluster has no
    # instances); deleted, it is refused again.
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(ECS_TASKS_TRUST))
    err = client_error(ecs.run_task, cluster=cluster, taskDefinition=family)
    assert error_message(err) == "No Container Instances were found in your cluster.", err.response
    iam.delete_role(RoleName=role)
    err = client_error(ecs.run_task, cluster=cluster, taskDefinition=family)
    assert "ECS was unable to assume the role" in error_message(err)


def test_a_service_whose_role_ecs_cannot_assume_says_so_in_its_events(berth: Berth) -> None:
    """CreateService takes the service (as AWS does); its launches then fail, and its
    events say why in ECS's words, once, until the role is fixed."""
    ecs, iam = berth.client(), berth.client("iam")
    role = unique("untrusting")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ACCOUNT_TRUST))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    family = unique("svc-role")
    ecs.register_task_definition(family=family, taskRoleArn=role_arn,
                                 containerDefinitions=[{"name": "main", "image": "busybox", "memory": 32}])
    cluster = ecs.create_cluster(clusterName=unique("svc-roles"))["cluster"]["clusterName"]
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=family, desiredCount=1)
    expected = (
        f"(service web) failed to launch a task with (error ECS was unable to assume the role '{role_arn}' "
        "that was provided for this task. Please verify that the role being passed has the proper trust "
        "relationship and permissions and that your IAM user has permissions to pass this role.)."
    )

    def events() -> list[str]:
        return [e["message"] for e in ecs.describe_services(cluster=cluster, services=["web"])["services"][0]["events"]]
    eventually(lambda: expected in events(), timeout=30, what="the service's event")
    assert events().count(expected) == 1, "said once while it persists"
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []


def test_berth_makes_the_ecs_task_execution_role_as_the_console_does(berth: Berth) -> None:
    """Guides name `ecsTaskExecutionRole` without creating it, because the ECS console
    made it for them: Berth makes it for each account, with AWS's managed policy."""
    iam = berth.client("iam")
    role = iam.get_role(RoleName="ecsTaskExecutionRole")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName="ecsTaskExecutionRole")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    ]
    inline = iam.get_role_policy(RoleName="ecsTaskExecutionRole", PolicyName="CreateLogGroups")["PolicyDocument"]
    assert inline["Statement"] == [{"Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": "*"}]


def test_simulate_says_what_the_evaluator_decides_and_why(berth: Berth) -> None:
    name, _ = new_user(
        berth,
        "arn:aws:iam::aws:policy/AmazonECS_FullAccess",
        inline={"no-deletes": doc([{"Effect": "Deny", "Action": "ecs:DeleteCluster", "Resource": "*"}])},
    )
    results = berth.aws(
        "iam", "simulate-principal-policy",
        "--policy-source-arn", f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "--action-names", "ecs:ListClusters", "ecs:DeleteCluster", "iam:CreateUser",
    )["EvaluationResults"]
    decided = {r["EvalActionName"]: r for r in results}
    assert decided["ecs:ListClusters"]["EvalDecision"] == "allowed"
    assert decided["ecs:ListClusters"]["MatchedStatements"][0]["SourcePolicyType"] == "aws-managed"
    assert decided["ecs:DeleteCluster"]["EvalDecision"] == "explicitDeny"
    assert decided["ecs:DeleteCluster"]["MatchedStatements"] == [{"SourcePolicyId": "no-deletes", "SourcePolicyType": "user"}]
    assert decided["iam:CreateUser"]["EvalDecision"] == "implicitDeny"

    custom = berth.aws(
        "iam", "simulate-custom-policy",
        "--policy-input-list", doc([{"Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/app/*"}]),
        "--action-names", "logs:CreateLogGroup",
        "--resource-arns", "arn:aws:logs:us-east-1:000000000000:log-group:/app/web", "arn:aws:logs:us-east-1:000000000000:log-group:/other",
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in custom] == ["allowed", "implicitDeny"]
