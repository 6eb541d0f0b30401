"""SPDX 2.3 (JSON) SBOM of one scanned image.

Written directly as the JSON the spec defines (the document is flat and small); the tests validate every
output with spdx-tools, the reference implementation. The image is the described package; every
installed package is CONTAINED_BY it and carries its purl as a PACKAGE-MANAGER external reference.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openhss import __version__
from openhss.domain.models import Package
from openhss.domain.report import ImageReport

if TYPE_CHECKING:
    from license_expression import Licensing

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


#: Answers remembered from earlier runs (`remembered_expressions`), or None outside one.
_memo: dict[str, str | None] | None = None


def spdx_expression(text: str) -> str | None:
    """The text as a valid SPDX expression of known ids, or None (→ NOASSERTION)."""
    if _memo is None:
        return _parsed(text)
    if text not in _memo:
        _memo[text] = _parsed(text)
    return _memo[text]


@lru_cache(maxsize=4096)
def _parsed(text: str) -> str | None:
    from license_expression import ExpressionError

    try:
        parsed = _licensing().parse(text, validate=True, strict=True)
    except ExpressionError:
        return None
    if parsed is None:
        return None
    return str(parsed)


def _library_stamp() -> str:
    """Names the installed license-expression release and its SPDX data without importing it (the
    import and the index it loads are what the memo saves): size and mtime of its code and index."""
    spec = importlib.util.find_spec("license_expression")
    if spec is None or spec.origin is None:
        return ""
    code = Path(spec.origin)
    parts = []
    for path in (code, code.parent / "data" / "scancode-licensedb-index.json"):
        try:
            st = path.stat()
        except OSError:
            return ""
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return "/".join(parts)


@contextmanager
def remembered_expressions(path: Path) -> Iterator[None]:
    """Answer `spdx_expression` from (and add to) a JSON memo file for the duration.

    An image's packages carry a few hundred distinct license strings, the same from one scan to the
    next; validating them needs license-expression's SPDX index (~2,000 licenses loaded and indexed),
    most of what an SBOM costs on a cached rescan. The memo is tied to the installed library (a new
    release or index makes it stale, and it is rebuilt); an unreadable or foreign file is ignored and
    replaced, and failing to write it never fails the caller."""
    global _memo
    stamp = _library_stamp()
    known: dict[str, str | None] = {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and doc.get("library") == stamp and isinstance(doc.get("expressions"), dict):
            known = {str(k): v for k, v in doc["expressions"].items() if v is None or isinstance(v, str)}
    except (OSError, ValueError):
        pass
    before = len(known)
    _memo = known
    try:
        yield
    finally:
        _memo = None
    if len(known) != before and stamp:
        tmp = ""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-spdx-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"library": stamp, "expressions": known}, fh, separators=(",", ":"))
            Path(tmp).replace(path)
        except OSError:
            if tmp:
                Path(tmp).unlink(missing_ok=True)


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
