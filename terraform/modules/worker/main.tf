# One stage's GPU workers: a launch template and a spot-first Auto Scaling group that follows the queue's
# backlog per instance, from zero. A busy worker protects its instance from scale-in (it calls
# SetInstanceProtection; docs/deploy.md), so scale-in only ever takes idle instances.

data "aws_region" "current" {}

data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0
  name  = var.ami_ssm_parameter
}

locals {
  ami_id         = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.ami[0].value
  hook_name      = "graceful-stop"
  stop_timeout_s = var.shutdown_grace_s + 15
  registry       = split("/", var.image)[0]
  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    stage          = var.stage
    region         = data.aws_region.current.name
    registry       = local.registry
    image          = var.image
    command        = var.command
    environment    = merge(var.environment, { WORKER_SHUTDOWN_GRACE_S = tostring(var.shutdown_grace_s), WORKER_AUTOSCALING_GROUP = var.name })
    gpu            = var.gpu
    sidecar        = var.sidecar
    log_group      = var.log_group_name
    stop_timeout_s = local.stop_timeout_s
    asg_name       = var.name
    hook_name      = local.hook_name
  })
  tags = merge(var.tags, { "vidpipe:stage" = var.stage })
}

resource "aws_security_group" "worker" {
  name        = var.name
  description = "vidpipe ${var.stage} workers: no inbound; outbound HTTPS (AWS APIs, registry) and PostgreSQL"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

# Trivy: HTTPS egress to any address is required (see the checkov reason inside).
#trivy:ignore:AWS-0104
resource "aws_vpc_security_group_egress_rule" "https" {
  #checkov:skip=CKV_AWS_382:HTTPS to any address: SQS, S3, ECR, CloudWatch and Auto Scaling endpoints have no fixed CIDRs without VPC endpoints.
  security_group_id = aws_security_group.worker.id
  description       = "AWS APIs and the image registry"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "postgres" {
  security_group_id            = aws_security_group.worker.id
  description                  = "vidpipe database"
  referenced_security_group_id = var.database_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_launch_template" "worker" {
  name_prefix            = "${var.name}-"
  description            = "vidpipe ${var.stage} worker"
  image_id               = local.ami_id
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.worker.id]
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    name = var.instance_profile_name
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1          # containers run with host networking
    instance_metadata_tags      = "enabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = var.name })
  }
  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = var.name })
  }
  tags = local.tags
}

resource "aws_autoscaling_group" "worker" {
  name                      = var.name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.subnet_ids
  health_check_type         = "EC2"
  default_instance_warmup   = var.instance_warmup_s
  capacity_rebalance        = true
  protect_from_scale_in     = false # the worker protects its instance while a job runs
  wait_for_capacity_timeout = "0"
  # GroupInServiceInstances and GroupDesiredCapacity feed the scaling metrics below.
  enabled_metrics = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupPendingInstances", "GroupTerminatingInstances"]

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = var.on_demand_base_capacity
      on_demand_percentage_above_base_capacity = var.on_demand_percentage_above_base
      spot_allocation_strategy                 = "price-capacity-optimized"
    }
    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.worker.id
        version            = aws_launch_template.worker.latest_version
      }
      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  # Terminating:Wait gives the termination watcher time to stop the worker gracefully; it completes the
  # action itself, the timeout is the fallback.
  initial_lifecycle_hook {
    name                 = local.hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = local.stop_timeout_s + 60
    default_result       = "CONTINUE"
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Scaling policies own the desired capacity.
    ignore_changes = [desired_capacity]
  }
}

# Backlog per instance = (visible + in-flight messages) / in-service instances. In-flight messages count
# because each one occupies a worker; with zero instances the raw backlog is used (no division by zero).
resource "aws_autoscaling_policy" "backlog" {
  name                      = "${var.name}-backlog-per-instance"
  autoscaling_group_name    = aws_autoscaling_group.worker.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup_s

  target_tracking_configuration {
    target_value = var.backlog_per_instance_target
    customized_metric_specification {
      metrics {
        id          = "visible"
        return_data = false
        metric_stat {
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = var.queue_name
            }
          }
          stat = "Sum"
        }
      }
      metrics {
        id          = "inflight"
        return_data = false
        metric_stat {
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesNotVisible"
            dimensions {
              name  = "QueueName"
              value = var.queue_name
            }
          }
          stat = "Sum"
        }
      }
      metrics {
        id          = "instances"
        return_data = false
        metric_stat {
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.worker.name
            }
          }
          stat = "Average"
        }
      }
      metrics {
        id          = "backlog_per_instance"
        label       = "Messages per in-service instance"
        expression  = "IF(instances > 0, (visible + inflight) / instances, visible + inflight)"
        return_data = true
      }
    }
  }
}

# Target tracking scales in proportion to the current capacity, which cannot leave zero; this step policy
# starts the first instance when messages wait and the group wants none.
resource "aws_autoscaling_policy" "wake_from_zero" {
  name                   = "${var.name}-wake-from-zero"
  autoscaling_group_name = aws_autoscaling_group.worker.name
  policy_type            = "StepScaling"
  adjustment_type        = "ChangeInCapacity"

  step_adjustment {
    scaling_adjustment          = 1
    metric_interval_lower_bound = 0
  }
}

resource "aws_cloudwatch_metric_alarm" "wake_from_zero" {
  alarm_name          = "${var.name}-work-waiting-at-zero"
  alarm_description   = "Messages wait in ${var.queue_name} while the ${var.name} group wants no instances: start one."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_autoscaling_policy.wake_from_zero.arn]
  tags                = local.tags

  metric_query {
    id          = "waiting_at_zero"
    expression  = "IF(desired == 0 AND visible > 0, 1, 0)"
    return_data = true
  }
  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = var.queue_name }
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "desired"
    metric {
      namespace   = "AWS/AutoScaling"
      metric_name = "GroupDesiredCapacity"
      dimensions  = { AutoScalingGroupName = aws_autoscaling_group.worker.name }
      stat        = "Maximum"
      period      = 60
    }
  }
}
