"""Docker's own `awslogs` log driver pointed at Berth with `--log-opt awslogs-endpoint=…`.

The driver signs its calls with the credentials in dockerd's environment, so this test
starts a dockerd of its own (own data-root, exec-root, socket; no bridge, no iptables
rules) with the Berth server's key pair, imports an offline busybox image into it, and
runs containers with `--log-driver awslogs`. Lines come back through the AWS CLI and
boto3: all of them, in order, in the stream the driver names; a missing group without
`awslogs-create-group` fails `docker run` with Berth's error."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import Berth, unique

IMAGE = "berth-driver-test/busybox:latest"
APPLETS = ("sh", "seq", "echo", "sleep")


class Dockerd:
    """A dockerd of the test's own whose awslogs driver signs as one Berth key pair."""

    def __init__(self, root: Path, access_key: str, secret_key: str) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key, AWS_EC2_METADATA_DISABLED="true")
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            pytest.fail("dockerd is not installed: run the suite through scripts/test, which installs docker.io")
        self.log = open(root / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [dockerd, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"), "-H", f"unix://{self.sock}",
             "--pidfile", str(root / "dockerd.pid"), "--bridge=none", "--iptables=false", "--ip-masq=false"],
            env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while self.docker("version", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the test's dockerd did not start:\n{(root / 'dockerd.log').read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)

    def docker(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        out = subprocess.run(["docker", "-H", f"unix://{self.sock}", *args], input=stdin, capture_output=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
        return out

    def import_busybox(self) -> None:
        busybox = shutil.which("busybox")
        if busybox is None:
            pytest.fail("busybox is not installed: run the suite through scripts/test, which installs busybox-static")
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
            tar.add(busybox, arcname="bin/busybox")
            for applet in APPLETS:
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        self.docker("import", "-", IMAGE, stdin=tar_bytes.getvalue())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        netns = self.root / "exec" / "netns"
        for ns in netns.glob("*") if netns.is_dir() else []:
            subprocess.run(["umount", str(ns)], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def engine(berth_factory) -> Iterator[tuple[Berth, Dockerd]]:
    berth = berth_factory(fake_agent=False)
    access_key, secret_key = berth.credentials()
    # A short root: the socket's path must fit a sockaddr_un.
    root = Path(tempfile.mkdtemp(prefix="berth-awslogs-", dir="/tmp"))
    dockerd = Dockerd(root, access_key, secret_key)
    try:
        dockerd.import_busybox()
        yield berth, dockerd
    finally:
        dockerd.stop()


def run_with_driver(berth: Berth, dockerd: Dockerd, script: str, *log_opts: str, check: bool = True) -> subprocess.CompletedProcess:
    opts = [f"awslogs-endpoint={berth.endpoint}", "awslogs-region=us-east-1", *log_opts]
    args = ["run", "--rm", "--network", "none", "--log-driver", "awslogs"]
    for opt in opts:
        args += ["--log-opt", opt]
    return dockerd.docker(*args, IMAGE, "sh", "-c", script, check=check)


def messages(berth: Berth, group: str, stream: str) -> list[str]:
    logs = berth.client("logs")
    out: list[str] = []
    kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while True:
        page = logs.get_log_events(**kwargs)
        out += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == kwargs.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextForwardToken"]


def test_the_docker_awslogs_driver_ships_every_line_in_order(engine: tuple[Berth, Dockerd]) -> None:
    berth, dockerd = engine
    group, stream = unique("/driver/app"), unique("web")
    run_with_driver(berth, dockerd, "seq 1 20000", f"awslogs-group={group}", f"awslogs-stream={stream}",
                    "awslogs-create-group=true")
    # `docker run --rm` returns once the driver has flushed: the lines are there now.
    assert messages(berth, group, stream) == [str(i) for i in range(1, 20001)]
    out = berth.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream, "--limit", "2")
    assert [e["message"] for e in out["events"]] == ["19999", "20000"]


def test_the_driver_names_the_stream_after_the_container_and_reuses_an_existing_group(engine: tuple[Berth, Dockerd]) -> None:
    berth, dockerd = engine
    group = unique("/driver/existing")
    berth.aws("logs", "create-log-group", "--log-group-name", group)
    # awslogs-create-group on a group that exists: the driver gets
    # ResourceAlreadyExistsException and carries on, as against AWS.
    for word in ("first", "second"):
        run_with_driver(berth, dockerd, f"echo {word}; echo {word} to stderr >&2", f"awslogs-group={group}",
                        "awslogs-create-group=true")
    streams = berth.aws("logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert len(streams) == 2, streams
    for s in streams:
        # The driver's default stream name is the full container id.
        assert len(s["logStreamName"]) == 64 and all(c in "0123456789abcdef" for c in s["logStreamName"]), s
    # stdout and stderr are separate pipes: their relative order is not defined.
    seen = sorted(sorted(messages(berth, group, s["logStreamName"])) for s in streams)
    assert seen == [["first", "first to stderr"], ["second", "second to stderr"]], seen


def test_a_missing_group_fails_docker_run_with_berths_error(engine: tuple[Berth, Dockerd]) -> None:
    berth, dockerd = engine
    group = unique("/driver/missing")
    out = run_with_driver(berth, dockerd, "echo never", f"awslogs-group={group}", check=False)
    assert out.returncode != 0
    err = out.stderr.decode(errors="replace")
    assert "ResourceNotFoundException" in err and "log group does not exist" in err, err
    assert berth.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"] == []
