"""What the load balancer end-to-end tests share: targets that are plain Python servers
on loopback (each its own process, so stopping one closes its connections as a crashed
task would), requests through listeners with fresh connections, and the AWS CLI calls
that build a load balancer, a target group and a listener.

Target processes are started here and stopped by their pid when the test ends.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from conftest import STOP_TIMEOUT_S, Berth, _die_with_parent, free_port, unique

# An HTTP/1.1 target (keep-alive, as tasks behind a load balancer usually are) that
# answers every GET with JSON naming itself and echoing the request's path and the
# headers a load balancer adds; GET /status/NNN answers NNN. In "echo" mode it is a TCP
# server that answers each read with "NAME:" and the bytes read.
TARGET_SCRIPT = r'''
import json, socketserver, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        status = 200
        if self.path.startswith("/status/"):
            status = int(self.path.split("/")[2])
        body = json.dumps({
            "name": name,
            "path": self.path,
            "host": self.headers.get("Host"),
            "x-forwarded-for": self.headers.get("X-Forwarded-For"),
            "x-forwarded-proto": self.headers.get("X-Forwarded-Proto"),
            "x-forwarded-port": self.headers.get("X-Forwarded-Port"),
            "user-agent": self.headers.get("User-Agent"),
        }).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            self.request.sendall(name.encode() + b":" + data)

class TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", port), Handler) if mode == "http" else TcpServer(("127.0.0.1", port), Echo)
print("ready", flush=True)
server.serve_forever()
'''


@dataclass
class Target:
    """One target process on 127.0.0.1:port."""

    name: str
    port: int
    mode: str
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TARGET_SCRIPT, self.mode, self.name, str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            pytest.fail(f"target {self.name} on port {self.port} did not start: {line!r}")

    def stop(self) -> None:
        """SIGTERM (then SIGKILL) our process: its connections close, as a crashed task's would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Targets:
    """Starts targets for one test and stops every one of them afterwards."""

    started: list[Target] = field(default_factory=list)

    def http(self, name: str) -> Target:
        return self._start(name, "http")

    def echo(self, name: str) -> Target:
        return self._start(name, "echo")

    def _start(self, name: str, mode: str) -> Target:
        target = Target(name, free_port(), mode)
        self.started.append(target)
        target.start()
        return target

    def stop_all(self) -> None:
        for t in self.started:
            t.stop()


@pytest.fixture
def targets() -> Iterator[Targets]:
    t = Targets()
    try:
        yield t
    finally:
        t.stop_all()


# --------------------------------------------------------------------------- traffic


def get(host: str, port: int, path: str = "/", host_header: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    """One GET on a fresh connection: (status, JSON body or text)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Host": host_header} if host_header else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data.decode(errors="replace")


def served_by(host: str, port: int, n: int, path: str = "/", host_header: str | None = None) -> list[str]:
    """The names of the targets that served n requests (failing on any non-200)."""
    names = []
    for _ in range(n):
        status, body = get(host, port, path, host_header)
        assert status == 200, f"GET {path} through port {port}: {status} {body!r}"
        names.append(body["name"])
    return names


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def tcp_exchange(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        return s.recv(4096)


# --------------------------------------------------------------------------- resources

FAST_CHECKS = [
    "--health-check-interval-seconds", "5",
    "--health-check-timeout-seconds", "2",
    "--healthy-threshold-count", "2",
    "--unhealthy-threshold-count", "2",
]


def create_lb(b: Berth, lb_type: str = "application", name: str | None = None) -> dict:
    name = name or unique("lb")
    return b.aws("elbv2", "create-load-balancer", "--name", name, "--type", lb_type,
                 "--subnets", "subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788")["LoadBalancers"][0]


def create_tg(b: Berth, protocol: str = "HTTP", *extra: str, name: str | None = None) -> dict:
    name = name or unique("tg")
    return b.aws("elbv2", "create-target-group", "--name", name, "--protocol", protocol, "--port", "80",
                 "--vpc-id", "vpc-0123456789abcdef0", "--target-type", "ip", *FAST_CHECKS, *extra)["TargetGroups"][0]


def create_listener(b: Berth, lb_arn: str, actions: str, protocol: str = "HTTP", port: int | None = None) -> tuple[dict, int]:
    port = port or free_port()
    listener = b.aws("elbv2", "create-listener", "--load-balancer-arn", lb_arn, "--protocol", protocol,
                     "--port", str(port), "--default-actions", actions)["Listeners"][0]
    return listener, port


def forward(tg_arn: str) -> str:
    return f"Type=forward,TargetGroupArn={tg_arn}"


def register(b: Berth, tg_arn: str, *ports: int) -> None:
    b.aws("elbv2", "register-targets", "--target-group-arn", tg_arn, "--targets",
          *[f"Id=127.0.0.1,Port={p}" for p in ports])


def health(b: Berth, tg_arn: str) -> dict[int, dict]:
    """Port -> TargetHealth of every registration."""
    rows = b.aws("elbv2", "describe-target-health", "--target-group-arn", tg_arn)["TargetHealthDescriptions"]
    return {r["Target"]["Port"]: r["TargetHealth"] for r in rows}


def boto3_health(elbv2: Any, tg_arn: str) -> dict[int, dict]:
    """As health(), through a boto3 client: for states that last only seconds, where an
    AWS CLI process's start-up on a loaded machine would take too much of them."""
    rows = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {r["Target"]["Port"]: r["TargetHealth"] for r in rows}
