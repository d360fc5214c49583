"""The Terraform configuration held against the code: entry points, configuration variables,
secrets, the queue, the worker's privacy, retry windows, the runtime, the indexes."""

from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import replace

import pytest

from shared import config as app_config
from shared.config import ConfigError, settings_from_env
from tests.terraform.tfcheck import ROOT, TERRAFORM

# Read by the platform's functions-framework, not by shared/config.py (functions.tf says why).
PLATFORM_ENV = {"LOG_EXECUTION_ID", "THREADS"}
SECRETS = {"R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"}


def known_variables() -> set[str]:
    """Every variable shared/config.py reads, derived from its source: the first argument of
    each reader call (r.text("NAME"), r.required, r.number, r.url, r.one_of, r.choice, ...),
    the keys of CHOICES and the LOCAL_ONLY names."""
    tree = ast.parse((ROOT / "shared" / "config.py").read_text())
    names = set(app_config.CHOICES) | set(app_config.LOCAL_ONLY)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "r"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def entry_points(path) -> set[str]:
    """The functions of a main.py decorated as Cloud Functions (functions_framework.*)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if isinstance(target, ast.Attribute) and ast.unparse(target.value) == (
                    "functions_framework"
                ):
                    found.add(node.name)
    return found


def deployed_env(fn: dict) -> dict[str, str]:
    """What an instance of the function sees: its variables, and its secrets with stand-in
    values (the real ones are added outside Terraform)."""
    return {**fn["environment"], **{name: f"secret-value-of-{name}" for name in fn["secrets"]}}


def test_the_variable_names_are_derived_from_the_configuration_code():
    names = known_variables()
    assert {"GOOGLE_CLOUD_PROJECT", "WORKER_URL", "VIDEO_DEADLINE_SECONDS"} <= names
    assert {"IDENTITY_PROVIDER", "CLOUD_TASKS_EMULATOR_HOST"} <= names


def test_each_entry_point_of_main_py_is_deployed_and_nothing_else(functions):
    declared = entry_points(ROOT / "main.py")
    assert declared == {"api", "video_worker"}
    assert {f["entry_point"] for f in functions.values()} == declared
    # The placeholder Terraform creates them from has the same entry points.
    assert entry_points(TERRAFORM / "bootstrap" / "stub" / "main.py") == declared


@pytest.mark.parametrize("key", ["api", "worker"])
def test_production_configuration_accepts_each_functions_environment(functions, key):
    try:
        settings = settings_from_env(deployed_env(functions[key]))
    except ConfigError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"{key}: the deployed environment is refused: {exc.problems}")
    assert not settings.is_local
    assert settings.video_generator == "veo" and settings.genai_backend == "vertex"
    assert settings.media_storage == "r2" and settings.identity_provider == "firebase"


@pytest.mark.parametrize("key", ["api", "worker"])
def test_nothing_is_set_that_the_configuration_does_not_know(functions, key):
    fn = functions[key]
    unknown = (set(fn["environment"]) | set(fn["secrets"])) - known_variables() - PLATFORM_ENV
    assert not unknown, f"{key} sets variables shared/config.py does not read: {unknown}"


@pytest.mark.parametrize("key", ["api", "worker"])
def test_no_local_convenience_is_ever_set(functions, key):
    fn = functions[key]
    assert not (set(fn["environment"]) | set(fn["secrets"])) & set(app_config.LOCAL_ONLY)
    assert fn["environment"]["APP_ENV"] == "production"


def test_each_required_variable_is_really_needed(functions):
    """Dropping any one variable the deployment sets either changes nothing (it restates
    the default) or is refused: the required ones are all there, none by accident."""
    env = deployed_env(functions["api"])
    refused = set()
    for name in env:
        try:
            settings_from_env({k: v for k, v in env.items() if k != name})
        except ConfigError:
            refused.add(name)
    assert {"GOOGLE_CLOUD_PROJECT", "WORKER_URL", "TASKS_SERVICE_ACCOUNT"} <= refused
    assert refused >= SECRETS  # R2 needs both


def test_settings_terraform_restates_equal_the_codes_defaults(functions):
    """VIDEO_MODEL, IMAGE_MODEL, VERTEX_LOCATION, the deadlines: Terraform sets them so that
    it can size the queue and the timeouts from them; its defaults are the code's."""
    env = deployed_env(functions["worker"])
    restated = ["VIDEO_MODEL", "IMAGE_MODEL", "VERTEX_LOCATION", "VIDEO_DEADLINE_SECONDS"]
    restated += ["TASK_DISPATCH_DEADLINE_SECONDS", "WORKER_AUTH", "GENAI_BACKEND"]
    without = {k: v for k, v in env.items() if k not in restated}
    assert settings_from_env(env) == settings_from_env(without)


def test_secrets_come_from_secret_manager_and_never_from_terraform(config, functions):
    for fn in functions.values():
        assert set(fn["secrets"]) == SECRETS
        assert not set(fn["environment"]) & (SECRETS | {"GEMINI_API_KEY"})
        for path in fn["secrets"].values():
            assert re.fullmatch(r"projects/[a-z0-9-]+/secrets/[a-z0-9-]+", path)
    # No secret value in Terraform: no secret versions, no payload anywhere.
    assert "google_secret_manager_secret_version" not in config.resources
    assert not any("secret_data" in text for text in config.files.values())
    fn = config.resource("google_cloudfunctions2_function", "fn")
    (service,) = fn["service_config"]
    (dynamic,) = service["dynamic"]
    assert dynamic["secret_environment_variables"]["for_each"] == "${local.secret_env}"


def test_the_queue_the_code_enqueues_to_is_the_queue_terraform_creates(
    config, functions, evaluator
):
    queue = evaluator.value(config.resource("google_cloud_tasks_queue", "video"))
    for fn in functions.values():
        settings = settings_from_env(deployed_env(fn))
        assert settings.tasks_queue == queue["name"]
        assert settings.tasks_location == queue["location"] == evaluator.vars["region"]
        assert settings.project == evaluator.vars["project_id"]
        assert (
            settings.queue_path
            == f"projects/{settings.project}/locations/{queue['location']}/queues/{queue['name']}"
        )


def test_the_tasks_and_the_scheduler_call_the_worker_as_the_invoker(config, functions, evaluator):
    settings = settings_from_env(deployed_env(functions["api"]))
    invoker = evaluator.expr("google_service_account.invoker.email")
    assert settings.tasks_service_account == invoker
    job = evaluator.value(config.resource("google_cloud_scheduler_job", "reconcile"))
    (target,) = job["http_target"]
    (oidc,) = target["oidc_token"]
    assert oidc["service_account_email"] == invoker
    # The worker accepts the token: its audience is one of the worker's, its caller listed.
    assert oidc["audience"] in settings.worker_audiences
    assert invoker in settings.worker_callers
    assert target["uri"] == settings.worker_url + "/tasks/reconcile"
    assert job["schedule"] == "* * * * *"
    # The worker's own URL is the deterministic run.app one (internal ingress needs run.app).
    assert re.fullmatch(
        rf"https://{functions['worker']['name']}-\d+\.{evaluator.vars['region']}\.run\.app",
        settings.worker_url,
    )


def test_the_worker_is_not_public(config, functions, evaluator):
    worker, api = functions["worker"], functions["api"]
    assert not worker["public"] and api["public"]
    assert worker["ingress"] == "ALLOW_INTERNAL_ONLY"  # the default
    members = config.of_type("google_cloud_run_v2_service_iam_member")
    public = {"allUsers", "allAuthenticatedUsers"}
    for name, body in members.items():
        if body["member"] in public:
            assert body["name"] == '${google_cloudfunctions2_function.fn["api"].name}', name
    (invoker_grant,) = [b for b in members.values() if "worker" in b["name"]]
    assert invoker_grant["role"] == "roles/run.invoker"
    assert invoker_grant["member"] == "serviceAccount:${google_service_account.invoker.email}"
    # No other IAM resource names allUsers.
    others = [
        body
        for type_, named in config.resources.items()
        if type_.endswith("_iam_member") and type_ != "google_cloud_run_v2_service_iam_member"
        for body in named.values()
    ]
    assert not any(str(b.get("member")) in public for b in others)


def test_the_api_can_read_pause_and_resume_the_queue_delete_tasks_and_nothing_more(
    config, evaluator
):
    """The health gate reads the queue; the operator's dashboard pauses and resumes it;
    cancel deletes the start task (DeleteTask). What each account may do on Cloud Tasks, as
    the local server enforces it: tests/cloud_tasks_server/test_cloud_tasks_iam_policy.py."""
    grants = {
        (str(b["role"]), b["member"])
        for b in config.of_type("google_cloud_tasks_queue_iam_member").values()
    }
    role = "${google_project_iam_custom_role.queue_operator.name}"
    assert (role, "${local.runtime_members.api}") in grants
    assert ("roles/cloudtasks.enqueuer", "${each.value}") in grants
    custom = config.of_type("google_project_iam_custom_role")["queue_operator"]
    assert sorted(custom["permissions"]) == [
        "cloudtasks.queues.get",
        "cloudtasks.queues.pause",
        "cloudtasks.queues.resume",
        "cloudtasks.tasks.delete",
    ]


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def test_the_queues_retry_window_outlasts_the_workers_transient_error_horizon(
    config, functions, evaluator
):
    """The worker answers 503 to a transient error until the creation's deadline, then
    settles it (fail + refund, 200): the queue must still be retrying by then."""
    settings = settings_from_env(deployed_env(functions["worker"]))
    queue = evaluator.value(config.resource("google_cloud_tasks_queue", "video"))
    (retry,) = queue["retry_config"]
    window = _seconds(retry["max_retry_duration"])
    max_backoff = _seconds(retry["max_backoff"])
    assert retry["max_attempts"] == -1  # the window alone bounds the retries
    horizon = settings.video_deadline_seconds + max_backoff + settings.dispatch_deadline_seconds
    assert window >= horizon
    # ... for every deadline the variable accepts, with the default step deadline.
    (validation,) = config.variables["video_deadline_seconds"]["validation"]
    highest = int(re.search(r"<= (\d+)", validation["condition"]).group(1))
    assert window >= highest + max_backoff + settings.dispatch_deadline_seconds
    # And the plan refuses variable values that break it.
    (lifecycle,) = config.resource("google_cloud_tasks_queue", "video")["lifecycle"]
    assert "local.queue_max_retry_seconds >=" in lifecycle["precondition"][0]["condition"]
    # The queue never pushes more steps at once than the workers take.
    (limits,) = queue["rate_limits"]
    worker = functions["worker"]
    assert limits["max_concurrent_dispatches"] == worker["max_instances"] * worker["concurrency"]


def test_the_workers_timeout_covers_a_step_and_a_sweep(config, functions, evaluator):
    settings = settings_from_env(deployed_env(functions["worker"]))
    worker = functions["worker"]
    assert worker["timeout_seconds"] >= settings.dispatch_deadline_seconds
    job = evaluator.value(config.resource("google_cloud_scheduler_job", "reconcile"))
    assert _seconds(job["attempt_deadline"]) <= worker["timeout_seconds"]


def test_concurrency_above_one_has_a_whole_cpu_and_matching_threads(functions):
    for fn in functions.values():
        assert fn["concurrency"] > 1 and float(fn["cpu"]) >= 1
        assert fn["environment"]["THREADS"] == str(fn["concurrency"])
        assert fn["min_instances"] <= fn["max_instances"]


def test_the_runtime_is_the_one_the_tests_run_on(functions):
    pinned = (ROOT / ".python-version").read_text().strip()
    assert pinned == f"{sys.version_info.major}.{sys.version_info.minor}"
    for fn in functions.values():
        assert fn["runtime"] == "python" + pinned.replace(".", "")
    requires = re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert requires and tuple(map(int, pinned.split("."))) >= tuple(
        map(int, requires.group(1).split("."))
    )


def test_the_firestore_indexes_are_firestore_indexes_json_entry_by_entry(config):
    """Terraform makes one google_firestore_index per entry of firestore.indexes.json (its
    for_each reads the file), each field mapped; the keys it derives must be unique."""
    declared = json.loads((ROOT / "firestore.indexes.json").read_text())
    assert declared.get("fieldOverrides", []) == []  # not mapped to Terraform
    local = config.locals["firestore_indexes"]
    assert 'jsondecode(file("${path.module}/../firestore.indexes.json")).indexes' in local
    keys = [
        index["collectionGroup"]
        + ":"
        + ",".join(
            f"{f['fieldPath']}:{f.get('order', f.get('arrayConfig', ''))}" for f in index["fields"]
        )
        for index in declared["indexes"]
    ]
    assert len(keys) == len(set(keys)), "two entries of firestore.indexes.json are the same index"
    for index in declared["indexes"]:
        assert set(index) <= {"collectionGroup", "queryScope", "fields"}
        for field in index["fields"]:
            assert set(field) <= {"fieldPath", "order", "arrayConfig"}
    (index_resource,) = config.of_type("google_firestore_index").values()
    assert index_resource["for_each"] == "${local.firestore_indexes}"
    assert index_resource["database"] == "${google_firestore_database.default.name}"
    assert index_resource["collection"] == "${each.value.collectionGroup}"
    assert index_resource["query_scope"] == '${lookup(each.value, "queryScope", "COLLECTION")}'
    (dynamic,) = index_resource["dynamic"]
    assert dynamic["fields"]["for_each"] == "${each.value.fields}"
    (content,) = dynamic["fields"]["content"]
    assert content["field_path"] == "${fields.value.fieldPath}"
    assert content["order"] == '${lookup(fields.value, "order", null)}'
    assert content["array_config"] == '${lookup(fields.value, "arrayConfig", null)}'


def test_the_database_is_the_default_one_the_code_uses(config):
    db = config.resource("google_firestore_database", "default")
    assert db["name"] == "(default)" and db["type"] == "FIRESTORE_NATIVE"
    assert db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"


def test_every_variable_is_typed_and_described(config):
    for name, body in config.variables.items():
        assert body.get("type"), name
        assert body.get("description"), name


def test_every_checkov_skip_carries_a_reason(config):
    skips = [
        (name, line)
        for name, text in config.files.items()
        for line in text.splitlines()
        if "checkov:skip" in line
    ]
    for name, line in skips:
        assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{10,}", line), (name, line)


def test_settings_dataclass_still_equal_with_replace(functions):
    """A guard for the equality the defaults test relies on (Settings is a frozen dataclass)."""
    settings = settings_from_env(deployed_env(functions["api"]))
    assert replace(settings) == settings


def test_the_daily_audit_reads_the_store_and_nothing_else(config):
    """Its account may read Firestore (datastore.viewer) and nothing more; only the
    scheduler's account may start it; a failed run alerts."""
    grants = [
        b for b in config.of_type("google_project_iam_member").values()
        if "auditor" in str(b["member"])
    ]  # fmt: skip
    assert [b["role"] for b in grants] == ["roles/datastore.viewer"]
    [runner] = config.of_type("google_cloud_run_v2_job_iam_member").values()
    assert runner["role"] == "roles/run.invoker" and "invoker" in str(runner["member"])
    [schedule] = [
        j for name, j in config.of_type("google_cloud_scheduler_job").items() if name == "audit"
    ]
    [target] = schedule["http_target"]
    assert target["uri"].endswith(":run") and "oauth_token" in target
    assert "audit_failed" in config.of_type("google_monitoring_alert_policy")
