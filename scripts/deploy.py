"""Ship the code to both Cloud Functions and the audit job: `make deploy` (`DRY_RUN=1`
prints the commands only).

Every setting of `gcloud functions deploy --gen2` comes from `terraform output -json`
(terraform/outputs.tf): region, runtime, entry point, service accounts, environment,
secrets, ingress, scaling. So a code change needs no Terraform run, and the code deploy can
never disagree with Terraform, which ignores the source after creating each function from a
placeholder (terraform/functions.tf).

    python scripts/deploy.py                  # runs the commands
    DRY_RUN=1 python scripts/deploy.py        # prints them
    TF_OUTPUTS=outputs.json python scripts/deploy.py   # outputs from a file, not terraform

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

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
IGNORE_FILE = "terraform/function.gcloudignore"
STUB_DIR = TERRAFORM / "bootstrap" / "stub"
STUB_ZIP = TERRAFORM / "bootstrap" / "function-stub.zip"
# The worker first: tasks the new api queues then meet a worker that knows them.
ORDER = ("worker", "api")
INGRESS = {
    "ALLOW_ALL": "all",
    "ALLOW_INTERNAL_ONLY": "internal-only",
    "ALLOW_INTERNAL_AND_GCLB": "internal-and-gclb",
}


def terraform_outputs() -> dict:
    """`terraform output -json`, or the file TF_OUTPUTS names; {name: value}."""
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
        raise SystemExit("terraform has no outputs: run `make apply` first")
    return {name: entry["value"] for name, entry in raw.items()}


def _delimited(pairs: dict[str, str]) -> str:
    """KEY=VALUE pairs for a gcloud list flag. A value holding a comma (ALLOWED_ORIGINS) needs
    another delimiter: gcloud's `^DELIM^` prefix (gcloud topic escaping)."""
    items = [f"{k}={v}" for k, v in sorted(pairs.items())]
    if not any("," in item for item in items):
        return ",".join(items)
    for delim in ("@", "|", "~", ";", "#"):
        if not any(delim in item for item in items):
            return f"^{delim}^" + delim.join(items)
    raise SystemExit("no delimiter is free for the environment variables")


def deploy_command(fn: dict, project: str, region: str) -> list[str]:
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


def audit_job_command(job: dict, project: str, region: str) -> list[str]:
    """The daily audit's job (terraform/audit.tf), built from the same source."""
    return [
        "gcloud",
        "run",
        "jobs",
        "deploy",
        job["name"],
        f"--project={project}",
        f"--region={region}",
        "--source=.",
        f"--service-account={job['service_account']}",
        "--command=python",
        "--args=-m,shared.audit,audit,--json",
        f"--set-env-vars=GOOGLE_CLOUD_PROJECT={project}",
        "--quiet",
    ]


def commands(outputs: dict) -> list[list[str]]:
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
        found.append(
            audit_job_command(outputs["audit_job"], outputs["project_id"], outputs["region"])
        )
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
    for command in commands(terraform_outputs()):
        print(shlex.join(command), flush=True)
        if not dry_run:
            subprocess.run(command, check=True, cwd=ROOT)
    if dry_run:
        print("# DRY_RUN: nothing was run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
