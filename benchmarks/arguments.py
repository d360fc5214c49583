"""The benchmarks' command line, one convention for all: each script's options with their
defaults, and `--quick`, a few iterations of the same code (make test runs it:
tests/benchmarks), which sets the options it names."""

from __future__ import annotations

import argparse
from typing import Any


def parse(
    description: str,
    quick: dict[str, Any],
    quick_help: str,
    positional: tuple[str, type, Any, str] | None = None,
    **options: tuple[type, Any],
) -> argparse.Namespace:
    """`options`: name=(type, default) for each --name; `positional`: (name, type, default,
    help) of one optional positional argument; `quick`: the values --quick gives."""
    parser = argparse.ArgumentParser(description=description)
    if positional is not None:
        name, kind, default, help_ = positional
        parser.add_argument(name, nargs="?", type=kind, default=default, help=help_)
    for name, (kind, default) in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args()
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    return args
