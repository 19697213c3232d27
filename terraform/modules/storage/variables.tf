variable "bucket_name" {
  description = "Globally unique name of the media bucket (the workers' and gateway's AWS_BUCKET)."
  type        = string
}

variable "cors_allowed_origins" {
  description = "Origins allowed to upload straight to the bucket with presigned PUT/POST (the gateway's public URL)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for default encryption; null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "intermediate_prefix" {
  description = "Prefix of derived, reproducible objects that expire (the moderator's extracted audio lives under media/<media_id>/). S3 lifecycle filters match prefixes, not wildcards, so this is the whole media/ tree."
  type        = string
  default     = "media/"
}

variable "intermediate_expiry_days" {
  description = "Days after which derived audio is deleted; it is re-extracted from the upload if a job is re-run."
  type        = number
  default     = 14
}

variable "noncurrent_version_expiry_days" {
  description = "Days a replaced or deleted object version is kept (versioning protects against accidental deletes)."
  type        = number
  default     = 30
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which abandoned multipart uploads are aborted so their parts stop costing storage."
  type        = number
  default     = 2
}

variable "access_log_bucket" {
  description = "Bucket that receives S3 server access logs; null disables access logging."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty bucket (test stacks only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to the bucket."
  type        = map(string)
  default     = {}
}
