"""The Store port: one contract for the in-memory fake and the Firestore adapter.

The Firestore side runs on the official emulator, started by the suite (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_store import FirestoreStore
from shared.domain import creation as transitions
from shared.domain.creation import Creation, CreationFilter, Refund, Status
from shared.domain.errors import (
    CreationNotFound,
    InsufficientTokens,
    StoreContention,
    StoreUnavailable,
)
from shared.domain.idempotency import Endpoint, IdempotencyConflict, IdempotencyKey
from shared.domain.ledger import NO_LIMITS, EntryType, SpendLimits
from tests import builders
from tests.contract.invariants import assert_conserved

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def drift_in_flight(store, request):
    """Set a user's in-flight counter behind the port's back, as data written before the
    counter existed (or a bug) would leave it; the port itself never lets it drift."""
    if request.node.callspec.params["store"] == "memory":

        def drift(user: str, value: int) -> None:
            store.accounts[user] = dataclasses.replace(store.accounts[user], in_flight=value)
    else:
        client = request.getfixturevalue("firestore_client")

        def drift(user: str, value: int) -> None:
            client.collection("users").document(user).update({"inFlight": value})

    return drift


def uid() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


def video(user: str, cost: int = 10, at: datetime = NOW, cid: str | None = None) -> Creation:
    parameters = {"aspectRatio": "16:9", "durationSeconds": 8}
    return builders.video(user, cid=cid, at=at, cost=cost, parameters=parameters)


def debited(store) -> tuple[str, Creation]:
    """A new user with 100 tokens and one video of 10 debited: (user, video)."""
    user = uid()
    store.ensure_account(user, 100, NOW)
    c = video(user)
    store.debit_and_create(c, NOW)
    return user, c


def test_a_new_account_gets_its_grant_once(store):
    user = uid()
    assert store.get_account(user) is None
    assert store.ensure_account(user, 100, NOW).tokens == 100
    assert store.ensure_account(user, 100, NOW).tokens == 100
    [grant] = store.ledger(user)
    assert grant.type is EntryType.GRANT and grant.amount == 100
    assert_conserved(store, user)


def test_a_debit_creates_the_creation_and_one_entry(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    c = video(user)
    debited = store.debit_and_create(c, NOW)
    assert debited.balance == 90 and not debited.replayed
    stored = store.get_creation(c.id)
    assert stored == c and stored.status is Status.PENDING
    account = store.get_account(user)
    assert (account.tokens, account.total_tokens_spent) == (90, 10)
    assert [e.type for e in store.ledger(user)].count(EntryType.DEBIT) == 1
    assert_conserved(store, user)


def key(user: str, value: str = "k1", body: str = "b1", endpoint=Endpoint.VIDEO, hours=24):
    return IdempotencyKey(user, value, endpoint, body, NOW + timedelta(hours=hours))


def test_the_same_idempotency_key_is_charged_once(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    first = store.debit_and_create(video(user), NOW, key(user))
    again = store.debit_and_create(video(user), NOW, key(user))
    assert again.replayed and again.creation == first.creation and again.balance == 90
    other_user = uid()
    store.ensure_account(other_user, 100, NOW)
    theirs = store.debit_and_create(video(other_user), NOW, key(other_user))
    assert not theirs.replayed
    assert store.get_account(user).tokens == 90
    assert_conserved(store, user)


@pytest.mark.parametrize(
    "changed", [{"body": "b2"}, {"endpoint": Endpoint.IMAGE}], ids=["body", "endpoint"]
)
def test_a_key_reused_for_another_request_is_a_conflict_and_writes_nothing(store, changed):
    user = uid()
    store.ensure_account(user, 100, NOW)
    store.debit_and_create(video(user), NOW, key(user))
    c = video(user)
    with pytest.raises(IdempotencyConflict):
        store.debit_and_create(c, NOW, key(user, **changed))
    assert store.get_creation(c.id) is None and store.get_account(user).tokens == 90


def test_a_key_past_its_time_starts_a_new_creation(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    store.debit_and_create(video(user), NOW, key(user, hours=1))
    later = NOW + timedelta(hours=1)
    fresh = store.debit_and_create(video(user), later, key(user, hours=2))
    assert not fresh.replayed and store.get_account(user).tokens == 80
    assert_conserved(store, user)


def test_a_key_whose_creation_was_refunded_before_it_was_accepted_tries_again(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    first = store.debit_and_create(video(user), NOW, key(user))
    refund = Refund("enqueue_failed", queue_error_code="queue_unavailable", only_if_pending=True)
    store.refund(first.creation.id, NOW, refund)
    second = store.debit_and_create(video(user), NOW, key(user))
    assert not second.replayed and second.creation.id != first.creation.id
    third = store.debit_and_create(video(user), NOW, key(user))
    assert third.replayed and third.creation.id == second.creation.id
    assert store.get_account(user).tokens == 90
    assert_conserved(store, user)


def test_a_short_balance_writes_nothing(store):
    user = uid()
    store.ensure_account(user, 5, NOW)
    c = video(user)
    with pytest.raises(InsufficientTokens) as short:
        store.debit_and_create(c, NOW)
    assert (short.value.balance, short.value.required) == (5, 10)
    assert store.get_creation(c.id) is None
    assert store.get_account(user).tokens == 5
    assert len(store.ledger(user)) == 1


def test_a_refund_happens_once_whoever_calls(store):
    user, c = debited(store)
    first = store.refund(c.id, NOW, Refund("enqueue_failed", queue_error_code="queue_unavailable"))
    again = store.refund(c.id, NOW, Refund("deadline_exceeded"))
    assert first.refunded_now and first.balance == 100
    assert not again.refunded_now and again.creation.error_code == "enqueue_failed"
    stored = store.get_creation(c.id)
    assert stored.status is Status.FAILED and stored.refunded
    assert stored.queue_error_code == "queue_unavailable"
    account = store.get_account(user)
    assert (account.tokens, account.total_tokens_spent) == (100, 0)
    assert_conserved(store, user)


def test_concurrent_refunds_give_back_once(store):
    user, c = debited(store)

    def refund(_):
        try:
            return store.refund(c.id, NOW, Refund("x")).refunded_now
        except StoreContention:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(refund, range(8)))
    assert results.count(True) == 1
    assert store.get_account(user).tokens == 100
    assert_conserved(store, user)


def test_a_draft_is_never_refunded(store):
    user, c = debited(store)
    store.update_creation(c.id, lambda x: transitions.claim(x, "w1", NOW))
    store.update_creation(c.id, lambda x: transitions.complete(x, "videos/u/1.mp4", NOW))
    result = store.refund(c.id, NOW, Refund("late"))
    assert not result.refunded_now and result.creation.status is Status.DRAFT
    assert store.get_account(user).tokens == 90
    assert_conserved(store, user)


def test_an_enqueue_failure_refund_leaves_a_claimed_creation_alone(store):
    user, c = debited(store)
    store.update_creation(c.id, lambda x: transitions.claim(x, "w1", NOW))
    result = store.refund(c.id, NOW, Refund("enqueue_failed", only_if_pending=True))
    assert not result.refunded_now and result.creation.status is Status.PROCESSING
    assert store.get_account(user).tokens == 90
    assert_conserved(store, user)


def test_refunding_a_missing_creation_is_not_found(store):
    with pytest.raises(CreationNotFound):
        store.refund("missing", NOW, Refund("x"))
    with pytest.raises(CreationNotFound):
        store.update_creation("missing", lambda c: c)


def test_transitions_apply_once(store):
    user, c = debited(store)
    claimed, won = store.update_creation(c.id, lambda x: transitions.claim(x, "a", NOW))
    again, won_again = store.update_creation(c.id, lambda x: transitions.claim(x, "b", NOW))
    assert won and not won_again
    assert claimed.claim_id == again.claim_id == "a" and again.status is Status.PROCESSING
    later = NOW + timedelta(seconds=5)
    recorded, ok = store.update_creation(
        c.id, lambda x: transitions.record_operation(x, "a", "operations/1", later)
    )
    assert ok and store.get_creation(c.id) == recorded
    assert recorded.operation_name == "operations/1" and recorded.updated_at == later


def test_only_one_of_concurrent_claims_wins(store):
    user, c = debited(store)

    def claim(n):
        try:
            return store.update_creation(c.id, lambda x: transitions.claim(x, f"w{n}", NOW))[1]
        except StoreContention:
            return False

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(claim, range(6))).count(True) == 1


def _debits_at_once(
    stores,
    tokens: int,
    count: int,
    refusal: type[Exception],
    refused: str,
    limits: SpendLimits = NO_LIMITS,
) -> tuple[str, list[str]]:
    """`count` video debits at once by one new user of `tokens`, spread over `stores`, each
    answered "ok", `refused` (for `refusal`) or "retry"; `limits`: debit_and_create's own."""
    user = uid()
    stores[0].ensure_account(user, tokens, NOW)

    def debit(n):
        try:
            stores[n % len(stores)].debit_and_create(
                video(user), NOW + timedelta(milliseconds=n), limits=limits
            )
            return "ok"
        except refusal:
            return refused
        except (StoreContention, StoreUnavailable):
            return "retry"

    with ThreadPoolExecutor(count) as pool:
        return user, list(pool.map(debit, range(count)))


def _twenty_debits_at_once(stores) -> tuple[str, list[str]]:
    return _debits_at_once(stores, 100, 20, InsufficientTokens, "short")


def test_twenty_concurrent_debits_on_one_instance_are_served_in_turn(store):
    """One user, 20 debits of 10 at once on a balance of 100, on one instance: they take
    turns, so exactly ten succeed and ten are refused for the balance."""
    user, answers = _twenty_debits_at_once([store])
    assert sorted(answers) == ["ok"] * 10 + ["short"] * 10
    assert store.get_account(user).tokens == 0
    assert len([e for e in store.ledger(user, 100) if e.type is EntryType.DEBIT]) == 10
    assert_conserved(store, user)


def test_twenty_concurrent_debits_from_two_instances_never_overdraw(firestore_client):
    """Across instances Firestore arbitrates: some answers may be a clean retryable error,
    the balance never goes negative and every success is one debit entry."""
    stores = [FirestoreStore(lambda: firestore_client) for _ in range(2)]
    user, answers = _twenty_debits_at_once(stores)
    ok = answers.count("ok")
    assert set(answers) <= {"ok", "short", "retry"} and 1 <= ok <= 10
    assert stores[0].get_account(user).tokens == 100 - 10 * ok
    assert len([e for e in stores[0].ledger(user, 100) if e.type is EntryType.DEBIT]) == ok
    assert_conserved(stores[0], user)


def test_the_ledger_is_newest_first_and_limited(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    for n in range(3):
        store.debit_and_create(video(user, at=NOW), NOW + timedelta(seconds=n + 1))
    entries = store.ledger(user, 2)
    assert len(entries) == 2
    assert entries[0].created_at > entries[1].created_at
    assert all(e.user_id == user for e in entries)


def test_stale_creations_are_the_non_terminal_ones_not_updated_since(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    old, fresh, done = video(user), video(user, at=NOW + timedelta(hours=1)), video(user)
    for c in (old, fresh, done):
        store.debit_and_create(c, NOW)
    store.refund(done.id, NOW, Refund("x"))
    stale = store.stale_creations(NOW + timedelta(minutes=1), limit=1000)
    ids = {c.id for c in stale}
    assert old.id in ids and fresh.id not in ids and done.id not in ids


def test_an_unreachable_store_is_store_unavailable():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from devtools.processes import free_port

    def client():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
            return firestore.Client(project="demo-creator", credentials=AnonymousCredentials())

    store = FirestoreStore(client)
    with pytest.raises(StoreUnavailable):
        store.get_account("anyone")


def test_a_store_that_stops_answering_is_given_up_at_the_deadline(caplog):
    """A frozen Firestore (here: a port that accepts connections and never answers) would
    hold a transaction for the SDK's 60 s of retries; the caller stops at the deadline."""
    import socket
    import threading

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_say_nothing():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept_and_say_nothing, daemon=True)
    acceptor.start()
    host = f"127.0.0.1:{silent.getsockname()[1]}"

    def client():
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FIRESTORE_EMULATOR_HOST", host)
            return firestore.Client(project="demo-creator", credentials=AnonymousCredentials())

    store = FirestoreStore(client, deadline_seconds=1)
    try:
        for call in (
            lambda: store.debit_and_create(video("frozen"), NOW),
            lambda: store.refund("any", NOW, Refund("x")),
        ):
            with pytest.raises(StoreUnavailable, match="did not answer within 1 s"):
                call()
        assert "store.deadline_exceeded" in caplog.text
    finally:
        stop.set()
        acceptor.join(timeout=10)  # before the socket closes under its accept()
        for conn in held:
            conn.close()
        silent.close()


def test_forty_simultaneous_video_debits_never_start_a_fourth(store):
    """One user, 40 video debits at once against a limit of 3: exactly 3 start, whatever
    the interleaving; every other one is refused without a write (or retryable)."""
    from shared.domain.errors import TooManyInFlight

    user, answers = _debits_at_once(
        [store], 1000, 40, TooManyInFlight, "limited", SpendLimits(in_flight=3)
    )
    assert answers.count("ok") == 3, answers
    account = store.get_account(user)
    assert (account.in_flight, account.tokens) == (3, 970)
    assert_conserved(store, user)


def test_ending_a_video_counts_it_out_of_flight(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    done, failed = video(user), video(user)
    for c in (done, failed):
        store.debit_and_create(c, NOW)
    assert store.get_account(user).in_flight == 2
    store.update_creation(done.id, lambda x: transitions.claim(x, "w", NOW))
    store.update_creation(done.id, lambda x: transitions.complete(x, "videos/u/a.mp4", NOW))
    store.refund(failed.id, NOW, Refund("generation_failed"))
    assert store.get_account(user).in_flight == 0
    assert store.recount_in_flight(user) == (0, 0)


def test_a_drifted_counter_is_recounted(store, drift_in_flight):
    user = uid()
    store.ensure_account(user, 100, NOW)
    store.debit_and_create(video(user), NOW)
    store.debit_and_create(video(user), NOW)
    store.refund(store.creations(user)[0].id, NOW, Refund("x"))
    drift_in_flight(user, 5)
    assert user in store.users_in_flight(1000)
    assert store.recount_in_flight(user) == (5, 1)
    assert store.get_account(user).in_flight == 1


def test_creations_page_newest_first_by_kind_and_status(store):
    from shared.domain.paging import Cursor

    user = uid()
    store.ensure_account(user, 1000, NOW)
    made = [video(user, at=NOW + timedelta(seconds=n)) for n in range(5)]
    for c in made:
        store.debit_and_create(c, c.created_at)
    store.refund(made[1].id, NOW, Refund("x"))
    newest = [c.id for c in reversed(made)]

    first = store.creations(user, limit=2)
    assert [c.id for c in first] == newest[:2] and first.next is not None
    token = first.next.encode()
    second = store.creations(user, limit=2, after=Cursor.decode(token))
    third = store.creations(user, limit=2, after=second.next)
    assert [c.id for c in second] == newest[2:4]
    assert [c.id for c in third] == newest[4:] and third.next is None
    assert [c.id for c in store.creations(user, CreationFilter(status="failed"))] == [made[1].id]
    assert [c.id for c in store.creations(user, CreationFilter(kind="image"))] == []
    assert store.creations(uid()).items == []


def test_the_ledger_pages_the_same_way(store):
    user = uid()
    store.ensure_account(user, 1000, NOW)
    for n in range(4):
        store.debit_and_create(video(user), NOW + timedelta(seconds=n + 1))
    first = store.ledger(user, 3)
    rest = store.ledger(user, 3, first.next)
    ids = [e.id for e in first] + [e.id for e in rest]
    assert len(ids) == 5 == len(set(ids)) and rest.next is None
    assert ids[-1] == f"grant-{user}-starting_grant"


def test_the_overview_reads_recent_creations_and_latest_failures_in_short(store):
    from shared.ports import QueueChange

    user = uid()
    store.ensure_account(user, 1000, NOW)
    later = NOW + timedelta(days=400)  # apart from every other test's creations
    old, new = video(user, at=later), video(user, at=later + timedelta(minutes=5))
    for c in (old, new):
        store.debit_and_create(c, c.created_at)
    store.refund(old.id, later + timedelta(minutes=9), Refund("generation_failed"))

    recent = store.recent_creations(later + timedelta(minutes=1), 100)
    assert [c.id for c in recent] == [new.id] and recent[0].user_id == user
    failed_since = store.recent_creations(later, 100, (Status.FAILED, Status.CANCELLED))
    assert [c.id for c in failed_since] == [old.id]
    assert store.count_creations(later) == 2
    assert store.count_creations(later, Status.FAILED) == 1
    assert store.count_creations(later + timedelta(minutes=1), Status.FAILED) == 0
    failures = store.latest_failures(1000)
    mine = [f for f in failures if f.id == old.id]
    assert mine and mine[0].error_code == "generation_failed" and mine[0].refunded
    assert failures == sorted(failures, key=lambda f: f.updated_at, reverse=True)

    first = QueueChange("pause", "admin", later, "quota")
    second = QueueChange("resume", "admin", later + timedelta(minutes=1), "back")
    store.record_queue_change(first)
    store.record_queue_change(second)
    assert store.last_queue_change() == second


def test_a_replay_can_be_found_without_writing(store):
    user = uid()
    store.ensure_account(user, 100, NOW)
    assert store.find_replay(key(user), NOW) is None
    first = store.debit_and_create(video(user), NOW, key(user))
    found = store.find_replay(key(user), NOW)
    assert found is not None and found.replayed
    assert found.creation == first.creation and found.balance == 90
    with pytest.raises(IdempotencyConflict):
        store.find_replay(key(user, body="other"), NOW)
    assert store.find_replay(key(user), NOW + timedelta(hours=25)) is None
    assert store.get_account(user).tokens == 90


def test_the_oldest_waiting_creation_is_found_from_the_index(store):
    # Older than any other test's creation (the emulator's are shared), and refunded after.
    user = uid()
    long_ago = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10_000)
    store.ensure_account(user, 100, long_ago)
    oldest, newer = video(user, at=long_ago), video(user, at=long_ago + timedelta(minutes=1))
    for c in (newer, oldest):
        store.debit_and_create(c, c.created_at)
    try:
        assert store.oldest_waiting() == oldest.created_at
    finally:
        for c in (oldest, newer):
            store.refund(c.id, NOW, Refund("cancelled"))
    found = store.oldest_waiting()
    assert found is None or found > newer.created_at
