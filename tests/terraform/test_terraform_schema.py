"""Every resource and data block against the real hashicorp/google schema (8.7.0), and the
checker itself against small wrong snippets."""

from __future__ import annotations

import re

import pytest

from tests.terraform.tfcheck import Config, check_config, config_from_text, used_types


def test_the_extracted_schema_covers_every_type_the_configuration_uses(config, schema):
    resources, data = used_types(config)
    missing = sorted((resources - set(schema["resources"])) | (data - set(schema["data"])))
    assert not missing, f"run `make terraform-schema`: {missing} not in the extracted schema"
    assert "hashicorp/google 8.7.0" in schema["source"]


def test_every_block_matches_the_provider_schema(config, schema):
    assert check_config(config, schema) == []


def test_only_the_google_provider_no_beta(config: Config):
    (terraform,) = config.terraform
    (providers,) = terraform["required_providers"]
    # hashicorp/time for time_sleep only: test_terraform_first_deploy.py checks its blocks.
    assert {k for k in providers if not k.startswith("__")} == {"google", "time"}
    assert providers["google"]["source"] == "hashicorp/google"
    assert providers["google"]["version"].startswith("~> 8.")
    assert terraform["required_version"] == ">= 1.5"
    beta = re.compile(r"hashicorp/google-beta|google_beta|provider\s*=\s*google-beta")
    assert not any(beta.search(text) for text in config.files.values())


def problems(text: str, schema: dict) -> list[str]:
    return check_config(config_from_text(text), schema)


QUEUE = """
resource "google_cloud_tasks_queue" "q" {
  name     = "q"
  location = "us-central1"
  %s
}
"""


def test_the_checker_accepts_a_correct_snippet(schema):
    assert problems(QUEUE % "retry_config {\n max_attempts = 3\n}", schema) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("max_retries = 3", "unknown argument 'max_retries'"),
        ("retry_config {\n max_tries = 3\n}", "retry_config: unknown argument 'max_tries'"),
        ("retry_policy {\n max_attempts = 3\n}", "unknown block 'retry_policy'"),
        ("retry_config = { max_attempts = 3 }", "unknown block given as an argument"),
        (
            "retry_config {\n max_attempts = 1\n}\nretry_config {\n max_attempts = 2\n}",
            "block 'retry_config' is given 2 times",
        ),
        ("stackdriver_logging_config {\n}", "missing required argument 'sampling_ratio'"),
        (
            'dynamic "retry_setup" {\n for_each = [1]\n content {\n max_attempts = 1\n }\n}',
            "unknown block 'retry_setup' (dynamic)",
        ),
    ],
)
def test_the_checker_catches_an_invented_or_missing_argument(schema, body, expected):
    found = problems(QUEUE % body, schema)
    assert any(expected in p for p in found), found


def test_the_checker_catches_a_missing_required_argument_and_an_unknown_type(schema):
    found = problems('resource "google_cloud_tasks_queue" "q" {\n name = "q"\n}', schema)
    assert found == ["google_cloud_tasks_queue.q: missing required argument 'location'"]
    found = problems('resource "google_cloud_task_queue" "q" {\n name = "q"\n}', schema)
    assert len(found) == 1 and "type 'google_cloud_task_queue' is unknown" in found[0]
    found = problems('data "google_projects" "p" {\n}', schema)
    assert len(found) == 1 and "data type 'google_projects' is unknown" in found[0]


def test_the_checker_catches_a_missing_required_nested_block(schema):
    text = 'resource "google_secret_manager_secret" "s" {\n secret_id = "s"\n}'
    assert problems(text, schema) == [
        "google_secret_manager_secret.s: missing required block 'replication'"
    ]


def test_meta_arguments_are_not_provider_arguments(schema):
    text = QUEUE % "count = 1\ndepends_on = []\nlifecycle {\n ignore_changes = [name]\n}"
    assert problems(text, schema) == []
