# Firestore (Native mode), the (default) database the code uses, and the composite indexes
# its queries need (the emulator needs none, so nothing else would notice a missing one).
#
# A Firebase project often has its (default) database already: import it before the first
# apply instead of creating it (docs/deploy.md):
#   terraform -chdir=terraform import google_firestore_database.default '(default)'
resource "google_firestore_database" "default" {
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  # Ledger and balances live here: a `terraform destroy` must not delete them.
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
  # Seven days of point-in-time recovery, for a bad deploy that corrupts balances.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"

  depends_on = [google_project_service.enabled]
}

# One index per entry of ../firestore.indexes.json, the file the store's engineers keep next to
# the queries (and `firebase deploy --only firestore:indexes` reads): Terraform follows it, so
# the two cannot drift. Keyed by collection and fields, so adding one creates only that one.
locals {
  firestore_indexes = {
    for index in jsondecode(file("${path.module}/../firestore.indexes.json")).indexes :
    "${index.collectionGroup}:${join(",", [for f in index.fields : "${f.fieldPath}:${lookup(f, "order", lookup(f, "arrayConfig", ""))}"])}" => index
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  database    = google_firestore_database.default.name
  collection  = each.value.collectionGroup
  query_scope = lookup(each.value, "queryScope", "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = lookup(fields.value, "order", null)
      array_config = lookup(fields.value, "arrayConfig", null)
    }
  }
}

# firestore.rules, deployed: what the apps' Firebase clients may do with Firestore directly
# (read their own users/<uid>, creations and ledger entries; write nothing). The local
# emulator enforces the same file (devtools/firestore_emulator.py), and the real Firebase JS
# SDK is tested against it (tests/firebase_sdk). Without this release the database keeps
# whatever rules it had (a Firebase project's test-mode rules let every client write). A
# project that already has a cloud.firestore release imports it first (docs/deploy.md).
#
# A ruleset cannot change: a change of the file makes a new one. create_before_destroy
# makes it before the release is replaced (the provider replaces a release whose ruleset
# changes), so the new rules are checked by the service before the old ones are let go.
resource "google_firebaserules_ruleset" "firestore" {
  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/../firestore.rules")
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.enabled, google_firestore_database.default]
}

# "cloud.firestore" is the (default) database's release; another database's would be
# "cloud.firestore/<database id>".
resource "google_firebaserules_release" "firestore" {
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"

  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}

# Idempotency keys expire (expiresAt, IDEMPOTENCY_KEY_TTL_HOURS after their request):
# Firestore's TTL policy deletes expired ones, typically within a day of expiry, instead
# of letting the collection grow forever. Reads never trust that deletion: a key whose
# expiresAt has passed is ignored by the code (shared/domain/idempotency.py). The empty
# index_config drops the field's single-field indexes: nothing queries expiresAt, and an
# index on an ever-increasing timestamp is a write hotspot (Firestore's TTL guidance).
# The emulator has no TTL: locally, expired keys stay until `make dev FRESH=1`.
resource "google_firestore_field" "idempotency_key_expiry" {
  database   = google_firestore_database.default.name
  collection = "idempotencyKeys"
  field      = "expiresAt"

  ttl_config {}

  index_config {}
}
