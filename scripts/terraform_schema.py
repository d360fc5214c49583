"""Extract, from the real schema of the hashicorp/google provider, the part this project uses.

    python scripts/terraform_schema.py            # `make terraform-schema`

The PyPI package cdktn-provider-google 21.1.0 ships in its wheel a jsii assembly
(`_jsii/provider-google@21.1.0.jsii.tgz`, file `package/.jsii`) generated from
hashicorp/google 8.7.0: for every resource and data source, its config struct with each
argument, each nested block (a struct type: one instance, or a list of them) and whether
it is required. The Terraform name of each argument is the anchor of its docs link.

This script downloads the wheel (pip download, about 67 MB, into a temporary folder),
keeps only the resource and data source types that `terraform/*.tf` uses, plus the
provider's own configuration, and writes them to tests/terraform/google_provider_schema.json,
which the tests read (the package itself is never a test requirement). Run it again when a
.tf file starts using a new resource type.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.terraform.tfcheck import load_config, used_types  # noqa: E402

PACKAGE = "cdktn-provider-google"
VERSION = "21.1.0"
PROVIDER_VERSION = "8.7.0"
ASSEMBLY = f"provider-google@{VERSION}.jsii.tgz"
OUT = ROOT / "tests" / "terraform" / "google_provider_schema.json"

_KIND = re.compile(r"\{@link \S+/docs/(resources|data-sources)/\S+ (google_\w+)\}")
_ANCHOR = re.compile(r"\{@link \S+#(\w+) ")


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


def read_assembly(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as whl:
        name = next(n for n in whl.namelist() if n.endswith("/_jsii/" + ASSEMBLY))
        data = whl.read(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tgz:
        member = tgz.extractfile("package/.jsii")
        assert member is not None
        return json.load(member)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tf_name(prop: dict) -> str:
    docs = prop.get("docs", {})
    for text in (docs.get("remarks", ""), docs.get("summary", "")):
        match = _ANCHOR.search(text)
        if match:
            return match.group(1)
    return _snake(prop["name"])


class Extractor:
    def __init__(self, assembly: dict) -> None:
        self.types: dict[str, dict] = assembly["types"]

    def _struct_fqns(self, type_ref: dict) -> tuple[str | None, bool]:
        """The datatype struct a property's type refers to (a nested block), and whether it
        is a list of them."""
        if "fqn" in type_ref:
            target = self.types.get(type_ref["fqn"])
            if target and target.get("kind") == "interface" and target.get("datatype"):
                return type_ref["fqn"], False
            return None, False
        if "union" in type_ref:
            for member in type_ref["union"]["types"]:
                fqn, many = self._struct_fqns(member)
                if fqn:
                    return fqn, many
            return None, False
        if "collection" in type_ref:
            coll = type_ref["collection"]
            fqn, _ = self._struct_fqns(coll["elementtype"])
            return fqn, coll["kind"] == "array"
        return None, False

    def _properties(self, fqn: str) -> list[dict]:
        struct = self.types[fqn]
        props = list(struct.get("properties", []))
        for parent in struct.get("interfaces", []):
            if parent in self.types:  # cdktn.TerraformMetaArguments is not: meta-arguments
                props += self._properties(parent)
        return props

    def struct(self, fqn: str, seen: tuple[str, ...] = ()) -> dict:
        arguments: dict[str, bool] = {}
        blocks: dict[str, dict] = {}
        for prop in self._properties(fqn):
            name = _tf_name(prop)
            required = not prop.get("optional", False)
            nested, many = self._struct_fqns(prop["type"])
            if nested and nested not in seen:
                block = self.struct(nested, (*seen, fqn))
                block["required"] = required
                block["list"] = many
                blocks[name] = block
            else:
                arguments[name] = required
        return {
            "arguments": dict(sorted(arguments.items())),
            "blocks": dict(sorted(blocks.items())),
        }

    def config_fqn(self, cls: dict) -> str:
        params = cls["initializer"]["parameters"]
        return next(p["type"]["fqn"] for p in params if p["name"] == "config")

    def index(self) -> dict[tuple[str, str], dict]:
        """(kind, terraform type) -> class, kind being resource, data or provider."""
        found: dict[tuple[str, str], dict] = {}
        for cls in self.types.values():
            base = cls.get("base")
            if base == "cdktn.TerraformProvider":
                found[("provider", "google")] = cls
                continue
            if base not in ("cdktn.TerraformResource", "cdktn.TerraformDataSource"):
                continue
            match = _KIND.search(cls.get("docs", {}).get("summary", ""))
            if match:
                kind = "resource" if match.group(1) == "resources" else "data"
                found[(kind, match.group(2))] = cls
        return found


def extract(assembly: dict, resources: set[str], data: set[str]) -> dict:
    ex = Extractor(assembly)
    index = ex.index()
    out: dict = {
        "source": f"{PACKAGE} {VERSION} (jsii assembly of hashicorp/google {PROVIDER_VERSION})",
        "provider": ex.struct(ex.config_fqn(index[("provider", "google")])),
        "resources": {},
        "data": {},
    }
    for kind, names in (("resource", resources), ("data", data)):
        for name in sorted(names):
            cls = index.get((kind, name))
            if cls is None:
                raise SystemExit(f"{kind} {name} is not in hashicorp/google {PROVIDER_VERSION}")
            out["resources" if kind == "resource" else "data"][name] = ex.struct(ex.config_fqn(cls))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded wheel")
    parser.add_argument("--tf-dir", type=Path, default=ROOT / "terraform")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    resources, data = used_types(load_config(args.tf_dir))
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        assembly = read_assembly(wheel)
    schema = extract(assembly, resources, data)
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(
        f"wrote {args.out.relative_to(ROOT)}: {len(schema['resources'])} resource types, "
        f"{len(schema['data'])} data source types from {PACKAGE} {VERSION}"
    )


if __name__ == "__main__":
    main()
