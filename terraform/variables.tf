variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name. Queues are <name>-<stage>, so the workers' AWS_QUEUE_PREFIX is \"<name>-\"."
  type        = string
  default     = "vidpipe"
}

variable "environment" {
  description = "Environment tag (e.g. production, staging)."
  type        = string
  default     = "production"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# ------------------------------------------------------------------------------------------------ network

variable "vpc_id" {
  description = "Existing VPC. Its private subnets need a route to AWS APIs (NAT gateway, or VPC endpoints for S3, SQS, ECR, logs, Secrets Manager, Auto Scaling)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in two or more zones: database, gateway tasks, worker instances."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets in two or more zones for the load balancer."
  type        = list(string)
}

# ------------------------------------------------------------------------------------------------ gateway

variable "public_url" {
  description = "URL users open, e.g. https://vidpipe.example.com (GATEWAY_PUBLIC_URL and the bucket's CORS origin)."
  type        = string
}

variable "extra_cors_origins" {
  description = "Further origins allowed to upload to the bucket directly (e.g. a separate frontend)."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate for the public URL's host name, in this region."
  type        = string
}

variable "auth_jwks_url" {
  description = "JWKS URL of the identity provider; Cognito: https://cognito-idp.<region>.amazonaws.com/<user pool id>/.well-known/jwks.json."
  type        = string
}

variable "auth_issuer" {
  description = "Expected `iss` claim; Cognito: https://cognito-idp.<region>.amazonaws.com/<user pool id>."
  type        = string
}

variable "auth_audience" {
  description = "Expected `aud` claim; Cognito ID tokens: the app client id."
  type        = string
}

variable "gateway_desired_count" {
  description = "Gateway tasks."
  type        = number
  default     = 2
}

variable "gateway_cpu" {
  description = "Gateway task CPU units."
  type        = number
  default     = 512
}

variable "gateway_memory" {
  description = "Gateway task memory (MiB)."
  type        = number
  default     = 1024
}

variable "gateway_environment" {
  description = "Extra gateway environment (e.g. GATEWAY_MAX_UPLOAD_BYTES); overrides the defaults."
  type        = map(string)
  default     = {}
}

# ------------------------------------------------------------------------------------------------ images

variable "image_tag" {
  description = "Tag of every service image to deploy (tags are immutable: use a release or commit id)."
  type        = string
}

# ------------------------------------------------------------------------------------------------ storage

variable "bucket_name" {
  description = "Globally unique name of the media bucket."
  type        = string
}

variable "intermediate_expiry_days" {
  description = "Days until derived audio under media/ is deleted."
  type        = number
  default     = 14
}

# ------------------------------------------------------------------------------------------------ queues

variable "max_receive_count" {
  description = "Deliveries of one message before its DLQ (also the workers' WORKER_MAX_RECEIVE_COUNT)."
  type        = number
  default     = 4
}

variable "visibility_timeout_s" {
  description = "Per stage: seconds a received message stays hidden between heartbeats (WORKER_VISIBILITY_TIMEOUT_S and the queue's default)."
  type        = map(number)
  default     = { moderate = 120, transcribe = 300, summarize = 300 }
}

variable "oldest_message_alarm_s" {
  description = "Per stage: alarm when the oldest waiting message is older than this (allow for a cold start from zero)."
  type        = map(number)
  default     = { moderate = 1800, transcribe = 3600, summarize = 1800 }
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (confirm the subscription mail); null subscribes nobody."
  type        = string
  default     = null
}

# ------------------------------------------------------------------------------------------------ database

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "Standby in a second zone (doubles the database cost)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database."
  type        = bool
  default     = true
}

# ------------------------------------------------------------------------------------------------ workers

variable "worker_ami_id" {
  description = "AMI for every worker (Docker + NVIDIA container toolkit). null: the latest AWS Deep Learning Base GPU AMI, looked up in SSM at plan time."
  type        = string
  default     = null
}

variable "worker_instance_types" {
  description = "Per stage: instance types in order of preference (similar GPUs widen the spot pools)."
  type        = map(list(string))
  default = {
    moderate   = ["g4dn.xlarge"]
    transcribe = ["g5.xlarge"]
    summarize  = ["g5.xlarge"]
  }
}

variable "worker_max_instances" {
  description = "Per stage: most instances, the stage's cost ceiling."
  type        = map(number)
  default     = { moderate = 2, transcribe = 4, summarize = 2 }
}

variable "worker_backlog_target" {
  description = "Per stage: target (visible + in-flight messages) per in-service instance; at least WORKER_CONCURRENCY + WORKER_PREFETCH."
  type        = map(number)
  default     = { moderate = 2, transcribe = 2, summarize = 2 }
}

variable "worker_on_demand_percentage" {
  description = "Percentage of worker instances above the base that are on-demand (0 = all spot)."
  type        = number
  default     = 0
}

variable "worker_shutdown_grace_s" {
  description = "Per stage: WORKER_SHUTDOWN_GRACE_S, how long a running job may continue after SIGTERM; keep under ~100 s for spot."
  type        = map(number)
  default     = { moderate = 90, transcribe = 90, summarize = 90 }
}

variable "worker_environment" {
  description = "Per stage: extra worker environment, overriding the production defaults in main.tf (e.g. { transcribe = { TRANSCRIBER_BATCH_SIZE = \"24\" } })."
  type        = map(map(string))
  default     = {}
}

variable "summarizer_model" {
  description = "Served model name of the vLLM sidecar (SUMMARIZER_MODEL); the weights baked into the vllm image (docker/summarizer.Dockerfile, LLM_REPO) must be this model."
  type        = string
  default     = "meta-llama/Llama-3.2-3B-Instruct"
}

variable "vllm_max_model_len" {
  description = "vLLM --max-model-len, also SUMMARIZER_CONTEXT_TOKENS."
  type        = number
  default     = 16384
}
