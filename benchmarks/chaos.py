"""The long fault-injection run (`make chaos N=100000`): N user requests through the real
services under injected faults, spread over seeds of SEED_SIZE requests; prints creations by
outcome, faults by kind and the violations (exit 1 on any, with the seed and a replay line).

Run: `.venv/bin/python benchmarks/chaos.py [N] [--per-seed 2000] [--first-seed 1]
[--rate-factor 1]`, or replay one seed: `.venv/bin/python -m tests.chaos.driver --seed S
--creations 2000`; `--quick`: 2 seeds of 100 requests (make test's run, tests/benchmarks;
the suite's own seeds are tests/chaos/test_chaos.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos.driver import main as drive  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description="the long fault-injection run")
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="user requests in all")
    parser.add_argument("--per-seed", type=int, default=2000)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--rate-factor", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="2 seeds of 100 (make test)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.per_seed = 200, 100
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
