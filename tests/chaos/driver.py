"""Thousands of creations through the real services, with faults drawn from a seed.

One seed is one world: users submit videos and images (with and without Idempotency-Key),
replay requests, replay a key with another body, cancel, read their own and others'
creations; the simulated Cloud Tasks delivers the worker's steps and Cloud Scheduler runs
the reconciler; the fault plan fails the ports on purpose. When the users stop, the world
runs on for an hour with the faults still on, then the faults stop and it runs on until
every creation has ended. Then it checks:

- the audit (shared.audit.checks, the operator's checks) over the whole store;
- every creation terminal within the bound after the faults stopped (deadline + sweeps);
- at most one generation started per video, one image generated per image creation;
- every draft's media stored;
- each answer's promise: "refunded: true" is refunded in the store, an accepted video
  exists with its debit, a replay charged nothing, a cancel left it cancelled and
  refunded, someone else's creation is not found;
- no exception a service should never raise (the HTTP layer would answer 500).

`python -m tests.chaos.driver --seed 7 --creations 2000` replays one seed exactly.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.dev_identity import DevIdentityVerifier
from shared.audit.checks import Auditor, AuditReport
from shared.bootstrap import Container
from shared.config import settings_from_env
from shared.domain.creation import TERMINAL, Kind, Status
from shared.domain.errors import (
    BalanceTooLow,
    CreationNotFound,
    DomainError,
    InsufficientTokens,
    NotCancellable,
    StoreContention,
    StoreUnavailable,
    TooManyInFlight,
)
from shared.domain.grants import operator_grant, payment_credit
from shared.domain.idempotency import Endpoint, IdempotencyConflict, fingerprint
from shared.domain.ledger import EntryType
from shared.services import tokens
from shared.services.accounts import own_creation
from shared.services.cancel import cancel_creation
from shared.services.images import ImageFailed, ImageInProgress, ImageOrder, generate_image
from shared.services.queue_health import QueueHealth
from shared.services.videos import EnqueueFailed, QueueClosed, VideoOrder, submit_video
from tests.chaos.faults import (
    ChaosImages,
    ChaosMedia,
    ChaosStore,
    ChaosVideos,
    FaultPlan,
    Rates,
    WorkerDied,
)
from tests.chaos.world import SimTasks, World
from tests.fakes import FakeMedia, InMemoryStore

SETTINGS = {
    "APP_ENV": "local",
    "QUEUE_HEALTH_TTL_SECONDS": "0",
    "POLL_INITIAL_SECONDS": "5",
    "POLL_MAX_SECONDS": "30",
    # Failover: two locations of the primary, a cheaper fallback at both, and a dearer one
    # that may never be used (its price is above what a video is charged).
    "VEO_LOCATIONS": "us-central1,global",
    "VEO_FALLBACK_MODELS": "veo-3.1-fast-generate-001,veo-3.1-dear",
    "VIDEO_MODEL_COSTS": "veo-3.1-fast-generate-001=6,veo-3.1-dear=20",
}
MEAN_GAP = 0.4  # world seconds between two user requests
FAULTY_DRAIN = 3600.0  # world seconds the faults go on after the users stop
DEADLINE_BOUND_SLACK = 3 * 300.0  # after the deadline: stale_after + a sweep + a retry
ASPECTS = ("16:9", "9:16")
ANSWERS = (  # the domain errors an api request may answer with, as the api answers them
    (InsufficientTokens, "402"),
    (TooManyInFlight, "429"),
    (IdempotencyConflict, "422"),
    (BalanceTooLow, "409 balance too low"),
    (StoreContention, "409 busy"),
    (StoreUnavailable, "503 store"),
    (QueueClosed, "503 queue closed"),
    (ImageInProgress, "409 in progress"),
    (NotCancellable, "409"),
    (CreationNotFound, "404"),
)


@dataclass
class Remembered:
    """A request sent with an Idempotency-Key, for replays."""

    uid: str
    kind: Kind
    key: str
    order: Any


@dataclass(frozen=True)
class MoneyIn:
    """A grant, correction or credit as its sender knows it: retried with the same key (or
    externalId) and body until it is answered."""

    kind: str  # "credit" | "grant"
    key: str  # the externalId, or the operator's Idempotency-Key
    uid: str
    amount: int
    reason: str


@dataclass
class SeedResult:
    seed: int
    requests: int
    outcomes: Counter  # answers by endpoint and kind
    creations: Counter  # final creations by kind/status(/errorCode)
    faults: Counter
    violations: list[str]
    audit: AuditReport
    steps: Counter
    seconds: float
    world_hours: float
    traces: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


class Run:
    def __init__(self, seed: int, requests: int, rates: Rates | None = None) -> None:
        self.seed = seed
        self.requests = requests
        self.plan = FaultPlan(seed, rates)
        self.rng = self.plan.rng
        self.world = world = World(self.plan)
        settings = settings_from_env({**SETTINGS, "LOCAL_STATE_DIR": tempfile.gettempdir()})
        self.settings = settings
        self.inner = InMemoryStore()
        queue = SimTasks(world, settings.queue_path)
        self.videos = ChaosVideos(self.plan, world)
        self.images = ChaosImages(self.plan, world)
        self.media = ChaosMedia(FakeMedia(), self.plan, world)
        self.deps = Container(
            settings,
            clock=world.clock,
            new_id=world.new_id,
            store=ChaosStore(self.inner, self.plan, world),
            queue=queue,
            queue_health=QueueHealth(queue, ttl_seconds=0),
            videos=self.videos,
            images=self.images,
            media=self.media,
            task_auth=None,
            identity=DevIdentityVerifier(),
        )
        world.deps = self.deps
        world.before_sweep = self.count_in_flight_drift
        self.users = [f"user{u:04d}" for u in range(max(3, requests // 8))]
        self.remembered: list[Remembered] = []
        self.videos_of: dict[str, list[str]] = {}
        self.outcomes: Counter = Counter()
        self.violations: list[str] = []
        self.suspects: list[str] = []  # creation ids whose traces are printed
        self._entries_seen = 0
        self._debit_count: Counter = Counter()
        self.money_in: dict[str, MoneyIn] = {}  # sent, by key
        self.unanswered: set[str] = set()  # sent, no answer yet: the sender will retry
        self.refused: set[str] = set()  # answered 409 balance_too_low: nothing applied
        self.ever_unanswered: set[str] = set()  # an attempt may commit late (a store fault)

    # -- the run ------------------------------------------------------------------------

    def run(self) -> SeedResult:
        started = time.perf_counter()
        world = self.world
        events_log = logging.getLogger("creator.events")
        was_disabled, events_log.disabled = events_log.disabled, True
        try:
            for i in range(self.requests):
                world.maybe_jump()
                world.run_until(world.seconds + self.rng.expovariate(1 / MEAN_GAP))
                self.act(i)
                if self.rng.random() < 0.5:  # replays, cancels and reads between creations
                    self.act_again()
            world.run_until(world.seconds + FAULTY_DRAIN)
            self.plan.enabled = False
            for key in sorted(self.unanswered):  # the senders' last retries
                self.send_money(self.money_in[key], retry=True)
            healed = world.seconds
            bound = self.settings.video_deadline_seconds + DEADLINE_BOUND_SLACK
            world.run_until(healed + bound)
            late = [c for c in self.inner.by_id.values() if c.status not in TERMINAL]
            for c in late:
                self.violation(c.id, f"not terminal {bound:.0f} s after the faults stopped")
            while not world.idle():
                world.run_until(world.seconds + 3600)
        finally:
            events_log.disabled = was_disabled
        report = self.check()
        return SeedResult(
            seed=self.seed,
            requests=self.requests,
            outcomes=self.outcomes,
            creations=Counter(
                f"{c.kind}/{c.status}" + (f"/{c.error_code}" if c.error_code else "")
                for c in self.inner.by_id.values()
            ),
            faults=Counter(self.plan.injected),
            violations=self.violations,
            audit=report,
            steps=world.outcomes + world.queue.stats,
            seconds=time.perf_counter() - started,
            world_hours=world.seconds / 3600,
            traces={cid: world.traces.get(cid, []) for cid in self.suspects[:5]},
        )

    def violation(self, subject: str | None, text: str) -> None:
        self.violations.append(f"{subject}: {text}")
        if subject and subject.startswith("c") and subject not in self.suspects:
            self.suspects.append(subject)

    # -- user actions -------------------------------------------------------------------

    def act(self, i: int) -> None:
        uid = self.rng.choice(self.users)
        key = f"key-{i}" if self.rng.random() < 0.7 else None
        if self.rng.random() < 0.6:
            params = {"aspectRatio": self.rng.choice(ASPECTS), "durationSeconds": 8}
            order = VideoOrder(f"chaos video {i}", params)
            self.video(uid, order, key)
            kind = Kind.VIDEO
        else:
            order = ImageOrder(f"chaos image {i}", "1:1")
            self.image(uid, order, key)
            kind = Kind.IMAGE
        if key is not None:
            self.remembered.append(Remembered(uid, kind, key, order))

    def act_again(self) -> None:
        roll = self.rng.random()
        if roll < 0.4 and self.remembered:
            r = self.rng.choice(self.remembered[-200:])
            if self.rng.random() < 0.1:  # the same key with another body: a client bug
                self.conflict(r)
            elif r.kind is Kind.VIDEO:
                self.video(r.uid, r.order, r.key, replay=True)
            else:
                self.image(r.uid, r.order, r.key, replay=True)
        elif roll < 0.7:
            self.cancel()
        elif roll < 0.8:
            self.peek()
        else:
            self.tokens_in()

    # -- tokens coming in: a payment's credit, an operator's grant or correction ---------

    def tokens_in(self) -> None:
        rng = self.rng
        if self.money_in and rng.random() < 0.3:  # a sender's retry, the same request
            m = self.money_in[rng.choice(sorted(self.money_in)[-100:])]
            if rng.random() < 0.1:  # the same key with another body: 422, nothing applied
                self.send_money(MoneyIn(m.kind, m.key, m.uid, m.amount + 1, m.reason))
                return
            self.send_money(m, retry=True)
            return
        n = len(self.money_in)
        uid = rng.choice(self.users)
        if rng.random() < 0.6:
            m = MoneyIn("credit", f"pi_{self.seed}_{n}", uid, rng.randint(1, 100), "pack")
        else:
            amount = rng.choice([rng.randint(1, 50), -rng.randint(1, 60)])
            m = MoneyIn("grant", f"grant-{n}", uid, amount, "support")
        self.money_in[m.key] = m
        self.send_money(m)

    def send_money(self, m: MoneyIn, retry: bool = False) -> None:
        label = f"{m.kind} retry" if retry else m.kind
        if m.kind == "credit":
            call = lambda: tokens.credit(self.deps, "pay@chaos", m.key, m.uid, m.amount, m.reason)  # noqa: E731
        else:
            call = lambda: tokens.grant(self.deps, "admin", m.key, m.uid, m.amount, m.reason)  # noqa: E731
        moved, exc = self._request(label, call)
        sent = self.money_in.get(m.key)
        if moved is not None:
            self.outcomes[f"{label} 200{' replayed' if moved.replayed else ''}"] += 1
            if sent != m:
                if moved.replayed:
                    self.violation(m.key, f"another body under the same key replayed {moved}")
                # None of the key's earlier requests was applied (each failed before its
                # commit): this one is the key's first, and the ledger must hold it.
                self.money_in[m.key] = m
            self.unanswered.discard(m.key)
            self.refused.discard(m.key)
        elif isinstance(exc, IdempotencyConflict) and sent != m:
            pass  # the conflict this body deserves; the first request stands
        elif isinstance(exc, BalanceTooLow) and sent == m:
            self.refused.add(m.key)
            self.unanswered.discard(m.key)
        elif sent == m:
            self.unanswered.add(m.key)
            self.ever_unanswered.add(m.key)

    def check_money_in(self) -> None:
        """No credit or grant applied twice, none answered and lost, none refused applied
        (unless an earlier attempt, unanswered, committed late)."""
        entries = self.inner.entries
        by_external = Counter(e.external_id for e in entries.values() if e.external_id)
        for external_id, n in by_external.items():
            if n > 1:
                self.violation(external_id, f"credited {n} times")
        for key, m in sorted(self.money_in.items()):
            if m.kind == "credit":
                entry_id = payment_credit("pay@chaos", key, m.uid, m.amount, m.reason).entry_id
            else:
                entry_id = operator_grant("admin", key, m.uid, m.amount, m.reason).entry_id
            entry = entries.get(entry_id)
            if key in self.unanswered:
                self.violation(key, "never answered, even once the faults stopped")
            elif key in self.refused:
                if entry is not None and key not in self.ever_unanswered:
                    self.violation(key, "answered 409 balance_too_low, applied anyway")
            elif entry is None:
                self.violation(key, "answered, not in the ledger")
            elif entry.amount != m.amount or entry.user_id != m.uid:
                self.violation(key, f"applied as {entry}, sent as {m}")

    def _request(
        self, label: str, call: Callable[[], Any], creation_id: str | None = None
    ) -> tuple[Any, BaseException | None]:
        """Run one api request as its own process (its own clock skew and trace) and count
        its answer: (result, None), or (None, the exception). A domain error is an answer
        (ANSWERS); anything else would be a 500, a violation."""
        world = self.world
        world.context.append(creation_id or world.peek_id())
        world.note(f"api request: {label}")
        world.draw_skew()
        try:
            return call(), None
        except WorkerDied as exc:
            self.outcomes[f"{label} api killed"] += 1
            return None, exc
        except (EnqueueFailed, ImageFailed) as exc:  # the caller checks what they promise
            return None, exc
        except DomainError as exc:
            for error, answer in ANSWERS:
                if isinstance(exc, error):
                    self.outcomes[f"{label} {answer}"] += 1
                    return None, exc
            self._unexpected(label)
            return None, exc
        except Exception as exc:
            self._unexpected(label)
            return None, exc
        finally:
            world.skew = 0.0
            world.context.pop()

    def _unexpected(self, label: str) -> None:
        self.outcomes[f"{label} 500"] += 1
        self.violation(self.world.last_new_id, f"{label}: 500\n{traceback.format_exc()}")

    def _check_refunded(self, exc: EnqueueFailed | ImageFailed) -> None:
        """An answer saying refunded=true: the store must show it refunded, now."""
        self.world.note(f"answered {exc.code if isinstance(exc, ImageFailed) else 503} "
                        f"refunded={exc.refunded}", exc.creation.id)  # fmt: skip
        stored = self.inner.by_id.get(exc.creation.id)
        if exc.refunded and not (stored and stored.refunded and stored.is_terminal):
            self.violation(exc.creation.id, "answered refunded=true, not refunded")

    def video(self, uid: str, order: VideoOrder, key: str | None, replay: bool = False) -> None:
        label = "video replay" if replay else "video"
        debits = self._debits_of(uid)
        accepted, exc = self._request(label, lambda: submit_video(self.deps, uid, order, key))
        if isinstance(exc, EnqueueFailed):
            self.outcomes[f"{label} 503 {'refunded' if exc.refunded else 'refund deferred'}"] += 1
            self._check_refunded(exc)
        if accepted is None:
            return
        c = accepted.creation
        self.world.note(f"answered 202 replayed={accepted.replayed}", c.id)
        if accepted.replayed:
            self.outcomes[f"{label} 202 replayed"] += 1
            if self._debits_of(uid) != debits:
                self.violation(c.id, "a replay was charged")
            return
        self.outcomes[f"{label} 202"] += 1
        self.videos_of.setdefault(uid, []).append(c.id)
        if c.id not in self.inner.by_id or f"debit-{c.id}" not in self.inner.entries:
            self.violation(c.id, "accepted (202) but not stored with its debit")
        if self.rng.random() < 0.1:  # cancelled at once, racing its start task
            self.cancel(uid, c.id)

    def image(self, uid: str, order: ImageOrder, key: str | None, replay: bool = False) -> None:
        label = "image replay" if replay else "image"
        debits = self._debits_of(uid)
        made, exc = self._request(label, lambda: generate_image(self.deps, uid, order, key))
        if isinstance(exc, ImageFailed):
            self.outcomes[f"{label} failed {exc.code} refunded={exc.refunded}"] += 1
            self._check_refunded(exc)
        if made is None:
            return
        c = made.creation
        self.outcomes[f"{label} 200{' replayed' if made.replayed else ''}"] += 1
        if made.replayed and self._debits_of(uid) != debits:
            self.violation(c.id, "a replay was charged")
        if c.status is not Status.DRAFT or not c.media_key or c.media_key not in self.media.objects:
            self.violation(c.id, "answered 200 without a stored image")

    def conflict(self, r: Remembered) -> None:
        """The same key with another body: 422 whenever the first request was remembered."""
        if r.kind is Kind.VIDEO:
            other = VideoOrder(r.order.prompt + " (changed)", r.order.parameters)
            endpoint, body = Endpoint.VIDEO, other.as_json()
        else:
            other = ImageOrder(r.order.prompt + " (changed)", r.order.aspect_ratio)
            endpoint, body = Endpoint.IMAGE, other.as_json()
        from shared.domain.idempotency import IdempotencyKey

        probe = IdempotencyKey(r.uid, r.key, endpoint, fingerprint(body), self.world.now)
        record = self.inner.idempotency.get(probe.record_id)
        remembered = record is not None and record.expires_at > self.world.now
        before = len(self.inner.by_id)
        if r.kind is Kind.VIDEO:
            self.video(r.uid, other, r.key, replay=True)
        else:
            self.image(r.uid, other, r.key, replay=True)
        if remembered and len(self.inner.by_id) != before:
            self.violation(r.key, "a key reused with another body made a new creation")

    def cancel(self, uid: str | None = None, cid: str | None = None) -> None:
        if uid is None or cid is None:
            uid = self.rng.choice(self.users)
            mine = self.videos_of.get(uid)
            if not mine:
                return
            cid = self.rng.choice(mine[-5:])
        owner = uid
        done, exc = self._request("cancel", lambda: cancel_creation(self.deps, owner, cid), cid)
        if isinstance(exc, CreationNotFound):
            self.violation(cid, "the owner's cancel answered 404")
        if done is None:
            return
        self.outcomes[f"cancel 200{'' if done.cancelled_now else ' again'}"] += 1
        stored = self.inner.by_id[cid]
        if stored.status is not Status.CANCELLED or not stored.refunded:
            self.violation(cid, f"answered cancelled, stored {stored.status}")

    def peek(self) -> None:
        """Someone else's creation: cancelling or reading it is a 404, never a change."""
        owners = [u for u in self.users if self.videos_of.get(u)]
        if len(owners) < 2:
            return
        owner, stranger = self.rng.sample(owners, 2)
        cid = self.rng.choice(self.videos_of[owner])
        before = self.inner.by_id[cid]
        for label, call in (
            ("read other's", lambda: own_creation(self.deps, stranger, cid)),
            ("cancel other's", lambda: cancel_creation(self.deps, stranger, cid)),
        ):
            answer, _ = self._request(label, call, cid)
            if answer is not None:
                self.outcomes[f"{label} 200"] += 1
                self.violation(cid, f"{label}: answered to another user")
        after = self.inner.by_id[cid]
        if (after.user_id, after.status) != (before.user_id, before.status) and (
            after.status is Status.CANCELLED
        ):
            self.violation(cid, "someone else cancelled it")

    def _debits_of(self, uid: str) -> int:
        """The user's debit entries so far (entries are only ever added, in order: only the
        new ones are counted at each call)."""
        entries = self.inner.entries
        new = len(entries) - self._entries_seen
        for e in itertools.islice(reversed(entries.values()), new):
            if e.type is EntryType.DEBIT:
                self._debit_count[e.user_id] += 1
        self._entries_seen = len(entries)
        return self._debit_count[uid]

    # -- the checks ---------------------------------------------------------------------

    def count_in_flight_drift(self) -> None:
        """Before each sweep (which repairs them), the users whose inFlight counter differs
        from their unfinished videos: a figure, since the reconciler heals it by design."""
        actual: Counter = Counter(
            c.user_id
            for c in self.inner.by_id.values()
            if c.kind is Kind.VIDEO and c.status not in TERMINAL
        )
        for account in self.inner.accounts.values():
            if account.in_flight != actual[account.uid]:
                self.world.outcomes["in-flight counter drift seen before a sweep"] += 1

    def check_routes(self) -> None:
        """Failover: each operation ran on a route whose price is not above what its creation
        was charged, and a creation that recorded its operation records that route."""
        prices = dict(self.deps.policy.video_routes)
        for name, op in self.videos.operations.items():
            c = self.inner.by_id.get(op.creation_id or "")
            if c is None or op.route is None:
                self.violation(op.creation_id, f"{name}: no creation or no route")
                continue
            primary = self.deps.policy.video_routes[0][0]
            if op.route != primary:
                self.outcomes[f"started on a fallback ({op.route.model}@{op.route.location})"] += 1
            if op.route not in self.deps.policy.routes_for(c.cost):
                self.violation(c.id, f"{name} ran on {op.route} ({prices.get(op.route)} tokens)")
            if c.operation_name == name and (c.model, c.location) != (
                op.route.model,
                op.route.location,
            ):
                self.violation(c.id, f"{name} ran on {op.route}, recorded {c.model}@{c.location}")

    def check(self) -> AuditReport:
        self.check_money_in()
        report = audit_memory(self.inner, self.world.now)
        for v in report.violations:
            self.violation(v.subject, f"audit {v.kind}: {v.detail}")
        for cid, n in sorted(self.videos.starts.items(), key=str):
            if n > 1 or cid is None:
                self.violation(cid, f"{n} generations started")
        self.check_routes()
        for cid, n in sorted(self.images.calls.items(), key=str):
            if n > 1:
                self.violation(cid, f"{n} images generated")
        for c in self.inner.by_id.values():
            if c.status is Status.DRAFT and c.media_key not in self.media.objects:
                self.violation(c.id, "a draft whose media is not stored")
        for text in self.world.unexpected:
            self.violation(None, f"worker 500: {text}")
        return report


def audit_memory(store: InMemoryStore, now: Any) -> AuditReport:
    """The audit over the in-memory store: the same checks as `python -m shared.audit`."""
    auditor = Auditor()
    for account in store.accounts.values():
        auditor.add_account(account, getattr(account, "in_flight", None))
    for creation in store.by_id.values():
        auditor.add_creation(creation)
    for entry in store.entries.values():
        auditor.add_entry(entry)
    return auditor.finish(now)


def run_seed(seed: int, requests: int, rates: Rates | None = None) -> SeedResult:
    return Run(seed, requests, rates).run()


# -- reporting --------------------------------------------------------------------------


@dataclass
class Totals:
    seeds: int = 0
    requests: int = 0
    creations: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    steps: Counter = field(default_factory=Counter)
    violations: int = 0
    failing: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, r: SeedResult) -> None:
        self.seeds += 1
        self.requests += r.requests
        self.creations += r.creations
        self.outcomes += r.outcomes
        self.faults += r.faults
        self.steps += r.steps
        self.violations += len(r.violations)
        self.seconds += r.seconds
        if not r.ok:
            self.failing.append(r.seed)

    def lines(self) -> list[str]:
        made = sum(self.creations.values())
        by_status: Counter = Counter()
        for key, n in self.creations.items():
            by_status["/".join(key.split("/")[:2])] += n
        out = [
            f"seeds {self.seeds}, user requests {self.requests}, creations {made}, "
            f"{self.seconds:.1f} s ({made / max(self.seconds, 1e-9):,.0f} creations/s)",
            "creations by outcome: " + _join(by_status),
            "  failure codes: "
            + _join(Counter({k: n for k, n in self.creations.items() if k.count("/") == 2})),
            "answers: " + _join(self.outcomes),
            "faults injected: " + _join(self.faults) + f" (total {sum(self.faults.values())})",
            "worker and queue: " + _join(self.steps),
            f"violations: {self.violations}"
            + (f" (seeds {', '.join(map(str, self.failing))})" if self.failing else ""),
        ]
        return out


def _join(counter: Counter) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "none"


def print_failure(r: SeedResult, requests: int, out: Any = sys.stdout) -> None:
    print(f"seed {r.seed}: {len(r.violations)} violations", file=out)
    for v in r.violations[:20]:
        print(f"  {v}", file=out)
    for cid, trace in r.traces.items():
        print(f"  trace of {cid}:", file=out)
        for line in trace[-60:]:
            print(f"    {line}", file=out)
    print(
        f"  replay: python -m tests.chaos.driver --seed {r.seed} --creations {requests}",
        file=out,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.driver", description=__doc__)
    parser.add_argument("--seed", type=int, help="one seed (replays it exactly)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds from --first-seed")
    parser.add_argument("--creations", type=int, default=2000, help="user requests per seed")
    parser.add_argument("--total", type=int, help="spread this many requests over the seeds")
    parser.add_argument("--rate-factor", type=float, default=1.0, help="scale every fault rate")
    args = parser.parse_args(argv)
    per_seed = args.creations
    if args.seed is not None:
        seeds = [args.seed]
    else:
        count = args.seeds
        if args.total:
            count = max(1, -(-args.total // per_seed))
        seeds = list(range(args.first_seed, args.first_seed + count))
    rates = Rates().scaled(args.rate_factor)
    totals = Totals()
    print(f"chaos: seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), {per_seed} requests each")
    for seed in seeds:
        result = run_seed(seed, per_seed, rates)
        totals.add(result)
        if not result.ok:
            print_failure(result, per_seed)
        elif len(seeds) > 1 and seed % 10 == 0:
            print(f"  ... seed {seed}: ok ({totals.seeds} seeds, {totals.violations} violations)")
    for line in totals.lines():
        print(line)
    return 1 if totals.violations else 0


if __name__ == "__main__":
    sys.exit(main())
