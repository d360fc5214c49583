# Every API the product needs, enabled. disable_on_destroy = false: destroying this stack
# must never switch an API off for whatever else lives in the project.
locals {
  services = toset([
    "aiplatform.googleapis.com",           # Veo (video) and Gemini (images) through Vertex AI
    "artifactregistry.googleapis.com",     # the functions' container images
    "cloudbuild.googleapis.com",           # builds the functions from source
    "cloudfunctions.googleapis.com",       # Cloud Functions 2nd gen
    "cloudresourcemanager.googleapis.com", # project IAM grants through Terraform
    "cloudscheduler.googleapis.com",       # the reconcile sweep every minute
    "cloudtasks.googleapis.com",           # the video-generation queue
    "firebaserules.googleapis.com",        # releases firestore.rules (firestore.tf)
    "firestore.googleapis.com",            # users, creations, ledger, idempotency keys
    "iam.googleapis.com",                  # service accounts
    "logging.googleapis.com",              # structured logs and log-based metrics
    "monitoring.googleapis.com",           # alert policies and the dashboard
    "run.googleapis.com",                  # 2nd gen functions run as Cloud Run services
    "secretmanager.googleapis.com",        # the R2 credentials
    "storage.googleapis.com",              # the bootstrap source bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.services

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
