"""`make deploy DRY_RUN=1`: the gcloud commands, held against Terraform and main.py; the
placeholder source and what a deploy uploads."""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import zipfile
from io import BytesIO

from scripts import deploy
from shared.config import settings_from_env
from tests.terraform.imports import local_packages_imported
from tests.terraform.tfcheck import ROOT, TERRAFORM


def dry_run(outputs_file) -> list[list[str]]:
    env = {**os.environ, "DRY_RUN": "1", "TF_OUTPUTS": str(outputs_file)}
    result = subprocess.run(
        [sys.executable, "scripts/deploy.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "DRY_RUN" in result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]


def flags(command: list[str]) -> dict[str, str]:
    out = {}
    for arg in command[4:]:
        name, _, value = arg.partition("=")
        out[name] = value
    return out


def parse_pairs(value: str) -> dict[str, str]:
    delim = ","
    if value.startswith("^"):
        delim, value = value[1], value[3:]
    return dict(item.split("=", 1) for item in value.split(delim))


def test_the_dry_run_prints_one_deploy_per_function_worker_first(outputs_file, functions):
    commands = dry_run(outputs_file)
    assert [c[:4] for c in commands] == [
        ["gcloud", "functions", "deploy", functions["worker"]["name"]],
        ["gcloud", "functions", "deploy", functions["api"]["name"]],
    ]


def test_each_command_matches_terraform(outputs_file, functions, evaluator):
    by_name = {f["name"]: f for f in functions.values()}
    for command in dry_run(outputs_file):
        fn = by_name[command[3]]
        f = flags(command)
        assert "--gen2" in f and "--trigger-http" in f and f["--source"] == "."
        assert f["--project"] == evaluator.vars["project_id"]
        assert f["--region"] == evaluator.vars["region"]
        assert f["--runtime"] == fn["runtime"]
        assert f["--entry-point"] == fn["entry_point"]
        assert f["--service-account"] == fn["service_account"]
        assert f["--build-service-account"] == fn["build_service_account"]
        assert parse_pairs(f["--set-env-vars"]) == fn["environment"]
        assert parse_pairs(f["--set-secrets"]) == {
            env: f"{path}:latest" for env, path in fn["secrets"].items()
        }
        assert f["--ingress-settings"] == deploy.INGRESS[fn["ingress"]]
        assert f["--timeout"] == f"{fn['timeout_seconds']}s"
        assert f["--memory"] == fn["memory"] and f["--cpu"] == fn["cpu"]
        assert f["--concurrency"] == str(fn["concurrency"])
        assert f["--min-instances"] == str(fn["min_instances"])
        assert f["--max-instances"] == str(fn["max_instances"])
        assert f["--ignore-file"] == deploy.IGNORE_FILE
        if fn["public"]:
            assert "--allow-unauthenticated" in f and "--no-allow-unauthenticated" not in f
        else:
            assert "--no-allow-unauthenticated" in f and "--allow-unauthenticated" not in f


def test_the_deployed_environment_is_accepted_by_production_configuration(outputs_file):
    for command in dry_run(outputs_file):
        f = flags(command)
        env = parse_pairs(f["--set-env-vars"])
        env |= {k: "secret-value" for k in parse_pairs(f["--set-secrets"])}
        settings = settings_from_env(env)  # raises ConfigError naming every problem
        assert not settings.is_local and settings.worker_url.startswith("https://")
        assert (settings.identity_provider, settings.media_storage) == ("firebase", "r2")


def test_the_entry_points_deployed_are_main_pys(outputs_file):
    tree = ast.parse((ROOT / "main.py").read_text())
    declared = {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
        and any("functions_framework" in ast.unparse(d) for d in n.decorator_list)
    }
    deployed = {flags(c)["--entry-point"] for c in dry_run(outputs_file)}
    assert deployed == declared


def test_the_worker_is_deployed_private(outputs_file, functions):
    (worker,) = [c for c in dry_run(outputs_file) if c[3] == functions["worker"]["name"]]
    f = flags(worker)
    assert "--no-allow-unauthenticated" in f
    assert f["--ingress-settings"] == "internal-only"


def test_a_comma_in_a_value_switches_the_delimiter():
    assert deploy._delimited({"A": "1", "B": "2"}) == "A=1,B=2"
    assert deploy._delimited({"A": "x,y", "B": "2"}) == "^@^A=x,y@B=2"
    assert parse_pairs(deploy._delimited({"A": "x,y", "B": "2"})) == {"A": "x,y", "B": "2"}


def test_the_placeholder_archive_is_up_to_date():
    """terraform/bootstrap/function-stub.zip is `python scripts/deploy.py stub`'s output."""
    assert deploy.STUB_ZIP.read_bytes() == deploy.stub_zip()
    with zipfile.ZipFile(BytesIO(deploy.stub_zip())) as archive:
        assert sorted(archive.namelist()) == ["main.py", "requirements.txt"]
    stub_requirements = (deploy.STUB_DIR / "requirements.txt").read_text().split()
    app_requirements = (ROOT / "requirements.txt").read_text().split()
    assert set(stub_requirements) <= set(app_requirements)  # the same functions-framework


def test_the_upload_holds_main_py_and_every_local_package_it_imports():
    """terraform/function.gcloudignore keeps main.py, requirements.txt and the local
    packages the deployed code imports (transitively), and nothing else at the top."""
    lines = (TERRAFORM / "function.gcloudignore").read_text().splitlines()
    kept = {line[2:].rstrip("/") for line in lines if line.startswith("!/")}
    imported = local_packages_imported([ROOT / "main.py"])
    assert imported >= {"functions", "shared"}
    assert kept == {"main.py", "requirements.txt"} | imported
    assert "/*" in lines
