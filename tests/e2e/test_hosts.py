"""A cluster of three hosts made of network namespaces, each with its own dockerd (its
iptables managed by Docker, as on a real host) and
`berth agent` joined over HTTPS with a join token, and the control plane (`berth server
--tls --task-routes`) in a namespace of its own (see hosts_kit). Each host gets its own /24
of the task range and routes the others' (host-gw): seed 000's workers on two hosts
register with the coordinator on the third by its private IP, and the control plane's
host reaches the coordinator too. A service behind a listener on the control plane's
host reaches its tasks on every host; a host cut off (link down) has its task replaced
on the others and the listener stops sending to it; back, it leaves no stale container
and no duplicate."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest

import hosts_kit
from conftest import eventually, free_port, unique
from docker_agent import IMAGE
from elb_kit import get
from workloads import PRESTO, WEB_ADDRESS


@pytest.fixture(scope="module")
def world(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hosts_kit.Hosts]:
    w = hosts_kit.start(berth_factory, tmp_path_factory.mktemp("hosts"), unique("hosts"))
    try:
        yield w
    finally:
        w.stop()


def zone_constraint(host: hosts_kit.Host) -> list[dict]:
    return [{"type": "memberOf", "expression": f"attribute:ecs.availability-zone == {host.zone}"}]


def network_configuration() -> dict:
    return {"awsvpcConfiguration": {"subnets": ["subnet-0abc"], "securityGroups": ["sg-0abc"]}}


def private_ip(task: dict) -> str:
    return task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]


def wait_running(ecs: Any, cluster: str, arns: list[str]) -> list[dict]:
    def running() -> list[dict] | None:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
        for t in tasks:
            assert t["lastStatus"] != "STOPPED", t
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None
    return eventually(running, timeout=90, what=f"{arns} to run")


def test_each_host_has_its_own_task_subnet_and_routes_to_the_others(world: hosts_kit.Hosts) -> None:
    assert world.berth is not None and world.berth.endpoint.startswith("https://")
    subnets = []
    for host in world.hosts:
        routes = hosts_kit.sh("ip", "-4", "route", "show", "proto", "77", ns=host.ns)
        others = [h.address for h in world.hosts if h is not host]
        eventually(lambda: all(f"via {a}" in hosts_kit.sh("ip", "-4", "route", "show", "proto", "77", ns=host.ns)
                               for a in others), timeout=30, what=f"{host.name}'s routes to the others")
        network = json.loads(host.docker("network", "inspect", "berth-awsvpc"))[0]
        subnets.append(network["IPAM"]["Config"][0]["Subnet"])
        assert f"via {host.address}" not in routes, "no host routes its own subnet"
    assert len(set(subnets)) == 3 and all(s.startswith("198.18.2") for s in subnets), subnets
    cp_routes = hosts_kit.sh("ip", "-4", "route", "show", "proto", "77", ns=world.cp_ns)
    for subnet, host in zip(subnets, world.hosts):
        assert f"{subnet} via {host.address}" in cp_routes, cp_routes


def test_seed_000_workers_on_other_hosts_register_with_the_coordinator_by_its_private_ip(world: hosts_kit.Hosts) -> None:
    assert world.berth is not None
    ecs = world.berth.client()
    family = unique("presto")
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["EC2"],
        containerDefinitions=[{
            "name": "Presto", "image": IMAGE, "memory": 64, "essential": True, "stopTimeout": 2,
            "command": ["sh", "-c", PRESTO], "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "COORDINATOR"}],
        }],
    )
    coordinator_host, *worker_hosts = world.hosts
    [coordinator] = ecs.run_task(cluster=world.cluster, taskDefinition=family, launchType="EC2",
                                 networkConfiguration=network_configuration(),
                                 placementConstraints=zone_constraint(coordinator_host))["tasks"]
    [task] = wait_running(ecs, world.cluster, [coordinator["taskArn"]])
    ip = private_ip(task)
    workers = []
    for n, host in enumerate(worker_hosts):
        overrides = {"containerOverrides": [{"name": "Presto", "environment": [
            {"name": "MODE", "value": "WORKER"}, {"name": "COORDINATOR_HOST_PORT", "value": f"{ip}:8080"},
            {"name": "WORKER_ID", "value": f"w{n}"}]}]}
        [w] = ecs.run_task(cluster=world.cluster, taskDefinition=family, launchType="EC2", overrides=overrides,
                           networkConfiguration=network_configuration(),
                           placementConstraints=zone_constraint(host))["tasks"]
        workers.append(w["taskArn"])
    running = wait_running(ecs, world.cluster, workers)
    worker_ips = [private_ip(t) for t in running]
    hosts_of = {t["containerInstanceArn"] for t in [task, *running]}
    assert len(hosts_of) == 3, "coordinator and workers on three different hosts"
    # The control plane's own host reaches the coordinator by its private IP too, and
    # reads what the workers registered.
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{ip}:8080/workers', timeout=5).read().decode())"

    def registered() -> str | None:
        out = hosts_kit.sh("python3", "-c", fetch, ns=world.cp_ns, check=False)
        return out if "worker=w0" in out and "worker=w1" in out else None
    recorded = eventually(registered, timeout=60, what="both workers registered with the coordinator")
    assert "worker=w0&mode=WORKER" in recorded and "worker=w1&mode=WORKER" in recorded
    # From their own private IPs: the hosts' Docker (iptables on) neither drops the
    # traffic nor masquerades it, thanks to the agents' rules.
    # (busybox httpd writes IPv4 peers as [::ffff:A.B.C.D]).
    lines = {line.split(" ", 1)[0]: line for line in recorded.splitlines() if line.strip()}
    for n, ip_of_worker in enumerate(worker_ips):
        source = lines[f"worker=w{n}&mode=WORKER"].split("from=", 1)[1].strip("[]").removeprefix("::ffff:")
        assert source == ip_of_worker, recorded
    for arn in [coordinator["taskArn"], *workers]:
        ecs.stop_task(cluster=world.cluster, task=arn)


def answers(host: str, port: int, n: int) -> list[str]:
    """What n requests through the listener were answered with (each must be a 200)."""
    out = []
    for _ in range(n):
        status, body = get(host, port)
        assert status == 200, (status, body)
        out.append(str(body).strip())
    return out


def test_a_host_cut_off_has_its_service_tasks_replaced_and_back_leaves_no_duplicates(world: hosts_kit.Hosts) -> None:
    """A service of three awsvpc tasks, one per host, behind a listener on the control
    plane's host (an `ip` target group): the listener reaches each task wherever it
    runs; cut one host off and its task runs elsewhere and the listener stops sending
    requests to it; bring it back and nothing runs twice."""
    assert world.berth is not None
    ecs, elbv2 = world.berth.client(), world.berth.client("elbv2")
    family = unique("svc")
    ecs.register_task_definition(family=family, networkMode="awsvpc", requiresCompatibilities=["EC2"],
                                 containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "stopTimeout": 1,
                                                        "command": ["sh", "-c", WEB_ADDRESS],
                                                        "portMappings": [{"containerPort": 8080}]}])
    lb = elbv2.create_load_balancer(Name=unique("lb"), Subnets=["subnet-0abc"], Type="application")["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name=unique("tg"), Protocol="HTTP", Port=8080, VpcId="vpc-0123456789abcdef0",
                                   TargetType="ip", HealthCheckPath="/", HealthCheckIntervalSeconds=5,
                                   HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                   UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert lb["DNSName"] == world.cp_address, lb["DNSName"]
    service = unique("svc")
    ecs.create_service(cluster=world.cluster, serviceName=service, taskDefinition=family, desiredCount=3,
                       launchType="EC2", networkConfiguration=network_configuration(),
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 8080}],
                       placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}])

    def service_tasks() -> list[dict]:
        arns = ecs.list_tasks(cluster=world.cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
        return ecs.describe_tasks(cluster=world.cluster, tasks=arns)["tasks"] if arns else []

    def settled(n: int) -> list[dict] | None:
        tasks = service_tasks()
        return tasks if len(tasks) == n and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    def healthy() -> set[str]:
        rows = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return {r["Target"]["Id"] for r in rows if r["TargetHealth"]["State"] == "healthy"}
    before = eventually(lambda: settled(3), timeout=90, what="three service tasks")
    addresses = {private_ip(t) for t in before}
    eventually(lambda: healthy() == addresses, timeout=60, what="three healthy targets")
    assert set(answers(world.cp_address, port, 30)) == addresses, "the listener reaches a task on every host"
    cut_host = world.hosts[2]
    cut_arn = world.instance_of(cut_host)["containerInstanceArn"]
    on_cut = [t for t in before if t["containerInstanceArn"] == cut_arn]
    assert len(on_cut) == 1, "spread puts one task on each host"
    cut_ip = private_ip(on_cut[0])

    cut_host.cut()
    cut = time.monotonic()
    try:
        def replaced() -> list[dict] | None:
            tasks = settled(3)
            return tasks if tasks and all(t["containerInstanceArn"] != cut_arn for t in tasks) else None
        now = eventually(replaced, timeout=40, interval=0.2, what="the cut host's task to run elsewhere")
        took = time.monotonic() - cut
        gone = ecs.describe_tasks(cluster=world.cluster, tasks=[on_cut[0]["taskArn"]])["tasks"][0]
        assert gone["lastStatus"] == "STOPPED" and gone["stoppedReason"].startswith("Host lost"), gone
        assert took <= 15 + 10, took
        # The listener no longer sends anything to the lost task; every request succeeds.
        new_addresses = {private_ip(t) for t in now}
        eventually(lambda: healthy() == new_addresses, timeout=60, what="the replacement to be healthy")
        served = answers(world.cp_address, port, 30)
        assert cut_ip not in served and set(served) == new_addresses, served
        # Cut off, the host still runs its container: nothing could tell it.
        assert cut_host.docker("ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={on_cut[0]['taskArn']}").strip()
    finally:
        cut_host.reconnect()

    # Back: its stale container goes, and the service has exactly its three tasks.
    eventually(lambda: world.instance_of(cut_host)["agentConnected"], timeout=30, what="the host to be back")
    eventually(lambda: not cut_host.docker("ps", "-aq", "--filter",
                                           f"label=com.amazonaws.ecs.task-arn={on_cut[0]['taskArn']}").strip(),
               timeout=60, what="the stale container to be removed")
    final = settled(3)
    assert final is not None and len({t["taskArn"] for t in final}) == 3
    running_containers = sum(
        len(h.docker("ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-definition-family={family}",
                     "--filter", "label=com.amazonaws.ecs.container-name=app").split())
        for h in world.hosts
    )
    assert running_containers == 3, "no duplicate anywhere"
    ecs.update_service(cluster=world.cluster, service=service, desiredCount=0)
    ecs.delete_service(cluster=world.cluster, service=service, force=True)
