# The Cloud Tasks queue the api and the worker put video steps on (TASKS_QUEUE).
#
# How the values fit the worker and the creation's deadline:
# - Each task is ONE short step (start, or one poll) of a creation's state machine. The
#   worker answers 2xx when the step is done or settled for good, and 503 for a transient
#   error (Veo 5xx/429, Firestore unavailable, R2 down) so that Cloud Tasks retries it.
# - The worker keeps answering 503 to a transient error only until the creation's deadline
#   (VIDEO_DEADLINE_SECONDS after submission, var.video_deadline_seconds, default 1800 s):
#   the first delivery after it fails the creation, refunds it, and answers 200. That is
#   the worker's transient-error horizon. A task's first attempt comes at or after the
#   submission, so retrying for deadline + one max_backoff + one step
#   (TASK_DISPATCH_DEADLINE_SECONDS, default 120 s) is enough to reach a delivery that
#   settles it: 1800 + 60 + 120 = 1980 s <= max_retry_duration (3600 s). The precondition
#   below keeps that true for any variable values.
# - If a task's retries still ran out (or a task were lost), the reconciler (scheduler.tf,
#   every minute) re-queues the stuck creation or fails and refunds it past its deadline.
locals {
  queue_name                = "${var.name_prefix}-video-generation"
  queue_min_backoff_seconds = 2  # a transient 503 is retried about as soon as a poll would be
  queue_max_backoff_seconds = 60 # during an outage, at most one attempt a minute per task
  queue_max_doublings       = 5  # 2, 4, 8, 16, 32 s, then 60 s steps
  queue_max_retry_seconds   = 3600
}

resource "google_cloud_tasks_queue" "video" {
  name     = local.queue_name
  location = var.region

  retry_config {
    # -1: no attempt limit; max_retry_duration bounds the retries (both must be reached).
    max_attempts       = -1
    min_backoff        = "${local.queue_min_backoff_seconds}s"
    max_backoff        = "${local.queue_max_backoff_seconds}s"
    max_doublings      = local.queue_max_doublings
    max_retry_duration = "${local.queue_max_retry_seconds}s"
  }

  rate_limits {
    # Never more steps in flight than the workers can take at once (instances x
    # concurrency): beyond it Cloud Run answers 429 and the attempt is only wasted.
    max_concurrent_dispatches = var.worker_max_instances * var.worker_concurrency
    # A step takes about a second of wall time; 100/s is above what the concurrency bound
    # lets through and leaves Vertex AI's own quota (429: retried) as the real limiter.
    max_dispatches_per_second = 100
  }

  # Task-attempt logs (AttemptDispatch / AttemptResponse). A video makes tens of polls, so
  # a sample is enough to see attempt errors; the worker logs every step itself (task.step).
  stackdriver_logging_config {
    sampling_ratio = var.queue_log_sampling_ratio
  }

  lifecycle {
    precondition {
      condition     = local.queue_max_retry_seconds >= var.video_deadline_seconds + local.queue_max_backoff_seconds + var.task_dispatch_deadline_seconds
      error_message = "The queue's retry window must outlast the creation's deadline plus one backoff and one step."
    }
  }

  depends_on = [google_project_service.enabled]
}

# The start steps' own queue (TASKS_START_QUEUE), paced by Cloud Tasks itself at
# VEO_STARTS_PER_MINUTE: Vertex AI allows about 10 Veo requests a minute per project and
# base model, and answers 429 past it. Every start goes through this queue, whichever
# instance enqueued it, so the pace holds across all instances with no shared counter;
# polls stay on the video queue above and are never held behind waiting starts. A start
# refused anyway (429) is retried by this queue's policy, at the same pace
# (docs/DESIGN.md, "Veo's quota").
resource "google_cloud_tasks_queue" "video_start" {
  name     = "${var.name_prefix}-video-start"
  location = var.region

  retry_config {
    max_attempts       = -1
    min_backoff        = "${local.queue_min_backoff_seconds}s"
    max_backoff        = "${local.queue_max_backoff_seconds}s"
    max_doublings      = local.queue_max_doublings
    max_retry_duration = "${local.queue_max_retry_seconds}s"
  }

  rate_limits {
    max_concurrent_dispatches = var.worker_max_instances * var.worker_concurrency
    max_dispatches_per_second = var.veo_starts_per_minute / 60
  }

  stackdriver_logging_config {
    sampling_ratio = var.queue_log_sampling_ratio
  }

  lifecycle {
    precondition {
      # A start is retried (429s) until the creation's wait ends: the retries must outlast it.
      condition     = local.queue_max_retry_seconds >= var.max_queue_wait_seconds + local.queue_max_backoff_seconds + var.task_dispatch_deadline_seconds
      error_message = "The start queue's retry window must outlast the creation's wait for its start plus one backoff and one step."
    }
  }

  depends_on = [google_project_service.enabled]
}
