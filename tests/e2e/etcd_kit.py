"""A real etcd cluster for end-to-end tests: `n` `etcd` processes (Debian's etcd-server)
on free loopback ports, each with its own data directory, started and stopped by the
test that owns them. A missing `etcd` fails the test (scripts/test installs it)."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port


class EtcdCluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.names = [f"m{i}" for i in range(size)]
        self.client_ports = [free_port() for _ in range(size)]
        self.peer_ports = [free_port() for _ in range(size)]
        self.procs: list[subprocess.Popen | None] = [None] * size

    @property
    def url(self) -> str:
        """As `berth server --store` takes it."""
        return "etcd://" + ",".join(f"127.0.0.1:{p}" for p in self.client_ports)

    def start(self) -> None:
        """Starts the members; when one cannot bind its port (another process took it
        between `free_port` and etcd's bind), starts the cluster afresh on new ports."""
        etcd = shutil.which("etcd")
        if not etcd:
            pytest.fail("etcd is not installed: run `apt-get install etcd-server` (scripts/test installs it)")
        for _ in range(3):
            if self._start_once(etcd):
                return
            self.stop()
            for name in self.names:
                shutil.rmtree(self.root / name, ignore_errors=True)
            self.client_ports = [free_port() for _ in self.names]
            self.peer_ports = [free_port() for _ in self.names]
        pytest.fail(f"etcd did not become healthy after 3 starts; logs in {self.root}")

    def _start_once(self, etcd: str) -> bool:
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        for i, name in enumerate(self.names):
            log = open(self.root / f"{name}.log", "ab")
            self.procs[i] = subprocess.Popen([
                etcd, "--name", name, "--data-dir", str(self.root / name),
                "--listen-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"berth-e2e-{self.client_ports[0]}",
                "--heartbeat-interval", "50", "--election-timeout", "500",
            ], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        for port in self.client_ports:
            while True:
                if any(p is not None and p.poll() is not None for p in self.procs):
                    return False  # a member exited: most often its port was taken
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                        if b'"true"' in r.read():
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
        return True

    def get(self, key: str) -> str | None:
        """The value of `key` (the store's namespace included), read from any member."""
        body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
        for port in self.client_ports:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v3/kv/range", data=body)
                with urllib.request.urlopen(req, timeout=5) as r:
                    kvs = json.load(r).get("kvs", [])
                    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None
            except OSError:
                continue
        raise AssertionError("no etcd member answered")

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
