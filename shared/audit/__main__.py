"""`python -m shared.audit audit`: read the store in pages and report every violation.

Exit status: 0 no violation, 1 violations found (listed), 2 the store could not be read.

    python -m shared.audit audit                      # GOOGLE_CLOUD_PROJECT's Firestore
    FIRESTORE_EMULATOR_HOST=127.0.0.1:8085 python -m shared.audit audit --project demo-creator
    python -m shared.audit audit --json               # the figures as one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta

from shared.audit.checks import DEFAULT_GRACE, Auditor, AuditReport
from shared.audit.firestore_reader import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT,
    ReadFigures,
    read_store,
)

EXIT_OK, EXIT_VIOLATIONS, EXIT_UNREADABLE = 0, 1, 2
LOCAL_PROJECT = "demo-creator"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shared.audit", description="Check the store's invariants."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("audit", help="read every document and report every violation")
    run.add_argument(
        "--project",
        default=os.environ.get("GOOGLE_CLOUD_PROJECT")
        or (LOCAL_PROJECT if os.environ.get("FIRESTORE_EMULATOR_HOST") else None),
        help="the Google Cloud project (default: GOOGLE_CLOUD_PROJECT)",
    )
    run.add_argument("--database", default=os.environ.get("FIRESTORE_DATABASE", "(default)"))
    run.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    run.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per page, retries included"
    )
    run.add_argument(
        "--grace-minutes",
        type=float,
        default=DEFAULT_GRACE.total_seconds() / 60,
        help="how long past its deadline a creation may still be non-terminal",
    )
    run.add_argument(
        "--live",
        action="store_true",
        help="read the latest data page by page instead of one consistent snapshot",
    )
    run.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    run.add_argument("--limit", type=int, default=20, help="violations listed per kind")
    return parser.parse_args(argv)


def run_audit(args: argparse.Namespace) -> tuple[AuditReport, ReadFigures]:
    from google.cloud import firestore

    client = firestore.Client(project=args.project, database=args.database)
    try:
        now = datetime.now(UTC)
        # One snapshot a second old (an exact past time: every page sees the same data).
        read_time = None if args.live else now.replace(microsecond=0) - timedelta(seconds=1)
        auditor = Auditor()
        figures = read_store(
            client, auditor, page_size=args.page_size, timeout=args.timeout, read_time=read_time
        )
        return auditor.finish(now, timedelta(minutes=args.grace_minutes)), figures
    finally:
        client.close()  # type: ignore[no-untyped-call]


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if not args.project:
        print("audit: set GOOGLE_CLOUD_PROJECT or pass --project", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        report, figures = run_audit(args)
    except Exception as exc:  # an SDK or network error: say it in one line, exit 2
        print(f"audit: the store could not be read: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        print(json.dumps({**report.as_json(), "read": figures.__dict__}))
    else:
        where = os.environ.get("FIRESTORE_EMULATOR_HOST") or "Firestore"
        print(f"project {args.project} ({where}), database {args.database}")
        for line in report.lines(args.limit):
            print(line)
        docs = sum(figures.documents.values())
        print(f"read {docs} documents in {figures.pages} pages, {figures.seconds:.2f} s")
    return EXIT_OK if report.ok else EXIT_VIOLATIONS


if __name__ == "__main__":
    sys.exit(main())
