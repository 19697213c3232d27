variable "name_prefix" {
  description = "Prefix of role and policy names."
  type        = string
}

variable "queue_arns" {
  description = "Stage queue ARNs by stage (moderate, transcribe, summarize)."
  type        = map(string)
}

variable "dlq_arns" {
  description = "Dead-letter queue ARNs by stage."
  type        = map(string)
}

variable "bucket_arn" {
  description = "ARN of the media bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the bucket, the queues and the database secret."
  type        = string
}

variable "db_secret_arn" {
  description = "Secrets Manager secret holding the database credentials."
  type        = string
}

variable "repository_arns" {
  description = "ECR repository ARNs by service (gateway, moderator, transcriber, summarizer, vllm)."
  type        = map(string)
}

variable "worker_log_group_arns" {
  description = "CloudWatch log group ARN of each stage's worker instances, by stage."
  type        = map(string)
}

variable "gateway_log_group_arn" {
  description = "CloudWatch log group ARN of the gateway tasks."
  type        = string
}

variable "worker_asg_names" {
  description = "Auto Scaling group name per stage; each instance may toggle scale-in protection and finish lifecycle actions only in its own group."
  type        = map(string)
}

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore to worker instances (shell access through Session Manager, no SSH)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every role."
  type        = map(string)
  default     = {}
}
