"""Each benchmark script runs to its end: its `--quick` run (a few iterations), as a
process, exits 0 and prints each of its figure lines. No figure's value is checked here
(timings belong to the full runs, `make bench`); only the outcomes the scripts print (every
video drafted, no token lost, no audit violation, no heavy import on the api path).

The scripts that start the stack, or a part of it, are marked `stack`; the ones that start
the Firestore emulator alone, `emulator` (tests/conftest.py): the fast loop skips them.
The selected scripts run PARALLEL at a time, the longest first, from the module's first
test on (most of a quick run is waiting: processes starting and stopping, a deadline
running out), so the module takes about as long as its longest runs, not their sum.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 180  # per script (a quick run: seconds to a minute); under pytest-timeout
STOP_SECONDS = 30  # after its deadline, a script has this long to stop its stack (SIGINT)
PARALLEL = 4

NUMBER = r"[\d.]+"
# Longest first: they start first.
SCRIPTS = {
    "outage.py": (
        [pytest.mark.stack],
        [
            r"^queue outage, one sequential client over 1 s: \{.+\}$",
            r"^queue outage, 4 parallel clients over 1.2 s: \{.+\}$",
            rf"^queue back: health 200 after {NUMBER} s / {NUMBER} s, a submit 202 after ",
            rf"^Firestore frozen {NUMBER} s: 2 submits answered after max {NUMBER} s",
        ],
    ),
    "pipeline.py": (
        [pytest.mark.stack],
        [
            r"^videos at 2 s simulated generation: 2 \(draft\)$",
            rf"^  function busy time per video: mean {NUMBER} s",
            rf"^  of which: submit {NUMBER} ms for the first",
            rf"^  generation end -> draft: mean -?{NUMBER} s",
            rf"^submit latency, 9 sequential over 3 users: p50 {NUMBER} ms, p99 {NUMBER} ms$",
            rf"^submit latency, 9 concurrent \(3 at a time\) over 3 users: p50 {NUMBER} ms",
            r"^queue down, 3 submits answered 503: .*charged then refunded 1.*"
            r"; balance after: 100000 of 100000$",
        ],
    ),
    "veo_quota.py": (
        [pytest.mark.stack],
        [
            r"^veo quota: Q=60 starts/min \(LOCAL_VIDEO_QUOTA_PER_MINUTE\), N=6 users ",
            r"^  paced \(VEO_STARTS_PER_MINUTE=60\):$",
            rf"^    last start {NUMBER} s, last end {NUMBER} s after the first submit; ideal N/Q ",
            r"^    provider 429s \(video.start_deferred\): \d+; videos draft 6 of 6, failed 0, "
            r"cancelled 0, refunded 0, not ended 0$",
            rf"^    estimatedStartAt vs real start over 6 videos: \|error\| p50 {NUMBER} s, p95 ",
            r"^  pacing off \(VEO_STARTS_PER_MINUTE=6000\):$",
        ],
    ),
    "gate_reopen.py": (
        [pytest.mark.stack],
        [
            r"^queue gate reopen, api frozen \(SIGSTOP\) between requests, .*, 1 runs each:$",
            rf"^  a submit every  250 ms: first 202 after the queue is back {NUMBER} s \(median ",
        ],
    ),
    "audit.py": (
        [pytest.mark.emulator],
        [
            r"^seeded 200 creations of 20 users \(\d+ documents\)",
            r"^in process, pages of 1000: read \d+ documents .* violations 0$",
            r"^python -m shared.audit audit \(snapshot read\): exit 0, .*; read [1-9]\d* documents",
            r"^python -m shared.audit audit --live: exit 0, .*; read [1-9]\d* documents",
        ],
    ),
    "overview.py": (
        [pytest.mark.emulator],
        [
            r"^seeded 200 creations in ",
            rf"^overview over \d+ creations of the day \(truncated: False\): p50 {NUMBER} ms",
        ],
    ),
    "cloud_tasks_server.py": (
        [pytest.mark.stack],
        [
            rf"^create_task latency over 50 calls: p50 {NUMBER} ms, p99 {NUMBER} ms",
            rf"^due-to-delivery delay, 20 tasks due at once: p50 {NUMBER} ms",
            r"^throughput, 1 s worker, max_concurrent_dispatches=100: 50 tasks in ",
            r"^server CPU while 200 tasks wait an hour: ",
        ],
    ),
    "cold_start.py": (
        [],
        [
            rf"^cold import, median of 1: functions-framework \+ firestore \+ tasks {NUMBER} ms",
            rf"^  api entry point \(main.py\), local mode: {NUMBER} ms, ratio {NUMBER}x",
            rf"^  api entry point \(main.py\), production mode: {NUMBER} ms, ratio {NUMBER}x",
            r"^api path imports google-genai or boto3: no$",
        ],
    ),
    "chaos.py": (
        [],
        [
            r"^chaos: seeds 1..2 \(2\), 100 requests each$",
            r"^creations by outcome: ",
            r"^faults injected: ",
            r"^violations: 0$",
        ],
    ),
}


@dataclass
class QuickRun:
    returncode: int | None  # None: still running at its deadline, interrupted
    stdout: str
    stderr: str
    seconds: float

    def said(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout\n{self.stdout}\n"
            f"--- stderr\n{self.stderr[-4000:]}"
        )


def run_quick(script: str) -> QuickRun:
    """`benchmarks/<script> --quick` to its end, or until DEADLINE_SECONDS: then SIGINT, so
    that its stack stops (its processes run in sessions of their own), SIGKILL at last."""
    env = {k: v for k, v in os.environ.items() if k != "FIRESTORE_EMULATOR_HOST"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=DEADLINE_SECONDS)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=STOP_SECONDS)
        code, err = None, f"{err}\n(interrupted at its deadline, {DEADLINE_SECONDS} s)"
    return QuickRun(code, out, err, time.monotonic() - started)


@pytest.fixture(scope="module")
def quick_runs(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[QuickRun]]]:
    """The quick runs of the scripts whose tests are selected, started together."""
    selected = {
        item.callspec.params["script"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    }
    with ThreadPoolExecutor(PARALLEL) as pool:
        yield {name: pool.submit(run_quick, name) for name in SCRIPTS if name in selected}


HELPERS = {"arguments.py"}  # modules the scripts import, not scripts


def committed_scripts() -> list[str]:
    """The benchmark scripts in git (a script still being written in a shared working tree
    is not held to this yet); all of benchmarks/*.py outside a git checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "benchmarks/*.py"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode == 0 and listed.stdout.strip():
        return sorted(Path(line).name for line in listed.stdout.split())
    return sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))


def test_every_script_has_a_quick_run() -> None:
    scripts = committed_scripts()
    missing = sorted(set(scripts) - set(SCRIPTS) - HELPERS)
    assert not missing, (
        f"benchmarks without a quick run here: {missing}; give each a --quick (a few "
        "iterations) and add it to SCRIPTS with its figure lines"
    )


@pytest.mark.parametrize(
    ("script", "figures"),
    [
        pytest.param(name, figures, marks=marks, id=name)
        for name, (marks, figures) in SCRIPTS.items()
    ],
)
def test_quick_run_prints_its_figures(
    quick_runs: dict[str, Future[QuickRun]], script: str, figures: list[str]
) -> None:
    run = quick_runs[script].result(timeout=len(SCRIPTS) * (DEADLINE_SECONDS + 2 * STOP_SECONDS))
    assert run.returncode == 0, run.said()
    missing = [f for f in figures if not re.search(f, run.stdout, re.MULTILINE)]
    assert not missing, f"figure lines missing: {missing}\n{run.said()}"
