"""The official Firestore emulator (`gcloud emulators firestore start`), as a managed process.

Used by `make dev`, the test suite and the benchmarks. gcloud starts a Java process beneath
itself, so the emulator runs in its own process group and is stopped with the whole group:
nothing is left behind.

    python -m devtools.firestore_emulator [--port 8085]    # foreground, Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devtools.processes import free_port, stop_group

INSTALL_HINT = (
    "the Firestore emulator needs gcloud and Java: install the Google Cloud CLI, then "
    "`gcloud components install cloud-firestore-emulator` (or apt-get install "
    "google-cloud-cli-firestore-emulator) and a Java 11+ runtime"
)


class FirestoreEmulator:
    def __init__(
        self, port: int | None = None, project: str = "demo-creator", log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.project = project
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        """The value of FIRESTORE_EMULATOR_HOST for clients of this emulator."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, deadline_seconds: float = 90) -> FirestoreEmulator:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError(INSTALL_HINT)
        if self._answers():
            raise RuntimeError(f"port {self.port} is taken: something already listens there")
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="firestore-emulator-")) / "emulator.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )
        log.close()
        end = time.monotonic() + deadline_seconds
        while not self._answers():
            if self.process.poll() is not None:
                output = self.log_path.read_text(errors="replace")[-2000:]
                self.process = None
                raise RuntimeError(f"the Firestore emulator exited: {output}\n{INSTALL_HINT}")
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

    def stop(self) -> None:
        """Stop gcloud and the Java process beneath it; returns once the whole group is gone."""
        process, self.process = self.process, None
        if process is not None:
            stop_group(process)

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("FIRESTORE_PORT", 8085)))
    parser.add_argument("--project", default="demo-creator")
    args = parser.parse_args()
    emulator = FirestoreEmulator(args.port, args.project)
    try:
        emulator.start()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"firestore emulator ready: FIRESTORE_EMULATOR_HOST={emulator.host}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while emulator.process and emulator.process.poll() is None:
            time.sleep(1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
