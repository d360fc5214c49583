"""Log output: Cloud Logging's structured JSON in production, readable lines locally.

Production (LOG_FORMAT=json): google-cloud-logging's StructuredLogHandler writes one JSON
object per line to stdout with `severity`, `logging.googleapis.com/trace` (from the request's
traceparent / X-Cloud-Trace-Context header) and our fields (event, creationId, userId, ...)
at the top level, where log-based metrics can count them.

Locally (LOG_FORMAT=text): `12:00:01 INFO video.submitted creationId=... userId=... (where)`.

Both scrub every line: bearer tokens, anything shaped like a JWT, Google API keys and OAuth
access tokens, `?key=` query values, and the configured secret values (API keys, R2 keys)
never reach a log, whatever a message or a traceback contains. Error messages built from
provider text should be scrubbed with the same `redact`.

Both give each line the source location of the code that logged it (`events.emit` passes its
caller's frame down): Cloud Logging's `sourceLocation` {file, line, function}, and locally a
`(shared/services/video_steps.py:182)` suffix.

One handler, one line per event. With LOG_EXECUTION_ID=true (Cloud Functions sets it on
every 2nd gen function), functions-framework configures the root logger before it imports
main.py: a plain StreamHandler (`logging.config.dictConfig`, handler "wsgi") that writes
each record unscrubbed, traceback included, to stderr (the request's `wsgi.errors`) as
`{"message": ..., "logging.googleapis.com/labels": {"execution_id": ...}}`. Its legacy mode
(ENTRY_POINT set) adds two more plain StreamHandlers (stdout up to INFO, stderr from
WARNING). `configure_logging` removes those plain StreamHandlers from the root logger and
installs ours, which carries the execution id itself (the `Function-Execution-Id` header
that the framework's middleware sets on every request) next to the trace and span.
Handlers of other classes (pytest's capture, for one) are left alone. Whatever logs an
unhandled exception in a request (our error handlers, or Flask's `app.logger`, which has no
handler of its own when the root has one, and propagates), this one handler writes it,
scrubbed. Nothing else writes to stdout or stderr: gunicorn logs only its own errors
(GUNICORN_LOG_LEVEL=error, the framework's default) and no access lines; the framework's
redirection of stdout and stderr inside a request only reaches `print`, which we never use.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from shared.config import Settings

REDACTED = "[redacted]"
# (pattern, kept prefix group or 0): what is redacted even when nobody configured it
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), 1),
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), 0),  # a JWT
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), 0),  # a Google API key
    (re.compile(r"ya29\.[0-9A-Za-z_\-.]+"), 0),  # a Google OAuth access token
    (re.compile(r"(?i)([?&](?:api_?)?key=)[^&\s\"']+"), 1),  # a key in a URL's query
)
_MIN_SECRET = 6  # shorter configured values would scrub ordinary words


class Redactor:
    """Masks tokens, keys and the given secret values in a text (secrets of fewer than 6
    characters are ignored: they would mask ordinary words)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        found = {s for s in secrets if s and len(s) >= _MIN_SECRET}
        self.secrets = tuple(sorted(found, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, keep in _PATTERNS:
            text = pattern.sub(_keeping(keep), text)
        return text


def redact(text: str, *secrets: str | None) -> str:
    """`text` scrubbed of tokens, keys and the given secret values."""
    return Redactor(secrets)(text)


_ROOT = Path(__file__).resolve().parents[1]


def source_location(record: logging.LogRecord) -> str:
    """`path:line` of the code that logged `record`, relative to the repository when in it."""
    try:
        path = Path(record.pathname).resolve().relative_to(_ROOT).as_posix()
    except (ValueError, OSError):
        path = record.filename
    return f"{path}:{record.lineno}"


class EventFormatter(logging.Formatter):
    """`12:00:01 INFO video.submitted creationId=c1 userId=u1 (shared/services/videos.py:92)`,
    then the traceback if any; all of it scrubbed."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
        self.redact = redact or Redactor()

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return f"{line} ({source_location(record)})"

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def _keeping(group: int) -> Callable[[re.Match[str]], str]:
    """A replacement that keeps the match's `group` (0: nothing) before the redaction."""
    return lambda m: (m.group(group) if group else "") + REDACTED


def structured_handler(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Cloud Logging's JSON lines, scrubbed like the local ones."""
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    redact = Redactor(settings.secrets)

    class ScrubbedStructuredLogHandler(StructuredLogHandler):
        def filter(self, record: logging.LogRecord) -> bool:
            execution_id = _execution_id()
            if execution_id and not hasattr(record, "labels"):
                record.labels = {"execution_id": execution_id}
            return bool(super().filter(record))

        def format(self, record: logging.LogRecord) -> str:
            return redact(str(super().format(record)))  # type: ignore[no-untyped-call]

        def emit_instrumentation_info(self) -> None:
            """The library's one diagnostic entry, written once: its own version logs it
            through a logger that propagates to the root, where this handler is too."""
            import google.cloud.logging_v2 as logging_v2
            from google.cloud.logging_v2._instrumentation import _create_diagnostic_entry

            logging_v2._instrumentation_emitted = True
            payload = _create_diagnostic_entry().payload  # type: ignore[no-untyped-call]
            name = StructuredLogHandler.__module__
            self.handle(logging.LogRecord(name, logging.INFO, "", 0, payload, None, None))

    handler: logging.Handler = ScrubbedStructuredLogHandler(  # type: ignore[no-untyped-call]
        project_id=settings.project, stream=stream or sys.stdout
    )
    return handler


EXECUTION_ID_HEADER = "Function-Execution-Id"  # set on each request by functions-framework


def _execution_id() -> str | None:
    """The current request's execution id (what Cloud Functions shows in its logs), if any."""
    import flask

    if not flask.has_request_context():
        return None
    return flask.request.headers.get(EXECUTION_ID_HEADER) or None


def text_handler(settings: Settings | None = None, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(EventFormatter(Redactor(settings.secrets if settings else ())))
    return handler


_MARK = "_creator_handler"


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Install our one handler on the root logger, in place of the plain StreamHandlers that
    functions-framework installs there (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:  # not ours: they write unscrubbed
            root.removeHandler(handler)
    if any(getattr(h, _MARK, False) for h in root.handlers):
        return
    if settings.log_format == "json":
        handler = structured_handler(settings)
    else:
        handler = text_handler(settings)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
