"""OpenVEX 0.2 writer: statements in, one JSON document out.

A standalone writer with the small interface every VEX writer here has (`document(statements, meta)` →
JSON-ready dict, `write(statements, meta, out)`), so the export registry can list it next to the HSS
report types. Statements with the same vulnerability, status and reason are merged into one with
several products, as OpenVEX intends; the order is stable so two exports of the same state are equal
apart from their timestamp and id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from openhss import __version__
from openhss.domain.vex import Product, Statement, VexStatus, iso

CONTEXT = "https://openvex.dev/ns/v0.2.0"
MEDIA_TYPE = "application/json"
SUFFIX = "openvex.json"


@dataclass(frozen=True, slots=True)
class Meta:
    author: str
    timestamp_ms: int
    doc_id: str = ""


def _product(p: Product) -> dict[str, Any]:
    out: dict[str, Any] = {"@id": p.id}
    if p.id.startswith("pkg:"):
        out["identifiers"] = {"purl": p.id}
    if p.subcomponents:
        out["subcomponents"] = [{"@id": s, "identifiers": {"purl": s}} for s in p.subcomponents]
    return out


def _statement(s: Statement, products: list[Product]) -> dict[str, Any]:
    vul: dict[str, Any] = {"name": s.vul_id}
    if s.aliases:
        vul["aliases"] = list(s.aliases)
    out: dict[str, Any] = {
        "vulnerability": vul,
        "products": [_product(p) for p in products],
        "status": s.status,
    }
    if s.timestamp:
        out["timestamp"] = iso(s.timestamp)
    if s.status is VexStatus.NOT_AFFECTED:
        # OpenVEX: not_affected needs a justification or an impact statement; the reason is kept verbatim.
        if s.justification:
            out["justification"] = s.justification
        out["impact_statement"] = s.impact_statement or s.reason
    elif s.impact_statement:
        out["impact_statement"] = s.impact_statement
    if s.status is VexStatus.AFFECTED:
        out["action_statement"] = s.action_statement or "Upgrade the affected package to a fixed version."
    elif s.action_statement:
        out["action_statement"] = s.action_statement
    if s.expires:
        out["x_openhss_expires"] = iso(s.expires)
    return out


def _merged(statements: Iterable[Statement]) -> list[tuple[Statement, list[Product]]]:
    groups: dict[tuple[object, ...], tuple[Statement, list[Product]]] = {}
    for s in statements:
        key = (
            s.vul_id,
            s.aliases,
            s.status,
            s.justification,
            s.impact_statement,
            s.action_statement,
            s.expires,
        )
        if key not in groups:
            groups[key] = (s, [])
        first, products = groups[key]
        if s.timestamp > first.timestamp:
            groups[key] = (s, products)
        for p in s.products:
            if p not in products:
                products.append(p)
    return sorted(groups.values(), key=lambda g: (g[0].vul_id, g[0].status, g[0].impact_statement))


def document(statements: Iterable[Statement], meta: Meta) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@id": meta.doc_id or f"https://openhss.local/vex/{uuid.uuid4()}",
        "author": meta.author,
        "role": "Document Creator",
        "timestamp": iso(meta.timestamp_ms),
        "version": 1,
        "tooling": f"openhss/{__version__}",
        "statements": [_statement(s, products) for s, products in _merged(statements)],
    }


def write(statements: Iterable[Statement], meta: Meta, out: IO[str]) -> None:
    json.dump(document(statements, meta), out, indent=2)
    out.write("\n")
