"""Create the bucket and the queues the workers rely on (embedded stack and tests; Terraform on AWS).

Each stage gets a queue and a dead-letter queue; the redrive policy moves a message to the DLQ after
`max_receive_count` deliveries. The names and settings mirror what terraform/ creates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3

from vidpipe.settings import STAGES, Settings, Stage

# How long one delivery stays hidden between heartbeats, per stage. Heartbeats extend it while a job runs,
# so these only bound how fast a crashed worker's message comes back.
DEFAULT_VISIBILITY_S: dict[Stage, int] = {"moderate": 120, "transcribe": 300, "summarize": 300}
DLQ_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class Provisioned:
    queue_urls: dict[str, str]
    bucket: str


def provision(settings: Settings, *, cors_origins: list[str] | None = None) -> Provisioned:
    aws = settings.aws
    sqs = boto3.client("sqs", region_name=aws.region, endpoint_url=aws.endpoint_url)
    s3 = boto3.client("s3", region_name=aws.region, endpoint_url=aws.s3_endpoint())
    urls: dict[str, str] = {}
    for stage in STAGES:
        dlq_url = sqs.create_queue(
            QueueName=settings.dlq_name(stage), Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_S)}
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=settings.queue_name(stage),
            Attributes={
                "VisibilityTimeout": str(DEFAULT_VISIBILITY_S[stage]),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.worker.max_receive_count}
                ),
            },
        )["QueueUrl"]
        urls[settings.queue_name(stage)] = url
        urls[settings.dlq_name(stage)] = dlq_url
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if aws.bucket not in existing:
        if aws.region == "us-east-1":
            s3.create_bucket(Bucket=aws.bucket)
        else:
            s3.create_bucket(
                Bucket=aws.bucket,
                CreateBucketConfiguration={"LocationConstraint": aws.region},  # type: ignore[typeddict-item]
            )
    s3.put_bucket_cors(
        Bucket=aws.bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["PUT", "POST", "GET", "HEAD"],
                    "AllowedOrigins": cors_origins or ["*"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 3600,
                }
            ]
        },
    )
    return Provisioned(queue_urls=urls, bucket=aws.bucket)
