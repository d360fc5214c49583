"""One log line per thing that happens, named so that log-based metrics can count them.

`emit("video.submitted", creationId=..., userId=...)` logs the event name as the message and
the fields as structured data (`extra["fields"]`); the log formatter decides how they look.
The record carries the caller's source location (file, line, function), not this module's.
Never pass a prompt, a token or a key here.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.domain.creation import Creation, Ending, ending_of

_log = logging.getLogger("creator.events")


def emit(event: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    _emit(event, level, exc_info, fields, stacklevel=3)


def _emit(event: str, level: int, exc_info: bool, fields: dict[str, Any], stacklevel: int) -> None:
    present = {k: v for k, v in fields.items() if v is not None}
    _log.log(
        level,
        event,
        # `fields` for the local formatter, `json_fields` for Cloud Logging's structured handler
        extra={"event": event, "fields": present, "json_fields": {"event": event, **present}},
        exc_info=exc_info,
        # the caller's frame (of emit or ended): Cloud Logging's sourceLocation, the text suffix
        stacklevel=stacklevel,
    )


def ended(creation: Creation, **fields: Any) -> None:
    """A creation just ended without its media (the transaction that ended it committed):
    `<kind>.failed`, `<kind>.expired` or `<kind>.cancelled` says what happened to the
    creation, with its errorCode; `<kind>.refunded` says what happened to its tokens (one
    per `refund-<id>` ledger entry: the money's own count, whatever the ending). Called once
    per creation, by whoever's transaction ended it, so each count is exact."""
    ending = ending_of(creation)
    if ending is None:  # a caller's mistake; never worth failing the request that ended it
        fields = {"creationId": creation.id, "status": str(creation.status)}
        _emit("events.not_ended", logging.ERROR, False, fields, stacklevel=3)
        return
    who = {"creationId": creation.id, "userId": creation.user_id}
    level = logging.INFO if ending is Ending.CANCELLED else logging.WARNING
    # video.failed, video.expired, video.cancelled, image.failed, image.expired: the lines
    # tests/terraform holds the log-based metrics to (it runs this for each kind and ending).
    _emit(
        f"{creation.kind}.{ending}",
        level,
        False,
        {**who, "errorCode": creation.error_code, **fields},
        stacklevel=3,
    )
    _emit(
        f"{creation.kind}.refunded",
        logging.INFO,
        False,
        {**who, "reason": creation.error_code, "ending": str(ending), "amount": creation.cost},
        stacklevel=3,
    )
