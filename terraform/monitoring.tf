# What operators watch: log-based metrics from the structured log events, alert policies,
# and one dashboard.
#
# The functions log one JSON line per event (shared/events.py, shared/logs.py) with the
# event fields at the top level: jsonPayload.event = "video.submitted", jsonPayload.
# queueErrorCode, ... Logs of 2nd gen functions are those of their Cloud Run services
# (resource.type "cloud_run_revision", label service_name = the function's name).
# tests/terraform checks that every event a filter names is one the code emits.

locals {
  # Two query languages: log_scope is a Logging query (the log-based metrics' filters only);
  # the alerts and the dashboard read time series with Monitoring filters (functions_filter,
  # queue_filter, ... below), where a set of values is one_of("a", "b"), not ("a" OR "b"),
  # and there is no `:`, `=~`, severity or jsonPayload
  # (https://cloud.google.com/monitoring/api/v3/filters#filter_syntax;
  # https://cloud.google.com/logging/docs/view/logging-query-language).
  # tests/terraform/test_terraform_monitoring_api.py parses every Monitoring filter.
  log_scope = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"${local.api_name}\" OR \"${local.worker_name}\")"

  # Counters: one point per log line that matches. labels: label -> extractor.
  log_counters = {
    video_submitted = {
      description = "Videos accepted: debited and their first task queued (202)."
      filter      = "jsonPayload.event=\"video.submitted\""
      labels      = {}
    }
    video_enqueue_attempts = {
      description = "Videos debited whose first task the api then tried to queue (accepted or not): the denominator of the enqueue-failure ratio."
      filter      = "jsonPayload.event=(\"video.submitted\" OR \"video.enqueue_failed\")"
      labels      = {}
    }
    video_enqueue_failed = {
      description = "Videos whose first task could not be queued (refunded at once, 503), by the queue's error code."
      filter      = "jsonPayload.event=\"video.enqueue_failed\""
      labels      = { queue_error_code = "EXTRACT(jsonPayload.queueErrorCode)" }
    }
    refunded = {
      # Money, not failures: one line per refund-<id> ledger entry, whatever the ending.
      description = "Tokens given back: creations refunded (each one that ended failed, expired or cancelled), by kind (video, image) and reason (its error code; cancelled for a cancel)."
      filter      = "jsonPayload.event=(\"video.refunded\" OR \"image.refunded\")"
      labels = {
        kind   = "REGEXP_EXTRACT(jsonPayload.event, \"^([a-z]+)\\\\.\")"
        reason = "EXTRACT(jsonPayload.reason)"
      }
    }
    creations_failed = {
      # What the failures alert counts: failures and expiries of both kinds, never a cancel.
      description = "Creations that ended failed or expired (and were refunded), by kind and error code; cancels are not failures (video_cancelled)."
      filter      = "jsonPayload.event=(\"video.failed\" OR \"video.expired\" OR \"image.failed\" OR \"image.expired\")"
      labels = {
        kind       = "REGEXP_EXTRACT(jsonPayload.event, \"^([a-z]+)\\\\.\")"
        error_code = "EXTRACT(jsonPayload.errorCode)"
      }
    }
    video_failed = {
      # A video ends once, logged by the transaction that ended it: video.failed, or
      # video.expired (error code deadline_exceeded) when its deadline passed.
      description = "Videos that ended failed or expired (and refunded), by error code (deadline_exceeded: expired). Cancels are counted by video_cancelled."
      filter      = "jsonPayload.event=(\"video.failed\" OR \"video.expired\")"
      labels      = { error_code = "EXTRACT(jsonPayload.errorCode)" }
    }
    video_cancelled = {
      description = "Videos their users cancelled before generation started (refunded): not a failure."
      filter      = "jsonPayload.event=\"video.cancelled\""
      labels      = {}
    }
    image_completed = {
      description = "Images generated and stored."
      filter      = "jsonPayload.event=\"image.completed\""
      labels      = {}
    }
    image_failed = {
      description = "Image requests that failed after the debit (refunded at once, or by the reconciler when the request died), by error code."
      filter      = "jsonPayload.event=(\"image.failed\" OR \"image.expired\")"
      labels      = { error_code = "EXTRACT(jsonPayload.errorCode)" }
    }
    queue_gate_refused = {
      description = "Video submissions refused before any charge because the queue is paused, disabled or unreachable (503, not charged)."
      filter      = "jsonPayload.event=\"video.rejected_queue_closed\""
      labels      = { queue_status = "EXTRACT(jsonPayload.queueStatus)" }
    }
    task_steps = {
      description = "Worker steps run, by step and HTTP status (503: transient, Cloud Tasks retries)."
      filter      = "jsonPayload.event=\"task.step\""
      labels = {
        step        = "EXTRACT(jsonPayload.step)"
        http_status = "EXTRACT(jsonPayload.httpStatus)"
      }
    }
    video_start_deferred = {
      # The provider's 429s: a start refused before it ran goes back in line (waiting, not
      # failure; docs/DESIGN.md, "Veo's quota"). code generator_rate_limited is the 429.
      description = "Video starts the provider refused before they ran (code generator_rate_limited: its 429 RESOURCE_EXHAUSTED; or no connection): each waits in line again, nothing refunded."
      filter      = "jsonPayload.event=\"video.start_deferred\""
      labels      = { code = "EXTRACT(jsonPayload.code)" }
    }
    reconcile_swept = {
      description = "Reconcile sweeps that ran to their end (every minute, scheduler.tf): none for 15 minutes is the sweeps_stopped alert."
      filter      = "jsonPayload.event=\"reconcile.swept\""
      labels      = {}
    }
    reconcile_found_stuck = {
      description = "Reconcile sweeps that found stuck creations (a lost task, an interrupted start, a creation past its deadline)."
      filter      = "jsonPayload.event=\"reconcile.swept\" AND jsonPayload.scanned>0"
      labels      = {}
    }
  }

  metric_type = merge(
    { for key, _ in local.log_counters : key => "logging.googleapis.com/user/${var.name_prefix}_${key}" },
    # The distributions below, one resource each (their buckets differ).
    {
      video_time_to_draft = "logging.googleapis.com/user/${var.name_prefix}_video_time_to_draft"
      video_oldest_wait   = "logging.googleapis.com/user/${var.name_prefix}_video_oldest_wait"
      video_waiting       = "logging.googleapis.com/user/${var.name_prefix}_video_waiting"
    },
  )
}

resource "google_logging_metric" "counter" {
  for_each = local.log_counters

  name             = "${var.name_prefix}_${each.key}"
  description      = each.value.description
  filter           = "${local.log_scope} AND ${each.value.filter}"
  label_extractors = each.value.labels

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }
}

# video.completed carries latencyMs: submission to `draft`, the time a user waits.
resource "google_logging_metric" "video_time_to_draft" {
  name            = "${var.name_prefix}_video_time_to_draft"
  description     = "Time from a video's submission to its draft (completed), in ms."
  filter          = "${local.log_scope} AND jsonPayload.event=\"video.completed\""
  value_extractor = "EXTRACT(jsonPayload.latencyMs)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 30
      growth_factor      = 1.4
      scale              = 1000 # 1 s, then x1.4 per bucket: up to about 6 days
    }
  }
}

# The start line (issue 21): each reconcile sweep (every minute, scheduler.tf) logs
# video.start_line with waiting (videos accepted, not started) and oldestWaitSeconds (how
# long the oldest of them has waited; 0 when none). A log-based metric has no gauge: one
# point a minute in a distribution, read with ALIGN_MEAN (its exact mean, not a bucket's).
resource "google_logging_metric" "video_oldest_wait" {
  name            = "${var.name_prefix}_video_oldest_wait"
  description     = "How long the oldest video still waiting for its start has waited, in s (0: none waits); one point per reconcile sweep."
  filter          = "${local.log_scope} AND jsonPayload.event=\"video.start_line\""
  value_extractor = "EXTRACT(jsonPayload.oldestWaitSeconds)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
  }

  bucket_options {
    linear_buckets {
      num_finite_buckets = 60
      width              = 60 # one minute each, up to an hour (max_queue_wait_seconds <= 3000)
      offset             = 0
    }
  }
}

resource "google_logging_metric" "video_waiting" {
  name            = "${var.name_prefix}_video_waiting"
  description     = "Videos accepted and still waiting for their start (pending); one point per reconcile sweep."
  filter          = "${local.log_scope} AND jsonPayload.event=\"video.start_line\""
  value_extractor = "EXTRACT(jsonPayload.waiting)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 1 # 1, 2, 4, ... about 500 000
    }
  }
}

# --- Alerts ----------------------------------------------------------------------------

locals {
  queue_filter = "resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=\"${google_cloud_tasks_queue.video.name}\""
  # The charts show both queues, one line each: the start queue's depth is the videos
  # waiting for their start (paced), so the alerts on depth and delay read the video queue's.
  queues_filter = "resource.type=\"cloud_tasks_queue\" AND resource.labels.queue_id=one_of(\"${google_cloud_tasks_queue.video.name}\", \"${google_cloud_tasks_queue.video_start.name}\")"
  worker_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.worker_name}\""
  api_filter    = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.api_name}\""
  # Both functions, in Monitoring's syntax (log_scope is Logging's: a 400 here).
  functions_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=one_of(\"${local.api_name}\", \"${local.worker_name}\")"
}

# Each alert: one threshold condition on one metric (or on a ratio of two), and what to do.
# Thresholds are variables (variables.tf) with their reasons here:
# - enqueue_failures: the outage this product exists to survive (tasks cannot be queued,
#   users get 503 and their refund): more than 5% (var.alert_enqueue_failure_ratio) of the
#   videos debited in 5 minutes.
# - failures: Veo refusing or failing, R2 down past the deadline, the reconciler ending stuck
#   creations: more than var.alert_failures_per_15m (10) creations failed or expired in 15
#   minutes. A user's cancel is no failure: it is refunded too, but not counted here.
# - gate_closed: while the queue is paused, disabled or unreachable the api's gate refuses
#   submits before any debit (503, video.rejected_queue_closed), so they are never enqueue
#   attempts: enqueue_failures sees only the first seconds of an outage (the submits that
#   closed the gate), this one sees all of it. More than var.alert_gate_refusals_per_5m (5)
#   refused submits in 5 minutes; an operator's own pause shows here too.
# - queue_depth (Cloud Tasks' own metric): about one task per video in flight (its next
#   poll), so more than var.alert_queue_depth (200) for 10 minutes means the workers do not
#   keep up, or the queue is paused.
# - task_delay, for the oldest-task age: Cloud Tasks publishes no age of its oldest task; its
#   own queue/task_attempt_delays (how long after its scheduled time each attempt was
#   dispatched) is what grows when tasks wait: p99 above var.alert_task_delay_seconds (60 s)
#   for 10 minutes.
# - worker_errors (Cloud Run's request metric): the worker answers 503 on purpose to a
#   transient error so that Cloud Tasks retries, so some 5xx are normal; more than
#   var.alert_worker_5xx_ratio (20%) of its responses over 10 minutes is not.
# - oldest_wait: a video waits for its start behind the paced start queue and the provider's
#   429s; past max_queue_wait_seconds (1800) it fails with errorCode capacity and is
#   refunded. The oldest wait above var.alert_oldest_wait_seconds (900: half of that) for 5
#   minutes warns while there is time to act. One point a minute (a sweep): 120 s periods,
#   so a sweep a few seconds late leaves no empty one.
# - provider_refusals: with the start queue paced below the provider's quota a 429 is rare
#   (benchmarks/veo_quota.py: 1 or 2 in 90 starts); more than
#   var.alert_provider_refusals_per_15m (10) in 15 minutes means the pace is above the quota.
# - stuck_creations: normally nothing is stuck (polls touch a creation at least every
#   minute). A sweep that finds some after a deploy or a short outage is expected; more than
#   2 such sweeps in 15 minutes means tasks keep getting lost or the worker dies mid-step.
locals {
  ratio_of_sums = { aligner = "ALIGN_SUM", reducer = "REDUCE_SUM" }
  alerts = {
    enqueue_failures = {
      title       = "videos cannot be queued"
      severity    = "CRITICAL"
      condition   = "enqueue failures / enqueue attempts > ${var.alert_enqueue_failure_ratio} over 5 min"
      filter      = "metric.type=\"${local.metric_type.video_enqueue_failed}\" AND resource.type=\"cloud_run_revision\""
      denominator = "metric.type=\"${local.metric_type.video_enqueue_attempts}\" AND resource.type=\"cloud_run_revision\""
      threshold   = var.alert_enqueue_failure_ratio
      period      = "300s"
      duration    = "0s"
      aligner     = local.ratio_of_sums.aligner
      reducer     = local.ratio_of_sums.reducer
      runbook     = "Video submissions are refunded with 503 because Cloud Tasks refuses or cannot be reached. Check the queue's state (`gcloud tasks queues describe ${google_cloud_tasks_queue.video.name} --location=${var.region}`), the api's IAM on the queue, and the `queue_error_code` label of ${local.metric_type.video_enqueue_failed}."
    }
    failures = {
      title       = "failures spiking"
      severity    = "ERROR"
      condition   = "creations failed or expired > ${var.alert_failures_per_15m} in 15 min"
      filter      = "metric.type=\"${local.metric_type.creations_failed}\" AND resource.type=\"cloud_run_revision\""
      denominator = null
      threshold   = var.alert_failures_per_15m
      period      = "900s"
      duration    = "0s"
      aligner     = "ALIGN_SUM"
      reducer     = "REDUCE_SUM"
      runbook     = "Many creations failed or expired (and were refunded; cancels are not counted). The `kind` and `error_code` labels of ${local.metric_type.creations_failed} say which and why (enqueue_failed, content_filtered, generation_failed, start_interrupted, deadline_exceeded: expired, ...)."
    }
    gate_closed = {
      title       = "video submissions refused: queue closed"
      severity    = "CRITICAL"
      condition   = "submits refused by the queue gate > ${var.alert_gate_refusals_per_5m} in 5 min"
      filter      = "metric.type=\"${local.metric_type.queue_gate_refused}\" AND resource.type=\"cloud_run_revision\""
      denominator = null
      threshold   = var.alert_gate_refusals_per_5m
      period      = "300s"
      duration    = "0s"
      aligner     = "ALIGN_SUM"
      reducer     = "REDUCE_SUM"
      runbook     = "The api refuses video submissions (503, not charged) because its gate finds the queue ${google_cloud_tasks_queue.video.name} not RUNNING: the `queue_status` label of ${local.metric_type.queue_gate_refused} says paused, disabled or unavailable. Paused on purpose (the operator dashboard)? Resume it when done. Otherwise check the queue (`gcloud tasks queues describe ${google_cloud_tasks_queue.video.name} --location=${var.region}`) and the api's IAM on it. The gate reopens by itself on the first submit after the queue answers RUNNING."
    }
    queue_depth = {
      title       = "task queue backing up"
      severity    = "WARNING"
      condition   = "queue depth > ${var.alert_queue_depth} for 10 min"
      filter      = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND ${local.queue_filter}"
      denominator = null
      threshold   = var.alert_queue_depth
      period      = "60s"
      duration    = "600s"
      aligner     = "ALIGN_MEAN"
      reducer     = "REDUCE_SUM"
      runbook     = "The queue ${google_cloud_tasks_queue.video.name} holds many tasks. Is it paused? Are the workers at max instances (dashboard), or answering 5xx?"
    }
    task_delay = {
      title       = "tasks dispatched late"
      severity    = "WARNING"
      condition   = "p99 task attempt delay > ${var.alert_task_delay_seconds} s for 10 min"
      filter      = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\" AND ${local.queue_filter}"
      denominator = null
      threshold   = var.alert_task_delay_seconds * 1000 # the metric is in ms
      period      = "300s"
      duration    = "600s"
      aligner     = "ALIGN_PERCENTILE_99"
      reducer     = "REDUCE_MAX"
      runbook     = "Tasks wait well past their schedule time: polls come late and users wait. Check the queue's rate limits and the worker's instances and errors."
    }
    worker_errors = {
      title       = "worker failing"
      severity    = "ERROR"
      condition   = "worker 5xx / responses > ${var.alert_worker_5xx_ratio} over 10 min"
      filter      = "metric.type=\"run.googleapis.com/request_count\" AND ${local.worker_filter} AND metric.labels.response_code_class=\"5xx\""
      denominator = "metric.type=\"run.googleapis.com/request_count\" AND ${local.worker_filter}"
      threshold   = var.alert_worker_5xx_ratio
      period      = "600s"
      duration    = "0s"
      aligner     = local.ratio_of_sums.aligner
      reducer     = local.ratio_of_sums.reducer
      runbook     = "The worker answers 5xx to many steps. The `outcome` field of its `task.step` log lines says which dependency fails (store, generator, storage, queue)."
    }
    oldest_wait = {
      title       = "videos waiting too long to start"
      severity    = "WARNING"
      condition   = "oldest wait for a start > ${var.alert_oldest_wait_seconds} s for 5 min"
      filter      = "metric.type=\"${local.metric_type.video_oldest_wait}\" AND resource.type=\"cloud_run_revision\""
      denominator = null
      threshold   = var.alert_oldest_wait_seconds
      period      = "120s"
      duration    = "300s"
      aligner     = "ALIGN_MEAN"
      reducer     = "REDUCE_MAX"
      runbook     = "Videos wait for their start longer than ${var.alert_oldest_wait_seconds} s; at ${var.max_queue_wait_seconds} s they fail with errorCode capacity and are refunded. Starts leave at veo_starts_per_minute (${var.veo_starts_per_minute} a minute) and the provider may refuse more (the dashboard's 429s, ${local.metric_type.video_start_deferred}). Then: raise the Vertex AI quota for the Veo model and with it veo_starts_per_minute (VEO_STARTS_PER_MINUTE; `make apply`); or add routes: VEO_LOCATIONS (other regions) or VEO_FALLBACK_MODELS (other models, at the price charged or less); or, until it drains, pause intake (pause the queue from the operator dashboard: submits are refused, uncharged). The operator overview shows the pace, the videos waiting and the oldest wait."
    }
    provider_refusals = {
      title       = "the provider keeps refusing video starts (429)"
      severity    = "WARNING"
      condition   = "starts refused by the provider (429) > ${var.alert_provider_refusals_per_15m} in 15 min"
      filter      = "metric.type=\"${local.metric_type.video_start_deferred}\" AND resource.type=\"cloud_run_revision\" AND metric.labels.code=\"generator_rate_limited\""
      denominator = null
      threshold   = var.alert_provider_refusals_per_15m
      period      = "900s"
      duration    = "0s"
      aligner     = "ALIGN_SUM"
      reducer     = "REDUCE_SUM"
      runbook     = "Veo answers 429 RESOURCE_EXHAUSTED to starts that the start queue let through at veo_starts_per_minute (${var.veo_starts_per_minute} a minute): the pace is above the quota Vertex AI grants now. Nothing is lost or charged twice (each refused start waits in line again, ${local.metric_type.video_start_deferred}), but every refusal spends a start slot and videos wait longer (the oldest_wait alert follows). Lower veo_starts_per_minute to the quota (VEO_STARTS_PER_MINUTE; `make apply`), or raise the Vertex AI quota for the Veo model, or add routes (VEO_LOCATIONS, VEO_FALLBACK_MODELS)."
    }
    stuck_creations = {
      title       = "reconciler keeps finding stuck creations"
      severity    = "WARNING"
      condition   = "sweeps that found stuck creations > 2 in 15 min"
      filter      = "metric.type=\"${local.metric_type.reconcile_found_stuck}\" AND resource.type=\"cloud_run_revision\""
      denominator = null
      threshold   = 2
      period      = "900s"
      duration    = "0s"
      aligner     = "ALIGN_SUM"
      reducer     = "REDUCE_SUM"
      runbook     = "The reconcile sweep keeps re-queuing or failing creations. Look for `reconcile.swept` and `video.requeued` lines in the worker's logs, and for worker restarts."
    }
  }
}

resource "google_monitoring_alert_policy" "alert" {
  for_each = local.alerts

  display_name          = "${var.name_prefix}: ${each.value.title}"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = var.notification_channels

  conditions {
    display_name = each.value.condition
    condition_threshold {
      filter             = each.value.filter
      denominator_filter = each.value.denominator
      comparison         = "COMPARISON_GT"
      threshold_value    = each.value.threshold
      duration           = each.value.duration
      aggregations {
        alignment_period     = each.value.period
        per_series_aligner   = each.value.aligner
        cross_series_reducer = each.value.reducer
      }
      # A ratio aggregates its denominator the same way.
      dynamic "denominator_aggregations" {
        for_each = each.value.denominator == null ? [] : [1]
        content {
          alignment_period     = each.value.period
          per_series_aligner   = each.value.aligner
          cross_series_reducer = each.value.reducer
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = each.value.runbook
  }

  # The wait, not only the metrics: an alert on a log-based metric created in the same apply
  # is refused with 404 for up to 10 minutes (hashicorp/terraform-provider-google#11102;
  # propagation.tf). The alerts on Cloud Tasks' and Cloud Run's own metrics are in the same
  # resource and wait too, on the first apply only.
  depends_on = [
    google_logging_metric.counter,
    google_logging_metric.video_time_to_draft,
    google_logging_metric.video_oldest_wait,
    google_logging_metric.video_waiting,
    time_sleep.log_metrics_visible,
  ]
}

# The sweeps themselves: the reconcile sweep refunds what nothing else will (a lost task, an
# interrupted start, a creation past its deadline) and logs the start line that the
# oldest_wait alert reads. If the sweeps stop (the scheduler job paused or deleted, its
# account's invoker grant gone, the worker failing the sweep), that alert has no points and
# stays quiet: this one fires when no sweep has ended for 15 minutes (15 missed in a row).
resource "google_monitoring_alert_policy" "sweeps_stopped" {
  display_name          = "${var.name_prefix}: reconcile sweeps stopped"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "no reconcile sweep ended for 15 min"
    condition_absent {
      filter   = "metric.type=\"${local.metric_type.reconcile_swept}\" AND resource.type=\"cloud_run_revision\""
      duration = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "No `reconcile.swept` line for 15 minutes: stuck creations are not refunded and the start line is not measured. Check the scheduler job (`gcloud scheduler jobs describe ${google_cloud_scheduler_job.reconcile.name} --location=${var.region}`: state ENABLED, its last attempt's status), then the worker's logs for `/tasks/reconcile` (a 401 or 403: the scheduler account's invoker grant; a 5xx: its `http.server_error` line). Run a sweep by hand from the operator dashboard (Reconcile now)."
  }

  depends_on = [google_logging_metric.counter, time_sleep.log_metrics_visible]
}

# --- The operator's dashboard -----------------------------------------------------------

locals {
  # One chart: a title and its lines, each {filter, aligner, reducer?, group_by?, legend?}.
  charts = [
    {
      title = "Queue depth (tasks), by queue"
      lines = [{ filter = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND ${local.queues_filter}", aligner = "ALIGN_MEAN", reducer = "REDUCE_SUM", group_by = ["resource.labels.queue_id"] }]
    },
    {
      title = "Task dispatches per second, by queue and response"
      lines = [{ filter = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_count\" AND ${local.queues_filter}", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.labels.queue_id", "metric.labels.response_code"] }]
    },
    {
      title = "Videos: submitted, enqueue failures, cancels, refunds (per minute)"
      lines = [
        { filter = "metric.type=\"${local.metric_type.video_submitted}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", legend = "submitted" },
        { filter = "metric.type=\"${local.metric_type.video_enqueue_failed}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", legend = "enqueue failed" },
        { filter = "metric.type=\"${local.metric_type.video_cancelled}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", legend = "cancelled" },
        { filter = "metric.type=\"${local.metric_type.refunded}\" AND metric.labels.kind=\"video\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", legend = "refunded (failed, expired or cancelled)" },
        { filter = "metric.type=\"${local.metric_type.queue_gate_refused}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", legend = "refused by the gate (not charged)" },
      ]
    },
    {
      title = "Time from submit to draft (p50, p99)"
      lines = [
        { filter = "metric.type=\"${local.metric_type.video_time_to_draft}\"", aligner = "ALIGN_PERCENTILE_50", reducer = "REDUCE_MAX", legend = "p50" },
        { filter = "metric.type=\"${local.metric_type.video_time_to_draft}\"", aligner = "ALIGN_PERCENTILE_99", reducer = "REDUCE_MAX", legend = "p99" },
      ]
    },
    {
      title = "api latency (p50, p99)"
      lines = [
        { filter = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.api_filter}", aligner = "ALIGN_PERCENTILE_50", reducer = "REDUCE_MAX", legend = "p50" },
        { filter = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.api_filter}", aligner = "ALIGN_PERCENTILE_99", reducer = "REDUCE_MAX", legend = "p99" },
      ]
    },
    {
      title = "Instances, by function"
      lines = [{ filter = "metric.type=\"run.googleapis.com/container/instance_count\" AND ${local.functions_filter}", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group_by = ["resource.labels.service_name"] }]
    },
    {
      title = "Worker responses, by class"
      lines = [{ filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.worker_filter}", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["metric.labels.response_code_class"] }]
    },
    {
      title = "Failures and expiries, by kind and error code (per minute)"
      lines = [
        { filter = "metric.type=\"${local.metric_type.video_failed}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.labels.error_code"] },
        { filter = "metric.type=\"${local.metric_type.image_failed}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.labels.error_code"] },
      ]
    },
    {
      title = "Provider 429s: starts refused and back in line (per minute), by code"
      lines = [{ filter = "metric.type=\"${local.metric_type.video_start_deferred}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.labels.code"] }]
    },
    {
      title = "Start line: oldest wait (s)"
      lines = [{ filter = "metric.type=\"${local.metric_type.video_oldest_wait}\"", aligner = "ALIGN_MEAN", reducer = "REDUCE_MAX", legend = "oldest wait" }]
    },
    {
      title = "Start line: videos waiting for their start"
      lines = [{ filter = "metric.type=\"${local.metric_type.video_waiting}\"", aligner = "ALIGN_MEAN", reducer = "REDUCE_MAX", legend = "waiting" }]
    },
    {
      title = "Task dispatch delay (p99, ms), by queue"
      lines = [{ filter = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\" AND ${local.queues_filter}", aligner = "ALIGN_PERCENTILE_99", reducer = "REDUCE_MAX", group_by = ["resource.labels.queue_id"] }]
    },
  ]
}

resource "google_monitoring_dashboard" "operations" {
  # The API answers this JSON without its zero and empty values (proto3 JSON: a 0 position,
  # "", [] or a default enum such as REDUCE_NONE is not sent back), and the provider compares
  # its answer with this text: each such value written here is a change on every plan
  # (hashicorp/terraform-provider-google#16173, open). So each optional value is written
  # only when it is set: the `{ for k, v in {...} : k => v if ... }` maps below.
  # tests/terraform/test_terraform_monitoring_api.py renders this JSON with terraform and
  # parses it into the Dashboards API's own message, unknown fields refused.
  dashboard_json = jsonencode({
    displayName = "${var.name_prefix}: video generation"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, chart in local.charts : merge(
          { for k, v in { xPos = (i % 2) * 6, yPos = floor(i / 2) * 4 } : k => v if v != 0 },
          {
            width  = 6
            height = 4
            widget = {
              title = chart.title
              xyChart = {
                dataSets = [
                  for line in chart.lines : merge(
                    { for k, v in { legendTemplate = lookup(line, "legend", "") } : k => v if v != "" },
                    {
                      plotType           = "LINE"
                      minAlignmentPeriod = "60s"
                      timeSeriesQuery = {
                        timeSeriesFilter = {
                          filter = line.filter
                          aggregation = merge(
                            { alignmentPeriod = "60s", perSeriesAligner = line.aligner },
                            { for k, v in { crossSeriesReducer = lookup(line, "reducer", "") } : k => v if v != "" },
                            { for k, v in { groupByFields = lookup(line, "group_by", []) } : k => v if length(v) > 0 },
                          )
                        }
                      }
                    },
                  )
                ]
              }
            }
          },
        )
      ]
    }
  })

  depends_on = [
    google_logging_metric.counter,
    google_logging_metric.video_time_to_draft,
    google_logging_metric.video_oldest_wait,
    google_logging_metric.video_waiting,
  ]
}
