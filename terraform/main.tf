# vidpipe on AWS: media bucket, one queue + DLQ per stage, RDS PostgreSQL, ECR, one least-privilege role per
# service, a GPU Auto Scaling group per stage, and the gateway on ECS Fargate behind an ALB.
# docs/deploy.md walks through building images, applying this and wiring the identity provider.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  stages       = ["moderate", "transcribe", "summarize"]
  service_of   = { moderate = "moderator", transcribe = "transcriber", summarize = "summarizer" }
  queue_prefix = "${var.name}-"
  # vLLM beside the summarizer worker, on the instance's loopback.
  vllm_port = 8001
  # Known before the groups exist, so the IAM policies can name them without a dependency cycle.
  worker_asg_names = { for stage, service in local.service_of : stage => "${var.name}-${service}" }
  account_id       = data.aws_caller_identity.current.account_id
  partition        = data.aws_partition.current.partition
  image            = { for service, url in module.registry.repository_urls : service => "${url}:${var.image_tag}" }

  # Settings every process reads (shared/vidpipe/settings.py). The database URL is assembled at container
  # start from the RDS-managed secret (docker/entrypoint.sh), so no password sits in Terraform state.
  common_environment = {
    VIDPIPE_ENVIRONMENT      = "production"
    VIDPIPE_LOG_FORMAT       = "json"
    AWS_REGION               = var.region
    AWS_DEFAULT_REGION       = var.region
    AWS_BUCKET               = module.storage.bucket_name
    AWS_QUEUE_PREFIX         = local.queue_prefix
    WORKER_MAX_RECEIVE_COUNT = tostring(var.max_receive_count)
    DB_HOST                  = module.database.address
    DB_PORT                  = tostring(module.database.port)
    DB_NAME                  = module.database.database_name
    DB_SECRET_ARN            = module.database.master_user_secret_arn
    DB_SSLMODE               = "require"
  }

  # Production engines per stage (each service's settings.py documents the variables).
  stage_environment = {
    moderate = {
      MODERATOR_MODEL_PATH           = "/opt/models/nudenet/640m.onnx"
      MODERATOR_INFERENCE_RESOLUTION = "640"
      MODERATOR_ONNX_PROVIDERS       = "[\"CUDAExecutionProvider\",\"CPUExecutionProvider\"]"
      MODERATOR_BATCH_SIZE           = "16"
    }
    transcribe = {
      TRANSCRIBER_ENGINE       = "whisperx"
      TRANSCRIBER_DEVICE       = "cuda"
      TRANSCRIBER_MODEL        = "large-v3"
      TRANSCRIBER_COMPUTE_TYPE = "float16"
      TRANSCRIBER_BATCH_SIZE   = "16"
      TRANSCRIBER_MODELS_DIR   = "/opt/models"
    }
    summarize = {
      SUMMARIZER_ENGINE         = "openai"
      SUMMARIZER_BASE_URL       = "http://127.0.0.1:${local.vllm_port}/v1"
      SUMMARIZER_MODEL          = var.summarizer_model
      SUMMARIZER_CONTEXT_TOKENS = tostring(var.vllm_max_model_len)
    }
  }
}

# ------------------------------------------------------------------------------------------------ encryption

data "aws_iam_policy_document" "kms" {
  # In a key policy "*" means this key and nothing else; the account-root statement is what lets IAM
  # policies (modules/iam) grant use of the key at all.
  #checkov:skip=CKV_AWS_111:Key policy: resource "*" is this key only.
  #checkov:skip=CKV_AWS_356:Key policy: resource "*" is this key only.
  #checkov:skip=CKV_AWS_109:Key policy: the account root must administer its own key (AWS default key policy).
  statement {
    sid       = "AccountAdministersAndDelegatesToIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncryptsLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/${var.name}/*"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "data" {
  description         = "${var.name}: media bucket, queues, database, images, logs, alarms"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.data.key_id
}

# ------------------------------------------------------------------------------------------------ alarms, logs

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.data.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_log_group" "service" {
  for_each = toset(["gateway", "moderator", "transcriber", "summarizer"])

  name              = "/${var.name}/${each.key}"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.data.arn
}

# ------------------------------------------------------------------------------------------------ data plane

module "storage" {
  source                   = "./modules/storage"
  bucket_name              = var.bucket_name
  cors_allowed_origins     = concat([var.public_url], var.extra_cors_origins)
  kms_key_arn              = aws_kms_key.data.arn
  intermediate_expiry_days = var.intermediate_expiry_days
}

module "queues" {
  source      = "./modules/queues"
  name_prefix = local.queue_prefix
  stages = {
    for stage in local.stages : stage => {
      visibility_timeout_s   = var.visibility_timeout_s[stage]
      oldest_message_alarm_s = var.oldest_message_alarm_s[stage]
    }
  }
  max_receive_count = var.max_receive_count
  kms_key_arn       = aws_kms_key.data.arn
  alarm_actions     = [aws_sns_topic.alarms.arn]
}

module "registry" {
  source      = "./modules/registry"
  name_prefix = var.name
  kms_key_arn = aws_kms_key.data.arn
}

module "database" {
  source                    = "./modules/database"
  identifier                = var.name
  vpc_id                    = var.vpc_id
  subnet_ids                = var.private_subnet_ids
  client_security_group_ids = concat([module.gateway.task_security_group_id], [for w in module.worker : w.security_group_id])
  instance_class            = var.db_instance_class
  multi_az                  = var.db_multi_az
  backup_retention_days     = var.db_backup_retention_days
  deletion_protection       = var.db_deletion_protection
  kms_key_arn               = aws_kms_key.data.arn
}

module "iam" {
  source                = "./modules/iam"
  name_prefix           = var.name
  queue_arns            = module.queues.queue_arns
  dlq_arns              = module.queues.dlq_arns
  bucket_arn            = module.storage.bucket_arn
  kms_key_arn           = aws_kms_key.data.arn
  db_secret_arn         = module.database.master_user_secret_arn
  repository_arns       = module.registry.repository_arns
  worker_log_group_arns = { for stage, service in local.service_of : stage => aws_cloudwatch_log_group.service[service].arn }
  gateway_log_group_arn = aws_cloudwatch_log_group.service["gateway"].arn
  worker_asg_names      = local.worker_asg_names
}

# ------------------------------------------------------------------------------------------------ compute

module "worker" {
  source   = "./modules/worker"
  for_each = local.service_of

  name                            = local.worker_asg_names[each.key]
  stage                           = each.key
  vpc_id                          = var.vpc_id
  subnet_ids                      = var.private_subnet_ids
  instance_types                  = var.worker_instance_types[each.key]
  ami_id                          = var.worker_ami_id
  max_size                        = var.worker_max_instances[each.key]
  on_demand_percentage_above_base = var.worker_on_demand_percentage
  backlog_per_instance_target     = var.worker_backlog_target[each.key]
  queue_name                      = module.queues.queue_names[each.key]
  instance_profile_name           = module.iam.worker_instance_profile_names[each.key]
  image                           = local.image[each.value]
  command                         = ["worker", each.key]
  shutdown_grace_s                = var.worker_shutdown_grace_s[each.key]
  log_group_name                  = aws_cloudwatch_log_group.service[each.value].name
  database_security_group_id      = module.database.security_group_id
  environment = merge(
    local.common_environment,
    { WORKER_VISIBILITY_TIMEOUT_S = tostring(var.visibility_timeout_s[each.key]) },
    local.stage_environment[each.key],
    lookup(var.worker_environment, each.key, {}),
  )
  # The summarizer's GPU work happens in vLLM beside it; the worker itself needs no GPU.
  gpu = each.key != "summarize"
  sidecar = each.key != "summarize" ? null : {
    name        = "vllm"
    image       = local.image["vllm"]
    port        = local.vllm_port
    health_path = "/health"
    # The image's HEALTHCHECK probes VIDPIPE_VLLM_PORT (8000 by default, as in compose.yaml).
    environment = { HF_HUB_OFFLINE = "1", VIDPIPE_VLLM_PORT = tostring(local.vllm_port) }
    # The vllm image's entry point is `vllm serve`; the weights are baked in at /opt/models/summarizer-llm.
    args = [
      "/opt/models/summarizer-llm", "--served-model-name", var.summarizer_model,
      "--host", "127.0.0.1", "--port", tostring(local.vllm_port), "--max-model-len", tostring(var.vllm_max_model_len),
      "--gpu-memory-utilization", "0.90",
    ]
  }
}

module "gateway" {
  source                     = "./modules/gateway"
  name                       = "${var.name}-gateway"
  vpc_id                     = var.vpc_id
  public_subnet_ids          = var.public_subnet_ids
  private_subnet_ids         = var.private_subnet_ids
  certificate_arn            = var.certificate_arn
  image                      = local.image["gateway"]
  cpu                        = var.gateway_cpu
  memory                     = var.gateway_memory
  desired_count              = var.gateway_desired_count
  task_role_arn              = module.iam.gateway_task_role_arn
  execution_role_arn         = module.iam.gateway_execution_role_arn
  log_group_name             = aws_cloudwatch_log_group.service["gateway"].name
  database_security_group_id = module.database.security_group_id
  environment = merge(
    local.common_environment,
    {
      GATEWAY_PUBLIC_URL = var.public_url
      AUTH_JWKS_URL      = var.auth_jwks_url
      AUTH_ISSUER        = var.auth_issuer
      AUTH_AUDIENCE      = var.auth_audience
    },
    var.gateway_environment,
  )
  sweeper_task_role_arn = module.iam.sweeper_task_role_arn
  # A task counts as stranded after RECONCILER_STUCK_AFTER_VISIBILITIES of the longest stage visibility
  # timeout without a heartbeat, progress or event.
  sweeper_environment = merge(
    local.common_environment,
    { WORKER_VISIBILITY_TIMEOUT_S = tostring(max(values(var.visibility_timeout_s)...)) },
  )
}
