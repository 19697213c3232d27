# One standard queue per stage with its own dead-letter queue: the same names and redrive wiring that
# vidpipe.provision creates for the embedded stack (tests/deploy/test_terraform_local.py compares them).

locals {
  # SQS-managed SSE unless a customer key is given; the two settings are mutually exclusive.
  use_kms = var.kms_key_arn != null
}

resource "aws_sqs_queue" "dlq" {
  for_each = var.stages

  name                              = "${var.name_prefix}${each.key}-dlq"
  message_retention_seconds         = var.dlq_retention_s
  max_message_size                  = var.max_message_size_bytes
  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? 3600 : null
  tags                              = merge(var.tags, { "vidpipe:stage" = each.key, "vidpipe:role" = "dead-letter" })
}

resource "aws_sqs_queue" "stage" {
  for_each = var.stages

  name                              = "${var.name_prefix}${each.key}"
  visibility_timeout_seconds        = each.value.visibility_timeout_s
  message_retention_seconds         = var.message_retention_s
  max_message_size                  = var.max_message_size_bytes
  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? 3600 : null
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = merge(var.tags, { "vidpipe:stage" = each.key, "vidpipe:role" = "work" })
}

# Only the stage's own queue may use its DLQ as a dead-letter target.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.restrict_dlq_sources ? var.stages : {}

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.stage[each.key].arn]
  })
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = var.stages

  alarm_name          = "${aws_sqs_queue.dlq[each.key].name}-not-empty"
  alarm_description   = "Messages in the ${each.key} dead-letter queue: a job failed every retry or was unreadable. Inspect, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each = var.stages

  alarm_name          = "${aws_sqs_queue.stage[each.key].name}-oldest-message-age"
  alarm_description   = "The oldest ${each.key} message waited over ${each.value.oldest_message_alarm_s} s: workers are not keeping up (scaling capped, instances failing to start, or spot capacity short)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.stage[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = each.value.oldest_message_alarm_s
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
