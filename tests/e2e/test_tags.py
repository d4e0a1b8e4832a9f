"""TagResource, UntagResource and ListTagsForResource on every taggable resource.

Covers: a cluster, a task definition revision, a task, a container instance and a
service —
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
    awsvpc_api,
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


START = [{"key": "start", "value": "yes"}]
KINDS = ["cluster", "task-definition", "task", "container-instance", "service"]


def make_resource(b: Berth, kind: str) -> tuple[str, Callable[[], dict[str, str]]]:
    """Create one resource of `kind` tagged start=yes; return its ARN and a reader of its tags via describe."""
    ecs = b.client()
    cluster = create_cluster(b, "tagged", tags=START if kind == "cluster" else [])
    if kind == "cluster":
        return arn("cluster", cluster), lambda: tag_map(
            ecs.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"][0].get("tags")
        )
    if kind == "task-definition":
        td_arn = register(b, fargate_task_definition(unique("tagged"), tags=START))["taskDefinitionArn"]
        return td_arn, lambda: tag_map(ecs.describe_task_definition(taskDefinition=td_arn, include=["TAGS"]).get("tags"))
    if kind == "task":
        td_arn = register(b, fargate_task_definition(unique("tagged"), tags=[]))["taskDefinitionArn"]
        task_arn = run_fargate(b, cluster, td_arn, tags=START)[0]["taskArn"]
        return task_arn, lambda: tag_map(
            ecs.describe_tasks(cluster=cluster, tasks=[task_arn], include=["TAGS"])["tasks"][0].get("tags")
        )
    if kind == "service":
        td_arn = register(b, fargate_task_definition(unique("tagged"), tags=[]))["taskDefinitionArn"]
        service = ecs.create_service(cluster=cluster, serviceName=unique("tagged"), taskDefinition=td_arn,
                                     desiredCount=0, launchType="FARGATE", networkConfiguration=awsvpc_api(),
                                     tags=START)["service"]
        return service["serviceArn"], lambda: tag_map(
            ecs.describe_services(cluster=cluster, services=[service["serviceName"]], include=["TAGS"])
            ["services"][0].get("tags")
        )
    ci_arn = ecs.register_container_instance(
        cluster=cluster,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
        tags=START,
    )["containerInstance"]["containerInstanceArn"]
    return ci_arn, lambda: tag_map(
        ecs.describe_container_instances(cluster=cluster, containerInstances=[ci_arn], include=["TAGS"])["containerInstances"][0].get("tags")
    )


@pytest.mark.parametrize("kind", KINDS)
def test_tag_lifecycle(live_berth: Berth, kind: str) -> None:
    b = live_berth
    resource_arn, describe = make_resource(b, kind)
    assert list_tags(b, resource_arn) == {"start": "yes"}

    b.aws("ecs", "tag-resource", "--resource-arn", resource_arn, "--tags", "key=team,value=core", "key=cost-center,value=42")
    assert list_tags(b, resource_arn) == {"start": "yes", "team": "core", "cost-center": "42"}

    b.aws("ecs", "tag-resource", "--resource-arn", resource_arn, "--tags", "key=team,value=platform")
    assert list_tags(b, resource_arn)["team"] == "platform"

    b.aws("ecs", "untag-resource", "--resource-arn", resource_arn, "--tag-keys", "cost-center", "start", "never-set")
    assert list_tags(b, resource_arn) == {"team": "platform"}
    assert describe() == {"team": "platform"}


@pytest.mark.parametrize("kind", KINDS)
def test_tag_missing_resource(live_berth: Berth, ecs: Any, kind: str) -> None:
    cluster = create_cluster(live_berth, "ghosts")
    ghost = {
        "cluster": arn("cluster", unique("ghost")),
        "task-definition": arn("task-definition", f"{unique('ghost')}:1"),
    }.get(kind, arn(kind, f"{cluster}/{'0' * 32}"))
    err = client_error(ecs.tag_resource, resourceArn=ghost, tags=[{"key": "a", "value": "b"}])
    assert error_code(err) in ("ResourceNotFoundException", "ClusterNotFoundException", "InvalidParameterException"), err.response
    err = client_error(ecs.list_tags_for_resource, resourceArn=ghost)
    assert error_code(err) in ("ResourceNotFoundException", "ClusterNotFoundException", "InvalidParameterException"), err.response


def test_tag_malformed_arn(ecs: Any) -> None:
    err = client_error(ecs.list_tags_for_resource, resourceArn="not-an-arn")
    assert error_code(err) in ("InvalidParameterException", "ClientException"), err.response


def test_reserved_aws_prefix(live_berth: Berth, ecs: Any) -> None:
    cluster = create_cluster(live_berth, "reserved")
    err = client_error(ecs.tag_resource, resourceArn=arn("cluster", cluster), tags=[{"key": "aws:owner", "value": "x"}])
    assert error_code(err) == "InvalidParameterException", err.response
