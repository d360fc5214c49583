"""The locks install where they will be installed: the dev lock with the pip a fresh venv
has, the deployed lock with the pips that Google Cloud's buildpack may run, with no flag.

- pip 23.2.1 is what `python3 -m venv` gives on Python 3.11.7 (a new user's machine, CI).
- The buildpack (GoogleCloudPlatform/buildpacks, pkg/python/python.go `basePipInstallArgs`)
  runs `python3 -m pip install --requirement requirements.txt --upgrade --upgrade-strategy
  only-if-needed --no-warn-script-location --no-warn-conflicts --force-reinstall
  --no-compile --disable-pip-version-check` with the pip bundled with its Python, and says
  "if we were going to upgrade pip, we would have done it already" (it does not). Its
  python311 is 3.11.16 (builders/python/acceptance/runtime.bzl); the 3.11 branch bundles
  pip 24.0 since 3.11.8 (python/cpython#114973) and took no later pip: it has been
  security-only since 3.11.9.

These tests ask PyPI (the registry the machine reaches); they resolve, they install nothing.
"""

from __future__ import annotations

import ensurepip
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.markers import Marker

from scripts import lock

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_PIP = "23.2.1"  # ensurepip of Python 3.11.7: what `python3 -m venv` installs here
BUILDPACK_PIP = "24.0"  # ensurepip of Python 3.11.8 to 3.11.16: the buildpack's python311
BUILDPACK_ARGS = [
    "--upgrade",
    "--upgrade-strategy",
    "only-if-needed",
    "--no-warn-script-location",
    "--no-warn-conflicts",
    "--force-reinstall",
    "--no-compile",
    "--disable-pip-version-check",
]
DEADLINE = 600  # seconds for one pip run: a busy machine and a slow index


def pip_venv(where: Path, pip_version: str) -> Path:
    """A throwaway venv whose pip is `pip_version`; returns its python."""
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    if pip_version != ensurepip.version():
        run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"pip=={pip_version}"])  # fmt: skip
    shown = run([str(python), "-m", "pip", "--version"]).stdout
    assert shown.startswith(f"pip {pip_version} "), shown
    return python


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE, cwd=ROOT)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def would_install(output: str) -> set[str]:
    lines = [line for line in output.splitlines() if line.startswith("Would install ")]
    assert lines, output[-3000:]
    return set(lines[0].removeprefix("Would install ").split())


def pinned(lock_file: Path) -> set[str]:
    """name-version of each package the lock pins for this machine (as pip prints them)."""
    found = set()
    for block in lock.blocks(lock_file.read_text()):
        match = lock.BLOCK.match(block)
        assert match is not None
        requirement = block.split("\n", 1)[0].rstrip(" \\")
        version, _, marker = requirement.split("==", 1)[1].partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        found.add(f"{match['name']}-{version.strip()}")
    return found


def normalised(names: set[str]) -> set[str]:
    return {name.lower().replace("_", "-").replace(".", "-") for name in names}


def test_the_bundled_pip_is_the_one_these_tests_name() -> None:
    assert sys.version_info[:2] == (3, 11)
    assert ensurepip.version() == BUNDLED_PIP, "a new Python: update BUNDLED_PIP and the docs"


@pytest.mark.parametrize("pip_version", [BUNDLED_PIP, BUILDPACK_PIP])
def test_the_deployed_lock_resolves_as_the_buildpack_installs_it(
    pip_version: str, tmp_path: Path
) -> None:
    """No flag of ours: hash-checking mode from the file alone, exactly the pinned set."""
    python = pip_venv(tmp_path / "venv", pip_version)
    done = run([str(python), "-m", "pip", "install", "--dry-run", *BUILDPACK_ARGS,
                "--requirement", "requirements.txt"])  # fmt: skip
    assert normalised(would_install(done.stdout)) == normalised(pinned(ROOT / "requirements.txt"))


def test_the_dev_lock_installs_with_the_bundled_pip_as_make_install_runs_it(
    tmp_path: Path,
) -> None:
    python = pip_venv(tmp_path / "venv", BUNDLED_PIP)
    done = run([str(python), "-m", "pip", "install", "--dry-run", "--disable-pip-version-check",
                "--no-deps", "--require-hashes", "-r", "requirements-dev.txt"])  # fmt: skip
    assert normalised(would_install(done.stdout)) == normalised(
        pinned(ROOT / "requirements-dev.txt")
    )


def test_the_locks_are_what_make_lock_writes_from_the_in_files(tmp_path: Path) -> None:
    """An edit of requirements*.in without `make lock`, or a lock edited by hand, fails here
    (uv keeps the pins of the existing lock, so upstream releases change nothing)."""
    for source, output in lock.LOCKS:
        shutil.copy(ROOT / source, tmp_path / source)
        shutil.copy(ROOT / output, tmp_path / output)
    lock.main([], root=tmp_path)
    for _source, output in lock.LOCKS:
        assert (tmp_path / output).read_text() == (ROOT / output).read_text(), output


def test_each_extra_is_pinned_beside_its_package() -> None:
    b_block = "b==2.0 \\\n    --hash=sha256:bb\n"
    stripped = "a==1.0 \\\n    --hash=sha256:aa\n    # via b\n" + b_block
    with_extras = "a[x,y]==1.0 \\\n    --hash=sha256:aa\n    # via b\n" + b_block
    written = lock.pin_extras(stripped, with_extras)
    assert written.startswith(stripped.rstrip("\n"))
    assert "a[x,y]==1.0 \\\n    --hash=sha256:aa\n" in written
    assert written.count("b==2.0") == 1
