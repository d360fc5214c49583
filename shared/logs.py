"""Log output: Cloud Logging's structured JSON in production, readable lines locally.

Production (LOG_FORMAT=json): google-cloud-logging's StructuredLogHandler writes one JSON
object per line to stdout with `severity`, `logging.googleapis.com/trace` (from the request's
traceparent / X-Cloud-Trace-Context header) and our fields (event, creationId, userId, ...)
at the top level, where log-based metrics can count them.

Locally (LOG_FORMAT=text): `12:00:01 INFO video.submitted creationId=... userId=...`.

Both scrub every line: bearer tokens, anything shaped like a JWT, and the configured secret
values (API keys, R2 keys) never reach a log, whatever a message or a traceback contains.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import Settings

_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
REDACTED = "[redacted]"


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class EventFormatter(logging.Formatter):
    """Appends an event's fields to its line: `12:00:01 INFO video.submitted creationId=...`."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return self.redact(line)


def structured_handler(settings: Settings, stream=None) -> logging.Handler:
    """Cloud Logging's JSON lines, scrubbed like the local ones."""
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    redact = Redactor(settings.secrets)

    class ScrubbedStructuredLogHandler(StructuredLogHandler):
        def format(self, record: logging.LogRecord) -> str:
            return redact(super().format(record))

    return ScrubbedStructuredLogHandler(project_id=settings.project, stream=stream or sys.stdout)


def text_handler(settings: Settings | None = None, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(EventFormatter(Redactor(settings.secrets if settings else ())))
    return handler


_MARK = "_creator_handler"


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Install our one handler on the root logger (idempotent)."""
    root = logging.getLogger()
    if any(getattr(h, _MARK, False) for h in root.handlers):
        return
    if settings.log_format == "json":
        handler = structured_handler(settings)
    else:
        handler = text_handler(settings)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
