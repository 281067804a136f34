# Inputs. Only vpc_id, subnet_ids and allowed_cidr_blocks have no default; see terraform.tfvars.example.

variable "aws_region" {
  description = "Region of the bucket and the warehouse (also the REGION of Redshift's COPY)."
  type        = string
  default     = "us-east-1"
}

variable "project" {
  description = "Name prefix of every resource (lower case, digits, hyphens)."
  type        = string
  default     = "cryptopipe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.project))
    error_message = "project must be 2-31 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# ---- S3 --------------------------------------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the export bucket; null derives a globally unique one from project, account id and region."
  type        = string
  default     = null
}

variable "export_prefix" {
  description = "Key prefix the daily DAG writes under (s3://BUCKET/PREFIX/period=5MIN/date=.../...). The COPY role may read only this prefix."
  type        = string
  default     = "ohlcv"

  validation {
    condition     = can(regex("^[A-Za-z0-9_=.-]+(/[A-Za-z0-9_=.-]+)*$", var.export_prefix))
    error_message = "export_prefix is a key prefix without leading or trailing '/', e.g. \"ohlcv\"."
  }
}

variable "export_transition_to_ia_days" {
  description = "Days after which an export object moves to STANDARD_IA (it has been loaded into the warehouse long before)."
  type        = number
  default     = 30
}

variable "export_expiration_days" {
  description = "Days after which an export object expires (the warehouse keeps the rows)."
  type        = number
  default     = 400

  validation {
    condition     = var.export_expiration_days > 30
    error_message = "export_expiration_days must be more than 30 (STANDARD_IA's minimum storage duration)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted export object version is kept (recovery from a bad rerun)."
  type        = number
  default     = 30
}

variable "access_log_expiration_days" {
  description = "Days the bucket's server access logs are kept."
  type        = number
  default     = 90
}

# ---- Network ---------------------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the warehouse."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the warehouse, in different availability zones (Redshift Serverless needs three)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs at least two subnets in different availability zones."
  }
}

variable "route_table_ids" {
  description = "Route tables of subnet_ids. When set, an S3 gateway endpoint is created so COPY traffic stays in the VPC (enhanced VPC routing is on); leave empty if the VPC already has one."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "The only networks that may reach the warehouse port (e.g. the Airflow hosts' subnet or a VPN range)."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.allowed_cidr_blocks : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "allowed_cidr_blocks must be valid CIDR blocks, none of them /0 (the whole internet)."
  }
}

# ---- Redshift --------------------------------------------------------------------------------------

variable "redshift_deployment" {
  description = "\"provisioned\" (a cluster) or \"serverless\" (a namespace and workgroup)."
  type        = string
  default     = "provisioned"

  validation {
    condition     = contains(["provisioned", "serverless"], var.redshift_deployment)
    error_message = "redshift_deployment must be \"provisioned\" or \"serverless\"."
  }
}

variable "redshift_database" {
  description = "Database holding the ohlcv table."
  type        = string
  default     = "crypto"
}

variable "redshift_admin_username" {
  description = "Admin user of the warehouse."
  type        = string
  default     = "crypto_admin"
}

variable "redshift_admin_password" {
  description = "Admin password. null (default) lets Redshift generate it and keep it in AWS Secrets Manager, encrypted with this stack's KMS key (output redshift_admin_secret_arn)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition = var.redshift_admin_password == null || (
      length(coalesce(var.redshift_admin_password, "x")) >= 8 &&
      length(coalesce(var.redshift_admin_password, "x")) <= 64 &&
      can(regex("[A-Z]", coalesce(var.redshift_admin_password, "x"))) &&
      can(regex("[a-z]", coalesce(var.redshift_admin_password, "x"))) &&
      can(regex("[0-9]", coalesce(var.redshift_admin_password, "x"))) &&
      !can(regex("['\"\\\\/@ ]", coalesce(var.redshift_admin_password, "x")))
    )
    error_message = "redshift_admin_password: 8-64 characters with upper case, lower case and a digit, and none of ' \" \\ / @ or space."
  }
}

variable "redshift_copy_db_users" {
  description = "Database users allowed to run COPY with the COPY role (the login of the redshift_default connection); empty = the admin user only."
  type        = list(string)
  default     = []
}

variable "redshift_publicly_accessible" {
  description = "Give the warehouse a public address. Keep false: reach it from inside the VPC or through a VPN."
  type        = bool
  default     = false
}

variable "redshift_node_type" {
  description = "Node type of the provisioned cluster."
  type        = string
  default     = "ra3.large"
}

variable "redshift_number_of_nodes" {
  description = "Nodes of the provisioned cluster (1 = single-node)."
  type        = number
  default     = 1
}

variable "redshift_snapshot_retention_days" {
  description = "Automated snapshot retention of the provisioned cluster."
  type        = number
  default     = 7
}

variable "redshift_serverless_base_capacity" {
  description = "Base RPUs of the serverless workgroup."
  type        = number
  default     = 8
}
