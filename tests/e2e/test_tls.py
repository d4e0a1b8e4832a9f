"""HTTPS with a CA of Berth's own: `berth up --tls` listening on every address and
advertising a non-loopback one (Docker trusts any registry on 127.0.0.0/8 without
checks, so the registry is named by the suite bridge's address). The AWS CLI and boto3
reach it through the profile's `ca_bundle`; a client without the CA is refused; an agent
on another "host" joins over HTTPS with a join token and `--ca-file`, and installs the
CA where the Docker Engine reads registry certificates, so `docker login`, `docker push`
and the agent's own pull work without `insecure-registries`."""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Berth, berth_bin, eventually, unique
from docker_agent import IMAGE, AgentProcess, docker

CERTS_D = Path("/etc/docker/certs.d")


def host_ip() -> str:
    ip = os.environ.get("BERTH_TEST_HOST_IP")
    if not ip:
        pytest.fail("BERTH_TEST_HOST_IP is not set: run the suite through scripts/test")
    return ip


@pytest.fixture(scope="module")
def secure(berth_factory: Any) -> Iterator[Berth]:
    berth = berth_factory(fake_agent=False, tls=True, listen_host="0.0.0.0",
                          extra_args=["--advertise-host", host_ip()])
    yield berth
    shutil.rmtree(CERTS_D / f"{host_ip()}:{berth.port}", ignore_errors=True)


def test_the_profile_names_the_ca_and_only_clients_that_trust_it_get_in(secure: Berth) -> None:
    config = secure.read_ini(secure.config_file)
    assert config["profile berth"]["endpoint_url"] == f"https://127.0.0.1:{secure.port}"
    assert config["profile berth"]["ca_bundle"] == str(secure.ca_file)
    assert "BEGIN CERTIFICATE" in secure.ca_file.read_text()
    assert oct((secure.data_dir / "tls" / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    # The AWS CLI and boto3, with nothing but the profile.
    cluster = unique("tls")
    secure.aws("ecs", "create-cluster", "--cluster-name", cluster)
    assert any(cluster in a for a in secure.client().list_clusters()["clusterArns"])
    # The certificate covers the advertised address too.
    context = ssl.create_default_context(cafile=str(secure.ca_file))
    with urllib.request.urlopen(f"https://{host_ip()}:{secure.port}/health", context=context, timeout=10) as r:
        assert r.read() == b"ok\n"
    # Without the CA: refused by the client's certificate check; plain HTTP gets nowhere.
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"https://127.0.0.1:{secure.port}/health", context=ssl.create_default_context(), timeout=10)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    # (rustls answers the plain request with a TLS alert, which is no HTTP status line.)
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{secure.port}/health", timeout=10).read()
    # ECR says how to reach its registry: over HTTPS, by the advertised name.
    auth = secure.client("ecr").get_authorization_token()["authorizationData"][0]
    assert auth["proxyEndpoint"] == f"https://{host_ip()}:{secure.port}"


def test_an_agent_joins_over_https_and_docker_pushes_and_pulls_without_insecure_registries(
    secure: Berth, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    cluster = unique("tlsagents")
    secure.aws("ecs", "create-cluster", "--cluster-name", cluster)
    token = subprocess.run([str(berth_bin()), "token", "create", "--cluster", cluster], env=secure.child_env(),
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    registry = f"{host_ip()}:{secure.port}"
    agent = AgentProcess(secure, cluster, tmp_path_factory.mktemp("tlsagent"), token=token,
                         server=f"https://{registry}", extra_args=["--ca-file", str(secure.ca_file)])
    agent.start()
    try:
        ecs = secure.client()
        eventually(lambda: ecs.list_container_instances(cluster=cluster)["containerInstanceArns"], timeout=30,
                   what=f"the agent to join over HTTPS (log: {agent.root / 'agent.log'})")
        # The agent put the CA where Docker reads it, for the registry's name.
        assert (CERTS_D / registry / "ca.crt").read_bytes() == secure.ca_file.read_bytes()

        repo = unique("tlsrepo")
        uri = secure.client("ecr").create_repository(repositoryName=repo)["repository"]["repositoryUri"]
        assert uri == f"{registry}/{repo}"
        password = secure.run_cli(["ecr", "get-login-password"]).stdout.strip()
        login = subprocess.run(["docker", "-H", os.environ["BERTH_TEST_DOCKER_HOST"], "login", "--username", "AWS",
                                "--password-stdin", registry], input=password, capture_output=True, text=True, timeout=60)
        assert login.returncode == 0, login.stderr
        docker("tag", IMAGE, f"{uri}:v1")
        docker("push", f"{uri}:v1")
        docker("rmi", f"{uri}:v1")

        family = unique("tlstask")
        ecs.register_task_definition(family=family, containerDefinitions=[
            {"name": "main", "image": f"{uri}:v1", "memory": 32, "command": ["sh", "-c", "echo pulled; sleep 300"]}])
        arn = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]

        def running() -> dict | None:
            t = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
            assert t["lastStatus"] != "STOPPED", t
            return t if t["lastStatus"] == "RUNNING" else None
        task = eventually(running, timeout=60, what="the task pulled from the HTTPS registry to run")
        assert task["containers"][0]["imageDigest"].startswith("sha256:")
        ecs.stop_task(cluster=cluster, task=arn)
        eventually(lambda: ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED",
                   timeout=60, what="the task to stop")
    finally:
        agent.stop()
        subprocess.run(["docker", "-H", os.environ["BERTH_TEST_DOCKER_HOST"], "logout", registry], capture_output=True)
