"""The repository's own packages that some files import, followed transitively: what an
upload must hold for those files to run (the functions' upload, the audit job's)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from tests.terraform.tfcheck import ROOT


def local_packages_imported(start: Iterable[Path]) -> set[str]:
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    imported: set[str] = set()
    todo, seen = list(start), set[Path]()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in local:
                    imported.add(top)
                    todo += list((ROOT / top).rglob("*.py"))
    return imported
