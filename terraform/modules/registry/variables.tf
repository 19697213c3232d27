variable "name_prefix" {
  description = "Repository name prefix; repositories are <prefix>/<service>."
  type        = string
}

variable "services" {
  description = "One ECR repository per service image."
  type        = set(string)
  default     = ["gateway", "moderator", "transcriber", "summarizer", "vllm"]
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for image encryption; null uses AES256."
  type        = string
  default     = null
}

variable "keep_tagged_images" {
  description = "Tagged images kept per repository; older ones expire (tags are immutable, so every release is a new tag)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every repository."
  type        = map(string)
  default     = {}
}
