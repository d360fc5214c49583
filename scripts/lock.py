"""Compile requirements*.txt (pinned, hashed) from requirements*.in: `make lock`.

uv compiles each lock (`--universal`, every platform's hashes). The deployed lock,
requirements.txt, is then made installable by every pip that may read it, with no flag:

Google Cloud's Python buildpack runs `pip install --requirement requirements.txt` with the
pip that its Python bundles, and we cannot pass `--no-deps`. A hash in the file turns on
pip's hash-checking mode, in which pip 23.2.1 (the one Python 3.11.7's venv bundles)
refuses a dependency that asks for an extra (`google-genai` -> `google-auth[requests]`)
once a newer release of the base package exists: it takes the extra's own range, not our
pin, and stops with "all requirements must have their versions pinned with ==". pip 24.0
and newer keep the pin. So the lock also pins each extra that a locked package asks for,
with the base package's hashes (`google-auth[requests]==2.63.0`): every requirement pip
meets is then pinned, on any pip. tests/install/ checks that the locks are what this
script writes from the .in files, and that pip 23.2.1 and the buildpack's pip resolve the
deployed one.

    python scripts/lock.py [--upgrade]
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv" / "bin" / "uv"
COMPILE = [
    "pip",
    "compile",
    "--quiet",
    "--universal",
    "--python-version",
    "3.11",
    "--generate-hashes",
    "--no-header",
    "--annotation-style",
    "line",
]
# A locked package's block: its first line (name, optional extras, ==version, marker) and
# the hash lines and comment that follow, up to the next block.
BLOCK = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]+\])?==", re.M)


def blocks(text: str) -> list[str]:
    starts = [m.start() for m in BLOCK.finditer(text)]
    return [text[a:b].rstrip("\n") for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def pin_extras(stripped: str, with_extras: str) -> str:
    """The stripped lock (one block per package), followed by one block for each
    `name[extra]==version` that uv wrote with --no-strip-extras, at the same version and
    with the same hashes as the package's own block."""
    versions = {}
    for block in blocks(stripped):
        m = BLOCK.match(block)
        assert m is not None
        versions[m["name"].lower()] = block
    extra_blocks = []
    for block in blocks(with_extras):
        m = BLOCK.match(block)
        assert m is not None
        if not m["extras"]:
            continue
        base = versions.get(m["name"].lower())
        if base is None:
            raise SystemExit(f"lock: {m['name']}{m['extras']} has no block of its own")
        first, _, rest = base.partition("\n")
        pinned = first.replace(f"{m['name']}==", f"{m['name']}{m['extras']}==", 1)
        note = "    # the extra pinned too, for pip < 24 (scripts/lock.py)"
        rest_lines = [line for line in rest.split("\n") if not line.lstrip().startswith("#")]
        extra_blocks.append("\n".join([pinned, *rest_lines, note]))
    if not extra_blocks:
        return stripped
    return stripped.rstrip("\n") + "\n" + "\n".join(extra_blocks) + "\n"


def compile_lock(source: str, output: str, upgrade: bool, root: Path = ROOT) -> None:
    out = root / output
    args = [str(UV), *COMPILE, *(["--upgrade"] if upgrade else []), source]
    subprocess.run([*args, "-o", output], cwd=root, check=True)
    stripped = out.read_text()
    # The same resolution with the extras kept: uv keeps the pins just written.
    scratch = out.with_suffix(".extras.tmp")
    scratch.write_text(stripped)
    try:
        subprocess.run([*args, "--no-strip-extras", "-o", str(scratch)], cwd=root, check=True)
        with_extras = scratch.read_text()
    finally:
        scratch.unlink(missing_ok=True)
    out.write_text(pin_extras(stripped, with_extras))


LOCKS = (("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt"))


def main(argv: list[str], root: Path = ROOT) -> None:
    upgrade = "--upgrade" in argv
    for source, output in LOCKS:
        compile_lock(source, output, upgrade, root)


if __name__ == "__main__":
    main(sys.argv[1:])
