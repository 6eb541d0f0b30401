"""Fuzz the OSV reader (`vulndb/osv.py` through `vulndb/sources/osv.py`): advisory feeds are input too.

Seeds: one generated record covering every field the reader uses, plus (when the shared data is
present) real records from the OSV exports in `data/osv` across ecosystems. Documents are mutated
structurally and byte-wise, read both from a directory and from a (sometimes corrupted) zip.
Property: a bad document is skipped (counted and logged), a bad container is a `SourceError`;
nothing else escapes and every record that comes out is well-formed.
"""

from __future__ import annotations

import io
import zipfile

from hypothesis import given
from hypothesis import strategies as st

from openhss.vulndb.sources.base import SourceError
from openhss.vulndb.sources.osv import parse_osv_documents
from tests.conftest import SHARED

from . import seeds as s
from .harness import fuzz_settings, guarded, json_mutated, mutated


def _real_records(per_zip: int = 4) -> list[bytes]:
    out: list[bytes] = []
    osv = SHARED / "data" / "osv"
    if not osv.is_dir():
        return out
    for path in sorted(osv.glob("*.zip")):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".json")]
            step = max(1, len(names) // per_zip)
            for name in names[::step][:per_zip]:
                info = zf.getinfo(name)
                if info.file_size <= 64 * 1024:
                    out.append(zf.read(name))
    return out


SEEDS = [s.OSV, *_real_records()]


def _zip(docs: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, doc in enumerate(docs):
            zf.writestr(f"advisories/A-{i}.json", doc)
    return buf.getvalue()


def test_seeds_yield_records() -> None:
    with guarded(len(s.OSV)) as guard:
        (guard.scratch / "a.json").write_bytes(s.OSV)
        records = list(parse_osv_documents(guard.scratch, "osv:test"))
    assert {r.ecosystem.value for r in records} >= {"PyPI"}


@fuzz_settings(max_examples=150)
@given(st.lists(json_mutated(SEEDS), min_size=1, max_size=3))
def test_osv_directory_of_hostile_documents(docs: list[bytes]) -> None:
    with guarded(sum(map(len, docs))) as guard:
        feed = guard.scratch / "feed"
        feed.mkdir()
        for i, doc in enumerate(docs):
            (feed / f"A-{i}.json").write_bytes(doc)
        for record in parse_osv_documents(feed, "osv:test"):
            assert record.advisory_id and record.name is not None
            assert all(r.type in ("ECOSYSTEM", "SEMVER") for r in record.ranges)


@fuzz_settings(max_examples=60)
@given(mutated([_zip(SEEDS[:3]), _zip([s.OSV])], hot=4096))
def test_osv_zip_container_corruption(data: bytes) -> None:
    with guarded(len(data)) as guard:
        path = guard.scratch / "all.zip"
        path.write_bytes(data)
        try:
            for record in parse_osv_documents(path, "osv:test"):
                assert record.advisory_id
        except SourceError:
            pass
