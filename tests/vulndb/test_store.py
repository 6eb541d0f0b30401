from __future__ import annotations

import json
from pathlib import Path

import pytest

from openhss.domain.advisory import AffectedStatus
from openhss.domain.enums import Ecosystem
from openhss.services.vulndb import VulnDbError, VulnDbService
from openhss.vulndb.store import changed_keys
from tests.vulndb.helpers import osv, write_zip


def test_import_lookup_and_reimport_replaces(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    z = write_zip(tmp_path / "PyPI.zip", [
        osv("PYSEC-1", "PyPI", "Foo", events=[{"introduced": "0"}, {"fixed": "2"}]),
        osv("PYSEC-2", "PyPI", "bar", events=[{"introduced": "1"}]),
    ])  # fmt: skip
    report = svc.import_paths([z])
    assert report.counts == {"osv:PyPI": 2}
    assert report.changed == {("PyPI", "foo"), ("PyPI", "bar")}
    idx = svc.open_index()
    (rec,) = idx.lookup(Ecosystem.PYPI, "", "foo")
    assert rec.advisory_id == "PYSEC-1" and rec.fixed_versions == ("2",)
    assert idx.lookup(Ecosystem.PYPI, "", "nothing") == ()

    # re-importing the same feed replaces its records; the open index keeps reading the old file
    write_zip(z, [osv("PYSEC-1", "PyPI", "Foo", events=[{"introduced": "0"}, {"fixed": "3"}])])
    report = svc.import_paths([z])
    assert report.changed == {("PyPI", "foo"), ("PyPI", "bar")}
    assert idx.lookup(Ecosystem.PYPI, "", "bar")[0].advisory_id == "PYSEC-2"
    new = svc.open_index()
    assert new.lookup(Ecosystem.PYPI, "", "bar") == ()
    assert new.lookup(Ecosystem.PYPI, "", "foo")[0].fixed_versions == ("3",)
    (state,) = svc.status().sources
    assert state.name == "osv:PyPI" and state.count == 1 and state.age_seconds < 60
    # an identical re-import changes nothing
    assert svc.import_paths([z]).changed == set()


def test_failed_import_leaves_previous_database(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([write_zip(tmp_path / "Go.zip", [osv("GO-1", "Go", "m", events=[{"introduced": "0"}])])])
    before = svc.store.path.read_bytes()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(VulnDbError):
        svc.import_paths([bad])
    with pytest.raises(VulnDbError, match="no such file"):
        svc.import_paths([tmp_path / "missing.zip"])
    assert svc.store.path.read_bytes() == before
    assert [p.name for p in svc.store.directory.iterdir() if p.name.endswith(".tmp")] == []


def test_directory_of_osv_json(tmp_path: Path) -> None:
    d = tmp_path / "advisories" / "npm"
    d.mkdir(parents=True)
    doc = osv(
        "GHSA-1", "npm", "lodash", events=[{"introduced": "0"}, {"fixed": "4.17.21"}], range_type="SEMVER"
    )
    (d / "GHSA-1.json").write_text(json.dumps(doc))
    (d / "README.json").write_text("[1, 2]")  # not an advisory: ignored
    report = VulnDbService(tmp_path / "db").import_paths([tmp_path / "advisories"])
    assert report.counts == {"osv:advisories": 1}


def test_changed_keys() -> None:
    assert changed_keys(
        {("a", "x"): "1", ("a", "y"): "2"}, {("a", "x"): "1", ("a", "y"): "3", ("b", "z"): "4"}
    ) == {
        ("a", "y"),
        ("b", "z"),
    }


def test_status_of_missing_database(tmp_path: Path) -> None:
    st = VulnDbService(tmp_path / "none").status()
    assert not st.exists and st.sources == [] and st.total == 0
    assert AffectedStatus.NOT_AFFECTED.value == "not-affected"
