"""`python -m devtools.cloud_tasks_server`: the local Cloud Tasks v2 server.

Prints `cloud-tasks-server ready grpc=HOST:PORT http=HOST:HTTP_PORT` on stdout when it
serves; logs go to stderr. Exit codes: 0 after SIGINT/SIGTERM, 2 when it cannot start (a
port in use, a bad flag). Every flag has an environment fallback (see --help).
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO

import grpc
from google.cloud import tasks_v2

from devtools.cloud_tasks_server import names, oidc
from devtools.cloud_tasks_server.dispatcher import Dispatcher
from devtools.cloud_tasks_server.errors import ApiError
from devtools.cloud_tasks_server.http_api import HttpApi
from devtools.cloud_tasks_server.iam import Authorizer
from devtools.cloud_tasks_server.iam_terraform import Policy, UnsupportedTerraform, read_policy
from devtools.cloud_tasks_server.service import CloudTasksService, normalize_queue
from devtools.cloud_tasks_server.state import QueuePb, TaskDatabase, delete_db_files

log = logging.getLogger("cloud_tasks_server")
PROG = "cloud-tasks-server"
KEY_META = "oidc_private_key_pem"
GRPC_WORKERS = 32


class StartupError(Exception):
    """Why the server cannot start; printed as one line, exit code 2."""


def _env(name: str, default: str, *fallbacks: str) -> str:
    """CLOUD_TASKS_SERVER_<name>, else the first of the fallback variables that is set (the
    stack's TASKS_PORT, TASKS_HTTP_PORT), else the default."""
    for variable in (f"CLOUD_TASKS_SERVER_{name}", *fallbacks):
        if variable in os.environ:
            return os.environ[variable]
    return default


def _option(
    parser: argparse.ArgumentParser,
    flag: str,
    convert: Callable[[str], object],
    default: str,
    description: str,
    *fallbacks: str,
) -> None:
    """A flag whose default comes from its environment variable(s), converted (and checked)
    like a value given on the command line."""
    name = flag.removeprefix("--").replace("-", "_").upper()
    variables = ", then ".join([f"CLOUD_TASKS_SERVER_{name}", *fallbacks])
    parser.add_argument(
        flag,
        type=convert,
        default=_env(name, default, *fallbacks),
        help=f"{description} (env {variables}; default {default})",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.cloud_tasks_server",
        description="A local Cloud Tasks v2 server (gRPC API, HTTP dispatch, OIDC/JWKS).",
    )
    _option(parser, "--host", str, "127.0.0.1", "address to bind")
    _option(parser, "--port", int, "8123", "gRPC port, 0 picks one", "TASKS_PORT")
    _option(parser, "--http-port", int, "8124", "JWKS/health HTTP port", "TASKS_HTTP_PORT")
    _option(parser, "--db", Path, ".local/cloud-tasks.sqlite3", "SQLite state file")
    parser.add_argument(
        "--queue",
        action="append",
        default=None,
        metavar="projects/P/locations/L/queues/Q",
        help="a queue that exists at start, repeatable "
        "(env CLOUD_TASKS_SERVER_QUEUES, comma separated)",
    )
    parser.add_argument(
        "--disable-queue",
        action="append",
        default=[],
        metavar="projects/P/locations/L/queues/Q",
        help="a queue set DISABLED at start (created if missing), repeatable; a test aid",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        default=_env("FRESH", "") not in ("", "0", "false"),
        help="delete the state file first (env CLOUD_TASKS_SERVER_FRESH=1)",
    )
    _option(
        parser,
        "--name-reservation-seconds",
        float,
        "3600",
        "how long the name of an executed or deleted task stays taken",
    )
    _option(
        parser,
        "--min-dispatch-deadline",
        float,
        "15",
        "lower clamp of a task's dispatch_deadline in seconds, 15 like the service; "
        "lower it in tests",
    )
    parser.add_argument(
        "--iam-from",
        type=Path,
        default=_env("IAM_FROM", "") or None,
        metavar="TERRAFORM_DIR",
        help="enforce the Cloud Tasks permissions that this Terraform configuration grants "
        "to the service account a call presents (env CLOUD_TASKS_SERVER_IAM_FROM; default: "
        "none, every call is allowed)",
    )
    parser.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"],
        help="(env CLOUD_TASKS_SERVER_LOG_LEVEL; default INFO)",
    )
    args = parser.parse_args(argv)
    if args.queue is None:
        args.queue = [q.strip() for q in _env("QUEUES", "").split(",") if q.strip()]
    return args


def check_port(host: str, port: int, what: str) -> None:
    """Bind the port with a plain socket (SO_REUSEADDR, never SO_REUSEPORT) and let it go."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise StartupError(
            f"{what} port {host}:{port} is already in use ({exc.strerror}); "
            f"stop the process holding it or choose another port"
        ) from exc
    finally:
        probe.close()


def lock_state(db: Path) -> IO[bytes]:
    """Hold an exclusive lock on `<db>.lock` for the life of the process: two servers on one
    state file would dispatch every task twice."""
    path = Path(f"{db}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "ab")  # noqa: SIM115 - held until the process ends
    except OSError as exc:
        raise StartupError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise StartupError(f"the state file {db} is in use by another server") from exc
    return handle


def bootstrap_queues(database: TaskDatabase, queues: list[str], disabled: list[str]) -> None:
    """Create the configured queues that do not exist yet; set the disabled ones DISABLED."""
    for name in [*queues, *disabled]:
        try:
            names.check_queue(name, "--queue")
        except ApiError as error:
            raise StartupError(error.message) from error
        if database.get_queue(name) is None:
            queue = QueuePb(name=name)
            normalize_queue(queue)
            database.insert_queue(queue)
            log.info("queue created from config: %s", name)
    for name in disabled:
        queue = database.get_queue(name)
        assert queue is not None  # created just above if it was missing
        queue.state = tasks_v2.Queue.State.DISABLED
        database.put_queue(queue)


def load_signer(database: TaskDatabase) -> oidc.Signer:
    pem = database.meta(KEY_META)
    if pem is None:
        pem = oidc.new_private_key_pem()
        database.set_meta(KEY_META, pem)
    return oidc.Signer(pem)


def load_policy(directory: Path | None) -> Policy | None:
    if directory is None:
        return None
    try:
        policy = read_policy(directory)
    except (UnsupportedTerraform, OSError) as exc:
        raise StartupError(f"cannot read the IAM policy from {directory}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a syntax error from the HCL parser
        raise StartupError(f"cannot parse the Terraform in {directory}: {exc}") from exc
    log.info("IAM: %d Cloud Tasks grants read from %s", len(policy.grants), directory)
    return policy


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    policy = load_policy(args.iam_from)
    check_port(args.host, args.port, "gRPC")
    check_port(args.host, args.http_port, "HTTP")
    if args.http_port and args.http_port == args.port:
        raise StartupError(f"--port and --http-port are both {args.port}")

    lock = lock_state(args.db)
    if args.fresh:
        delete_db_files(args.db)
    try:
        database = TaskDatabase(args.db, args.name_reservation_seconds)
    except (sqlite3.Error, OSError) as exc:
        raise StartupError(f"cannot open the state file {args.db}: {exc}") from exc
    http_api: HttpApi | None = None
    server: grpc.Server | None = None
    dispatcher: Dispatcher | None = None
    try:
        signer = load_signer(database)
        bootstrap_queues(database, args.queue, args.disable_queue)
        try:
            http_api = HttpApi(args.host, args.http_port, signer)
        except OSError as exc:
            raise StartupError(
                f"HTTP port {args.host}:{args.http_port} is already in use ({exc.strerror})"
            ) from exc
        http_port = http_api.server_address[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        dispatcher = Dispatcher(database, signer, warmup_url=f"http://{host}:{http_port}/healthz")
        service = CloudTasksService(
            database,
            dispatcher,
            min_dispatch_deadline=args.min_dispatch_deadline,
            authorizer=Authorizer(policy),
        )
        server = grpc.server(
            ThreadPoolExecutor(max_workers=GRPC_WORKERS, thread_name_prefix="grpc"),
            options=[("grpc.so_reuseport", 0)],
        )
        server.add_generic_rpc_handlers((service.handler(),))
        try:
            port = server.add_insecure_port(f"{args.host}:{args.port}")
        except RuntimeError as exc:
            port = 0
            detail = str(exc)
        else:
            detail = "address in use"
        if not port:
            raise StartupError(
                f"gRPC port {args.host}:{args.port} is already in use ({detail}); "
                "stop the process holding it or choose another port"
            )
        http_api.start()
        dispatcher.start()
        server.start()
        print(f"{PROG} ready grpc={args.host}:{port} http={args.host}:{http_port}", flush=True)
        log.info("state in %s; queues: %d", args.db, len(database.all_queues()))
        while not stop.wait(0.25):
            pass
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    finally:
        if server is not None:
            server.stop(grace=1.0).wait(5)
        if dispatcher is not None:
            dispatcher.stop()
        if http_api is not None:
            http_api.stop()
        database.close()
        lock.close()
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return serve(args)
    except StartupError as error:
        print(f"{PROG}: cannot start: {error}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
