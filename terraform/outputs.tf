# Outputs, named as the DAGs read them: crypto_s3_bucket and crypto_redshift_iam_role are the Airflow
# Variables of the same name (or env CRYPTOPIPE_S3_BUCKET / CRYPTOPIPE_REDSHIFT_IAM_ROLE); the redshift_*
# outputs make up the redshift_default connection. See README "Deploy".

output "crypto_s3_bucket" {
  description = "Export bucket: Airflow Variable crypto_s3_bucket, or env CRYPTOPIPE_S3_BUCKET."
  value       = aws_s3_bucket.exports.bucket
}

output "crypto_export_prefix" {
  description = "Key prefix of the exports; the COPY role can read only below it."
  value       = "s3://${aws_s3_bucket.exports.bucket}/${local.export_prefix}/"
}

output "crypto_redshift_iam_role" {
  description = "Role ARN for copy-redshift --iam-role: Airflow Variable crypto_redshift_iam_role, or env CRYPTOPIPE_REDSHIFT_IAM_ROLE."
  value       = aws_iam_role.redshift_copy.arn
}

output "redshift_endpoint" {
  description = "Host of the redshift_default connection."
  value       = local.redshift_endpoint
}

output "redshift_port" {
  description = "Port of the redshift_default connection."
  value       = local.redshift_port
}

output "redshift_database" {
  description = "Schema (database) of the redshift_default connection."
  value       = var.redshift_database
}

output "redshift_admin_username" {
  description = "Login of the redshift_default connection (or a less privileged user you create for the DAG)."
  value       = var.redshift_admin_username
}

output "redshift_admin_secret_arn" {
  description = "Secrets Manager secret holding the generated admin password (null when redshift_admin_password was given)."
  value       = local.redshift_admin_secret_arn
}

output "crypto_uploader_policy_arn" {
  description = "IAM policy to attach to the role/user whose keys the aws_default connection uses (upload-s3)."
  value       = aws_iam_policy.uploader.arn
}

output "aws_region" {
  description = "region_name of the aws_default connection, and env AWS_REGION."
  value       = var.aws_region
}

output "kms_key_arn" {
  description = "KMS key of the bucket and the warehouse."
  value       = aws_kms_key.crypto.arn
}

output "airflow_conn_redshift_default" {
  description = "AIRFLOW_CONN_REDSHIFT_DEFAULT with the password left out: put it after the user name (URL-encoded)."
  value       = "redshift://${var.redshift_admin_username}@${local.redshift_endpoint}:${local.redshift_port}/${var.redshift_database}"
}
