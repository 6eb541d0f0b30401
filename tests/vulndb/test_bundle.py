"""`openhss db bundle` on a connected machine, `openhss db import <bundle>` on an air-gapped one."""

from __future__ import annotations

import hashlib
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openhss.cli_db import db_app
from openhss.domain.enums import Ecosystem
from openhss.services.vulndb import VulnDbError, VulnDbService
from tests.vulndb.enrich_helpers import write_kev
from tests.vulndb.helpers import osv, write_zip
from tests.vulndb.test_update import Handler, Mirror


@pytest.fixture
def feeds(tmp_path: Path) -> Iterator[str]:
    """A mirror laid out like the online feeds: OSV PyPI and the KEV catalogue."""
    root = tmp_path / "mirror"
    (root / "PyPI").mkdir(parents=True)
    (root / "kev").mkdir()
    write_zip(root / "PyPI" / "all.zip", [
        osv("PYSEC-1", "PyPI", "requests", events=[{"introduced": "0"}, {"fixed": "2.20.0"}],
            aliases=["CVE-2099-0001"]),
    ])  # fmt: skip
    write_kev(
        root / "kev" / "known_exploited_vulnerabilities.json", {"CVE-2099-0001": ("2099-01-01", "2099-02-01")}
    )
    server = Mirror(("127.0.0.1", 0), Handler)
    server.root, server.log = root.resolve(), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bundle_round_trip(feeds: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    bundle = tmp_path / "carry" / "openhss-advisories.tar"
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "connected"))
    res = runner.invoke(db_app, ["bundle", str(bundle), "-e", "PyPI", "-e", "kev", "--mirror", feeds])
    assert res.exit_code == 0, res.output
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in res.output and "2 records from 2 sources" in res.output
    assert (
        bundle.parent / "openhss-advisories.tar.sha256"
    ).read_text() == f"{digest}  openhss-advisories.tar\n"
    with tarfile.open(bundle) as tar:
        assert tar.getnames() == ["manifest.json", "advisories.sqlite"]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {s["name"]: s["count"] for s in manifest["sources"]} == {"osv:PyPI": 1, "kev": 1}

    # the air-gapped side: one file in, verified, and the enrichment comes with it
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "airgapped"))
    res = runner.invoke(db_app, ["import", "--no-rematch", str(bundle)])
    assert res.exit_code == 0, res.output
    assert "osv:PyPI: 1 records" in res.output and "kev: 1 records" in res.output
    (rec,) = (
        VulnDbService(tmp_path / "airgapped" / "vulndb").open_index().lookup(Ecosystem.PYPI, "", "requests")
    )
    assert rec.kev_due_date == "2099-02-01"
    res = runner.invoke(db_app, ["status"])
    assert "1 records from 1 sources; 1 CVE enrichment rows from 1 (CVSS, EPSS, KEV)" in res.output


def test_damaged_bundles_change_nothing(feeds: str, tmp_path: Path) -> None:
    connected = VulnDbService(tmp_path / "connected")
    connected.update(["PyPI"], mirror=feeds)
    bundle = connected.bundle(tmp_path / "b.tar").path
    target = VulnDbService(tmp_path / "target")
    target.import_paths(
        [write_zip(tmp_path / "Go.zip", [osv("GO-1", "Go", "m", events=[{"introduced": "0"}])])]
    )
    before = target.store.path.read_bytes()

    with tarfile.open(bundle) as tar:
        member = tar.getmember("advisories.sqlite")
    data = bytearray(bundle.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0xFF  # one bit pattern inside the database
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    with pytest.raises(VulnDbError, match="SHA-256"):
        target.import_paths([damaged])
    # the sidecar of the intact bundle beside a damaged copy: the whole-file digest catches it
    (tmp_path / "damaged.tar.sha256").write_text((tmp_path / "b.tar.sha256").read_text())
    with pytest.raises(VulnDbError, match="differs"):
        target.import_paths([damaged])
    with pytest.raises(VulnDbError, match="import it alone"):
        target.import_paths([bundle, tmp_path / "Go.zip"])
    assert target.store.path.read_bytes() == before
    assert [p.name for p in target.store.directory.iterdir() if p.name.startswith(".advisories")] == []

    assert target.import_paths([bundle]).counts == {"osv:PyPI": 1}
    assert [s.name for s in target.status().sources] == ["osv:PyPI"]
