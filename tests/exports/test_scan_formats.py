"""Scan report formats: the JSON contract (golden), CycloneDX 1.6 and SPDX 2.3 validated by their
reference implementations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Severity, VulType
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.domain.report import ImageReport, ImageSummary, LayerSummary
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.exports import cyclonedx, scan_json, spdx

GOLDEN = Path(__file__).parent / "golden"
L1 = "sha256:" + "1" * 64
L2 = "sha256:" + "2" * 64


def sample_report() -> ImageReport:
    packages = [
        Package(
            "openssl",
            "3.0.11-1~deb12u2",
            Ecosystem.DEBIAN,
            PackageType.DEB,
            purl="pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            path="var/lib/dpkg/status",
            layer_digest=L1,
            licenses=("Apache-2.0",),
            source_name="openssl",
            source_version="3.0.11-1~deb12u2",
            arch="amd64",
        ),
        Package(
            "requests",
            "2.19.1",
            Ecosystem.PYPI,
            PackageType.PYTHON,
            purl="pkg:pypi/requests@2.19.1",
            path="usr/local/lib/python3.11/site-packages/requests-2.19.1.dist-info/METADATA",
            layer_digest=L2,
            licenses=("Apache 2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0"),
        ),
        Package("weird name", "1", Ecosystem.NPM, PackageType.NPM, licenses=("SEE LICENSE IN x",)),
    ]
    vulns = [
        VulnerabilityFinding(
            "CVE-2018-18074",
            "requests",
            "2.19.1",
            Ecosystem.PYPI,
            Severity.HIGH,
            VulType.APP,
            aliases=("GHSA-x84v-xcm2-53pg", "PYSEC-2018-28"),
            fixed_version="2.20.0",
            cvss_score=7.5,
            cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            purl="pkg:pypi/requests@2.19.1",
            path=packages[1].path,
            layer_digest=L2,
            title="Insufficiently Protected Credentials",
            source="osv",
        ),
        VulnerabilityFinding(
            "CVE-2023-0464",
            "openssl",
            "3.0.11-1~deb12u2",
            Ecosystem.DEBIAN,
            Severity.MEDIUM,
            VulType.LINUX,
            status="unfixed",
            path=packages[0].path,
            layer_digest=L1,
        ),
    ]
    findings = [
        Finding(
            FindingKind.SECRET,
            "aws-access-key-id",
            Severity.CRITICAL,
            "AWS key",
            "app/.env",
            L2,
            3,
            "AKIA****",
        ),
        Finding(
            FindingKind.BUILD_COMMAND_RISK, "curl-pipe-shell", Severity.HIGH, "curl | sh", evidence="RUN x"
        ),
    ]
    return ImageReport(
        image=ImageSummary(
            ref="oci:/images/app:1.0",
            transport="oci",
            digest="sha256:" + "a" * 64,
            config_digest="sha256:" + "c" * 64,
            os_name="linux",
            architecture="amd64",
            user="root",
            repo_tags=("app:1.0",),
            size=1234,
        ),
        os=OSInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm"),
        layers=[
            LayerSummary(
                "sha256:" + "d" * 64, L1, 1000, "application/vnd.oci.image.layer.v1.tar+gzip", "FROM x"
            ),
            LayerSummary(
                "sha256:" + "e" * 64, L2, 234, "application/vnd.oci.image.layer.v1.tar+gzip", "RUN pip"
            ),
        ],
        packages=packages,
        files=[FileRecord("usr/bin/passwd", 68248, 0o4755, 0, 0, "setuid", "f" * 64, L1)],
        vulnerabilities=vulns,
        findings=findings,
        skipped=[("opt/huge.bin", "malware: too large")],
    )


def test_json_report_matches_golden(update_golden: bool) -> None:
    doc = scan_json.report_doc(sample_report())
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    golden = GOLDEN / "scan_report.json"
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text()
    # the keys the CLI contract promises
    for key in (
        "image",
        "packages",
        "vulnerabilities",
        "secrets",
        "malware",
        "baseline",
        "build_command_risks",
        "non_compliant_apps",
        "files",
    ):
        assert key in doc


def test_cyclonedx_validates_against_the_1_6_schema() -> None:
    text = cyclonedx.render(sample_report())
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["type"] == "container"
    purls = sorted(c.get("purl", "") for c in doc["components"])
    assert "pkg:pypi/requests@2.19.1" in purls
    affected = {v["id"]: v["affects"][0]["ref"] for v in doc["vulnerabilities"]}
    assert set(affected) == {"CVE-2018-18074", "CVE-2023-0464"}
    refs = {c["bom-ref"] for c in doc["components"]}
    assert set(affected.values()) <= refs


def test_spdx_validates_with_spdx_tools(tmp_path: Path) -> None:
    path = tmp_path / "sbom.spdx.json"
    path.write_text(spdx.render(sample_report()))
    document = parse_file(str(path))
    messages = validate_full_spdx_document(document)
    assert messages == [], [m.validation_message for m in messages]
    names = {p.name: p for p in document.packages}
    assert str(names["openssl"].license_declared) == "Apache-2.0"
    # free-text license names that are not SPDX ids are NOASSERTION, never an invalid expression
    assert str(names["weird name"].license_declared) == "NOASSERTION"


@pytest.mark.parametrize(
    "text,expected",
    [("MIT", "MIT"), ("mit or apache-2.0", "MIT OR Apache-2.0"), ("Apache 2.0", None), ("", None)],
)
def test_spdx_expression_normalises_or_refuses(text: str, expected: str | None) -> None:
    assert spdx.spdx_expression(text) == expected


def test_sarif_results_point_at_their_rules_and_carry_levels() -> None:
    from openhss.exports import sarif

    doc = json.loads(sarif.render(sample_report()))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    assert len(run["results"]) == 4
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
    secret = next(r for r in run["results"] if r["ruleId"] == "aws-access-key-id")
    assert secret["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    assert "AKIA****" in secret["message"]["text"]


def test_remembered_expressions_answer_as_the_parser_does(tmp_path: Path) -> None:
    memo = tmp_path / "memo.json"
    texts = ["MIT", "mit or apache-2.0", "Apache 2.0", "GPL-2.0-only WITH Classpath-exception-2.0", ""]
    want = [spdx._parsed(t) for t in texts]
    with spdx.remembered_expressions(memo):
        assert [spdx.spdx_expression(t) for t in texts] == want
    saved = json.loads(memo.read_text())
    assert saved["expressions"] == dict(zip(texts, want, strict=True))
    # Answers come from the file: an entry there is believed (the file is ours, like the layer cache).
    saved["expressions"]["MIT"] = "MIT-from-memo"
    memo.write_text(json.dumps(saved))
    with spdx.remembered_expressions(memo):
        assert spdx.spdx_expression("MIT") == "MIT-from-memo"
    assert spdx.spdx_expression("MIT") == "MIT"  # outside the context the parser answers again


def test_remembered_expressions_ignore_a_stale_or_broken_memo(tmp_path: Path) -> None:
    memo = tmp_path / "memo.json"
    memo.write_text(json.dumps({"library": "another release", "expressions": {"MIT": "stale"}}))
    with spdx.remembered_expressions(memo):
        assert spdx.spdx_expression("MIT") == "MIT"
    assert json.loads(memo.read_text())["expressions"] == {"MIT": "MIT"}
    memo.write_text("{not json")
    with spdx.remembered_expressions(memo):
        assert spdx.spdx_expression("mit") == "MIT"
    assert json.loads(memo.read_text())["expressions"] == {"mit": "MIT"}
