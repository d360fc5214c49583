"""Domain objects for tests, built in one place: a video creation as the services make it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.domain.creation import Creation, Kind

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def video(
    user: str = "u",
    *,
    cid: str | None = None,
    at: datetime = NOW,
    cost: int = 10,
    prompt: str = "a red fox",
    deadline: timedelta = timedelta(minutes=30),
    parameters: dict[str, object] | None = None,
) -> Creation:
    """A `pending` video of `user`, made at `at`, due `deadline` later."""
    return Creation(
        id=cid or uuid.uuid4().hex,
        user_id=user,
        kind=Kind.VIDEO,
        prompt=prompt,
        parameters=dict(parameters or {}),
        cost=cost,
        created_at=at,
        updated_at=at,
        deadline_at=at + deadline,
    )
