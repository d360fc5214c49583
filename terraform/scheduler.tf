# The reconcile sweep: every minute, Cloud Scheduler POSTs <worker>/tasks/reconcile with an
# OIDC token of the invoker account (the worker checks it in code, and IAM lets only that
# account invoke the worker). The sweep re-queues creations whose task was lost and fails +
# refunds those past their deadline, so every creation ends within its deadline plus a minute.
resource "google_cloud_scheduler_job" "reconcile" {
  name        = "${var.name_prefix}-reconcile"
  region      = var.region
  description = "Sweeps stuck creations: re-queue, or fail and refund past the deadline"
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"
  # A sweep is bounded (at most 200 creations) and takes what a worker step may take.
  attempt_deadline = "${var.task_dispatch_deadline_seconds}s"

  retry_config {
    # No retry: the next minute's run is the retry, and two sweeps never overlap by design.
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${local.worker_url}/tasks/reconcile"

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = "${local.worker_url}/tasks/reconcile"
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.worker_invoker]
}
