"""`openhss vex export|import|expire` as real processes on two data dirs: a verdict made on one
service's database suppresses the same finding, with the same reason, on the other's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openhss.db.engine import transaction
from openhss.db.models import Image
from openhss.services import vex, vulnerabilities
from openhss.services.identity import Scope
from openhss.services.results import IGNORED, UNFIXED
from tests.support.service import PROJECT
from tests.vex.test_service import REASON, _instance

CVE = "CVE-2023-45853"


def openhss(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENHSS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "openhss.entry", "vex", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.slow  # four CLI processes; tests/vex/test_api.py covers the same path in-process
def test_export_then_import_on_another_data_dir(tmp_path: Path) -> None:
    a, b = _instance(tmp_path / "a", ""), _instance(tmp_path / "b", "")
    pk_a, pk_b = a.image(), b.image()
    with transaction(a.sessions) as s:
        req = vulnerabilities.HandleRequest(
            image_type="local",
            vul_type="linux_vul",
            operate_type="ignore",
            select_type="vul_view",
            vul_data=((CVE, (s.get_one(Image, pk_a).image_id,)),),
            remark=REASON,
        )
        vex.handle(s, Scope(PROJECT, None), req, "alice")
    doc = tmp_path / "a.vex.json"
    done = openhss("export", "--project", PROJECT, "--handled-only", "-o", str(doc), data_dir=tmp_path / "a")
    assert done.returncode == 0, done.stderr
    assert [s["vulnerability"]["name"] for s in json.loads(doc.read_text())["statements"]] == [CVE]

    assert b.status(pk_b, CVE) == UNFIXED
    done = openhss("import", str(doc), "--project", PROJECT, data_dir=tmp_path / "b")
    assert done.returncode == 0, done.stderr
    assert "1 findings suppressed" in done.stderr
    assert b.status(pk_b, CVE) == IGNORED
    assert b.last_op(pk_b, CVE).remark == REASON
    assert openhss("expire", data_dir=tmp_path / "b").returncode == 0


def test_errors_are_one_line(tmp_path: Path) -> None:
    _instance(tmp_path, "")
    bad = tmp_path / "bad.json"
    bad.write_text('{"bomFormat": "SPDX"}')
    for args in (
        ("import", str(tmp_path / "missing.json")),
        ("import", str(bad)),
        ("export", "--project", "nope"),
    ):
        done = openhss(*args, data_dir=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, (
            args,
            done.stderr,
        )
