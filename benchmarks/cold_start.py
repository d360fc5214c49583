"""Cold start: the import time of the `api` entry point beside the bare import of
functions-framework + google-cloud-firestore + google-cloud-tasks, each in fresh
interpreters, alternated, in the same run. Prints the medians and the ratio (target 1.15x),
and checks that the api path imports neither google-genai nor boto3.

Run: `make bench` or `.venv/bin/python benchmarks/cold_start.py [--runs 15]`; `--quick`:
one run of each, no warm-up (make test's run, tests/benchmarks).
"""

from __future__ import annotations

import argparse
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


# A complete production configuration (fake values): production logs through
# google-cloud-logging's structured handler, so its import is part of the cold start.
PRODUCTION = {
    "APP_ENV": "production",
    "GOOGLE_CLOUD_PROJECT": "creator-prod",
    "WORKER_URL": "https://video-worker.example.run.app",
    "TASKS_SERVICE_ACCOUNT": "tasks-invoker@creator-prod.iam.gserviceaccount.com",
    "R2_ACCOUNT_ID": "0123456789abcdef",
    "R2_ACCESS_KEY_ID": "benchmark-key-id",
    "R2_SECRET_ACCESS_KEY": "benchmark-secret",
    "R2_BUCKET": "creator-media",
    "ALLOWED_ORIGINS": "https://app.example.com",
}


def measure(code: str, mode: dict[str, str] | None = None) -> tuple[float, bool, bool]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "R2_"))}
    env = {**keep, **(mode or {"APP_ENV": "local"}), "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), out[1] == "True", out[2] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="one run, no warm-up (make test)")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    if not args.quick:
        measure(ENTRY), measure(BASELINE), measure(ENTRY, PRODUCTION)  # warm the caches
    baseline, entry, production = [], [], []
    heavy = False
    for _ in range(runs):
        baseline.append(measure(BASELINE)[0])
        for mode, times in ((None, entry), (PRODUCTION, production)):
            seconds, genai, boto = measure(ENTRY, mode)
            times.append(seconds)
            heavy |= genai or boto
    b = statistics.median(baseline)
    print(
        f"cold import, median of {runs}: functions-framework + firestore + tasks "
        f"{b * 1000:.0f} ms (the baseline)"
    )
    for name, times in (("local", entry), ("production", production)):
        e = statistics.median(times)
        print(
            f"  api entry point (main.py), {name} mode: {e * 1000:.0f} ms, "
            f"ratio {e / b:.2f}x (target <= 1.15x)"
        )
    print(f"api path imports google-genai or boto3: {'YES' if heavy else 'no'}")


if __name__ == "__main__":
    main()
