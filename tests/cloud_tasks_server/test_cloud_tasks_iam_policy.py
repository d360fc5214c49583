"""The policy reader against terraform/ itself, and against small configurations that show
what it understands and what it refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools.cloud_tasks_server.iam_roles import PREDEFINED_ROLES, RPC_PERMISSIONS
from devtools.cloud_tasks_server.iam_terraform import (
    TERRAFORM,
    UnsupportedTerraform,
    read_policy,
    tasks_identity,
)

PROJECT = "demo-creator"


def email(account: str) -> str:
    return f"creator-{account}@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def policy():
    return read_policy(TERRAFORM)


def test_the_api_may_create_and_delete_tasks_and_read_pause_and_resume_the_queue(policy):
    assert policy.permissions(email("api"), PROJECT, on_queue=True) == {
        "cloudtasks.tasks.create",
        "cloudtasks.tasks.fullView",  # part of roles/cloudtasks.enqueuer
        "cloudtasks.tasks.delete",  # cancel
        "cloudtasks.queues.get",  # the health gate
        "cloudtasks.queues.pause",  # the operator dashboard
        "cloudtasks.queues.resume",
    }


def test_the_worker_may_only_create_tasks_and_read_one(policy):
    """Its polls and requeues (create) and the reconciler's "is the start still in line?"
    (get, granted on the start queue)."""
    assert policy.permissions(email("worker"), PROJECT, on_queue=True) == {
        "cloudtasks.tasks.create",
        "cloudtasks.tasks.fullView",
        "cloudtasks.tasks.get",
    }


def test_no_other_account_has_a_cloud_tasks_permission_and_nothing_is_project_wide(policy):
    assert policy.members(PROJECT) == {
        f"serviceAccount:{email('api')}",
        f"serviceAccount:{email('worker')}",
    }
    queues = {"creator-video-generation", "creator-video-start"}
    assert {grant.queue for grant in policy.grants} == queues
    for account in ("api", "worker", "tasks-invoker", "auditor", "build"):
        assert policy.permissions(email(account), PROJECT, on_queue=False) == set()


def test_the_project_is_the_one_a_call_names(policy):
    assert policy.permissions(email("api"), "another-project", on_queue=True) == set()
    other = "creator-api@another-project.iam.gserviceaccount.com"
    assert "cloudtasks.tasks.delete" in policy.permissions(other, "another-project", on_queue=True)


def test_the_functions_identities_are_their_terraform_service_accounts():
    assert tasks_identity("api", PROJECT) == email("api")
    assert tasks_identity("worker", PROJECT) == email("worker")
    functions_tf = (TERRAFORM / "functions.tf").read_text()
    for account in ("api", "worker"):  # each function runs as the account of its name
        # (the spaces before = are terraform fmt's alignment, whatever it is)
        assert re.search(
            rf"service_account += google_service_account\.{account}\.email", functions_tf
        )


def test_every_rpc_permission_is_held_by_the_admin_role():
    admin = PREDEFINED_ROLES["roles/cloudtasks.admin"]
    assert {permission for permission, _ in RPC_PERMISSIONS.values()} <= admin


def write(directory: Path, text: str) -> Path:
    (directory / "main.tf").write_text(text)
    return directory


SA = """
variable "name_prefix" {
  default = "x"
}
resource "google_service_account" "ops" {
  account_id = "${var.name_prefix}-ops"
}
"""


def test_project_grants_bindings_and_basic_roles_are_read(tmp_path):
    policy = read_policy(
        write(
            tmp_path,
            SA
            + """
resource "google_project_iam_binding" "viewers" {
  project = var.project_id
  role    = "roles/viewer"
  members = ["serviceAccount:${google_service_account.ops.email}", "user:a@b.c"]
}
resource "google_project_iam_member" "logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.ops.email}"
}
""",
        )
    )
    ops = "x-ops@p.iam.gserviceaccount.com"
    assert policy.permissions(ops, "p", on_queue=False) == {
        "cloudtasks.queues.get",
        "cloudtasks.queues.list",
        "cloudtasks.tasks.get",
        "cloudtasks.tasks.list",
    }
    assert len(policy.grants) == 2  # the logging role carries no Cloud Tasks permission


@pytest.mark.parametrize(
    "grant, refusal",
    [
        (
            'resource "google_project_iam_member" "g" {\n  project = var.project_id\n'
            '  role = "roles/cloudtasks.taskDeleter"\n'
            '  member = "serviceAccount:${google_service_account.ops.email}"\n'
            '  condition {\n    title = "t"\n    expression = "true"\n  }\n}\n',
            "IAM conditions are not evaluated",
        ),
        (
            'resource "google_project_iam_member" "g" {\n  project = var.project_id\n'
            '  role = "roles/cloudtasks.brandNew"\n  member = "user:a@b.c"\n}\n',
            "roles/cloudtasks.brandNew is not in iam_roles",
        ),
        (
            'resource "google_project_iam_member" "g" {\n  project = var.project_id\n'
            '  role = "roles/cloudtasks.viewer"\n  member = lower(var.name_prefix)\n}\n',
            "cannot evaluate lower(...)",
        ),
        (
            'resource "google_cloud_tasks_queue_iam_policy" "g" {\n  name = "q"\n'
            "  policy_data = data.google_iam_policy.p.policy_data\n}\n",
            "authoritative policies",
        ),
    ],
)
def test_a_grant_it_cannot_evaluate_is_refused_not_ignored(tmp_path, grant, refusal):
    with pytest.raises(UnsupportedTerraform, match=refusal):
        read_policy(write(tmp_path, SA + grant))
