"""Re-match at fleet scale on PostgreSQL: N stored inventories, an advisory change touching 1 % of them.

Corpus: `--variants` distinct inventories (this machine's first 200 real dpkg packages, Debian 12, plus
one application package of its own per variant), stored for `--images` images as the executor stores
them (`image_inventories`: zstd blob + advisory key lines). The images of two disjoint sets of variants,
1 % of the fleet each, also hold the results a scan against the first advisory set wrote (findings,
index, apps, summary: one real `record_scan` per variant, copied per image in SQL).

Two advisory changes of the same size, one per set (a new advisory on each touched variant's own
package), are imported and re-matched:
- baseline: `rematch.rematch(..., whole=True)`, the previous algorithm (each touched image's whole
  inventory matched again and all its rows rewritten, image by image);
- openhss: `rematch.rematch(...)` (only touched packages matched, their rows, the index and summaries
  rewritten in batch statements, touched inventories found by PostgreSQL's GIN index).

Usage: python bench/rematch.py [--images 100000] [--variants 1000] [--percent 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sqlalchemy import insert, select, text

from common import record, table
from fleet import _database, _drop
from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ImageApp, ImageVulnerability, VulImageIndex
from openhss.db.scheduling import ImageInventory
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.analyzers.os.dpkg import parse_status
from openhss.scan.applier import Inventory
from openhss.scan.cache import INVENTORY_CODEC, encode_inventory
from openhss.services import dispatch, rematch, results
from openhss.services.runtime import bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService

PROJECT = "rematchbench00000000"
OS = OSInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm")


def _variants(count: int) -> list[Inventory]:
    with open("/var/lib/dpkg/status", "rb") as f:
        base = parse_status(f, "/var/lib/dpkg/status")[:200]
    return [
        Inventory(os=OS, packages=[*base, Package(f"benchapp{v}", "1.0", Ecosystem.PYPI, PackageType.PYTHON,
                                                  path=f"/app/benchapp{v}-1.0.dist-info")])
        for v in range(count)
    ]  # fmt: skip


def _feed(path: Path, sources: list[str], apps: range) -> Path:
    """Debian advisories on `sources` (every image's findings) plus one advisory per variant in `apps`."""
    docs: list[dict[str, Any]] = [
        {"id": f"BENCH-DEB-{i}", "modified": "2024-01-01T00:00:00Z",
         "affected": [{"package": {"ecosystem": "Debian:12", "name": s},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}
        for i, s in enumerate(sources)
    ]  # fmt: skip
    docs += [
        {"id": f"BENCH-APP-{v}", "modified": "2024-01-01T00:00:00Z",
         "affected": [{"package": {"ecosystem": "PyPI", "name": f"benchapp{v}"},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}
        for v in apps
    ]  # fmt: skip
    with zipfile.ZipFile(path, "w") as zf:
        for d in docs:
            zf.writestr(f"{d['id']}.json", json.dumps(d))
    return path


def _copy_results(conn: Any, template: int, targets: list[int]) -> None:
    """The template image's stored results, for each target image (what its own scan would have written)."""
    for model in (ImageVulnerability, VulImageIndex, ImageApp):
        cols = [c.name for c in model.__table__.columns if c.name not in ("id", "image_pk")]
        names = ", ".join(cols)
        conn.execute(
            text(
                f"INSERT INTO {model.__tablename__} ({names}, image_pk)"  # noqa: S608
                f" SELECT {', '.join('t.' + c for c in cols)}, i.id FROM {model.__tablename__} t"
                " CROSS JOIN images i WHERE t.image_pk = :t AND i.id = ANY(:ids)"
            ),
            {"t": template, "ids": targets},
        )
    conn.execute(
        text(
            "UPDATE images SET vul_num = t.vul_num, severity_level = t.severity_level,"
            " component_num = t.component_num, scan_status = t.scan_status FROM images t"
            " WHERE t.id = :t AND images.id = ANY(:ids)"
        ),
        {"t": template, "ids": targets},
    )


def _find_touched(rt: Any, changed: set[tuple[str, str]]) -> dict[str, float]:
    """Finding the touched inventories: the previous way (every inventory's key lines read in pages of
    200 and tested in Python) against PostgreSQL's GIN index (`rematch._touched`), same keys, same data."""
    wanted = sorted(f"{e}\t{n}" for e, n in changed)
    want = set(wanted)
    t = time.perf_counter()
    last, found = 0, 0
    while True:
        with transaction(rt.sessions) as s:
            rows = s.execute(
                select(ImageInventory.image_pk, ImageInventory.codec, ImageInventory.keys)
                .where(ImageInventory.image_pk > last)
                .order_by(ImageInventory.image_pk)
                .limit(200)
            ).all()
        if not rows:
            break
        last = rows[-1][0]
        found += sum(1 for _pk, c, k in rows if c == INVENTORY_CODEC and not want.isdisjoint(k.split("\n")))
    python = time.perf_counter() - t
    t = time.perf_counter()
    with transaction(rt.sessions) as s:
        _checked, touched, _next = rematch._touched(s, wanted, 0)
    gin = time.perf_counter() - t
    assert len(touched) == found, (len(touched), found)
    return {"python_key_scan_seconds": round(python, 2), "gin_index_seconds": round(gin, 3), "found": found}


def run(root: Path, images: int, variants: int, percent: float) -> dict[str, Any]:
    url = _database()
    try:
        settings = Settings(data_dir=root, database_url=url, default_project_id=PROJECT)
        rt = open_runtime(settings)
        bootstrap_admin(rt)
        dispatch.set_sender(None)
        service = VulnDbService.from_settings(settings)
        invs = _variants(variants)
        sources = sorted({p.source_name or p.name for p in invs[0].packages if p.type is PackageType.DEB})[
            :60
        ]
        per_set = max(1, round(variants * percent / 100))
        sets = {"whole": range(0, per_set), "partial": range(per_set, 2 * per_set)}
        feed = root / "advisories.zip"
        service.import_paths([_feed(feed, sources, range(0))])

        t = time.perf_counter()
        stored = [
            (
                encode_inventory(i.os, i.packages),
                "\n".join(sorted(f"{e}\t{n}" for e, n in rematch.rematch_keys(i))),
            )
            for i in invs
        ]
        step = 20_000
        with transaction(rt.sessions) as s:
            for lo in range(0, images, step):
                s.execute(insert(Image), [
                    {"project_id": PROJECT, "image_type": "local", "image_id": f"sha256:{n:064x}",
                     "image_name": f"fleet/r{n}", "image_version": "1.0"}
                    for n in range(lo, min(images, lo + step))
                ])  # fmt: skip
            pks = list(s.scalars(select(Image.id).order_by(Image.id)))
        for lo in range(0, images, step):
            with transaction(rt.sessions) as s:
                s.execute(insert(ImageInventory), [
                    {"image_pk": pk, "codec": INVENTORY_CODEC, "blob": stored[n % variants][0],
                     "keys": stored[n % variants][1], "updated_at": 0}
                    for n, pk in enumerate(pks[lo : lo + step], start=lo)
                ])  # fmt: skip
        matcher = service.matcher()
        with rt.engine.begin() as conn:
            for v in [*sets["whole"], *sets["partial"]]:
                targets = [pk for n, pk in enumerate(pks) if n % variants == v]
                with transaction(rt.sessions) as s:
                    results.record_scan(s, targets[0], invs[v], matcher(invs[v]))
                _copy_results(conn, targets[0], targets[1:])
        with rt.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        load = time.perf_counter() - t
        print(f"loaded {images} inventories ({variants} distinct) and results in {load:.1f} s", flush=True)

        out: dict[str, Any] = {"images": images, "variants": variants, "packages_each": len(invs[0].packages),
                               "load_seconds": round(load, 1)}  # fmt: skip
        applied = range(0)
        for name in ("whole", "partial"):
            applied = range(0, sets[name].stop)
            sync = service.import_paths([_feed(feed, sources, applied)])
            matcher = rt.matchers.get()
            with transaction(rt.sessions) as s:
                run_pk = rematch.create_rematch_run(s, sync.changed).id
            started = time.perf_counter()
            report = rematch.rematch(rt.sessions, run_pk, matcher, whole=name == "whole")
            seconds = time.perf_counter() - started
            out[name] = {
                "changed_keys": len(sync.changed),
                "checked": report.checked,
                "rematched": report.rematched,
                "newly_affected": len(report.newly_affected),
                "seconds": round(seconds, 2),
                "inventories_per_second": round(report.checked / seconds),
                "touched_images_per_second": round(report.rematched / seconds),
            }
            print(f"{name}: {out[name]}", flush=True)
            if name == "partial":
                out["find_touched"] = _find_touched(rt, sync.changed)
                print(f"finding touched inventories: {out['find_touched']}", flush=True)
        out["speedup"] = round(out["whole"]["seconds"] / max(out["partial"]["seconds"], 1e-6), 1)
        rt.engine.dispose()
        return out
    finally:
        _drop(url)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--variants", type=int, default=1_000)
    ap.add_argument("--percent", type=float, default=1.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="openhss-rematch-"))
    try:
        fig = run(root, args.images, args.variants, args.percent)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    w, p = fig["whole"], fig["partial"]
    print(
        table(
            [
                [
                    "whole inventories (baseline)",
                    w["rematched"],
                    w["seconds"],
                    w["touched_images_per_second"],
                    1.0,
                ],
                [
                    "touched packages (openhss)",
                    p["rematched"],
                    p["seconds"],
                    p["touched_images_per_second"],
                    fig["speedup"],
                ],
            ],
            [f"re-match, {fig['images']} stored inventories", "touched", "seconds", "touched/s", "speedup"],
        )
    )
    f = fig["find_touched"]
    print(
        f"finding the {f['found']} touched of {fig['images']} inventories: key lines tested in Python"
        f" (previous) {f['python_key_scan_seconds']} s, GIN index {f['gin_index_seconds']} s"
        " (the baseline row above already uses the index)"
    )
    print(f"goal: {fig['images']} inventories in <= 60 s on PostgreSQL; openhss {p['seconds']} s")
    record("rematch", fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
