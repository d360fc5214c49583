"""The long fault-injection run (`make chaos N=100000`): N user requests through the real
services under injected faults, spread over seeds of SEED_SIZE requests; prints creations by
outcome, faults by kind and the violations (exit 1 on any, with the seed and a replay line).

Run: `.venv/bin/python benchmarks/chaos.py [N] [--per-seed 2000] [--first-seed 1]
[--rate-factor 1]`, or replay one seed: `.venv/bin/python -m tests.chaos.driver --seed S
--creations 2000`; `--quick`: 2 seeds of 100 requests (make test's run, tests/benchmarks;
the suite's own seeds are tests/chaos/test_chaos.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import arguments  # noqa: E402
from tests.chaos.driver import main as drive  # noqa: E402


def main() -> int:
    args = arguments.parse(
        "the long fault-injection run",
        {"n": 200, "per_seed": 100},
        "2 seeds of 100 (make test)",
        positional=("n", int, 100_000, "user requests in all"),
        per_seed=(int, 2000),
        first_seed=(int, 1),
        rate_factor=(float, 1.0),
    )
    return drive(
        [
            "--total", str(args.n),
            "--creations", str(args.per_seed),
            "--first-seed", str(args.first_seed),
            "--rate-factor", str(args.rate_factor),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
