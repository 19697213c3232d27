variable "name" {
  description = "Name of the ECS cluster, service, load balancer and security groups."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the internet-facing load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets of the gateway tasks."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the public host name; the load balancer serves HTTPS only (HTTP redirects)."
  type        = string
}

variable "image" {
  description = "Gateway image, registry/repository:tag."
  type        = string
}

variable "cpu" {
  description = "Fargate task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate task memory in MiB."
  type        = number
  default     = 1024
}

variable "desired_count" {
  description = "Gateway tasks to run (two or more for zero-downtime deploys and zone failure)."
  type        = number
  default     = 2
}

variable "container_port" {
  description = "Port the gateway listens on inside the task (GATEWAY_PORT)."
  type        = number
  default     = 8000
}

variable "environment" {
  description = "Environment of the gateway container (AWS_*, DB_*, AUTH_*, GATEWAY_*)."
  type        = map(string)
}

variable "task_role_arn" {
  description = "Role the application runs as (SQS send, S3 presign, database secret)."
  type        = string
}

variable "execution_role_arn" {
  description = "Role ECS uses to pull the image and ship logs."
  type        = string
}

variable "log_group_name" {
  description = "CloudWatch log group of the gateway containers."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the database the tasks connect to."
  type        = string
}

variable "alb_access_log_bucket" {
  description = "Bucket for load balancer access logs; null disables them."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "sweeper_task_role_arn" {
  description = "Role the sweeper (`vidpipe sweep`, same image as the gateway) runs as."
  type        = string
}

variable "sweeper_environment" {
  description = "Environment of the sweeper container (AWS_*, DB_*, WORKER_VISIBILITY_TIMEOUT_S, RECONCILER_*)."
  type        = map(string)
}

variable "sweeper_count" {
  description = "Sweeper tasks. One is enough; more are safe (a pass holds a database lock) and survive an AZ loss."
  type        = number
  default     = 1
  validation {
    condition     = var.sweeper_count >= 1
    error_message = "Run at least one sweeper: without it a lost SQS message strands its task."
  }
}
