"""Per-file analyzer budgets and the scratch quota (scan/budget.py), without an image around them."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from openhss.scan import budget
from openhss.scan.budget import FileBudget, ScratchQuota
from openhss.scan.errors import BudgetExceeded
from openhss.scan.pipeline import Interrupt, ScanStopped, ScanTimedOut


def _file(tmp_path: Path, **kw: object) -> FileBudget:
    args: dict[str, object] = {
        "analyzer": "test",
        "path": "f",
        "deadline": time.monotonic() + 3600,
        "max_members": 3,
        "scratch_dir": tmp_path / "scratch",
        "quota": ScratchQuota(100),
    }
    args.update(kw)
    return FileBudget(**args)  # type: ignore[arg-type]


def test_quota_is_held_only_while_reserved_and_refuses_overflow() -> None:
    quota = ScratchQuota(100)
    with quota.reserve(60, "a"):
        assert quota.in_use == 60
        with pytest.raises(BudgetExceeded, match="has 40 left"), quota.reserve(41, "b"):
            pass
        with quota.reserve(40, "c"):
            assert quota.in_use == 100
    assert quota.in_use == 0 and quota.peak == 100


def test_member_and_time_budgets_only_apply_inside_an_analyzer_call(tmp_path: Path) -> None:
    budget.count_member(10**6)  # no budget installed: a direct caller is not limited
    budget.check()
    with budget.running(_file(tmp_path)):
        budget.count_member(3)
        with pytest.raises(BudgetExceeded, match="more than 3 members"):
            budget.count_member()
    late = _file(tmp_path, deadline=time.monotonic() - 1)
    with budget.running(late), pytest.raises(BudgetExceeded, match="time budget"):
        budget.check()
    assert budget.current() is None


def test_a_stopped_scan_is_not_a_budget_skip(tmp_path: Path) -> None:
    """The scan's interrupt raises its own error through the file budget: it ends the scan."""
    stop = Interrupt(lambda: True, 0)
    with budget.running(_file(tmp_path, interrupt=stop)), pytest.raises(ScanStopped):
        budget.check()
    with pytest.raises(ScanTimedOut):
        Interrupt(None, 1e-9)()


def test_scratch_copy_lives_in_the_scratch_dir_charged_to_the_quota(tmp_path: Path) -> None:
    fb = _file(tmp_path)
    with budget.running(fb), budget.scratch_copy(io.BytesIO(b"x" * 50), 50, "db.sqlite") as path:
        assert path.parent.parent == tmp_path / "scratch" and path.read_bytes() == b"x" * 50
        assert fb.quota is not None and fb.quota.in_use == 50
    assert not path.exists() and fb.quota.in_use == 0
    big = io.BytesIO(b"x" * 150)
    with pytest.raises(BudgetExceeded, match="scratch quota"), budget.running(fb):
        budget.scratch_copy(big, 150, "big.sqlite").__enter__()
    liar = io.BytesIO(b"x" * 50)
    with pytest.raises(BudgetExceeded, match="larger than the 10 bytes"), budget.running(fb):
        budget.scratch_copy(liar, 10, "liar.sqlite").__enter__()
    assert fb.quota.in_use == 0 and list((tmp_path / "scratch").iterdir()) == []
