"""Capacity providers with boto3: the built-in FARGATE and FARGATE_SPOT, and a provider
backed by an Auto Scaling group, which on Berth stands for the container instances of the
clusters it is associated with. Created, described (with tags and failures), updated,
used through a cluster's default strategy, and deleted once no cluster has it.

One shared server (`live_berth`); every name is unique to its test.
"""

from __future__ import annotations

from conftest import Berth, FakeInstances, client_error, ec2_task_definition, error_code, error_message, unique

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:0b6a:autoScalingGroupName/web"


def test_an_auto_scaling_group_provider_from_creation_to_deletion(live_berth: Berth) -> None:
    ecs = live_berth.client()
    name = unique("asg")
    created = ecs.create_capacity_provider(
        name=name, autoScalingGroupProvider={"autoScalingGroupArn": ASG},
        tags=[{"key": "team", "value": "core"}],
    )["capacityProvider"]
    assert (created["status"], created["type"]) == ("ACTIVE", "EC2_AUTOSCALING")
    assert created["capacityProviderArn"].endswith(f":capacity-provider/{name}")
    provider = created["autoScalingGroupProvider"]
    assert provider["managedScaling"] == {"status": "ENABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
                                          "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}
    assert (provider["managedTerminationProtection"], provider["managedDraining"]) == ("DISABLED", "ENABLED")
    again = client_error(ecs.create_capacity_provider, name=name, autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    assert error_code(again) == "ClientException" and "already exists" in error_message(again)
    reserved = client_error(ecs.create_capacity_provider, name="ecs-mine",
                            autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    assert "cannot begin with 'aws', 'ecs', or 'fargate'" in error_message(reserved)

    listed = [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]]
    assert listed[:2] == ["FARGATE", "FARGATE_SPOT"] and name in listed
    named = ecs.describe_capacity_providers(capacityProviders=[created["capacityProviderArn"], "nope"],
                                            include=["TAGS"])
    assert [p["tags"] for p in named["capacityProviders"]] == [[{"key": "team", "value": "core"}]]
    assert [(f["arn"], f["reason"]) for f in named["failures"]] == [("nope", "MISSING")]
    ecs.tag_resource(resourceArn=created["capacityProviderArn"], tags=[{"key": "cost", "value": "42"}])
    tags = ecs.list_tags_for_resource(resourceArn=created["capacityProviderArn"])["tags"]
    assert sorted((t["key"], t["value"]) for t in tags) == [("cost", "42"), ("team", "core")]
    updated = ecs.update_capacity_provider(name=name, autoScalingGroupProvider={"managedDraining": "DISABLED"})
    assert updated["capacityProvider"]["updateStatus"] == "UPDATE_COMPLETE"
    assert updated["capacityProvider"]["autoScalingGroupProvider"]["managedDraining"] == "DISABLED"

    # Its tasks run on the cluster's container instances, through the default strategy.
    cluster = ecs.create_cluster(clusterName=unique("asg"))["cluster"]["clusterName"]
    ecs.put_cluster_capacity_providers(cluster=cluster, capacityProviders=[name],
                                       defaultCapacityProviderStrategy=[{"capacityProvider": name, "weight": 1}])
    fleet = FakeInstances(live_berth, cluster)
    try:
        instance = fleet.add()
        family = unique("asg")
        ecs.register_task_definition(**ec2_task_definition(family))
        run = ecs.run_task(cluster=cluster, taskDefinition=family)
        assert run["failures"] == [], run["failures"]
        task = run["tasks"][0]
        assert (task["capacityProviderName"], task["launchType"], task["containerInstanceArn"]) == (name, "EC2", instance)
        ecs.stop_task(cluster=cluster, task=task["taskArn"])
    finally:
        fleet.stop_all()

    in_use = client_error(ecs.delete_capacity_provider, capacityProvider=name)
    assert f"associated with cluster '{cluster}'" in error_message(in_use)
    for built_in in ("FARGATE", "FARGATE_SPOT"):
        assert "reserved" in error_message(client_error(ecs.delete_capacity_provider, capacityProvider=built_in))
    ecs.put_cluster_capacity_providers(cluster=cluster, capacityProviders=[], defaultCapacityProviderStrategy=[])
    deleted = ecs.delete_capacity_provider(capacityProvider=name)["capacityProvider"]
    assert (deleted["status"], deleted["updateStatus"]) == ("INACTIVE", "DELETE_COMPLETE")
    gone = ecs.describe_capacity_providers(capacityProviders=[name])
    assert gone["capacityProviders"] == [] and gone["failures"][0]["reason"] == "MISSING"
    unknown = client_error(ecs.put_cluster_capacity_providers, cluster=cluster, capacityProviders=[name],
                           defaultCapacityProviderStrategy=[])
    assert error_code(unknown) == "InvalidParameterException" and "does not exist" in error_message(unknown)
