# The cloud side of the daily leg: an export bucket, a Redshift warehouse (cluster or serverless) and the IAM
# role Redshift assumes to COPY the exports. One KMS key encrypts the bucket, the warehouse and its secret.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id      = data.aws_caller_identity.current.account_id
  partition       = data.aws_partition.current.partition
  name            = var.project
  bucket_name     = coalesce(var.bucket_name, "${var.project}-exports-${local.account_id}-${var.aws_region}")
  export_prefix   = trimsuffix(var.export_prefix, "/")
  provisioned     = var.redshift_deployment == "provisioned"
  serverless      = var.redshift_deployment == "serverless"
  manage_password = var.redshift_admin_password == null
}

# ---- KMS -------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key alone; kms:* for the account root is AWS's default key policy, which hands access control to IAM (without it the key becomes unmanageable).
  # checkov:skip=CKV_AWS_111:Same key-policy statement: "*" is this key alone, and only the account's own IAM principals get it.
  # checkov:skip=CKV_AWS_356:Same key-policy statement: in a key policy the resource can only be "*" (this key).
  # The account administers the key through IAM; services use it through the grants they create.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "crypto" {
  description             = "${local.name}: export bucket, Redshift warehouse and its admin secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "crypto" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.crypto.key_id
}

# ---- S3: the export bucket -------------------------------------------------------------------------

resource "aws_s3_bucket" "exports" {
  # checkov:skip=CKV_AWS_144:Exports are reproducible from PostgreSQL (export-csv is idempotent) and loaded into Redshift the same day; a second-region copy adds cost, not recovery.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to new objects: the DAG runs copy-redshift right after upload-s3.
  bucket = local.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "exports" {
  bucket = aws_s3_bucket.exports.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "exports" {
  bucket                  = aws_s3_bucket.exports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "exports" {
  bucket = aws_s3_bucket.exports.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "exports" {
  bucket = aws_s3_bucket.exports.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.crypto.arn
    }
    # One KMS request per bucket key instead of per object: cheaper multipart uploads.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "exports" {
  bucket = aws_s3_bucket.exports.id

  rule {
    id     = "age-out-exports"
    status = "Enabled"
    filter {
      prefix = "${local.export_prefix}/"
    }
    transition {
      days          = var.export_transition_to_ia_days
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.export_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  rule {
    # upload-s3 aborts its own failed multipart uploads; this catches a killed process.
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.exports]
}

data "aws_iam_policy_document" "exports_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.exports.arn,
      "${aws_s3_bucket.exports.arn}/*",
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

  statement {
    sid     = "DenyOutdatedTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.exports.arn,
      "${aws_s3_bucket.exports.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "exports" {
  bucket = aws_s3_bucket.exports.id
  policy = data.aws_iam_policy_document.exports_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.exports]
}

resource "aws_s3_bucket_logging" "exports" {
  bucket        = aws_s3_bucket.exports.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "s3/${local.bucket_name}/"
}

# ---- S3: server access logs of the export bucket ---------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_18:This is the access-log destination; logging it into itself would loop.
  # checkov:skip=CKV_AWS_144:Audit logs of a reproducible export bucket; one region is enough.
  # checkov:skip=CKV2_AWS_62:Logs are read on demand; nothing consumes object events.
  # checkov:skip=CKV_AWS_145:S3 server access logging delivers only to buckets with SSE-S3 default encryption, not SSE-KMS.
  bucket = "${local.bucket_name}-logs"
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs_bucket" {
  statement {
    sid       = "S3ServerAccessLogsDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.exports.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.access_logs.arn,
      "${aws_s3_bucket.access_logs.arn}/*",
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

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# ---- IAM: the role Redshift assumes for COPY (read the export prefix, nothing else) -----------------

data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    # Redshift's documented way to restrict a role to database users of one cluster/workgroup: their dbuser
    # ARNs as the external id (cluster identifier and workgroup name are the same here).
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values = [
        for user in coalescelist(var.redshift_copy_db_users, [var.redshift_admin_username]) :
        "arn:${local.partition}:redshift:${var.aws_region}:${local.account_id}:dbuser:${local.name}-warehouse/${user}"
      ]
    }
  }
}

data "aws_iam_policy_document" "redshift_copy" {
  statement {
    sid       = "ReadExports"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.exports.arn}/${local.export_prefix}/*"]
  }

  statement {
    # COPY lists the key prefix it is given (and the parts of a manifest); only under the export prefix.
    sid       = "ListExportPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.exports.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.export_prefix}/*", "${local.export_prefix}/"]
    }
  }

  statement {
    sid       = "LocateBucket"
    actions   = ["s3:GetBucketLocation"]
    resources = [aws_s3_bucket.exports.arn]
  }

  statement {
    # The objects are SSE-KMS encrypted; decrypting is allowed only on behalf of S3 reads.
    sid       = "DecryptExports"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.crypto.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "redshift_copy" {
  name               = "${local.name}-redshift-copy"
  description        = "Assumed by Redshift for COPY from s3://${local.bucket_name}/${local.export_prefix}/"
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
}

resource "aws_iam_role_policy" "redshift_copy" {
  name   = "read-exports"
  role   = aws_iam_role.redshift_copy.id
  policy = data.aws_iam_policy_document.redshift_copy.json
}

# ---- IAM: what the Airflow side needs to upload (attach to its role or user) -----------------------

data "aws_iam_policy_document" "uploader" {
  statement {
    sid = "WriteExports"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.exports.arn}/${local.export_prefix}/*"]
  }

  statement {
    sid       = "ListExportPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.exports.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.export_prefix}/*", "${local.export_prefix}/"]
    }
  }

  statement {
    sid       = "EncryptExports"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.crypto.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "uploader" {
  name        = "${local.name}-export-uploader"
  description = "cryptopipe upload-s3: write daily exports under s3://${local.bucket_name}/${local.export_prefix}/"
  policy      = data.aws_iam_policy_document.uploader.json
}

# ---- Network ---------------------------------------------------------------------------------------

data "aws_ec2_managed_prefix_list" "s3" {
  name = "com.amazonaws.${var.aws_region}.s3"
}

resource "aws_vpc_endpoint" "s3" {
  count             = length(var.route_table_ids) > 0 ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.aws_region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.route_table_ids
}

resource "aws_security_group" "redshift" {
  name        = "${local.name}-redshift"
  description = "Redshift warehouse: port 5439 from allowed_cidr_blocks only; out to S3 for COPY"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redshift" {
  for_each          = toset(var.allowed_cidr_blocks)
  security_group_id = aws_security_group.redshift.id
  description       = "Redshift from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 5439
  to_port           = 5439
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "redshift_s3" {
  security_group_id = aws_security_group.redshift.id
  description       = "COPY reads the exports from S3 (enhanced VPC routing)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.s3.id
}

# ---- Redshift: provisioned cluster ------------------------------------------------------------------

resource "aws_redshift_subnet_group" "warehouse" {
  count       = local.provisioned ? 1 : 0
  name        = "${local.name}-warehouse"
  description = "Private subnets of the ${local.name} warehouse"
  subnet_ids  = var.subnet_ids
}

resource "aws_redshift_parameter_group" "warehouse" {
  count  = local.provisioned ? 1 : 0
  name   = "${local.name}-warehouse"
  family = "redshift-2.0"

  parameter {
    name  = "require_ssl"
    value = "true"
  }
  parameter {
    name  = "enable_user_activity_logging"
    value = "true"
  }
}

resource "aws_redshift_cluster" "warehouse" {
  # checkov:skip=CKV_AWS_71:Audit logging is on, through the aws_redshift_logging resource below; provider 6 removed the inline logging block this check looks for.
  count              = local.provisioned ? 1 : 0
  cluster_identifier = "${local.name}-warehouse"
  database_name      = var.redshift_database
  master_username    = var.redshift_admin_username
  # Exactly one of the two: a given password, or one Redshift generates into Secrets Manager.
  master_password                   = var.redshift_admin_password
  manage_master_password            = local.manage_password ? true : null
  master_password_secret_kms_key_id = local.manage_password ? aws_kms_key.crypto.arn : null

  node_type       = var.redshift_node_type
  cluster_type    = var.redshift_number_of_nodes > 1 ? "multi-node" : "single-node"
  number_of_nodes = var.redshift_number_of_nodes

  encrypted                    = true
  kms_key_id                   = aws_kms_key.crypto.arn
  publicly_accessible          = var.redshift_publicly_accessible
  cluster_subnet_group_name    = aws_redshift_subnet_group.warehouse[0].name
  vpc_security_group_ids       = [aws_security_group.redshift.id]
  cluster_parameter_group_name = aws_redshift_parameter_group.warehouse[0].name
  enhanced_vpc_routing         = true

  iam_roles            = [aws_iam_role.redshift_copy.arn]
  default_iam_role_arn = aws_iam_role.redshift_copy.arn

  allow_version_upgrade               = true
  automated_snapshot_retention_period = var.redshift_snapshot_retention_days
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.name}-warehouse-final"
}

resource "aws_redshift_logging" "warehouse" {
  count                = local.provisioned ? 1 : 0
  cluster_identifier   = aws_redshift_cluster.warehouse[0].cluster_identifier
  log_destination_type = "cloudwatch"
  log_exports          = ["connectionlog", "userlog", "useractivitylog"]
}

# ---- Redshift: serverless ---------------------------------------------------------------------------

resource "aws_redshiftserverless_namespace" "warehouse" {
  count          = local.serverless ? 1 : 0
  namespace_name = "${local.name}-warehouse"
  db_name        = var.redshift_database
  admin_username = var.redshift_admin_username
  # Exactly one of the two, as for the cluster.
  admin_user_password              = var.redshift_admin_password
  manage_admin_password            = local.manage_password ? true : null
  admin_password_secret_kms_key_id = local.manage_password ? aws_kms_key.crypto.arn : null
  kms_key_id                       = aws_kms_key.crypto.arn
  iam_roles                        = [aws_iam_role.redshift_copy.arn]
  default_iam_role_arn             = aws_iam_role.redshift_copy.arn
  log_exports                      = ["connectionlog", "userlog", "useractivitylog"]
}

resource "aws_redshiftserverless_workgroup" "warehouse" {
  count                = local.serverless ? 1 : 0
  namespace_name       = aws_redshiftserverless_namespace.warehouse[0].namespace_name
  workgroup_name       = "${local.name}-warehouse"
  base_capacity        = var.redshift_serverless_base_capacity
  subnet_ids           = var.subnet_ids
  security_group_ids   = [aws_security_group.redshift.id]
  publicly_accessible  = var.redshift_publicly_accessible
  enhanced_vpc_routing = true

  config_parameter {
    parameter_key   = "require_ssl"
    parameter_value = "true"
  }
  config_parameter {
    parameter_key   = "enable_user_activity_logging"
    parameter_value = "true"
  }
}

locals {
  redshift_endpoint = local.provisioned ? aws_redshift_cluster.warehouse[0].dns_name : aws_redshiftserverless_workgroup.warehouse[0].endpoint[0].address
  redshift_port     = local.provisioned ? aws_redshift_cluster.warehouse[0].port : aws_redshiftserverless_workgroup.warehouse[0].endpoint[0].port
  redshift_admin_secret_arn = !local.manage_password ? null : (
    local.provisioned ? aws_redshift_cluster.warehouse[0].master_password_secret_arn : aws_redshiftserverless_namespace.warehouse[0].admin_password_secret_arn
  )
}
