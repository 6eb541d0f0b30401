"""CycloneDX 1.6 VEX writer: a BOM with only the components the statements name and one vulnerability
entry per statement, each with an `analysis` (state, justification, detail) and `affects` references.

Same small interface as `exports.openvex` (`document`, `write`). Products that are images become
`container` components; their subcomponents (packages) become `library` components, and the statement
affects the packages, nested under their image (bom-ref `IMAGE|PURL`) so that an import narrows the
statement to that image again; a statement without packages affects the image. CycloneDX has no
expiry field; an expiry is kept as the property `openhss:expires`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import IO, Any

from openhss import __version__
from openhss.domain.vex import OPENVEX_TO_CDX, STATUS_TO_CDX, Statement, VexStatus, iso, parse_image
from openhss.exports.openvex import Meta

MEDIA_TYPE = "application/vnd.cyclonedx+json"
SUFFIX = "cdx.vex.json"


def _component(ref: str) -> dict[str, Any]:
    img = parse_image(ref)
    if img is not None:
        c: dict[str, Any] = {"bom-ref": ref, "type": "container", "name": img.repo}
        if img.tag:
            c["version"] = img.tag
    else:
        c = {"bom-ref": ref, "type": "library", "name": ref.split("?", 1)[0].rsplit("/", 1)[-1].split("@")[0]}
    if ref.startswith("pkg:"):
        c["purl"] = ref
    return c


def document(statements: Iterable[Statement], meta: Meta) -> dict[str, Any]:
    components: dict[str, dict[str, Any]] = {}
    vulns: list[dict[str, Any]] = []
    for s in sorted(statements, key=lambda x: (x.vul_id, x.status, x.impact_statement)):
        refs: list[str] = []
        for p in s.products:
            parent = components.setdefault(p.id, _component(p.id))
            if not p.subcomponents:
                refs.append(p.id)
            nested = parent.setdefault("components", []) if p.subcomponents else []
            for sub in p.subcomponents:
                ref = f"{p.id}|{sub}"
                if all(c["bom-ref"] != ref for c in nested):
                    nested.append({**_component(sub), "bom-ref": ref})
                refs.append(ref)
        analysis: dict[str, Any] = {"state": STATUS_TO_CDX[s.status]}
        if s.status is VexStatus.NOT_AFFECTED and s.justification:
            analysis["justification"] = OPENVEX_TO_CDX.get(s.justification, s.justification)
        detail = s.impact_statement or (s.reason if s.status is VexStatus.NOT_AFFECTED else "")
        if detail:
            analysis["detail"] = detail
        if s.status is VexStatus.AFFECTED:
            analysis["response"] = ["update"]
        if s.timestamp:
            analysis["lastUpdated"] = iso(s.timestamp)
        v: dict[str, Any] = {
            "bom-ref": f"vex-{len(vulns) + 1}",
            "id": s.vul_id,
            "analysis": analysis,
            "affects": [{"ref": r} for r in dict.fromkeys(refs)],
        }
        if s.aliases:
            v["references"] = [{"id": a, "source": {"name": "alias"}} for a in s.aliases]
        if s.expires:
            v["properties"] = [{"name": "openhss:expires", "value": iso(s.expires)}]
        vulns.append(v)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": meta.doc_id or f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": iso(meta.timestamp_ms),
            "authors": [{"name": meta.author}],
            "tools": {"components": [{"type": "application", "name": "openhss", "version": __version__}]},
        },
        "components": list(components.values()),
        "vulnerabilities": vulns,
    }


def write(statements: Iterable[Statement], meta: Meta, out: IO[str]) -> None:
    json.dump(document(statements, meta), out, indent=2)
    out.write("\n")
