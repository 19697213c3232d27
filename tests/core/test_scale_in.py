"""Scale-in protection follows the worker's activity, against moto's Auto Scaling API."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3

from vidpipe.messages import ModerateRequest, TranscribeRequest
from vidpipe.scaling import open_scale_in_guard
from vidpipe.settings import Settings
from vidpipe.stage import StageContext, StageOutcome

from ..harness import Harness, wait_until


def make_group(settings: Settings, name: str) -> str:
    ec2 = boto3.client("ec2", region_name=settings.aws.region, endpoint_url=settings.aws.endpoint_url)
    autoscaling = boto3.client("autoscaling", region_name=settings.aws.region, endpoint_url=settings.aws.endpoint_url)
    ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=[f"{settings.aws.region}a"],
    )
    instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "Instances"
    ]
    return str(instances[0]["InstanceId"])


def protected(settings: Settings, instance_id: str) -> bool:
    autoscaling = boto3.client("autoscaling", region_name=settings.aws.region, endpoint_url=settings.aws.endpoint_url)
    found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    return bool(found[0]["ProtectedFromScaleIn"])


async def test_busy_worker_is_protected_and_released_when_idle(harness: Harness, settings: Settings) -> None:
    group = f"{settings.aws.queue_prefix}moderate"
    instance_id = make_group(settings, group)
    worker = settings.worker.model_copy(
        update={"autoscaling_group": group, "instance_id": instance_id, "scale_in_idle_s": 1.0}
    )
    settings = settings.model_copy(update={"worker": worker})
    seen_while_running: list[bool] = []
    finish = asyncio.Event()

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        seen_while_running.append(await asyncio.to_thread(protected, settings, instance_id))
        await finish.wait()
        return StageOutcome(
            next_message=TranscribeRequest(
                task_id=message.task_id, media_id=message.media_id, trace_id="t", audio_key="a"
            )
        )

    async with open_scale_in_guard(settings.worker, settings.aws) as guard:
        consumer = harness.consumer(handler, settings)
        consumer.scale_in_guard = guard
        harness.start(consumer)
        assert not await asyncio.to_thread(protected, settings, instance_id)
        await harness.send(await harness.new_task())
        await wait_until(lambda: seen_while_running == [True])
        finish.set()
        await wait_until(lambda: consumer.processed == 1)

        # and once the worker has been idle for scale_in_idle_s, the protection goes
        async def released() -> Any:
            return not await asyncio.to_thread(protected, settings, instance_id)

        await wait_until(released, timeout_s=15)
