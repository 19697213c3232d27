output "alb_dns_name" {
  description = "DNS name of the load balancer (point the public host name at it)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "cluster_name" {
  description = "ECS cluster of the gateway (also runs the one-off migrate task)."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service of the gateway."
  value       = aws_ecs_service.gateway.name
}

output "task_definition_arn" {
  description = "Gateway task definition; run it with command [\"migrate\"] to apply migrations."
  value       = aws_ecs_task_definition.gateway.arn
}

output "task_security_group_id" {
  description = "Security group of the gateway tasks (allowed into the database)."
  value       = aws_security_group.task.id
}
