"""ECS account settings with the AWS CLI and boto3: the account default the root sets,
a user's own settings, the effective value, AWS's refusals, paging, and the one effect
Berth has (containerInsights on new clusters).

One shared server (`berth`). Account settings are per region, as on AWS, so each test
acts in a region of its own and leaves every other test's settings alone.
"""

from __future__ import annotations

from typing import Any

from conftest import ACCOUNT, Berth, client_error, error_code, error_message, new_user

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def in_region(berth: Berth, region: str, *args: str) -> Any:
    """`aws ... --region REGION`, parsed."""
    return berth.aws(*args, "--region", region)


def test_the_account_default_applies_to_new_clusters_and_to_principals_without_their_own(berth: Berth) -> None:
    region = "eu-north-1"
    default = in_region(berth, region, "ecs", "put-account-setting-default",
                        "--name", "containerInsights", "--value", "enabled")["setting"]
    assert default == {"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}
    listed = in_region(berth, region, "ecs", "list-account-settings", "--name", "containerInsights",
                       "--effective-settings")["settings"]
    assert [(s["value"], s["principalArn"]) for s in listed] == [("enabled", ROOT)]

    # A new cluster follows the caller's setting when it names none.
    cluster = in_region(berth, region, "ecs", "create-cluster", "--cluster-name", "insights")["cluster"]
    described = in_region(berth, region, "ecs", "describe-clusters", "--clusters", cluster["clusterArn"],
                          "--include", "SETTINGS")["clusters"][0]
    assert {"name": "containerInsights", "value": "enabled"} in described["settings"]
    # Other regions are untouched.
    elsewhere = berth.aws("ecs", "list-account-settings", "--name", "containerInsights", "--effective-settings")
    assert [s["value"] for s in elsewhere["settings"]] == ["disabled"]


def test_a_users_own_setting_wins_over_the_default_and_goes_when_deleted(berth: Berth) -> None:
    region = "eu-south-1"
    in_region(berth, region, "ecs", "put-account-setting-default", "--name", "awsvpcTrunking", "--value", "enabled")
    name, session = new_user(berth, "arn:aws:iam::aws:policy/AmazonECS_FullAccess")
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    ecs = session.client("ecs", region_name=region, endpoint_url=berth.endpoint)
    assert ecs.list_account_settings()["settings"] == [], "a user has no settings of its own at first"
    own = ecs.put_account_setting(name="awsvpcTrunking", value="disabled")["setting"]
    assert own == {"name": "awsvpcTrunking", "value": "disabled", "principalArn": user_arn, "type": "user"}
    effective = {s["name"]: (s["value"], s["principalArn"])
                 for s in ecs.list_account_settings(effectiveSettings=True)["settings"]}
    assert effective["awsvpcTrunking"] == ("disabled", user_arn)
    assert effective["taskLongArnFormat"] == ("enabled", ROOT), "AWS's default, for the account"
    # The root sees the user's settings by naming it; the user may not name the root.
    as_root = in_region(berth, region, "ecs", "list-account-settings", "--principal-arn", user_arn)["settings"]
    assert [(s["name"], s["value"]) for s in as_root] == [("awsvpcTrunking", "disabled")]
    err = client_error(ecs.list_account_settings, principalArn=ROOT)
    assert error_code(err) == "AccessDeniedException", err.response

    deleted = ecs.delete_account_setting(name="awsvpcTrunking")["setting"]
    assert (deleted["value"], deleted["principalArn"]) == ("disabled", user_arn)
    again = ecs.list_account_settings(name="awsvpcTrunking", effectiveSettings=True)["settings"]
    assert [(s["value"], s["principalArn"]) for s in again] == [("enabled", ROOT)], "back to the default"


def test_aws_refusals_and_paging(berth: Berth) -> None:
    region = "ap-east-1"
    ecs = berth.session().client("ecs", region_name=region, endpoint_url=berth.endpoint)

    def refused(**kwargs: Any) -> str:
        err = client_error(ecs.put_account_setting, **kwargs)
        assert error_code(err) == "InvalidParameterException", err.response
        return error_message(err)
    assert refused(name="taskLongArnFormat", value="disabled") == "You can no longer disable Long Arn settings."
    assert "enabled, disabled, enhanced" in refused(name="containerInsights", value="maybe")
    assert "AWS managed" in refused(name="guardDutyActivate", value="on")
    bad = client_error(ecs.list_account_settings, value="enabled")
    assert error_code(bad) == "InvalidParameterException", "filtering by value needs a name"

    first = ecs.list_account_settings(effectiveSettings=True, maxResults=4)
    seen = [s["name"] for s in first["settings"]]
    token = first.get("nextToken")
    while token:
        page = ecs.list_account_settings(effectiveSettings=True, maxResults=4, nextToken=token)
        seen += [s["name"] for s in page["settings"]]
        token = page.get("nextToken")
    assert len(seen) == len(set(seen)) == 11, seen
    assert seen[:3] == ["serviceLongArnFormat", "taskLongArnFormat", "containerInstanceLongArnFormat"]
    guard = ecs.list_account_settings(name="guardDutyActivate", effectiveSettings=True)["settings"]
    assert [(s["value"], s["type"]) for s in guard] == [("off", "aws_managed")]
