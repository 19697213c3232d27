# The gateway (Litestar API + web UI) on ECS Fargate behind an internet-facing ALB. Uploads go from the
# browser straight to S3 (presigned), so the tasks only carry API traffic and can stay small.

data "aws_region" "current" {}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "vidpipe gateway load balancer: HTTPS (and HTTP to redirect) from anywhere"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (see the http listener).
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, redirected to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the gateway tasks"
  referenced_security_group_id = aws_security_group.task.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "vidpipe gateway tasks: from the load balancer; to AWS APIs and the database"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "task_from_alb" {
  security_group_id            = aws_security_group.task.id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

# Trivy: HTTPS egress to any address is required (see the checkov reason inside).
#trivy:ignore:AWS-0104
resource "aws_vpc_security_group_egress_rule" "task_https" {
  #checkov:skip=CKV_AWS_382:HTTPS to any address: SQS, S3, ECR, Secrets Manager and the identity provider's JWKS have no fixed CIDRs.
  security_group_id = aws_security_group.task.id
  description       = "AWS APIs, registry, JWKS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "task_postgres" {
  security_group_id            = aws_security_group.task.id
  description                  = "vidpipe database"
  referenced_security_group_id = var.database_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# Trivy: the gateway is the public entry point, so its load balancer is internet-facing by design.
#trivy:ignore:AWS-0053
resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is an account-level choice with its own cost; attach one to this ALB if needed.
  #checkov:skip=CKV_AWS_91:Access logging is opt-in through var.alb_access_log_bucket (needs a bucket with an ELB policy).
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # Long enough for the SSE status stream between keep-alives.
  idle_timeout = 120

  dynamic "access_logs" {
    for_each = var.alb_access_log_bucket == null ? [] : [var.alb_access_log_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }
  tags = var.tags
}

resource "aws_lb_target_group" "gateway" {
  name                 = var.name
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
  tags = var.tags
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
  tags = var.tags
}

resource "aws_ecs_task_definition" "gateway" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = var.task_role_arn
  execution_role_arn       = var.execution_role_arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([
    {
      name                   = "gateway"
      image                  = var.image
      essential              = true
      command                = ["gateway"]
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      portMappings           = [{ containerPort = var.container_port, protocol = "tcp" }]
      environment = [
        for key, value in merge(var.environment, {
          GATEWAY_HOST = "0.0.0.0",
          GATEWAY_PORT = tostring(var.container_port),
          # Uvicorn takes the client's address from X-Forwarded-For when the peer is trusted: only the ALB
          # reaches the task (task_from_alb), from private addresses, so the rightmost address it did not add
          # itself is the real client's. Per-address limits (signed-out downloads) then count per visitor,
          # not per ALB node.
          FORWARDED_ALLOW_IPS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
        }) :
        { name = key, value = value }
      ]
      mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      healthCheck = {
        command     = ["CMD", "python", "/usr/local/bin/vidpipe-healthcheck", "http://127.0.0.1:${var.container_port}/health"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      stopTimeout = 30
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-region        = data.aws_region.current.name
          awslogs-group         = var.log_group_name
          awslogs-stream-prefix = "gateway"
        }
      }
    }
  ])
  tags = var.tags
}

resource "aws_ecs_service" "gateway" {
  name                              = var.name
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.gateway.arn
  desired_count                     = var.desired_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.gateway.arn
    container_name   = "gateway"
    container_port   = var.container_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.https]
  tags       = var.tags
}

# The sweeper runs from the gateway image in the same cluster: it needs only Postgres and SQS, no load
# balancer, and its own least-privilege role (modules/iam). Passes take a Postgres advisory lock, so a
# second task during a deployment does no double work.
resource "aws_ecs_task_definition" "sweeper" {
  family                   = "${var.name}-sweeper"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  task_role_arn            = var.sweeper_task_role_arn
  execution_role_arn       = var.execution_role_arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([
    {
      name                   = "sweeper"
      image                  = var.image
      essential              = true
      command                = ["sweep"]
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      environment            = [for key, value in var.sweeper_environment : { name = key, value = value }]
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      stopTimeout            = 30
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-region        = data.aws_region.current.name
          awslogs-group         = var.log_group_name
          awslogs-stream-prefix = "sweeper"
        }
      }
    }
  ])
  tags = var.tags
}

resource "aws_ecs_service" "sweeper" {
  name            = "${var.name}-sweeper"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.sweeper.arn
  desired_count   = var.sweeper_count
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  tags = var.tags
}
