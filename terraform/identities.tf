# Service accounts and IAM, least privilege: each grant says what needs it.
#
#   api      the public function: Firestore, queue (create + read), Vertex AI (images), R2
#            secrets, and acts as the invoker to attach its OIDC token to tasks
#   worker   the private function: Firestore, Vertex AI (Veo), R2 secrets, creates its own
#            poll tasks (so it acts as the invoker too)
#   invoker  the identity in the OIDC tokens of Cloud Tasks and Cloud Scheduler: may invoke
#            the worker, nothing else
#   build    Cloud Build's identity for building both functions from source
#
# Whoever runs `make apply` / `make deploy` needs roles/iam.serviceAccountUser on the api,
# worker and build accounts (to deploy functions running as them) and on the invoker (to
# create the scheduler job that uses it): docs/deploy.md.

resource "google_service_account" "api" {
  account_id   = "${var.name_prefix}-api"
  display_name = "${var.name_prefix} api function"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "worker" {
  account_id   = "${var.name_prefix}-worker"
  display_name = "${var.name_prefix} video worker function"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "invoker" {
  account_id   = "${var.name_prefix}-tasks-invoker"
  display_name = "${var.name_prefix} Cloud Tasks and Cloud Scheduler caller of the worker"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "${var.name_prefix} Cloud Build for the functions"
  depends_on   = [google_project_service.enabled]
}

locals {
  runtime_members = {
    api    = "serviceAccount:${google_service_account.api.email}"
    worker = "serviceAccount:${google_service_account.worker.email}"
  }
}

# Firestore: both read and write users, creations, ledger entries and idempotency keys in
# transactions. roles/datastore.user is the smallest predefined role with read/write on
# documents (no index or database administration).
resource "google_project_iam_member" "firestore_user" {
  for_each = local.runtime_members

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value
}

# Vertex AI: the worker starts and polls Veo operations; the api generates images with the
# Gemini image model (GENAI_BACKEND=vertex: no API key at all).
resource "google_project_iam_member" "vertex_user" {
  for_each = local.runtime_members

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = each.value
}

# Cloud Tasks, on this queue only: both create tasks (the api the start step, the worker
# its polls).
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.runtime_members

  name     = google_cloud_tasks_queue.video.name
  location = google_cloud_tasks_queue.video.location
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value
}

# The api's queue health gate calls GetQueue (cloudtasks.queues.get), which
# roles/cloudtasks.enqueuer lacks: without it every submit would be refused as "queue
# unavailable". The operator's dashboard (/admin, admins only) pauses and resumes the queue
# through the api. Cancel deletes the creation's start task (DeleteTask,
# cloudtasks.tasks.delete): without it every cancel leaves its task behind. No predefined
# role has exactly these four: roles/cloudtasks.queueAdmin would also let the api delete or
# purge the queue, and roles/cloudtasks.taskDeleter adds project-wide reads. So a custom
# role, bound on this queue. The worker only creates tasks (the enqueuer role above); the
# invoker, the auditor and the build account call no Cloud Tasks method.
resource "google_project_iam_custom_role" "queue_operator" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_queue_operator"
  title       = "Video queue operator (${var.name_prefix})"
  description = "Read, pause and resume the video generation queue, delete its tasks: the api's health gate, operator dashboard and cancel."
  permissions = [
    "cloudtasks.queues.get",
    "cloudtasks.queues.pause",
    "cloudtasks.queues.resume",
    "cloudtasks.tasks.delete",
  ]
}

# The start queue (queue.tf) carries the start steps: the same grants as the video queue
# (the api enqueues starts, the reconciler in the worker requeues them; the api deletes a
# cancelled video's start task and pauses and resumes both queues).
resource "google_cloud_tasks_queue_iam_member" "start_enqueuer" {
  for_each = local.runtime_members

  name     = google_cloud_tasks_queue.video_start.name
  location = google_cloud_tasks_queue.video_start.location
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value
}

# The reconciler (in the worker) asks whether a waiting video's start task is still in line
# (GetTask: cloudtasks.tasks.get) before it requeues it: a second start task would take one
# of the pace's dispatches. No predefined role has that permission alone
# (roles/cloudtasks.viewer adds listing every task and queue), so a custom role, bound on
# the start queue only.
resource "google_project_iam_custom_role" "start_task_reader" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_start_task_reader"
  title       = "Video start task reader (${var.name_prefix})"
  description = "Read a task of the start queue: the reconciler's check that a waiting video is still in line."
  permissions = ["cloudtasks.tasks.get"]
}

resource "google_cloud_tasks_queue_iam_member" "worker_start_task_reader" {
  name     = google_cloud_tasks_queue.video_start.name
  location = google_cloud_tasks_queue.video_start.location
  role     = google_project_iam_custom_role.start_task_reader.name
  member   = local.runtime_members.worker
}

resource "google_cloud_tasks_queue_iam_member" "api_start_queue_operator" {
  name     = google_cloud_tasks_queue.video_start.name
  location = google_cloud_tasks_queue.video_start.location
  role     = google_project_iam_custom_role.queue_operator.name
  member   = local.runtime_members.api
}

resource "google_cloud_tasks_queue_iam_member" "api_queue_operator" {
  name     = google_cloud_tasks_queue.video.name
  location = google_cloud_tasks_queue.video.location
  role     = google_project_iam_custom_role.queue_operator.name
  member   = local.runtime_members.api
}

# Creating a task with an OIDC token for the invoker account needs iam.serviceAccounts.actAs
# on that account: the api (start tasks) and the worker (poll tasks).
resource "google_service_account_iam_member" "act_as_invoker" {
  for_each = local.runtime_members

  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# The invoker (Cloud Tasks' and Cloud Scheduler's OIDC identity) may invoke the worker, and
# nothing else. 2nd gen functions are invoked through their Cloud Run service, which has
# the function's name.
resource "google_cloud_run_v2_service_iam_member" "worker_invoker" {
  name     = google_cloudfunctions2_function.fn["worker"].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

# The api is public: it authenticates users itself, with Firebase ID tokens checked in code.
resource "google_cloud_run_v2_service_iam_member" "api_public" {
  name     = google_cloudfunctions2_function.fn["api"].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Build identity. Cloud Build needs to write its logs, push the function images to Artifact
# Registry (the gcf-artifacts repository Cloud Functions creates) and read the source
# archives: the bootstrap bucket (functions.tf) and the gcf-v2-sources-* buckets that
# `gcloud functions deploy --source=.` uploads to.
resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build_images" {
  project = var.project_id
  role    = "roles/artifactregistry.writer"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "function-sources-only"
    description = "Only the buckets Cloud Functions uploads sources to."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
  }
}

resource "google_storage_bucket_iam_member" "build_bootstrap_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}
