"""Secrets Manager and SSM Parameter Store with the real AWS CLI and boto3: each API's
operations and AWS's errors, values encrypted at rest, IAM on secret and parameter
ARNs. Then tasks on a real `berth agent` (real dockerd): a Fargate task whose container
prints variables from a Secrets Manager secret (whole, and one JSON key) and an SSM
SecureString, which show in its logs but nowhere in DescribeTasks or
DescribeTaskDefinition beyond the `valueFrom`; an execution role without permission
stops the task with ECS's ResourceInitializationError; and `repositoryCredentials`
pulls from Berth's own registry with a login kept in a secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import (
    ACCOUNT,
    REGION,
    Berth,
    awsvpc_api,
    berth_bin,
    client,
    client_error,
    ecs_task_role,
    error_code,
    error_message,
    eventually,
    fargate_task_definition,
    free_port,
    new_user,
    unique,
)
from docker_agent import IMAGE, AgentProcess, docker_host

NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED = "You can't perform this operation on the secret because it was marked for deletion."


def secret_arn_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{re.escape(name)}-[A-Za-z0-9]{{6}}")


# --------------------------------------------------------------------------- Secrets Manager


def test_secrets_manager_lifecycle_with_the_cli_and_boto3(live_berth: Berth) -> None:
    b = live_berth
    sm = b.client("secretsmanager")
    name = unique("app/db")
    created = b.aws("secretsmanager", "create-secret", "--name", name, "--description", "the db",
                    "--secret-string", '{"username":"admin","password":"s3cr3t-one"}',
                    "--tags", "Key=team,Value=core")
    arn = created["ARN"]
    assert secret_arn_re(name).fullmatch(arn), arn
    assert created["Name"] == name and created["VersionId"], created
    first_version = created["VersionId"]

    # By name, by full ARN, and by the ARN without its suffix.
    for secret_id in (name, arn, arn[:-7]):
        got = sm.get_secret_value(SecretId=secret_id)
        assert got["SecretString"] == '{"username":"admin","password":"s3cr3t-one"}', secret_id
        assert got["ARN"] == arn and got["VersionStages"] == ["AWSCURRENT"], got

    dup = b.aws_error("secretsmanager", "create-secret", "--name", name, "--secret-string", "x",
                      code="ResourceExistsException")
    assert f"The operation failed because the secret {name} already exists." in dup.stderr, dup.stderr

    put = sm.put_secret_value(SecretId=name, SecretString='{"username":"admin","password":"s3cr3t-two"}')
    assert put["VersionStages"] == ["AWSCURRENT"], put
    current = sm.get_secret_value(SecretId=name)
    previous = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert "s3cr3t-two" in current["SecretString"] and current["VersionId"] == put["VersionId"]
    assert "s3cr3t-one" in previous["SecretString"] and previous["VersionId"] == first_version
    by_id = sm.get_secret_value(SecretId=name, VersionId=first_version)
    assert by_id["VersionStages"] == ["AWSPREVIOUS"], by_id
    missing_stage = client_error(sm.get_secret_value, SecretId=name, VersionStage="NOPE")
    assert error_code(missing_stage) == "ResourceNotFoundException", missing_stage.response

    updated = sm.update_secret(SecretId=arn, Description="the main db")
    assert updated["ARN"] == arn and "VersionId" not in updated, updated
    described = b.aws("secretsmanager", "describe-secret", "--secret-id", name)
    assert described["Description"] == "the main db" and described["Tags"] == [{"Key": "team", "Value": "core"}]
    assert described["VersionIdsToStages"] == {first_version: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    assert "SecretString" not in json.dumps(described)

    sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"}])
    sm.untag_resource(SecretId=name, TagKeys=["team"])
    listed = b.aws("secretsmanager", "list-secrets", "--filters", f"Key=name,Values={name}")["SecretList"]
    assert [s["ARN"] for s in listed] == [arn] and listed[0]["Tags"] == [{"Key": "env", "Value": "prod"}], listed

    bad_window = b.aws_error("secretsmanager", "delete-secret", "--secret-id", name,
                             "--recovery-window-in-days", "3", code="InvalidParameterException")
    assert "between 7 and 30 days" in bad_window.stderr, bad_window.stderr
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert deleted["ARN"] == arn and deleted["DeletionDate"], deleted
    refused = client_error(sm.get_secret_value, SecretId=name)
    assert (error_code(refused), error_message(refused)) == ("InvalidRequestException", MARKED), refused.response
    assert sm.describe_secret(SecretId=name)["DeletedDate"], "DescribeSecret still answers"
    hidden = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert hidden == [], "a deleted secret is left out unless asked for"
    shown = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}], IncludePlannedDeletion=True)["SecretList"]
    assert [s["ARN"] for s in shown] == [arn]

    assert sm.restore_secret(SecretId=name)["ARN"] == arn
    assert "s3cr3t-two" in sm.get_secret_value(SecretId=name)["SecretString"]

    both = client_error(sm.delete_secret, SecretId=name, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    assert error_code(both) == "InvalidParameterException", both.response
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    gone = b.aws_error("secretsmanager", "get-secret-value", "--secret-id", name, code="ResourceNotFoundException")
    assert NOT_FOUND in gone.stderr, gone.stderr
    # The name is free again, with a new suffix.
    again = sm.create_secret(Name=name, SecretString="fresh")
    assert again["ARN"] != arn and secret_arn_re(name).fullmatch(again["ARN"])
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_secrets_manager_rejects_bad_input_as_aws_does(live_berth: Berth) -> None:
    sm = live_berth.client("secretsmanager")
    both = client_error(sm.create_secret, Name=unique("both"), SecretString="a", SecretBinary=b"b")
    assert error_code(both) == "InvalidParameterException", both.response
    bad_name = client_error(sm.create_secret, Name="has space", SecretString="a")
    assert error_code(bad_name) == "InvalidParameterException", bad_name.response
    missing = client_error(sm.describe_secret, SecretId=unique("nope"))
    assert (error_code(missing), error_message(missing)) == ("ResourceNotFoundException", NOT_FOUND)
    binary = sm.create_secret(Name=unique("bin"), SecretBinary=b"\x00\x01raw")
    assert sm.get_secret_value(SecretId=binary["ARN"])["SecretBinary"] == b"\x00\x01raw"
    sm.delete_secret(SecretId=binary["ARN"], ForceDeleteWithoutRecovery=True)


def test_list_secrets_filters_sorts_and_pages(live_berth: Berth) -> None:
    sm = live_berth.client("secretsmanager")
    prefix = unique("paged")
    arns = [sm.create_secret(Name=f"{prefix}/{n}", SecretString=n, Description=f"the {n}")["ARN"]
            for n in ("b", "a", "c")]
    by_name = [arns[1], arns[0], arns[2]]
    seen, token, pages = [], None, 0
    while True:
        page = sm.list_secrets(Filters=[{"Key": "name", "Values": [prefix]}], SortBy="name", SortOrder="asc",
                               MaxResults=1, **({"NextToken": token} if token else {}))
        seen += [s["ARN"] for s in page["SecretList"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert (seen, pages) == (by_name, 3)
    desc = sm.list_secrets(Filters=[{"Key": "name", "Values": [prefix]}], SortBy="name", SortOrder="desc")
    assert [s["ARN"] for s in desc["SecretList"]] == by_name[::-1]
    negated = sm.list_secrets(Filters=[{"Key": "name", "Values": [prefix]},
                                       {"Key": "description", "Values": ["!the a"]}])["SecretList"]
    assert sorted(s["ARN"] for s in negated) == sorted([arns[0], arns[2]])
    bad = client_error(sm.list_secrets, NextToken="not-a-token")
    assert error_code(bad) == "InvalidNextTokenException", bad.response
    for arn in arns:
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


# --------------------------------------------------------------------------- Parameter Store


def test_parameter_store_versions_labels_and_paths(live_berth: Berth) -> None:
    b = live_berth
    ssm = b.client("ssm")
    base = f"/{unique('app')}"
    put = b.aws("ssm", "put-parameter", "--name", f"{base}/db/url", "--type", "String", "--value", "postgres://db")
    assert put == {"Version": 1, "Tier": "Standard"}, put
    exists = b.aws_error("ssm", "put-parameter", "--name", f"{base}/db/url", "--type", "String", "--value", "x",
                         code="ParameterAlreadyExists")
    assert "The parameter already exists." in exists.stderr
    assert ssm.put_parameter(Name=f"{base}/db/url", Value="postgres://db2", Overwrite=True)["Version"] == 2
    ssm.put_parameter(Name=f"{base}/db/password", Type="SecureString", Value="hunter2")
    ssm.put_parameter(Name=f"{base}/hosts", Type="StringList", Value="a,b,c")

    plain = ssm.get_parameter(Name=f"{base}/db/password")["Parameter"]
    assert plain["Type"] == "SecureString" and plain["Value"] != "hunter2", "sealed without decryption"
    clear = b.aws("ssm", "get-parameter", "--name", f"{base}/db/password", "--with-decryption")["Parameter"]
    assert clear["Value"] == "hunter2" and clear["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{base}/db/password"

    v1 = ssm.get_parameter(Name=f"{base}/db/url:1")["Parameter"]
    assert (v1["Value"], v1["Version"], v1["Selector"]) == ("postgres://db", 1, ":1"), v1
    labelled = ssm.label_parameter_version(Name=f"{base}/db/url", ParameterVersion=1, Labels=["stable", "1bad"])
    assert labelled["InvalidLabels"] == ["1bad"] and labelled["ParameterVersion"] == 1, labelled
    assert ssm.get_parameter(Name=f"{base}/db/url:stable")["Parameter"]["Value"] == "postgres://db"
    no_version = client_error(ssm.get_parameter, Name=f"{base}/db/url:9")
    assert error_code(no_version) == "ParameterVersionNotFound", no_version.response
    missing = b.aws_error("ssm", "get-parameter", "--name", f"{base}/nope", code="ParameterNotFound")
    assert missing.error_code == "ParameterNotFound"

    many = ssm.get_parameters(Names=[f"{base}/db/url", f"{base}/db/password", f"{base}/nope", f"{base}/db/url:7"],
                              WithDecryption=True)
    assert sorted(p["Name"] for p in many["Parameters"]) == [f"{base}/db/password", f"{base}/db/url"]
    assert sorted(many["InvalidParameters"]) == sorted([f"{base}/nope", f"{base}/db/url:7"])

    top = ssm.get_parameters_by_path(Path=base)["Parameters"]
    assert [p["Name"] for p in top] == [f"{base}/hosts"], "one level unless recursive"
    names, token, pages = [], None, 0
    while True:
        page = ssm.get_parameters_by_path(Path=base, Recursive=True, WithDecryption=True, MaxResults=1,
                                          **({"NextToken": token} if token else {}))
        names += [(p["Name"], p["Value"]) for p in page["Parameters"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert names == [(f"{base}/db/password", "hunter2"), (f"{base}/db/url", "postgres://db2"),
                     (f"{base}/hosts", "a,b,c")] and pages == 3, names
    cli_all = b.aws("ssm", "get-parameters-by-path", "--path", base, "--recursive")["Parameters"]
    assert len(cli_all) == 3, "the CLI follows the tokens itself"

    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [base]},
                                                          {"Key": "Type", "Values": ["SecureString"]}])
    assert [(p["Name"], p["KeyId"]) for p in described["Parameters"]] == [(f"{base}/db/password", "alias/aws/ssm")]
    history = ssm.get_parameter_history(Name=f"{base}/db/url")["Parameters"]
    assert [(h["Version"], h["Value"], h["Labels"]) for h in history] == [
        (1, "postgres://db", ["stable"]), (2, "postgres://db2", [])], history

    bad = client_error(ssm.put_parameter, Name="relative/path", Type="String", Value="x")
    assert (error_code(bad), error_message(bad)) == ("ValidationException", "Parameter name must be a fully qualified name.")
    no_type = client_error(ssm.put_parameter, Name=f"{base}/untyped", Value="x")
    assert error_code(no_type) == "ValidationException", no_type.response

    ssm.delete_parameter(Name=f"{base}/hosts")
    gone = client_error(ssm.delete_parameter, Name=f"{base}/hosts")
    assert error_code(gone) == "ParameterNotFound", gone.response
    both = ssm.delete_parameters(Names=[f"{base}/db/url", f"{base}/db/password", f"{base}/never"])
    assert sorted(both["DeletedParameters"]) == [f"{base}/db/password", f"{base}/db/url"]
    assert both["InvalidParameters"] == [f"{base}/never"]


def test_values_are_encrypted_at_rest_and_a_key_file_is_honoured(berth_factory: Any, tmp_path: Path) -> None:
    """A server given --secrets-key-file seals values with it: the plaintext of a secret and
    of a SecureString is nowhere in the data directory (while a String parameter's value,
    stored in the clear, is: the search works), nor is the key. Restarted with the same
    key it reads them back; with another key it refuses to start, naming the option."""
    key_file = tmp_path / "secrets.key"
    key_file.write_text(os.urandom(32).hex())
    key = key_file.read_text()
    b = berth_factory(extra_args=["--secrets-key-file", str(key_file)], fake_agent=False)
    b.client("secretsmanager").create_secret(Name="at-rest", SecretString="plaintext-needle-4711")
    ssm = b.client("ssm")
    ssm.put_parameter(Name="/at-rest/secure", Type="SecureString", Value="secure-needle-0815")
    ssm.put_parameter(Name="/at-rest/plain", Type="String", Value="visible-needle-2342")
    assert b.stop() == 0
    stored = b"".join(p.read_bytes() for p in b.data_dir.rglob("*") if p.is_file())
    assert b"visible-needle-2342" in stored, "the search reads the store"
    assert b"plaintext-needle-4711" not in stored and b"secure-needle-0815" not in stored
    assert key.encode() not in stored and not (b.data_dir / "secrets.key").exists()

    b.start()
    assert b.client("secretsmanager").get_secret_value(SecretId="at-rest")["SecretString"] == "plaintext-needle-4711"
    assert b.client("ssm").get_parameter(Name="/at-rest/secure", WithDecryption=True)["Parameter"]["Value"] == \
        "secure-needle-0815"
    assert b.stop() == 0

    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex())
    refused = subprocess.run(
        [str(berth_bin()), "server", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(b.data_dir),
         "--secrets-key-file", str(other)],
        env=b.child_env(), capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0, refused
    assert "is not the key the store's secrets are sealed with" in refused.stderr + refused.stdout, refused.stderr


def test_iam_decides_on_the_secret_and_parameter_arns(live_berth: Berth) -> None:
    b = live_berth
    sm, ssm = b.client("secretsmanager"), b.client("ssm")
    mine = sm.create_secret(Name=unique("mine"), SecretString="ok")["ARN"]
    other = sm.create_secret(Name=unique("other"), SecretString="no")["ARN"]
    base = f"/{unique('iam')}"
    ssm.put_parameter(Name=f"{base}/readable", Type="SecureString", Value="ok")
    ssm.put_parameter(Name=f"{base}/hidden", Type="String", Value="no")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": mine},
        {"Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{base}/readable"}]}
    _, session = new_user(b, inline={"read-one": json.dumps(policy)})
    user_sm, user_ssm = client(b, session, "secretsmanager"), client(b, session, "ssm")
    assert user_sm.get_secret_value(SecretId=mine.rsplit(":", 1)[1][:-7])["SecretString"] == "ok", "by name"
    denied = client_error(user_sm.get_secret_value, SecretId=other)
    assert error_code(denied) == "AccessDeniedException", denied.response
    assert f"secretsmanager:GetSecretValue on resource: {other}" in error_message(denied)
    assert user_ssm.get_parameter(Name=f"{base}/readable", WithDecryption=True)["Parameter"]["Value"] == "ok"
    hidden = client_error(user_ssm.get_parameter, Name=f"{base}/hidden")
    assert error_code(hidden) == "AccessDeniedException" and "ssm:GetParameter" in error_message(hidden)
    create = client_error(user_sm.create_secret, Name=unique("x"), SecretString="x")
    assert error_code(create) == "AccessDeniedException", create.response


def test_the_fake_agent_reads_secrets_as_the_real_one_does(live_berth: Berth) -> None:
    """On the suite's fake agent too, a task starts only once the control plane hands
    out its secrets: ecsTaskExecutionRole (AWS's managed execution policy) may not read
    Secrets Manager, so the task stops with the refusal."""
    b = live_berth
    secret = b.client("secretsmanager").create_secret(Name=unique("fake"), SecretString="x")["ARN"]
    cluster = b.client().create_cluster(clusterName=unique("fake-secrets"))["cluster"]["clusterName"]
    td = fargate_task_definition(unique("fake-secrets"))
    td["containerDefinitions"] = [{**td["containerDefinitions"][1], "essential": True,
                                   "secrets": [{"name": "X", "valueFrom": secret}]}]
    b.client().register_task_definition(**td)
    run = b.client().run_task(cluster=cluster, taskDefinition=td["family"], launchType="FARGATE",
                              networkConfiguration=awsvpc_api())
    arn = run["tasks"][0]["taskArn"]
    task = eventually(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        b.client().describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]), timeout=30, what="the task to stop")
    assert task["stopCode"] == "TaskFailedToStart", task
    assert task["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth: ")
    assert "secretsmanager:GetSecretValue" in task["stoppedReason"], task["stoppedReason"]


# --------------------------------------------------------------------------- tasks on a real agent


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, dict[str, str]]]:
    """A control plane with one real agent offering Fargate capacity, and the environment
    of a docker CLI that can push to its registry."""
    root = tmp_path_factory.mktemp("secrets-node")
    berth = berth_factory(fake_agent=False)
    (root / "agent-docker-config").mkdir()
    (root / "docker-config").mkdir()
    agent = AgentProcess(berth, "default", root, extra_args=["--fargate"],
                         extra_env={"DOCKER_CONFIG": str(root / "agent-docker-config")})
    agent.start()
    try:
        eventually(lambda: berth.client().list_container_instances(cluster="default")["containerInstanceArns"],
                   timeout=30, what=f"the agent to join (log: {root / 'agent.log'})")
        yield berth, {**os.environ, "DOCKER_CONFIG": str(root / "docker-config"), "DOCKER_HOST": docker_host()}
    finally:
        agent.stop()


LOGS_STATEMENT = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                  "Resource": "*"}


def printing_task(family: str, role_arn: str, image: str, secrets: list[dict], **container: Any) -> dict:
    """A Fargate task definition whose one container prints its secret variables and
    exits; its output goes to /ecs/FAMILY."""
    names = [s["name"] for s in secrets]
    script = "; ".join(f'echo "{n}=${n}"' for n in names) or "echo none"
    return {
        "family": family,
        "executionRoleArn": role_arn,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "app",
            "image": image,
            "essential": True,
            "command": ["sh", "-c", script],
            "secrets": secrets,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": f"/ecs/{family}", "awslogs-create-group": "true",
                "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}},
            **container,
        }],
    }


def run_until_stopped(berth: Berth, family: str) -> dict:
    ecs = berth.client()
    run = ecs.run_task(cluster="default", taskDefinition=family, launchType="FARGATE",
                       networkConfiguration=awsvpc_api())
    assert run["failures"] == [], run["failures"]
    arn = run["tasks"][0]["taskArn"]
    return eventually(
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]),
        timeout=120, what=f"{arn} to stop")


def output_of(berth: Berth, family: str, task: dict, lines: int) -> list[str]:
    logs = berth.client("logs")
    group, stream = f"/ecs/{family}", f"ecs/app/{task['taskArn'].rsplit('/', 1)[1]}"

    def read() -> list[str] | None:
        try:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return [e["message"] for e in events] if len(events) >= lines else None
    return eventually(read, timeout=30, what=f"{lines} lines in {group}/{stream}")


def test_a_fargate_task_reads_secrets_and_secure_strings_into_its_environment(
    node: tuple[Berth, dict[str, str]]
) -> None:
    berth, _ = node
    sm, ssm = berth.client("secretsmanager"), berth.client("ssm")
    secret = sm.create_secret(Name=unique("db"),
                              SecretString='{"username":"app","password":"pa55-from-asm"}')["ARN"]
    param = f"/{unique('svc')}/token"
    ssm.put_parameter(Name=param, Type="SecureString", Value="token-from-ssm")
    role = unique("exec-secrets")
    role_arn = ecs_task_role(berth, role, policy={"Version": "2012-10-17", "Statement": [
        LOGS_STATEMENT,
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret},
        {"Effect": "Allow", "Action": "ssm:GetParameters",
         "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{param}"}]})
    family = unique("with-secrets")
    secrets = [{"name": "DB_JSON", "valueFrom": secret},
               {"name": "DB_PASSWORD", "valueFrom": f"{secret}:password::"},
               {"name": "API_TOKEN", "valueFrom": param}]
    td = berth.client().register_task_definition(**printing_task(family, role_arn, IMAGE, secrets))["taskDefinition"]
    required = {a["name"] for a in td["requiresAttributes"]}
    assert {"ecs.capability.secrets.asm.environment-variables",
            "ecs.capability.secrets.ssm.environment-variables"} <= required, required

    task = run_until_stopped(berth, family)
    assert task["containers"][0].get("exitCode") == 0, task
    lines = output_of(berth, family, task, 3)
    assert sorted(lines) == sorted(['DB_JSON={"username":"app","password":"pa55-from-asm"}',
                                    "DB_PASSWORD=pa55-from-asm", "API_TOKEN=token-from-ssm"]), lines

    described = json.dumps(berth.client().describe_tasks(cluster="default", tasks=[task["taskArn"]]), default=str)
    definition = berth.aws("ecs", "describe-task-definition", "--task-definition", family)
    for text in (described, json.dumps(definition)):
        assert "pa55-from-asm" not in text and "token-from-ssm" not in text
    assert definition["taskDefinition"]["containerDefinitions"][0]["secrets"] == secrets


def test_an_execution_role_without_permission_stops_the_task_as_ecs_does(node: tuple[Berth, dict[str, str]]) -> None:
    berth, _ = node
    secret = berth.client("secretsmanager").create_secret(Name=unique("locked"), SecretString="nope")["ARN"]
    role = unique("exec-logs-only")
    role_arn = ecs_task_role(berth, role, policy={"Version": "2012-10-17", "Statement": [LOGS_STATEMENT]})
    family = unique("refused-secret")
    berth.client().register_task_definition(
        **printing_task(family, role_arn, IMAGE, [{"name": "LOCKED", "valueFrom": secret}]))
    task = run_until_stopped(berth, family)
    reason = task["stoppedReason"]
    assert task["stopCode"] == "TaskFailedToStart", task
    assert reason.startswith("ResourceInitializationError: unable to pull secrets or registry auth: "), reason
    assert secret in reason and f"assumed-role/{role}/" in reason, reason
    assert f"is not authorized to perform: secretsmanager:GetSecretValue on resource: {secret}" in reason, reason

    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{unique('absent')}-AbCdEf"
    role_arn = ecs_task_role(berth, unique("exec-all-secrets"), policy={"Version": "2012-10-17", "Statement": [
        LOGS_STATEMENT, {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    family = unique("missing-secret")
    berth.client().register_task_definition(
        **printing_task(family, role_arn, IMAGE, [{"name": "GONE", "valueFrom": missing}]))
    reason = run_until_stopped(berth, family)["stoppedReason"]
    assert reason.startswith("ResourceInitializationError: unable to pull secrets or registry auth: "), reason
    assert missing in reason and NOT_FOUND in reason, reason


def docker_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["docker", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"docker {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


def test_repository_credentials_pull_from_berths_registry_with_a_login_in_a_secret(
    node: tuple[Berth, dict[str, str]]
) -> None:
    """The execution role may read the secret but has no ECR permission: the image pulls
    only because the agent logs in with the secret's username and password (a login
    from `aws ecr get-login-password`), as ECS does for private registries."""
    berth, env = node
    repo = berth.aws("ecr", "create-repository", "--repository-name", unique("private"))["repository"]
    uri = repo["repositoryUri"]
    password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", uri.split("/")[0], stdin=password)
    # Two tags, neither left on the engine: each run must pull its own.
    for tag in ("v1", "v2"):
        docker_cli(env, "tag", IMAGE, f"{uri}:{tag}")
        docker_cli(env, "push", f"{uri}:{tag}")
        docker_cli(env, "rmi", f"{uri}:{tag}")
    login = berth.client("secretsmanager").create_secret(
        Name=unique("registry-login"), SecretString=json.dumps({"username": "AWS", "password": password}))["ARN"]
    role = unique("exec-registry")
    role_arn = ecs_task_role(berth, role, policy={"Version": "2012-10-17", "Statement": [
        LOGS_STATEMENT, {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": login}]})
    family = unique("private-image")
    td = printing_task(family, role_arn, f"{uri}:v1", [], repositoryCredentials={"credentialsParameter": login})
    registered = berth.client().register_task_definition(**td)["taskDefinition"]
    assert "ecs.capability.private-registry-authentication.secretsmanager" in {
        a["name"] for a in registered["requiresAttributes"]}
    task = run_until_stopped(berth, family)
    assert task["containers"][0].get("exitCode") == 0, task
    assert output_of(berth, family, task, 1) == ["none"]
    pushed = berth.aws("ecr", "describe-images", "--repository-name", repo["repositoryName"])["imageDetails"]
    assert task["containers"][0]["imageDigest"] == pushed[0]["imageDigest"], "pulled from Berth's registry"
    assert password not in json.dumps(task, default=str)

    # The other tag without repositoryCredentials pulls with the execution role, which
    # has no ECR permission: refused, so the login above is what made the pull work.
    plain = unique("private-image-no-login")
    berth.client().register_task_definition(**printing_task(plain, role_arn, f"{uri}:v2", []))
    reason = run_until_stopped(berth, plain)["stoppedReason"]
    assert reason.startswith("CannotPullContainerError") and "ecr:BatchGetImage" in reason, reason
