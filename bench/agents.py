"""Agent inventory reports on PostgreSQL: many hosts reporting overlapping images.

H hosts each report M images (a shared base set plus host-specific ones) and C running containers,
through `services.agents.report` (what `PUT /agent/inventory` runs). Measured: the first report of each
host (creates images, links, containers, recounts), an unchanged re-report, and a report with one image
removed and one added. Baseline in the same run: bulk-inserting the same number of `image_hosts` rows
with one executemany — the floor for "write the links at all".

    python bench/agents.py                       # 40 hosts x 2,000 images, 50 containers each
    python bench/agents.py --hosts 10 --images 500
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from bench.common import record  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

from openhss.config import Settings  # noqa: E402
from openhss.db.engine import transaction  # noqa: E402
from openhss.db.models import Host, ImageHost  # noqa: E402
from openhss.domain.inventory import HostInfo, HostInventory, LocalContainer, LocalImage  # noqa: E402
from openhss.services import agents, identity  # noqa: E402
from openhss.services.identity import Scope  # noqa: E402
from openhss.services.runtime import open_runtime  # noqa: E402

ADMIN_URL = os.environ.get("OPENHSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROJECT = "benchagents000000001"


def inventory(host: int, images: int, containers: int, shared: float) -> HostInventory:
    n_shared = int(images * shared)
    ids = [f"sha256:{n:064x}" for n in range(n_shared)]
    ids += [f"sha256:{(host + 1) * 10_000_000 + n:064x}" for n in range(images - n_shared)]
    imgs = [LocalImage(i, (f"docker.io/bench/app{i[-8:]}:1",), (), 1000) for i in ids]
    cons = [LocalContainer(f"c{host}-{n}", ids[n % len(ids)], f"app-{n}") for n in range(containers)]
    return HostInventory(imgs, cons)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--shared", type=float, default=0.6)
    args = ap.parse_args()
    name = f"openhss_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        with tempfile.TemporaryDirectory() as tmp:
            rt = open_runtime(Settings(data_dir=Path(tmp), database_url=url))
            with transaction(rt.sessions) as s:
                identity.create_project(s, "bench", PROJECT)
            scope = Scope(PROJECT, None)
            invs = [inventory(h, args.images, args.containers, args.shared) for h in range(args.hosts)]
            first, again, change = [], [], []
            for h, inv in enumerate(invs):
                with transaction(rt.sessions) as s:
                    agents.register(s, scope, HostInfo(f"bench-{h}", f"ecs-{h}", f"node-{h}"))
                t0 = time.perf_counter()
                agents.report(rt.sessions, rt.settings, scope, f"bench-{h}", inv)
                first.append(time.perf_counter() - t0)
            for h, inv in enumerate(invs):
                t0 = time.perf_counter()
                agents.report(rt.sessions, rt.settings, scope, f"bench-{h}", inv)
                again.append(time.perf_counter() - t0)
            for h, inv in enumerate(invs):
                moved = HostInventory(
                    [*inv.images[1:], LocalImage(f"sha256:{h + 99_000_000:064x}", ("x/new:1",))],
                    inv.containers[1:],
                )
                t0 = time.perf_counter()
                agents.report(rt.sessions, rt.settings, scope, f"bench-{h}", moved)
                change.append(time.perf_counter() - t0)
            # Baseline: the same number of link rows, one bulk insert per host, nothing else.
            with transaction(rt.sessions) as s:
                extra = Host(project_id=PROJECT, agent_id="baseline", host_name="baseline")
                s.add(extra)
                s.flush()
                pks = [
                    pk
                    for (pk,) in s.execute(
                        text("SELECT id FROM images ORDER BY id LIMIT :n"), {"n": args.images}
                    )
                ]
                hpk = extra.id
            t0 = time.perf_counter()
            with transaction(rt.sessions) as s:
                s.execute(insert(ImageHost), [{"image_pk": pk, "host_pk": hpk} for pk in pks])
            baseline = time.perf_counter() - t0
            with transaction(rt.sessions) as s:
                n_images = s.scalar(text("SELECT count(*) FROM images")) or 0
                shared_ok = s.scalar(
                    text("SELECT count(*) FROM images WHERE host_num = :h"), {"h": args.hosts}
                )
            rt.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    def p50(xs: list[float]) -> float:
        return statistics.median(xs)

    figures = {
        "hosts": args.hosts,
        "images_per_host": args.images,
        "containers_per_host": args.containers,
        "images_total": n_images,
        "images_on_every_host": shared_ok,
        "first_report_p50_s": round(p50(first), 4),
        "first_report_max_s": round(max(first), 4),
        "unchanged_report_p50_s": round(p50(again), 4),
        "one_change_report_p50_s": round(p50(change), 4),
        "baseline_bulk_insert_links_s": round(baseline, 4),
        "unchanged_vs_baseline": round(p50(again) / baseline, 2) if baseline else None,
    }
    print(f"{'measure':34} value")
    for k, v in figures.items():
        print(f"{k:34} {v}")
    record("agents", figures)


if __name__ == "__main__":
    main()
