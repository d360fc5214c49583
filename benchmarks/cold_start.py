"""Cold start: the import time of the `api` entry point beside the bare import of
functions-framework + google-cloud-firestore + google-cloud-tasks, each in fresh
interpreters, alternated, in the same run. Prints the medians and the ratio (target 1.15x),
and checks that the api path imports neither google-genai nor boto3.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import functions_framework, google.cloud.firestore, google.cloud.tasks_v2"
ENTRY = "import main"
PROBE = (
    "import sys, time; t = time.perf_counter(); {code}; d = time.perf_counter() - t; "
    "print(d, 'google.genai' in sys.modules, 'boto3' in sys.modules)"
)


def measure(code: str) -> tuple[float, bool, bool]:
    env = {**os.environ, "APP_ENV": "local", "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), out[1] == "True", out[2] == "True"


def main(runs: int = 15) -> None:
    measure(ENTRY), measure(BASELINE)  # warm the bytecode and file caches
    baseline, entry = [], []
    heavy = False
    for _ in range(runs):
        baseline.append(measure(BASELINE)[0])
        seconds, genai, boto = measure(ENTRY)
        entry.append(seconds)
        heavy |= genai or boto
    b, e = statistics.median(baseline), statistics.median(entry)
    print(
        f"cold import, median of {runs}: functions-framework + firestore + tasks "
        f"{b * 1000:.0f} ms; api entry point (main.py) {e * 1000:.0f} ms; "
        f"ratio {e / b:.2f}x (target <= 1.15x)"
    )
    print(f"api path imports google-genai or boto3: {'YES' if heavy else 'no'}")


if __name__ == "__main__":
    main()
