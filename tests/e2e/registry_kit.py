"""What the registry's end-to-end tests share: images built by hand as OCI layouts on
disk (no network is needed), the real skopeo, and a running Berth's registry spoken to
over raw HTTP with the login of `aws ecr get-login-password`, with its files on disk
(`DATA/registry/blobs/sha256/<2 hex>/<64 hex>`, uploads in `DATA/registry/uploads/`)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import Berth, RawResponse, http_exchange, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MIB = 1 << 20
SKOPEO_TIMEOUT_S = 120.0


# --------------------------------------------------------------------------- content


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    return digest.removeprefix("sha256:")


def gzip_layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A layer tarball of `files` (fixed mtimes): (uncompressed tar, gzip of it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)


@dataclass
class Image:
    """One image written into a layout: its manifest (bytes and descriptor) and its layer."""

    descriptor: dict[str, Any]
    manifest: bytes
    layer: bytes
    config: bytes

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def layer_digest(self) -> str:
        return sha256(self.layer)


class OciLayout:
    """An OCI image layout directory built by hand: blobs, index.json, oci-layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.refs: list[dict[str, Any]] = []
        self._write_index()

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / hex_of(digest)).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, arch: str = "amd64") -> Image:
        """An image of one gzip layer holding a file of fresh random bytes."""
        tar, layer = gzip_layer({f"opt/{arch}/payload.bin": os.urandom(96 * 1024), "etc/arch": arch.encode()})
        config = json.dumps({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        }).encode()
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(config, OCI_CONFIG),
            "layers": [self.blob(layer, OCI_LAYER)],
        }).encode()
        descriptor = self.blob(manifest, OCI_MANIFEST)
        return Image(descriptor, manifest, layer, config)

    def index(self, images: dict[str, Image]) -> tuple[dict[str, Any], bytes]:
        """An OCI image index over {arch: image}: its descriptor and bytes."""
        index = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [dict(img.descriptor, platform={"architecture": arch, "os": "linux"}) for arch, img in images.items()],
        }).encode()
        return self.blob(index, OCI_INDEX), index

    def tag(self, ref: str, descriptor: dict[str, Any]) -> None:
        self.refs.append(dict(descriptor, annotations={"org.opencontainers.image.ref.name": ref}))
        self._write_index()

    def _write_index(self) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}
        (self.root / "index.json").write_text(json.dumps(doc))


def layout_ref(root: Path, ref: str) -> dict[str, Any]:
    """The descriptor an OCI layout (e.g. one skopeo wrote) holds under `ref`."""
    index = json.loads((root / "index.json").read_text())
    found = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    assert len(found) == 1, f"{root} has no single entry named {ref!r}: {index}"
    return found[0]


def layout_blob(root: Path, digest: str) -> bytes:
    return (root / "blobs" / "sha256" / hex_of(digest)).read_bytes()


# --------------------------------------------------------------------------- skopeo


def skopeo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs the real skopeo; fails the test (never skips) when it is missing or fails."""
    binary = shutil.which("skopeo")
    if binary is None:
        pytest.fail("skopeo is not installed: apt-get install -y skopeo (scripts/test installs it)")
    proc = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=SKOPEO_TIMEOUT_S)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}\n  exit {proc.returncode}\n  stdout: {proc.stdout[-3000:]}\n  stderr: {proc.stderr[-3000:]}"
    return proc


# --------------------------------------------------------------------------- the registry


@dataclass
class Registry:
    """A running Berth's registry: raw HTTP with the login's Basic auth, skopeo, its files."""

    berth: Berth
    password: str
    skopeo_home: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.berth.port}"

    @property
    def root(self) -> Path:
        return self.berth.data_dir / "registry"

    @property
    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"AWS:{self.password}".encode()).decode()

    def create_repository(self, prefix: str) -> str:
        name = f"e2e-registry/{unique(prefix)}"
        self.berth.client("ecr").create_repository(repositoryName=name)
        return name

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> RawResponse:
        """One request sent exactly as written (no path normalisation), authenticated."""
        return http_exchange(self.berth.port, method, path, {"Authorization": self.authorization, **(headers or {})}, body)

    def push_blob(self, repo: str, data: bytes) -> str:
        """A monolithic upload (POST ?digest=); returns the digest."""
        digest = sha256(data)
        resp = self.call("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data)
        assert resp.status == 201, f"monolithic upload: {resp.status} {resp.body[:300]!r}"
        assert resp.header("Docker-Content-Digest") == digest
        return digest

    def start_upload(self, repo: str) -> str:
        """POST /blobs/uploads/; returns the upload's Location (a path)."""
        resp = self.call("POST", f"/v2/{repo}/blobs/uploads/")
        assert resp.status == 202, f"start upload: {resp.status} {resp.body[:300]!r}"
        location = resp.header("Location") or ""
        assert location.startswith(f"/v2/{repo}/blobs/uploads/"), location
        return location

    def blob_files(self, digest: str) -> list[Path]:
        """Every file under blobs/ named after this digest (a content store keeps one)."""
        return sorted(p for p in (self.root / "blobs").rglob(hex_of(digest)) if p.is_file())

    def upload_dir(self, location: str) -> Path:
        return self.root / "uploads" / location.rsplit("/", 1)[-1]

    def upload_dirs(self) -> set[str]:
        return {p.name for p in (self.root / "uploads").iterdir()}

    def assert_blob_served(self, repo: str, data: bytes) -> None:
        """HEAD and GET serve the blob; exactly one file holds it, with these bytes."""
        digest = sha256(data)
        head = self.call("HEAD", f"/v2/{repo}/blobs/{digest}")
        assert head.status == 200, f"HEAD {digest} in {repo}: {head.status}"
        assert head.header("Content-Length") == str(len(data)) and head.header("Docker-Content-Digest") == digest
        get = self.call("GET", f"/v2/{repo}/blobs/{digest}")
        assert get.status == 200 and get.body == data, f"GET {digest} in {repo}: {get.status}, {len(get.body)} bytes"
        files = self.blob_files(digest)
        assert files == [self.root / "blobs" / "sha256" / hex_of(digest)[:2] / hex_of(digest)], files
        assert files[0].read_bytes() == data

    def assert_blob_absent(self, repo: str, digest: str) -> None:
        """Neither served (HEAD 404, GET BLOB_UNKNOWN) nor on disk under blobs/."""
        assert self.call("HEAD", f"/v2/{repo}/blobs/{digest}").status == 404
        assert_registry_error(self.call("GET", f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
        assert self.blob_files(digest) == [], f"a file for {digest} is under {self.root / 'blobs'}"

    def assert_upload_gone(self, location: str) -> None:
        assert_registry_error(self.call("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")
        assert not self.upload_dir(location).exists(), f"{self.upload_dir(location)} was left behind"

    def ref(self, repo: str, tag: str) -> str:
        return f"docker://{self.host}/{repo}:{tag}"

    def skopeo(self, command: str, *args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
        """`skopeo COMMAND ARGS` with this registry's login on every docker:// side, over plain HTTP."""
        creds = f"AWS:{self.password}"
        flags: list[str] = []
        if command == "copy":
            src, dst = args[-2:]
            if src.startswith("docker://"):
                flags += ["--src-creds", creds, "--src-tls-verify=false"]
            if dst.startswith("docker://"):
                flags += ["--dest-creds", creds, "--dest-tls-verify=false"]
        else:
            flags += ["--creds", creds, "--tls-verify=false"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.skopeo_home)}
        return skopeo(*(["--debug"] if debug else []), command, *flags, *args, env=env)

    def raw_manifest(self, repo: str, tag: str) -> bytes:
        return self.skopeo("inspect", "--raw", self.ref(repo, tag)).stdout.encode()


def assert_registry_error(resp: RawResponse, status: int, code: str) -> dict[str, Any]:
    """The distribution spec's error answer: status and {"errors": [{"code", "message"}]}."""
    assert resp.status == status, f"expected {status} {code}, got {resp.status}: {resp.body[:500]!r}"
    doc = resp.json()
    errors = doc.get("errors") if isinstance(doc, dict) else None
    assert isinstance(errors, list) and errors, f"no errors array: {doc}"
    assert all(isinstance(e, dict) and e.get("code") and e.get("message") for e in errors), doc
    assert code in [e["code"] for e in errors], f"expected code {code}: {doc}"
    assert resp.header("Docker-Distribution-API-Version") == "registry/2.0"
    return errors[0]


_PASSWORDS: dict[str, str] = {}


def registry_of(b: Berth, home: Path) -> Registry:
    """The registry of `b`, logged in as `aws ecr get-login-password` allows (cached per server)."""
    key = f"{b.endpoint} {b.data_dir}"
    if key not in _PASSWORDS:
        login = b.run_cli(["ecr", "get-login-password"])
        assert login.ok and login.stdout.strip(), login.describe()
        _PASSWORDS[key] = login.stdout.strip()
    home.mkdir(exist_ok=True)
    return Registry(b, _PASSWORDS[key], home)


def pushed_image(registry: Registry, tmp_path: Path, repo: str, tag: str) -> Image:
    """A fresh image built as an OCI layout and pushed by skopeo to REPO:TAG unchanged."""
    layout = OciLayout(tmp_path / f"layout-{tag}")
    image = layout.image()
    layout.tag(tag, image.descriptor)
    registry.skopeo("copy", f"oci:{layout.root}:{tag}", registry.ref(repo, tag))
    return image
