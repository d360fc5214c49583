"""Read the Terraform configuration (python-hcl2) and check it against the provider schema.

The schema is tests/terraform/google_provider_schema.json, extracted from the real
hashicorp/google provider by `make terraform-schema` (scripts/terraform_schema.py).
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
SCHEMA = Path(__file__).resolve().parent / "google_provider_schema.json"

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=True)
_META = {"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"}
# Meta-arguments Terraform accepts on every resource / data block, whatever the provider.
RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner"}
RESOURCE_META |= {"connection"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}

# A block's body or a schema as python-hcl2 and json read them: JSON-like objects.
Body = dict[str, Any]


@dataclass
class Config:
    """Every top-level block of the configuration, merged across the .tf files."""

    resources: dict[str, dict[str, Body]] = field(default_factory=dict)  # type -> name -> body
    data: dict[str, dict[str, Body]] = field(default_factory=dict)
    variables: dict[str, Body] = field(default_factory=dict)
    outputs: dict[str, Body] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, list[Body]] = field(default_factory=dict)
    terraform: list[Body] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # name -> text

    def resource(self, type_: str, name: str) -> Body:
        return self.resources[type_][name]

    def of_type(self, type_: str) -> dict[str, Body]:
        return self.resources.get(type_, {})


def parse(text: str) -> Body:
    doc: Body = hcl2.loads(text, serialization_options=_OPTIONS)
    return doc


def load_config(directory: Path = TERRAFORM) -> Config:
    config = Config()
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text()
        config.files[path.name] = text
        add(config, parse(text))
    return config


def config_from_text(text: str) -> Config:
    config = Config()
    add(config, parse(text))
    return config


def add(config: Config, doc: Body) -> None:
    for kind, target in (("resource", config.resources), ("data", config.data)):
        for entry in doc.get(kind, []):
            for type_, named in entry.items():
                for name, body in named.items():
                    if name in _META:
                        continue
                    if name in target.setdefault(type_, {}):
                        raise ValueError(f"{kind} {type_}.{name} is declared twice")
                    target[type_][name] = body
    for entry in doc.get("variable", []):
        config.variables.update({k: v for k, v in entry.items() if k not in _META})
    for entry in doc.get("output", []):
        config.outputs.update({k: v for k, v in entry.items() if k not in _META})
    for entry in doc.get("locals", []):
        config.locals.update({k: v for k, v in entry.items() if k not in _META})
    for entry in doc.get("provider", []):
        for name, body in entry.items():
            if name not in _META:
                config.providers.setdefault(name, []).append(body)
    config.terraform += doc.get("terraform", [])


def used_types(config: Config, provider: str = "google") -> tuple[set[str], set[str]]:
    """The resource and data source types of one provider (google_*) the configuration uses."""
    prefix = provider + "_"
    return (
        {t for t in config.resources if t.startswith(prefix)},
        {t for t in config.data if t.startswith(prefix)},
    )


def load_schema(path: Path = SCHEMA) -> Body:
    schema: Body = json.loads(path.read_text())
    return schema


def is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def check_body(body: Body, schema: Body, where: str, meta: Set[str] = frozenset()) -> list[str]:
    """Problems of one block's body against its schema: unknown arguments and blocks, a
    single-instance block given twice, missing required arguments and blocks."""
    problems: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        if key in _META or key in meta:
            continue
        if key == "dynamic" and isinstance(value, list):
            for entry in value:
                for name, dyn in entry.items():
                    if name in _META:
                        continue
                    present.add(name)
                    nested = schema["blocks"].get(name)
                    if nested is None:
                        problems.append(f"{where}: unknown block {name!r} (dynamic)")
                        continue
                    for content in dyn.get("content", []):
                        problems += check_body(content, nested, f"{where}.{name}")
            continue
        present.add(key)
        if is_block(value) and key not in schema["arguments"]:
            nested = schema["blocks"].get(key)
            if nested is None:
                problems.append(f"{where}: unknown block {key!r}")
                continue
            if not nested["list"] and len(value) > 1:
                problems.append(f"{where}: block {key!r} is given {len(value)} times, at most 1")
            for instance in value:
                problems += check_body(instance, nested, f"{where}.{key}")
        elif key not in schema["arguments"]:
            kind = "block given as an argument" if key in schema["blocks"] else "argument"
            problems.append(f"{where}: unknown {kind} {key!r}")
    for name, required in schema["arguments"].items():
        if required and name not in present:
            problems.append(f"{where}: missing required argument {name!r}")
    for name, nested in schema["blocks"].items():
        if nested["required"] and name not in present:
            problems.append(f"{where}: missing required block {name!r}")
    return problems


def check_config(config: Config, schema: Body) -> list[str]:
    problems: list[str] = []
    for kind, blocks, meta, known in (
        ("resource", config.resources, RESOURCE_META, schema["resources"]),
        ("data", config.data, DATA_META, schema["data"]),
    ):
        for type_, named in blocks.items():
            if not type_.startswith("google_"):
                continue  # another provider's: not in this schema
            type_schema = known.get(type_)
            if type_schema is None:
                problems.append(
                    f"{kind} type {type_!r} is unknown (not in the extracted schema: "
                    "a typo, or run `make terraform-schema` after adding it)"
                )
                continue
            for name, body in named.items():
                problems += check_body(body, type_schema, f"{type_}.{name}", meta)
    for body in config.providers.get("google", []):
        problems += check_body(body, schema["provider"], "provider.google", {"alias"})
    return problems
