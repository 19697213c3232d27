# The media bucket: uploads/<user_id>/<media_id>/... from browsers (presigned), media/<media_id>/... derived
# by the workers. Private, encrypted, versioned, TLS only.

# Trivy: access logging is opt-in (var.access_log_bucket), as for checkov CKV_AWS_18 below.
#trivy:ignore:AWS-0089
resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; uploads are user-provided and re-uploadable, versioning covers accidental deletes.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications: the gateway HEADs the object and enqueues the job itself.
  #checkov:skip=CKV_AWS_18:Access logging is opt-in through var.access_log_bucket (it needs a separate log bucket the operator owns).
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One KMS data key per bucket and hour instead of one per object: fewer KMS calls, lower cost.
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Same rule as vidpipe.provision: browsers PUT (single) or POST (form) straight to S3 and read ETag for
# multipart completion.
resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["PUT", "POST", "GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "expire-intermediate-audio"
    status = "Enabled"
    filter {
      prefix = var.intermediate_prefix
    }
    expiration {
      days = var.intermediate_expiry_days
    }
  }

  rule {
    id     = "tidy-versions-and-multipart"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.media.arn,
      "${aws_s3_bucket.media.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket     = aws_s3_bucket.media.id
  policy     = data.aws_iam_policy_document.tls_only.json
  depends_on = [aws_s3_bucket_public_access_block.media]
}

resource "aws_s3_bucket_logging" "media" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.media.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket_name}/"
}
