"""Severity with provenance, EPSS and KEV: imported from the feeds' own files, resolved per alias group."""

from __future__ import annotations

import json
import sqlite3
import threading
import zipfile
from pathlib import Path

import pytest

from openhss.domain.advisory import AffectedRecord
from openhss.domain.enums import Ecosystem, PackageType, Severity
from openhss.domain.models import Package
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.services.vulndb import VulnDbError, VulnDbService
from tests.vulndb.enrich_helpers import cve5, write_cve5_zip, write_epss, write_kev, write_nvd
from tests.vulndb.helpers import osv, write_zip
from tests.vulndb.test_update import Handler, Mirror

CRIT = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
MED = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4
LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
FIX = [{"introduced": "0"}, {"fixed": "2.0"}]


def _advisories(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "PyPI.zip", [
        # no rating anywhere in the advisory: the CVE record's CNA scores it
        osv("PYSEC-1", "PyPI", "alpha", events=FIX, aliases=["CVE-2099-0001"]),
        # unrated, but another advisory of its alias group (GHSA-…) carries CVSS
        osv("PYSEC-2", "PyPI", "beta", events=FIX, aliases=["CVE-2099-0002", "GHSA-aaaa-bbbb-cccc"]),
        osv("GHSA-aaaa-bbbb-cccc", "PyPI", "beta-fork", events=FIX, aliases=["CVE-2099-0002"],
            severity=[{"type": "CVSS_V3", "score": MED}]),
        # own CVSS: wins over everything external
        osv("PYSEC-3", "PyPI", "gamma", events=FIX, aliases=["CVE-2099-0003"],
            severity=[{"type": "CVSS_V3", "score": LOW}]),
        # scored nowhere
        osv("PYSEC-4", "PyPI", "delta", events=FIX, aliases=["CVE-2099-0004"]),
        # only CISA's ADP container scores it
        osv("PYSEC-5", "PyPI", "epsilon", events=FIX, aliases=["CVE-2099-0005"]),
    ])  # fmt: skip


def _lookup(svc: VulnDbService, name: str) -> AffectedRecord:
    (rec,) = svc.open_index().lookup(Ecosystem.PYPI, "", name)
    return rec


def test_precedence_and_provenance(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([_advisories(tmp_path)])
    assert _lookup(svc, "alpha").severity is Severity.UNKNOWN
    assert _lookup(svc, "alpha").severity_source == "none"

    report = svc.import_paths([
        write_cve5_zip(tmp_path / "cve5.zip", [
            cve5("CVE-2099-0001", cna=CRIT, adp=LOW),
            cve5("CVE-2099-0002", cna=CRIT),
            cve5("CVE-2099-0003", cna=CRIT),
            cve5("CVE-2099-0005", adp=MED),
            cve5("CVE-2099-0004", cna=CRIT, state="REJECTED"),
        ]),
    ])  # fmt: skip
    assert report.counts == {"cve5": 5}
    # enrichment changed what these packages' findings say, so re-matching must visit them; beta's
    # rating came from its alias group before and still does
    assert {("PyPI", "alpha"), ("PyPI", "epsilon")} <= report.changed
    assert not {("PyPI", "beta"), ("PyPI", "delta")} & report.changed

    alpha = _lookup(svc, "alpha")
    assert (alpha.severity, alpha.severity_source, alpha.cvss_score) == (
        Severity.CRITICAL,
        "cve5:cna:acme",
        9.8,
    )
    beta = _lookup(svc, "beta")  # the alias group's CVSS comes before the CVE record's
    assert (beta.severity, beta.severity_source) == (Severity.MEDIUM, "alias:GHSA-aaaa-bbbb-cccc")
    gamma = _lookup(svc, "gamma")
    assert (gamma.severity, gamma.severity_source) == (Severity.LOW, "advisory:osv:PyPI")
    delta = _lookup(svc, "delta")  # a REJECTED record scores nothing
    assert (delta.severity, delta.severity_source) == (Severity.UNKNOWN, "none")
    eps = _lookup(svc, "epsilon")
    assert (eps.severity, eps.severity_source) == (Severity.MEDIUM, "cve5:adp:CISA-ADP")

    # NVD's primary score comes before the CNA's
    svc.import_paths([write_nvd(tmp_path / "nvdcve-2.0-2099.json.gz", {"CVE-2099-0001": (5.3, MED)})])
    alpha = _lookup(svc, "alpha")
    assert (alpha.severity, alpha.severity_source, alpha.cvss_score) == (Severity.MEDIUM, "nvd", 5.3)
    assert {s.name for s in svc.status().sources} == {"osv:PyPI", "cve5", "nvd:2099"}


def test_epss_kev_reach_findings_and_rematch_keys(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([_advisories(tmp_path)])
    kev = {"CVE-2099-0002": ("2099-01-05", "2099-01-26")}
    epss = {"CVE-2099-0002": (0.91, 0.99), "CVE-2099-0004": (0.2, 0.5)}
    report = svc.import_paths([
        write_kev(tmp_path / "known_exploited_vulnerabilities.json", kev),
        write_epss(tmp_path / "epss-2099-01-01.csv.gz", epss),
    ])  # fmt: skip
    assert report.counts == {"kev": 1, "epss": 2}
    assert report.changed == {("PyPI", "beta"), ("PyPI", "beta-fork"), ("PyPI", "delta")}

    matcher = VulnerabilityMatcher(svc.open_index())
    pkgs = [Package(n, "1.0", Ecosystem.PYPI, PackageType.PYTHON) for n in ("beta", "delta", "alpha")]
    found = {f.package_name: f for f in matcher.match(None, pkgs).findings}
    beta = found["beta"]
    assert beta.vul_id == "CVE-2099-0002" and beta.kev and beta.kev_due_date == "2099-01-26"
    assert (beta.epss, beta.epss_percentile, beta.epss_date) == (0.91, 0.99, "2099-01-01")
    assert beta.severity_source == "alias:GHSA-aaaa-bbbb-cccc"
    delta = found["delta"]
    assert not delta.kev and delta.epss == 0.2 and delta.severity_source == "none"
    # no score anywhere: HSS's repair_necessity stays inside its enum; the source says it is unrated
    assert delta.severity is Severity.UNKNOWN and delta.repair_necessity == "Medium"
    assert found["alpha"].epss is None and found["alpha"].epss_date == ""

    # FIRST's own daily layout (comment line with the score date, header) replaces the earlier import
    svc.import_paths([write_epss(tmp_path / "epss_scores-current.csv.gz", {"CVE-2099-0004": (0.3, 0.6)},
                                 first_layout=True)])  # fmt: skip
    record = _lookup(svc, "delta")
    assert (record.epss, record.epss_date) == (0.3, "2099-01-02")
    assert _lookup(svc, "beta").epss is None


def test_enrichment_survives_advisory_reimport(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    advisories = _advisories(tmp_path)
    svc.import_paths([advisories, write_cve5_zip(tmp_path / "c.zip", [cve5("CVE-2099-0001", cna=CRIT)])])
    svc.import_paths([advisories])  # the advisory feed again: the CVE scores stay joined
    assert _lookup(svc, "alpha").severity_source == "cve5:cna:acme"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("known_exploited_vulnerabilities.json", b'{"catalogVersion": "1", "vulnerabilities": []}'),
        (
            "epss-2099-01-01.csv",
            b"#model_version:v1,score_date:2099-01-01T00:00:00+0000\ncve,epss,percentile\n",
        ),
    ],
)
def test_empty_enrichment_file_is_an_error(tmp_path: Path, name: str, content: bytes) -> None:
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([_advisories(tmp_path)])
    before = svc.store.path.read_bytes()
    (tmp_path / name).write_bytes(content)
    with pytest.raises(VulnDbError, match=r"no \w+ records"):
        svc.import_paths([tmp_path / name])
    assert svc.store.path.read_bytes() == before


def test_shared_enrichment_files_import_as_they_are(shared_dir: Path, tmp_path: Path) -> None:
    enrich = shared_dir / "data" / "enrich"
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([shared_dir / "data" / "osv" / "PyPI.zip"])
    report = svc.import_paths([
        enrich / "cve5" / "cve5-subset.zip",
        enrich / "kev" / "known_exploited_vulnerabilities.json",
        enrich / "epss" / "epss-emba-subset-2026-08-16.csv.gz",
    ])  # fmt: skip
    # README: 1,404 KEV entries, 29,506 EPSS rows; 2,003 CVE records carry a CVSS v3.x/v4 score, some in
    # both their CNA and an ADP container (one row each)
    assert report.counts["kev"] == 1404 and report.counts["epss"] == 29506
    assert 2003 <= (report.counts["cve5"] or 0) <= 2003 + 423
    index = svc.open_index()
    (urllib3,) = [r for r in index.lookup(Ecosystem.PYPI, "", "urllib3") if r.advisory_id == "PYSEC-2019-133"]
    assert urllib3.epss is not None and urllib3.epss_date == "2026-08-16"


def test_red_hat_errata_rating_from_the_title(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths([write_zip(tmp_path / "AlmaLinux.zip", [
        osv("ALSA-2099:1", "AlmaLinux:9", "kernel", events=FIX, summary="Important: kernel security update"),
        osv("ALBA-2099:2", "AlmaLinux:9", "sssd", events=FIX, summary="sssd bug fix and enhancement update"),
        osv("PYSEC-9", "PyPI", "low", events=FIX, summary="Low: not a rating outside Red Hat errata"),
    ])])  # fmt: skip
    index = svc.open_index()
    (kernel,) = index.lookup(Ecosystem.ALMALINUX, "9", "kernel")
    assert (kernel.severity, kernel.severity_source) == (Severity.HIGH, "advisory:osv:AlmaLinux")
    assert index.lookup(Ecosystem.ALMALINUX, "9", "sssd")[0].severity is Severity.UNKNOWN
    assert index.lookup(Ecosystem.PYPI, "", "low")[0].severity is Severity.UNKNOWN


def test_online_feed_with_no_records_keeps_the_previous_import(tmp_path: Path) -> None:
    root = tmp_path / "mirror" / "kev"
    root.mkdir(parents=True)
    kev = root / "known_exploited_vulnerabilities.json"
    write_kev(kev, {"CVE-2099-0002": ("2099-01-05", "2099-01-26")})
    server = Mirror(("127.0.0.1", 0), Handler)
    server.root, server.log = (tmp_path / "mirror").resolve(), []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        svc = VulnDbService(tmp_path / "db")
        svc.import_paths([_advisories(tmp_path)])
        assert svc.update(["kev"], mirror=url).counts == {"kev": 1}
        write_kev(kev, {})  # the catalogue comes back empty (a broken mirror, a truncated publish)
        report = svc.update(["kev"], mirror=url)
        assert report.counts == {} and len(report.errors) == 1 and "no kev records" in report.errors[0]
        assert _lookup(svc, "beta").kev_date_added == "2099-01-05"
        assert [(s.name, s.count) for s in svc.status().sources if s.name == "kev"] == [("kev", 1)]
    finally:
        server.shutdown()
        server.server_close()


def _scored_cves(cve5_zip: Path) -> set[str]:
    """CVE ids with a CVSS score in a CNA or ADP container, read straight from the records."""
    scored: set[str] = set()
    with zipfile.ZipFile(cve5_zip) as zf:
        for name in zf.namelist():
            doc = json.loads(zf.read(name))
            if doc["cveMetadata"].get("state") != "PUBLISHED":
                continue
            containers = [doc["containers"].get("cna") or {}, *(doc["containers"].get("adp") or [])]
            for c in containers:
                for m in c.get("metrics") or []:
                    if any(
                        k.startswith("cvssV") and (m[k].get("baseScore") or m[k].get("vectorString"))
                        for k in m
                    ):
                        scored.add(doc["cveMetadata"]["cveId"])
    return scored


def test_severity_known_wherever_the_enrichment_has_a_score(shared_dir: Path, tmp_path: Path) -> None:
    data = shared_dir / "data"
    svc = VulnDbService(tmp_path / "db")
    svc.import_paths(
        [data / "osv" / "PyPI.zip", data / "osv" / "Go.zip", data / "enrich" / "cve5" / "cve5-subset.zip"]
    )
    scored = _scored_cves(data / "enrich" / "cve5" / "cve5-subset.zip")
    index = svc.open_index()
    with sqlite3.connect(svc.store.path) as conn:
        keys = conn.execute("SELECT DISTINCT ecosystem, release, name FROM records").fetchall()
    checked = unknown = 0
    for eco, release, name in keys:
        for rec in index.lookup(Ecosystem(eco), release, name):
            if scored & {rec.advisory_id, *rec.aliases}:
                checked += 1
                unknown += rec.severity is Severity.UNKNOWN
    assert checked > 900 and unknown == 0
