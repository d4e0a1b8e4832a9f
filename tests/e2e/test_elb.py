"""Load balancing with the real AWS CLI (`aws elbv2`) and boto3 against `berth up`:
listeners that really listen on the DNSName Berth reports, round robin across healthy
targets, health checks taking a stopped target out, draining on deregistration, path
and host rules, weighted forwarding, a TCP listener, and ELBv2's errors.

Targets are Python servers on loopback (targetType ip, Id 127.0.0.1), each its own
process, stopped when its test ends. Health checks run every 5 s with thresholds of 2,
the fastest ELBv2 allows, so each health transition takes 5-10 s."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections import Counter
from typing import Any

import pytest

from conftest import Berth, client_error, error_code, eventually, free_port, unique
from elb_kit import (
    Targets,
    boto3_health,
    create_lb,
    create_listener,
    create_tg,
    forward,
    get,
    health,
    register,
    served_by,
    targets,  # noqa: F401 (fixture)
    tcp_exchange,
    wait_listening,
)

ARN_PREFIX = "arn:aws:elasticloadbalancing:us-east-1:000000000000:"
# Interval 5 s x unhealthy threshold 2, plus one interval of slack for when the
# target stopped within an interval, plus the CLI's own time.
DETECTION_S = 5 * 2 + 5 + 5


@pytest.fixture
def elbv2(live_berth: Berth) -> Any:
    return live_berth.client("elbv2")


def test_listener_round_robins_across_healthy_targets_on_its_dns_name(live_berth: Berth, targets: Targets, elbv2: Any) -> None:
    b = live_berth
    lb = create_lb(b)
    assert lb["LoadBalancerArn"].startswith(f"{ARN_PREFIX}loadbalancer/app/{lb['LoadBalancerName']}/")
    assert lb["State"]["Code"] == "active" and lb["Type"] == "application" and lb["Scheme"] == "internet-facing"
    tg = create_tg(b)
    assert tg["TargetGroupArn"].startswith(f"{ARN_PREFIX}targetgroup/{tg['TargetGroupName']}/")
    assert (tg["HealthCheckPath"], tg["Matcher"], tg["HealthCheckPort"]) == ("/", {"HttpCode": "200"}, "traffic-port")
    assert tg["LoadBalancerArns"] == []
    a, c = targets.http("a"), targets.http("c")
    register(b, tg["TargetGroupArn"], a.port, c.port)
    unused = health(b, tg["TargetGroupArn"])
    assert {h["State"] for h in unused.values()} == {"unused"}, unused
    assert {h["Reason"] for h in unused.values()} == {"Target.NotInUse"}

    listener, port = create_listener(b, lb["LoadBalancerArn"], forward(tg["TargetGroupArn"]))
    # The first health check runs at once and the second one interval later, so the
    # targets are "initial" for 5 s: ask at once, with boto3 (an AWS CLI process can
    # take seconds to start on a loaded machine).
    first = boto3_health(elbv2, tg["TargetGroupArn"])
    assert {h["State"] for h in first.values()} == {"initial"}, first
    assert {h["Reason"] for h in first.values()} <= {"Elb.RegistrationInProgress", "Elb.InitialHealthChecking"}
    assert listener["ListenerArn"].startswith(f"{ARN_PREFIX}listener/app/{lb['LoadBalancerName']}/")
    assert listener["Port"] == port and listener["Protocol"] == "HTTP"
    described = b.aws("elbv2", "describe-load-balancers", "--names", lb["LoadBalancerName"])["LoadBalancers"][0]
    dns = described["DNSName"]
    assert dns == "127.0.0.1", described
    tg_now = b.aws("elbv2", "describe-target-groups", "--target-group-arns", tg["TargetGroupArn"])["TargetGroups"][0]
    assert tg_now["LoadBalancerArns"] == [lb["LoadBalancerArn"]]

    eventually(lambda: all(h["State"] == "healthy" for h in health(b, tg["TargetGroupArn"]).values()),
               timeout=DETECTION_S, what="both targets healthy")

    wait_listening(port)
    names = served_by(dns, port, 10)
    assert Counter(names) == {"a": 5, "c": 5}, names
    assert all(x != y for x, y in zip(names, names[1:])), f"not round robin: {names}"
    status, body = get(dns, port, "/some/path?q=1")
    assert status == 200
    assert body["path"] == "/some/path?q=1"
    assert body["x-forwarded-for"] == "127.0.0.1"
    assert (body["x-forwarded-proto"], body["x-forwarded-port"]) == ("http", str(port))
    assert body["host"] == f"{dns}:{port}"

    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed (apt-get install curl)")
    out = subprocess.run([curl, "-sS", "--max-time", "10", f"http://{dns}:{port}/via-curl"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["path"] == "/via-curl"


def test_a_stopped_target_turns_unhealthy_and_gets_no_more_requests(live_berth: Berth, targets: Targets, elbv2: Any) -> None:
    b = live_berth
    lb, tg = create_lb(b), create_tg(b)
    live, doomed = targets.http("live"), targets.http("doomed")
    register(b, tg["TargetGroupArn"], live.port, doomed.port)
    _, port = create_listener(b, lb["LoadBalancerArn"], forward(tg["TargetGroupArn"]))
    eventually(lambda: all(h["State"] == "healthy" for h in health(b, tg["TargetGroupArn"]).values()),
               timeout=DETECTION_S, what="both targets healthy")
    assert set(served_by("127.0.0.1", port, 4)) == {"live", "doomed"}

    doomed.stop()
    stopped_at = time.monotonic()

    def doomed_unhealthy() -> dict | None:
        h = boto3_health(elbv2, tg["TargetGroupArn"])[doomed.port]
        return h if h["State"] == "unhealthy" else None

    h = eventually(doomed_unhealthy, timeout=DETECTION_S, what="the stopped target unhealthy")
    assert h["Reason"] == "Target.FailedHealthChecks" and h["Description"] == "Health checks failed", h
    assert time.monotonic() - stopped_at <= DETECTION_S
    assert health(b, tg["TargetGroupArn"])[live.port]["State"] == "healthy"
    assert served_by("127.0.0.1", port, 10) == ["live"] * 10

    # Health checks that answer with the wrong code are a mismatch, with the code.
    b.aws("elbv2", "modify-target-group", "--target-group-arn", tg["TargetGroupArn"],
          "--health-check-path", "/status/503", "--matcher", "HttpCode=200-299")

    def live_mismatch() -> dict | None:
        h = boto3_health(elbv2, tg["TargetGroupArn"])[live.port]
        return h if h.get("Reason") == "Target.ResponseCodeMismatch" else None

    h = eventually(live_mismatch, timeout=DETECTION_S, what="a response code mismatch")
    assert h["State"] == "unhealthy"
    assert h["Description"] == "Health checks failed with these codes: [503]", h
    # Every target unhealthy: the load balancer fails open and still routes (to the
    # one that answers).
    status, body = eventually(lambda: (lambda r: r if r[0] == 200 else None)(get("127.0.0.1", port)),
                              timeout=10, what="a request served while every target is unhealthy")
    assert body["name"] == "live"


def test_deregistered_targets_drain_then_leave(live_berth: Berth, targets: Targets, elbv2: Any) -> None:
    b = live_berth
    lb, tg = create_lb(b), create_tg(b)
    arn = tg["TargetGroupArn"]
    delay = 8
    attrs = b.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", arn,
                  "--attributes", f"Key=deregistration_delay.timeout_seconds,Value={delay}")["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)} in attrs
    described = b.aws("elbv2", "describe-target-group-attributes", "--target-group-arn", arn)["Attributes"]
    assert {a["Key"]: a["Value"] for a in described}["deregistration_delay.timeout_seconds"] == str(delay)
    stay, leave = targets.http("stay"), targets.http("leave")
    register(b, arn, stay.port, leave.port)
    _, port = create_listener(b, lb["LoadBalancerArn"], forward(arn))
    wait_listening(port)
    assert set(served_by("127.0.0.1", port, 4)) == {"stay", "leave"}

    # The drain is timed from before the request is sent, and watched with boto3 (an
    # AWS CLI process can take seconds to start on a loaded machine).
    leaving = [{"Id": "127.0.0.1", "Port": leave.port}]
    deregistered_at = time.monotonic()
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=leaving)
    h = boto3_health(elbv2, arn)[leave.port]
    assert (h["State"], h["Reason"]) == ("draining", "Target.DeregistrationInProgress"), h
    assert h["Description"] == "Target deregistration is in progress"
    # The listeners learn of it from the store a moment later, as AWS's do.
    eventually(lambda: served_by("127.0.0.1", port, 2) == ["stay"] * 2, timeout=5, what="the listener to stop using it")
    assert served_by("127.0.0.1", port, 6) == ["stay"] * 6
    # Deregistering again while it drains changes nothing.
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=leaving)
    assert boto3_health(elbv2, arn)[leave.port]["State"] == "draining"
    eventually(lambda: leave.port not in boto3_health(elbv2, arn), timeout=delay + 10, what="the drained target to leave")
    assert time.monotonic() - deregistered_at >= delay - 0.5, "left before its deregistration delay"
    asked = b.aws("elbv2", "describe-target-health", "--target-group-arn", arn,
                  "--targets", f"Id=127.0.0.1,Port={leave.port}")["TargetHealthDescriptions"]
    assert asked[0]["TargetHealth"]["State"] == "unused"
    assert asked[0]["TargetHealth"]["Reason"] == "Target.NotRegistered"
    err = b.aws_error("elbv2", "deregister-targets", "--target-group-arn", arn,
                      "--targets", f"Id=127.0.0.1,Port={leave.port}", code="InvalidTarget")
    assert "not registered" in err.error_message


def test_rules_route_by_path_and_host(live_berth: Berth, targets: Targets) -> None:
    b = live_berth
    lb = create_lb(b)
    web_tg, api_tg, admin_tg = create_tg(b), create_tg(b), create_tg(b)
    web, api, admin = targets.http("web"), targets.http("api"), targets.http("admin")
    register(b, web_tg["TargetGroupArn"], web.port)
    register(b, api_tg["TargetGroupArn"], api.port)
    register(b, admin_tg["TargetGroupArn"], admin.port)
    listener, port = create_listener(b, lb["LoadBalancerArn"], forward(web_tg["TargetGroupArn"]))
    larn = listener["ListenerArn"]
    api_rule = b.aws("elbv2", "create-rule", "--listener-arn", larn, "--priority", "10",
                     "--conditions", "Field=path-pattern,Values=/api/*,/v?/*",
                     "--actions", forward(api_tg["TargetGroupArn"]))["Rules"][0]
    assert api_rule["RuleArn"].startswith(f"{ARN_PREFIX}listener-rule/app/{lb['LoadBalancerName']}/")
    assert api_rule["Priority"] == "10" and api_rule["IsDefault"] is False
    assert api_rule["Conditions"][0]["Values"] == ["/api/*", "/v?/*"]
    b.aws("elbv2", "create-rule", "--listener-arn", larn, "--priority", "5", "--conditions",
          json.dumps([{"Field": "host-header", "HostHeaderConfig": {"Values": ["admin.*.example"]}}]),
          "--actions", forward(admin_tg["TargetGroupArn"]))
    err = b.aws_error("elbv2", "create-rule", "--listener-arn", larn, "--priority", "10",
                      "--conditions", "Field=path-pattern,Values=/x", "--actions", forward(api_tg["TargetGroupArn"]),
                      code="PriorityInUse")
    assert "10" in err.error_message

    rules = b.aws("elbv2", "describe-rules", "--listener-arn", larn)["Rules"]
    assert [r["Priority"] for r in rules] == ["5", "10", "default"]
    assert rules[-1]["IsDefault"] is True and rules[-1]["Conditions"] == []
    b.aws_error("elbv2", "delete-rule", "--rule-arn", rules[-1]["RuleArn"], code="OperationNotPermitted")

    wait_listening(port)

    eventually(lambda: name_at(port, "/api/users") == "api", timeout=10, what="the path rule to apply")
    assert served_by("127.0.0.1", port, 2, "/api/users") == ["api", "api"]
    assert served_by("127.0.0.1", port, 1, "/v2/items") == ["api"]
    assert served_by("127.0.0.1", port, 1, "/apix") == ["web"]
    assert served_by("127.0.0.1", port, 1, "/") == ["web"]
    assert served_by("127.0.0.1", port, 1, "/api/x", host_header=f"ADMIN.eu.example:{port}") == ["admin"]
    assert served_by("127.0.0.1", port, 1, "/", host_header="www.eu.example") == ["web"]

    b.aws("elbv2", "delete-rule", "--rule-arn", api_rule["RuleArn"])
    b.aws_error("elbv2", "delete-rule", "--rule-arn", api_rule["RuleArn"], code="RuleNotFound")
    eventually(lambda: name_at(port, "/api/users") == "web", timeout=10, what="the deleted rule to stop applying")


def test_weighted_forward_splits_by_weight(live_berth: Berth, targets: Targets) -> None:
    b = live_berth
    lb, blue_tg, green_tg = create_lb(b), create_tg(b), create_tg(b)
    blue, green = targets.http("blue"), targets.http("green")
    register(b, blue_tg["TargetGroupArn"], blue.port)
    register(b, green_tg["TargetGroupArn"], green.port)
    actions = json.dumps([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue_tg["TargetGroupArn"], "Weight": 3},
        {"TargetGroupArn": green_tg["TargetGroupArn"], "Weight": 1},
    ]}}])
    listener, port = create_listener(b, lb["LoadBalancerArn"], actions)
    groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert [(g["TargetGroupArn"], g["Weight"]) for g in groups] == [
        (blue_tg["TargetGroupArn"], 3), (green_tg["TargetGroupArn"], 1)]
    wait_listening(port)
    names = served_by("127.0.0.1", port, 40)
    assert Counter(names) == {"blue": 30, "green": 10}, Counter(names)


def test_tcp_listener_relays_to_targets(live_berth: Berth, targets: Targets) -> None:
    b = live_berth
    lb = create_lb(b, "network")
    assert lb["Type"] == "network" and "/net/" in lb["LoadBalancerArn"]
    tg = create_tg(b, "TCP")
    assert tg["HealthCheckProtocol"] == "TCP" and "HealthCheckPath" not in tg and "Matcher" not in tg
    one, two = targets.echo("one"), targets.echo("two")
    register(b, tg["TargetGroupArn"], one.port, two.port)
    listener, port = create_listener(b, lb["LoadBalancerArn"], forward(tg["TargetGroupArn"]), protocol="TCP")
    assert listener["Protocol"] == "TCP"
    eventually(lambda: all(h["State"] == "healthy" for h in health(b, tg["TargetGroupArn"]).values()),
               timeout=DETECTION_S, what="TCP health checks to pass")
    wait_listening(port)
    # The listener learns of each target's health a moment after DescribeTargetHealth
    # does: wait until it relays to both, then round robin alternates strictly.
    eventually(lambda: {tcp_exchange(port, b"hello") for _ in range(2)} == {b"one:hello", b"two:hello"},
               timeout=DETECTION_S, what="the listener to relay to both healthy targets")
    replies = [tcp_exchange(port, b"hello") for _ in range(4)]
    assert replies[0] != replies[1] and replies[:2] == replies[2:], replies
    assert sorted(replies) == [b"one:hello", b"one:hello", b"two:hello", b"two:hello"], replies
    b.aws_error("elbv2", "create-rule", "--listener-arn", listener["ListenerArn"], "--priority", "1",
                "--conditions", "Field=path-pattern,Values=/x", "--actions", forward(tg["TargetGroupArn"]),
                code="InvalidConfigurationRequest")


def test_errors_name_what_is_wrong(live_berth: Berth) -> None:
    b = live_berth
    name = unique("dup")
    lb = create_lb(b, name=name)
    # Same name, same settings: ELBv2's create is idempotent.
    assert create_lb(b, name=name)["LoadBalancerArn"] == lb["LoadBalancerArn"]
    b.aws_error("elbv2", "create-load-balancer", "--name", name, "--type", "network", code="DuplicateLoadBalancerName")
    b.aws_error("elbv2", "create-load-balancer", "--name", "bad_name", code="ValidationError")
    b.aws_error("elbv2", "create-load-balancer", "--name=-edge", code="ValidationError")
    tg_name = unique("dup")
    tg = create_tg(b, name=tg_name)
    assert create_tg(b, name=tg_name)["TargetGroupArn"] == tg["TargetGroupArn"]
    err = b.aws_error("elbv2", "create-target-group", "--name", tg_name, "--protocol", "HTTP", "--port", "8080",
                      "--target-type", "ip", code="DuplicateTargetGroupName")
    assert tg_name in err.error_message
    b.aws_error("elbv2", "create-target-group", "--name", "x" * 33, "--protocol", "HTTP", "--port", "80",
                code="ValidationError")

    # Health check values the model allows but ELBv2 refuses.
    for extra, words in [
        (["--health-check-interval-seconds", "10", "--health-check-timeout-seconds", "10"], "smaller than the interval"),
        (["--health-check-path", "health"], "must begin with a '/'"),
        (["--matcher", "HttpCode=600"], "200 to 499"),
        (["--matcher", "HttpCode=abc"], "HTTP code"),
    ]:
        err = b.aws_error("elbv2", "create-target-group", "--name", unique("hc"), "--protocol", "HTTP", "--port", "80",
                          *extra, code="ValidationError")
        assert words in err.error_message, (extra, err.error_message)
    b.aws_error("elbv2", "create-target-group", "--name", unique("hc"), "--protocol", "TCP", "--port", "80",
                "--health-check-path", "/x", code="ValidationError")
    b.aws_error("elbv2", "modify-target-group", "--target-group-arn", tg["TargetGroupArn"],
                "--health-check-timeout-seconds", "30", code="ValidationError")

    missing_tg = f"{ARN_PREFIX}targetgroup/nope/0123456789abcdef"
    b.aws_error("elbv2", "describe-target-groups", "--target-group-arns", missing_tg, code="TargetGroupNotFound")
    b.aws_error("elbv2", "describe-target-groups", "--names", unique("nope"), code="TargetGroupNotFound")
    b.aws_error("elbv2", "register-targets", "--target-group-arn", missing_tg, "--targets", "Id=127.0.0.1",
                code="TargetGroupNotFound")
    b.aws_error("elbv2", "describe-target-groups", "--target-group-arns", "not-an-arn", code="ValidationError")
    b.aws_error("elbv2", "describe-load-balancers", "--names", unique("nope"), code="LoadBalancerNotFound")
    missing_lb = f"{ARN_PREFIX}loadbalancer/app/nope/0123456789abcdef"
    b.aws_error("elbv2", "describe-listeners", "--load-balancer-arn", missing_lb, code="LoadBalancerNotFound")
    b.aws_error("elbv2", "describe-listeners", "--listener-arns", f"{ARN_PREFIX}listener/app/nope/0123456789abcdef/0123456789abcdef",
                code="ListenerNotFound")
    b.aws_error("elbv2", "delete-rule", "--rule-arn",
                f"{ARN_PREFIX}listener-rule/app/nope/0123456789abcdef/0123456789abcdef/0123456789abcdef", code="RuleNotFound")
    b.aws_error("elbv2", "register-targets", "--target-group-arn", tg["TargetGroupArn"], "--targets", "Id=i-0123456789abcdef0",
                code="InvalidTarget")
    b.aws_error("elbv2", "modify-target-group-attributes", "--target-group-arn", tg["TargetGroupArn"],
                "--attributes", "Key=no.such.attribute,Value=1", code="ValidationError")
    b.aws_error("elbv2", "modify-target-group-attributes", "--target-group-arn", tg["TargetGroupArn"],
                "--attributes", "Key=deregistration_delay.timeout_seconds,Value=4000", code="ValidationError")

    # Listeners: a target group of the wrong protocol, one port twice, a target group
    # serving two load balancers, a port something else holds, deleting in use.
    tcp_tg = create_tg(b, "TCP")
    b.aws_error("elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "HTTP",
                "--port", str(free_port()), "--default-actions", forward(tcp_tg["TargetGroupArn"]), code="IncompatibleProtocols")
    b.aws_error("elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "HTTPS",
                "--port", str(free_port()), "--default-actions", forward(tg["TargetGroupArn"]),
                code=("UnsupportedProtocol", "ValidationError"))
    listener, port = create_listener(b, lb["LoadBalancerArn"], forward(tg["TargetGroupArn"]))
    again, _ = create_listener(b, lb["LoadBalancerArn"], forward(tg["TargetGroupArn"]), port=port)
    assert again["ListenerArn"] == listener["ListenerArn"], "same settings: the same listener"
    other_tg = create_tg(b)
    b.aws_error("elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "HTTP",
                "--port", str(port), "--default-actions", forward(other_tg["TargetGroupArn"]), code="DuplicateListener")
    lb2 = create_lb(b)
    b.aws_error("elbv2", "create-listener", "--load-balancer-arn", lb2["LoadBalancerArn"], "--protocol", "HTTP",
                "--port", str(free_port()), "--default-actions", forward(tg["TargetGroupArn"]),
                code="TargetGroupAssociationLimit")
    err = b.aws_error("elbv2", "create-listener", "--load-balancer-arn", lb2["LoadBalancerArn"], "--protocol", "HTTP",
                      "--port", str(port), "--default-actions", forward(other_tg["TargetGroupArn"]),
                      code="InvalidConfigurationRequest")
    assert listener["ListenerArn"] in err.error_message
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        err = b.aws_error("elbv2", "create-listener", "--load-balancer-arn", lb2["LoadBalancerArn"], "--protocol", "HTTP",
                          "--port", str(held.getsockname()[1]), "--default-actions", forward(other_tg["TargetGroupArn"]),
                          code="InvalidConfigurationRequest")
        assert "in use" in err.error_message, err.error_message
    b.aws_error("elbv2", "delete-target-group", "--target-group-arn", tg["TargetGroupArn"], code="ResourceInUse")

    b.aws("elbv2", "delete-listener", "--listener-arn", listener["ListenerArn"])
    b.aws_error("elbv2", "delete-listener", "--listener-arn", listener["ListenerArn"], code="ListenerNotFound")
    b.aws("elbv2", "delete-target-group", "--target-group-arn", tg["TargetGroupArn"])
    b.aws("elbv2", "delete-load-balancer", "--load-balancer-arn", lb["LoadBalancerArn"])
    # Deleting what is gone succeeds, as in ELBv2.
    b.aws("elbv2", "delete-load-balancer", "--load-balancer-arn", lb["LoadBalancerArn"])
    b.aws("elbv2", "delete-target-group", "--target-group-arn", tg["TargetGroupArn"])


def test_boto3_speaks_the_same_api_with_paging_and_waiters(live_berth: Berth, elbv2: Any, targets: Targets) -> None:
    prefix = unique("pg")
    arns = [elbv2.create_target_group(Name=f"{prefix}-{i}", Protocol="HTTP", Port=80, VpcId="vpc-1", TargetType="ip",
                                      HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                                      UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
            for i in range(3)]
    pages = elbv2.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 1})
    seen = [tg["TargetGroupArn"] for page in pages for tg in page["TargetGroups"]]
    assert [a for a in seen if a in arns] == arns
    assert len(seen) == len(set(seen)), "pages overlap"

    err = client_error(elbv2.describe_target_groups, TargetGroupArns=[arns[0].replace(arns[0][-16:], "f" * 16)])
    assert error_code(err) == "TargetGroupNotFound"
    assert isinstance(err, elbv2.exceptions.TargetGroupNotFoundException)

    lb = elbv2.create_load_balancer(Name=unique("bt"), Type="application")["LoadBalancers"][0]
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arns[0]}])
    t = targets.http("boto")
    elbv2.register_targets(TargetGroupArn=arns[0], Targets=[{"Id": "127.0.0.1", "Port": t.port}])
    elbv2.get_waiter("target_in_service").wait(TargetGroupArn=arns[0], Targets=[{"Id": "127.0.0.1", "Port": t.port}],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert served_by(lb["DNSName"], port, 2) == ["boto", "boto"]
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    eventually(lambda: _refused(port), timeout=10, what="the listener to close with its load balancer")
    assert elbv2.describe_target_groups(TargetGroupArns=[arns[0]])["TargetGroups"][0]["LoadBalancerArns"] == []


def name_at(port: int, path: str) -> str | None:
    """The name of the target that served GET path, or None if none did."""
    status, body = get("127.0.0.1", port, path)
    return body["name"] if status == 200 else None


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_unsigned_and_unknown_requests_get_xml_errors(live_berth: Berth) -> None:
    b = live_berth
    body = b"Action=DescribeLoadBalancers&Version=2015-12-01"
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        resp = conn.getresponse()
        text = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 403, text
    assert resp.getheader("Content-Type") == "text/xml"
    assert "<Code>MissingAuthenticationToken</Code>" in text and "<ErrorResponse" in text, text
    result = b.run_cli(["elbv2", "describe-ssl-policies"])
    assert result.error_code == "InvalidAction", result.describe()


def test_listeners_and_health_come_back_after_a_kill_9(berth_factory: Any, targets: Targets) -> None:
    b = berth_factory()
    try:
        lb, tg = create_lb(b), create_tg(b)
        t = targets.http("survivor")
        register(b, tg["TargetGroupArn"], t.port)
        _, port = create_listener(b, lb["LoadBalancerArn"], forward(tg["TargetGroupArn"]))
        eventually(lambda: health(b, tg["TargetGroupArn"])[t.port]["State"] == "healthy",
                   timeout=DETECTION_S, what="the target healthy")
        b.restart(kill9=True)
        # The data plane rebuilds the listener from the store, and the target keeps the
        # health last recorded instead of starting over.
        assert health(b, tg["TargetGroupArn"])[t.port]["State"] == "healthy"
        wait_listening(port)
        assert eventually(lambda: name_at(port, "/") == "survivor", timeout=10, what="the listener serving again")
    finally:
        b.stop()
    assert _refused(port), "the listener closed with the server"
