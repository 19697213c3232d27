# One role per service, each allowed only what its process does:
#   gateway     send to moderate (new job) and summarize (re-run); presign uploads under uploads/; read media
#   moderator   consume moderate, send transcribe; read uploads/, write media/ (the extracted audio)
#   transcriber consume transcribe, send summarize; read media/
#   summarizer  consume summarize; no S3 (the transcript is in Postgres)
#   sweeper     send to every stage queue and read their depth (re-sends the message of a stranded task)
# Every process resolves all queue URLs by name at start (vidpipe.queues.resolve_queue_urls), so
# sqs:GetQueueUrl is granted on all six queues; it reveals a URL, nothing else.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  service_of = { moderate = "moderator", transcribe = "transcriber", summarize = "summarizer" }
  next_stage = { moderate = "transcribe", transcribe = "summarize", summarize = null }
  # S3 prefixes per stage: what it reads and what it writes.
  reads  = { moderate = ["uploads/"], transcribe = ["media/"], summarize = [] }
  writes = { moderate = ["media/"], transcribe = [], summarize = [] }
  # The summarizer instance also pulls the vLLM server image that runs beside it.
  extra_images  = { moderate = [], transcribe = [], summarize = ["vllm"] }
  all_queue_arn = concat(values(var.queue_arns), values(var.dlq_arns))
  asg_arn = {
    for stage, name in var.worker_asg_names :
    stage => "arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${name}"
  }
}

# ---------------------------------------------------------------------------------------------- workers

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "worker" {
  for_each                = local.service_of
  source_policy_documents = [data.aws_iam_policy_document.app_common.json]

  statement {
    sid       = "ConsumeOwnQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [var.queue_arns[each.key]]
  }
  statement {
    sid       = "DeadLetterPoisonMessages"
    actions   = ["sqs:SendMessage"]
    resources = [var.dlq_arns[each.key]]
  }
  dynamic "statement" {
    for_each = local.next_stage[each.key] == null ? [] : [local.next_stage[each.key]]
    content {
      sid       = "HandOffToNextStage"
      actions   = ["sqs:SendMessage"]
      resources = [var.queue_arns[statement.value]]
    }
  }
  dynamic "statement" {
    for_each = length(local.reads[each.key]) == 0 ? [] : [1]
    content {
      sid       = "ReadInputObjects"
      actions   = ["s3:GetObject"]
      resources = [for p in local.reads[each.key] : "${var.bucket_arn}/${p}*"]
    }
  }
  dynamic "statement" {
    # ListBucket on the same prefixes turns a missing object into 404 instead of 403.
    for_each = length(local.reads[each.key]) == 0 ? [] : [1]
    content {
      sid       = "ListInputPrefixes"
      actions   = ["s3:ListBucket"]
      resources = [var.bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [for p in local.reads[each.key] : "${p}*"]
      }
    }
  }
  dynamic "statement" {
    for_each = length(local.writes[each.key]) == 0 ? [] : [1]
    content {
      sid       = "WriteDerivedObjects"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      resources = [for p in local.writes[each.key] : "${var.bucket_arn}/${p}*"]
    }
  }
  statement {
    sid       = "ProtectWhileBusyAndFinishTermination"
    actions   = ["autoscaling:SetInstanceProtection", "autoscaling:CompleteLifecycleAction"]
    resources = [local.asg_arn[each.key]]
  }
  statement {
    sid       = "PullImages"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [for s in concat([each.value], local.extra_images[each.key]) : var.repository_arns[s]]
  }
  statement {
    # GetAuthorizationToken has no resource-level permissions.
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "ShipContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.worker_log_group_arns[each.key]}:*"]
  }
}

resource "aws_iam_role" "worker" {
  for_each = local.service_of

  name               = "${var.name_prefix}-${each.value}-instance"
  description        = "vidpipe ${each.value} worker instances (${each.key} stage)"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "worker" {
  for_each = local.service_of

  name   = "${each.value}-least-privilege"
  role   = aws_iam_role.worker[each.key].id
  policy = data.aws_iam_policy_document.worker[each.key].json
}

resource "aws_iam_role_policy_attachment" "worker_ssm" {
  for_each = var.enable_ssm ? local.service_of : {}

  role       = aws_iam_role.worker[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "worker" {
  for_each = local.service_of

  name = "${var.name_prefix}-${each.value}"
  role = aws_iam_role.worker[each.key].name
  tags = var.tags
}

# ---------------------------------------------------------------------------------------------- gateway

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# What every vidpipe process needs (the workers on their instances, the gateway and the sweeper on ECS):
# queue URLs by name, the data key, the database credentials.
data "aws_iam_policy_document" "app_common" {
  statement {
    sid       = "ResolveQueueUrls"
    actions   = ["sqs:GetQueueUrl"]
    resources = local.all_queue_arn
  }
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "ReadDatabaseCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_secret_arn]
  }
}

data "aws_iam_policy_document" "gateway" {
  source_policy_documents = [data.aws_iam_policy_document.app_common.json]
  statement {
    sid       = "StartAndRerunJobs"
    actions   = ["sqs:SendMessage"]
    resources = [var.queue_arns["moderate"], var.queue_arns["summarize"]]
  }
  statement {
    # Presigned single and multipart uploads are signed with these credentials, so the role needs the
    # permissions the browser's requests exercise.
    sid       = "PresignUploads"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.bucket_arn}/uploads/*"]
  }
  statement {
    sid       = "ReadAndDeleteMedia"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/uploads/*", "${var.bucket_arn}/media/*"]
  }
  statement {
    sid       = "ListMediaPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["uploads/*", "media/*"]
    }
  }
}

resource "aws_iam_role" "gateway_task" {
  name               = "${var.name_prefix}-gateway-task"
  description        = "vidpipe gateway application (ECS task role)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "gateway_task" {
  name   = "gateway-least-privilege"
  role   = aws_iam_role.gateway_task.id
  policy = data.aws_iam_policy_document.gateway.json
}

data "aws_iam_policy_document" "gateway_execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.repository_arns["gateway"]]
  }
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "ShipLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.gateway_log_group_arn}:*"]
  }
  statement {
    sid       = "DecryptImageLayers"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "gateway_execution" {
  name               = "${var.name_prefix}-gateway-execution"
  description        = "ECS agent for the vidpipe gateway: pulls the image, ships logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "gateway_execution" {
  name   = "gateway-execution"
  role   = aws_iam_role.gateway_execution.id
  policy = data.aws_iam_policy_document.gateway_execution.json
}

# ---------------------------------------------------------------------------------------------- sweeper
# `vidpipe sweep`: finds unfinished tasks with no sign of life for several visibility timeouts and sends
# their current stage's message again (rebuilt from Postgres), so a lost SQS message never strands a task.
# It skips a stage whose queue still holds messages, hence GetQueueAttributes.

data "aws_iam_policy_document" "sweeper" {
  source_policy_documents = [data.aws_iam_policy_document.app_common.json]
  statement {
    sid       = "ResendStageMessages"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = values(var.queue_arns)
  }
}

resource "aws_iam_role" "sweeper_task" {
  name               = "${var.name_prefix}-sweeper-task"
  description        = "vidpipe sweeper (ECS task role): re-sends the messages of stranded tasks"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "sweeper_task" {
  name   = "sweeper-least-privilege"
  role   = aws_iam_role.sweeper_task.id
  policy = data.aws_iam_policy_document.sweeper.json
}
