output "repository_urls" {
  description = "Image repository URLs by service (push <url>:<tag>)."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs by service (for pull permissions)."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.arn }
}
