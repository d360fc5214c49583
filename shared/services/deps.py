"""What the services need, and nothing more: the ports, the clock, new ids and the Policy.

Services are typed against `Deps`, not against the composition root: they cannot reach a
setting or a secret they were not given. `shared.bootstrap.Container` satisfies it in
production and locally; tests pass a Container built from fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.creation import Kind

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.ports import (
        ImageGenerator,
        MediaStorage,
        Store,
        StoreQueries,
        TaskQueue,
        VideoGenerator,
        VideoRoute,
    )
    from shared.services.queue_health import QueueHealth

IMAGE_DEADLINE = timedelta(seconds=300)  # an image is made within its request


@dataclass(frozen=True)
class Policy:
    """The rules of the business that configuration sets: prices, deadlines, timings."""

    video_cost: int
    image_cost: int
    starting_grant: int  # tokens a new account starts with (STARTING_TOKENS)
    video_deadline: timedelta
    image_deadline: timedelta
    start_timeout: timedelta
    stale_after: timedelta
    poll_initial_seconds: float
    poll_max_seconds: float
    idempotency_ttl: timedelta
    in_flight_limit: int | None  # videos a user may have in flight; None: no limit
    # How long a video may wait for its start (the provider's quota) before it fails
    # `capacity`, refunded; and the pace of starts that the start queue keeps.
    max_queue_wait: timedelta = timedelta(seconds=1800)
    starts_per_minute: float = 10.0
    daily_limit: int | None = None  # tokens a user may spend in a UTC day; None: no cap
    # Where a start is tried, in order (the primary first), with each route's price; empty:
    # the generator's own model and location only (issue 21's failover).
    video_routes: tuple[tuple[VideoRoute, int], ...] = ()

    def routes_for(self, charged: int) -> list[VideoRoute]:
        """The routes a video charged `charged` tokens may start on, in order: the primary
        (what was charged for), then each fallback whose price is not above `charged`."""
        if not self.video_routes:
            return []
        primary = self.video_routes[0][0].model
        return [
            route
            for route, price in self.video_routes
            if route.model == primary or price <= charged
        ]

    def price(self, kind: Kind, parameters: dict[str, Any] | None = None) -> int:
        """What a creation of `kind` with `parameters` costs: the one rule that charges it
        and that GET /api/prices shows (today flat per kind; no parameter changes it)."""
        return self.video_cost if kind is Kind.VIDEO else self.image_cost

    def price_list(self) -> list[tuple[Kind, dict[str, Any], int]]:
        """Every price: (kind, the parameters it applies to ({}: all), tokens)."""
        return [(kind, {}, self.price(kind)) for kind in Kind]

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            video_cost=s.video_cost,
            image_cost=s.image_cost,
            starting_grant=s.starting_tokens,
            video_deadline=timedelta(seconds=s.video_deadline_seconds),
            image_deadline=IMAGE_DEADLINE,
            start_timeout=timedelta(seconds=s.start_timeout_seconds),
            stale_after=timedelta(seconds=s.stale_after_seconds),
            poll_initial_seconds=s.poll_initial_seconds,
            poll_max_seconds=s.poll_max_seconds,
            idempotency_ttl=timedelta(hours=s.idempotency_key_ttl_hours),
            in_flight_limit=s.max_in_flight_videos or None,
            max_queue_wait=timedelta(seconds=s.max_queue_wait_seconds),
            starts_per_minute=s.veo_starts_per_minute,
            daily_limit=s.daily_spend_limit_tokens or None,
            video_routes=video_routes(s),
        )


def video_routes(s: Settings) -> tuple[tuple[VideoRoute, int], ...]:
    """VIDEO_MODEL at each of VEO_LOCATIONS (VERTEX_LOCATION when empty), then each of
    VEO_FALLBACK_MODELS at each location; each with its price (VIDEO_MODEL_COSTS, or
    VIDEO_COST_TOKENS). The primary model's price is VIDEO_COST_TOKENS, what is charged."""
    from shared.ports import VideoRoute

    locations = s.veo_locations or (s.vertex_location,)
    costs = dict(s.video_model_costs)
    models = dict.fromkeys((s.video_model, *s.veo_fallback_models))
    return tuple(
        (VideoRoute(model, location), s.video_cost if n == 0 else costs.get(model, s.video_cost))
        for n, model in enumerate(models)
        for location in locations
    )


class Deps(Protocol):
    @property
    def store(self) -> Store: ...  # the money transactions
    @property
    def queries(self) -> StoreQueries: ...  # the store's read side
    @property
    def queue(self) -> TaskQueue: ...
    @property
    def queue_health(self) -> QueueHealth: ...
    @property
    def videos(self) -> VideoGenerator: ...
    @property
    def images(self) -> ImageGenerator: ...
    @property
    def media(self) -> MediaStorage: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def new_id(self) -> Callable[[], str]: ...
