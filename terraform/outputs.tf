output "gateway_url" {
  description = "Public URL of the gateway (point its DNS name at alb_dns_name)."
  value       = var.public_url
}

output "alb_dns_name" {
  description = "DNS name of the gateway's load balancer: the target of the public host name's CNAME/alias."
  value       = module.gateway.alb_dns_name
}

output "repository_urls" {
  description = "ECR repository per image; push <url>:<image_tag> before applying a new tag."
  value       = module.registry.repository_urls
}

output "bucket_name" {
  description = "Media bucket (AWS_BUCKET)."
  value       = module.storage.bucket_name
}

output "queue_prefix" {
  description = "AWS_QUEUE_PREFIX of every process."
  value       = local.queue_prefix
}

output "queue_urls" {
  description = "Stage queue URLs by stage."
  value       = module.queues.queue_urls
}

output "dlq_urls" {
  description = "Dead-letter queue URLs by stage (inspect and redrive from here)."
  value       = module.queues.dlq_urls
}

output "database_address" {
  description = "Hostname of the PostgreSQL endpoint."
  value       = module.database.address
}

output "database_secret_arn" {
  description = "Secrets Manager secret with the database master credentials (rotated by RDS)."
  value       = module.database.master_user_secret_arn
}

output "worker_asg_names" {
  description = "Auto Scaling group per stage."
  value       = { for stage, w in module.worker : stage => w.asg_name }
}

output "ecs_cluster_name" {
  description = "ECS cluster of the gateway."
  value       = module.gateway.cluster_name
}

output "migrate_task" {
  description = "What `aws ecs run-task` needs to apply database migrations with the gateway image (docs/deploy.md)."
  value = {
    cluster         = module.gateway.cluster_name
    task_definition = module.gateway.task_definition_arn
    subnets         = var.private_subnet_ids
    security_group  = module.gateway.task_security_group_id
  }
}

output "alarm_topic_arn" {
  description = "SNS topic of the DLQ, queue-age and capacity alarms."
  value       = aws_sns_topic.alarms.arn
}

output "kms_key_arn" {
  description = "Customer-managed key encrypting the stack's data."
  value       = aws_kms_key.data.arn
}
