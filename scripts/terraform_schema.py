"""Extract, from the real schema of a Terraform provider, the part this project uses.

    python scripts/terraform_schema.py [--provider google|time] [--wheel cdktn_provider_....whl]

`make terraform-schema` runs it for both providers. Each provider's PyPI package
cdktn-provider-<name> ships in its wheel a jsii assembly
(`_jsii/provider-<name>@<version>.jsii.tgz`, file `package/.jsii`) generated from
hashicorp/<name>: for every resource and data source, its config struct with each argument,
each nested block (a struct type: one instance, or a list of them) and whether it is
required. The Terraform name of each argument is the anchor of its docs link.

This script downloads the wheel (pip download; google's is about 67 MB, into a temporary
folder), keeps only the resource and data source types of that provider that `terraform/*.tf`
uses (plus, for google, the provider's own configuration), and writes them to
tests/terraform/<name>_provider_schema.json, which the tests read (the package itself is never a
test requirement): cdktn-provider-google 21.1.0 is hashicorp/google 8.7.0, cdktn-provider-time
14.0.2 is hashicorp/time 0.14.2 (the version terraform/versions.tf pins). Run it again when a
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.terraform.tfcheck import load_config, used_types  # noqa: E402

SCHEMAS = ROOT / "tests" / "terraform"
_ANCHOR = re.compile(r"\{@link \S+#(\w+) ")

# The parsed jsii assembly and what is extracted from it: JSON objects.
Json = dict[str, Any]


@dataclass(frozen=True)
class Provider:
    name: str  # google: its resource types are google_*
    version: str  # of the PyPI package cdktn-provider-<name>
    provider_version: str  # of hashicorp/<name> it was generated from
    provider_config: bool  # extract the provider block's own arguments too
    package: str  # on PyPI: cdktn-provider-<name>


PROVIDERS = {
    "google": Provider("google", "21.1.0", "8.7.0", True, "cdktn-provider-google"),
    "time": Provider("time", "14.0.2", "0.14.2", False, "cdktn-provider-time"),
}


def download_wheel(provider: Provider, dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            f"{provider.package}=={provider.version}",
            "-d",
            str(dest),
        ],
        check=True,
    )
    return next(dest.glob("*.whl"))


def read_assembly(provider: Provider, wheel: Path) -> Json:
    with zipfile.ZipFile(wheel) as whl:
        name = next(
            n
            for n in whl.namelist()
            if n.endswith(f"/_jsii/provider-{provider.name}@{provider.version}.jsii.tgz")
        )
        data = whl.read(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tgz:
        member = tgz.extractfile("package/.jsii")
        assert member is not None
        assembly: Json = json.load(member)
        return assembly


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tf_name(prop: Json) -> str:
    docs = prop.get("docs", {})
    for text in (docs.get("remarks", ""), docs.get("summary", "")):
        match = _ANCHOR.search(text)
        if match:
            return match.group(1)
    return _snake(str(prop["name"]))


class Extractor:
    def __init__(self, assembly: Json, provider: str = "google") -> None:
        self.types: dict[str, Json] = assembly["types"]
        self._provider = provider
        self._kind = re.compile(
            rf"\{{@link \S+/docs/(resources|data-sources)/\S+ ({provider}_\w+)\}}"
        )

    def _struct_fqns(self, type_ref: Json) -> tuple[str | None, bool]:
        """The datatype struct a property's type refers to (a nested block), and whether it
        is a list of them."""
        if "fqn" in type_ref:
            target = self.types.get(type_ref["fqn"])
            if target and target.get("kind") == "interface" and target.get("datatype"):
                return str(type_ref["fqn"]), False
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

    def _properties(self, fqn: str) -> list[Json]:
        struct = self.types[fqn]
        props = list(struct.get("properties", []))
        for parent in struct.get("interfaces", []):
            if parent in self.types:  # cdktn.TerraformMetaArguments is not: meta-arguments
                props += self._properties(parent)
        return props

    def struct(self, fqn: str, seen: tuple[str, ...] = ()) -> Json:
        arguments: dict[str, bool] = {}
        blocks: dict[str, Json] = {}
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

    def config_fqn(self, cls: Json) -> str:
        params = cls["initializer"]["parameters"]
        return next(str(p["type"]["fqn"]) for p in params if p["name"] == "config")

    def index(self) -> dict[tuple[str, str], Json]:
        """(kind, terraform type) -> class, kind being resource, data or provider."""
        found: dict[tuple[str, str], Json] = {}
        for cls in self.types.values():
            base = cls.get("base")
            if base == "cdktn.TerraformProvider":
                found[("provider", self._provider)] = cls
                continue
            if base not in ("cdktn.TerraformResource", "cdktn.TerraformDataSource"):
                continue
            match = self._kind.search(cls.get("docs", {}).get("summary", ""))
            if match:
                kind = "resource" if match.group(1) == "resources" else "data"
                found[(kind, match.group(2))] = cls
        return found


def extract(
    assembly: Json, resources: set[str], data: set[str], provider: Provider = PROVIDERS["google"]
) -> Json:
    ex = Extractor(assembly, provider.name)
    index = ex.index()
    source = f"{provider.package} {provider.version} (jsii assembly of hashicorp/{provider.name} "
    out: Json = {"source": f"{source}{provider.provider_version})", "resources": {}, "data": {}}
    if provider.provider_config:
        out["provider"] = ex.struct(ex.config_fqn(index[("provider", provider.name)]))
    for kind, names in (("resource", resources), ("data", data)):
        for name in sorted(names):
            cls = index.get((kind, name))
            if cls is None:
                raise SystemExit(
                    f"{kind} {name} is not in hashicorp/{provider.name} {provider.provider_version}"
                )
            out["resources" if kind == "resource" else "data"][name] = ex.struct(ex.config_fqn(cls))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="google")
    parser.add_argument("--wheel", type=Path, help="an already downloaded wheel")
    parser.add_argument("--tf-dir", type=Path, default=ROOT / "terraform")
    parser.add_argument("--out", type=Path, help="default: tests/terraform/<name>_provider_...")
    args = parser.parse_args()
    provider = PROVIDERS[args.provider]
    out: Path = args.out or SCHEMAS / f"{provider.name}_provider_schema.json"

    resources, data = used_types(load_config(args.tf_dir), provider.name)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(provider, Path(tmp))
        assembly = read_assembly(provider, wheel)
    schema = extract(assembly, resources, data, provider)
    out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    shown = out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out
    print(
        f"wrote {shown}: {len(schema['resources'])} resource types, "
        f"{len(schema['data'])} data source types from {provider.package} {provider.version}"
    )


if __name__ == "__main__":
    main()
