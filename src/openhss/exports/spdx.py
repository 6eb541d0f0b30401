"""SPDX 2.3 (JSON) SBOM of one scanned image.

Written directly as the JSON the spec defines (the document is flat and small); the tests validate every
output with spdx-tools, the reference implementation. The image is the described package; every
installed package is CONTAINED_BY it and carries its purl as a PACKAGE-MANAGER external reference.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from license_expression import ExpressionError, Licensing, get_spdx_licensing

from openhss import __version__
from openhss.domain.models import Package
from openhss.domain.report import ImageReport

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


@lru_cache(maxsize=4096)
def spdx_expression(text: str) -> str | None:
    """The text as a valid SPDX expression of known ids, or None (→ NOASSERTION)."""
    try:
        parsed = _licensing().parse(text, validate=True, strict=True)
    except ExpressionError:
        return None
    if parsed is None:
        return None
    return str(parsed)


def _declared(p: Package) -> str:
    exprs = [e for e in (spdx_expression(t) for t in p.licenses) if e]
    if not exprs:
        return "NOASSERTION"
    if len(exprs) == 1:
        return exprs[0]
    return " AND ".join(f"({e})" if " " in e else e for e in dict.fromkeys(exprs))


def _spdx_id(prefix: str, index: int, name: str) -> str:
    return f"SPDXRef-{prefix}-{index}-{_ID_UNSAFE.sub('-', name)[:64].strip('-') or 'x'}"


def document(report: ImageReport) -> dict[str, Any]:
    img = report.image
    image_id = "SPDXRef-Image"
    packages: list[dict[str, Any]] = [
        {
            "SPDXID": image_id,
            "name": img.ref,
            "versionInfo": img.digest or img.config_digest,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "CONTAINER",
            "comment": f"platform {img.os_name}/{img.architecture}"
            + (f"; os {report.os.family} {report.os.version}" if report.os else ""),
        }
    ]
    relationships: list[dict[str, str]] = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}
    ]
    for index, p in enumerate(report.packages):
        sid = _spdx_id("Package", index, p.name)
        entry: dict[str, Any] = {
            "SPDXID": sid,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": _declared(p),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
        }
        if p.purl:
            entry["externalRefs"] = [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}
            ]
        if p.source_name:
            entry["sourceInfo"] = f"built from source package {p.source_name} {p.source_version}".strip()
        if p.path:
            entry["comment"] = f"path {p.path}; layer {p.layer_digest}" + (
                f"; owner {p.owner}" if p.owner else ""
            )
        packages.append(entry)
        relationships.append(
            {"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": sid}
        )
    name = img.ref
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://openhss.invalid/spdx/{uuid.uuid4()}",
        "creationInfo": {
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: openhss-{__version__}"],
        },
        "packages": packages,
        "relationships": relationships,
    }


def render(report: ImageReport) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False)
