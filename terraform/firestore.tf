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
