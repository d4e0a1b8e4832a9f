"""ECR's repository API and `docker login/push/pull` against Berth's registry, with the
real AWS CLI, docker CLI and the suite's own dockerd; then a task runs from the pushed
image's repositoryUri, pulled by `berth agent` with the login's credentials."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Berth, aws_cli_path, eventually, unique
from docker_agent import IMAGE, AgentProcess, docker_host


def test_repositories_are_created_described_and_deleted(live_berth: Berth) -> None:
    name = f"team/{unique('app')}"
    repo = live_berth.aws("ecr", "create-repository", "--repository-name", name)["repository"]
    host = live_berth.endpoint.removeprefix("http://")
    assert repo["repositoryUri"] == f"{host}/{name}"
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:000000000000:repository/{name}"
    assert repo["imageTagMutability"] == "MUTABLE" and repo["registryId"] == "000000000000"
    dup = live_berth.aws_error("ecr", "create-repository", "--repository-name", name)
    assert dup.error_code == "RepositoryAlreadyExistsException", dup.describe()
    found = live_berth.aws("ecr", "describe-repositories", "--repository-names", name)["repositories"]
    assert [r["repositoryName"] for r in found] == [name]
    listed = live_berth.aws("ecr", "describe-repositories")["repositories"]
    assert name in [r["repositoryName"] for r in listed]
    bad = live_berth.aws_error("ecr", "create-repository", "--repository-name", "../Escape")
    assert bad.error_code == "InvalidParameterException", bad.describe()
    live_berth.aws("ecr", "delete-repository", "--repository-name", name)
    gone = live_berth.aws_error("ecr", "describe-repositories", "--repository-names", name)
    assert gone.error_code == "RepositoryNotFoundException", gone.describe()
    assert "does not exist in the registry with id '000000000000'" in gone.error_message


def test_the_registry_refuses_anonymous_and_forged_logins(live_berth: Berth) -> None:
    def status(headers: dict[str, str]) -> tuple[int, str]:
        req = urllib.request.Request(f"{live_berth.endpoint}/v2/", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, ""
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("WWW-Authenticate", "")

    code, challenge = status({})
    assert code == 401 and challenge.startswith("Basic realm="), challenge
    forged = base64.b64encode(b"AWS:v1.000000000000.us-east-1.99999999999.AAAA").decode()
    assert status({"Authorization": f"Basic {forged}"})[0] == 401
    password = live_berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    good = base64.b64encode(f"AWS:{password}".encode()).decode()
    assert status({"Authorization": f"Basic {good}"})[0] == 200
    data = live_berth.aws("ecr", "get-authorization-token")["authorizationData"][0]
    assert base64.b64decode(data["authorizationToken"]).decode().startswith("AWS:")
    assert data["proxyEndpoint"] == live_berth.endpoint


@pytest.fixture
def registry_node(berth_factory: Any, tmp_path: Path) -> Iterator[tuple[Berth, AgentProcess, dict[str, str]]]:
    """A control plane without the fake agent, a `berth agent` in `default`, and a Docker
    client configuration of the test's own (what `docker login` writes) for the docker
    CLI. The agent gets an empty Docker configuration: it pulls from Berth's registry
    with a login of its own, from the control plane."""
    berth = berth_factory(fake_agent=False)
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    agent_config = tmp_path / "agent-docker-config"
    agent_config.mkdir()
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir), "DOCKER_HOST": docker_host()}
    agent = AgentProcess(berth, "default", tmp_path, extra_env={"DOCKER_CONFIG": str(agent_config),
                                                                  "ECS_IMAGE_PULL_BEHAVIOR": "default"})
    agent.start()
    try:
        eventually(lambda: berth.client().list_container_instances(cluster="default")["containerInstanceArns"],
                   timeout=30, what="the agent to join")
        yield berth, agent, env
    finally:
        agent.stop()


def docker_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["docker", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"docker {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


def logged_in_as(berth: Berth, env: dict[str, str], key: dict[str, str], host: str, config_dir: Path) -> dict[str, str]:
    """A Docker client environment of its own, logged in to `host` with the password
    `aws ecr get-login-password` gives the IAM user whose access key is `key` (its keys in
    the environment, no profile)."""
    as_user = {**berth.child_env(), "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    login = subprocess.run(
        [str(aws_cli_path()), "--endpoint-url", berth.endpoint, "--region", "us-east-1", "ecr", "get-login-password"],
        env=as_user, capture_output=True, text=True, timeout=120,
    )
    assert login.returncode == 0, login.stderr
    config_dir.mkdir()
    user_env = {**env, "DOCKER_CONFIG": str(config_dir)}
    docker_cli(user_env, "login", "--username", "AWS", "--password-stdin", host, stdin=login.stdout.strip())
    return user_env


def test_docker_login_push_pull_and_a_task_from_the_repository_uri(registry_node: Any) -> None:
    berth, _, env = registry_node
    name = f"team/{unique('web')}"
    uri = berth.aws("ecr", "create-repository", "--repository-name", name)["repository"]["repositoryUri"]
    host = uri.split("/")[0]
    password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    assert "Login Succeeded" in docker_cli(env, "login", "--username", "AWS", "--password-stdin", host, stdin=password)
    image_id = docker_cli(env, "image", "inspect", "--format", "{{.Id}}", IMAGE)
    docker_cli(env, "tag", IMAGE, f"{uri}:v1")
    docker_cli(env, "push", f"{uri}:v1")
    docker_cli(env, "rmi", f"{uri}:v1")
    docker_cli(env, "pull", f"{uri}:v1")
    assert docker_cli(env, "image", "inspect", "--format", "{{.Id}}", f"{uri}:v1") == image_id
    docker_cli(env, "rmi", f"{uri}:v1")

    # The engine no longer has {uri}:v1, and the agent has no `docker login`: the task
    # runs only if the agent pulls with its own login from the control plane.
    ecs = berth.client()
    family = unique("from-ecr")
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": f"{uri}:v1", "memory": 32, "command": ["sh", "-c", "exit 6"]}])
    arn = ecs.run_task(cluster="default", taskDefinition=family)["tasks"][0]["taskArn"]
    task = eventually(
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]),
        timeout=90,
        what=f"{arn} to run from {uri}:v1 and stop",
    )
    assert task["containers"][0]["exitCode"] == 6, task
    assert task["pullStartedAt"] <= task["pullStoppedAt"]



def test_pushed_images_are_listed_described_fetched_and_deleted(registry_node: Any) -> None:
    berth, _, env = registry_node
    name = f"team/{unique('img')}"
    uri = berth.aws("ecr", "create-repository", "--repository-name", name)["repository"]["repositoryUri"]
    password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", uri.split("/")[0], stdin=password)
    for tag in ("v1", "v2"):
        docker_cli(env, "tag", IMAGE, f"{uri}:{tag}")
        docker_cli(env, "push", f"{uri}:{tag}")
    ids = berth.aws("ecr", "list-images", "--repository-name", name)["imageIds"]
    assert sorted(i["imageTag"] for i in ids) == ["v1", "v2"]
    digest = ids[0]["imageDigest"]
    assert {i["imageDigest"] for i in ids} == {digest}, "one image, two tags"
    detail = berth.aws("ecr", "describe-images", "--repository-name", name)["imageDetails"]
    assert len(detail) == 1 and sorted(detail[0]["imageTags"]) == ["v1", "v2"]
    assert detail[0]["imageDigest"] == digest and detail[0]["imageSizeInBytes"] > 0
    assert detail[0]["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    got = berth.aws("ecr", "batch-get-image", "--repository-name", name, "--image-ids", "imageTag=v1")["images"][0]
    assert got["imageId"]["imageDigest"] == digest
    assert json.loads(got["imageManifest"])["schemaVersion"] == 2

    gone = berth.aws("ecr", "batch-delete-image", "--repository-name", name, "--image-ids", "imageTag=v2", "imageTag=nope")
    assert [i["imageTag"] for i in gone["imageIds"]] == ["v2"]
    assert gone["failures"][0]["failureCode"] == "ImageNotFound"
    assert [i["imageTag"] for i in berth.aws("ecr", "list-images", "--repository-name", name)["imageIds"]] == ["v1"]
    # Removing an image's last tag deletes the image, as ECR does.
    last = berth.aws("ecr", "batch-delete-image", "--repository-name", name, "--image-ids", "imageTag=v1")
    assert last["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}], last
    assert berth.aws("ecr", "list-images", "--repository-name", name)["imageIds"] == []
    docker_cli(env, "rmi", f"{uri}:v1", f"{uri}:v2")
    out = subprocess.run(["docker", "pull", f"{uri}:v1"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "not found" in out.stderr.lower(), out.stderr
    missing = berth.aws_error("ecr", "describe-images", "--repository-name", name, "--image-ids", "imageTag=v1")
    assert missing.error_code == "ImageNotFoundException", missing.describe()
    berth.aws("ecr", "delete-repository", "--repository-name", name)  # empty: no --force needed


def test_immutable_tags_refuse_a_second_push_and_layers_report_availability(registry_node: Any) -> None:
    berth, _, env = registry_node
    name = f"team/{unique('fixed')}"
    uri = berth.aws("ecr", "create-repository", "--repository-name", name)["repository"]["repositoryUri"]
    changed = berth.aws("ecr", "put-image-tag-mutability", "--repository-name", name, "--image-tag-mutability", "IMMUTABLE")
    assert changed["imageTagMutability"] == "IMMUTABLE"
    described = berth.aws("ecr", "describe-repositories", "--repository-names", name)["repositories"][0]
    assert described["imageTagMutability"] == "IMMUTABLE"
    password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", uri.split("/")[0], stdin=password)
    docker_cli(env, "tag", IMAGE, f"{uri}:v1")
    docker_cli(env, "push", f"{uri}:v1")
    # Another image (the same files with a label) under the same tag.
    container = docker_cli(env, "create", IMAGE, "true")
    docker_cli(env, "commit", "--change", "LABEL berth.variant=2", container, f"{uri}:v1")
    docker_cli(env, "rm", container)
    out = subprocess.run(["docker", "push", f"{uri}:v1"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "immutable" in (out.stdout + out.stderr), out.stdout + out.stderr
    docker_cli(env, "rmi", f"{uri}:v1")

    manifest = json.loads(berth.aws("ecr", "batch-get-image", "--repository-name", name,
                                    "--image-ids", "imageTag=v1")["images"][0]["imageManifest"])
    layer = manifest["layers"][0]["digest"]
    absent = "sha256:" + "0" * 64
    check = berth.aws("ecr", "batch-check-layer-availability", "--repository-name", name,
                      "--layer-digests", layer, absent, "not-a-digest")
    assert [(l["layerDigest"], l["layerAvailability"]) for l in check["layers"]] == [(layer, "AVAILABLE")]
    assert check["layers"][0]["layerSize"] == manifest["layers"][0]["size"]
    assert {(f["layerDigest"], f["failureCode"]) for f in check["failures"]} == {
        (absent, "MissingLayerDigest"), ("not-a-digest", "InvalidLayerDigest")}


def test_a_read_only_user_can_docker_pull_but_not_push(registry_node: Any, tmp_path: Path) -> None:
    """IAM decides each registry request as the principal that logged in: a user with
    AmazonEC2ContainerRegistryReadOnly pulls with `docker pull`, and its `docker push`
    is refused (and pushes nothing)."""
    berth, _, env = registry_node
    name = f"team/{unique('ro')}"
    uri = berth.aws("ecr", "create-repository", "--repository-name", name)["repository"]["repositoryUri"]
    host = uri.split("/")[0]
    root_password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", host, stdin=root_password)
    docker_cli(env, "tag", IMAGE, f"{uri}:v1")
    docker_cli(env, "push", f"{uri}:v1")
    docker_cli(env, "rmi", f"{uri}:v1")

    iam = berth.client("iam")
    user = unique("puller")
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    user_env = logged_in_as(berth, env, key, host, tmp_path / "user-docker-config")
    docker_cli(user_env, "pull", f"{uri}:v1")

    # A new tag of the same image: its push needs ecr:PutImage, which ReadOnly lacks.
    docker_cli(user_env, "tag", f"{uri}:v1", f"{uri}:v2")
    out = subprocess.run(["docker", "push", f"{uri}:v2"], env=user_env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0, out.stdout
    assert "denied" in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    tags = {i.get("imageTag") for i in berth.aws("ecr", "list-images", "--repository-name", name)["imageIds"]}
    assert tags == {"v1"}, "the refused push stored no tag"
    docker_cli(user_env, "rmi", f"{uri}:v1", f"{uri}:v2")


def test_a_repository_policy_lets_a_user_pull_what_its_own_policies_do_not(registry_node: Any, tmp_path: Path) -> None:
    """ECR repository policies are resource-based policies: a user whose own policies
    allow only GetAuthorizationToken pulls from the repository whose policy names it,
    and from no other."""
    berth, _, env = registry_node
    shared, other = f"team/{unique('shared')}", f"team/{unique('private')}"
    uris = {n: berth.aws("ecr", "create-repository", "--repository-name", n)["repository"]["repositoryUri"]
            for n in (shared, other)}
    host = uris[shared].split("/")[0]
    root_password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", host, stdin=root_password)
    for n, uri in uris.items():
        docker_cli(env, "tag", IMAGE, f"{uri}:v1")
        docker_cli(env, "push", f"{uri}:v1")
        docker_cli(env, "rmi", f"{uri}:v1")

    iam = berth.client("iam")
    user = unique("guest")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="login", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    user_arn = f"arn:aws:iam::000000000000:user/{user}"

    # Malformed or principal-less policies are refused and nothing is kept.
    bad = berth.aws_error("ecr", "set-repository-policy", "--repository-name", shared, "--policy-text",
                          json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*"}]}),
                          code="InvalidParameterException")
    assert "Invalid repository policy provided" in bad.error_message
    berth.aws_error("ecr", "get-repository-policy", "--repository-name", shared, code="RepositoryPolicyNotFoundException")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "guest-pulls", "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}
    berth.aws("ecr", "set-repository-policy", "--repository-name", shared, "--policy-text", json.dumps(policy))
    got = berth.aws("ecr", "get-repository-policy", "--repository-name", shared)
    assert json.loads(got["policyText"]) == policy

    user_env = logged_in_as(berth, env, key, host, tmp_path / "guest-docker-config")
    docker_cli(user_env, "pull", f"{uris[shared]}:v1")
    refused = subprocess.run(["docker", "pull", f"{uris[other]}:v1"], env=user_env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "denied" in refused.stderr.lower(), refused.stderr
    docker_cli(user_env, "rmi", f"{uris[shared]}:v1")

    # Without the policy, the same pull is refused.
    deleted = berth.aws("ecr", "delete-repository-policy", "--repository-name", shared)
    assert json.loads(deleted["policyText"]) == policy
    again = subprocess.run(["docker", "pull", f"{uris[shared]}:v1"], env=user_env, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "denied" in again.stderr.lower(), again.stderr
