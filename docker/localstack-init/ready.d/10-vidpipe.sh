#!/bin/bash
# LocalStack ready hook (compose.yaml mounts this directory at /etc/localstack/init/ready.d): creates what
# vidpipe.provision and terraform/modules/{queues,storage} create: per stage a dead-letter queue and a
# queue whose redrive policy moves a message there after VIDPIPE_MAX_RECEIVE_COUNT deliveries, and the
# media bucket with CORS for browser uploads. Idempotent: LocalStack runs it on every start.
set -euo pipefail

prefix="${VIDPIPE_QUEUE_PREFIX:-vidpipe-}"
bucket="${VIDPIPE_BUCKET:-vidpipe-media}"
max_receive_count="${VIDPIPE_MAX_RECEIVE_COUNT:-4}"
cors_origin="${VIDPIPE_CORS_ORIGIN:-*}"
declare -A visibility=([moderate]=120 [transcribe]=300 [summarize]=300)

for stage in moderate transcribe summarize; do
    dlq_url=$(awslocal sqs create-queue --queue-name "${prefix}${stage}-dlq" \
        --attributes MessageRetentionPeriod=1209600 --query QueueUrl --output text)
    dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
        --query Attributes.QueueArn --output text)
    redrive="{\"deadLetterTargetArn\":\"${dlq_arn}\",\"maxReceiveCount\":${max_receive_count}}"
    attributes=$(printf '{"VisibilityTimeout":"%s","RedrivePolicy":"%s"}' \
        "${visibility[$stage]}" "${redrive//\"/\\\"}")
    awslocal sqs create-queue --queue-name "${prefix}${stage}" --attributes "$attributes" >/dev/null
    echo "vidpipe: queue ${prefix}${stage} -> ${prefix}${stage}-dlq after ${max_receive_count} receives"
done

awslocal s3api head-bucket --bucket "$bucket" 2>/dev/null || awslocal s3api create-bucket --bucket "$bucket" >/dev/null
awslocal s3api put-bucket-cors --bucket "$bucket" --cors-configuration "{
  \"CORSRules\": [{
    \"AllowedMethods\": [\"PUT\", \"POST\", \"GET\", \"HEAD\"],
    \"AllowedOrigins\": [\"${cors_origin}\"],
    \"AllowedHeaders\": [\"*\"],
    \"ExposeHeaders\": [\"ETag\"],
    \"MaxAgeSeconds\": 3600
  }]
}"
echo "vidpipe: bucket ${bucket} with CORS for ${cors_origin}"
