"""Fold per-layer analysis results into the image's inventory, in layer order.

The fold works on results, never on bytes, so a layer analysed once (and cached by diff_id) serves
every image built on it. Semantics, matching how the overlay filesystem presents the final image:

* a whiteout of `p` removes everything reported at `p` or below it by lower layers; an opaque dir
  removes everything below it from lower layers (the layer's own entries stay);
* package databases are files: when a layer reports packages read from a database path, that layer's
  list *replaces* the lower layers' list for the same path (dpkg rewrites `status` whole); a package
  keeps the layer that first introduced it at that version, so evidence points at the right layer;
* file records are keyed by path, the upper layer wins;
* secret and malware findings are NOT removed by later deletions: a secret deleted in a later layer is
  still in the earlier layer's blob, which anyone who pulls the image can read;
* OS file lists (dpkg `info/*.list`, apk's database) are folded like package databases, per file;
  a language package whose evidence file the final lists name is marked OS-owned (`Package.owner`);
* baseline findings describe the *state* of a file (`/etc/shadow` has an empty password): a later layer
  that deletes the file, or whose analyzers re-examined it (`observed`), supersedes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from openhss.domain.enums import FindingKind
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.scan.analyzers.os.release import infer_os
from openhss.scan.walk import LayerAnalysis

#: Re-stamps OS packages once the distribution is known (e.g. Debian vs Ubuntu, and the release).
OsRestamper = Callable[[Sequence[Package], OSInfo], list[Package]]


@dataclass(slots=True)
class Inventory:
    os: OSInfo | None = None
    packages: list[Package] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _removed(path: str, whiteouts: Iterable[str], opaque: Iterable[str]) -> bool:
    return any(_under(path, w) for w in whiteouts) or any(path.startswith(o + "/") for o in opaque)


def _carry(new: Package, old: Package | None) -> Package:
    """The same package at the same version in a rewritten database: it keeps the layer that introduced
    it and, when this layer does not name them, its licenses (dpkg's copyright files live in the layer
    that installed the package, not in every layer that rewrites `status`)."""
    if old is None:
        return new
    return dataclasses.replace(
        new, layer_digest=old.layer_digest or new.layer_digest, licenses=new.licenses or old.licenses
    )


def _mark_owned(packages: list[Package], owned_by_db: dict[str, list[tuple[str, str]]]) -> list[Package]:
    # The OS lists name every file the OS packages installed (~100k in a fat image); only the evidence
    # paths of language packages are looked up, so only those enter the map (a later list still wins).
    wanted = {p.path for p in packages if not p.type.is_os and not p.owner}
    owner_of = {path: owner for pairs in owned_by_db.values() for owner, path in pairs if path in wanted}
    if not owner_of:
        return packages
    return [
        dataclasses.replace(p, owner=owner_of[p.path])
        if not p.type.is_os and not p.owner and p.path in owner_of
        else p
        for p in packages
    ]


def fold(layers: Sequence[LayerAnalysis], restamp: OsRestamper | None = None) -> Inventory:
    inv = Inventory()
    # database path → packages currently provided by it
    by_db: dict[str, list[Package]] = {}
    # OS file list → (owner, path) pairs it names
    owned_by_db: dict[str, list[tuple[str, str]]] = {}
    files: dict[str, FileRecord] = {}
    # state findings (baseline) by the path they describe; findings without a path are image-wide
    state: dict[str, list[Finding]] = {}
    for layer in layers:
        result = layer.result
        if layer.whiteouts or layer.opaque_dirs:
            for db in [p for p in by_db if _removed(p, layer.whiteouts, layer.opaque_dirs)]:
                del by_db[db]
            for db in [p for p in owned_by_db if _removed(p, layer.whiteouts, layer.opaque_dirs)]:
                del owned_by_db[db]
            for path in [p for p in files if _removed(p, layer.whiteouts, layer.opaque_dirs)]:
                del files[path]
            for path in [p for p in state if p and _removed(p, layer.whiteouts, layer.opaque_dirs)]:
                del state[path]
        for path in result.observed:
            state.pop(path, None)
        fresh: dict[str, list[Package]] = {}
        for pkg in result.packages:
            fresh.setdefault(pkg.path, []).append(pkg)
        for db, pkgs in fresh.items():
            earlier = {(p.key, p.version): p for p in by_db.get(db, [])}
            by_db[db] = [_carry(p, earlier.get((p.key, p.version))) for p in pkgs]
        fresh_owned: dict[str, list[tuple[str, str]]] = {}
        for db, owner, path in result.owned:
            fresh_owned.setdefault(db, []).append((owner, path))
        owned_by_db.update(fresh_owned)
        for rec in result.files:
            files[rec.path] = rec
        if result.os is not None:
            inv.os = result.os
        for finding in result.findings:
            if finding.kind is FindingKind.BASELINE:
                state.setdefault(finding.path, []).append(finding)
            else:
                inv.findings.append(finding)
        inv.skipped.extend(result.skipped)
        inv.warnings.extend(layer.warnings)
    inv.findings.extend(f for found in state.values() for f in found)
    packages = _mark_owned([p for pkgs in by_db.values() for p in pkgs], owned_by_db)
    if inv.os is None:
        # No layer has a release file: distroless Debian is recognised by its dpkg status.d records.
        inv.os = infer_os(packages)
    if restamp is not None and inv.os is not None:
        packages = restamp(packages, inv.os)
    inv.packages = sorted(packages, key=lambda p: (p.type.value, p.name, p.version, p.path))
    inv.files = sorted(files.values(), key=lambda f: f.path)
    return inv
