"""Container instances as the ECS agent sees them, and attributes.

Covers: RegisterContainerInstance exactly as the real ECS agent calls it
(identity document, totalResources CPU/MEMORY/PORTS, versionInfo, attributes,
tags), describe/list container instances (status and cluster-query-language
filters, pagination), the Fargate pool staying out of ListContainerInstances,
RunTask on EC2 with no instances or only a disconnected one (AWS's errors and
AGENT failure), update-container-instances-state DRAINING,
put/list/delete-attributes, and deregister-container-instance --force.

EC2 placement with resource accounting needs a connected agent and is not
exercised here; it belongs with the agent's end-to-end tests.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import (
    ACCOUNT,
    REGION,
    Berth,
    arn,
    client_error,
    create_cluster,
    ec2_task_definition,
    error_code,
    error_message,
    paginate_raw,
    register,
    tag_map,
    unique,
)

CPU, MEMORY = 2048, 3800
RESERVED_PORTS = ["22", "2375", "2376", "51678", "51679"]


def identity_document(instance_id: str, instance_type: str = "t3.medium", az: str = "us-east-1a") -> str:
    return json.dumps(
        {
            "accountId": ACCOUNT,
            "architecture": "x86_64",
            "availabilityZone": az,
            "imageId": "ami-0123456789abcdef0",
            "instanceId": instance_id,
            "instanceType": instance_type,
            "pendingTime": "2024-05-01T12:00:00Z",
            "privateIp": "10.0.1.23",
            "region": REGION,
            "version": "2017-09-30",
        }
    )


def register_instance(ecs: Any, cluster: str, *, os_type: str = "linux", extra_attributes: list[dict] | None = None, tags: list[dict] | None = None) -> dict:
    """RegisterContainerInstance with the payload the amazon-ecs-agent sends."""
    instance_id = f"i-{unique('x')[2:]}{'0' * 9}"[:19]
    attributes = [
        {"name": "ecs.os-type", "value": os_type},
        {"name": "ecs.instance-type", "value": "t3.medium"},
        {"name": "ecs.availability-zone", "value": "us-east-1a"},
        {"name": "ecs.cpu-architecture", "value": "x86_64"},
        {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
        {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
        *(extra_attributes or []),
    ]
    kwargs: dict[str, Any] = {}
    if tags:
        kwargs["tags"] = tags
    resp = ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=identity_document(instance_id),
        instanceIdentityDocumentSignature="e2e-signature",
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": CPU},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": MEMORY},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": RESERVED_PORTS},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        ],
        versionInfo={"agentVersion": "1.82.0", "agentHash": "0f3c2a1", "dockerVersion": "DockerVersion: 24.0.7"},
        attributes=attributes,
        **kwargs,
    )
    instance = resp["containerInstance"]
    instance["_ec2InstanceId"] = instance_id
    return instance


def resources(instance: dict, which: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in instance[which]:
        out[r["name"]] = r.get("integerValue") if r["type"] == "INTEGER" else r.get("stringSetValue")
    return out


def list_instances(b: Berth, cluster: str, *args: str) -> list[str]:
    return b.aws("ecs", "list-container-instances", "--cluster", cluster, *args)["containerInstanceArns"]


@pytest.fixture(scope="module")
def fleet(berth: Berth) -> dict:
    """A cluster with two registered instances: a linux one and a 'windows'-flavoured one."""
    ecs = berth.client()
    cluster = create_cluster(berth, "fleet")
    linux = register_instance(ecs, cluster, extra_attributes=[{"name": "stack", "value": "blue"}], tags=[{"key": "role", "value": "worker"}])
    other = register_instance(ecs, cluster, os_type="windows")
    return {"cluster": cluster, "linux": linux, "other": other}


def test_register_returns_agent_view(fleet: dict) -> None:
    ci = fleet["linux"]
    pattern = rf"^arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{re.escape(fleet['cluster'])}/[0-9a-f]{{32}}$"
    assert re.match(pattern, ci["containerInstanceArn"]), ci["containerInstanceArn"]
    assert ci["status"] == "ACTIVE"
    assert ci["ec2InstanceId"] == ci["_ec2InstanceId"]
    assert ci["versionInfo"] == {"agentVersion": "1.82.0", "agentHash": "0f3c2a1", "dockerVersion": "DockerVersion: 24.0.7"}
    registered = resources(ci, "registeredResources")
    remaining = resources(ci, "remainingResources")
    assert registered["CPU"] == CPU and registered["MEMORY"] == MEMORY
    assert sorted(registered["PORTS"]) == sorted(RESERVED_PORTS)
    assert remaining["CPU"] == CPU and remaining["MEMORY"] == MEMORY
    assert ci["runningTasksCount"] == 0 and ci["pendingTasksCount"] == 0
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert attrs["ecs.os-type"] == "linux" and attrs["stack"] == "blue"
    assert "com.amazonaws.ecs.capability.docker-remote-api.1.18" in attrs


def test_describe_container_instances(live_berth: Berth, fleet: dict) -> None:
    ci_arn = fleet["linux"]["containerInstanceArn"]
    ci_id = ci_arn.rsplit("/", 1)[1]
    out = live_berth.aws("ecs", "describe-container-instances", "--cluster", fleet["cluster"], "--container-instances", ci_id, "--include", "TAGS")
    assert out["failures"] == []
    [ci] = out["containerInstances"]
    assert ci["containerInstanceArn"] == ci_arn
    assert tag_map(ci["tags"]) == {"role": "worker"}
    assert isinstance(ci.get("registeredAt"), (int, float, str)), ci.keys()

    ghost = arn("container-instance", f"{fleet['cluster']}/{'0' * 32}")
    out = live_berth.aws("ecs", "describe-container-instances", "--cluster", fleet["cluster"], "--container-instances", ghost)
    assert out["containerInstances"] == []
    assert out["failures"] == [{"arn": ghost, "reason": "MISSING"}]


def test_list_and_filter(live_berth: Berth, fleet: dict) -> None:
    cluster = fleet["cluster"]
    linux, other = fleet["linux"]["containerInstanceArn"], fleet["other"]["containerInstanceArn"]
    assert sorted(list_instances(live_berth, cluster)) == sorted([linux, other])
    assert list_instances(live_berth, cluster, "--filter", "attribute:ecs.os-type == linux") == [linux]
    assert list_instances(live_berth, cluster, "--filter", "attribute:ecs.os-type != linux") == [other]
    assert list_instances(live_berth, cluster, "--filter", "attribute:stack exists") == [linux]
    assert sorted(list_instances(live_berth, cluster, "--filter", "attribute:ecs.os-type in [linux, windows]")) == sorted([linux, other])
    assert list_instances(live_berth, cluster, "--filter", "attribute:ecs.os-type == linux and attribute:stack == green") == []
    items, _ = paginate_raw(live_berth.client().list_container_instances, "containerInstanceArns", page_size=1, cluster=cluster)
    assert sorted(items) == sorted([linux, other])


def test_bad_filter_is_rejected(live_berth: Berth, fleet: dict) -> None:
    live_berth.aws_error(
        "ecs", "list-container-instances", "--cluster", fleet["cluster"], "--filter", "attribute:ecs.os-type === (",
        code=("InvalidParameterException", "ClientException"),
    )


def test_fargate_pool_is_not_listed(live_berth: Berth) -> None:
    cluster = create_cluster(live_berth, "poolonly")
    assert list_instances(live_berth, cluster) == []
    assert live_berth.client().describe_clusters(clusters=[cluster])["clusters"][0]["registeredContainerInstancesCount"] == 0


def test_registered_instance_without_agent_connection(live_berth: Berth) -> None:
    """Registering through the API alone leaves the agent disconnected; AWS then refuses placement with AGENT."""
    b, ecs = live_berth, live_berth.client()
    cluster = create_cluster(b, "noagent")
    ci = register_instance(ecs, cluster)
    assert ci["agentConnected"] is False
    family = unique("ec2web")
    register(b, ec2_task_definition(family))
    out = ecs.run_task(cluster=cluster, taskDefinition=family, launchType="EC2")
    assert out["tasks"] == []
    assert out["failures"] == [{"arn": ci["containerInstanceArn"], "reason": "AGENT"}]


def test_run_ec2_task_without_instances(live_berth: Berth) -> None:
    b, ecs = live_berth, live_berth.client()
    cluster = create_cluster(b, "empty")
    family = unique("noplace")
    register(b, ec2_task_definition(family))
    err = client_error(ecs.run_task, cluster=cluster, taskDefinition=family, launchType="EC2")
    assert error_code(err) == "InvalidParameterException", err.response
    assert "No Container Instances were found in your cluster" in error_message(err), err.response


def test_drain(live_berth: Berth) -> None:
    b, ecs = live_berth, live_berth.client()
    cluster = create_cluster(b, "drain")
    ci = register_instance(ecs, cluster)["containerInstanceArn"]
    out = b.aws("ecs", "update-container-instances-state", "--cluster", cluster, "--container-instances", ci, "--status", "DRAINING")
    assert out["failures"] == []
    assert [c["status"] for c in out["containerInstances"]] == ["DRAINING"]
    assert list_instances(b, cluster, "--status", "DRAINING") == [ci]
    assert list_instances(b, cluster, "--status", "ACTIVE") == []

    b.aws("ecs", "update-container-instances-state", "--cluster", cluster, "--container-instances", ci, "--status", "ACTIVE")
    assert list_instances(b, cluster, "--status", "ACTIVE") == [ci]


def test_attributes(live_berth: Berth, fleet: dict) -> None:
    b, cluster = live_berth, fleet["cluster"]
    ci = fleet["other"]["containerInstanceArn"]
    name = unique("tier").replace("-", "_")
    put = b.aws("ecs", "put-attributes", "--cluster", cluster, "--attributes", f"name={name},value=gold,targetId={ci}")
    assert {"name": name, "value": "gold", "targetId": ci} in [{k: a.get(k) for k in ("name", "value", "targetId")} for a in put["attributes"]]

    listed = b.aws("ecs", "list-attributes", "--cluster", cluster, "--target-type", "container-instance", "--attribute-name", name)["attributes"]
    assert [(a["name"], a.get("value"), a["targetId"]) for a in listed] == [(name, "gold", ci)]
    by_value = b.aws("ecs", "list-attributes", "--cluster", cluster, "--target-type", "container-instance", "--attribute-name", name, "--attribute-value", "silver")["attributes"]
    assert by_value == []

    # The attribute takes part in the cluster query language at once.
    assert list_instances(b, cluster, "--filter", f"attribute:{name} == gold") == [ci]

    b.aws("ecs", "delete-attributes", "--cluster", cluster, "--attributes", f"name={name},targetId={ci}")
    assert b.aws("ecs", "list-attributes", "--cluster", cluster, "--target-type", "container-instance", "--attribute-name", name)["attributes"] == []
    described = b.client().describe_container_instances(cluster=cluster, containerInstances=[ci])["containerInstances"][0]
    assert name not in {a["name"] for a in described["attributes"]}


def test_put_attributes_on_unknown_target(ecs: Any, fleet: dict) -> None:
    ghost = arn("container-instance", f"{fleet['cluster']}/{'0' * 32}")
    err = client_error(ecs.put_attributes, cluster=fleet["cluster"], attributes=[{"name": "x", "value": "y", "targetId": ghost}])
    assert error_code(err) in ("TargetNotFoundException", "InvalidParameterException"), err.response


def test_deregister_force(live_berth: Berth) -> None:
    b, ecs = live_berth, live_berth.client()
    cluster = create_cluster(b, "dereg")
    ci = register_instance(ecs, cluster)["containerInstanceArn"]
    out = b.aws("ecs", "deregister-container-instance", "--cluster", cluster, "--container-instance", ci, "--force")["containerInstance"]
    assert out["containerInstanceArn"] == ci
    assert out["status"] == "INACTIVE"
    assert list_instances(b, cluster) == []
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["registeredContainerInstancesCount"] == 0


def test_deregister_unknown(live_berth: Berth) -> None:
    cluster = create_cluster(live_berth, "deregghost")
    live_berth.aws_error(
        "ecs", "deregister-container-instance", "--cluster", cluster, "--container-instance", "0" * 32,
        code=("InvalidParameterException", "ClientException"),
    )


def test_register_into_unknown_cluster(ecs: Any) -> None:
    err = client_error(
        ecs.register_container_instance, cluster=unique("nocluster"),
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024}],
    )
    assert error_code(err) == "ClusterNotFoundException", err.response
