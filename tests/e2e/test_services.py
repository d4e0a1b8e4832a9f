"""ECS services with boto3 and the AWS CLI against the fake agent's Fargate capacity:
desired count kept, a stopped task replaced, force-new-deployment rolled to completion,
the circuit breaker rolling back a deployment whose tasks exit, scaling to zero and
deletion, propagateTags SERVICE and enableECSManagedTags on the service's tasks,
`aws ecs wait services-stable`, and the API's errors."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Berth, awsvpc_api, client_error, error_code, eventually, fargate_task_definition, unique

CLUSTER = "default"


@pytest.fixture(scope="module")
def berth(berth_factory: Any) -> Berth:
    """A server of this module's own: its services hold Fargate capacity the shared
    server's other tests would otherwise not get."""
    return berth_factory()


def register(ecs: Any, family: str, **env: str) -> str:
    td = fargate_task_definition(family)
    del td["containerDefinitions"][0]["logConfiguration"]
    td["containerDefinitions"][0]["environment"] += [{"name": k, "value": v} for k, v in env.items()]
    return ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]


def create(ecs: Any, name: str, task_definition: str, desired: int, **extra: Any) -> dict:
    return ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=task_definition, desiredCount=desired,
                              launchType="FARGATE", networkConfiguration=awsvpc_api(), **extra)["service"]


def describe(ecs: Any, name: str) -> dict:
    return ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]


def running_tasks(ecs: Any, name: str) -> list[dict]:
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
    return ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []


def steady(ecs: Any, name: str, count: int) -> dict | None:
    s = describe(ecs, name)
    primary = s["deployments"][0]
    ok = (s["runningCount"] == count and len(s["deployments"]) == 1 and primary["rolloutState"] == "COMPLETED"
          and s["events"] and s["events"][0]["message"] == f"(service {name}) has reached a steady state.")
    return s if ok else None


def test_a_service_keeps_its_desired_count_and_replaces_a_stopped_task(berth: Berth) -> None:
    ecs = berth.client()
    name = unique("web")
    td = register(ecs, unique("svc"))
    created = create(ecs, name, td, 2)
    assert created["status"] == "ACTIVE" and created["desiredCount"] == 2
    assert created["deployments"][0]["status"] == "PRIMARY"
    assert created["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    s = eventually(lambda: steady(ecs, name, 2), timeout=60, what=f"{name} to reach 2 running tasks")
    deployment = s["deployments"][0]["id"]
    assert deployment.startswith("ecs-svc/")
    tasks = running_tasks(ecs, name)
    assert len(tasks) == 2
    assert all(t["group"] == f"service:{name}" and t["startedBy"] == deployment for t in tasks)
    messages = [e["message"] for e in s["events"]]
    assert any(m.startswith(f"(service {name}) has started 2 tasks:") for m in messages), messages
    assert f"(service {name}) ({'deployment ' + deployment}) deployment completed." in messages

    # The seed's "restart": stop a task; the service starts another.
    victim = tasks[0]["taskArn"]
    ecs.stop_task(cluster=CLUSTER, task=victim, reason="restart")
    def replaced() -> list[str] | None:
        arns = [t["taskArn"] for t in running_tasks(ecs, name) if t["lastStatus"] == "RUNNING"]
        return arns if len(arns) == 2 and victim not in arns else None
    eventually(replaced, timeout=60, what="the stopped task to be replaced")
    berth.aws("ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", name, timeout=180)


def test_force_new_deployment_rolls_every_task_onto_a_new_deployment(berth: Berth) -> None:
    ecs = berth.client()
    name = unique("roll")
    create(ecs, name, register(ecs, unique("svc")), 3)
    first = eventually(lambda: steady(ecs, name, 3), timeout=60, what="the first deployment")["deployments"][0]["id"]
    updated = berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", name, "--force-new-deployment")["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    second = updated["deployments"][0]["id"]
    assert second != first
    s = eventually(lambda: steady(ecs, name, 3), timeout=90, what="the new deployment to complete")
    assert s["deployments"][0]["id"] == second
    assert {t["startedBy"] for t in running_tasks(ecs, name)} == {second}

    listed = berth.aws("ecs", "list-service-deployments", "--cluster", CLUSTER, "--service", name)["serviceDeployments"]
    assert [d["status"] for d in listed] == ["SUCCESSFUL", "SUCCESSFUL"], listed
    assert listed[0]["serviceDeploymentArn"].endswith(f":service-deployment/{CLUSTER}/{name}/{second.split('/')[1]}")
    assert listed[0]["createdAt"] >= listed[1]["createdAt"]
    page = ecs.list_service_deployments(cluster=CLUSTER, service=name, maxResults=1)
    assert len(page["serviceDeployments"]) == 1 and page["nextToken"]
    rest = ecs.list_service_deployments(cluster=CLUSTER, service=name, maxResults=1, nextToken=page["nextToken"])
    assert rest["serviceDeployments"][0]["serviceDeploymentArn"] == listed[1]["serviceDeploymentArn"]
    described = ecs.describe_service_deployments(serviceDeploymentArns=[listed[0]["serviceDeploymentArn"], listed[0]["serviceDeploymentArn"] + "0"])
    d = described["serviceDeployments"][0]
    assert d["status"] == "SUCCESSFUL" and d["targetServiceRevision"]["runningTaskCount"] == 3
    assert d["deploymentConfiguration"]["maximumPercent"] == 200
    assert [f["reason"] for f in described["failures"]] == ["MISSING"]


def test_the_circuit_breaker_rolls_back_a_deployment_whose_tasks_exit(berth: Berth) -> None:
    ecs = berth.client()
    name = unique("breaker")
    good = register(ecs, unique("good"))
    create(ecs, name, good, 2, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "minimumHealthyPercent": 100, "maximumPercent": 200})
    eventually(lambda: steady(ecs, name, 2), timeout=60, what="the good deployment")
    bad = register(ecs, unique("bad"), BERTH_FAKE_RUN_FOR_MS="200", BERTH_FAKE_EXIT_CODE="1")
    failing = ecs.update_service(cluster=CLUSTER, service=name, taskDefinition=bad)["service"]["deployments"][0]["id"]

    def rolled_back() -> dict | None:
        s = steady(ecs, name, 2)
        return s if s and s["deployments"][0]["id"] != failing else None
    s = eventually(rolled_back, timeout=120, what="the circuit breaker to roll back")
    assert s["taskDefinition"] == good
    messages = [e["message"] for e in s["events"]]
    assert f"(service {name}) (deployment {failing}) deployment failed: tasks failed to start." in messages, messages
    assert any(m.startswith(f"(service {name}) rolling back to deployment ") for m in messages), messages
    assert all(t["taskDefinitionArn"] == good for t in running_tasks(ecs, name))
    statuses = [d["status"] for d in ecs.list_service_deployments(cluster=CLUSTER, service=name)["serviceDeployments"]]
    assert statuses == ["ROLLBACK_SUCCESSFUL", "STOPPED", "SUCCESSFUL"], statuses
    failed = ecs.list_service_deployments(cluster=CLUSTER, service=name, status=["STOPPED"])["serviceDeployments"]
    assert failed[0]["statusReason"] == "ECS deployment circuit breaker: tasks failed to start."
    breaker = ecs.describe_service_deployments(serviceDeploymentArns=[failed[0]["serviceDeploymentArn"]])
    assert breaker["serviceDeployments"][0]["deploymentCircuitBreaker"]["status"] == "TRIGGERED"


def test_scaling_to_zero_stops_every_task_and_delete_retires_the_service(berth: Berth) -> None:
    ecs = berth.client()
    name = unique("gone")
    create(ecs, name, register(ecs, unique("svc")), 2)
    eventually(lambda: steady(ecs, name, 2), timeout=60, what="two tasks")
    err = client_error(ecs.delete_service, cluster=CLUSTER, service=name)
    assert error_code(err) == "InvalidParameterException"
    ecs.update_service(cluster=CLUSTER, service=name, desiredCount=0)
    eventually(lambda: steady(ecs, name, 0), timeout=60, what="no tasks")
    assert running_tasks(ecs, name) == []
    deleted = ecs.delete_service(cluster=CLUSTER, service=name)["service"]
    assert deleted["status"] == "DRAINING"
    eventually(lambda: describe(ecs, name)["status"] == "INACTIVE", timeout=30, what="INACTIVE")
    arns = ecs.list_services(cluster=CLUSTER)["serviceArns"]
    assert not any(a.endswith(f"/{name}") for a in arns)
    # The name may be used again.
    create(ecs, name, register(ecs, unique("svc")), 0)


def test_service_tasks_carry_the_services_tags_and_ecs_managed_tags(berth: Berth) -> None:
    ecs = berth.client()
    tagged, plain = unique("tagged"), unique("plain")
    td = register(ecs, unique("svc"))
    create(ecs, tagged, td, 1, enableECSManagedTags=True, propagateTags="SERVICE",
           tags=[{"key": "team", "value": "web"}])
    create(ecs, plain, td, 1, tags=[{"key": "team", "value": "web"}])
    assert describe(ecs, tagged)["enableECSManagedTags"] is True
    for name in (tagged, plain):
        eventually(lambda: steady(ecs, name, 1), timeout=60, what=f"{name} to run its task")
    def tags_of(name: str) -> dict[str, str]:
        [task] = running_tasks(ecs, name)
        return {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=task["taskArn"])["tags"]}
    assert tags_of(tagged) == {"team": "web", "aws:ecs:clusterName": CLUSTER, "aws:ecs:serviceName": tagged}
    # Without propagateTags or managed tags, the service's tasks get neither.
    assert tags_of(plain) == {}


def test_service_errors_are_awss(berth: Berth) -> None:
    ecs = berth.client()
    name = unique("err")
    td = register(ecs, unique("svc"))
    create(ecs, name, td, 0)
    assert error_code(client_error(create, ecs, name, td, 0)) == "InvalidParameterException"
    missing = ecs.describe_services(cluster=CLUSTER, services=["nope-" + name])
    assert missing["failures"][0]["reason"] == "MISSING"
    assert error_code(client_error(ecs.update_service, cluster=CLUSTER, service="nope-" + name,
                                   desiredCount=1)) == "ServiceNotFoundException"
    assert error_code(client_error(create, ecs, unique("bad"), td, 1, deploymentConfiguration={
        "minimumHealthyPercent": 150})) == "InvalidParameterException"
    assert error_code(client_error(ecs.create_service, cluster=CLUSTER, serviceName=unique("d"), taskDefinition=td,
                                   schedulingStrategy="DAEMON", launchType="FARGATE",
                                   networkConfiguration=awsvpc_api())) == "InvalidParameterException"
    assert error_code(client_error(create, ecs, unique("lb"), td, 1, loadBalancers=[{
        "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/x/0123456789abcdef",
        "containerName": "presto", "containerPort": 9999}])) == "InvalidParameterException"
    assert error_code(client_error(ecs.create_service, cluster="no-such-cluster", serviceName=unique("x"),
                                   taskDefinition=td)) == "ClusterNotFoundException"


def test_create_service_keeps_its_role_and_deployment_controller(berth: Berth) -> None:
    """`role` (a name or an ARN) comes back as `roleArn`, and the deployment controller
    as given (ECS when none was); CODE_DEPLOY (which needs AWS CodeDeploy) is refused, not
    ignored, and EXTERNAL refuses what its task sets carry (test_task_sets.py runs it)."""
    ecs = berth.client()
    td = register(ecs, unique("svc"))
    named = create(ecs, unique("role"), td, 0, role="ecsServiceRole")
    assert named["roleArn"] == "arn:aws:iam::000000000000:role/ecsServiceRole"
    assert named["deploymentController"] == {"type": "ECS"}
    given = create(ecs, unique("role"), td, 0, role="arn:aws:iam::000000000000:role/ops/lb",
                   deploymentController={"type": "ECS"})
    assert describe(ecs, given["serviceName"])["roleArn"] == "arn:aws:iam::000000000000:role/ops/lb"
    name = unique("codedeploy")
    err = client_error(create, ecs, name, td, 0, deploymentController={"type": "CODE_DEPLOY"})
    assert error_code(err) == "UnsupportedFeatureException", err.response
    assert "CodeDeploy" in err.response["Error"]["Message"]
    assert ecs.describe_services(cluster=CLUSTER, services=[name])["services"] == []
    name = unique("external")
    err = client_error(create, ecs, name, td, 0, deploymentController={"type": "EXTERNAL"})
    assert error_code(err) == "InvalidParameterException", err.response
    assert err.response["Error"]["Message"].startswith("taskDefinition cannot be set on a service with the EXTERNAL")
    assert ecs.describe_services(cluster=CLUSTER, services=[name])["services"] == []


def test_a_capacity_provider_strategy_spreads_a_services_tasks_by_base_and_weight(berth: Berth) -> None:
    """FARGATE's base is filled first, then the weights share the rest; scaling up adds
    tasks where the shares are furthest behind."""
    ecs = berth.client()
    cluster = ecs.create_cluster(clusterName=unique("cp"), capacityProviders=["FARGATE", "FARGATE_SPOT"])["cluster"]
    name = unique("spread")
    td = register(ecs, unique("svc"))
    strategy = [{"capacityProvider": "FARGATE", "base": 2, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    ecs.create_service(cluster=cluster["clusterName"], serviceName=name, taskDefinition=td, desiredCount=4,
                       capacityProviderStrategy=strategy, networkConfiguration=awsvpc_api())

    def providers(count: int) -> dict[str, int] | None:
        arns = ecs.list_tasks(cluster=cluster["clusterName"], serviceName=name)["taskArns"]
        if len(arns) != count:
            return None
        tasks = ecs.describe_tasks(cluster=cluster["clusterName"], tasks=arns)["tasks"]
        by: dict[str, int] = {}
        for t in tasks:
            by[t["capacityProviderName"]] = by.get(t["capacityProviderName"], 0) + 1
        return by
    # The module's other services share the pool's 4 vCPU: a few tasks each.
    assert eventually(lambda: providers(4), timeout=60, what="four tasks") == {"FARGATE": 3, "FARGATE_SPOT": 1}
    ecs.update_service(cluster=cluster["clusterName"], service=name, desiredCount=6)
    assert eventually(lambda: providers(6), timeout=60, what="six tasks") == {"FARGATE": 4, "FARGATE_SPOT": 2}
    ecs.update_service(cluster=cluster["clusterName"], service=name, desiredCount=0)
