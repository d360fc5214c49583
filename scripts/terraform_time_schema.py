"""Extract the hashicorp/time provider's schema, as scripts/terraform_schema.py does for
hashicorp/google: `make terraform-schema` runs both.

    python scripts/terraform_time_schema.py [--wheel cdktn_provider_time-....whl]

The PyPI package cdktn-provider-time 14.0.2 ships a jsii assembly generated from
hashicorp/time 0.14.2 (the version terraform/versions.tf pins): every resource's config
struct, each argument and whether it is required. This writes the time_* resource types that
terraform/*.tf uses to tests/terraform/time_provider_schema.json, which
tests/terraform/test_terraform_providers.py checks every time_* block against.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.terraform_schema import Extractor, read_assembly  # noqa: E402
from tests.terraform.tfcheck import load_config  # noqa: E402

PACKAGE = "cdktn-provider-time"
VERSION = "14.0.2"
PROVIDER_VERSION = "0.14.2"
ASSEMBLY = f"provider-time@{VERSION}.jsii.tgz"
OUT = ROOT / "tests" / "terraform" / "time_provider_schema.json"

_KIND = re.compile(r"\{@link \S+/docs/resources/\S+ (time_\w+)\}")


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            f"{PACKAGE}=={VERSION}",
            "-d",
            str(dest),
        ],
        check=True,
    )
    return next(dest.glob("*.whl"))


def extract(assembly: dict, resources: set[str]) -> dict:
    ex = Extractor(assembly)
    index = {}
    for cls in ex.types.values():
        if cls.get("base") == "cdktn.TerraformResource":
            match = _KIND.search(cls.get("docs", {}).get("summary", ""))
            if match:
                index[match.group(1)] = cls
    out: dict = {
        "source": f"{PACKAGE} {VERSION} (jsii assembly of hashicorp/time {PROVIDER_VERSION})",
        "resources": {},
        "data": {},
    }
    for name in sorted(resources):
        if name not in index:
            raise SystemExit(f"resource {name} is not in hashicorp/time {PROVIDER_VERSION}")
        out["resources"][name] = ex.struct(ex.config_fqn(index[name]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded wheel")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    resources = {t for t in load_config().resources if t.startswith("time_")}
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        # read_assembly looks for the google assembly's name: point it at this one.
        import scripts.terraform_schema as google_schema

        google_schema.ASSEMBLY = ASSEMBLY
        assembly = read_assembly(wheel)
    schema = extract(assembly, resources)
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out.relative_to(ROOT)}: {sorted(schema['resources'])} from {PACKAGE}")


if __name__ == "__main__":
    main()
