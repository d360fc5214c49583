"""The local stack as the tests start it: free ports, its own folder, quiet (each process's
output in <state_dir>/<name>.log)."""

from __future__ import annotations

from pathlib import Path

from devtools.stack import LocalStack, Ports


def quiet_stack(state_dir: Path, settings: dict[str, str]) -> LocalStack:
    """Use as `with quiet_stack(...) as stack:`; nothing is started before."""
    return LocalStack(ports=Ports.free(), state_dir=state_dir, settings=settings, quiet=True)
