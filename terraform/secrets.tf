# The R2 credentials, as Secret Manager secrets mounted as environment variables of both
# functions (functions.tf). Terraform creates the secrets and who may read them; their VALUES
# are added outside Terraform, so they are never in its state or plan:
#
#   printf %s "$KEY_ID" | gcloud secrets versions add <prefix>-r2-access-key-id --data-file=-
#
# (docs/deploy.md). The functions read version "latest" when an instance starts; GEMINI_API_KEY
# is not needed: google-genai goes through Vertex AI with the functions' own identities.
locals {
  secret_env = {
    R2_ACCESS_KEY_ID     = "${var.name_prefix}-r2-access-key-id"
    R2_SECRET_ACCESS_KEY = "${var.name_prefix}-r2-secret-access-key"
  }
}

resource "google_secret_manager_secret" "r2" {
  for_each = local.secret_env

  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# Both functions read both: the worker stores videos, the api stores images.
resource "google_secret_manager_secret_iam_member" "r2_accessor" {
  for_each = {
    for pair in setproduct(keys(local.secret_env), keys(local.runtime_members)) :
    "${pair[0]}/${pair[1]}" => { env = pair[0], member = local.runtime_members[pair[1]] }
  }

  secret_id = google_secret_manager_secret.r2[each.value.env].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
