"""The ports: what the services need from the outside world, and nothing more.

Production adapters (Firestore, Cloud Tasks, Veo, R2, Firebase) and local ones implement
these; `tests/fakes/` holds in-memory versions for the fast unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.domain.creation import ALL, Creation, CreationFilter, CreationSummary, Refund, Status
from shared.domain.grants import Moved, Movement
from shared.domain.idempotency import IdempotencyKey
from shared.domain.identity import Identity
from shared.domain.ledger import NO_LIMITS, Account, EntryType, LedgerEntry, SpendLimits
from shared.domain.money import Debited, Refunded
from shared.domain.paging import Cursor, Page
from shared.domain.step_tasks import StepTask

CreationChange = Callable[[Creation], Creation | None]


@dataclass(frozen=True)
class QueueChange:
    action: str  # pause | resume
    by: str  # the operator's uid
    at: datetime
    reason: str


@dataclass(frozen=True)
class EntryTotals:
    count: int
    tokens: int  # the entries' amounts summed (an adjustment's are negative)


class Store(Protocol):
    """The write side: the money transactions (and the operators' queue changes).

    Every method is one transaction that reads what it needs, lets one pure function of
    `shared.domain.money` decide, and writes what it decided; the rules are there.

    Errors: StoreContention when a transaction gives up on a hot document,
    StoreUnavailable when the store cannot be reached; never an SDK exception.
    """

    def ensure_account(self, uid: str, starting_grant: int, now: datetime) -> Account:
        """The user's account; created with `starting_grant` (a grant entry) when absent
        (`money.open_account`)."""

    def debit_and_create(
        self,
        c: Creation,
        now: datetime,
        key: IdempotencyKey | None = None,
        limits: SpendLimits = NO_LIMITS,
    ) -> Debited:
        """Check the balance, debit it, create the creation `c` `pending`, write
        `debit-<id>`, count a video in the user's `inFlight` and its cost in the day's
        spending, and remember the idempotency `key` (if any) for this creation, all at once
        (`money.debit`).

        Raises TooManyInFlight (a video while `limits.in_flight` are in flight),
        DailyLimitReached (the day's spending past `limits.daily`) or InsufficientTokens,
        writing nothing. When the key replays an earlier request, returns that request's
        creation with replayed=True and charges nothing; raises IdempotencyConflict when the
        key was used for another request.
        """

    def refund(self, creation_id: str, now: datetime, refund: Refund) -> Refunded:
        """End a non-terminal creation as failed/cancelled, give the tokens back, count it
        out of `inFlight` and write `refund-<id>`, all at once (`money.refund`); a no-op for
        a terminal creation (and, with `refund.only_if_pending`, for a claimed one). Raises
        CreationNotFound."""

    def update_creation(self, creation_id: str, change: CreationChange) -> tuple[Creation, bool]:
        """Apply a pure transition (see shared.domain.creation) in a transaction.

        Returns the creation as stored afterwards and whether it changed. The change may run
        more than once (transaction retries), so it must be pure. A video that ends (draft)
        is counted out of its user's `inFlight` in the same transaction (`money.change`).
        Raises CreationNotFound.
        """

    def move_tokens(self, m: Movement, starting_grant: int, now: datetime) -> Moved:
        """An operator's grant or correction, or a payment's credit: the ledger entry
        `m.entry_id` (create-if-absent) and the balance, at once (`money.move`); the account
        opened first with `starting_grant` when absent. A replay answers the first result;
        raises IdempotencyConflict (another request under the same id) or BalanceTooLow
        (writing nothing)."""

    def recount_in_flight(self, uid: str) -> tuple[int, int]:
        """Repair the user's `inFlight` counter from their unfinished videos: (was, is)."""

    def record_queue_change(self, change: QueueChange) -> None:
        """Remember an operator's pause or resume (who, when, why)."""


class StoreQueries(Protocol):
    """The read side: what the api, the dashboard and the reconciler look up. Writes
    nothing. Errors as `Store`'s."""

    def get_account(self, uid: str) -> Account | None: ...

    def get_creation(self, creation_id: str) -> Creation | None: ...

    def find_replay(self, idempotency: IdempotencyKey, now: datetime) -> Debited | None:
        """What `debit_and_create` would replay for this key (`money.replay`), read without
        writing: the earlier creation and the balance, or None. Raises IdempotencyConflict."""

    def ledger(self, uid: str, limit: int = 20, after: Cursor | None = None) -> Page[LedgerEntry]:
        """The user's ledger entries, newest first, a page at a time."""

    def creations(
        self, uid: str, only: CreationFilter = ALL, limit: int = 20, after: Cursor | None = None
    ) -> Page[Creation]:
        """The user's creations, newest first, those `only` matches, a page at a time."""

    def stale_creations(self, updated_before: datetime, limit: int = 100) -> list[Creation]:
        """Non-terminal creations not updated since `updated_before`, oldest first."""

    def users_in_flight(self, limit: int = 100) -> list[str]:
        """Users whose `inFlight` counter is above zero."""

    def recent_creations(
        self, since: datetime, limit: int, statuses: tuple[Status, ...] | None = None
    ) -> list[CreationSummary]:
        """Creations made since `since` (everyone's; only in `statuses` if given), newest
        first, in short form."""

    def count_creations(self, since: datetime, status: Status | None = None) -> int:
        """How many creations were made since `since` (only in `status` if given), counted
        by the store without reading them."""

    def count_waiting_before(self, created_at: datetime) -> int:
        """How many creations still wait for their start (`pending`) that were submitted
        before `created_at`: a video's queue position, counted by the store from an index
        without reading the creations (docs/DESIGN.md, "Veo's quota")."""

    def entry_totals(self, since: datetime, entry_type: EntryType) -> EntryTotals:
        """How many ledger entries of `entry_type` (everyone's) were written since `since`,
        and their amounts' sum: an aggregation over the (type, createdAt, amount) index, no
        entry read (the overview's grants, credits and adjustments of the day)."""

    def oldest_waiting(self) -> datetime | None:
        """When the oldest creation still waiting for its start (`pending`) was submitted,
        or None: one index entry read."""

    def latest_failures(self, limit: int) -> list[CreationSummary]:
        """The most recently failed creations (everyone's), newest first."""

    def last_queue_change(self) -> QueueChange | None: ...

    def ping(self) -> None:
        """Raises StoreUnavailable when the store cannot be reached."""


class QueueState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    DISABLED = "disabled"


@dataclass(frozen=True)
class QueueInfo:
    name: str
    state: QueueState


class TaskQueue(Protocol):
    """The queue of worker steps. Every failure raises QueueError with a stable code."""

    def enqueue(self, task: StepTask) -> None:
        """Create the named task; a task of that name existing already (or having run: its
        name stays reserved) counts as success."""

    def delete(self, task: StepTask) -> bool:
        """Delete the named task if it is still waiting; False when it was not there."""

    def waiting(self, task: StepTask) -> bool:
        """Is the named task in the queue, not yet run to success (GetTask)? False when it
        ran, was deleted or never was."""

    def info(self) -> QueueInfo: ...

    def pause(self) -> QueueInfo:
        """Stop dispatching (tasks are still accepted and kept)."""

    def resume(self) -> QueueInfo: ...


@dataclass(frozen=True)
class VideoSpec:
    prompt: str
    aspect_ratio: str = "16:9"
    duration_seconds: int = 8
    resolution: str = "720p"
    negative_prompt: str | None = None

    @classmethod
    def from_creation(cls, c: Creation) -> VideoSpec:
        p = c.parameters
        return cls(
            prompt=c.prompt,
            aspect_ratio=p.get("aspectRatio", "16:9"),
            duration_seconds=int(p.get("durationSeconds", 8)),
            resolution=p.get("resolution", "720p"),
            negative_prompt=p.get("negativePrompt"),
        )


@dataclass(frozen=True)
class VideoRoute:
    """Where a generation is started: the model and the location (Vertex AI's region, or
    `global`). Each has its own quota; the order to try them is Policy.video_routes."""

    model: str
    location: str


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str
    extension: str


@dataclass(frozen=True)
class OperationStatus:
    """What polling a generation operation tells. Exactly one of the three outcomes when done."""

    done: bool
    progress: int = 0
    media: Media | None = None
    error_code: str | None = None  # e.g. content_filtered, generation_failed
    error_message: str | None = None


class VideoGenerator(Protocol):
    """Long-running generation, shaped like Veo: start, then poll by operation name."""

    def start(self, spec: VideoSpec, route: VideoRoute | None = None) -> str:
        """Start one generation (on `route`; None: the generator's own model and location)
        and return its operation name. Raises GenerationError: `not_started` proves that
        nothing was started (a 429), so another route may be tried."""

    def poll(self, operation_name: str) -> OperationStatus:
        """Raises GenerationError (transient: retry the step later)."""


class ImageGenerator(Protocol):
    """Synchronous image generation (one request, a few seconds)."""

    def generate(self, prompt: str, aspect_ratio: str = "1:1") -> Media:
        """Raises GenerationError: transient (retry later) or not (e.g. content_filtered)."""


class MediaStorage(Protocol):
    """Media objects by key (`shared.domain.media_keys`: a key it refuses raises ValueError).

    A creation records the key, never a URL: the URL is made each time the creation is read,
    so that a link shown to the user is always valid.
    """

    def put(self, key: str, media: Media) -> None:
        """Store the bytes under `key`, overwriting. Raises StorageError."""

    def url(self, key: str, download: str | None = None) -> str:
        """The URL to show now for `key`: under the public base URL when there is one, else
        a fresh presigned GET (made each call, no network I/O). Says nothing about whether the
        object exists. Raises StorageError when storage is misconfigured.

        With `download` (a `media_keys.download_name`), a URL whose answer saves the file
        under that name rather than showing it (`media_keys.attachment`): a browser ignores
        the `download` attribute of a link to another origin, so the header must come from
        the storage. Presigned even when there is a public base URL (a public domain serves
        every key the same way)."""

    def ping(self) -> None:
        """Raises StorageError when storage cannot be reached."""


class IdentityVerifier(Protocol):
    def identify(self, authorization: str | None) -> Identity:
        """Who is behind an Authorization header (uid, admin). Raises Unauthenticated."""


class TaskAuthenticator(Protocol):
    """Checks that a worker request comes from Cloud Tasks (its OIDC token)."""

    def verify(self, authorization: str | None) -> str:
        """The caller's service account email. Raises Unauthenticated (no or bad token) or
        Forbidden (a valid token for someone else)."""
