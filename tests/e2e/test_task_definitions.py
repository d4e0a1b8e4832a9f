"""Task definitions: registration, revisions, lookup, listing, lifecycle and AWS's validation rules.

Covers: register-task-definition --cli-input-json file:// (revisions 1, 2),
every accepted field stored and returned, computed fields (compatibilities,
requiresAttributes, registeredAt, status), describe by family / family:rev / ARN
and --include TAGS, list-task-definitions (--family-prefix, --status, --sort,
pagination), list-task-definition-families, deregister (INACTIVE, still
describable), delete-task-definitions, and the rules AWS enforces: Fargate
cpu/memory table (incl. "1 vCPU"/"2 GB" spellings normalised to units/MiB),
Fargate needs awsvpc, unique container names, an essential container, EC2
memory, port mappings per network mode, the family name pattern.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    Berth,
    arn,
    client_error,
    ecs_task_role,
    ec2_task_definition,
    error_code,
    error_message,
    fargate_task_definition,
    paginate_raw,
    register,
    unique,
)


def write_json(tmp_path: Path, doc: dict) -> str:
    path = tmp_path / f"{doc.get('family', 'input')}.json"
    path.write_text(json.dumps(doc, indent=2))
    return f"file://{path}"


def register_error(ecs: Any, td: dict, code: str = "ClientException") -> str:
    """Register `td`, which must be refused with `code`; return AWS's message."""
    err = client_error(ecs.register_task_definition, **td)
    assert error_code(err) == code, err.response
    message = error_message(err)
    assert message, err.response
    return message


@pytest.fixture(scope="module")
def presto(berth: Berth, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A family registered twice through `--cli-input-json file://`, as the seed guide does."""
    family = unique("presto-coordinator")
    doc = fargate_task_definition(family)
    uri = write_json(tmp_path_factory.mktemp("td"), doc)
    first = berth.aws("ecs", "register-task-definition", "--cli-input-json", uri)
    second = berth.aws("ecs", "register-task-definition", "--cli-input-json", uri)
    return {"family": family, "input": doc, "first": first, "second": second}


# --------------------------------------------------------------------------- register + describe


def test_register_assigns_revisions(presto: dict) -> None:
    family = presto["family"]
    first, second = presto["first"]["taskDefinition"], presto["second"]["taskDefinition"]
    assert first["revision"] == 1
    assert second["revision"] == 2
    assert first["taskDefinitionArn"] == arn("task-definition", f"{family}:1")
    assert second["taskDefinitionArn"] == arn("task-definition", f"{family}:2")
    assert first["family"] == family
    assert tag_pairs(presto["first"].get("tags")) == tag_pairs(presto["input"]["tags"])


def tag_pairs(tags: list[dict] | None) -> set[tuple[str, str]]:
    return {(t["key"], t["value"]) for t in tags or []}


def test_register_returns_input_and_computed_fields(presto: dict) -> None:
    td = presto["first"]["taskDefinition"]
    given = presto["input"]
    assert td["status"] == "ACTIVE"
    assert td["networkMode"] == "awsvpc"
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["cpu"] == "256" and td["memory"] == "512"
    assert td["executionRoleArn"] == given["executionRoleArn"]
    assert "FARGATE" in td["compatibilities"], td.get("compatibilities")
    names = {a["name"] for a in td["requiresAttributes"]}
    assert "ecs.capability.task-eni" in names, names
    assert "ecs.capability.execution-role-awslogs" in names, names
    by_name = {c["name"]: c for c in td["containerDefinitions"]}
    assert list(by_name) == ["presto", "sidecar"]
    for want in given["containerDefinitions"]:
        got = by_name[want["name"]]
        for key, value in want.items():
            assert got[key] == value, (want["name"], key, got.get(key))


def test_registered_at_is_now(live_berth: Berth, presto: dict) -> None:
    td = live_berth.client().describe_task_definition(taskDefinition=f"{presto['family']}:1")["taskDefinition"]
    registered = td["registeredAt"]
    assert isinstance(registered, dt.datetime)
    assert abs(dt.datetime.now(dt.timezone.utc) - registered) < dt.timedelta(minutes=10), registered


def test_describe_by_family_is_latest(live_berth: Berth, presto: dict) -> None:
    td = live_berth.aws("ecs", "describe-task-definition", "--task-definition", presto["family"])["taskDefinition"]
    assert td["revision"] == 2


def test_describe_by_family_and_revision(live_berth: Berth, presto: dict) -> None:
    td = live_berth.aws("ecs", "describe-task-definition", "--task-definition", f"{presto['family']}:1")["taskDefinition"]
    assert td["revision"] == 1
    assert td["containerDefinitions"] == presto["first"]["taskDefinition"]["containerDefinitions"]


def test_describe_by_arn(live_berth: Berth, presto: dict) -> None:
    task_arn = presto["first"]["taskDefinition"]["taskDefinitionArn"]
    td = live_berth.aws("ecs", "describe-task-definition", "--task-definition", task_arn)["taskDefinition"]
    assert td["taskDefinitionArn"] == task_arn and td["revision"] == 1


def test_describe_include_tags(live_berth: Berth, presto: dict) -> None:
    plain = live_berth.aws("ecs", "describe-task-definition", "--task-definition", presto["family"])
    assert not plain.get("tags"), "tags are only returned with --include TAGS"
    tagged = live_berth.aws("ecs", "describe-task-definition", "--task-definition", presto["family"], "--include", "TAGS")
    assert tag_pairs(tagged["tags"]) == tag_pairs(presto["input"]["tags"])


@pytest.mark.parametrize("ref", ["no-such-family-e2e", "no-such-family-e2e:3"])
def test_describe_unknown(live_berth: Berth, ref: str) -> None:
    live_berth.aws_error("ecs", "describe-task-definition", "--task-definition", ref, code="ClientException")


def test_describe_unknown_revision_of_known_family(live_berth: Berth, presto: dict) -> None:
    live_berth.aws_error("ecs", "describe-task-definition", "--task-definition", f"{presto['family']}:99", code="ClientException")


def test_everything_accepted_is_returned(live_berth: Berth) -> None:
    ecs = live_berth.client()
    family = unique("rich")
    container = {
        "name": "api",
        "image": "ghcr.io/example/api:2.1.0",
        "cpu": 256,
        "memory": 1024,
        "memoryReservation": 512,
        "essential": True,
        "entryPoint": ["/bin/sh", "-c"],
        "command": ["exec /app/server --port 9000"],
        "workingDirectory": "/app",
        "user": "1000:1000",
        "portMappings": [{"containerPort": 9000, "hostPort": 9000, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
        "environment": [{"name": "LOG_LEVEL", "value": "debug"}],
        "environmentFiles": [{"value": "arn:aws:s3:::bucket/api.env", "type": "s3"}],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"}],
        "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": False}],
        "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
        "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:9000/health || exit 1"], "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 30},
        "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
        "dockerLabels": {"com.example.tier": "api"},
        "stopTimeout": 30,
        "startTimeout": 60,
        "readonlyRootFilesystem": True,
        "linuxParameters": {"initProcessEnabled": True},
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/rich", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "api"}},
    }
    init = {"name": "init", "image": "busybox:1.36", "essential": False, "memory": 64, "command": ["true"]}
    td = {
        "family": family,
        "taskRoleArn": ecs_task_role(live_berth, "apiTaskRole"),
        "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "volumes": [{"name": "scratch"}],
        "containerDefinitions": [container, init],
        "tags": [{"key": "svc", "value": "api"}],
    }
    got = ecs.register_task_definition(**copy.deepcopy(td))["taskDefinition"]
    for key in ("taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory", "runtimePlatform", "ephemeralStorage"):
        assert got[key] == td[key], (key, got.get(key))
    assert [v["name"] for v in got["volumes"]] == ["scratch"]
    described = ecs.describe_task_definition(taskDefinition=got["taskDefinitionArn"])["taskDefinition"]
    by_name = {c["name"]: c for c in described["containerDefinitions"]}
    for want in (container, init):
        for key, value in want.items():
            assert by_name[want["name"]].get(key) == value, (want["name"], key, by_name[want["name"]].get(key))


# --------------------------------------------------------------------------- list


def test_list_by_family_sorted(live_berth: Berth, presto: dict) -> None:
    family = presto["family"]
    arns = [arn("task-definition", f"{family}:1"), arn("task-definition", f"{family}:2")]
    asc = live_berth.aws("ecs", "list-task-definitions", "--family-prefix", family)["taskDefinitionArns"]
    assert asc == arns
    desc = live_berth.aws("ecs", "list-task-definitions", "--family-prefix", family, "--sort", "DESC")["taskDefinitionArns"]
    assert desc == arns[::-1]


def test_family_prefix_names_one_family_exactly(live_berth: Berth) -> None:
    """AWS documents it: `familyPrefix` of ListTaskDefinitions matches the family name
    exactly; ListTaskDefinitionFamilies' `familyPrefix` is a prefix."""
    family = unique("exact")
    for name in (family, f"{family}-2"):
        register(live_berth, fargate_task_definition(name))
    listed = live_berth.aws("ecs", "list-task-definitions", "--family-prefix", family)["taskDefinitionArns"]
    assert listed == [arn("task-definition", f"{family}:1")]
    families = live_berth.aws("ecs", "list-task-definition-families", "--family-prefix", family)["families"]
    assert families == [family, f"{family}-2"]


def test_fargate_refuses_the_hosts_pid_namespace(live_berth: Berth) -> None:
    td = fargate_task_definition(unique("pid"))
    td["pidMode"] = "host"
    err = client_error(live_berth.client().register_task_definition, **td)
    assert error_code(err) == "ClientException"
    assert error_message(err) == (
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."
    )
    td["pidMode"] = "task"
    assert live_berth.client().register_task_definition(**td)["taskDefinition"]["pidMode"] == "task"


def test_list_task_definitions_paginates(live_berth: Berth) -> None:
    ecs = live_berth.client()
    family = unique("paged")
    for _ in range(4):
        register(live_berth, fargate_task_definition(family))
    want = [arn("task-definition", f"{family}:{r}") for r in range(1, 5)]
    items, pages = paginate_raw(ecs.list_task_definitions, "taskDefinitionArns", page_size=1, familyPrefix=family)
    assert items == want
    assert pages >= 4
    first = live_berth.aws("ecs", "list-task-definitions", "--family-prefix", family, "--max-items", "3", "--page-size", "2")
    assert first["taskDefinitionArns"] == want[:3] and first.get("NextToken")
    rest = live_berth.aws("ecs", "list-task-definitions", "--family-prefix", family, "--starting-token", first["NextToken"])
    assert rest["taskDefinitionArns"] == want[3:]


def test_list_families(live_berth: Berth) -> None:
    prefix = unique("fam")
    a, b = f"{prefix}-alpha", f"{prefix}-beta"
    register(live_berth, fargate_task_definition(a))
    register(live_berth, fargate_task_definition(b))
    listed = live_berth.aws("ecs", "list-task-definition-families", "--family-prefix", prefix)["families"]
    assert listed == [a, b]

    live_berth.aws("ecs", "deregister-task-definition", "--task-definition", f"{b}:1")
    active = live_berth.aws("ecs", "list-task-definition-families", "--family-prefix", prefix, "--status", "ACTIVE")["families"]
    inactive = live_berth.aws("ecs", "list-task-definition-families", "--family-prefix", prefix, "--status", "INACTIVE")["families"]
    assert active == [a]
    assert inactive == [b]
    items, _ = paginate_raw(live_berth.client().list_task_definition_families, "families", page_size=1, familyPrefix=prefix, status="ALL")
    assert items == [a, b]


# --------------------------------------------------------------------------- deregister / delete


def test_deregister_then_delete(live_berth: Berth) -> None:
    b = live_berth
    family = unique("retire")
    register(b, fargate_task_definition(family))
    register(b, fargate_task_definition(family))
    ref = f"{family}:1"

    out = b.aws("ecs", "deregister-task-definition", "--task-definition", ref)["taskDefinition"]
    assert out["status"] == "INACTIVE" and out["revision"] == 1
    described = b.client().describe_task_definition(taskDefinition=ref)["taskDefinition"]
    assert described["status"] == "INACTIVE"
    assert isinstance(described.get("deregisteredAt"), dt.datetime), described.keys()
    assert b.aws("ecs", "describe-task-definition", "--task-definition", family)["taskDefinition"]["revision"] == 2

    active = b.aws("ecs", "list-task-definitions", "--family-prefix", family)["taskDefinitionArns"]
    inactive = b.aws("ecs", "list-task-definitions", "--family-prefix", family, "--status", "INACTIVE")["taskDefinitionArns"]
    assert active == [arn("task-definition", f"{family}:2")]
    assert inactive == [arn("task-definition", ref)]

    deleted = b.aws("ecs", "delete-task-definitions", "--task-definitions", ref)
    assert deleted["failures"] == [], deleted
    assert [(t["taskDefinitionArn"], t["status"]) for t in deleted["taskDefinitions"]] == [(arn("task-definition", ref), "DELETE_IN_PROGRESS")]

    # A new registration keeps counting: revisions are never reused.
    assert register(b, fargate_task_definition(family))["revision"] == 3


def test_delete_active_revision_is_a_failure(live_berth: Berth) -> None:
    family = unique("still-active")
    register(live_berth, fargate_task_definition(family))
    out = live_berth.aws("ecs", "delete-task-definitions", "--task-definitions", f"{family}:1")
    assert out.get("taskDefinitions", []) == []
    assert len(out["failures"]) == 1 and out["failures"][0]["reason"], out
    assert out["failures"][0]["arn"] == arn("task-definition", f"{family}:1")
    td = live_berth.aws("ecs", "describe-task-definition", "--task-definition", f"{family}:1")["taskDefinition"]
    assert td["status"] == "ACTIVE"


def test_deregister_unknown(live_berth: Berth) -> None:
    live_berth.aws_error("ecs", "deregister-task-definition", "--task-definition", f"{unique('ghost')}:1", code=("ClientException", "InvalidParameterException"))


# --------------------------------------------------------------------------- validation: Fargate sizes


VALID_FARGATE = [
    ("256", "512"), ("256", "1024"), ("256", "2048"),
    ("512", "1024"), ("512", "3072"), ("512", "4096"),
    ("1024", "2048"), ("1024", "5120"), ("1024", "8192"),
    ("2048", "4096"), ("2048", "9216"), ("2048", "16384"),
    ("4096", "8192"), ("4096", "20480"), ("4096", "30720"),
    ("8192", "16384"), ("8192", "61440"),
    ("16384", "32768"), ("16384", "122880"),
]

INVALID_FARGATE = [
    ("256", "4096"), ("256", "256"), ("256", "1536"),
    ("512", "512"), ("512", "5120"),
    ("1024", "1024"), ("1024", "9216"),
    ("2048", "3072"), ("2048", "4608"), ("2048", "17408"),
    ("4096", "7168"), ("4096", "31744"),
    ("8192", "17408"), ("8192", "65536"),
    ("16384", "36864"),
    ("128", "512"), ("3072", "8192"),
    ("1 vCPU", "1 GB"),
]


@pytest.mark.parametrize(("cpu", "memory"), VALID_FARGATE)
def test_fargate_sizes_accepted(ecs: Any, cpu: str, memory: str) -> None:
    td = ecs.register_task_definition(**fargate_task_definition(unique("size"), cpu=cpu, memory=memory))["taskDefinition"]
    assert (td["cpu"], td["memory"]) == (cpu, memory)


@pytest.mark.parametrize(("cpu", "memory"), INVALID_FARGATE)
def test_fargate_sizes_rejected(ecs: Any, cpu: str, memory: str) -> None:
    family = unique("badsize")
    message = register_error(ecs, fargate_task_definition(family, cpu=cpu, memory=memory))
    assert "No Fargate configuration exists for given values" in message, message
    assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == []


@pytest.mark.parametrize(
    ("cpu", "memory", "want"),
    [
        ("1 vCPU", "2 GB", ("1024", "2048")),
        ("1 vcpu", "4GB", ("1024", "4096")),
        ("256", "0.5 GB", ("256", "512")),
        ("2 vCPU", "16 GB", ("2048", "16384")),
    ],
)
def test_fargate_spelled_sizes_normalised(ecs: Any, cpu: str, memory: str, want: tuple[str, str]) -> None:
    family = unique("spelled")
    td = ecs.register_task_definition(**fargate_task_definition(family, cpu=cpu, memory=memory))["taskDefinition"]
    assert (td["cpu"], td["memory"]) == want
    again = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    assert (again["cpu"], again["memory"]) == want


def test_fargate_size_error_through_cli(live_berth: Berth, tmp_path: Path) -> None:
    uri = write_json(tmp_path, fargate_task_definition(unique("clisize"), cpu="256", memory="4096"))
    err = live_berth.aws_error("ecs", "register-task-definition", "--cli-input-json", uri, code="ClientException")
    assert "No Fargate configuration exists for given values" in err.error_message


@pytest.mark.parametrize("missing", ["cpu", "memory"])
def test_fargate_needs_task_size(ecs: Any, missing: str) -> None:
    td = fargate_task_definition(unique("nosize"))
    del td[missing]
    message = register_error(ecs, td)
    assert f"'{missing}'" in message or missing in message.lower(), message


@pytest.mark.parametrize("mode", ["bridge", "host", "none"])
def test_fargate_requires_awsvpc(ecs: Any, mode: str) -> None:
    td = fargate_task_definition(unique("notvpc"), networkMode=mode)
    for c in td["containerDefinitions"]:
        c.pop("portMappings", None)
    message = register_error(ecs, td)
    assert "awsvpc" in message, message


# --------------------------------------------------------------------------- validation: containers


def test_duplicate_container_names(ecs: Any) -> None:
    td = fargate_task_definition(unique("dupe"))
    td["containerDefinitions"][1]["name"] = "presto"
    message = register_error(ecs, td)
    assert "presto" in message or "unique" in message.lower() or "duplicate" in message.lower(), message


def test_no_essential_container(ecs: Any) -> None:
    td = fargate_task_definition(unique("noess"))
    for c in td["containerDefinitions"]:
        c["essential"] = False
    message = register_error(ecs, td)
    assert "essential" in message.lower(), message


def test_essential_defaults_to_true(ecs: Any) -> None:
    td = fargate_task_definition(unique("defess"))
    td["containerDefinitions"] = [{"name": "only", "image": "busybox:1.36"}]
    got = ecs.register_task_definition(**td)["taskDefinition"]
    assert got["containerDefinitions"][0]["essential"] is True


def test_ec2_container_needs_memory(ecs: Any) -> None:
    message = register_error(ecs, ec2_task_definition(unique("nomem"), container_memory=None))
    assert "memoryReservation" in message and "web" in message, message


@pytest.mark.parametrize(
    "variant",
    ["task-memory", "memory-reservation"],
)
def test_ec2_memory_alternatives_accepted(ecs: Any, variant: str) -> None:
    td = ec2_task_definition(unique("mem"), container_memory=None)
    if variant == "task-memory":
        td["memory"] = "512"
    else:
        td["containerDefinitions"][0]["memoryReservation"] = 256
    got = ecs.register_task_definition(**td)["taskDefinition"]
    assert got["revision"] == 1
    assert "EC2" in got["compatibilities"]


def test_memory_reservation_above_memory(ecs: Any) -> None:
    td = ec2_task_definition(unique("resv"), container_memory=128)
    td["containerDefinitions"][0]["memoryReservation"] = 256
    register_error(ecs, td)


@pytest.mark.parametrize("mode", ["awsvpc", "host"])
def test_host_port_must_equal_container_port(ecs: Any, mode: str) -> None:
    if mode == "awsvpc":
        td = fargate_task_definition(unique("ports"))
    else:
        td = ec2_task_definition(unique("ports"), networkMode="host")
    td["containerDefinitions"][0]["portMappings"] = [{"containerPort": 8080, "hostPort": 8081, "protocol": "tcp"}]
    message = register_error(ecs, td)
    assert mode in message, message


def test_host_port_defaults_to_container_port_in_awsvpc(ecs: Any) -> None:
    td = fargate_task_definition(unique("hostdefault"))
    td["containerDefinitions"][0]["portMappings"] = [{"containerPort": 8080, "protocol": "tcp"}]
    got = ecs.register_task_definition(**td)["taskDefinition"]
    assert got["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 8080


def test_bridge_allows_dynamic_host_port(ecs: Any) -> None:
    got = ecs.register_task_definition(**ec2_task_definition(unique("bridge")))["taskDefinition"]
    assert got["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 0


@pytest.mark.parametrize("family", ["bad family!", "slash/family", "x" * 256, "dots.are.not.allowed"])
def test_bad_family_name(ecs: Any, family: str) -> None:
    td = fargate_task_definition("placeholder")
    td["family"] = family
    register_error(ecs, td)


def test_family_name_at_limit_accepted(ecs: Any) -> None:
    family = unique("long_Family-ok")
    family = family + "a" * (255 - len(family))
    got = ecs.register_task_definition(**fargate_task_definition(family))["taskDefinition"]
    assert got["family"] == family
