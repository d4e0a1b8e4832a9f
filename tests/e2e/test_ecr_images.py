"""ECR's image and repository-settings API with the real AWS CLI against `berth up`,
over images skopeo pushed: PutImage (retagging without a pull), GetDownloadUrlForLayer
(a URL that serves the layer with no other credentials), repository tags and scanning
configuration, and lifecycle policies whose expired images give their blobs back on
disk, as BatchDeleteImage's do."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from conftest import Berth, BerthFactory, eventually, unique
from registry_kit import Image, OciLayout, Registry, assert_registry_error, pushed_image, registry_of, sha256


@pytest.fixture
def registry(live_berth: Berth, tmp_path: Path) -> Registry:
    return registry_of(live_berth, tmp_path / "skopeo-home")


@pytest.fixture(scope="module")
def collecting_berth(berth_factory: BerthFactory) -> Iterator[Berth]:
    """A server of this module's own whose garbage collection takes unlinked blobs at
    once (no grace), so reclaimed space shows within the test."""
    b = berth_factory(fake_agent=False, extra_args=["--registry-gc-grace", "0"])
    yield b
    b.stop()


def manifest_of(b: Berth, repo: str, tag: str) -> str:
    images = b.aws("ecr", "batch-get-image", "--repository-name", repo, "--image-ids", f"imageTag={tag}")["images"]
    assert len(images) == 1, images
    return str(images[0]["imageManifest"])


def image_tags(b: Berth, repo: str) -> dict[str, list[str]]:
    """digest -> sorted tags, from describe-images."""
    details = b.aws("ecr", "describe-images", "--repository-name", repo)["imageDetails"]
    return {d["imageDigest"]: sorted(d.get("imageTags", [])) for d in details}


# --------------------------------------------------------------------------- PutImage


def test_put_image_retags_without_a_pull_and_refuses_what_it_must(registry: Registry, tmp_path: Path) -> None:
    b = registry.berth
    repo = registry.create_repository("retag")
    image = pushed_image(registry, tmp_path, repo, "v1")
    manifest = manifest_of(b, repo, "v1")
    assert manifest.encode() == image.manifest

    put = b.aws("ecr", "put-image", "--repository-name", repo, "--image-tag", "release", "--image-manifest", manifest)["image"]
    assert put["imageId"] == {"imageDigest": image.digest, "imageTag": "release"}
    assert put["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert image_tags(b, repo) == {image.digest: ["release", "v1"]}
    # The registry serves the new tag: same bytes, same digest.
    assert registry.raw_manifest(repo, "release") == image.manifest

    again = b.aws_error("ecr", "put-image", "--repository-name", repo, "--image-tag", "release", "--image-manifest", manifest,
                        code="ImageAlreadyExistsException")
    assert image.digest in again.error_message and "'release'" in again.error_message
    wrong = b.aws_error("ecr", "put-image", "--repository-name", repo, "--image-tag", "other", "--image-manifest", manifest,
                        "--image-digest", sha256(b"something else"), code="ImageDigestDoesNotMatchException")
    assert image.digest in wrong.error_message
    missing = json.loads(manifest)
    missing["layers"][0]["digest"] = sha256(b"a layer never pushed")
    lost = b.aws_error("ecr", "put-image", "--repository-name", repo, "--image-tag", "broken",
                       "--image-manifest", json.dumps(missing), code="LayersNotFoundException")
    assert sha256(b"a layer never pushed") in lost.error_message
    b.aws_error("ecr", "put-image", "--repository-name", repo, "--image-tag", "bad", "--image-manifest", "{not json",
                code="InvalidParameterException")
    assert image_tags(b, repo) == {image.digest: ["release", "v1"]}, "refused puts change nothing"

    # In an IMMUTABLE repository a tag cannot move to another image.
    b.aws("ecr", "put-image-tag-mutability", "--repository-name", repo, "--image-tag-mutability", "IMMUTABLE")
    other = pushed_image(registry, tmp_path / "other", repo, "v2")
    moved = b.aws_error("ecr", "put-image", "--repository-name", repo, "--image-tag", "release",
                        "--image-manifest", manifest_of(b, repo, "v2"), code="ImageTagAlreadyExistsException")
    assert "'release'" in moved.error_message
    assert image_tags(b, repo) == {image.digest: ["release", "v1"], other.digest: ["v2"]}


# --------------------------------------------------------------------------- GetDownloadUrlForLayer


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_a_layer_download_url_serves_the_layer_to_anyone_holding_it(registry: Registry, tmp_path: Path) -> None:
    b = registry.berth
    repo = registry.create_repository("download")
    image = pushed_image(registry, tmp_path, repo, "v1")
    answer = b.aws("ecr", "get-download-url-for-layer", "--repository-name", repo, "--layer-digest", image.layer_digest)
    assert answer["layerDigest"] == image.layer_digest
    url = answer["downloadUrl"]
    assert url.startswith(f"{b.endpoint}/ecr/layers/"), url

    status, body = fetch(url)  # no Authorization header at all
    assert status == 200 and body == image.layer and sha256(body) == image.layer_digest
    status, part = fetch(url, {"Range": "bytes=0-9"})
    assert status == 206 and part == image.layer[:10]

    token = url.rsplit("/", 1)[1]
    forged = url[: -len(token)] + token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    status, body = fetch(forged)
    assert status == 403, (status, body[:200])

    unknown = b.aws_error("ecr", "get-download-url-for-layer", "--repository-name", repo,
                          "--layer-digest", sha256(b"not a layer here"), code="LayersNotFoundException")
    assert sha256(b"not a layer here") in unknown.error_message
    b.aws_error("ecr", "get-download-url-for-layer", "--repository-name", repo, "--layer-digest", "sha256:nope",
                code="InvalidParameterException")

    # Once the image is deleted the layer leaves the repository and the URL stops working.
    b.aws("ecr", "batch-delete-image", "--repository-name", repo, "--image-ids", f"imageDigest={image.digest}")
    status, body = fetch(url)
    assert status == 404 and b"BLOB_UNKNOWN" in body, (status, body[:200])


# --------------------------------------------------------------------------- tags and settings


def test_repository_tags_and_scanning_configuration_are_kept(live_berth: Berth) -> None:
    b = live_berth
    name = f"tagged/{unique('repo')}"
    repo = b.aws("ecr", "create-repository", "--repository-name", name, "--tags", "Key=team,Value=payments",
                 "Key=env,Value=prod", "--image-scanning-configuration", "scanOnPush=true")["repository"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    arn = repo["repositoryArn"]

    def tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in b.aws("ecr", "list-tags-for-resource", "--resource-arn", arn)["tags"]}

    assert tags() == {"team": "payments", "env": "prod"}
    b.aws("ecr", "tag-resource", "--resource-arn", arn, "--tags", "Key=env,Value=staging", "Key=owner,Value=ops")
    assert tags() == {"team": "payments", "env": "staging", "owner": "ops"}
    b.aws("ecr", "untag-resource", "--resource-arn", arn, "--tag-keys", "team", "owner")
    assert tags() == {"env": "staging"}

    b.aws_error("ecr", "tag-resource", "--resource-arn", arn, "--tags", "Key=aws:reserved,Value=x",
                code="InvalidTagParameterException")
    many = [f"Key=k{i},Value=v" for i in range(50)]
    b.aws_error("ecr", "tag-resource", "--resource-arn", arn, "--tags", *many, code="TooManyTagsException")
    assert tags() == {"env": "staging"}, "refused tag changes change nothing"
    b.aws_error("ecr", "create-repository", "--repository-name", f"tagged/{unique('bad')}", "--tags",
                "Key=aws:x,Value=y", code="InvalidTagParameterException")
    missing = arn.replace(name, f"tagged/{unique('absent')}")
    b.aws_error("ecr", "list-tags-for-resource", "--resource-arn", missing, code="RepositoryNotFoundException")
    b.aws_error("ecr", "list-tags-for-resource", "--resource-arn", "arn:aws:ecs:us-east-1:000000000000:cluster/x",
                code="InvalidParameterException")
    described = b.aws("ecr", "describe-repositories", "--repository-names", name)["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}


# --------------------------------------------------------------------------- lifecycle and reclaimed space


def push_series(registry: Registry, tmp_path: Path, repo: str, tag: str, count: int) -> list[Image]:
    """`count` fresh images pushed one after the other under the same tag: every one but
    the last ends untagged."""
    return [pushed_image(registry, tmp_path / f"series-{i}", repo, tag) for i in range(count)]


def test_a_lifecycle_policy_expires_untagged_images_and_their_blobs_are_reclaimed(
    collecting_berth: Berth, tmp_path: Path
) -> None:
    registry = registry_of(collecting_berth, tmp_path / "skopeo-home")
    b = collecting_berth
    repo = registry.create_repository("lifecycle")
    oldest, middle, newest = push_series(registry, tmp_path, repo, "latest", 3)
    assert image_tags(b, repo) == {oldest.digest: [], middle.digest: [], newest.digest: ["latest"]}
    for image in (oldest, middle, newest):
        assert registry.blob_files(image.layer_digest), "pushed layers are on disk"

    bad = b.aws_error("ecr", "put-lifecycle-policy", "--repository-name", repo, "--lifecycle-policy-text",
                      '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": '
                      '"imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}',
                      code="InvalidParameterException")
    assert "tagPrefixList" in bad.error_message
    b.aws_error("ecr", "get-lifecycle-policy", "--repository-name", repo, code="LifecyclePolicyNotFoundException")

    policy = json.dumps({"rules": [{
        "rulePriority": 1,
        "description": "keep one untagged image",
        "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
        "action": {"type": "expire"},
    }]})
    put = b.aws("ecr", "put-lifecycle-policy", "--repository-name", repo, "--lifecycle-policy-text", policy)
    assert put["lifecyclePolicyText"] == policy and put["repositoryName"] == repo

    eventually(lambda: oldest.digest not in image_tags(b, repo), timeout=20, what="the oldest untagged image to expire")
    assert image_tags(b, repo) == {middle.digest: [], newest.digest: ["latest"]}
    eventually(lambda: not registry.blob_files(oldest.layer_digest), timeout=20, what="the expired layer's file to go")
    assert registry.blob_files(oldest.digest) == [], "the expired manifest's file is gone too"
    registry.assert_blob_served(repo, middle.layer)
    registry.assert_blob_served(repo, newest.layer)
    assert_registry_error(registry.call("GET", f"/v2/{repo}/manifests/{oldest.digest}"), 404, "MANIFEST_UNKNOWN")
    assert_registry_error(registry.call("GET", f"/v2/{repo}/blobs/{oldest.layer_digest}"), 404, "BLOB_UNKNOWN")
    got = b.aws("ecr", "get-lifecycle-policy", "--repository-name", repo)
    assert got["lifecyclePolicyText"] == policy and "lastEvaluatedAt" in got

    # BatchDeleteImage gives space back the same way.
    b.aws("ecr", "batch-delete-image", "--repository-name", repo, "--image-ids", f"imageDigest={middle.digest}")
    eventually(lambda: not registry.blob_files(middle.layer_digest), timeout=20, what="the deleted image's layer to go")
    registry.assert_blob_served(repo, newest.layer)

    deleted = b.aws("ecr", "delete-lifecycle-policy", "--repository-name", repo)
    assert deleted["lifecyclePolicyText"] == policy
    b.aws_error("ecr", "get-lifecycle-policy", "--repository-name", repo, code="LifecyclePolicyNotFoundException")
    b.aws_error("ecr", "delete-lifecycle-policy", "--repository-name", repo, code="LifecyclePolicyNotFoundException")


def test_layers_shared_with_a_kept_image_survive_its_neighbours_expiry(collecting_berth: Berth, tmp_path: Path) -> None:
    """Two images of one layer: expiring one keeps the layer, which the other still uses."""
    registry = registry_of(collecting_berth, tmp_path / "skopeo-home")
    b = collecting_berth
    repo = registry.create_repository("shared")
    layout = OciLayout(tmp_path / "layout")
    first = layout.image()
    layout.tag("first", first.descriptor)
    registry.skopeo("copy", f"oci:{layout.root}:first", registry.ref(repo, "first"))
    # The same layer under a second config: a second image sharing it.
    second_manifest = json.loads(first.manifest)
    second_manifest["config"] = layout.blob(first.config + b" ", "application/vnd.oci.image.config.v1+json")
    second = layout.blob(json.dumps(second_manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    layout.tag("second", second)
    registry.skopeo("copy", f"oci:{layout.root}:second", registry.ref(repo, "second"))
    # Moving the tag `first` onto the second image leaves the first untagged.
    registry.skopeo("copy", f"oci:{layout.root}:second", registry.ref(repo, "first"))
    b.aws("ecr", "put-lifecycle-policy", "--repository-name", repo, "--lifecycle-policy-text", json.dumps({"rules": [{
        "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                         "countUnit": "days", "countNumber": 1},
        "action": {"type": "expire"}}]}))
    # Nothing is a day old: the policy runs and expires nothing.
    eventually(lambda: "lastEvaluatedAt" in b.aws("ecr", "get-lifecycle-policy", "--repository-name", repo),
               timeout=20, what="the policy to be applied")
    assert set(image_tags(b, repo)) == {first.digest, second["digest"]}
    b.aws("ecr", "batch-delete-image", "--repository-name", repo, "--image-ids", f"imageDigest={first.digest}")
    eventually(lambda: not registry.blob_files(sha256(first.config)), timeout=20, what="the first config's file to go")
    registry.assert_blob_served(repo, first.layer)
