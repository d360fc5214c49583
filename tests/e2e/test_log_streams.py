"""Production's log settings on a real functions-framework process: LOG_EXECUTION_ID=true
(Cloud Functions sets it), gunicorn, JSON logs. An exception that carries a bearer token
and the R2 secret is raised inside a request: neither reaches stdout, stderr or the answer,
and the event is written exactly once, with its execution id and trace."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devtools.processes import free_port
from tests.unit.production_env import PRODUCTION
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "opaque-" + secrets.token_hex(16)
R2_SECRET = PRODUCTION["R2_SECRET_ACCESS_KEY"]
TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(scope="module")
def function(tmp_path_factory):
    """The framework serving tests/e2e/log_streams_app.py as Cloud Functions would; yields
    (base url, a function that stops it and returns its stdout and stderr)."""
    out_dir = tmp_path_factory.mktemp("log-streams")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(out_dir)),
        **PRODUCTION,
        "LOG_EXECUTION_ID": "true",  # as terraform/functions.tf and the platform set it
        "THREADS": "4",
        "PYTHONUNBUFFERED": "1",
        "LEAK_TEXT": f"Authorization: Bearer {TOKEN} r2_secret={R2_SECRET}",
    }
    stdout, stderr = (open(out_dir / name, "w+b") for name in ("stdout", "stderr"))  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", "leaky"]
        + ["--source", str(ROOT / "tests/e2e/log_streams_app.py")]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, f"exited {process.returncode}: {read(stderr)}"
        try:
            return httpx.get(url + "/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop() -> tuple[str, str]:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        return read(stdout), read(stderr)

    try:
        wait_for(ready, timeout=90, interval=0.1)
        yield url, stop
    finally:
        stop()
        stdout.close()
        stderr.close()


def read(file) -> str:
    file.flush()
    file.seek(0)
    return file.read().decode(errors="replace")


def test_a_secret_in_an_exception_reaches_no_stream_and_the_event_is_logged_once(function):
    url, stop = function
    answers = {
        path: httpx.get(
            url + path,
            headers={
                "Function-Execution-Id": f"exec{path.replace('/', '-')}",
                "X-Cloud-Trace-Context": f"{TRACE}/1;o=1",
            },
            timeout=30,
        )
        for path in ("/inside", "/outside")
    }
    out, err = stop()

    assert {path: answer.status_code for path, answer in answers.items()} == {
        "/inside": 500,
        "/outside": 500,
    }
    for where, text in {
        "stdout": out,
        "stderr": err,
        "answers": str([(a.headers, a.text) for a in answers.values()]),
    }.items():
        assert TOKEN not in text, f"the bearer token is in {where}"
        assert R2_SECRET not in text, f"the R2 secret is in {where}"

    lines = [line for line in (out + err).splitlines() if line.strip()]
    diagnostic = [line for line in lines if "logging.googleapis.com/diagnostic" in line]
    assert len(diagnostic) <= 1, diagnostic  # google-cloud-logging's own entry, once
    events = [line for line in lines if line not in diagnostic]
    for path in ("/inside", "/outside"):
        execution_id = f"exec{path.replace('/', '-')}"
        found = [line for line in events if execution_id in line]
        assert len(found) == 1, f"{path}: {len(found)} lines: {found}"
        entry = json.loads(found[0])
        assert entry["severity"] == "ERROR"
        assert entry["logging.googleapis.com/labels"]["execution_id"] == execution_id
        assert entry["logging.googleapis.com/trace"] == f"projects/creator-prod/traces/{TRACE}"
        assert "RuntimeError" in found[0] and "[redacted]" in found[0]  # the cause, scrubbed
    assert len(events) == 2, events  # one line per event, nothing else
    assert err == ""  # all of it on stdout, as Cloud Logging's structured lines
