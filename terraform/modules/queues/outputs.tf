output "queue_names" {
  description = "Stage queue names by stage."
  value       = { for stage, q in aws_sqs_queue.stage : stage => q.name }
}

output "queue_urls" {
  description = "Stage queue URLs by stage."
  value       = { for stage, q in aws_sqs_queue.stage : stage => q.id }
}

output "queue_arns" {
  description = "Stage queue ARNs by stage."
  value       = { for stage, q in aws_sqs_queue.stage : stage => q.arn }
}

output "dlq_names" {
  description = "Dead-letter queue names by stage."
  value       = { for stage, q in aws_sqs_queue.dlq : stage => q.name }
}

output "dlq_urls" {
  description = "Dead-letter queue URLs by stage."
  value       = { for stage, q in aws_sqs_queue.dlq : stage => q.id }
}

output "dlq_arns" {
  description = "Dead-letter queue ARNs by stage."
  value       = { for stage, q in aws_sqs_queue.dlq : stage => q.arn }
}
