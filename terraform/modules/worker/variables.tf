variable "name" {
  description = "Name of the Auto Scaling group, launch template and security group (e.g. vidpipe-transcriber)."
  type        = string
}

variable "stage" {
  description = "Pipeline stage the instances work on: moderate, transcribe or summarize."
  type        = string
  validation {
    condition     = contains(["moderate", "transcribe", "summarize"], var.stage)
    error_message = "stage must be moderate, transcribe or summarize."
  }
}

variable "vpc_id" {
  description = "VPC of the instances."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the instances launch in (spread over zones for spot capacity)."
  type        = list(string)
}

variable "instance_types" {
  description = "Instance types, in order of preference; several similar types widen the spot pools."
  type        = list(string)
}

variable "min_size" {
  description = "Fewest instances; 0 lets the group scale to zero when the queue is idle."
  type        = number
  default     = 0
}

variable "max_size" {
  description = "Most instances: the cost ceiling of this stage."
  type        = number
}

variable "on_demand_base_capacity" {
  description = "Instances that are always on-demand, whatever the percentage below."
  type        = number
  default     = 0
}

variable "on_demand_percentage_above_base" {
  description = "Percentage of instances above the base that are on-demand; 0 means all spot."
  type        = number
  default     = 0
}

variable "backlog_per_instance_target" {
  description = "Target of (visible + in-flight messages) / in-service instances. Must be at least the messages one worker holds (WORKER_CONCURRENCY + WORKER_PREFETCH), or the group never stops growing while busy."
  type        = number
  default     = 2
}

variable "instance_warmup_s" {
  description = "Seconds from launch until a new instance takes work (image pull + model load); its metrics are ignored meanwhile."
  type        = number
  default     = 600
}

variable "queue_name" {
  description = "Name of the stage's SQS queue (the scaling metric's dimension)."
  type        = string
}

variable "ami_id" {
  description = "AMI with Docker and the NVIDIA container toolkit; null resolves ami_ssm_parameter."
  type        = string
  default     = null
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter naming the default AMI (AWS Deep Learning Base OSS NVIDIA driver GPU AMI, Amazon Linux 2023: Docker, NVIDIA driver and container toolkit, AWS CLI)."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
}

variable "root_volume_gb" {
  description = "Root EBS volume size in GiB: the AMI plus the worker image with its baked model weights."
  type        = number
  default     = 150
}

variable "instance_profile_name" {
  description = "Instance profile with the stage's least-privilege role."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the root volume; null uses the account's EBS default key. A customer key needs a key-policy grant for the AWSServiceRoleForAutoScaling service-linked role, which exists only after the first group is created, so the default avoids a chicken-and-egg apply."
  type        = string
  default     = null
}

variable "image" {
  description = "Worker image, registry/repository:tag."
  type        = string
}

variable "command" {
  description = "Arguments to the image's entry point (the `vidpipe` CLI), e.g. [\"worker\", \"transcribe\"]."
  type        = list(string)
}

variable "environment" {
  description = "Environment of the worker container (AWS_*, DB_*, WORKER_* and the stage's own group)."
  type        = map(string)
}

variable "gpu" {
  description = "Give the worker container all GPUs of the instance."
  type        = bool
  default     = true
}

variable "shutdown_grace_s" {
  description = "WORKER_SHUTDOWN_GRACE_S: after SIGTERM, how long a running job may go on. Keep it under ~100 s on spot (two-minute notice)."
  type        = number
  default     = 90
}

variable "sidecar" {
  description = "Optional server the worker needs on the same instance (the summarizer's vLLM): image, arguments, port and health path. The worker starts once it answers."
  type = object({
    name        = string
    image       = string
    args        = list(string)
    port        = number
    health_path = string
    environment = map(string)
  })
  default = null
}

variable "log_group_name" {
  description = "CloudWatch log group the containers log to."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the database, the one place besides AWS APIs the instances talk to."
  type        = string
}

variable "alarm_actions" {
  description = "ARNs notified when the group cannot launch instances."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to the group, its instances and volumes."
  type        = map(string)
  default     = {}
}
