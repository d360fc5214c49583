"""Terraform deploys what the local emulator enforces: firestore.rules, released for the
database the code uses, with the Firebase Rules API on; and the TTL policy that deletes the
idempotency keys the store writes, on the field that holds their expiry."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.firestore_emulator import RULES
from shared.adapters import firestore_documents as docs
from shared.domain.idempotency import Endpoint, IdempotencyRecord
from tests.terraform.tfcheck import TERRAFORM


def test_firestore_rules_are_released_from_the_file_the_emulator_enforces(config):
    (ruleset,) = config.of_type("google_firebaserules_ruleset").values()
    (source,) = ruleset["source"]
    (rules_file,) = source["files"]
    assert rules_file["content"] == '${file("${path.module}/../firestore.rules")}'
    assert (TERRAFORM / ".." / "firestore.rules").resolve() == RULES
    assert ruleset["lifecycle"][0]["create_before_destroy"] is True

    (release,) = config.of_type("google_firebaserules_release").values()
    # The (default) database's release; another database's is cloud.firestore/<id>.
    db = config.resource("google_firestore_database", "default")
    assert db["name"] == "(default)" and release["name"] == "cloud.firestore"
    assert release["ruleset_name"] == (
        "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"
    )


def test_the_firebase_rules_api_is_enabled(config):
    assert '"firebaserules.googleapis.com"' in config.locals["services"]


def _expiry_field() -> str:
    """The document field that holds a key's expiry, as the store writes it."""
    expires = datetime(2026, 12, 6, tzinfo=UTC)
    record = IdempotencyRecord(
        user_id="u", endpoint=Endpoint.VIDEO, fingerprint="f", creation_id="c", expires_at=expires
    )
    (field,) = [k for k, v in docs.idempotency_to_doc(record).items() if v is expires]
    return field


def test_expired_idempotency_keys_are_deleted_by_a_ttl_policy(config):
    fields = config.of_type("google_firestore_field").values()
    [ttl] = [f for f in fields if "ttl_config" in f]
    assert ttl["database"] == "${google_firestore_database.default.name}"
    assert (ttl["collection"], ttl["field"]) == (docs.IDEMPOTENCY_KEYS, _expiry_field())
    assert ttl["ttl_config"] == [{"__is_block__": True}]
    # An empty index_config: no single-field index on an ever-increasing timestamp.
    assert ttl["index_config"] == [{"__is_block__": True}]
