"""Ship the code to both Cloud Functions and the audit job: `make deploy` (`DRY_RUN=1`
prints the commands only).

Every setting of `gcloud functions deploy --gen2` comes from `terraform output -json`
(terraform/outputs.tf): region, runtime, entry point, service accounts, environment,
secrets, ingress, scaling. So a code change needs no Terraform run, and the code deploy can
never disagree with Terraform, which ignores the source after creating each function from a
placeholder (terraform/functions.tf). The audit job's image is built by Cloud Build as the
build account (`gcloud builds submit`), then deployed by image (terraform/audit.tf).

    python scripts/deploy.py                  # runs the commands
    DRY_RUN=1 python scripts/deploy.py        # prints them
    TF_OUTPUTS=outputs.json python scripts/deploy.py   # outputs from a file, not terraform

Before the first `make apply` Terraform has no outputs: DRY_RUN=1 then prints the commands
planned from terraform/terraform.tfvars (TF_VARS_FILE names another file) and the
variables' defaults, each value Terraform learns only when it creates a resource shown as
`<...: known after apply>`, as `terraform plan` does. A real deploy still needs the apply.

    python scripts/deploy.py stub             # rebuilds terraform/bootstrap/function-stub.zip
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
IGNORE_FILE = "terraform/function.gcloudignore"
AUDIT_IGNORE_FILE = "terraform/audit.gcloudignore"
AUDIT_BUILD_CONFIG = "terraform/audit.cloudbuild.yaml"
TFVARS = TERRAFORM / "terraform.tfvars"
# What a planned value not known before apply is printed as (the project number, in the
# worker's URL and the secrets' paths).
KNOWN_AFTER_APPLY = "<{}: known after apply>"
STUB_DIR = TERRAFORM / "bootstrap" / "stub"
STUB_ZIP = TERRAFORM / "bootstrap" / "function-stub.zip"
# The worker first: tasks the new api queues then meet a worker that knows them.
ORDER = ("worker", "api")
INGRESS = {
    "ALLOW_ALL": "all",
    "ALLOW_INTERNAL_ONLY": "internal-only",
    "ALLOW_INTERNAL_AND_GCLB": "internal-and-gclb",
}


def terraform_outputs(dry_run: bool = False) -> dict[str, Any]:
    """`terraform output -json`, or the file TF_OUTPUTS names; {name: value}. With no
    outputs (no `make apply` yet), a dry run gets planned_outputs() instead."""
    path = os.environ.get("TF_OUTPUTS")
    if path:
        raw = json.loads(Path(path).read_text())
    else:
        result = subprocess.run(
            ["terraform", f"-chdir={TERRAFORM}", "output", "-json"],
            check=True,
            capture_output=True,
            text=True,
        )
        raw = json.loads(result.stdout)
    if not raw:
        if dry_run and not path:
            return planned_outputs()
        raise SystemExit("terraform has no outputs: run `make apply` first")
    return {name: entry["value"] for name, entry in raw.items()}


def planned_outputs() -> dict[str, Any]:
    """The outputs make deploy reads, evaluated from the configuration, the tfvars file and
    the variables' defaults (tests/terraform/tfeval.py, the evaluator the tests use), with
    what only an apply can tell marked KNOWN_AFTER_APPLY."""
    tfvars = Path(os.environ.get("TF_VARS_FILE") or TFVARS)
    if not tfvars.is_file():
        raise SystemExit(
            f"terraform has no outputs and there is no {tfvars}: copy "
            "terraform/terraform.tfvars.example to it (docs/deploy.md, step 2)"
        )
    sys.path.insert(0, str(ROOT))
    from tests.terraform.tfcheck import load_config, parse
    from tests.terraform.tfeval import Evaluator

    class Planned(Evaluator):
        def attribute(self, data: bool, type_: str, name: str, key: str | None, attr: str) -> Any:
            if data and type_ == "google_project" and attr == "number":
                return KNOWN_AFTER_APPLY.format("project number")
            return super().attribute(data, type_, name, key, attr)

    config = load_config()
    values = {k: v for k, v in parse(tfvars.read_text()).items() if not k.startswith("__")}
    evaluator = Planned(config, values)
    names = ("project_id", "region", "functions", "audit_job")
    print(
        f"# no terraform outputs yet (no make apply): commands planned from {tfvars.name} "
        "and the defaults; <...: known after apply> is what the apply will tell",
        file=sys.stderr,
    )
    return {name: evaluator.value(config.outputs[name]["value"]) for name in names}


def _delimited(pairs: dict[str, str]) -> str:
    """KEY=VALUE pairs for a gcloud list flag. A value holding a comma (ALLOWED_ORIGINS) needs
    another delimiter: gcloud's `^DELIM^` prefix (gcloud topic escaping)."""
    return _listed([f"{k}={v}" for k, v in sorted(pairs.items())], "the environment variables")


def _listed(items: list[str], what: str = "a list flag") -> str:
    """Items for a gcloud list flag (--command, --args), with another delimiter when one
    holds a comma (gcloud topic escaping)."""
    if not any("," in item for item in items):
        return ",".join(items)
    for delim in ("@", "|", "~", ";", "#"):
        if not any(delim in item for item in items):
            return f"^{delim}^" + delim.join(items)
    raise SystemExit(f"no delimiter is free for {what}")


def deploy_command(fn: dict[str, Any], project: str, region: str) -> list[str]:
    secrets = {env: f"{secret}:latest" for env, secret in fn["secrets"].items()}
    return [
        "gcloud",
        "functions",
        "deploy",
        fn["name"],
        "--gen2",
        f"--project={project}",
        f"--region={region}",
        f"--runtime={fn['runtime']}",
        "--source=.",
        f"--ignore-file={IGNORE_FILE}",
        f"--entry-point={fn['entry_point']}",
        "--trigger-http",
        f"--service-account={fn['service_account']}",
        f"--build-service-account={fn['build_service_account']}",
        f"--set-env-vars={_delimited(fn['environment'])}",
        f"--set-secrets={_delimited(secrets)}",
        f"--ingress-settings={INGRESS[fn['ingress']]}",
        "--allow-unauthenticated" if fn["public"] else "--no-allow-unauthenticated",
        f"--timeout={fn['timeout_seconds']}s",
        f"--memory={fn['memory']}",
        f"--cpu={fn['cpu']}",
        f"--concurrency={fn['concurrency']}",
        f"--min-instances={fn['min_instances']}",
        f"--max-instances={fn['max_instances']}",
        "--quiet",
    ]


def audit_build_command(job: dict[str, Any], project: str, region: str) -> list[str]:
    """Build the audit job's image with Google Cloud's buildpacks, as the build account
    (terraform/audit.cloudbuild.yaml says why not `gcloud run jobs deploy --source`)."""
    substitutions = {"_IMAGE": job["image"], "_ENTRYPOINT": shlex.join(job["args"])}
    return [
        "gcloud",
        "builds",
        "submit",
        ".",
        f"--project={project}",
        f"--region={region}",
        f"--config={AUDIT_BUILD_CONFIG}",
        f"--substitutions={_delimited(substitutions)}",
        f"--service-account={job['build_service_account']}",
        f"--gcs-source-staging-dir=gs://{job['source_bucket']}/source",
        f"--ignore-file={AUDIT_IGNORE_FILE}",
        "--quiet",
    ]


def audit_job_command(job: dict[str, Any], project: str, region: str) -> list[str]:
    """The daily audit's job (terraform/audit.tf), deployed by image, its command the
    buildpacks launcher, exactly as Terraform declares the container."""
    return [
        "gcloud",
        "run",
        "jobs",
        "deploy",
        job["name"],
        f"--project={project}",
        f"--region={region}",
        f"--image={job['image']}",
        f"--service-account={job['service_account']}",
        f"--command={_listed(job['command'])}",
        f"--args={_listed(job['args'])}",
        f"--set-env-vars=GOOGLE_CLOUD_PROJECT={project}",
        "--quiet",
    ]


def commands(outputs: dict[str, Any]) -> list[list[str]]:
    functions = outputs["functions"]
    unknown = set(functions) - set(ORDER)
    if unknown:
        raise SystemExit(f"unknown functions in the terraform outputs: {sorted(unknown)}")
    found = [
        deploy_command(functions[key], outputs["project_id"], outputs["region"])
        for key in ORDER
        if key in functions
    ]
    if "audit_job" in outputs:
        job, project, region = outputs["audit_job"], outputs["project_id"], outputs["region"]
        found.append(audit_build_command(job, project, region))
        found.append(audit_job_command(job, project, region))
    return found


def stub_zip() -> bytes:
    """The placeholder's archive, byte for byte the same for the same files (fixed dates
    and modes), so that Terraform sees no change until the placeholder itself changes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(STUB_DIR.iterdir()):
            if path.is_file() and path.suffix in (".py", ".txt"):
                info = zipfile.ZipInfo(path.name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    if argv[1:] == ["stub"]:
        STUB_ZIP.write_bytes(stub_zip())
        print(f"wrote {STUB_ZIP.relative_to(ROOT)}")
        return 0
    dry_run = os.environ.get("DRY_RUN", "") not in ("", "0")
    for command in commands(terraform_outputs(dry_run)):
        print(shlex.join(command), flush=True)
        if not dry_run:
            subprocess.run(command, check=True, cwd=ROOT)
    if dry_run:
        print("# DRY_RUN: nothing was run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
