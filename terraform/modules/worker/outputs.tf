output "asg_name" {
  description = "Name of the stage's Auto Scaling group."
  value       = aws_autoscaling_group.worker.name
}

output "security_group_id" {
  description = "Security group of the stage's instances (allowed into the database)."
  value       = aws_security_group.worker.id
}

output "launch_template_id" {
  description = "Launch template of the stage's instances."
  value       = aws_launch_template.worker.id
}
