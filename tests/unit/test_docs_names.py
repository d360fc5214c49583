"""Every Make target, environment variable and file path that README.md and docs/ name
exists: a newcomer who copies one from the docs finds it.

Names are read from the docs' code spans (`...`) and code blocks:
- `make <target>`: a target of the Makefile;
- an environment variable (`UPPER_CASE` with an underscore): read or set somewhere in the
  code, the tests, the Makefile, Terraform or the CI script (not only in docs), or set by
  the doc's own commands (`NAME=...`);
- a file path: one that starts with a top-level entry of the repository exists (a trailing
  `/` is a folder); a bare file name exists somewhere in the repository; or the doc's own
  commands make it (`cp a b`, `> b`, `-o b`, `NAME=b`). Files the stack writes under its
  state folder (.local/: logs, the queue's database) are not checked.
No doc points outside the repository (`../`).
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILE_SUFFIXES = (
    ".py", ".md", ".tf", ".json", ".js", ".mjs", ".txt", ".sh", ".toml", ".rules",
    ".html", ".css", ".example", ".in", ".yaml", ".yml",
)  # fmt: skip
# Paths that the stack writes at run time, under its state folder (ignored by git).
RUNTIME_PREFIXES = (".local/", ".venv/", "node_modules/", ".terraform/")
# Files made at run time, named in the docs: the web console's settings (devtools/web_server.py
# serves it locally; docs/web-console.md says how it is made for the bucket).
RUNTIME_FILES = {"config.json"}
# Names in capitals that are not environment variables (gRPC codes, Terraform values).
NOT_VARIABLES = {
    "RESOURCE_EXHAUSTED", "PERMISSION_DENIED", "ALREADY_EXISTS", "NOT_FOUND",
    "FAILED_PRECONDITION", "DEADLINE_EXCEEDED", "ALLOW_ALL", "ALLOW_INTERNAL_ONLY",
    "UNAVAILABLE", "INVALID_ARGUMENT", "EXTERNAL_MANAGED", "MOVED_PERMANENTLY_DEFAULT",
}  # fmt: skip

SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
MAKE = re.compile(r"(?<![\w-])make ([a-z][a-z0-9-]*)")
VARIABLE = re.compile(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
PATH = re.compile(r"^[\w.][\w./-]*$")


def code_of(doc: Path) -> str:
    text = doc.read_text()
    return "\n".join([*SPAN.findall(FENCE.sub("", text)), *FENCE.findall(text)])


@cache
def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if Path(ROOT, line).exists()]


@cache
def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    for phony in re.findall(r"^\.PHONY:(.*)$", makefile, re.M):
        targets |= set(phony.split())
    return targets


@cache
def code_text() -> str:
    """Everything but the docs: where a variable must be read or set."""
    kept = [
        path
        for path in tracked()
        if not path.endswith(".md")
        and not path.startswith("docs/")
        and Path(path).suffix in {".py", ".tf", ".sh", ".example", ".js", ".mjs", ""}
    ]
    return "\n".join((ROOT / path).read_text(errors="replace") for path in kept)


def named_paths(code: str) -> set[str]:
    found = set()
    for token in re.split(r"[\s(),;:=\"']+", code):
        token = token.rstrip(".")
        if not PATH.match(token) or token.startswith(RUNTIME_PREFIXES) or token in RUNTIME_FILES:
            continue
        if "/" in token:
            if (ROOT / token.split("/", 1)[0]).exists():
                found.add(token)
        elif token.endswith(FILE_SUFFIXES) and not token[0].isdigit():
            found.add(token)
    return found


def made_by(doc: Path) -> set[str]:
    """Files and variables that the doc's own commands make."""
    text = doc.read_text()
    made = set(re.findall(r"(?:\bcp \S+|>|-o) ([\w./-]+)", text))
    for name, value in re.findall(r"\b([A-Z][A-Z0-9_]+)=([^\s`]*)", text):
        made |= {name, value}
    return made


def exists(path: str, doc: Path) -> bool:
    if path in made_by(doc):
        return True
    if "/" in path:
        return (ROOT / path).exists() or (doc.parent / path).exists()
    return any(Path(p).name == path for p in tracked())


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_make_target_named_exists(doc: Path) -> None:
    missing = sorted(set(MAKE.findall(code_of(doc))) - make_targets())
    assert not missing, f"{doc.name} names make targets that the Makefile lacks: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_environment_variable_named_is_used_by_the_code(doc: Path) -> None:
    named = set(VARIABLE.findall(code_of(doc))) - NOT_VARIABLES - made_by(doc)
    missing = sorted(name for name in named if not re.search(rf"\b{name}\b", code_text()))
    assert not missing, f"{doc.name} names variables that no code reads or sets: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_file_path_named_exists(doc: Path) -> None:
    missing = sorted(p for p in named_paths(code_of(doc)) if not exists(p, doc))
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_no_doc_points_outside_the_repository(doc: Path) -> None:
    outside = sorted(set(re.findall(r"\.\./[\w./-]+", doc.read_text())))
    assert not outside, f"{doc.name} points outside the repository: {outside}"
