"""`--ignorefile`: Trivy's `.trivyignore.yaml` layout, read into `Suppression` records.

Users moving from Trivy keep their file: `vulnerabilities`, `misconfigurations` (our baseline, build and
compliance rules), `secrets` and `malware` sections, each a list of `{id, purls, paths, expired_at,
statement}`. A malformed file is a usage error naming the entry, never a silently ignored policy.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from openhss.domain.enums import FindingKind
from openhss.domain.suppression import VULNERABILITY, Suppression

DEFAULT_IGNOREFILE = ".openhssignore.yaml"

SECTIONS: dict[str, frozenset[str]] = {
    "vulnerabilities": frozenset({VULNERABILITY}),
    "misconfigurations": frozenset(
        {
            FindingKind.BASELINE.value,
            FindingKind.BUILD_COMMAND_RISK.value,
            FindingKind.NON_COMPLIANT_APP.value,
        }
    ),
    "secrets": frozenset({FindingKind.SECRET.value}),
    "malware": frozenset({FindingKind.MALWARE.value}),
}


class IgnoreFileError(ValueError):
    """The ignore file cannot be used as written."""


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise IgnoreFileError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def _expiry(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise IgnoreFileError(f"{where}: `expired_at` must be a date like 2025-12-31")


def load_ignorefile(path: Path) -> list[Suppression]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IgnoreFileError(f"cannot read ignore file {path}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise IgnoreFileError(f"ignore file {path} is not valid YAML{at}") from None
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise IgnoreFileError(f"ignore file {path}: expected sections like `vulnerabilities:` at the top")
    unknown = set(doc) - set(SECTIONS)
    if unknown:
        raise IgnoreFileError(
            f"ignore file {path}: unknown section {sorted(map(str, unknown))[0]!r}; use {', '.join(SECTIONS)}"
        )
    out: list[Suppression] = []
    for section, kinds in SECTIONS.items():
        entries = doc.get(section) or []
        if not isinstance(entries, list):
            raise IgnoreFileError(f"ignore file {path}: `{section}` must be a list of entries")
        for i, entry in enumerate(entries):
            where = f"ignore file {path}: {section}[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
                raise IgnoreFileError(f"{where}: each entry needs an `id`")
            extra = set(entry) - {"id", "purls", "paths", "expired_at", "statement"}
            if extra:
                raise IgnoreFileError(f"{where}: unknown key {sorted(map(str, extra))[0]!r}")
            statement = entry.get("statement") or ""
            if not isinstance(statement, str):
                raise IgnoreFileError(f"{where}: `statement` must be text")
            out.append(
                Suppression(
                    id=entry["id"],
                    source="ignorefile",
                    origin=str(path),
                    statement=statement,
                    purls=_strings(entry.get("purls"), where, "purls"),
                    paths=_strings(entry.get("paths"), where, "paths"),
                    expires=_expiry(entry.get("expired_at"), where),
                    kinds=kinds,
                )
            )
    return out
