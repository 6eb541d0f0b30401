"""`SqliteAdvisoryIndex.by_id`: the console's vulnerability page reads one advisory by its id or an alias."""

from __future__ import annotations

from pathlib import Path

from openhss.services.vulndb import VulnDbService
from tests.vulndb.helpers import osv, write_zip


def test_records_by_id_and_by_alias(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    docs = [
        osv("PYSEC-7", "PyPI", "Foo", events=[{"introduced": "1.0"}, {"fixed": "1.4"}],
            aliases=["CVE-2024-0007"], references=[{"type": "WEB", "url": "https://example.test/advisory/7"}]),
        osv("PYSEC-8", "PyPI", "bar", events=[{"introduced": "0"}], aliases=["CVE-2024-00070"]),
        osv("PYSEC-9", "PyPI", "baz", events=[{"introduced": "0"}, {"fixed": "2"}]),
    ]  # fmt: skip
    svc.import_paths([write_zip(tmp_path / "PyPI.zip", docs)])
    idx = svc.open_index()
    try:
        (rec,) = idx.by_id("PYSEC-7")
        assert rec.name == "foo" and rec.fixed_versions == ("1.4",)
        assert rec.aliases == ("CVE-2024-0007",) and "https://example.test/advisory/7" in rec.urls
        # An alias finds the same record; a longer id that merely starts with it does not match.
        (by_alias,) = idx.by_id("CVE-2024-0007")
        assert by_alias.advisory_id == "PYSEC-7"
        assert [r.advisory_id for r in idx.by_id("CVE-2024-00070")] == ["PYSEC-8"]
        assert idx.by_id("CVE-1999-0001") == ()
        assert idx.by_id('PYSEC-7" OR 1=1 --') == ()
    finally:
        idx.close()
