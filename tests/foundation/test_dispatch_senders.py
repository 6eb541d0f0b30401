"""Each deployment's messages go to its own sender, even with several deployments in one process."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from openhss.db.engine import make_engine, make_session_factory, transaction
from openhss.services import dispatch


def _commit(url: str, arg: int) -> None:
    with transaction(make_session_factory(make_engine(url))) as s:
        s.execute(text("SELECT 1"))
        dispatch.after_commit(s, "openhss.test", [arg])


def test_a_commit_goes_to_the_sender_of_its_own_database(tmp_path: Path) -> None:
    a_url, b_url = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    a: list[dispatch.Message] = []
    b: list[dispatch.Message] = []
    captured: list[dispatch.Message] = []
    try:
        dispatch.set_sender(a.append, database=a_url)
        dispatch.set_sender(b.append, database=b_url)  # started later: it must not take A's messages
        _commit(a_url, 1)
        _commit(b_url, 2)
        assert [m.args for m in a] == [(1,)] and [m.args for m in b] == [(2,)]
        # A capturing sender installed afterwards for any database takes precedence (tests use it) ...
        dispatch.set_sender(captured.append)
        _commit(a_url, 3)
        assert [m.args for m in captured] == [(3,)] and len(a) == 1
        # ... and removing it leaves each deployment's own sender in place.
        dispatch.set_sender(None)
        _commit(a_url, 4)
        _commit(b_url, 5)
        assert [m.args for m in a] == [(1,), (4,)] and [m.args for m in b] == [(2,), (5,)]
    finally:
        dispatch.set_sender(None, database=a_url)
        dispatch.set_sender(None, database=b_url)
        dispatch.set_sender(None)
