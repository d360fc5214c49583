# Inputs. Copy terraform.tfvars.example to terraform.tfvars and fill in the first block.

variable "project_id" {
  description = "The Google Cloud project (also the Firebase project whose ID tokens the api accepts, unless firebase_project_id says otherwise)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits, hyphens), not a project name or number."
  }
}

variable "region" {
  description = "Region of the functions, the Cloud Tasks queue and the scheduler job."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a region such as us-central1 (not a zone such as us-central1-a)."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, secrets, metrics), so that two stacks can share a project."
  type        = string
  default     = "creator"

  validation {
    # 16 characters at most: service account ids ("<prefix>-tasks-invoker") have 30.
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-16 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "allowed_origins" {
  description = "Exact https origins of the web app allowed to call the api from a browser (CORS), e.g. [\"https://app.example.com\"]."
  type        = list(string)

  validation {
    condition     = length(var.allowed_origins) > 0 && alltrue([for o in var.allowed_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", o))])
    error_message = "allowed_origins must list at least one exact origin: https://host[:port], no path, no trailing slash, no wildcard."
  }
}

variable "payments_callers" {
  description = "Service account emails of the payments backend (the server that takes payments) allowed to POST /api/credits with a Google-signed ID token for the api's URL (output credit_audience). Empty: every credit is refused. docs/deploy.md: how that server gets its tokens."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for email in var.payments_callers : can(regex("^[^@\\s]+@[^@\\s]+$", email))])
    error_message = "payments_callers must be service account emails."
  }
}

variable "firebase_project_id" {
  description = "Firebase project whose ID tokens the api accepts. Empty: project_id."
  type        = string
  default     = ""
}

# --- Cloudflare R2 (the bucket itself is created by hand: docs/deploy.md) -----------------

variable "r2_account_id" {
  description = "Cloudflare account id: the R2 endpoint is https://<id>.r2.cloudflarestorage.com."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.r2_account_id))
    error_message = "r2_account_id must be the 32 hex digits of the Cloudflare account id."
  }
}

variable "r2_bucket" {
  description = "The R2 bucket that stores the videos and images."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.r2_bucket))
    error_message = "r2_bucket must be an R2 bucket name: 3-63 lowercase letters, digits and hyphens."
  }
}

variable "r2_public_base_url" {
  description = "Public custom domain of the bucket (https://media.example.com). Empty: media URLs are presigned GETs."
  type        = string
  default     = ""

  validation {
    condition     = var.r2_public_base_url == "" || can(regex("^https://[^/]+(/.*)?$", var.r2_public_base_url))
    error_message = "r2_public_base_url must be empty or an https URL."
  }
}

# --- Generation ------------------------------------------------------------------------

variable "vertex_location" {
  description = "Vertex AI location of Veo and the Gemini image model."
  type        = string
  default     = "us-central1"
}

variable "video_model" {
  description = "Veo model id on Vertex AI (the code's default; a test holds them equal)."
  type        = string
  default     = "veo-3.1-generate-001"
}

variable "image_model" {
  description = "Gemini image model id (the code's default; a test holds them equal)."
  type        = string
  default     = "gemini-2.5-flash-image"
}

variable "video_deadline_seconds" {
  description = "A video not done this long after its submission fails and is refunded (VIDEO_DEADLINE_SECONDS). The queue's retry window is sized from it."
  type        = number
  default     = 1800

  validation {
    # The queue retries for local.queue_max_retry_seconds (3600 s); this leaves room for the
    # worker's step deadline and the backoffs after the creation's deadline: queue.tf.
    condition     = var.video_deadline_seconds >= 60 && var.video_deadline_seconds <= 3000
    error_message = "video_deadline_seconds must be between 60 and 3000 (the queue retries for 3600 s)."
  }
}

variable "veo_starts_per_minute" {
  description = "Veo generations started per minute across all instances (VEO_STARTS_PER_MINUTE): the start queue's dispatch rate, under Vertex AI's quota per project and base model (about 10 a minute)."
  type        = number
  default     = 10

  validation {
    condition     = var.veo_starts_per_minute >= 1 && var.veo_starts_per_minute <= 600
    error_message = "veo_starts_per_minute must be between 1 and 600."
  }
}

variable "max_queue_wait_seconds" {
  description = "A video still waiting for its start this long after its submission fails with errorCode capacity and is refunded (MAX_QUEUE_WAIT_SECONDS)."
  type        = number
  default     = 1800

  validation {
    # A start is retried by the start queue until then: its retry window (3600 s) must outlast it.
    condition     = var.max_queue_wait_seconds >= 60 && var.max_queue_wait_seconds <= 3000
    error_message = "max_queue_wait_seconds must be between 60 and 3000 (the queue retries for 3600 s)."
  }
}

variable "task_dispatch_deadline_seconds" {
  description = "How long Cloud Tasks waits for one worker step (TASK_DISPATCH_DEADLINE_SECONDS); the worker's timeout equals it."
  type        = number
  default     = 120

  validation {
    condition     = var.task_dispatch_deadline_seconds >= 15 && var.task_dispatch_deadline_seconds <= 1800
    error_message = "task_dispatch_deadline_seconds must be between 15 and 1800 (Cloud Tasks' limits for HTTP targets)."
  }
}

# --- Sizing ----------------------------------------------------------------------------

variable "api_max_instances" {
  description = "Most api instances at once."
  type        = number
  default     = 20

  validation {
    condition     = var.api_max_instances >= 1 && var.api_max_instances <= 1000
    error_message = "api_max_instances must be between 1 and 1000."
  }
}

variable "api_min_instances" {
  description = "api instances kept warm (0: scale to zero, a cold start of about 0.4 s on the first request)."
  type        = number
  default     = 0

  validation {
    condition     = var.api_min_instances >= 0 && var.api_min_instances <= 100
    error_message = "api_min_instances must be between 0 and 100."
  }
}

variable "api_concurrency" {
  description = "Requests one api instance serves at once (its handlers wait on Firestore, Cloud Tasks and Gemini, not the CPU)."
  type        = number
  default     = 40

  validation {
    condition     = var.api_concurrency >= 2 && var.api_concurrency <= 1000
    error_message = "api_concurrency must be between 2 and 1000 (more than 1 needs at least 1 CPU, which the functions get)."
  }
}

variable "worker_max_instances" {
  description = "Most worker instances at once; with worker_concurrency it bounds the steps running at once."
  type        = number
  default     = 20

  validation {
    condition     = var.worker_max_instances >= 1 && var.worker_max_instances <= 1000
    error_message = "worker_max_instances must be between 1 and 1000."
  }
}

variable "worker_concurrency" {
  description = "Steps one worker instance runs at once (a step is short and waits on Veo, Firestore, R2)."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_concurrency >= 2 && var.worker_concurrency <= 100
    error_message = "worker_concurrency must be between 2 and 100."
  }
}

variable "worker_ingress" {
  description = "Ingress of the worker: ALLOW_INTERNAL_ONLY (Cloud Tasks and Cloud Scheduler of the same project still reach it: functions.tf) or ALLOW_ALL (IAM alone keeps others out)."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_ALL"], var.worker_ingress)
    error_message = "worker_ingress must be ALLOW_INTERNAL_ONLY or ALLOW_ALL."
  }
}

# --- Data ------------------------------------------------------------------------------

variable "firestore_location" {
  description = "Firestore location (a multi-region such as nam5 or eur3, or a region). Fixed once created."
  type        = string
  default     = "nam5"
}

variable "queue_log_sampling_ratio" {
  description = "Share of task attempts Cloud Tasks logs (0..1). Each video makes tens of poll attempts."
  type        = number
  default     = 0.1

  validation {
    condition     = var.queue_log_sampling_ratio >= 0 && var.queue_log_sampling_ratio <= 1
    error_message = "queue_log_sampling_ratio must be between 0 and 1."
  }
}

# --- Alerts ----------------------------------------------------------------------------

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) that every alert notifies. Empty: alerts show in the console only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each notification channel must be projects/<project>/notificationChannels/<id>."
  }
}

variable "alert_enqueue_failure_ratio" {
  description = "Alert when more than this share of video submissions could not be queued (and were refunded) over 5 minutes."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_enqueue_failure_ratio > 0 && var.alert_enqueue_failure_ratio < 1
    error_message = "alert_enqueue_failure_ratio must be between 0 and 1."
  }
}

variable "alert_failures_per_15m" {
  description = "Alert when more than this many creations failed or expired in 15 minutes; cancels are not counted."
  type        = number
  default     = 10
}

variable "alert_gate_refusals_per_5m" {
  description = "Alert when the api's queue gate refuses more than this many video submissions (queue paused, disabled or unreachable; not charged) in 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.alert_gate_refusals_per_5m >= 0
    error_message = "alert_gate_refusals_per_5m must be 0 or more (0: any refused submit)."
  }
}

variable "alert_provider_refusals_per_15m" {
  description = "Alert when the provider refuses more than this many video starts with 429 (RESOURCE_EXHAUSTED) in 15 minutes: veo_starts_per_minute is above the quota."
  type        = number
  default     = 10

  validation {
    condition     = var.alert_provider_refusals_per_15m >= 0
    error_message = "alert_provider_refusals_per_15m must be 0 or more (0: any refused start)."
  }
}

variable "alert_queue_depth" {
  description = "Alert when the queue holds more than this many tasks for 10 minutes (about one task per video in flight)."
  type        = number
  default     = 200
}

variable "alert_task_delay_seconds" {
  description = "Alert when the 99th percentile of how late tasks are dispatched (after their schedule time) exceeds this for 10 minutes."
  type        = number
  default     = 60
}

variable "alert_oldest_wait_seconds" {
  description = "Alert when the oldest video still waiting for its start has waited more than this for 5 minutes: half of max_queue_wait_seconds' default (1800), past which it fails with errorCode capacity and is refunded."
  type        = number
  default     = 900

  validation {
    condition     = var.alert_oldest_wait_seconds > 0
    error_message = "alert_oldest_wait_seconds must be more than 0."
  }
}

variable "alert_worker_5xx_ratio" {
  description = "Alert when more than this share of worker responses are 5xx over 10 minutes (503 asks Cloud Tasks to retry a transient error: some are normal)."
  type        = number
  default     = 0.2

  validation {
    condition     = var.alert_worker_5xx_ratio > 0 && var.alert_worker_5xx_ratio < 1
    error_message = "alert_worker_5xx_ratio must be between 0 and 1."
  }
}
