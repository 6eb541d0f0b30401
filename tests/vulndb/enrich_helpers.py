"""Enrichment fixtures written by tests in the feeds' own layouts (CVE JSON 5, NVD 2.0, KEV, EPSS)."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path
from typing import Any


def cve5(cve: str, *, cna: str = "", adp: str = "", state: str = "PUBLISHED") -> dict[str, Any]:
    """A CVE record with an optional CVSS v3.1 vector in its CNA and/or CISA ADP container."""

    def metrics(vector: str) -> list[dict[str, Any]]:
        return [{"cvssV3_1": {"version": "3.1", "vectorString": vector}}] if vector else []

    containers: dict[str, Any] = {
        "cna": {"providerMetadata": {"shortName": "acme"}, "metrics": metrics(cna)},
        "adp": [{"providerMetadata": {"shortName": "CISA-ADP"}, "metrics": metrics(adp)}],
    }
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {"cveId": cve, "state": state, "assignerShortName": "acme"},
        "containers": containers,
    }


def write_cve5_zip(path: Path, records: list[dict[str, Any]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for r in records:
            zf.writestr(f"{r['cveMetadata']['cveId']}.json", json.dumps(r))
    return path


def write_nvd(path: Path, scores: dict[str, tuple[float, str]]) -> Path:
    vulns = [
        {"cve": {"id": cve, "vulnStatus": "Analyzed", "metrics": {"cvssMetricV31": [
            {"source": "nvd@nist.gov", "type": "Primary", "cvssData": {"baseScore": s, "vectorString": v}},
            {"source": "cna@example", "type": "Secondary", "cvssData": {"baseScore": 1.0}},
        ]}}}
        for cve, (s, v) in scores.items()
    ]  # fmt: skip
    data = json.dumps({"format": "NVD_CVE", "version": "2.0", "vulnerabilities": vulns}).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_kev(path: Path, entries: dict[str, tuple[str, str]]) -> Path:
    vulns = [{"cveID": c, "dateAdded": a, "dueDate": d} for c, (a, d) in entries.items()]
    doc = {
        "title": "CISA Catalog",
        "catalogVersion": "2099.01.01",
        "count": len(vulns),
        "vulnerabilities": vulns,
    }
    path.write_text(json.dumps(doc))
    return path


def write_epss(path: Path, rows: dict[str, tuple[float, float]], *, first_layout: bool = False) -> Path:
    """EMBA's layout (`cve;epss;percentile`, no header) or FIRST's daily file (comment + header)."""
    if first_layout:
        lines = ["#model_version:v2025.03.14,score_date:2099-01-02T00:00:00+0000", "cve,epss,percentile"]
        lines += [f"{c},{s:.5f},{p:.5f}" for c, (s, p) in rows.items()]
    else:
        lines = [f"{c};{s:.9f};{p:.9f}" for c, (s, p) in rows.items()]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path
