"""Terraform's queue and storage modules, applied to the moto server, create what the workers rely on.

The production modules (terraform/modules/queues, storage) are applied once per module through the small root
module in localstack_root/ (~65 s: the AWS provider waits about 25 s after creating each queue). Then:
  * their attributes are compared with what vidpipe.provision creates for the embedded stack;
  * the real consumer runs on the Terraform-made queues: a message is handed to the next stage, a poison body
    lands in the stage's DLQ, and a message that keeps failing is moved there by the redrive policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from vidpipe.consumer import Consumer
from vidpipe.db.pool import open_pool
from vidpipe.localinfra import MotoServer
from vidpipe.messages import ModerateRequest, TranscribeRequest, decode_message, encode_message
from vidpipe.provision import DEFAULT_VISIBILITY_S, provision
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import STAGES, AWSSettings, DatabaseSettings, Settings, WorkerSettings
from vidpipe.stage import StageContext, StageOutcome
from vidpipe.storage import open_storage
from vidpipe.testing import create_task_row, task_row

REPO = Path(__file__).resolve().parents[2]
ROOT_MODULE = Path(__file__).resolve().parent / "localstack_root"
PROVIDER_MIRROR = Path("/opt/tf-plugins")
MAX_RECEIVE_COUNT = 4
# Attributes that describe a queue's identity or current contents, not its behaviour.
VOLATILE = {
    "QueueArn",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "SqsManagedSseEnabled",  # Terraform encrypts; the embedded stack does not need to
    "RedrivePolicy",  # compared separately: it names the DLQ by ARN
    "VisibilityTimeout",  # compared separately with the per-stage defaults
    # AWS provider 5.x caps it at 256 KiB while SQS now defaults to 1 MiB; messages are a few hundred bytes.
    "MaximumMessageSize",
}


@dataclass(frozen=True)
class Applied:
    queue_prefix: str
    bucket: str
    queue_urls: dict[str, str]
    dlq_urls: dict[str, str]


def terraform_or_skip() -> str:
    terraform = shutil.which("terraform")
    if terraform and PROVIDER_MIRROR.is_dir():
        return terraform
    reason = "needs the terraform binary and the AWS provider mirror at /opt/tf-plugins"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (they must exist in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def applied(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    terraform = terraform_or_skip()
    work = tmp_path_factory.mktemp("terraform")
    suffix = uuid.uuid4().hex[:8]
    queue_prefix, bucket = f"tf{suffix}-", f"tf-{suffix}"
    variables = {
        "endpoint_url": moto.url,
        "queue_prefix": queue_prefix,
        "bucket_name": bucket,
        "max_receive_count": MAX_RECEIVE_COUNT,
        "stages": {
            stage: {"visibility_timeout_s": DEFAULT_VISIBILITY_S[stage], "oldest_message_alarm_s": 1800}
            for stage in STAGES
        },
    }
    (work / "test.tfvars.json").write_text(json.dumps(variables))
    # Provider cache and state outside the repository; providers only from the image's mirror.
    env = {**os.environ, "TF_DATA_DIR": str(work / "data"), "TF_CLI_CONFIG_FILE": str(REPO / ".ci" / "terraformrc"),
           "TF_IN_AUTOMATION": "1"}  # fmt: skip
    state = str(work / "terraform.tfstate")

    def tf(*args: str) -> str:
        done = subprocess.run(
            [terraform, f"-chdir={ROOT_MODULE}", *args], env=env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.fail(f"terraform {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    tf("init", "-backend=false", "-input=false", "-no-color")
    tf("apply", "-auto-approve", "-input=false", "-no-color", f"-state={state}",
       f"-var-file={work / 'test.tfvars.json'}")  # fmt: skip
    outputs = json.loads(tf("output", "-json", f"-state={state}"))
    yield Applied(
        queue_prefix=queue_prefix,
        bucket=bucket,
        queue_urls=outputs["queue_urls"]["value"],
        dlq_urls=outputs["dlq_urls"]["value"],
    )
    # No destroy: the moto server is thrown away with the session.


def sqs_client(moto: MotoServer) -> Any:
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=moto.url)


def queue_attributes(sqs: Any, name: str) -> dict[str, str]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return attributes


def behaviour(attributes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if k not in VOLATILE}


def dlq_name_and_count(attributes: dict[str, str]) -> tuple[str, int]:
    policy = json.loads(attributes["RedrivePolicy"])
    return policy["deadLetterTargetArn"].rsplit(":", 1)[1], int(policy["maxReceiveCount"])


def cors_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """CORS rules with list order ignored (the provider keeps methods as a set)."""
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    return [{k: sorted(v) if isinstance(v, list) else v for k, v in rule.items()} for rule in rules]


def test_terraform_creates_the_queues_dlqs_and_bucket_that_provision_creates(
    applied: Applied, moto: MotoServer
) -> None:
    # Given the embedded stack's provisioning on the same server, under another prefix
    reference = Settings(
        environment="test",
        aws=AWSSettings(endpoint_url=moto.url, bucket=f"ref-{uuid.uuid4().hex[:8]}", queue_prefix="ref-"),
        worker=WorkerSettings(max_receive_count=MAX_RECEIVE_COUNT),
    )
    provision(reference)
    sqs = sqs_client(moto)

    for stage in STAGES:
        made = queue_attributes(sqs, f"{applied.queue_prefix}{stage}")
        made_dlq = queue_attributes(sqs, f"{applied.queue_prefix}{stage}-dlq")
        ref = queue_attributes(sqs, reference.queue_name(stage))
        ref_dlq = queue_attributes(sqs, reference.dlq_name(stage))

        # Then names and redrive wiring are what the consumer resolves and relies on
        assert dlq_name_and_count(made) == (f"{applied.queue_prefix}{stage}-dlq", MAX_RECEIVE_COUNT)
        assert dlq_name_and_count(ref) == (reference.dlq_name(stage), MAX_RECEIVE_COUNT)
        assert made["VisibilityTimeout"] == str(DEFAULT_VISIBILITY_S[stage])
        assert "RedrivePolicy" not in made_dlq  # a DLQ never dead-letters further
        # And every other behavioural attribute (retention, delay, size, long-poll) matches provision's
        assert behaviour(made) == behaviour(ref), stage
        assert behaviour(made_dlq) == behaviour(ref_dlq), stage
        assert made_dlq["MessageRetentionPeriod"] == "1209600"
        assert int(made["MaximumMessageSize"]) >= 64 * 1024
        # And Terraform's queues are encrypted at rest
        assert made["SqsManagedSseEnabled"] == made_dlq["SqsManagedSseEnabled"] == "true"

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url)
    assert cors_rules(s3, applied.bucket) == cors_rules(s3, reference.aws.bucket)
    assert s3.get_bucket_versioning(Bucket=applied.bucket)["Status"] == "Enabled"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=applied.bucket)["Rules"]}
    assert rules["expire-intermediate-audio"]["Filter"]["Prefix"] == "media/"
    assert rules["tidy-versions-and-multipart"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 2
    block = s3.get_public_access_block(Bucket=applied.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


async def test_consumer_hands_off_and_dead_letters_on_terraform_queues(
    applied: Applied, moto: MotoServer, database_url: str
) -> None:
    settings = Settings(
        environment="test",
        db=DatabaseSettings(url=database_url, pool_max_size=4),
        aws=AWSSettings(endpoint_url=moto.url, bucket=applied.bucket, queue_prefix=applied.queue_prefix),
        worker=WorkerSettings(
            wait_time_s=1, visibility_timeout_s=30, retry_base_delay_s=0, shutdown_grace_s=5,
            max_receive_count=MAX_RECEIVE_COUNT, dead_letter_check_s=0,
        ),
    )  # fmt: skip
    failing: set[uuid.UUID] = set()
    calls: list[uuid.UUID] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(message.task_id)
        if message.task_id in failing:
            raise ConnectionError("the model server went away")
        return StageOutcome(
            next_message=TranscribeRequest(
                task_id=message.task_id, media_id=message.media_id, trace_id=message.trace_id, audio_key="media/a"
            )
        )

    async with contextlib.AsyncExitStack() as stack:
        pool = await open_pool(settings.db)
        stack.push_async_callback(pool.close)
        sqs = await stack.enter_async_context(open_sqs(settings.aws))
        storage = await stack.enter_async_context(open_storage(settings.aws))
        # The consumer finds the queues by name: these must be the ones Terraform made
        queues = await resolve_queue_urls(sqs, settings)
        assert queues.main == applied.queue_urls
        assert queues.dead_letter == applied.dlq_urls
        consumer = Consumer(
            stage="moderate", handler=handler, settings=settings, pool=pool, storage=storage, sqs=sqs, queues=queues
        )
        stop = asyncio.Event()
        running = asyncio.create_task(consumer.run(stop))
        stack.push_async_callback(lambda: asyncio.wait_for(running, timeout=30))
        stack.callback(stop.set)

        async def new_message() -> ModerateRequest:
            task_id, media_id = await create_task_row(pool)
            return ModerateRequest(task_id=task_id, media_id=media_id, trace_id="tf", video_key="uploads/u/m/v.mp4")

        async def receive_all(url: str, expected: int, timeout_s: float = 30) -> list[dict[str, Any]]:
            received: list[dict[str, Any]] = []
            deadline = asyncio.get_running_loop().time() + timeout_s
            while len(received) < expected and asyncio.get_running_loop().time() < deadline:
                response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                received += [dict(m) for m in response.get("Messages", [])]
            return received

        # When a good message arrives, it is consumed and handed to the Terraform-made transcribe queue
        good = await new_message()
        await sqs.send_message(QueueUrl=applied.queue_urls["moderate"], MessageBody=encode_message(good))
        handed = await receive_all(applied.queue_urls["transcribe"], expected=1)
        assert [decode_message(m["Body"]).task_id for m in handed] == [good.task_id]

        # When a poison body arrives, the consumer puts it in the Terraform-made DLQ
        await sqs.send_message(QueueUrl=applied.queue_urls["moderate"], MessageBody="not json at all")
        dead = await receive_all(applied.dlq_urls["moderate"], expected=1)
        assert [m["Body"] for m in dead] == ["not json at all"]
        for message in dead:
            await sqs.delete_message(QueueUrl=applied.dlq_urls["moderate"], ReceiptHandle=message["ReceiptHandle"])

        # When a message keeps failing, SQS itself moves it to the DLQ after maxReceiveCount deliveries
        doomed = await new_message()
        failing.add(doomed.task_id)
        await sqs.send_message(QueueUrl=applied.queue_urls["moderate"], MessageBody=encode_message(doomed))
        redriven = await receive_all(applied.dlq_urls["moderate"], expected=1, timeout_s=60)
        assert [decode_message(m["Body"]).task_id for m in redriven] == [doomed.task_id]
        assert calls.count(doomed.task_id) == MAX_RECEIVE_COUNT
        assert (await task_row(pool, doomed.task_id))["error_code"] == "retries_exhausted"

        # Then the stage queue is empty: nothing is stuck
        attributes = (
            await sqs.get_queue_attributes(
                QueueUrl=applied.queue_urls["moderate"],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )
        )["Attributes"]
        assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
