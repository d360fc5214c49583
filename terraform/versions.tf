# Terraform and provider versions. hashicorp/google (no google-beta), so that every google_*
# block can be checked against one schema: tests/terraform/google_provider_schema.json,
# extracted from hashicorp/google 8.7.0 by `make terraform-schema`. hashicorp/time for
# time_sleep only (propagation.tf), checked against tests/terraform/time_provider_schema.json
# (hashicorp/time 0.14.2, scripts/terraform_time_schema.py).
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.14"
    }
  }

  # State: keep it in a GCS bucket for any shared use (it holds no secret value: secrets
  # are added to Secret Manager outside Terraform). For example, in backend.tf:
  #   terraform { backend "gcs" { bucket = "<project>-tfstate"  prefix = "creator" } }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { app = var.name_prefix })
}
