variable "name_prefix" {
  description = "Queue name prefix; queues are <prefix><stage> and <prefix><stage>-dlq. Must equal the workers' AWS_QUEUE_PREFIX."
  type        = string
}

variable "stages" {
  description = "Per stage: visibility_timeout_s (how long a crashed worker's delivery stays hidden; heartbeats extend it while a job runs) and oldest_message_alarm_s (alarm when the oldest waiting message is older; allow for a cold start from zero instances)."
  type = map(object({
    visibility_timeout_s   = number
    oldest_message_alarm_s = number
  }))
  default = {
    moderate   = { visibility_timeout_s = 120, oldest_message_alarm_s = 1800 }
    transcribe = { visibility_timeout_s = 300, oldest_message_alarm_s = 3600 }
    summarize  = { visibility_timeout_s = 300, oldest_message_alarm_s = 1800 }
  }
}

variable "max_receive_count" {
  description = "Deliveries before SQS moves a message to the stage's DLQ. Must equal the workers' WORKER_MAX_RECEIVE_COUNT (the worker fails the task on the last delivery)."
  type        = number
  default     = 4
}

variable "message_retention_s" {
  description = "How long an unprocessed message stays in a stage queue (SQS default: 4 days)."
  type        = number
  default     = 345600
}

variable "max_message_size_bytes" {
  description = "Largest message body. Messages carry ids and keys only (a few hundred bytes). AWS provider 5.x accepts at most 256 KiB, although SQS (and moto) now default to 1 MiB for queues created without the attribute."
  type        = number
  default     = 262144
}

variable "dlq_retention_s" {
  description = "How long a dead-lettered message is kept for a person to inspect or redrive (the SQS maximum, 14 days)."
  type        = number
  default     = 1209600
}

variable "restrict_dlq_sources" {
  description = "Attach a redrive-allow policy so only the stage's own queue can dead-letter into its DLQ. Off for moto, which does not report the attribute back (the provider would wait for it forever)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for queue encryption; null uses SQS-managed SSE."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs (SNS topics) notified when a DLQ holds messages or a queue's oldest message is too old."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every queue and alarm."
  type        = map(string)
  default     = {}
}
