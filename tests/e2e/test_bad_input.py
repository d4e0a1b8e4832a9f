"""Bad input at the protocol level, sent by hand so only the tested defect is wrong.

Each request is built with urllib-style raw HTTP and signed with botocore's own
SigV4Auth, then exactly one thing is broken: the JSON, a member's type, a
missing or unknown member, the X-Amz-Target, the signature, the key, the clock,
the size. Every answer must be an AWS JSON error (status, `x-amzn-RequestId`,
`{"__type", "message"}`), the server must stay up, and nothing may be written.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ECS_TARGET_PREFIX, REGION, Berth, fargate_task_definition, http_exchange, unique

# AWS's names for a request it could not accept as given.
INPUT_ERRORS = ("SerializationException", "InvalidParameterException", "ClientException", "ValidationException")


@pytest.fixture
def sentinel(live_berth: Berth) -> dict:
    """A known resource and the cluster list, to prove bad requests change nothing."""
    name = unique("sentinel")
    live_berth.client().create_cluster(clusterName=name, tags=[{"key": "k", "value": "v"}])
    return {"name": name, "clusters": all_cluster_arns(live_berth)}


def all_cluster_arns(b: Berth) -> set[str]:
    return {a for page in b.client().get_paginator("list_clusters").paginate() for a in page["clusterArns"]}


def assert_unchanged(b: Berth, sentinel: dict) -> None:
    assert b.alive(), f"berth stopped answering /health:\n{b.output()[-4000:]}"
    assert all_cluster_arns(b) == sentinel["clusters"], "a refused request changed the cluster list"
    cluster = b.client().describe_clusters(clusters=[sentinel["name"]], include=["TAGS"])["clusters"][0]
    assert cluster["status"] == "ACTIVE" and cluster["tags"] == [{"key": "k", "value": "v"}]


def test_well_formed_request_is_accepted(live_berth: Berth) -> None:
    """The raw client itself is right: the same path with nothing broken succeeds."""
    resp = live_berth.raw("ListClusters", {})
    assert resp.status == 200, resp.body
    assert resp.header("x-amzn-RequestId")
    assert isinstance(resp.json()["clusterArns"], list)


@pytest.mark.parametrize(
    "body",
    [b'{"clusterName": ', b"not json at all", b'{"clusterName": "x"} trailing', b"[1, 2, 3]", b'{"clusterName": "\xff\xfe"}'],
    ids=["truncated", "text", "trailing-garbage", "array", "invalid-utf8"],
)
def test_malformed_json(live_berth: Berth, sentinel: dict, body: bytes) -> None:
    resp = live_berth.raw("CreateCluster", body)
    resp.assert_aws_error(400, "SerializationException")
    assert_unchanged(live_berth, sentinel)


@pytest.mark.parametrize(
    ("action", "doc"),
    [
        ("RunTask", {"taskDefinition": "x", "count": "x"}),
        ("CreateCluster", {"clusterName": 42}),
        ("CreateCluster", {"clusterName": "x", "tags": {"key": "a"}}),
        ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "memory": "lots"}]}),
        ("ListClusters", {"maxResults": 1.5}),
    ],
    ids=["count-string", "name-number", "tags-object", "memory-string", "max-float"],
)
def test_wrong_type(live_berth: Berth, sentinel: dict, action: str, doc: dict) -> None:
    resp = live_berth.raw(action, doc)
    resp.assert_aws_error(400, "SerializationException")
    assert_unchanged(live_berth, sentinel)


@pytest.mark.parametrize(
    ("action", "doc", "code", "member"),
    [
        ("RunTask", {"taskDefinition": "x", "launchType": "Fargate"}, "InvalidParameterException", "launchType"),
        ("CreateService", {"serviceName": "s", "taskDefinition": "x", "launchType": "fargate"}, "ClientException",
         "launchType"),
        ("RegisterTaskDefinition", dict(fargate_task_definition(unique("enum")), networkMode="AWSVPC"),
         "InvalidParameterException", "networkMode"),
    ],
    ids=["runtask-launch-type", "service-launch-type", "register-network-mode"],
)
def test_a_value_outside_an_enum_is_the_operations_own_error(
    live_berth: Berth, sentinel: dict, action: str, doc: dict, code: str, member: str
) -> None:
    """Valid JSON with an enum value the model does not define: the operation's 400 in
    AWS's validation words, naming the member and the valid values."""
    resp = live_berth.raw(action, doc)
    resp.assert_aws_error(400, code)
    assert f"Value '{doc[member]}' at '{member}' failed to satisfy constraint" in resp.message, resp.message
    assert "Member must satisfy enum value set: [" in resp.message, resp.message
    assert_unchanged(live_berth, sentinel)


@pytest.mark.parametrize(
    ("action", "doc", "member"),
    [
        ("RunTask", {"count": 1}, "taskDefinition"),
        ("RegisterTaskDefinition", {"containerDefinitions": [{"name": "a", "image": "b", "memory": 64}]}, "family"),
        ("RegisterTaskDefinition", {"family": "nocontainers"}, "containerDefinitions"),
        ("UpdateClusterSettings", {"cluster": "default"}, "settings"),
        ("TagResource", {"tags": [{"key": "a", "value": "b"}]}, "resourceArn"),
    ],
    ids=["runtask-taskDefinition", "register-family", "register-containers", "settings", "tag-arn"],
)
def test_missing_required_member(live_berth: Berth, sentinel: dict, action: str, doc: dict, member: str) -> None:
    resp = live_berth.raw(action, doc)
    resp.assert_aws_error(400, *INPUT_ERRORS)
    assert member in resp.message, f"the message should name {member!r}: {resp.message!r}"
    assert_unchanged(live_berth, sentinel)


@pytest.mark.parametrize(
    ("action", "doc", "field"),
    [
        ("CreateCluster", {"clusterName": unique("typo"), "clusterNmae": "x"}, "clusterNmae"),
        ("RegisterTaskDefinition", dict(fargate_task_definition(unique("extra")), registeredBy="me"), "registeredBy"),
    ],
    ids=["top-level", "register-readonly-field"],
)
def test_unknown_field(live_berth: Berth, sentinel: dict, action: str, doc: dict, field: str) -> None:
    resp = live_berth.raw(action, doc)
    resp.assert_aws_error(400, *INPUT_ERRORS)
    assert field in resp.message, f"the message should name {field!r}: {resp.message!r}"
    assert_unchanged(live_berth, sentinel)
    if action == "CreateCluster":
        assert live_berth.client().describe_clusters(clusters=[doc["clusterName"]])["clusters"] == []


def test_unknown_nested_field(live_berth: Berth, sentinel: dict) -> None:
    td = fargate_task_definition(unique("nested"))
    td["containerDefinitions"][0]["imagee"] = "typo"
    resp = live_berth.raw("RegisterTaskDefinition", td)
    resp.assert_aws_error(400, *INPUT_ERRORS)
    assert "imagee" in resp.message, resp.message
    assert live_berth.client().list_task_definitions(familyPrefix=td["family"])["taskDefinitionArns"] == []


@pytest.mark.parametrize(
    "target",
    [f"{ECS_TARGET_PREFIX}.LaunchRockets", "AmazonEC2ContainerServiceV20141113", "SomeOtherService_20200101.ListClusters"],
    ids=["unknown-action", "no-action", "other-service"],
)
def test_unknown_target(live_berth: Berth, sentinel: dict, target: str) -> None:
    resp = live_berth.raw(None, {}, target=target)
    resp.assert_aws_error(400, "UnknownOperationException")
    assert_unchanged(live_berth, sentinel)


def test_unsigned_request(live_berth: Berth, sentinel: dict) -> None:
    resp = live_berth.raw("CreateCluster", {"clusterName": unique("unsigned")}, sign=False)
    resp.assert_aws_error(403, "MissingAuthenticationTokenException")
    assert_unchanged(live_berth, sentinel)


def test_wrong_secret(live_berth: Berth, sentinel: dict) -> None:
    name = unique("badsig")
    resp = live_berth.raw("CreateCluster", {"clusterName": name}, secret_key="wrong/secret/wrong/secret/wrong/secret00")
    resp.assert_aws_error(403, "InvalidSignatureException")
    assert_unchanged(live_berth, sentinel)
    assert live_berth.client().describe_clusters(clusters=[name])["clusters"] == []


def test_tampered_body(live_berth: Berth, sentinel: dict) -> None:
    """A body changed after signing no longer matches the signature."""
    name = unique("tamper")
    signed = live_berth.raw("ListClusters", {})  # proves the signer works right before
    assert signed.status == 200
    key, secret = live_berth.credentials()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{ECS_TARGET_PREFIX}.CreateCluster"}
    request = AWSRequest(method="POST", url=f"{live_berth.endpoint}/", data=json.dumps({"clusterName": "innocent"}).encode(), headers=headers)
    SigV4Auth(Credentials(key, secret), "ecs", REGION).add_auth(request)
    resp = http_exchange(live_berth.port, "POST", "/", dict(request.headers.items()), json.dumps({"clusterName": name}).encode())
    resp.assert_aws_error(403, "InvalidSignatureException")
    assert live_berth.client().describe_clusters(clusters=[name])["clusters"] == []
    assert_unchanged(live_berth, sentinel)


def test_unknown_access_key(live_berth: Berth, sentinel: dict) -> None:
    resp = live_berth.raw("ListClusters", {}, access_key="AKIAUNKNOWNUNKNOWN00", secret_key="whatever/whatever/whatever/whatever0000")
    resp.assert_aws_error(403, "UnrecognizedClientException")
    assert_unchanged(live_berth, sentinel)


@pytest.mark.parametrize("minutes", [-20, 20], ids=["20-min-old", "20-min-ahead"])
def test_stale_date(live_berth: Berth, sentinel: dict, minutes: int) -> None:
    resp = live_berth.raw("ListClusters", {}, clock_offset=dt.timedelta(minutes=minutes))
    resp.assert_aws_error(403, "InvalidSignatureException")
    assert "Signature expired" in resp.message or "Signature not yet current" in resp.message, resp.message
    assert_unchanged(live_berth, sentinel)


def test_date_within_window_is_accepted(live_berth: Berth) -> None:
    resp = live_berth.raw("ListClusters", {}, clock_offset=dt.timedelta(minutes=-10))
    assert resp.status == 200, resp.body


def test_ten_megabyte_body(live_berth: Berth, sentinel: dict) -> None:
    name = unique("huge")
    doc = {"clusterName": name, "tags": [{"key": "blob", "value": "x" * (10 * 1024 * 1024)}]}
    resp = live_berth.raw("CreateCluster", doc)
    resp.assert_aws_error((413, 400))
    assert_unchanged(live_berth, sentinel)
    assert live_berth.client().describe_clusters(clusters=[name])["clusters"] == []
    again = live_berth.raw("ListClusters", {})
    assert again.status == 200


def test_every_error_has_request_id(live_berth: Berth) -> None:
    """Errors raised by handlers, not only the protocol layer, carry the same envelope."""
    resp = live_berth.raw("DeleteCluster", {"cluster": unique("nosuch")})
    resp.assert_aws_error(400, "ClusterNotFoundException")
    ids = {live_berth.raw("ListClusters", {}).header("x-amzn-RequestId") for _ in range(3)}
    assert len(ids) == 3, "request ids must be unique per request"


# A service per protocol AWS uses: Query (CloudFormation, Auto Scaling), EC2's,
# JSON 1.0/1.1 with a target Berth does not know (DynamoDB), REST-JSON (Lambda) and
# REST-XML (S3). (IAM and STS, Query too, are served: test_iam.py.)
@pytest.mark.parametrize(("service", "command"), [
    ("cloudformation", ["cloudformation", "list-stacks"]),
    ("autoscaling", ["autoscaling", "describe-auto-scaling-groups"]),
    ("ec2", ["ec2", "describe-instances"]),
    ("dynamodb", ["dynamodb", "list-tables"]),
    ("lambda", ["lambda", "list-functions"]),
    ("s3", ["s3api", "list-buckets"]),
])
def test_a_service_berth_does_not_serve_is_named_not_a_bad_signature(
    live_berth: Berth, service: str, command: list[str]
) -> None:
    result = live_berth.aws_error(*command)
    assert result.error_code == "NotImplemented", result.describe()
    assert f"does not serve the AWS service '{service}'" in result.error_message, result.describe()
    assert "ECS (ecs)" in result.error_message, "and says what Berth serves"
    assert live_berth.alive()


def test_a_bad_signature_for_an_unserved_service_is_still_a_bad_signature(live_berth: Berth) -> None:
    import boto3
    from botocore.exceptions import ClientError
    cfn = boto3.client("cloudformation", endpoint_url=live_berth.endpoint, region_name=REGION,
                       aws_access_key_id=live_berth.credentials()[0], aws_secret_access_key="wrong" * 8)
    with pytest.raises(ClientError) as caught:
        cfn.list_stacks()
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch", caught.value.response
