# What `make deploy` (scripts/deploy.py) reads with `terraform output -json`: every setting of
# `gcloud functions deploy` comes from here, so the code deploy and Terraform cannot disagree.

output "project_id" {
  description = "The project."
  value       = var.project_id
}

output "region" {
  description = "Region of the functions and the queue."
  value       = var.region
}

output "api_url" {
  description = "The api's URL (the app's backend): POST <api_url>/api/generate/video."
  value       = google_cloudfunctions2_function.fn["api"].service_config[0].uri
}

output "credit_audience" {
  description = "The audience of the payments backend's ID tokens (API_URL): it POSTs <credit_audience>/api/credits as one of var.payments_callers (docs/deploy.md)."
  value       = local.api_url
}

output "worker_url" {
  description = "The worker's run.app URL (WORKER_URL); only Cloud Tasks and Cloud Scheduler may call it."
  value       = local.worker_url
}

output "queue" {
  description = "The Cloud Tasks queue (projects/<p>/locations/<r>/queues/<name>)."
  value       = google_cloud_tasks_queue.video.id
}

output "functions" {
  description = "Per function (api, worker), the settings of `gcloud functions deploy`: name, entry_point, runtime, service_account, build_service_account, environment, secrets (env var -> secret, version latest), ingress, public, memory, cpu, concurrency, min/max_instances, timeout_seconds."
  value       = local.functions
}

output "secrets_to_fill" {
  description = "Secrets whose values you add once, outside Terraform (docs/deploy.md)."
  value       = values(local.secret_env)
}

output "audit_job" {
  description = "The daily audit's Cloud Run job, for make deploy: name, service_account, command and args (the container's), image (where the build pushes), build_service_account, source_bucket (gcloud builds submit's staging bucket)."
  value = {
    name                  = google_cloud_run_v2_job.audit.name
    service_account       = google_service_account.auditor.email
    command               = local.audit_command
    args                  = local.audit_args
    image                 = local.audit_image
    build_service_account = google_service_account.build.id
    source_bucket         = google_storage_bucket.job_sources.name
  }
}
