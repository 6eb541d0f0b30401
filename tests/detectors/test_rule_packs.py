"""Public rule packs and hash lists: fetched by `db update` from a local HTTP server (packs generated
here), imported offline by content, swapped in atomically, and used by the malware analyzer, whose
version follows the rules so the layer cache re-analyses."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openhss.cli_db import db_app
from openhss.config import Settings
from openhss.domain.enums import EntryKind, ScanScope
from openhss.scan.analyzers.base import FileEntry
from openhss.scan.analyzers.malware import MalwareAnalyzer
from openhss.services.scanning import build_pipeline
from openhss.services.vulndb import VulnDbError, VulnDbService
from tests.vulndb.helpers import osv, write_zip
from tests.vulndb.test_update import Handler, Mirror

from .test_malware import eicar, tar_of, zip_of

BROKEN = b'rule broken { strings: $a = "x" condition: $a and }\n'


def _rule(name: str, marker: str) -> bytes:
    return (
        f'rule {name} {{ meta: id = "pack-{name}" severity = "high" title = "{name} marker"\n'
        f'  strings: $m = "{marker}" condition: $m }}\n'
    ).encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "www"
    root.mkdir()
    srv = Mirror(("127.0.0.1", 0), Handler)
    srv.root, srv.log = root.resolve(), []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _base(srv: Mirror) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def _analyzer(svc: VulnDbService) -> type[MalwareAnalyzer]:
    classes = svc.malware_analyzers()
    assert classes is not None
    (cls,) = [c for c in classes if c.name == "malware"]
    assert issubclass(cls, MalwareAnalyzer)
    return cls


def _rule_ids(cls: type[MalwareAnalyzer], data: bytes, path: str = "tmp/payload") -> set[str]:
    entry = FileEntry(path=path, size=len(data), mode=0o755, kind=EntryKind.FILE)
    return {f.rule_id for f in cls().analyze(entry, io.BytesIO(data)).findings}


def test_update_fetches_packs_and_lists(server: Mirror, tmp_path: Path) -> None:
    marker = "openhss-test-" + secrets.token_hex(8)
    blob = secrets.token_bytes(4096)  # a "known-bad" file only the hash list knows
    (server.root / "rules.zip").write_bytes(
        zip_of({"rules-master/good.yar": _rule("good", marker), "rules-master/bad.yar": BROKEN})
    )
    (server.root / "sha256.txt").write_text(
        "# sha256 list, generated for the test\n"
        f"{hashlib.sha256(blob).hexdigest()}\n{hashlib.sha256(eicar()).hexdigest().upper()}\n"
    )
    svc = VulnDbService(
        tmp_path / "db", rule_packs=[f"{_base(server)}/rules.zip"], hash_lists=[f"{_base(server)}/sha256.txt"]
    )
    first = svc.update(["malware"])
    assert first.errors == []
    assert sorted(c or 0 for c in first.counts.values()) == [1, 2]  # 1 rule file kept, 2 hashes
    assert len(first.rejected) == 1 and "bad.yar" in first.rejected[0]
    packs = {p.kind: p for p in svc.status().packs}
    assert packs["yara"].rules == 1 and packs["yara"].rejected[0][0] == "rules-master/bad.yar"
    assert packs["hashes"].hashes == 2 and packs["hashes"].etag and packs["hashes"].sha256
    assert not svc.store.exists()  # `-e malware` touches the rule packs only

    cls = _analyzer(svc)
    assert cls.version != MalwareAnalyzer.version
    assert _rule_ids(cls, b"junk " + marker.encode() + b" junk") == {"pack-good"}
    hash_hit = _rule_ids(cls, blob)
    assert len(hash_hit) == 1 and next(iter(hash_hit)).startswith("malware-hash-")
    assert _rule_ids(cls, secrets.token_bytes(4096)) == set()
    assert _rule_ids(MalwareAnalyzer, blob) == set()  # the plain analyzer has no imported lists
    second = svc.update(["malware"])
    assert second.counts and set(second.counts.values()) == {None}
    assert [status for _, status in server.log[-2:]] == [304, 304]
    assert _analyzer(svc).version == cls.version  # same rules: layer-cache entries still valid
    previous = svc.packs.current()

    (server.root / "rules.zip").write_bytes(
        zip_of({"rules-master/good.yar": _rule("good", marker), "more/other.yara": _rule("other", "zzq" * 4)})
    )
    third = svc.update(["malware"])
    assert third.errors == [] and 2 in third.counts.values()
    changed = _analyzer(svc)
    assert changed.version not in (cls.version, MalwareAnalyzer.version)
    assert _rule_ids(changed, b"zzqzzqzzqzzq") == {"pack-other"}
    # the generation a loader may have resolved just before the swap is still there; older ones are not
    assert previous is not None and previous.exists() and svc.packs.current() != previous
    assert len(list((tmp_path / "db" / "malware").glob("gen-*"))) == 2


def test_failed_download_keeps_previous_generation(server: Mirror, tmp_path: Path) -> None:
    (server.root / "l.txt").write_text(hashlib.sha256(b"x").hexdigest() + "\n")
    svc = VulnDbService(tmp_path / "db", hash_lists=[f"{_base(server)}/l.txt"])
    assert svc.update(["malware"]).errors == []
    before = svc.packs.current()
    (server.root / "l.txt").write_text("no hashes here\n")
    report = svc.update(["malware"])
    assert report.errors and "no SHA-256" in report.errors[0]
    assert [p.hashes for p in svc.status().packs] == [1]  # the previous list is still what scans use
    assert svc.packs.current() != before  # a new generation, carrying the old list forward
    (server.root / "l.txt").unlink()
    assert "HTTP 404" in svc.update(["malware"]).errors[0]


def test_offline_import_detects_by_content(tmp_path: Path) -> None:
    marker = "offline-" + secrets.token_hex(6)
    pack = tmp_path / "pack.bin"  # no telling extension: the content decides
    pack.write_bytes(tar_of({"r/x.yar": _rule("offline", marker), "r/README": b"hi"}, mode="w:gz"))
    listing = tmp_path / "export.dat"
    blob = os.urandom(100)
    listing.write_text(f'# "first_seen","sha256"\n"2024-01-01","{hashlib.sha256(blob).hexdigest()}"\n')
    single = tmp_path / "one.yar"
    lonely = "lonely-" + secrets.token_hex(6)
    single.write_bytes(_rule("single", lonely))
    advisories = write_zip(tmp_path / "PyPI.zip", [osv("PYSEC-1", "PyPI", "x", events=[{"introduced": "0"}])])
    svc = VulnDbService(tmp_path / "db")
    report = svc.import_paths([pack, listing, single, advisories])
    assert report.counts == {"yara:pack.bin": 1, "hashes:export.dat": 1, "yara:one.yar": 1, "osv:PyPI": 1}
    cls = _analyzer(svc)
    assert _rule_ids(cls, marker.encode()) == {"pack-offline"}
    assert _rule_ids(cls, lonely.encode()) == {"pack-single"}
    assert len(_rule_ids(cls, blob)) == 1

    broken = tmp_path / "broken.yar"
    broken.write_bytes(BROKEN)
    report = svc.import_paths([broken])  # a pack whose only rule file is invalid: imported empty, warned
    assert report.rejected and _rule_ids(_analyzer(svc), marker.encode()) == {"pack-offline"}
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01binary")
    with pytest.raises(VulnDbError, match="hash list"):
        svc.import_paths([junk])


def test_cli_status_and_pipeline_use_imported_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(db_app, ["status"]).exit_code == 1
    listing = tmp_path / "bad.txt"
    listing.write_text("\n".join(hashlib.sha256(bytes([i])).hexdigest() for i in range(5)) + "\n")
    pack = tmp_path / "p.tar"
    pack.write_bytes(tar_of({"a.yar": _rule("a", "aaaa-bbbb"), "b.yar": BROKEN}))
    res = runner.invoke(db_app, ["import", str(listing), str(pack)])
    assert res.exit_code == 0, res.output
    assert "rule file skipped" in res.output
    res = runner.invoke(db_app, ["status"])
    assert res.exit_code == 0, res.output
    assert "hashes:bad.txt" in res.output and "5 hashes" in res.output
    assert "yara:p.tar" in res.output and "1 rule files" in res.output and "(1 skipped)" in res.output

    options = build_pipeline(ScanScope.MALWARE, settings=Settings(data_dir=tmp_path / "data"))
    assert options.analyzers is not None
    (cls,) = [c for c in options.analyzers if c.name == "malware"]
    assert cls.version != MalwareAnalyzer.version
    assert build_pipeline(ScanScope.MALWARE, settings=Settings(data_dir=tmp_path / "empty")).analyzers is None


def test_hostile_pack_members_stay_inside(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = _rule("escape", "escape-marker")
        ti = tarfile.TarInfo("../../outside.yar")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    evil.write_bytes(buf.getvalue())
    svc = VulnDbService(tmp_path / "db" / "x")
    svc.import_paths([evil])
    assert not (tmp_path / "outside.yar").exists() and not (tmp_path / "db" / "outside.yar").exists()
    current = svc.packs.current()
    assert current is not None
    assert all(p.resolve().is_relative_to(current) for p in current.rglob("*"))
    assert _rule_ids(_analyzer(svc), b"escape-marker") == {"pack-escape"}
