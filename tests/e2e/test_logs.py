"""CloudWatch Logs' API with the real AWS CLI and boto3 against `berth up`: log groups
and streams, PutLogEvents' batch rules, GetLogEvents' tokens both ways, FilterLogEvents
over several streams with filter patterns, retention, tags, events surviving a `kill -9`
of the server, and `aws logs tail --follow` (AWS CLI v2)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Berth, BerthFactory, client_error, error_code, eventually, unique

DAY_MS = 24 * 3600 * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def logs(live_berth: Berth) -> Any:
    return live_berth.client("logs")


def new_stream(logs: Any, group: str | None = None, stream: str = "main") -> tuple[str, str]:
    group = group or f"/berth/e2e/{unique('group')}"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return group, stream


def put(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> dict:
    return logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": t, "message": m} for t, m in events],
    )


def test_groups_and_streams_with_the_aws_cli(live_berth: Berth) -> None:
    b = live_berth
    group = f"/ecs/{unique('web')}"
    b.aws("logs", "create-log-group", "--log-group-name", group, "--tags", "team=web")
    b.aws_error("logs", "create-log-group", "--log-group-name", group, code="ResourceAlreadyExistsException")
    b.aws_error("logs", "create-log-group", "--log-group-name", "bad name!", code="InvalidParameterException")
    found = b.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert [g["logGroupName"] for g in found] == [group]
    assert found[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert "retentionInDays" not in found[0] and found[0]["storedBytes"] == 0

    for stream in ("web/web/b", "web/web/a", "other"):
        b.aws("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", stream)
    b.aws_error("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "other",
                code="ResourceAlreadyExistsException")
    b.aws_error("logs", "create-log-stream", "--log-group-name", f"{group}-missing", "--log-stream-name", "x",
                code="ResourceNotFoundException")
    streams = b.aws("logs", "describe-log-streams", "--log-group-name", group,
                    "--log-stream-name-prefix", "web/")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["web/web/a", "web/web/b"]

    b.aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "7")
    bad = b.aws_error("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "2",
                      code="InvalidParameterException")
    assert "retentionInDays" in bad.error_message
    described = b.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"][0]
    assert described["retentionInDays"] == 7
    b.aws("logs", "delete-retention-policy", "--log-group-name", group)
    assert "retentionInDays" not in b.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"][0]

    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    b.aws("logs", "tag-resource", "--resource-arn", arn, "--tags", "env=prod")
    assert b.aws("logs", "list-tags-for-resource", "--resource-arn", arn)["tags"] == {"team": "web", "env": "prod"}
    b.aws("logs", "untag-log-group", "--log-group-name", group, "--tags", "team")
    assert b.aws("logs", "list-tags-log-group", "--log-group-name", group)["tags"] == {"env": "prod"}

    b.aws("logs", "delete-log-stream", "--log-group-name", group, "--log-stream-name", "other")
    b.aws_error("logs", "delete-log-stream", "--log-group-name", group, "--log-stream-name", "other",
                code="ResourceNotFoundException")
    b.aws("logs", "delete-log-group", "--log-group-name", group)
    assert b.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"] == []
    b.aws_error("logs", "describe-log-streams", "--log-group-name", group, code="ResourceNotFoundException")


def test_put_log_events_applies_the_batch_rules(logs: Any) -> None:
    group, stream = new_stream(logs)
    now = now_ms()
    answer = put(logs, group, stream, [
        (now - 14 * DAY_MS - 120_000, "too old"),
        (now - 14 * DAY_MS - 110_000, "too old too"),
        (now - 14 * DAY_MS + 60_000, "old but fine"),
        (now - 14 * DAY_MS + 70_000, "fine"),
    ])
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2}
    answer = put(logs, group, stream, [(now, "now"), (now + 3 * 3600 * 1000, "too new")])
    assert answer["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    assert "nextSequenceToken" in answer
    stored = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in stored] == ["old but fine", "fine", "now"]

    for events, words in [
        ([(now, "b"), (now - 1, "a")], "chronological order"),
        ([(now - DAY_MS - 1, "a"), (now, "b")], "24 hours"),
        ([(now, "x" * (1024 * 1024))], "Upload too large"),
    ]:
        err = client_error(put, logs, group, stream, events)
        assert error_code(err) == "InvalidParameterException", err
        assert words in str(err), err
    missing = client_error(put, logs, group, "no-such-stream", [(now, "x")])
    assert error_code(missing) == "ResourceNotFoundException"
    # Sequence tokens are accepted and not required.
    logs.put_log_events(logGroupName=group, logStreamName=stream, sequenceToken="anything",
                        logEvents=[{"timestamp": now + 1, "message": "with a token"}])


def test_get_log_events_pages_both_ways_and_the_forward_token_waits_at_the_end(logs: Any) -> None:
    group, stream = new_stream(logs)
    base = now_ms() - 60_000
    put(logs, group, stream, [(base + i, f"line {i}") for i in range(25)])

    latest = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=10)
    assert [e["message"] for e in latest["events"]] == [f"line {i}" for i in range(15, 25)]
    seen: list[str] = []
    token = latest["nextBackwardToken"]
    for _ in range(10):
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=10, nextToken=token)
        if not page["events"]:
            assert page["nextBackwardToken"] == token, "the same token at the start"
            break
        seen = [e["message"] for e in page["events"]] + seen
        token = page["nextBackwardToken"]
    assert seen == [f"line {i}" for i in range(15)]

    forward: list[str] = []
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=7, startFromHead=True)
    while page["events"]:
        forward += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=7, nextToken=token)
    assert forward == [f"line {i}" for i in range(25)]
    assert page["nextForwardToken"] == token, "at the end the same forward token comes back"
    put(logs, group, stream, [(base + 100, "late line")])
    after = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token)
    assert [e["message"] for e in after["events"]] == ["late line"]

    window = logs.get_log_events(logGroupName=group, logStreamName=stream, startTime=base + 5,
                                 endTime=base + 8, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["line 5", "line 6", "line 7"]
    bad = client_error(logs.get_log_events, logGroupName=group, logStreamName=stream, nextToken="garbage")
    assert error_code(bad) == "InvalidParameterException"


def test_filter_log_events_interleaves_streams_and_applies_patterns(logs: Any) -> None:
    group, _ = new_stream(logs, stream="api")
    new_stream(logs, group, "worker")
    base = now_ms() - 60_000
    put(logs, group, "api", [
        (base + 1, "[ERROR] 500 GET /orders"),
        (base + 3, "[INFO] 200 GET /health"),
        (base + 5, json.dumps({"level": "error", "latency": 250})),
    ])
    put(logs, group, "worker", [
        (base + 2, "[WARN] retrying job 7"),
        (base + 4, "[ERROR] job 7 failed: Exception at step 2"),
        (base + 6, json.dumps({"level": "info", "latency": 12})),
    ])

    def messages(**kw: Any) -> list[str]:
        found: list[str] = []
        token = None
        while True:
            args = {"logGroupName": group, **kw, **({"nextToken": token} if token else {})}
            page = logs.filter_log_events(**args)
            found += [f"{e['logStreamName']}|{e['message']}" for e in page["events"]]
            token = page.get("nextToken")
            if not token:
                return found

    everything = messages()
    assert [m.split("|")[0] for m in everything] == ["api", "worker", "api", "worker", "api", "worker"]
    assert messages(limit=1) == everything, "one event per page, every event once"
    assert messages(filterPattern="ERROR") == [
        "api|[ERROR] 500 GET /orders", "worker|[ERROR] job 7 failed: Exception at step 2"]
    assert messages(filterPattern='"Exception at step"') == ["worker|[ERROR] job 7 failed: Exception at step 2"]
    assert messages(filterPattern="?WARN ?500") == ["api|[ERROR] 500 GET /orders", "worker|[WARN] retrying job 7"]
    assert messages(filterPattern="ERROR -job") == ["api|[ERROR] 500 GET /orders"]
    assert [m.split("|")[0] for m in messages(filterPattern='{ $.level = "error" }')] == ["api"]
    assert len(messages(filterPattern="{ $.latency > 100 }")) == 1
    assert messages(logStreamNames=["worker"], filterPattern="job") == [
        "worker|[WARN] retrying job 7", "worker|[ERROR] job 7 failed: Exception at step 2"]
    assert len(messages(startTime=base + 2, endTime=base + 5)) == 3
    bad = client_error(logs.filter_log_events, logGroupName=group, filterPattern="[ip, user]")
    assert error_code(bad) == "InvalidParameterException" and "space-delimited" in str(bad)


def test_events_survive_a_kill_9_of_the_server(berth_factory: BerthFactory) -> None:
    b = berth_factory(fake_agent=False)
    logs = b.client("logs")
    group, stream = new_stream(logs)
    base = now_ms() - 10_000
    for batch in range(5):
        put(logs, group, stream, [(base + batch * 100 + i, f"b{batch} e{i}") for i in range(100)])
    b.restart(kill9=True)
    logs = b.client("logs")
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in events] == [f"b{k} e{i}" for k in range(5) for i in range(100)]
    info = logs.describe_log_streams(logGroupName=group)["logStreams"][0]
    assert info["firstEventTimestamp"] == base and info["lastEventTimestamp"] == base + 499
    put(logs, group, stream, [(base + 1000, "after the restart")])
    last = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=1)["events"]
    assert [e["message"] for e in last] == ["after the restart"]


DEBIAN_AWS = Path("/usr/bin/aws")


def test_aws_logs_tail_follows_new_events(live_berth: Berth, logs: Any) -> None:
    """`aws logs tail --follow` is AWS CLI v2's; the suite takes it from Debian's
    `awscli` package (v2.9, which reads no endpoint_url from the profile, hence the
    flag)."""
    if not DEBIAN_AWS.exists():
        pytest.fail("AWS CLI v2 is missing: apt-get install awscli (scripts/test installs it)")
    group, stream = new_stream(logs)
    now = now_ms()
    put(logs, group, stream, [(now - 2000, "before following"), (now - 1000, "ERROR before")])
    argv = [str(DEBIAN_AWS), "--profile", "berth", "--endpoint-url", live_berth.endpoint,
            "logs", "tail", group, "--follow", "--since", "1h", "--format", "short"]
    proc = subprocess.Popen(argv, env=live_berth.child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        eventually(lambda: any("ERROR before" in line for line in lines), timeout=30,
                   what="tail to print the existing events")
        put(logs, group, stream, [(now_ms(), "arrived while following")])
        eventually(lambda: any("arrived while following" in line for line in lines), timeout=30,
                   what="tail --follow to print a new event")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    messages = [line.split(" ", 1)[1].strip() for line in lines if " " in line]
    assert messages == ["before following", "ERROR before", "arrived while following"], (lines, proc.stderr.read())
    filtered = subprocess.run([*argv[:-5], "--since", "1h", "--format", "short", "--filter-pattern", "ERROR"],
                              env=live_berth.child_env(), capture_output=True, text=True, timeout=60)
    assert filtered.returncode == 0, filtered.stderr
    assert [line.split(" ", 1)[1] for line in filtered.stdout.splitlines()] == ["ERROR before"]


def test_describe_log_groups_pages_with_prefixes_and_patterns(logs: Any) -> None:
    base = f"/page/{unique('g')}"
    names = [f"{base}/{kind}-{i}" for kind in ("api", "web") for i in range(4)]
    for name in names:
        logs.create_log_group(logGroupName=name)

    def listed(**kw: Any) -> list[str]:
        found, token = [], None
        while True:
            page = logs.describe_log_groups(limit=3, **kw, **({"nextToken": token} if token else {}))
            assert len(page["logGroups"]) <= 3
            found += [g["logGroupName"] for g in page["logGroups"]]
            token = page.get("nextToken")
            if not token:
                return found

    assert listed(logGroupNamePrefix=base) == sorted(names)
    matching = listed(logGroupNamePattern=base.rsplit("/", 1)[1] + "/web")
    assert matching == sorted(n for n in names if "/web-" in n)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.describe_log_groups(nextToken="not a token!")
