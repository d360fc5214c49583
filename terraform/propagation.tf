# Waits that let one `make apply` on an empty project succeed (docs/deploy.md, "Why one
# make apply works"). Google Cloud applies an IAM grant or a new log-based metric
# eventually, not when the API call that made it returns, and `depends_on` orders only the
# calls. time_sleep (hashicorp/time) waits once, when it is created, and again only when
# one of its triggers changes: later applies do not wait.

# IAM: "Policy changes typically take 2 minutes to propagate ... can take 7 minutes or
# longer" (https://cloud.google.com/iam/docs/access-change-propagation). The functions are
# built by the build account right after its grants (functions.tf), and Cloud Functions
# checks that each runtime account can read the secrets it mounts when it creates the
# function: without this wait the first apply fails on a grant that is not seen yet.
resource "time_sleep" "grants_propagated" {
  create_duration = "150s"

  triggers = {
    build_account   = google_service_account.build.email
    runtime_members = join(",", values(local.runtime_members))
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_project_iam_member.build_images,
    google_storage_bucket_iam_member.build_bootstrap_source,
    google_secret_manager_secret_iam_member.r2_accessor,
    # Not needed by Terraform's own build of the placeholder, but by the first make deploy
    # that may follow the apply at once (the sources it uploads, the audit job's build).
    google_project_iam_member.build_sources,
    google_storage_bucket_iam_member.build_reads_job_sources,
  ]
}

# Log-based metrics: an alert policy on a metric created in the same apply is refused with
# 404 "Cannot find metric(s) that match type ... could take up to 10 minutes", and
# depends_on does not help (hashicorp/terraform-provider-google#11102, open). Alert
# policies on the user/ metrics of monitoring.tf depend on this wait; it starts again when
# the set of metrics changes, so a metric added later is waited for too.
resource "time_sleep" "log_metrics_visible" {
  create_duration = "600s"

  triggers = {
    metrics = join(",", sort(concat(
      [for m in google_logging_metric.counter : m.name],
      [
        google_logging_metric.video_time_to_draft.name,
        google_logging_metric.video_oldest_wait.name,
        google_logging_metric.video_waiting.name,
      ],
    )))
  }
}
