terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
  # Configure a remote backend (S3 with locking) for real deployments, e.g. in a backend.tf:
  # backend "s3" { bucket = "...", key = "vidpipe/terraform.tfstate", region = "...", use_lockfile = true }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = merge({ Project = "vidpipe", Environment = var.environment }, var.tags)
  }
}
