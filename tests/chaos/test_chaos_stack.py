"""Part two in `make test`: the real local stack under load while its processes are killed
and the Firestore emulator frozen (the long run: `make chaos-stack`). No timing is
asserted: only the invariants, on whatever the machine managed to do."""

from __future__ import annotations

import pytest

from tests.chaos.stack_run import run

pytestmark = pytest.mark.stack


def test_the_stack_keeps_every_invariant_through_kills_and_freezes(tmp_path, capsys):
    result = run(users=10, seconds=20, every=3.0, freeze_max=3.0, state_dir=tmp_path)
    with capsys.disabled():
        print()
        for line in result.lines():
            print(f"  {line}")
    assert result.violations == []
    assert result.load["requests"] > 0
    assert result.audit["creations"] > 0 and result.audit["ok"]
    assert result.settled["open at last"] == 0
