"""Harness for the end-to-end suite: a real `berth up` driven by the real AWS CLI and boto3.

Every test talks to a `berth up` process started here, on a free port, with a
throw-away HOME and data directory. Nothing is mocked: the CLI and boto3 find
the server through the `berth` profile that `berth up` writes, and every request
is SigV4-signed with the key pair it generated.

Fixtures
- `berth_factory`: starts further servers (own HOME/data dir, or a given data dir).
- `berth`: the session-wide server most modules share.
- `ecs`: a boto3 ECS client bound to `berth`.

Helpers on a `Berth` object: `aws(...)`, `aws_error(...)`, `client(service)`,
`raw(...)` (hand-built, hand-signed HTTP), `restart(kill9=...)`, `stop()`.
Module-level helpers build realistic inputs (`fargate_task_definition`,
`awsvpc_cli`, ...) and wait for conditions (`eventually`).

Processes: only the `berth` processes started here are ever signalled, by pid.
"""

from __future__ import annotations

import configparser
import contextlib
import ctypes
import datetime as dt
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "000000000000"
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 180.0

# What the user already had in their AWS files; `berth up` must leave it untouched.
OTHER_CONFIG = """\
# written by the user before Berth existed
[profile other]
region = eu-west-1
output = text
cli_pager =
"""
OTHER_CREDENTIALS = """\
[other]
aws_access_key_id = AKIAOTHEROTHEROTHER1
aws_secret_access_key = other/secret/kept+exactly/as/written0000
"""

SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
SECURITY_GROUPS = ["sg-0123456789abcdef0"]
# The role `berth up` makes for every account, as the ECS console does on first use.
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}

# The outer environment must not leak into the clients under test.
for _name in [n for n in os.environ if n.startswith("AWS_")]:
    del os.environ[_name]
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


# --------------------------------------------------------------------------- names


def unique(prefix: str) -> str:
    """A resource name no other test uses: prefix plus 8 hex characters."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def arn(kind: str, path: str) -> str:
    """An ECS ARN in Berth's default account and region, e.g. arn('cluster', 'c1')."""
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{path}"


TASK_ID_RE = r"[0-9a-f]{32}"


def task_arn_re(cluster: str) -> re.Pattern[str]:
    """The shape AWS gives task ARNs (new long format): task/CLUSTER/32-hex-id."""
    return re.compile(rf"^arn:aws:ecs:{REGION}:{ACCOUNT}:task/{re.escape(cluster)}/{TASK_ID_RE}$")


# --------------------------------------------------------------------------- inputs


def fargate_task_definition(family: str, *, cpu: str = "256", memory: str = "512", **extra: Any) -> dict:
    """A Fargate task definition in the style of the Presto-on-Fargate guide."""
    td: dict[str, Any] = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [
            {
                "name": "presto",
                "image": "prestodb/presto:0.287",
                "essential": True,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "environment": [
                    {"name": "MODE", "value": "COORDINATOR"},
                    {"name": "COORDINATOR_HOST_PORT", "value": "localhost:8080"},
                ],
                "command": ["/opt/presto/bin/launcher", "run"],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/{family}",
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": "presto",
                    },
                },
            },
            {
                "name": "sidecar",
                "image": "busybox:1.36",
                "essential": False,
                "command": ["sh", "-c", "sleep 3600"],
            },
        ],
        "tags": [{"key": "team", "value": "data"}, {"key": "app", "value": "presto"}],
    }
    td.update(extra)
    return td


def ec2_task_definition(family: str, *, container_memory: int | None = 128, **extra: Any) -> dict:
    """A bridge-mode EC2 task definition with one container."""
    container: dict[str, Any] = {
        "name": "web",
        "image": "nginx:1.25",
        "essential": True,
        "cpu": 128,
        "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
    }
    if container_memory is not None:
        container["memory"] = container_memory
    td: dict[str, Any] = {
        "family": family,
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [container],
    }
    td.update(extra)
    return td


def awsvpc_cli(subnets: list[str] = SUBNETS, groups: list[str] = SECURITY_GROUPS) -> str:
    """The --network-configuration shorthand exactly as the seed guides write it."""
    return (
        f"awsvpcConfiguration={{subnets=[{','.join(subnets)}],"
        f"securityGroups=[{','.join(groups)}],assignPublicIp=ENABLED}}"
    )


def awsvpc_api(subnets: list[str] = SUBNETS, groups: list[str] = SECURITY_GROUPS) -> dict:
    """The same network configuration as an API structure (boto3)."""
    return {
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": list(groups),
            "assignPublicIp": "ENABLED",
        }
    }


def tag_map(tags: list[dict] | None) -> dict[str, str]:
    """[{key, value}, ...] -> {key: value}."""
    return {t["key"]: t.get("value", "") for t in tags or []}


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.3, what: str = "condition") -> Any:
    """Call `check` until it returns a truthy value; fail with the last result after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last result: {last!r}")
        time.sleep(interval)


def client_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> ClientError:
    """Run a boto3 call that must fail with a service error; return the ClientError."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value


def error_code(err: ClientError) -> str:
    return err.response["Error"]["Code"]


def error_message(err: ClientError) -> str:
    return err.response["Error"].get("Message", "")


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class RawResponse:
    """An HTTP response as received, with helpers for AWS JSON error bodies."""

    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            pytest.fail(f"response body is not JSON (status {self.status}): {self.body[:500]!r}")

    @property
    def error_type(self) -> str:
        """`__type` without a `namespace#` prefix, as botocore reads it."""
        return str(self.json().get("__type", "")).rsplit("#", 1)[-1]

    @property
    def message(self) -> str:
        return str(self.json().get("message", ""))

    def assert_aws_error(self, status: int | tuple[int, ...], *types: str) -> None:
        """The response is an AWS JSON error: status, x-amzn-RequestId, {__type, message}."""
        statuses = status if isinstance(status, tuple) else (status,)
        assert self.status in statuses, f"status {self.status} not in {statuses}; body {self.body[:500]!r}"
        assert self.header("x-amzn-RequestId"), f"no x-amzn-RequestId header in {self.headers}"
        doc = self.json()
        assert isinstance(doc, dict), doc
        assert "__type" in doc and "message" in doc, f"AWS errors carry __type and message: {doc}"
        assert doc["message"], f"empty error message: {doc}"
        if types:
            assert self.error_type in types, f"__type {doc['__type']!r} not one of {types}: {doc}"


def http_exchange(port: int, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float = 60.0) -> RawResponse:
    """Send one request on a fresh connection and read the response.

    The body is written from a second thread while this one reads, so a server
    that answers early (e.g. 413 on an oversized body) and closes is still heard.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = [f"{method} {path} HTTP/1.1"]
    hdrs = {k: v for k, v in headers.items()}
    hdrs.setdefault("Host", f"127.0.0.1:{port}")
    hdrs["Content-Length"] = str(len(body))
    hdrs["Connection"] = "close"
    head += [f"{k}: {v}" for k, v in hdrs.items()]
    payload = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    send_error: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
        except OSError as exc:  # the server may stop reading once it has answered
            send_error.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        result = RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except (OSError, http.client.HTTPException) as exc:
        pytest.fail(f"no HTTP response from Berth ({exc!r}); sender error: {send_error!r}")
    finally:
        sender.join(timeout=timeout)
        sock.close()
    return result


@contextlib.contextmanager
def signing_clock(offset: dt.timedelta) -> Iterator[None]:
    """Make botocore's SigV4 signer believe the time is now + offset."""
    real = botocore.auth.get_current_datetime

    def shifted(remove_tzinfo: bool = True) -> dt.datetime:
        return real(remove_tzinfo) + offset

    botocore.auth.get_current_datetime = shifted
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = real


# --------------------------------------------------------------------------- CLI


@dataclass
class CliResult:
    """One `aws` invocation: exit code, output, and the AWS error it printed if any."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else {}

    @property
    def error_code(self) -> str | None:
        m = re.search(r"An error occurred \(([^)]+)\) when calling the \w+ operation", self.stderr)
        return m.group(1) if m else None

    @property
    def error_message(self) -> str:
        m = re.search(r"when calling the \w+ operation(?: \(reached max retries: \d+\))?: (.*)", self.stderr, re.S)
        return m.group(1).strip() if m else ""

    def describe(self) -> str:
        return f"aws {' '.join(self.args)}\n  exit {self.returncode}\n  stdout: {self.stdout[-2000:]}\n  stderr: {self.stderr[-2000:]}"


def aws_cli_path() -> Path:
    path = Path(os.environ.get("AWS_CLI", Path(sys.executable).parent / "aws"))
    if not path.exists():
        pytest.fail(f"the AWS CLI is not installed at {path}; run scripts/test (it installs awscli into .venv)")
    return path


# --------------------------------------------------------------------------- server


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if pytest dies without tearing down (Linux prctl)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def berth_bin() -> Path:
    path = Path(os.environ.get("BERTH_BIN", REPO_ROOT / "target" / "debug" / "berth"))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"berth binary not found at {path}: build it (cargo build -p berth) or set BERTH_BIN")
    return path


def fake_agent_bin() -> Path:
    path = Path(os.environ.get("BERTH_FAKE_AGENT_BIN", REPO_ROOT / "target" / "debug" / "berth-fake-agent"))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"berth-fake-agent not found at {path}: build it (cargo build -p berth-testkit)")
    return path


@dataclass
class Berth:
    """One `berth up` process with its own HOME and data dir, and clients bound to it."""

    root: Path
    home: Path
    data_dir: Path
    port: int
    extra_args: list[str] = field(default_factory=list)
    command: str = "up"
    proc: subprocess.Popen | None = None
    # Until the Docker agent lands, a fake agent (berth-testkit) offers Fargate capacity
    # through the real agent channel, so tasks move through their lifecycle.
    fake_agent: bool = True
    agent_proc: subprocess.Popen | None = None
    # `berth up` runs its own Docker agent only when asked (with extra_env naming the
    # engine); otherwise it gets --no-agent, so results never depend on the host's Docker.
    local_agent: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    # `--tls`: HTTPS with the CA Berth makes in DATA/tls (the profile names it).
    tls: bool = False
    listen_host: str = "127.0.0.1"
    # Runs inside this network namespace (nsenter --net), for multi-host tests.
    netns: str | None = None
    starts: int = 0
    _clients: dict[str, Any] = field(default_factory=dict)

    # ---- lifecycle

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.listen_host == "0.0.0.0" else self.listen_host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def _health(self, timeout: float) -> Any:
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None
        return urllib.request.urlopen(f"{self.endpoint}/health", timeout=timeout, context=context)

    @property
    def config_file(self) -> Path:
        return self.home / ".aws" / "config"

    @property
    def credentials_file(self) -> Path:
        return self.home / ".aws" / "credentials"

    def log_path(self, stream: str, start: int | None = None) -> Path:
        return self.root / f"berth-{start if start is not None else self.starts}.{stream}.log"

    def output(self, start: int | None = None) -> str:
        """Everything one start of the process printed, stdout then stderr."""
        parts = []
        for stream in ("stdout", "stderr"):
            p = self.log_path(stream, start)
            if p.exists():
                parts.append(p.read_text(errors="replace"))
        return "\n".join(parts)

    def child_env(self) -> dict[str, str]:
        # No AWS_* or BERTH_* settings from outside (BERTH_LOG excepted: it only tunes logging).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_")) or k == "BERTH_LOG"}
        env["HOME"] = str(self.home)
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(self.extra_env)
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        argv = [*(["nsenter", f"--net=/var/run/netns/{self.netns}"] if self.netns else []),
                str(berth_bin()), self.command, "--listen", f"{self.listen_host}:{self.port}", "--data-dir", str(self.data_dir),
                *(["--tls"] if self.tls else []), *self.extra_args]
        if self.command == "up" and not self.local_agent:
            argv.append("--no-agent")
        with open(self.log_path("stdout"), "wb") as out, open(self.log_path("stderr"), "wb") as err:
            self.proc = subprocess.Popen(
                argv, env=self.child_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=self.root, preexec_fn=_die_with_parent
            )
        self._clients.clear()
        self.wait_ready(argv)
        if self.fake_agent and self.command == "up":
            self.start_agent()

    def start_agent(self) -> None:
        """Start the fake agent once; it survives server restarts and re-polls by itself."""
        if self.agent_proc is not None and self.agent_proc.poll() is None:
            return
        argv = [str(fake_agent_bin()), "--server", self.endpoint, "--token-file", str(self.data_dir / "agent-token"), "--fargate"]
        with open(self.root / "fake-agent.log", "ab") as log:
            self.agent_proc = subprocess.Popen(
                argv, env=self.child_env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.root, preexec_fn=_die_with_parent
            )

    def stop_agent(self) -> None:
        if self.agent_proc is not None and self.agent_proc.poll() is None:
            self.agent_proc.send_signal(signal.SIGTERM)
            try:
                self.agent_proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.agent_proc.kill()
                self.agent_proc.wait()

    def wait_ready(self, argv: list[str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                pytest.fail(f"`{' '.join(argv)}` exited with {code} before it was ready.\n{self.output()[-6000:]}")
            try:
                with self._health(timeout=2) as resp:
                    # `berth up` is ready once it says so: the profile is written and its
                    # local agent has joined (or said why not) by then.
                    said_ready = self.command != "up" or "berth: ready" in self.output()
                    if resp.status == 200 and said_ready:
                        return
                    last = f"status {resp.status}" if resp.status != 200 else "answering, not yet `berth: ready`"
            except urllib.error.HTTPError as exc:
                last = f"status {exc.code}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"`{' '.join(argv)}` not ready within {READY_TIMEOUT_S}s (GET /health: {last}).\n{self.output()[-6000:]}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM our process, wait, SIGKILL if it lingers. Returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL our process (a crash, as far as Berth can tell)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def restart(self, kill9: bool = True) -> None:
        """Stop (kill -9 by default, or SIGTERM) and start again on the same port, HOME and data dir."""
        if kill9:
            self.kill()
        else:
            self.stop()
        self.start()

    def alive(self) -> bool:
        try:
            with self._health(timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False

    # ---- profile files

    def read_ini(self, path: Path) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text())
        return parser

    def credentials(self) -> tuple[str, str]:
        """The key pair `berth up` wrote into the `[berth]` credentials section."""
        section = self.read_ini(self.credentials_file)["berth"]
        return section["aws_access_key_id"], section["aws_secret_access_key"]

    # ---- clients

    def aws(self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT_S) -> Any:
        """Run `aws --profile berth --output json ARGS`; return parsed JSON (or the CliResult if check=False)."""
        result = self.run_cli(list(args), timeout=timeout)
        if not check:
            return result
        assert result.ok, f"AWS CLI call failed:\n{result.describe()}"
        return result.json

    def aws_error(self, *args: str, code: str | tuple[str, ...] | None = None) -> CliResult:
        """Run an `aws` command that must fail with an AWS error (optionally one of `code`)."""
        result = self.run_cli(list(args))
        assert not result.ok, f"expected an error, the call succeeded:\n{result.describe()}"
        assert result.error_code, f"the CLI did not report an AWS error:\n{result.describe()}"
        if code is not None:
            codes = code if isinstance(code, tuple) else (code,)
            assert result.error_code in codes, f"expected {codes}, got {result.error_code}:\n{result.describe()}"
        return result

    def run_cli(self, args: list[str], timeout: float = CLI_TIMEOUT_S, env_extra: dict[str, str] | None = None) -> CliResult:
        argv = [str(aws_cli_path()), "--profile", "berth", "--output", "json", *args]
        env = self.child_env()
        env["AWS_MAX_ATTEMPTS"] = "1"  # a server error must show, not be retried away
        env.update(env_extra or {})
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        return CliResult(args, proc.returncode, proc.stdout, proc.stderr)

    def session(self) -> boto3.Session:
        """A boto3 session on profile `berth`, reading this server's HOME files."""
        core = botocore.session.Session()
        core.set_config_variable("config_file", str(self.config_file))
        core.set_config_variable("credentials_file", str(self.credentials_file))
        return boto3.Session(botocore_session=core, profile_name="berth")

    def client(self, service: str = "ecs") -> Any:
        if service not in self._clients:
            cfg = Config(retries={"total_max_attempts": 1}, read_timeout=60, connect_timeout=10)
            self._clients[service] = self.session().client(service, config=cfg)
        return self._clients[service]

    def raw(
        self,
        action: str | None,
        body: bytes | str | dict,
        *,
        sign: bool = True,
        access_key: str | None = None,
        secret_key: str | None = None,
        clock_offset: dt.timedelta = dt.timedelta(0),
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        """POST an AWS JSON 1.1 request by hand, signed with botocore's SigV4Auth.

        Only what the caller changes is wrong: the body as given, the action's
        X-Amz-Target (or `target` verbatim), the keys, the signing clock.
        """
        if isinstance(body, dict):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        hdrs = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target if target is not None else f"{ECS_TARGET_PREFIX}.{action}",
        }
        hdrs.update(headers or {})
        if sign:
            key, secret = self.credentials()
            creds = Credentials(access_key or key, secret_key or secret)
            request = AWSRequest(method="POST", url=f"{self.endpoint}/", data=data, headers=hdrs)
            with signing_clock(clock_offset):
                botocore.auth.SigV4Auth(creds, "ecs", REGION).add_auth(request)
            hdrs = dict(request.headers.items())
        return http_exchange(self.port, "POST", "/", hdrs, data)


class BerthFactory:
    """Starts `berth up` processes under a pytest temp dir; stops every one it started."""

    def __init__(self, tmp_factory: pytest.TempPathFactory) -> None:
        self.tmp_factory = tmp_factory
        self.instances: list[Berth] = []

    def __call__(
        self,
        *,
        data_dir: Path | None = None,
        extra_args: list[str] | None = None,
        command: str = "up",
        seed_home: bool = True,
        start: bool = True,
        fake_agent: bool = True,
        local_agent: bool = False,
        extra_env: dict[str, str] | None = None,
        tls: bool = False,
        listen_host: str = "127.0.0.1",
        netns: str | None = None,
    ) -> Berth:
        root = self.tmp_factory.mktemp("berth")
        home = root / "home"
        (home / ".aws").mkdir(parents=True)
        if seed_home:
            (home / ".aws" / "config").write_text(OTHER_CONFIG)
            (home / ".aws" / "credentials").write_text(OTHER_CREDENTIALS)
        if data_dir is None:
            data_dir = root / "data"
            data_dir.mkdir()
        instance = Berth(
            root=root,
            home=home,
            data_dir=data_dir,
            port=free_port(),
            extra_args=list(extra_args or []),
            command=command,
            fake_agent=fake_agent,
            local_agent=local_agent,
            extra_env=dict(extra_env or {}),
            tls=tls,
            listen_host=listen_host,
            netns=netns,
        )
        self.instances.append(instance)
        if start:
            instance.start()
        return instance

    def stop_all(self) -> None:
        for instance in self.instances:
            instance.stop()
            instance.stop_agent()


@pytest.fixture(scope="session")
def berth_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BerthFactory]:
    factory = BerthFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def berth(berth_factory: BerthFactory) -> Berth:
    """The shared server. Tests use unique names so they never see each other's resources."""
    return berth_factory()


@pytest.fixture
def live_berth(berth: Berth) -> Berth:
    """`berth`, checked to be alive first, so a crash is blamed on the test that caused it."""
    if berth.proc is None or berth.proc.poll() is not None:
        pytest.fail(f"the shared berth process has exited (code {berth.proc.returncode if berth.proc else None}):\n{berth.output()[-4000:]}")
    return berth


@pytest.fixture
def ecs(live_berth: Berth) -> Any:
    return live_berth.client("ecs")


# --------------------------------------------------------------------------- shared resource helpers


class FakeInstances:
    """`berth-fake-agent --ec2-cluster` processes, one container instance each."""

    def __init__(self, berth: Berth, cluster: str) -> None:
        self.berth, self.cluster = berth, cluster
        self.procs: list[subprocess.Popen] = []

    def add(self) -> str:
        ecs = self.berth.client()
        before = set(ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"])
        log = open(self.berth.root / f"fake-ec2-{self.cluster}-{len(self.procs)}.log", "wb")
        self.procs.append(subprocess.Popen(
            [str(fake_agent_bin()), "--server", self.berth.endpoint, "--token-file", str(self.berth.data_dir / "agent-token"),
             "--ec2-cluster", self.cluster],
            env=self.berth.child_env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent))
        new = eventually(lambda: set(ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]) - before,
                         timeout=30, what="a fake instance to register")
        return new.pop()

    def stop_all(self) -> None:
        for p in self.procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def keyed(berth: Berth, key: str, secret: str, token: str | None = None) -> boto3.Session:
    """A boto3 session with its own keys, pointed at this Berth."""
    return boto3.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=REGION
    )


def client(berth: Berth, session: boto3.Session, service: str) -> Any:
    cfg = Config(retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=berth.endpoint, config=cfg, verify=False)


def new_user(berth: Berth, *policy_arns: str, inline: dict[str, str] | None = None) -> tuple[str, boto3.Session]:
    """An IAM user with one access key and the given managed and inline policies."""
    iam = berth.client("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    for arn in policy_arns:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for policy_name, document in (inline or {}).items():
        iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, keyed(berth, key["AccessKeyId"], key["SecretAccessKey"])


def ecs_task_role(b: Berth, name: str, policy: dict | None = None) -> str:
    """Makes a role ECS tasks may assume (kept if it exists), with `policy` inline when
    given; returns its ARN. Berth, like AWS, runs tasks only with roles that exist."""
    iam = b.client("iam")
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))
    except ClientError as e:
        if error_code(e) != "EntityAlreadyExists":
            raise
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def create_cluster(b: Berth, prefix: str = "e2e", **kwargs: Any) -> str:
    """Create a uniquely named cluster with boto3; return its name."""
    name = unique(prefix)
    resp = b.client().create_cluster(clusterName=name, **kwargs)
    assert resp["cluster"]["clusterName"] == name
    return name


def register(b: Berth, td: dict) -> dict:
    """Register a task definition with boto3; return the taskDefinition."""
    return b.client().register_task_definition(**td)["taskDefinition"]


def run_fargate(b: Berth, cluster: str, task_definition: str, count: int = 1, **kwargs: Any) -> list[dict]:
    """RunTask on the Fargate pool; fail unless every task was placed."""
    resp = b.client().run_task(
        cluster=cluster,
        taskDefinition=task_definition,
        count=count,
        launchType="FARGATE",
        networkConfiguration=awsvpc_api(),
        **kwargs,
    )
    assert resp.get("failures", []) == [], resp.get("failures")
    assert len(resp["tasks"]) == count, resp
    return resp["tasks"]


def describe_tasks(b: Berth, cluster: str, arns: list[str], include_tags: bool = False) -> list[dict]:
    kwargs: dict[str, Any] = {"include": ["TAGS"]} if include_tags else {}
    resp = b.client().describe_tasks(cluster=cluster, tasks=arns, **kwargs)
    assert resp.get("failures", []) == [], resp["failures"]
    by_arn = {t["taskArn"]: t for t in resp["tasks"]}
    assert set(by_arn) == set(arns), f"asked for {arns}, got {list(by_arn)}"
    return [by_arn[a] for a in arns]


def wait_last_status(b: Berth, cluster: str, arns: list[str], status: str, timeout: float = 60.0) -> list[dict]:
    """Poll DescribeTasks until every task's lastStatus is `status`."""

    def check() -> list[dict] | None:
        tasks = describe_tasks(b, cluster, arns)
        return tasks if all(t["lastStatus"] == status for t in tasks) else None

    return eventually(check, timeout=timeout, what=f"tasks {arns} to reach lastStatus {status}")


def stop_all_tasks(b: Berth, cluster: str) -> None:
    """Stop every task in a cluster (cleanup so the cluster can be deleted)."""
    ecs_client = b.client()
    for page in ecs_client.get_paginator("list_tasks").paginate(cluster=cluster):
        for task in page["taskArns"]:
            ecs_client.stop_task(cluster=cluster, task=task, reason="e2e cleanup")


def paginate_raw(call: Callable[..., dict], key: str, page_size: int = 1, **kwargs: Any) -> tuple[list, int]:
    """Follow nextToken by hand with maxResults=page_size; return (items, pages)."""
    items: list = []
    pages = 0
    token: str | None = None
    while True:
        args = dict(kwargs, maxResults=page_size)
        if token:
            args["nextToken"] = token
        resp = call(**args)
        pages += 1
        assert len(resp[key]) <= page_size, f"page of {len(resp[key])} > maxResults {page_size}"
        items.extend(resp[key])
        token = resp.get("nextToken")
        if not token:
            return items, pages
        assert pages < 10_000, "pagination does not terminate"
