# Applies the production queue and storage modules to a local SQS/S3 endpoint (moto or LocalStack), so a
# test can check that Terraform creates exactly what the workers rely on.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "endpoint_url" {
  description = "SQS/S3/CloudWatch API endpoint of the local server, e.g. http://127.0.0.1:5000."
  type        = string
}

variable "region" {
  description = "Region the local server pretends to be."
  type        = string
  default     = "us-east-1"
}

variable "queue_prefix" {
  description = "Queue name prefix (AWS_QUEUE_PREFIX)."
  type        = string
}

variable "bucket_name" {
  description = "Media bucket name (AWS_BUCKET)."
  type        = string
}

variable "max_receive_count" {
  description = "Deliveries before a message moves to the DLQ."
  type        = number
  default     = 4
}

variable "stages" {
  description = "Per-stage queue settings, as the queues module takes them."
  type = map(object({
    visibility_timeout_s   = number
    oldest_message_alarm_s = number
  }))
}

provider "aws" {
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
  endpoints {
    sqs        = var.endpoint_url
    s3         = var.endpoint_url
    sts        = var.endpoint_url
    cloudwatch = var.endpoint_url
  }
}

module "queues" {
  source            = "../../../terraform/modules/queues"
  name_prefix       = var.queue_prefix
  stages            = var.stages
  max_receive_count = var.max_receive_count
  # moto does not report RedriveAllowPolicy back, so the provider would wait for it forever.
  restrict_dlq_sources = false
}

module "storage" {
  source               = "../../../terraform/modules/storage"
  bucket_name          = var.bucket_name
  cors_allowed_origins = ["*"]
  force_destroy        = true
}

output "queue_urls" {
  description = "Stage queue URLs by stage."
  value       = module.queues.queue_urls
}

output "dlq_urls" {
  description = "Dead-letter queue URLs by stage."
  value       = module.queues.dlq_urls
}

output "bucket_name" {
  description = "Media bucket name."
  value       = module.storage.bucket_name
}
