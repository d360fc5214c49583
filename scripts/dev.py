"""`make dev`: the whole stack locally, in the foreground, until Ctrl-C.

Ports come from FIRESTORE_PORT, TASKS_PORT, TASKS_HTTP_PORT, API_PORT and WORKER_PORT;
every variable of the configuration table (README) can be set in the environment too.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.stack import LocalStack, Ports  # noqa: E402

# A 5 s "generation", for a person watching.
DEV_DEFAULTS = {"LOCAL_VIDEO_LATENCY_SECONDS": "5"}


def main() -> int:
    settings = {name: os.environ.get(name, value) for name, value in DEV_DEFAULTS.items()}
    stack = LocalStack(ports=Ports.from_env(), settings=settings)
    stopping = threading.Event()
    # Ctrl-C (SIGINT) and SIGTERM both stop everything; set explicitly, because a shell
    # that starts `make dev` in the background has SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start()
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1
    try:
        print_welcome(stack)
        # Cloud Scheduler's part, locally: the reconcile sweep, every minute by default.
        interval = float(os.environ.get("RECONCILE_INTERVAL_SECONDS", "60"))
        while not stopping.wait(interval):
            try:
                stack.schedule_reconcile()
            except Exception as exc:  # e.g. the Cloud Tasks server was stopped on purpose
                print(f"reconcile not scheduled: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the local stack ...", flush=True)
        stack.stop()
    return 0


def print_welcome(stack: LocalStack) -> None:
    api = stack.api_url
    who = "-H 'Authorization: Bearer dev:alice'"
    submit = (
        f"curl -s -X POST {api}/api/generate/video {who} -H 'Content-Type: application/json' "
        """-d '{"prompt": "a red fox running through snow"}'"""
    )
    print(
        f"""
Local stack running (Ctrl-C stops everything):
  api             {api}
  video_worker    {stack.worker_url}
  Cloud Tasks     127.0.0.1:{stack.ports.tasks} (gRPC), JWKS http://127.0.0.1:{stack.ports.tasks_http}/jwks
  Firestore       127.0.0.1:{stack.ports.firestore} (emulator)
  media, state    {stack.state_dir}

Try it (dev identity 'alice' starts with 100 tokens):
  {submit}
  curl -s {api}/api/creations/CREATION_ID {who}
  curl -s {api}/api/tokens {who}
  curl -s {api}/api/health/queue
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
