"""`berth up` sets up the AWS CLI and boto3 for the user.

Covers: the `berth` sections written into ~/.aws/config and ~/.aws/credentials
(endpoint_url, region, key pair), other profiles preserved byte-for-byte, the CLI
and boto3 working from the profile alone (no --endpoint-url), the key pair kept
across starts on the same data dir, --access-key-id/--secret-access-key,
--no-profile, and the start-up message.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import OTHER_CONFIG, OTHER_CREDENTIALS, REGION, Berth, BerthFactory, unique


def test_config_has_berth_profile_and_keeps_other(live_berth: Berth) -> None:
    text = live_berth.config_file.read_text()
    assert OTHER_CONFIG in text, f"the user's [profile other] block was altered:\n{text}"
    config = live_berth.read_ini(live_berth.config_file)
    assert config.has_section("profile berth"), text
    berth = config["profile berth"]
    assert berth.get("region") == REGION
    assert berth.get("endpoint_url") == live_berth.endpoint
    assert config["profile other"]["region"] == "eu-west-1"


def test_credentials_have_berth_keys_and_keep_other(live_berth: Berth) -> None:
    text = live_berth.credentials_file.read_text()
    assert OTHER_CREDENTIALS in text, f"the user's [other] credentials were altered:\n{text}"
    key, secret = live_berth.credentials()
    assert re.fullmatch(r"[A-Z0-9]{16,128}", key), f"access key id {key!r} is not AWS-shaped"
    assert len(secret) >= 30, "secret access key is too short to be a real secret"
    assert key != "AKIAOTHEROTHEROTHER1"


def test_cli_uses_profile_without_endpoint_flag(live_berth: Berth) -> None:
    out = live_berth.aws("ecs", "list-clusters")
    assert isinstance(out.get("clusterArns"), list), out


def test_cli_reaches_berth_not_aws(live_berth: Berth) -> None:
    """A cluster created through the profile is visible on Berth's own endpoint."""
    name = unique("profile")
    live_berth.aws("ecs", "create-cluster", "--cluster-name", name)
    arns = live_berth.aws("ecs", "list-clusters", "--endpoint-url", live_berth.endpoint)["clusterArns"]
    assert any(a.endswith(f":cluster/{name}") for a in arns), arns


def test_boto3_with_aws_profile_env(live_berth: Berth) -> None:
    """A user's script: AWS_PROFILE=berth and nothing else."""
    script = (
        "import boto3, json\n"
        "ecs = boto3.client('ecs')\n"
        "print(json.dumps({'endpoint': ecs.meta.endpoint_url, 'region': ecs.meta.region_name,"
        " 'clusters': ecs.list_clusters()['clusterArns']}))\n"
    )
    env = live_berth.child_env()
    env["AWS_PROFILE"] = "berth"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["endpoint"] == live_berth.endpoint
    assert out["region"] == REGION
    assert isinstance(out["clusters"], list)


def test_startup_message_names_endpoint(live_berth: Berth) -> None:
    output = live_berth.output(start=1)
    assert live_berth.endpoint in output or f"127.0.0.1:{live_berth.port}" in output, output[-3000:]


def test_same_data_dir_keeps_key_pair(berth_factory: BerthFactory) -> None:
    first = berth_factory()
    key_pair = first.credentials()
    name = unique("keep")
    first.client().create_cluster(clusterName=name)
    assert first.stop() == 0, f"SIGTERM did not stop berth cleanly:\n{first.output()[-3000:]}"

    # A brand-new HOME: the pair can only come from the data dir.
    second = berth_factory(data_dir=first.data_dir)
    assert second.credentials() == key_pair
    clusters = second.client().describe_clusters(clusters=[name])["clusters"]
    assert [c["clusterName"] for c in clusters] == [name]
    second.stop()


def test_fresh_data_dirs_get_different_key_pairs(live_berth: Berth, berth_factory: BerthFactory) -> None:
    other = berth_factory()
    try:
        assert other.credentials()[0] != live_berth.credentials()[0]
    finally:
        other.stop()


def test_given_key_pair_is_used(berth_factory: BerthFactory) -> None:
    key, secret = "AKIABERTHE2EGIVEN001", "given/secret/for+e2e/tests/0123456789abcd"
    b = berth_factory(extra_args=["--access-key-id", key, "--secret-access-key", secret])
    try:
        assert b.credentials() == (key, secret)
        assert isinstance(b.aws("ecs", "list-clusters")["clusterArns"], list)
    finally:
        b.stop()


def test_no_profile_leaves_aws_files_alone(berth_factory: BerthFactory) -> None:
    b = berth_factory(extra_args=["--no-profile"])
    try:
        assert b.config_file.read_text() == OTHER_CONFIG
        assert b.credentials_file.read_text() == OTHER_CREDENTIALS
    finally:
        b.stop()


def test_profile_files_created_when_absent(berth_factory: BerthFactory) -> None:
    b = berth_factory(seed_home=False)
    try:
        config = b.read_ini(b.config_file)
        assert config["profile berth"]["endpoint_url"] == b.endpoint
        assert b.credentials()[0]
    finally:
        b.stop()
