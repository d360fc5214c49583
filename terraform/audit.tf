# The daily audit (shared/audit, docs/chaos-and-audit.md): a Cloud Run job that reads the
# whole store, read-only, and exits 1 on any broken money invariant (balance != ledger, two
# debits or refunds for one creation, a creation past its deadline, a draft without media,
# a failed creation not refunded...). Cloud Scheduler starts it every night; an alert fires
# when an execution fails. A job, not a function: it reads every document, which outgrows a
# request's timeout as the store grows.
#
# Terraform creates the job from a placeholder image and ignores the image afterwards.
# `make deploy` builds the real image from this repository's source and deploys it by image
# (scripts/deploy.py):
#   1. gcloud builds submit --config=terraform/audit.cloudbuild.yaml --service-account=<build>
#      Google Cloud's buildpacks, as the build account below (gcloud run jobs deploy --source
#      has no --build-service-account: it would build as the project's default build
#      account, which has no roles where the organisation enforces
#      iam.automaticIamGrantsForDefaultServiceAccounts); source staged in the bucket below;
#   2. gcloud run jobs deploy --image=<that image> --command=/cnb/lifecycle/launcher.
# The command: on Cloud Run, a container's command replaces the image's entrypoint, and in
# a buildpacks image the Python runtime and the installed packages are on PATH (and
# PYTHONUSERBASE) only in the environment the CNB launcher builds from the image's layers
# ("launcher: invokes a chosen process within the container", github.com/buildpacks/lifecycle;
# a custom command run through the launcher keeps that environment,
# https://buildpacks.io/docs/for-app-developers/how-to/build-outputs/specify-launch-process).
# A bare `python` fails with "python: not found". python3 is the name Google Cloud's Python
# buildpack itself runs (pkg/python/python.go, GoogleCloudPlatform/buildpacks).

locals {
  audit_command = ["/cnb/lifecycle/launcher"]
  audit_args    = ["python3", "-m", "shared.audit", "audit", "--json"]
  # Where make deploy pushes the job's image; Cloud Run pins the digest at deploy time.
  audit_image = "${var.region}-docker.pkg.dev/${var.project_id}/${var.name_prefix}-jobs/audit:latest"
}

resource "google_service_account" "auditor" {
  account_id   = "${var.name_prefix}-auditor"
  display_name = "${var.name_prefix} daily audit of the store (read-only)"
  depends_on   = [google_project_service.enabled]
}

# Read every document, write none: the smallest predefined Firestore role that reads.
resource "google_project_iam_member" "auditor_reads_firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.auditor.email}"
}

resource "google_cloud_run_v2_job" "audit" {
  name                = "${var.name_prefix}-audit"
  location            = var.region
  deletion_protection = false
  labels              = var.labels

  template {
    task_count = 1
    template {
      service_account = google_service_account.auditor.email
      max_retries     = 0 # a failed audit is a finding, not a flake: it alerts
      timeout         = "3600s"
      containers {
        image   = "us-docker.pkg.dev/cloudrun/container/job:latest" # placeholder, see above
        command = local.audit_command
        args    = local.audit_args
        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }
        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_project_service.enabled]
}

# The job's images. A repository of this stack's own (not cloud-run-source-deploy, which
# gcloud creates for `--source` deploys, nor gcf-artifacts, which Cloud Functions manages):
# the build account pushes here (roles/artifactregistry.writer, identities.tf).
resource "google_artifact_registry_repository" "jobs" {
  #checkov:skip=CKV_GCP_84:one job image built from this public repository's code; Google-managed encryption is enough
  repository_id = "${var.name_prefix}-jobs"
  location      = var.region
  format        = "DOCKER"
  description   = "${var.name_prefix}: images of the Cloud Run jobs (the daily audit), pushed by make deploy"

  # Every deploy pushes :latest again; the images it replaced are untagged and go after 30 days.
  cleanup_policies {
    id     = "untagged-after-30-days"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# The source `make deploy` uploads for the job's build (gcloud builds submit
# --gcs-source-staging-dir): a bucket the build account may read, instead of gcloud's
# default <project>_cloudbuild bucket, which it may not (its storage grant covers only the
# functions' source buckets, identities.tf). Kept a week.
resource "google_storage_bucket" "job_sources" {
  #checkov:skip=CKV_GCP_62:access logs of a bucket that holds copies of this repository's code, kept a week, would log nothing of value
  #checkov:skip=CKV_GCP_78:versioning of short-lived build inputs that are uploaded again on every deploy
  name                        = "${var.project_id}-${var.name_prefix}-job-src"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # build inputs only

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "build_reads_job_sources" {
  bucket = google_storage_bucket.job_sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Only the scheduler's account may start the job.
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_audit" {
  name     = google_cloud_run_v2_job.audit.name
  location = google_cloud_run_v2_job.audit.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_cloud_scheduler_job" "audit" {
  name        = "${var.name_prefix}-audit"
  region      = var.region
  description = "Runs the read-only audit of every money invariant, daily"
  schedule    = "30 4 * * *"
  time_zone   = "Etc/UTC"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.audit.name}:run"

    # The Cloud Run Admin API takes an OAuth access token (not an OIDC identity token).
    oauth_token {
      service_account_email = google_service_account.invoker.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_audit]
}

resource "google_monitoring_alert_policy" "audit_failed" {
  display_name          = "${var.name_prefix}: the daily audit found violations or could not run"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "a failed audit execution"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/job/completed_execution_count\" AND resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.audit.name}\" AND metric.labels.result=\"failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The audit exits 1 when an invariant is broken (its log lists every violation, with the JSON figures) and 2 when the store could not be read. Rerun it by hand: `gcloud run jobs execute ${google_cloud_run_v2_job.audit.name} --region=${var.region}`; locally against production: `GOOGLE_CLOUD_PROJECT=${var.project_id} make audit`."
  }
}
