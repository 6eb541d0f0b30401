"""Small advisory fixtures written by tests (never committed data)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any


def osv(vid: str, ecosystem: str, name: str, *, events: list[dict[str, str]] | None = None,
        range_type: str = "ECOSYSTEM", versions: list[str] | None = None, aliases: list[str] | None = None,
        severity: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": range_type, "events": events}]
    if versions is not None:
        affected["versions"] = versions
    doc: dict[str, Any] = {"id": vid, "modified": "2024-01-01T00:00:00Z", "affected": [affected]}
    if aliases:
        doc["aliases"] = aliases
    if severity:
        doc["severity"] = severity
    doc.update(extra)
    return doc


def write_zip(path: Path, docs: list[dict[str, Any]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for d in docs:
            zf.writestr(f"{d['id'].replace(':', '_')}.json", json.dumps(d))
    return path
