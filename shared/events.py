"""One log line per thing that happens, named so that log-based metrics can count them.

`emit("video.submitted", creationId=..., userId=...)` logs the event name as the message and
the fields as structured data (`extra["fields"]`); the log formatter decides how they look.
The record carries the caller's source location (file, line, function), not this module's.
Never pass a prompt, a token or a key here.
"""

from __future__ import annotations

import logging
from typing import Any

_log = logging.getLogger("creator.events")


def emit(event: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    present = {k: v for k, v in fields.items() if v is not None}
    _log.log(
        level,
        event,
        # `fields` for the local formatter, `json_fields` for Cloud Logging's structured handler
        extra={"event": event, "fields": present, "json_fields": {"event": event, **present}},
        exc_info=exc_info,
        stacklevel=2,  # the caller's frame: Cloud Logging's sourceLocation, the text suffix
    )
