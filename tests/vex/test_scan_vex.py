"""`openhss scan --vex FILE`: what the statements cover leaves the report (and the exit-code gate),
the rest stays; an unreadable or non-VEX file is one line and exit 2 before any scanning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openhss.cli_scan import _apply_vex
from openhss.domain.enums import Ecosystem, Severity, VulType
from openhss.domain.report import ImageReport, ImageSummary
from openhss.domain.vex import parse_document
from openhss.domain.vulnerability import VulnerabilityFinding

DIGEST = "sha256:" + "ab" * 32


def v(vul_id: str, name: str, version: str, eco: Ecosystem = Ecosystem.DEBIAN) -> VulnerabilityFinding:
    return VulnerabilityFinding(
        vul_id=vul_id,
        package_name=name,
        package_version=version,
        ecosystem=eco,
        severity=Severity.HIGH,
        type=VulType.LINUX if eco is Ecosystem.DEBIAN else VulType.APP,
    )


def report(ref: str, tags: tuple[str, ...] = ()) -> ImageReport:
    return ImageReport(
        image=ImageSummary(ref, "docker", DIGEST, "sha256:" + "0" * 64, "linux", "amd64", repo_tags=tags),
        vulnerabilities=[
            v("CVE-2023-45853", "zlib1g", "1:1.2.13.dfsg-1"),
            v("CVE-2022-3715", "bash", "5.2.15-2+b2"),
            v("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.20", Ecosystem.NPM),
        ],
    )


DOC = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://example.com/vex/2",
    "author": "platform team",
    "timestamp": "2026-01-01T00:00:00Z",
    "statements": [
        {
            "vulnerability": {"name": "CVE-2023-45853"},
            "products": [
                {"@id": "pkg:docker/library/nginx", "subcomponents": [{"@id": "pkg:deb/debian/zlib1g"}]}
            ],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present",
        },
        {
            "vulnerability": {"name": "CVE-2021-23337", "aliases": ["GHSA-35jh-r3h4-6jhm"]},
            "products": [{"@id": "pkg:npm/lodash@4.17.20"}],
            "status": "fixed",
        },
        {
            "vulnerability": {"name": "CVE-2022-3715"},
            "products": ["pkg:deb/debian/bash"],
            "status": "affected",
            "action_statement": "upgrade",
        },
    ],
}


def test_scan_report_filtered_by_vex() -> None:
    statements = list(parse_document(json.dumps(DOC)).statements)
    out, gone = _apply_vex(report("docker://nginx:1.25"), statements, [Path("vex.json")])
    assert sorted(x.vul_id for x in out.vulnerabilities) == ["CVE-2022-3715"]
    # What was left out is a suppression naming its source and the statement's status.
    assert gone and {g.suppression.source for g in gone} == {"vex"}
    assert "CVE-2022-3715" not in {g.finding_id for g in gone}
    assert all(g.suppression.statement.split(":")[0] in ("not_affected", "fixed") for g in gone), gone
    # An archive scan is the image only by its tags; without the nginx tag the image-bound statement
    # does not apply, the package-bound one still does.
    out, _ = _apply_vex(report("oci-archive:app.tar"), statements, [])
    assert sorted(x.vul_id for x in out.vulnerabilities) == ["CVE-2022-3715", "CVE-2023-45853"]
    out, _ = _apply_vex(report("oci-archive:app.tar", ("docker.io/library/nginx:1.25",)), statements, [])
    assert sorted(x.vul_id for x in out.vulnerabilities) == ["CVE-2022-3715"]


def test_bad_vex_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    env = {**os.environ, "OPENHSS_DATA_DIR": str(tmp_path)}
    for arg in (str(bad), str(tmp_path / "missing.json")):
        done = subprocess.run(
            [sys.executable, "-m", "openhss.entry", "scan", "--vex", arg, "dir:/nonexistent"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "--vex" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
