# Firestore (Native mode), the (default) database the code uses, and the composite indexes
# its queries need. The emulator needs no index, so these are checked equal, field by field,
# to ../firestore.indexes.json by tests/terraform (the file stays for `firebase deploy`).
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

# FirestoreStore.stale_creations (the reconciler): status in [...], updatedAt <, order by
# updatedAt.
resource "google_firestore_index" "creations_status_updated" {
  database    = google_firestore_database.default.name
  collection  = "creations"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updatedAt"
    order      = "ASCENDING"
  }
}

# FirestoreStore.ledger: userId ==, order by createdAt descending.
resource "google_firestore_index" "transactions_user_created" {
  database    = google_firestore_database.default.name
  collection  = "transactions"
  query_scope = "COLLECTION"

  fields {
    field_path = "userId"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}
