# The two Cloud Functions (2nd gen): `api` (public) and `video_worker` (private).
#
# Who ships the code: `make deploy` (gcloud functions deploy --gen2 --source=., taking every
# setting from `terraform output`), never Terraform. Terraform creates each function once
# from a placeholder (bootstrap/function-stub.zip: answers 503 "not deployed yet") and then
# ignores the source (lifecycle below), so a code change needs no Terraform run, and a
# Terraform run never rolls the code back to what it last uploaded. Every other setting
# (runtime, entry point, identity, environment, secrets, scaling, ingress) is Terraform's,
# and `make deploy` passes exactly the same values, read from `terraform output -json`.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  api_name    = "${var.name_prefix}-api"
  worker_name = "${var.name_prefix}-video-worker"

  # One pin for the runtime: ../.python-version ("3.11"), which the tests run on too.
  python_version = trimspace(file("${path.module}/../.python-version"))
  runtime        = "python${replace(local.python_version, ".", "")}"

  # The worker's deterministic run.app URL (https://cloud.google.com/run/docs/triggering/https-request,
  # "Deterministic URL"): known before the function exists, so the worker can be told its own
  # URL without a cycle. Cloud Tasks and Cloud Scheduler must call a run.app URL (not the
  # cloudfunctions.net one) for the internal ingress below to let them in.
  worker_url = "https://${local.worker_name}-${data.google_project.this.number}.${var.region}.run.app"
  # The api's own run.app URL, known before it exists the same way: the audience of the
  # payments backend's ID tokens (API_URL, POST /api/credits).
  api_url = "https://${local.api_name}-${data.google_project.this.number}.${var.region}.run.app"

  # What production configuration (shared/config.py) reads; the same for both functions,
  # since main.py loads one configuration for both. tests/terraform checks that
  # shared.config.settings_from_env accepts exactly this (plus the secrets, secrets.tf).
  # An empty value means "the code's default" (FIREBASE_PROJECT_ID, R2_PUBLIC_BASE_URL) and
  # is left out rather than set empty.
  app_env = { for name, value in local.app_settings : name => value if value != "" }
  app_settings = {
    APP_ENV                        = "production"
    GOOGLE_CLOUD_PROJECT           = var.project_id
    FIREBASE_PROJECT_ID            = var.firebase_project_id
    ALLOWED_ORIGINS                = join(",", var.allowed_origins)
    TASKS_LOCATION                 = google_cloud_tasks_queue.video.location
    TASKS_QUEUE                    = google_cloud_tasks_queue.video.name
    TASKS_START_QUEUE              = google_cloud_tasks_queue.video_start.name
    VEO_STARTS_PER_MINUTE          = tostring(var.veo_starts_per_minute)
    MAX_QUEUE_WAIT_SECONDS         = tostring(var.max_queue_wait_seconds)
    TASKS_SERVICE_ACCOUNT          = google_service_account.invoker.email
    WORKER_URL                     = local.worker_url
    API_URL                        = local.api_url
    CREDIT_CALLERS                 = join(",", var.payments_callers)
    WORKER_AUTH                    = "oidc"
    GENAI_BACKEND                  = "vertex"
    VERTEX_LOCATION                = var.vertex_location
    VIDEO_MODEL                    = var.video_model
    IMAGE_MODEL                    = var.image_model
    R2_ACCOUNT_ID                  = var.r2_account_id
    R2_BUCKET                      = var.r2_bucket
    R2_PUBLIC_BASE_URL             = var.r2_public_base_url
    VIDEO_DEADLINE_SECONDS         = tostring(var.video_deadline_seconds)
    TASK_DISPATCH_DEADLINE_SECONDS = tostring(var.task_dispatch_deadline_seconds)
  }

  # Read by functions-framework, not by our configuration. LOG_EXECUTION_ID: Cloud Functions
  # sets it on every 2nd gen function; declaring it keeps plans free of a permanent diff.
  # THREADS: gunicorn's threads per instance, equal to the request concurrency (its default,
  # 4 per CPU, would queue requests inside an instance that Cloud Run thinks are running).
  api_env    = merge(local.app_env, { LOG_EXECUTION_ID = "true", THREADS = tostring(var.api_concurrency) })
  worker_env = merge(local.app_env, { LOG_EXECUTION_ID = "true", THREADS = tostring(var.worker_concurrency) })

  # Each function's settings, under the names `make deploy` reads (output "functions").
  # Secrets by project NUMBER: gcloud functions deploy stores `projects/<number>/secrets/..`
  # whatever it is given, and the provider compares secret_environment_variables.project_id
  # as written ("only project number is supported by this field",
  # hashicorp/terraform-provider-google#11383): with the project id, every plan after a
  # `make deploy` showed a change and `make apply` redeployed both functions.
  secret_paths = { for env, secret in local.secret_env : env => "projects/${data.google_project.this.number}/secrets/${secret}" }
  # What both functions share.
  function_common = {
    runtime               = local.runtime
    build_service_account = google_service_account.build.id
    secrets               = local.secret_paths
    cpu                   = "1"
  }
  functions = {
    api = merge(local.function_common, {
      name            = local.api_name
      entry_point     = "api"
      description     = "Public HTTPS API of the creator app (Firebase ID tokens checked in code)"
      service_account = google_service_account.api.email
      environment     = local.api_env
      memory          = "512Mi"
      concurrency     = var.api_concurrency
      min_instances   = var.api_min_instances
      max_instances   = var.api_max_instances
      # An image request waits for the Gemini image model (60 s request timeout) in-request.
      timeout_seconds = 120
      # Public: the app calls it from browsers; users are authenticated in code.
      ingress = "ALLOW_ALL"
      public  = true
    })
    worker = merge(local.function_common, {
      name            = local.worker_name
      entry_point     = "video_worker"
      description     = "Private video worker: Cloud Tasks steps and the Cloud Scheduler reconcile sweep"
      service_account = google_service_account.worker.email
      environment     = local.worker_env
      memory          = "1Gi" # a finished video (tens of MB) is downloaded and uploaded to R2
      concurrency     = var.worker_concurrency
      min_instances   = 0
      max_instances   = var.worker_max_instances
      # Equal to the dispatch deadline Cloud Tasks sets on each task: a step is cut when
      # Cloud Tasks stops waiting for it (then retried), never left running unseen.
      timeout_seconds = var.task_dispatch_deadline_seconds
      # ALLOW_INTERNAL_ONLY by default. Cloud Run's ingress documentation
      # (https://cloud.google.com/run/docs/securing/ingress, "Internal") lets in, besides
      # VPC traffic, requests from Cloud Scheduler and Cloud Tasks (and Eventarc, Pub/Sub,
      # Workflows, ...) in the same project that use the default run.app URL, which is why
      # WORKER_URL and the scheduler target the run.app URL. Set var.worker_ingress to
      # ALLOW_ALL if that ever fails: the worker then stays private by IAM alone (no allUsers
      # invoker; only the invoker account has roles/run.invoker) plus the OIDC check in code.
      ingress = var.worker_ingress
      public  = false
    })
  }
}

# Holds the placeholder the functions are first created from (Terraform never uploads the
# real code: see the top of this file).
resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:access logs of a bucket that only holds a public placeholder archive would log nothing of value
  name                        = "${var.project_id}-${var.name_prefix}-fn-bootstrap"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # it only holds the placeholder

  versioning {
    enabled = true
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "stub" {
  # Named by content: a changed placeholder is a new object, never an overwritten one.
  name   = "function-stub-${filemd5("${path.module}/bootstrap/function-stub.zip")}.zip"
  bucket = google_storage_bucket.source.name
  source = "${path.module}/bootstrap/function-stub.zip"
}

# Both functions, from local.functions above.
resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:the api must be reachable from browsers (ALLOW_ALL; users are authenticated in code); the worker is ALLOW_INTERNAL_ONLY by default (var.worker_ingress)
  for_each = local.functions

  name        = each.value.name
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = each.value.runtime
    entry_point     = each.value.entry_point
    service_account = each.value.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.stub.name
      }
    }
  }

  service_config {
    service_account_email            = each.value.service_account
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    timeout_seconds                  = each.value.timeout_seconds
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = each.value.environment

    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.key
        project_id = data.google_project.this.number # not the id: see local.secret_paths
        secret     = google_secret_manager_secret.r2[secret_environment_variables.key].secret_id
        version    = "latest"
      }
    }
  }

  lifecycle {
    # The code is `make deploy`'s (see the top of this file).
    ignore_changes = [build_config[0].source]
  }

  # The grants the build and the secrets need, and the wait for them to propagate
  # (propagation.tf): one `make apply` on an empty project succeeds.
  depends_on = [
    google_secret_manager_secret_iam_member.r2_accessor,
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_bootstrap_source,
    time_sleep.grants_propagated,
  ]
}
