"""TagResource, UntagResource and ListTagsForResource on every taggable resource.

Covers: a cluster, a task definition revision, a task and a container instance —
adding, overwriting and removing tags through the CLI, reading them back with
list-tags-for-resource and with the resource's own describe --include TAGS —
plus tagging a resource that does not exist and AWS's reserved `aws:` prefix.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from conftest import (
    Berth,
    arn,
    client_error,
    create_cluster,
    error_code,
    fargate_task_definition,
    register,
    run_fargate,
    tag_map,
    unique,
)


def list_tags(b: Berth, resource_arn: str) -> dict[str, str]:
    return tag_map(b.aws("ecs", "list-tags-for-resource", "--resource-arn", resource_arn)["tags"])


@pytest.fixture(scope="module")
def resources(berth: Berth) -> dict[str, dict[str, Any]]:
    """One of each taggable resource, each created with the tag start=yes, with a way to describe its tags."""
    ecs = berth.client()
    start = [{"key": "start", "value": "yes"}]
    cluster = create_cluster(berth, "tagged", tags=start)
    td = register(berth, fargate_task_definition(unique("tagged"), tags=start))
    task = run_fargate(berth, cluster, td["taskDefinitionArn"], tags=start)[0]
    ci = ecs.register_container_instance(
        cluster=cluster,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
        tags=start,
    )["containerInstance"]

    def cluster_tags() -> dict[str, str]:
        return tag_map(ecs.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"][0].get("tags"))

    def td_tags() -> dict[str, str]:
        return tag_map(ecs.describe_task_definition(taskDefinition=td["taskDefinitionArn"], include=["TAGS"]).get("tags"))

    def task_tags() -> dict[str, str]:
        return tag_map(ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]], include=["TAGS"])["tasks"][0].get("tags"))

    def ci_tags() -> dict[str, str]:
        return tag_map(
            ecs.describe_container_instances(cluster=cluster, containerInstances=[ci["containerInstanceArn"]], include=["TAGS"])[
                "containerInstances"
            ][0].get("tags")
        )

    return {
        "cluster": {"arn": arn("cluster", cluster), "describe": cluster_tags},
        "task-definition": {"arn": td["taskDefinitionArn"], "describe": td_tags},
        "task": {"arn": task["taskArn"], "describe": task_tags},
        "container-instance": {"arn": ci["containerInstanceArn"], "describe": ci_tags},
    }


KINDS = ["cluster", "task-definition", "task", "container-instance"]


@pytest.mark.parametrize("kind", KINDS)
def test_tag_lifecycle(live_berth: Berth, resources: dict, kind: str) -> None:
    b = live_berth
    resource_arn: str = resources[kind]["arn"]
    describe: Callable[[], dict[str, str]] = resources[kind]["describe"]
    assert list_tags(b, resource_arn) == {"start": "yes"}

    b.aws("ecs", "tag-resource", "--resource-arn", resource_arn, "--tags", "key=team,value=core", "key=cost-center,value=42")
    assert list_tags(b, resource_arn) == {"start": "yes", "team": "core", "cost-center": "42"}

    b.aws("ecs", "tag-resource", "--resource-arn", resource_arn, "--tags", "key=team,value=platform")
    assert list_tags(b, resource_arn)["team"] == "platform"

    b.aws("ecs", "untag-resource", "--resource-arn", resource_arn, "--tag-keys", "cost-center", "start", "never-set")
    assert list_tags(b, resource_arn) == {"team": "platform"}
    assert describe() == {"team": "platform"}


@pytest.mark.parametrize("kind", ["cluster", "task", "container-instance"])
def test_tag_missing_resource(ecs: Any, resources: dict, kind: str) -> None:
    real: str = resources[kind]["arn"]
    ghost = real.rsplit("/", 1)[0] + "/" + ("0" * 32 if kind != "cluster" else unique("ghost"))
    err = client_error(ecs.tag_resource, resourceArn=ghost, tags=[{"key": "a", "value": "b"}])
    assert error_code(err) in ("ResourceNotFoundException", "ClusterNotFoundException", "InvalidParameterException"), err.response
    err = client_error(ecs.list_tags_for_resource, resourceArn=ghost)
    assert error_code(err) in ("ResourceNotFoundException", "ClusterNotFoundException", "InvalidParameterException"), err.response


def test_tag_malformed_arn(ecs: Any) -> None:
    err = client_error(ecs.list_tags_for_resource, resourceArn="not-an-arn")
    assert error_code(err) in ("InvalidParameterException", "ClientException"), err.response


def test_reserved_aws_prefix(ecs: Any, resources: dict) -> None:
    err = client_error(ecs.tag_resource, resourceArn=resources["cluster"]["arn"], tags=[{"key": "aws:owner", "value": "x"}])
    assert error_code(err) == "InvalidParameterException", err.response
