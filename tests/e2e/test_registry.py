"""Berth's registry (`/v2/` on the API port) end to end, through a real `berth up`:

- skopeo pushes and pulls images built here as OCI layouts on disk (no network): OCI and
  Docker schema 2 manifests, a multi-arch OCI index, and copies between repositories
  that mount layers instead of uploading them again;
- bad input over raw HTTP gets the distribution spec's status and JSON error code, and
  leaves nothing behind: no blob file for the bad digest, no upload directory;
- `kill -9` in the middle of a push loses no finished blob and shows no partial one.

The registry's files are checked on disk as well: blobs live at
`DATA/registry/blobs/sha256/<2 hex>/<64 hex>`, uploads in progress in
`DATA/registry/uploads/<uuid>/`.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from conftest import Berth, BerthFactory, RawResponse, eventually
from registry_kit import (
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    MIB,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    OciLayout,
    Registry,
    assert_registry_error,
    hex_of,
    layout_blob,
    layout_ref,
    pushed_image,
    registry_of,
    sha256,
)


@pytest.fixture
def registry(live_berth: Berth, tmp_path: Path) -> Registry:
    return registry_of(live_berth, tmp_path / "skopeo-home")


# --------------------------------------------------------------------------- 1. skopeo


def test_skopeo_round_trips_oci_and_docker_schema2_images(registry: Registry, tmp_path: Path) -> None:
    repo = registry.create_repository("formats")
    layout = OciLayout(tmp_path / "in")
    image = layout.image()
    layout.tag("v1", image.descriptor)
    source = f"oci:{layout.root}:v1"
    registry.skopeo("copy", source, registry.ref(repo, "oci"))
    registry.skopeo("copy", "--format", "v2s2", source, registry.ref(repo, "docker"))

    # OCI went in unchanged; the v2s2 copy is a Docker manifest over the same blobs.
    oci_raw = registry.raw_manifest(repo, "oci")
    assert sha256(oci_raw) == image.digest and json.loads(oci_raw)["mediaType"] == OCI_MANIFEST
    docker_raw = registry.raw_manifest(repo, "docker")
    docker = json.loads(docker_raw)
    assert docker["mediaType"] == DOCKER_MANIFEST, docker
    assert [(l["mediaType"], l["digest"], l["size"]) for l in docker["layers"]] == [(DOCKER_LAYER, image.layer_digest, len(image.layer))]
    assert docker["config"]["digest"] == sha256(image.config)
    for tag, raw, media_type in (("oci", oci_raw, OCI_MANIFEST), ("docker", docker_raw, DOCKER_MANIFEST)):
        got = registry.call("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"})
        assert (got.status, got.header("Content-Type"), got.body) == (200, media_type, raw)
        assert got.header("Docker-Content-Digest") == sha256(raw)
    registry.assert_blob_served(repo, image.layer)
    registry.assert_blob_served(repo, image.config)

    # Back out: both tags into OCI layouts, and both into dir: as Docker schema 2.
    for tag in ("oci", "docker"):
        out = tmp_path / f"out-{tag}"
        registry.skopeo("copy", registry.ref(repo, tag), f"oci:{out}:{tag}")
        pulled = json.loads(layout_blob(out, layout_ref(out, tag)["digest"]))
        assert pulled["mediaType"] == OCI_MANIFEST
        assert [l["digest"] for l in pulled["layers"]] == [image.layer_digest]
        assert layout_blob(out, image.layer_digest) == image.layer
        config = json.loads(layout_blob(out, pulled["config"]["digest"]))
        assert (config["architecture"], config["rootfs"]) == ("amd64", json.loads(image.config)["rootfs"])
        as_dir = tmp_path / f"dir-{tag}"
        registry.skopeo("copy", "--format", "v2s2", registry.ref(repo, tag), f"dir:{as_dir}")
        manifest = json.loads((as_dir / "manifest.json").read_bytes())
        assert manifest["mediaType"] == DOCKER_MANIFEST
        assert [l["digest"] for l in manifest["layers"]] == [image.layer_digest]
        assert (as_dir / hex_of(image.layer_digest)).read_bytes() == image.layer
    assert layout_ref(tmp_path / "out-oci", "oci")["digest"] == image.digest, "an OCI image comes back byte for byte"
    assert layout_blob(tmp_path / "out-oci", sha256(image.config)) == image.config
    assert sha256((tmp_path / "dir-docker" / "manifest.json").read_bytes()) == sha256(docker_raw)


def test_copying_between_repositories_mounts_the_layer_and_stores_it_once(registry: Registry, tmp_path: Path) -> None:
    first, second, third = (registry.create_repository(p) for p in ("mount-a", "mount-b", "mount-c"))
    image = pushed_image(registry, tmp_path, first, "v1")
    layer = image.layer_digest
    registry.assert_blob_served(first, image.layer)
    assert registry.call("HEAD", f"/v2/{second}/blobs/{layer}").status == 404, "a repository sees only its own blobs"

    copy = registry.skopeo("copy", registry.ref(first, "v1"), registry.ref(second, "v1"), debug=True)
    log = copy.stderr
    mount = f"POST http://{registry.host}/v2/{second}/blobs/uploads/?from={quote(first, safe='')}&mount={quote(layer, safe='')}"
    assert mount in log and "mount OK" in log, f"skopeo did not mount {layer} from {first}:\n{log[-4000:]}"
    uploaded = re.findall(rf"(?:PATCH|PUT) http://\S+/v2/{re.escape(second)}/blobs/uploads/\S*", log)
    assert not [u for u in uploaded if quote(layer, safe="") in u], f"the layer was uploaded again: {uploaded}"
    assert sha256(registry.raw_manifest(second, "v1")) == image.digest
    registry.assert_blob_served(second, image.layer)

    # The same mount by hand: 201 at once, no upload; an unknown blob starts an upload instead.
    mounted = registry.call("POST", f"/v2/{third}/blobs/uploads/?mount={layer}&from={first}")
    assert mounted.status == 201 and mounted.header("Location") == f"/v2/{third}/blobs/{layer}", mounted
    registry.assert_blob_served(third, image.layer)
    absent = sha256(os.urandom(32))
    fallback = registry.call("POST", f"/v2/{third}/blobs/uploads/?mount={absent}&from={first}")
    assert fallback.status == 202, fallback
    location = fallback.header("Location") or ""
    assert registry.call("DELETE", location).status == 204
    registry.assert_upload_gone(location)
    registry.assert_blob_absent(third, absent)


def test_a_multi_arch_index_round_trips_and_each_platform_is_selectable(registry: Registry, tmp_path: Path) -> None:
    repo = registry.create_repository("multi")
    layout = OciLayout(tmp_path / "in")
    images = {arch: layout.image(arch) for arch in ("amd64", "arm64")}
    assert images["amd64"].layer_digest != images["arm64"].layer_digest
    index_descriptor, index_bytes = layout.index(images)
    layout.tag("multi", index_descriptor)
    registry.skopeo("copy", "--all", f"oci:{layout.root}:multi", registry.ref(repo, "multi"))

    raw = registry.raw_manifest(repo, "multi")
    assert raw == index_bytes, "the index is stored and served as pushed"
    served = json.loads(raw)
    assert served["mediaType"] == OCI_INDEX
    assert {(m["platform"]["architecture"], m["digest"]) for m in served["manifests"]} == {(a, i.digest) for a, i in images.items()}
    got = registry.call("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_INDEX})
    assert (got.status, got.header("Content-Type"), got.header("Docker-Content-Digest")) == (200, OCI_INDEX, index_descriptor["digest"])
    for image in images.values():
        child = registry.call("GET", f"/v2/{repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST})
        assert (child.status, child.header("Content-Type"), child.body) == (200, OCI_MANIFEST, image.manifest)
        registry.assert_blob_served(repo, image.layer)

    out = tmp_path / "out"
    registry.skopeo("copy", "--all", registry.ref(repo, "multi"), f"oci:{out}:multi")
    assert layout_ref(out, "multi")["digest"] == index_descriptor["digest"]
    assert layout_blob(out, index_descriptor["digest"]) == index_bytes
    for image in images.values():
        assert layout_blob(out, image.digest) == image.manifest
        assert layout_blob(out, image.layer_digest) == image.layer

    for arch, image in images.items():
        single = tmp_path / f"only-{arch}"
        registry.skopeo("copy", "--override-arch", arch, registry.ref(repo, "multi"), f"oci:{single}:{arch}")
        assert layout_ref(single, arch)["digest"] == image.digest, f"--override-arch {arch} picked another manifest"
        other = next(i for a, i in images.items() if a != arch)
        assert layout_blob(single, image.layer_digest) == image.layer
        assert not (single / "blobs" / "sha256" / hex_of(other.layer_digest)).exists()


# --------------------------------------------------------------------------- 2. bad input


def test_bytes_that_do_not_match_their_digest_are_refused_and_discarded(registry: Registry) -> None:
    repo = registry.create_repository("digest")
    sent = os.urandom(4096)
    claimed = sha256(os.urandom(4096))
    before = registry.upload_dirs()
    monolithic = registry.call("POST", f"/v2/{repo}/blobs/uploads/?digest={claimed}", sent)
    assert_registry_error(monolithic, 400, "DIGEST_INVALID")

    location = registry.start_upload(repo)
    assert registry.upload_dir(location).is_dir()
    put = registry.call("PUT", f"{location}?digest={claimed}", sent)
    error = assert_registry_error(put, 400, "DIGEST_INVALID")
    assert error.get("detail") == {"expected": claimed, "actual": sha256(sent)}, error
    registry.assert_upload_gone(location)
    malformed = registry.call("POST", f"/v2/{repo}/blobs/uploads/?digest=sha256:not-hex", sent)
    assert_registry_error(malformed, 400, "DIGEST_INVALID")
    for digest in (claimed, sha256(sent)):
        registry.assert_blob_absent(repo, digest)
    assert registry.upload_dirs() <= before, "a refused upload left its directory"


def test_a_body_shorter_than_announced_is_refused_and_keeps_nothing(registry: Registry) -> None:
    repo = registry.create_repository("short")
    data = os.urandom(100)
    digest = sha256(data)
    before = registry.upload_dirs()

    # PATCH announcing bytes 0-99 with 50 bytes of body.
    location = registry.start_upload(repo)
    patch = registry.call("PATCH", location, data[:50], {"Content-Range": "0-99", "Content-Type": "application/octet-stream"})
    assert_registry_error(patch, 400, "SIZE_INVALID")
    status = registry.call("GET", location)
    assert (status.status, status.header("Range")) == (204, "0-0"), "the short chunk was cut off again"
    assert (registry.upload_dir(location) / "data").stat().st_size == 0
    assert registry.call("DELETE", location).status == 204
    registry.assert_upload_gone(location)

    # Content-Length: 100, then 50 bytes and the end of the request stream: monolithically
    # and as an upload's final PUT.
    refused = short_body_exchange(registry, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data, 50)
    assert_registry_error(refused, 400, "BLOB_UPLOAD_INVALID")
    location = registry.start_upload(repo)
    refused = short_body_exchange(registry, "PUT", f"{location}?digest={digest}", data, 50)
    assert_registry_error(refused, 400, "BLOB_UPLOAD_INVALID")
    status = registry.call("GET", location)
    assert (status.status, status.header("Range")) == (204, "0-0")
    assert registry.call("DELETE", location).status == 204
    registry.assert_upload_gone(location)
    registry.assert_blob_absent(repo, digest)
    assert registry.upload_dirs() <= before


def short_body_exchange(registry: Registry, method: str, path: str, body: bytes, sent: int) -> RawResponse:
    """Announces len(body) bytes, sends only `sent` of them, ends the stream, reads the answer."""
    with socket.create_connection(("127.0.0.1", registry.berth.port), timeout=30) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: {registry.host}\r\nAuthorization: {registry.authorization}\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:sent])
        sock.shutdown(socket.SHUT_WR)
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())


def test_chunks_out_of_order_are_416_and_change_nothing(registry: Registry) -> None:
    repo = registry.create_repository("ranges")
    data = os.urandom(12)
    location = registry.start_upload(repo)
    first = registry.call("PATCH", location, data[:5], {"Content-Range": "0-4"})
    assert (first.status, first.header("Range")) == (202, "0-4")
    for bad_range, chunk in (("10-14", data[5:10]), ("0-4", data[:5]), ("3-7", data[3:8])):
        skipped = registry.call("PATCH", location, chunk, {"Content-Range": bad_range})
        assert_registry_error(skipped, 416, "BLOB_UPLOAD_INVALID")
        assert skipped.header("Range") == "0-4" and skipped.header("Location") == location, skipped.headers
    malformed = registry.call("PATCH", location, b"x", {"Content-Range": "bogus"})
    assert_registry_error(malformed, 416, "BLOB_UPLOAD_INVALID")
    final = registry.call("PUT", f"{location}?digest={sha256(data)}", data[7:], {"Content-Range": "7-11"})
    assert_registry_error(final, 416, "BLOB_UPLOAD_INVALID")
    status = registry.call("GET", location)
    assert (status.status, status.header("Range")) == (204, "0-4")
    assert (registry.upload_dir(location) / "data").read_bytes() == data[:5]
    registry.assert_blob_absent(repo, sha256(data))

    # The upload is still good: the right chunks finish it.
    assert registry.call("PATCH", location, data[5:10], {"Content-Range": "5-9"}).status == 202
    done = registry.call("PUT", f"{location}?digest={sha256(data)}", data[10:], {"Content-Range": "10-11"})
    assert done.status == 201, done
    registry.assert_blob_served(repo, data)
    registry.assert_upload_gone(location)


def image_manifest(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n} for d, n in layers],
    }).encode()


def test_a_manifest_naming_a_missing_blob_is_refused(registry: Registry) -> None:
    repo = registry.create_repository("missing")
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}).encode()
    registry.push_blob(repo, config)
    present = os.urandom(1000)
    registry.push_blob(repo, present)
    missing = sha256(os.urandom(1000))
    manifest = image_manifest(config, [(sha256(present), len(present)), (missing, 1000)])
    put = registry.call("PUT", f"/v2/{repo}/manifests/v1", manifest, {"Content-Type": OCI_MANIFEST})
    error = assert_registry_error(put, 400, "MANIFEST_BLOB_UNKNOWN")
    assert error.get("detail") == {"digest": missing}, error
    assert [e["detail"]["digest"] for e in put.json()["errors"]] == [missing], "only the missing blob is named"
    assert_registry_error(registry.call("GET", f"/v2/{repo}/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert_registry_error(registry.call("GET", f"/v2/{repo}/manifests/{sha256(manifest)}"), 404, "MANIFEST_UNKNOWN")
    registry.assert_blob_absent(repo, missing)
    tags = registry.call("GET", f"/v2/{repo}/tags/list")
    assert tags.status == 200 and tags.json()["tags"] == []


def test_an_oversized_manifest_is_413_and_not_stored(registry: Registry) -> None:
    repo = registry.create_repository("big")
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    registry.push_blob(repo, config)
    limit = 4 * MIB
    padded = json.loads(image_manifest(config, []))
    padded["annotations"] = {"padding": "x" * limit}
    big = json.dumps(padded).encode()
    assert len(big) > limit
    announced = registry.call("PUT", f"/v2/{repo}/manifests/big", big, {"Content-Type": OCI_MANIFEST})
    assert_registry_error(announced, 413, "MANIFEST_INVALID")
    assert "limit is 4194304 bytes" in announced.body.decode()

    # Without a Content-Length (chunked), the server stops reading at the limit.
    conn = http.client.HTTPConnection("127.0.0.1", registry.berth.port, timeout=60)
    try:
        chunks = (big[i : i + 64 * 1024] for i in range(0, len(big), 64 * 1024))
        conn.request("PUT", f"/v2/{repo}/manifests/big", body=chunks, encode_chunked=True,
                     headers={"Authorization": registry.authorization, "Content-Type": OCI_MANIFEST, "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        streamed = RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    except (BrokenPipeError, ConnectionResetError) as exc:
        pytest.fail(f"no answer to a chunked oversized manifest: {exc!r}")
    finally:
        conn.close()
    assert_registry_error(streamed, 413, "MANIFEST_INVALID")
    assert_registry_error(registry.call("GET", f"/v2/{repo}/manifests/big"), 404, "MANIFEST_UNKNOWN")
    assert registry.blob_files(sha256(big)) == []


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_invalid_and_traversal_names_are_refused_and_write_nothing(registry: Registry) -> None:
    repo = registry.create_repository("names")
    berth_root = registry.berth.root
    before = tree(berth_root)
    data = os.urandom(64)
    digest = sha256(data)
    invalid_names = [
        ("POST", "/v2/../etc/blobs/uploads/"),
        ("POST", f"/v2/../etc/blobs/uploads/?digest={digest}"),
        ("POST", f"/v2/{repo}/../../../etc/blobs/uploads/?digest={digest}"),
        ("POST", "/v2/Upper/Case/blobs/uploads/"),
        ("POST", "/v2/%2e%2e/%2e%2e/etc/blobs/uploads/"),
        ("POST", f"/v2/{repo.replace('/', '%2F')}/blobs/uploads/"),
        ("PUT", "/v2/%2E%2E/x/manifests/v1"),
        ("PUT", "/v2/a//b/manifests/v1"),
        ("GET", "/v2/..%2f..%2fetc/tags/list"),
        ("HEAD", f"/v2/../x/blobs/{digest}"),
        ("GET", f"/v2/{'a' * 256}/tags/list"),
    ]
    for method, path in invalid_names:
        resp = registry.call(method, path, data if method != "HEAD" else b"")
        if method == "HEAD":
            assert resp.status == 400, f"{method} {path}: {resp.status}"
        else:
            assert_registry_error(resp, 400, "NAME_INVALID")
    traversal_digest = registry.call("GET", f"/v2/{repo}/blobs/sha256:..%2F..%2F..%2Fagent-token")
    assert_registry_error(traversal_digest, 400, "DIGEST_INVALID")
    traversal_upload = registry.call("PATCH", f"/v2/{repo}/blobs/uploads/..%2F..%2Fstore", data)
    assert_registry_error(traversal_upload, 404, "BLOB_UPLOAD_UNKNOWN")
    valid_but_absent = registry.call("POST", f"/v2/{repo}-nope/blobs/uploads/?digest={digest}", data)
    assert_registry_error(valid_but_absent, 404, "NAME_UNKNOWN")
    assert tree(berth_root) == before, f"files appeared or vanished: {tree(berth_root) ^ before}"
    assert not (berth_root.parent / "etc").exists()
    registry.assert_blob_absent(repo, digest)


def test_two_clients_pushing_one_blob_at_once_both_succeed(registry: Registry) -> None:
    repo = registry.create_repository("race")
    data = os.urandom(5 * MIB)
    digest = sha256(data)
    before = registry.upload_dirs()
    both_started = threading.Barrier(2, timeout=30)
    results: list[RawResponse] = []

    def push() -> None:
        location = registry.start_upload(repo)
        both_started.wait()
        results.append(registry.call("PUT", f"{location}?digest={digest}", data))

    threads = [threading.Thread(target=push) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [(r.status, r.header("Docker-Content-Digest")) for r in results] == [(201, digest)] * 2, results
    registry.assert_blob_served(repo, data)
    assert registry.upload_dirs() <= before


# --------------------------------------------------------------------------- 3. kill -9


@dataclass
class StreamedPatch:
    """A PATCH whose body is streamed from a thread and stalls after `stall_after` bytes
    until `release` is set, so the server can be killed while it is mid-chunk."""

    registry: Registry
    location: str
    chunk: bytes
    start: int
    stall_after: int
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    outcome: list[BaseException | int] = field(default_factory=list)

    def body(self) -> Iterator[bytes]:
        for offset in range(0, len(self.chunk), MIB):
            if offset == self.stall_after:
                self.stalled.set()
                self.release.wait(timeout=60)
            yield self.chunk[offset : offset + MIB]

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.registry.berth.port, timeout=60)
        headers = {
            "Authorization": self.registry.authorization,
            "Content-Range": f"{self.start}-{self.start + len(self.chunk) - 1}",
            "Content-Length": str(len(self.chunk)),
        }
        try:
            conn.request("PATCH", self.location, body=self.body(), headers=headers)
            self.outcome.append(conn.getresponse().status)
        except (OSError, http.client.HTTPException) as exc:
            self.outcome.append(exc)
        finally:
            conn.close()


def test_kill9_during_a_push_keeps_finished_blobs_and_shows_no_partial_one(berth_factory: BerthFactory, tmp_path: Path) -> None:
    berth = berth_factory(fake_agent=False)
    registry = registry_of(berth, tmp_path / "skopeo-home")
    repo = registry.create_repository("crash")
    blob_a = os.urandom(3 * MIB)
    registry.push_blob(repo, blob_a)

    # Blob B (192 MiB): four 8 MiB chunks committed, then one PATCH with the rest that
    # stalls 16 MiB in — and the server is killed while it holds that torn chunk.
    pool = [os.urandom(MIB) for _ in range(7)]
    blob_b = b"".join(pool[i % len(pool)] for i in range(192))
    digest_b = sha256(blob_b)
    committed = 32 * MIB
    location = registry.start_upload(repo)
    for start in range(0, committed, 8 * MIB):
        chunk = registry.call("PATCH", location, blob_b[start : start + 8 * MIB], {"Content-Range": f"{start}-{start + 8 * MIB - 1}"})
        assert chunk.status == 202, chunk
    patch = StreamedPatch(registry, location, blob_b[committed:], committed, stall_after=16 * MIB)
    sender = threading.Thread(target=patch.run)
    sender.start()
    data_file = registry.upload_dir(location) / "data"
    try:
        assert patch.stalled.wait(timeout=30), "the streamed PATCH never got going"
        eventually(lambda: data_file.stat().st_size >= committed + 16 * MIB, timeout=30, what="the torn chunk to reach the disk")
        berth.kill()
    finally:
        patch.release.set()
        sender.join(timeout=60)
    assert patch.outcome and not isinstance(patch.outcome[0], int), f"the PATCH finished although the server was killed: {patch.outcome}"
    assert data_file.stat().st_size > committed, "the crash left a torn chunk on disk (what the restart must ignore)"
    assert registry.blob_files(digest_b) == []

    berth.start()
    registry.assert_blob_served(repo, blob_a)
    registry.assert_blob_absent(repo, digest_b)
    status = registry.call("GET", location)
    assert (status.status, status.header("Range")) == (204, f"0-{committed - 1}"), "committed chunks survive, the torn one does not"

    # B's upload goes on from what was committed and finishes; then a manifest over A.
    resumed = registry.call("PATCH", location, blob_b[committed:], {"Content-Range": f"{committed}-{len(blob_b) - 1}"})
    assert (resumed.status, resumed.header("Range")) == (202, f"0-{len(blob_b) - 1}"), resumed
    finished = registry.call("PUT", f"{location}?digest={digest_b}")
    assert finished.status == 201, finished
    registry.assert_blob_served(repo, blob_b)
    registry.assert_upload_gone(location)

    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    registry.push_blob(repo, config)
    manifest = image_manifest(config, [(sha256(blob_a), len(blob_a))])
    put = registry.call("PUT", f"/v2/{repo}/manifests/after-crash", manifest, {"Content-Type": OCI_MANIFEST})
    assert put.status == 201 and put.header("Docker-Content-Digest") == sha256(manifest), put
    got = registry.call("GET", f"/v2/{repo}/manifests/after-crash")
    assert (got.status, got.body) == (200, manifest)
