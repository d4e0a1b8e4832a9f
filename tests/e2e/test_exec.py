"""`berth exec` into running containers on a real Docker Engine through `berth agent`:
a command with piped standard input, its output and exit code; a terminal session driven
under a pty (typed input, the window's size, `exit`); ExecuteCommand as boto3 calls it;
refusals for a task without enableExecuteCommand (ECS's words), an IAM user without
ecs:ExecuteCommand, a stopped task and an unknown container; enableExecuteCommand
reported by DescribeTasks and DescribeServices, and inherited by a service's tasks."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import (Berth, berth_bin, client, client_error, error_code, error_message, eventually, http_exchange,
                      new_user, unique)
from docker_agent import IMAGE, AgentProcess, agent_node

CLUSTER = "default"
NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was run or the "
    "execute command agent isn't running. Wait and try again or run a new task with execute command "
    "enabled and try again."
)


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, AgentProcess]]:
    yield from agent_node(berth_factory, tmp_path_factory.mktemp("agent"), CLUSTER)


@pytest.fixture(scope="module")
def family(node: tuple[Berth, AgentProcess]) -> str:
    berth, _ = node
    name = unique("exec")
    berth.client().register_task_definition(family=name, containerDefinitions=[
        {"name": "main", "image": IMAGE, "memory": 64, "command": ["sleep", "600"]},
    ])
    return name


def running_task(berth: Berth, family: str, enable: bool = True) -> str:
    """Runs the family's task (with or without exec) and waits until it is RUNNING."""
    ecs = berth.client()
    r = ecs.run_task(cluster=CLUSTER, taskDefinition=family, enableExecuteCommand=enable)
    assert not r["failures"], r["failures"]
    arn = r["tasks"][0]["taskArn"]
    eventually(lambda: ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING",
               timeout=90, what=f"{arn} to run")
    return arn


@pytest.fixture(scope="module")
def task(node: tuple[Berth, AgentProcess], family: str) -> str:
    return running_task(node[0], family)


def berth_exec(berth: Berth, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(berth_bin()), "exec", *args], env=env or berth.child_env(), input=stdin,
                          capture_output=True, timeout=timeout)


def test_a_command_runs_with_stdin_piped_through_and_its_output_and_exit_code(
        node: tuple[Berth, AgentProcess], task: str) -> None:
    berth, _ = node
    done = berth_exec(berth, task, "--", "sh", "-c", "read x; echo got $x; echo to-stderr >&2; exit 3",
                      stdin=b"hello there\n")
    assert done.returncode == 3, done
    assert done.stdout == b"got hello there\n", done
    assert done.stderr == b"to-stderr\n", done
    # By id with --cluster; the end of standard input reaches the command (cat ends).
    task_id = task.rsplit("/", 1)[1]
    data = bytes(range(256)) * 400
    done = berth_exec(berth, task_id, "--cluster", CLUSTER, "--", "cat", stdin=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout == data
    # Arguments arrive as they were given, quotes and all.
    done = berth_exec(berth, task, "--container", "main", "--", "printf", "[%s]", "it's", "a b", "$HOME", "")
    assert (done.returncode, done.stdout) == (0, b"[it's][a b][$HOME][]"), done
    # A command the container does not have fails as docker exec fails it.
    done = berth_exec(berth, task, "--", "no-such-command")
    assert done.returncode != 0, done


def test_a_terminal_session_under_a_pty(node: tuple[Berth, AgentProcess], task: str) -> None:
    berth, _ = node
    pid, fd = pty.fork()
    if pid == 0:  # the child: berth exec with the pty as its terminal
        os.execve(str(berth_bin()), [str(berth_bin()), "exec", task, "--", "sh"], berth.child_env())
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 99, 0, 0))
    seen = b""

    def read_until(marker: bytes, timeout: float = 30) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in {seen!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"the session ended before {marker!r}: {seen!r}"
                seen += chunk
        return seen

    try:
        os.write(fd, b"[ -t 0 ] && echo TTY-$((6*7)); stty size\n")
        read_until(b"TTY-42")  # the shell ran it (the echo of what was typed says 6*7)
        read_until(b"33 99")  # the window's size reached the container's terminal
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 41, 121, 0, 0))  # SIGWINCH
        time.sleep(0.5)
        os.write(fd, b"stty size\n")
        read_until(b"41 121")  # and follows the window when it changes
        os.write(fd, b"exit 5\n")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 5, (status, seen)
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def test_execute_command_answers_a_session_as_boto3_reads_it(node: tuple[Berth, AgentProcess], task: str) -> None:
    berth, _ = node
    r = berth.client().execute_command(cluster=CLUSTER, task=task, command="ls /", interactive=True)
    assert r["taskArn"] == task and r["containerName"] == "main" and r["interactive"] is True
    assert r["clusterArn"].endswith(":cluster/default")
    session = r["session"]
    assert session["sessionId"].startswith("ecs-execute-command-")
    assert session["streamUrl"] == f"ws://127.0.0.1:{berth.port}/exec/v1/sessions/{session['sessionId']}"
    assert len(session["tokenValue"]) >= 32
    err = client_error(berth.client().execute_command, cluster=CLUSTER, task=task, command="ls", interactive=False)
    assert error_code(err) == "InvalidParameterException"


def test_a_sessions_stream_opens_only_with_its_token_and_an_upgrade(node: tuple[Berth, AgentProcess], task: str) -> None:
    berth, _ = node
    session = berth.client().execute_command(cluster=CLUSTER, task=task, command="true", interactive=True)["session"]
    path = session["streamUrl"].split(f":{berth.port}", 1)[1]
    wrong = http_exchange(berth.port, "GET", path, {"Upgrade": "berth-exec", "Authorization": "Bearer not-it"}, b"")
    assert (wrong.status, wrong.error_type) == (400, "ResourceNotFoundException"), wrong
    plain = http_exchange(berth.port, "GET", path, {"Authorization": f"Bearer {session['tokenValue']}"}, b"")
    assert (plain.status, plain.error_type) == (400, "InvalidParameterException"), plain
    assert "Upgrade: berth-exec" in plain.message
    # The agent's side takes agents only.
    anyone = http_exchange(berth.port, "GET", "/agent/v1/exec-sessions?containerInstanceArn=x", {}, b"")
    assert anyone.status in (400, 401, 403) and anyone.message, anyone
    other = http_exchange(berth.port, "GET", f"/agent/v1/exec/{session['sessionId']}?containerInstanceArn=x",
                          {"Upgrade": "berth-exec", "Authorization": "Bearer not-an-agent"}, b"")
    assert other.status in (400, 401, 403) and other.message, other


def test_exec_is_refused_for_a_task_run_without_it(node: tuple[Berth, AgentProcess], family: str) -> None:
    berth, _ = node
    arn = running_task(berth, family, enable=False)
    described = berth.client().describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert described["enableExecuteCommand"] is False
    assert "managedAgents" not in described["containers"][0]
    done = berth_exec(berth, arn, "--", "true")
    assert done.returncode != 0
    assert f"InvalidParameterException: {NOT_ENABLED}".encode() in done.stderr, done.stderr
    err = client_error(berth.client().execute_command, cluster=CLUSTER, task=arn, command="true", interactive=True)
    assert (error_code(err), error_message(err)) == ("InvalidParameterException", NOT_ENABLED)
    berth.client().stop_task(cluster=CLUSTER, task=arn)


def test_exec_is_refused_for_a_stopped_task_and_an_unknown_container(
        node: tuple[Berth, AgentProcess], family: str) -> None:
    berth, _ = node
    arn = running_task(berth, family)
    described = berth.client().describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert described["enableExecuteCommand"] is True
    agents = described["containers"][0]["managedAgents"]
    assert [(a["name"], a["lastStatus"]) for a in agents] == [("ExecuteCommandAgent", "RUNNING")], described
    done = berth_exec(berth, arn, "--container", "nope", "--", "true")
    assert done.returncode != 0
    assert b"InvalidParameterException: The container nope was not found" in done.stderr, done.stderr
    ecs = berth.client()
    ecs.stop_task(cluster=CLUSTER, task=arn)
    eventually(lambda: ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED",
               timeout=60, what=f"{arn} to stop")
    done = berth_exec(berth, arn, "--", "true")
    assert done.returncode != 0
    assert b"InvalidParameterException: The execute command failed because task" in done.stderr, done.stderr
    assert b"is STOPPED" in done.stderr, done.stderr


def profile_env(berth: Berth, root: Path, session: Any) -> dict[str, str]:
    """The environment of a `berth` command run with `session`'s keys as profile berth."""
    creds = session.get_credentials()
    (root / "config").write_text(f"[profile berth]\nregion = us-east-1\nendpoint_url = {berth.endpoint}\n")
    (root / "credentials").write_text(
        f"[berth]\naws_access_key_id = {creds.access_key}\naws_secret_access_key = {creds.secret_key}\n")
    return {**berth.child_env(), "AWS_CONFIG_FILE": str(root / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "credentials")}


def test_exec_is_authorized_as_ecs_execute_command(
        node: tuple[Berth, AgentProcess], task: str, tmp_path: Path) -> None:
    berth, _ = node
    reader_root, runner_root = tmp_path / "reader", tmp_path / "runner"
    reader_root.mkdir()
    runner_root.mkdir()
    _, reader = new_user(berth, "arn:aws:iam::aws:policy/AmazonECS_FullAccess", inline={"no-exec": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "ecs:ExecuteCommand", "Resource": "*"}]})})
    done = berth_exec(berth, task, "--", "true", env=profile_env(berth, reader_root, reader))
    assert done.returncode != 0
    assert b"AccessDeniedException" in done.stderr and b"ecs:ExecuteCommand" in done.stderr, done.stderr
    err = client_error(client(berth, reader, "ecs").execute_command, cluster=CLUSTER, task=task, command="true",
                       interactive=True)
    assert error_code(err) == "AccessDeniedException"
    # Allowed on this task only: it runs.
    _, runner = new_user(berth, inline={"exec-one": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecs:ExecuteCommand",
                       "Resource": [task, f"arn:aws:ecs:us-east-1:000000000000:cluster/{CLUSTER}"]}]})})
    done = berth_exec(berth, task, "--", "echo", "allowed", env=profile_env(berth, runner_root, runner))
    assert (done.returncode, done.stdout) == (0, b"allowed\n"), done


def test_services_keep_enable_execute_command_and_their_tasks_inherit_it(
        node: tuple[Berth, AgentProcess], family: str) -> None:
    berth, _ = node
    ecs = berth.client()
    name = unique("svc")
    ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=family, desiredCount=1,
                       enableExecuteCommand=True)
    try:
        assert ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]["enableExecuteCommand"] is True

        def running() -> Any:
            arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
            tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
            return next((t for t in tasks if t["lastStatus"] == "RUNNING"), None)
        t = eventually(running, timeout=90, what=f"a task of {name} to run")
        assert t["enableExecuteCommand"] is True
        done = berth_exec(berth, t["taskArn"], "--", "echo", "in-service")
        assert (done.returncode, done.stdout) == (0, b"in-service\n"), done
        ecs.update_service(cluster=CLUSTER, service=name, enableExecuteCommand=False)
        assert ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]["enableExecuteCommand"] is False
    finally:
        ecs.update_service(cluster=CLUSTER, service=name, desiredCount=0)
        ecs.delete_service(cluster=CLUSTER, service=name, force=True)
