"""Layer folding: database replacement, whiteouts, opaque dirs, attribution, persistent findings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Severity
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.applier import fold
from openhss.scan.walk import LayerAnalysis

STATUS = "var/lib/dpkg/status"


def deb(name: str, version: str) -> Package:
    return Package(name, version, Ecosystem.DEBIAN, PackageType.DEB, path=STATUS)


def py(name: str, version: str) -> Package:
    return Package(
        name,
        version,
        Ecosystem.PYPI,
        PackageType.PYTHON,
        path=f"usr/lib/python3/site/{name}-{version}.dist-info/METADATA",
    )


def layer(
    diff_id: str,
    *,
    packages: Sequence[Package] = (),
    whiteouts: Sequence[str] = (),
    opaque: Sequence[str] = (),
    os: OSInfo | None = None,
    findings: Sequence[Finding] = (),
    files: Sequence[FileRecord] = (),
) -> LayerAnalysis:
    stamped = [dataclasses.replace(p, layer_digest=diff_id) for p in packages]
    result = AnalysisResult(os=os, packages=stamped, findings=list(findings), files=list(files))
    return LayerAnalysis(diff_id=diff_id, result=result, whiteouts=list(whiteouts), opaque_dirs=list(opaque))


def test_database_is_replaced_and_keeps_first_layer_of_unchanged_packages() -> None:
    inv = fold(
        [
            layer(
                "L1",
                packages=[deb("libc6", "2.36-9"), deb("curl", "7.88-1"), deb("gone", "1.0")],
                os=OSInfo("debian", "12"),
            ),
            layer("L2", packages=[deb("libc6", "2.36-9"), deb("curl", "7.88-2"), deb("new", "3.0")]),
        ]
    )
    got = {(p.name, p.version, p.layer_digest) for p in inv.packages}
    assert got == {("libc6", "2.36-9", "L1"), ("curl", "7.88-2", "L2"), ("new", "3.0", "L2")}
    assert inv.os == OSInfo("debian", "12")


def test_whiteout_and_opaque_dir_remove_lower_packages_only() -> None:
    a, b = py("requests", "2.19.1"), py("urllib3", "1.24.1")
    inv = fold(
        [
            layer("L1", packages=[a, b]),
            layer("L2", whiteouts=[a.path.rsplit("/", 1)[0]]),
        ]
    )
    assert [p.name for p in inv.packages] == ["urllib3"]
    c = py("six", "1.16.0")
    inv = fold([layer("L1", packages=[a, b]), layer("L2", packages=[c], opaque=["usr/lib/python3/site"])])
    assert [p.name for p in inv.packages] == ["six"]


def test_findings_survive_later_deletion_files_do_not() -> None:
    secret = Finding(
        FindingKind.SECRET, "aws-access-key", Severity.CRITICAL, "AWS key", path="app/.env", line=3
    )
    rec = FileRecord("usr/bin/x", 10, 0o4755, 0, 0, "setuid")
    inv = fold(
        [
            layer("L1", findings=[secret], files=[rec]),
            layer("L2", whiteouts=["app/.env", "usr/bin/x"]),
        ]
    )
    assert inv.findings == [secret]
    assert inv.files == []


def test_restamper_sees_final_os() -> None:
    seen: list[OSInfo] = []

    def restamp(pkgs, os):
        seen.append(os)
        return [dataclasses.replace(p, ecosystem=Ecosystem.UBUNTU) for p in pkgs]

    inv = fold([layer("L1", packages=[deb("bash", "5.1")], os=OSInfo("ubuntu", "22.04"))], restamp)
    assert seen == [OSInfo("ubuntu", "22.04")] and inv.packages[0].ecosystem is Ecosystem.UBUNTU


def _shadow_finding(layer_id: str) -> Finding:
    return Finding(
        FindingKind.BASELINE,
        "baseline.empty-password",
        Severity.HIGH,
        "account with an empty password",
        path="etc/shadow",
        layer_digest=layer_id,
    )


def test_baseline_state_is_superseded_when_a_later_layer_fixes_or_deletes_the_file() -> None:
    bad = layer("L1", findings=[_shadow_finding("L1")])
    fixed = layer("L2")
    fixed.result.observed.append("etc/shadow")
    assert fold([bad, fixed]).findings == []
    deleted = layer("L2", whiteouts=["etc/shadow"])
    assert fold([bad, deleted]).findings == []
    untouched = layer("L2")
    assert [f.layer_digest for f in fold([bad, untouched]).findings] == ["L1"]
    # the fixing layer's own verdict stands when it still finds a problem
    still_bad = layer("L2", findings=[_shadow_finding("L2")])
    still_bad.result.observed.append("etc/shadow")
    assert [f.layer_digest for f in fold([bad, still_bad]).findings] == ["L2"]


def test_secret_findings_survive_deletion_but_baseline_does_not() -> None:
    secret = Finding(FindingKind.SECRET, "aws-access-key", Severity.CRITICAL, "AWS key", path="etc/shadow")
    inv = fold([layer("L1", findings=[secret, _shadow_finding("L1")]), layer("L2", whiteouts=["etc"])])
    assert [f.kind for f in inv.findings] == [FindingKind.SECRET]
