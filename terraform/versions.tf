# Terraform and provider pins. The AWS provider version is the one whose schema tests/infra checks every
# resource argument against (npm @cdktf/provider-aws, generated from hashicorp/aws 6.25.0): change both
# together. `terraform init` writes .terraform.lock.hcl with the checksums; commit it from the first init.
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.25.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, {
      Project   = var.project
      ManagedBy = "terraform"
    })
  }
}
