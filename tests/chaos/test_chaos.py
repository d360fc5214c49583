"""The fault-injection suite in `make test`: a few seeds of the long run (`make chaos`).

A seed that ever fails goes into REGRESSION_SEEDS (as xfail(strict=True) with the reason
while the bug is open), so that it is replayed for good.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.chaos.driver import SeedResult, print_failure, run_seed
from tests.chaos.faults import Rates
from tests.fakes import InMemoryStore

SEEDS = (1, 2, 3)
REQUESTS = 1200
# (seed, requests, rate factor): seeds that once found a violation, replayed for good.
REGRESSION_SEEDS: list = []


def check(result: SeedResult, requests: int) -> None:
    if not result.ok:
        print_failure(result, requests)
    assert result.violations == []


@pytest.mark.parametrize("seed", SEEDS)
def test_every_invariant_holds_under_faults(seed, capsys):
    result = run_seed(seed, REQUESTS)
    check(result, REQUESTS)
    assert result.audit.ok and result.audit.creations > REQUESTS // 2
    statuses = {key.split("/")[1] for key in result.creations}
    assert {"draft", "failed", "cancelled"} <= statuses
    assert not {"pending", "processing"} & statuses
    moved = result.audit.by_entry_type  # tokens came in too, under the same faults
    assert moved["credit"] and moved["adjustment"] and moved["grant"] > len(statuses)
    with capsys.disabled():
        print(
            f"\nchaos seed {seed}: {result.audit.creations} creations, {moved['credit']} "
            f"credits, {moved['grant']} grants, {moved['adjustment']} adjustments, "
            f"{sum(result.faults.values())} faults, 0 violations, {result.seconds:.1f} s"
        )


@pytest.mark.parametrize(("seed", "requests", "factor"), REGRESSION_SEEDS)
def test_regression_seeds(seed, requests, factor):
    check(run_seed(seed, requests, Rates().scaled(factor)), requests)


def test_every_kind_of_fault_is_injected():
    result = run_seed(11, 1000, Rates().scaled(3))
    check(result, 1000)
    never = [f.name for f in dataclasses.fields(Rates) if not result.faults[f.name]]
    assert never == []


def test_a_seed_replays_exactly():
    first, second = run_seed(5, 300), run_seed(5, 300)
    for part in ("outcomes", "creations", "faults", "steps", "violations"):
        assert getattr(first, part) == getattr(second, part), part


def test_the_checks_catch_tokens_created_from_nothing(monkeypatch):
    """A store whose refunds credit twice: the audit must say so."""
    original = InMemoryStore.refund

    def generous(self, creation_id, now, refund):
        result = original(self, creation_id, now, refund)
        if result.refunded_now:
            a = self.accounts[result.creation.user_id]
            self.accounts[a.uid] = dataclasses.replace(a, tokens=a.tokens + 1)
        return result

    monkeypatch.setattr(InMemoryStore, "refund", generous)
    result = run_seed(6, 300)
    assert any("audit balance_mismatch" in v for v in result.violations)


def test_the_checks_catch_a_broken_promise(monkeypatch):
    """An image failure answered refunded=true without the refund: caught at the answer."""
    import shared.services.images as images

    def lying(deps, creation, code, message, transient):
        return images.ImageFailed(creation, code, transient=transient, refunded=True, balance=0)

    monkeypatch.setattr(images, "_refund", lying)
    result = run_seed(7, 600)
    assert any("answered refunded=true, not refunded" in v for v in result.violations)
