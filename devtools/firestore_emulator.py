"""The official Firestore emulator (`gcloud emulators firestore start`), as a managed process.

Used by `make dev`, the test suite and the benchmarks. gcloud starts a Java process beneath
itself, so the emulator runs in its own process group and is stopped with the whole group:
nothing is left behind.

It enforces `firestore.rules` (the repository's, unless `rules` names another file, or
`rules=None` for none), loaded at start with gcloud's `--rules` flag, as the deployed
database does (terraform/firestore.tf releases the same file): a client of the Firebase SDK
(an ID token, or none) gets exactly what production gives it. The backend is not subject to
rules, here as in production: google-cloud-firestore talks to an emulator as its admin
(`Authorization: Bearer owner`), the emulator's stand-in for a service account.

With a `data_dir`, its documents outlive it: `start()` loads the last export found there
(the emulator's `--import-data`) and `stop()` exports everything there first. The export
goes through the emulator's own export endpoint (the one `firebase emulators:export`
calls), because its `--export-on-exit` flag does not export the `(default)` database
(emulator of gcloud 528: "Database name projects/<p>/databases/ has invalid trailing /",
and nothing written); and the Java process runs no export at all on SIGTERM.

    python -m devtools.firestore_emulator [--port 8085] [--data-dir DIR] [--rules FILE]
    # Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devtools.processes import (
    free_port,
    port_in_use,
    pump,
    serve_until_stopped,
    spawn,
    stop_group,
)

INSTALL_HINT = (
    "the Firestore emulator needs gcloud and Java: install the Google Cloud CLI, then "
    "`gcloud components install cloud-firestore-emulator` (or apt-get install "
    "google-cloud-cli-firestore-emulator) and a Java 11+ runtime"
)
RULES = Path(__file__).resolve().parents[1] / "firestore.rules"
EXPORT_NAME = "data"  # an export is <data_dir>/data/data.overall_export_metadata + files


class FirestoreEmulator:
    def __init__(
        self,
        port: int | None = None,
        project: str = "demo-creator",
        log_path: Path | None = None,
        *,
        data_dir: Path | None = None,
        echo: bool = False,
        rules: Path | None = RULES,
    ) -> None:
        self.port = port or free_port()
        self.project = project
        self.log_path = log_path
        self.data_dir = Path(data_dir) if data_dir else None
        self.echo = echo  # print its output as `[firestore] ...` too
        self.rules = Path(rules) if rules else None  # security rules enforced for clients
        self.imported: Path | None = None  # the export loaded at start, if any
        self.process: subprocess.Popen[str] | None = None

    @property
    def host(self) -> str:
        """The value of FIRESTORE_EMULATOR_HOST for clients of this emulator."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def export_metadata(self) -> Path | None:
        """The file that --import-data takes, for the export kept in data_dir."""
        if self.data_dir is None:
            return None
        return self.data_dir / EXPORT_NAME / f"{EXPORT_NAME}.overall_export_metadata"

    def start(self, deadline_seconds: float = 90) -> FirestoreEmulator:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError(INSTALL_HINT)
        if (reason := port_in_use(self.port)) is not None:
            raise RuntimeError(f"port {self.port} is taken ({reason}): something listens there")
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="firestore-emulator-")) / "emulator.log"
        command = [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}"]
        if self.rules is not None:
            if not self.rules.is_file():
                raise RuntimeError(f"no security rules at {self.rules}")
            command.append(f"--rules={self.rules}")
        self.imported = None
        if self.data_dir is not None:
            _recover_interrupted_swap(self.data_dir)
            if self.export_metadata and self.export_metadata.is_file():
                self.imported = self.export_metadata
                command.append(f"--import-data={self.imported}")
        self.process = spawn(
            [*command, "--quiet"], env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        )
        assert self.process.stdout is not None
        # gcloud prefixes the Java process's lines with "[firestore] " itself.
        pump(self.process.stdout, self.log_path, "firestore", self.echo, strip="[firestore] ")
        end = time.monotonic() + deadline_seconds
        while not self._answers():
            if self.process.poll() is not None:
                output = self.log_path.read_text(errors="replace")[-2000:]
                self.process = None
                hint = INSTALL_HINT
                if self.imported:
                    hint = f"it could not load {self.imported}? `make dev FRESH=1` starts clean"
                raise RuntimeError(f"the Firestore emulator exited: {output}\n{hint}")
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"the Firestore emulator did not answer in {deadline_seconds}s")
            time.sleep(0.2)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url, timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def export(self, timeout: float = 60) -> Path:
        """Write every document to data_dir (replacing the previous export only once the new
        one is complete); returns the metadata file to import."""
        if self.data_dir is None or self.export_metadata is None:
            raise RuntimeError("this emulator has no data_dir to export to")
        fresh = self.data_dir.with_name(self.data_dir.name + ".next")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        response = httpx.post(
            f"{self.url}/emulator/v1/projects/{self.project}:export",
            json={
                "database": f"projects/{self.project}/databases/(default)",
                "export_directory": str(fresh),
                "export_name": EXPORT_NAME,
            },
            timeout=timeout,
        )
        if response.status_code != 200:
            shutil.rmtree(fresh, ignore_errors=True)
            raise RuntimeError(
                f"the Firestore export failed: {response.status_code} {response.text}"
            )
        old = self.data_dir.with_name(self.data_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.data_dir.exists():
            self.data_dir.rename(old)
        fresh.rename(self.data_dir)
        shutil.rmtree(old, ignore_errors=True)
        return self.export_metadata

    def stop(self) -> None:
        """Export to data_dir (when set), then stop gcloud and the Java process beneath it;
        returns once the whole group is gone. An export that fails is reported on stderr and
        the emulator is stopped anyway."""
        process, self.process = self.process, None
        if process is None:
            return
        if self.data_dir is not None and process.poll() is None:
            try:
                self.export()
            except (RuntimeError, httpx.HTTPError, OSError) as exc:
                print(f"Firestore data not saved to {self.data_dir}: {exc}", file=sys.stderr)
        stop_group(process)

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _recover_interrupted_swap(data_dir: Path) -> None:
    """export() renames data_dir away before moving the new export in: if it was stopped in
    between, the previous export is the one to keep."""
    old = data_dir.with_name(data_dir.name + ".old")
    if not data_dir.exists() and old.exists():
        old.rename(data_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("FIRESTORE_PORT", 8085)))
    parser.add_argument("--project", default="demo-creator")
    parser.add_argument(
        "--rules", type=Path, default=RULES, help="security rules to enforce (firestore.rules)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="load the export kept here at start, export here at stop"
    )
    args = parser.parse_args()
    emulator = FirestoreEmulator(
        args.port, args.project, data_dir=args.data_dir, echo=True, rules=args.rules
    )
    try:
        emulator.start()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"firestore emulator ready: FIRESTORE_EMULATOR_HOST={emulator.host}", flush=True)
    return serve_until_stopped(
        emulator.stop, lambda: bool(emulator.process and emulator.process.poll() is None)
    )


if __name__ == "__main__":
    sys.exit(main())
