"""What a first real deployment meets (issue 19), checked where it can be here: the audit
job's image and command, the waits of one `make apply`, the secrets' project number,
`make deploy DRY_RUN=1` before any apply, every deploy command against the installed
gcloud's own --help, and docs/deploy.md's grants table and counts against terraform/."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import deploy
from tests.terraform.imports import local_packages_imported
from tests.terraform.tfcheck import ROOT, TERRAFORM, Config, check_body, parse
from tests.terraform.tfeval import PROJECT_NUMBER

TIME_SCHEMA = Path(__file__).resolve().parent / "time_provider_schema.json"
DOCS = ROOT / "docs" / "deploy.md"
EXAMPLE_TFVARS = TERRAFORM / "terraform.tfvars.example"


def run_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/deploy.py"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(result: subprocess.CompletedProcess) -> list[list[str]]:
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]


def flags(command: list[str]) -> dict[str, str]:
    return {
        name: value
        for name, _, value in (a.partition("=") for a in command[1:] if a.startswith("--"))
    }


@pytest.fixture(scope="module")
def all_outputs(config: Config, evaluator) -> dict:
    """`terraform output -json` for every output make deploy reads, the audit job too."""
    names = ("project_id", "region", "functions", "audit_job")
    return {
        name: {"sensitive": False, "value": evaluator.value(config.outputs[name]["value"])}
        for name in names
    }


@pytest.fixture(scope="module")
def applied_commands(all_outputs: dict, tmp_path_factory) -> list[list[str]]:
    path = tmp_path_factory.mktemp("tf") / "outputs.json"
    path.write_text(json.dumps(all_outputs))
    return lines(run_deploy({"DRY_RUN": "1", "TF_OUTPUTS": str(path)}))


# --- 1. the audit job ---------------------------------------------------------------------


def test_the_audit_job_runs_through_the_buildpacks_launcher(config: Config, all_outputs):
    [job] = config.of_type("google_cloud_run_v2_job").values()
    [container] = job["template"][0]["template"][0]["containers"]
    assert container["command"] == "${local.audit_command}"
    assert config.locals["audit_command"] == ["/cnb/lifecycle/launcher"]
    args = config.locals["audit_args"]
    assert args[:3] == ["python3", "-m", "shared.audit"]
    assert all_outputs["audit_job"]["value"]["command"] == ["/cnb/lifecycle/launcher"]


def test_the_audit_image_is_built_as_the_build_account_then_deployed_by_image(
    applied_commands, all_outputs, functions
):
    *_, build, job = applied_commands
    out = all_outputs["audit_job"]["value"]
    assert build[:4] == ["gcloud", "builds", "submit", "."]
    b = flags(build)
    assert b["--service-account"] == out["build_service_account"]
    assert b["--service-account"] == functions["api"]["build_service_account"]
    assert b["--config"] == deploy.AUDIT_BUILD_CONFIG
    assert b["--ignore-file"] == deploy.AUDIT_IGNORE_FILE
    assert b["--gcs-source-staging-dir"] == f"gs://{out['source_bucket']}/source"
    substitutions = dict(p.split("=", 1) for p in b["--substitutions"].split(","))
    assert substitutions == {"_IMAGE": out["image"], "_ENTRYPOINT": shlex.join(out["args"])}

    assert job[:5] == ["gcloud", "run", "jobs", "deploy", out["name"]]
    j = flags(job)
    assert "--source" not in j and j["--image"] == out["image"]
    assert j["--command"] == "/cnb/lifecycle/launcher"
    assert j["--args"].split(",") == out["args"]
    assert j["--service-account"] == out["service_account"]


def test_the_build_config_uses_every_substitution_and_logs_to_cloud_logging_only():
    text = (ROOT / deploy.AUDIT_BUILD_CONFIG).read_text()
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", text))
    assert used == {"_IMAGE", "_ENTRYPOINT"}  # Cloud Build refuses an unused substitution
    assert "logging: CLOUD_LOGGING_ONLY" in text  # required with a user-specified account
    assert "GOOGLE_ENTRYPOINT=${_ENTRYPOINT}" in text


def test_the_audit_upload_holds_every_local_package_the_audit_imports():
    lines_ = (ROOT / deploy.AUDIT_IGNORE_FILE).read_text().splitlines()
    kept = {line[2:].rstrip("/") for line in lines_ if line.startswith("!/")}
    imported = local_packages_imported((ROOT / "shared" / "audit").rglob("*.py"))
    # .python-version: the buildpack takes the Python version from it.
    assert kept == {".python-version", "requirements.txt"} | imported
    assert "/*" in lines_


# --- 2. one make apply: the waits, and the time provider's schema --------------------------


def test_versions_pin_the_time_provider_the_schema_was_extracted_from(config: Config):
    (terraform,) = config.terraform
    (providers,) = terraform["required_providers"]
    assert providers["time"]["source"] == "hashicorp/time"
    schema = json.loads(TIME_SCHEMA.read_text())
    extracted = re.search(r"hashicorp/time (\d+)\.(\d+)\.", schema["source"])
    assert extracted and providers["time"]["version"] == f"~> {extracted[1]}.{extracted[2]}"


def test_every_resource_type_has_a_provider_schema(config: Config, schema):
    time_schema = json.loads(TIME_SCHEMA.read_text())
    known = set(schema["resources"]) | set(time_schema["resources"])
    assert set(config.resources) <= known, "make terraform-schema"


def test_every_time_block_matches_the_time_provider_schema(config: Config):
    time_schema = json.loads(TIME_SCHEMA.read_text())
    problems = []
    for type_, named in config.resources.items():
        if type_.startswith("time_"):
            for name, body in named.items():
                meta = {"count", "for_each", "depends_on", "lifecycle", "provider"}
                problems += check_body(body, time_schema["resources"][type_], name, meta)
    assert problems == []
    bad = parse('resource "time_sleep" "w" {\n create_duration = "1s"\n wait = "1s"\n}')
    body = bad["resource"][0]["time_sleep"]["w"]
    assert check_body(body, time_schema["resources"]["time_sleep"], "w") == [
        "w: unknown argument 'wait'"
    ]


def test_the_functions_are_created_after_every_grant_they_need_has_propagated(config: Config):
    [wait] = [config.resource("time_sleep", "grants_propagated")]
    waited = set(wait["depends_on"])
    needed = {"${google_secret_manager_secret_iam_member.r2_accessor}"}
    for type_, named in config.resources.items():
        if type_.endswith("_iam_member"):
            for name, body in named.items():
                if "google_service_account.build." in str(body.get("member")):
                    needed.add(f"${{{type_}.{name}}}")
    assert needed <= waited
    fn = config.resource("google_cloudfunctions2_function", "fn")
    assert "${time_sleep.grants_propagated}" in fn["depends_on"]
    assert int(wait["create_duration"].rstrip("s")) >= 120  # IAM: "typically 2 minutes"


def test_the_metrics_wait_covers_every_log_based_metric(config: Config):
    wait = config.resource("time_sleep", "log_metrics_visible")
    text = str(wait["triggers"])
    for name in config.of_type("google_logging_metric"):
        assert f"google_logging_metric.{name}" in text
    assert int(wait["create_duration"].rstrip("s")) >= 600  # "could take up to 10 minutes"


# --- 3. secrets by project number ----------------------------------------------------------


def test_secrets_are_named_by_project_number_as_gcloud_stores_them(config: Config, functions):
    fn = config.resource("google_cloudfunctions2_function", "fn")
    [dyn] = fn["service_config"][0]["dynamic"]
    content = dyn["secret_environment_variables"]["content"][0]
    assert content["project_id"] == "${data.google_project.this.number}"
    for settings in functions.values():
        for path in settings["secrets"].values():
            assert path.startswith(f"projects/{PROJECT_NUMBER}/secrets/")


# --- 4. make deploy DRY_RUN=1 before the first apply ---------------------------------------


needs_no_state = pytest.mark.skipif(
    shutil.which("terraform") is None or (TERRAFORM / "terraform.tfstate").exists(),
    reason="needs the terraform CLI and no terraform state in terraform/",
)


@needs_no_state
def test_a_dry_run_before_any_apply_prints_the_planned_commands(applied_commands):
    env = {"DRY_RUN": "1", "TF_OUTPUTS": "", "TF_VARS_FILE": str(EXAMPLE_TFVARS)}
    result = run_deploy(env)
    planned = lines(result)
    assert "known after apply" in result.stderr and "DRY_RUN" in result.stderr
    marker = deploy.KNOWN_AFTER_APPLY.format("project number")
    assert any(marker in arg for command in planned for arg in command)
    # The same commands as after the apply, but for what only the apply can tell.
    as_applied = [[arg.replace(marker, PROJECT_NUMBER) for arg in c] for c in planned]
    assert as_applied == applied_commands


@needs_no_state
def test_before_any_apply_a_real_deploy_and_a_missing_tfvars_say_what_to_do(tmp_path):
    result = run_deploy({"DRY_RUN": "", "TF_OUTPUTS": "", "TF_VARS_FILE": str(EXAMPLE_TFVARS)})
    assert result.returncode != 0 and "run `make apply` first" in result.stderr
    result = run_deploy({"DRY_RUN": "1", "TF_OUTPUTS": "", "TF_VARS_FILE": str(tmp_path / "x")})
    assert result.returncode != 0 and "terraform.tfvars.example" in result.stderr


# --- 5. every command and flag against the installed gcloud's --help -----------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@functools.cache
def gcloud_help(*path: str) -> str:
    result = subprocess.run(
        ["gcloud", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "PAGER": "cat"},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"gcloud {' '.join(path)}: {result.stderr}"
    return _ANSI.sub("", result.stdout)


def documented(flag: str, help_text: str) -> bool:
    names = [flag]
    if flag.startswith("--no-"):
        names.append("--[no-]" + flag[5:])
    else:
        names.append("--[no-]" + flag[2:])
    return any(re.search(re.escape(n) + r"(?![\w-])", help_text) for n in names)


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the gcloud CLI")
def test_every_deploy_command_and_flag_is_in_the_installed_gclouds_help(applied_commands):
    assert len(applied_commands) == 4
    for command in applied_commands:
        first_flag = next(i for i, a in enumerate(command) if a.startswith("--"))
        path = command[1 : first_flag - 1]  # each command has one positional: a name or .
        text = gcloud_help(*path)
        assert f"gcloud {' '.join(path)}" in text
        missing = [f for f in flags(command) if not documented(f, text)]
        assert not missing, f"gcloud {' '.join(path)} has no {missing}"
    # What made the audit job build as the default account: not a flag of jobs deploy.
    assert not documented("--build-service-account", gcloud_help("run", "jobs", "deploy"))


def test_the_help_check_catches_an_invented_flag():
    text = "  --service-account=SA\n  --[no-]allow-unauthenticated\n  --quiet"
    assert documented("--no-allow-unauthenticated", text)
    assert documented("--service-account", text)
    assert not documented("--service", text)
    assert not documented("--build-service-account", text)


# --- 6 and 7. docs/deploy.md against terraform/ --------------------------------------------

ACCOUNTS = {"api": "api", "worker": "worker", "invoker": "invoker", "build": "build"}
ACCOUNTS |= {"auditor": "auditor"}


def _who(type_: str, body: dict) -> set[str]:
    member, each = str(body["member"]), str(body.get("for_each", ""))
    if member == "allUsers":
        return {"allUsers"}
    if m := re.search(r"local\.runtime_members\.(\w+)", member):
        return {m[1]}
    if "each.value" in member and "local.runtime_members" in each:
        return {"api", "worker"}
    if m := re.search(r"google_service_account\.(\w+)\.email", member):
        return {ACCOUNTS[m[1]]}
    raise AssertionError(f"{type_}: member {member!r} not understood by this test")


def _on(config: Config, type_: str, body: dict) -> str:
    if type_ == "google_project_iam_member":
        return "gcf-v2-sources-* buckets (IAM condition)" if "condition" in body else "project"
    if type_ == "google_cloud_tasks_queue_iam_member":
        return "the queue"
    if type_ == "google_secret_manager_secret_iam_member":
        return "each R2 secret"
    if type_ == "google_service_account_iam_member":
        return "the invoker account"
    if type_ == "google_cloud_run_v2_service_iam_member":
        return "the api only" if '"api"' in body["name"] else "the worker only"
    if type_ == "google_cloud_run_v2_job_iam_member":
        return "the audit job"
    if type_ == "google_storage_bucket_iam_member":
        bucket = re.search(r"google_storage_bucket\.(\w+)\.name", body["bucket"])
        assert bucket, body["bucket"]
        return {"source": "the bootstrap bucket", "job_sources": "the job sources bucket"}[
            bucket[1]
        ]
    raise AssertionError(f"{type_}: a new kind of grant: teach this test and the docs")


def terraform_grants(config: Config) -> set[tuple[str, str, str]]:
    grants = set()
    for type_, named in config.resources.items():
        if not type_.endswith("_iam_member"):
            continue
        for body in named.values():
            role = body["role"]
            if "google_project_iam_custom_role" in role:
                role = "custom role"
            for who in _who(type_, body):
                grants.add((who, role, _on(config, type_, body)))
    return grants


def docs_grants() -> tuple[set[tuple[str, str, str]], set[str]]:
    text = DOCS.read_text()
    table = text[text.index("| who | role | on | why |") :].split("\n\n")[0]
    grants, permissions = set(), set()
    for row in table.splitlines()[2:]:
        who, role, on, _why = (c.strip() for c in row.strip("|").split("|"))
        names = {w.strip(" `") for w in who.split(",")}
        if role.startswith("custom role"):
            roles = {"custom role"}
            permissions = set(re.findall(r"`(cloudtasks\.[\w.]+)`", role))
        else:
            roles = set(re.findall(r"`(roles/[\w.]+)`", role))
        for name in names:
            for r in roles:
                grants.add((name, r, on.replace("`", "")))
    return grants, permissions


def test_the_grants_table_in_the_docs_is_terraforms(config: Config):
    documented_, permissions = docs_grants()
    expected = terraform_grants(config)
    assert sorted(documented_ - expected) == [], "in docs/deploy.md, not in terraform/"
    assert sorted(expected - documented_) == [], "in terraform/, not in docs/deploy.md"
    role = config.resource("google_project_iam_custom_role", "queue_operator")
    assert permissions == set(role["permissions"]), "the custom role's permissions"


NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]


def test_the_docs_count_the_service_accounts_and_alert_policies_terraform_creates(
    config: Config,
):
    text = " ".join(DOCS.read_text().split())  # a count may wrap a line
    accounts = len(config.of_type("google_service_account"))
    assert f"{NUMBERS[accounts]} service accounts" in text
    policies = 0
    for body in config.of_type("google_monitoring_alert_policy").values():
        each = body.get("for_each")
        policies += len(config.locals[each[8:-1]]) if each else 1  # ${local.alerts}
    assert f"{NUMBERS[policies]} alert policies" in text


def test_every_make_target_terraform_file_and_variable_the_docs_name_exists(config: Config):
    text = DOCS.read_text()
    for path in re.findall(r"`((?:terraform|scripts|docs)/[\w./-]+)`", text):
        if path != "terraform/terraform.tfvars":  # the copy step 2 makes (git-ignored)
            assert (ROOT / path.rstrip("/")).exists(), path
    for name in ("firestore_location", "name_prefix", "worker_ingress"):
        assert name in text and name in config.variables
