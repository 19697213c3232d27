output "worker_instance_profile_names" {
  description = "Instance profile name per stage."
  value       = { for stage, p in aws_iam_instance_profile.worker : stage => p.name }
}

output "worker_role_arns" {
  description = "Worker instance role ARN per stage."
  value       = { for stage, r in aws_iam_role.worker : stage => r.arn }
}

output "gateway_task_role_arn" {
  description = "Role the gateway application runs as."
  value       = aws_iam_role.gateway_task.arn
}

output "gateway_execution_role_arn" {
  description = "Role ECS uses to start gateway tasks."
  value       = aws_iam_role.gateway_execution.arn
}

output "sweeper_task_role_arn" {
  description = "Role the sweeper (`vidpipe sweep`) runs as."
  value       = aws_iam_role.sweeper_task.arn
}
