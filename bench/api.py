"""GET /v5/{project_id}/vulnerability/images on PostgreSQL at scale, through HTTP.

Bulk-loads N images and M image-vulnerability index rows with COPY into a throw-away database, then
measures p50/p99 of the first page and of a deep page (offset 100,000 or the last page when fewer rows
match), and runs a fixed-rate load (default 200 req/s for 30 s) counting errors.

    python bench/api.py                      # 100,000 images, 10,000,000 rows (takes minutes to load)
    python bench/api.py --images 10000 --rows 1000000
"""

from __future__ import annotations

import sys
from pathlib import Path

# Keep bench/ off the import path (a script name must never shadow a module) and put the repo on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from tests.support.server import live_server  # noqa: E402

from openhss.api.app import create_app  # noqa: E402
from openhss.config import Settings  # noqa: E402
from openhss.services.runtime import bootstrap_admin, open_runtime  # noqa: E402

ADMIN_URL = os.environ.get("OPENHSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROJECT = "benchproject00000001"
PASSWORD = "bench-admin-" + "password"
HOT = "CVE-2024-HOT0"


def load(url: str, images: int, rows: int) -> int:
    """COPY images and index rows; returns how many images the hot CVE hits."""
    engine = create_engine(url)
    per_image = max(1, rows // images)
    pool = [f"CVE-2023-{n:05d}" for n in range(20_000)]
    rng = random.Random(7)
    t0 = time.perf_counter()
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            with cur.copy(
                "COPY images (project_id, enterprise_project_id, image_type, image_id, image_digest,"
                " image_name,"
                " image_version, local_image_type, registry_name, registry_type, organization, cluster_id,"
                " cluster_name, agent_id, image_size, is_multi_arch, latest_update_time, scan_status,"
                " scan_failed_desc, first_scan_time, latest_scan_time, vul_num, unsafe_setting_num,"
                " malicious_file_num, component_num, host_num, container_num, severity_level) FROM STDIN"
            ) as cp:
                for i in range(images):
                    cp.write_row(
                        (
                            PROJECT,
                            "0",
                            "local",
                            f"sha256:{i:064x}",
                            f"sha256:{i + 1:064x}",
                            f"app-{i % 500}/svc",
                            str(i % 50),
                            "other_image",
                            "",
                            "",
                            "",
                            "cce-1" if i % 3 == 0 else "",
                            "",
                            f"agent-{i % 999}",
                            100_000_000,
                            False,
                            1_700_000_000_000,
                            "success",
                            "",
                            1_700_000_000_000,
                            1_700_000_000_000,
                            per_image,
                            0,
                            0,
                            300,
                            1,
                            i % 4,
                            "High",
                        )
                    )
            cur.execute("SELECT min(id) FROM images")
            first = cur.fetchone()[0]  # type: ignore[index]
            with cur.copy(
                "COPY vul_image_index (project_id, enterprise_project_id, vul_id, vul_type, image_pk,"
                " image_type,"
                " repair_necessity, status, handled) FROM STDIN"
            ) as cp:
                for i in range(images):
                    pk = first + i
                    chosen = {HOT}
                    while len(chosen) < per_image:
                        chosen.add(pool[rng.randrange(len(pool))])
                    for vid in chosen:
                        cp.write_row(
                            (PROJECT, "0", vid, "linux_vul", pk, "local", "High", "vul_status_unfix", False)
                        )
        conn.commit()
        conn.execute(text("ANALYZE images"))
        conn.execute(text("ANALYZE vul_image_index"))
        conn.commit()
        n = conn.execute(text("SELECT count(*) FROM vul_image_index")).scalar_one()
    engine.dispose()
    print(f"loaded {images:,} images and {n:,} index rows in {time.perf_counter() - t0:.0f} s")
    return images


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def measure(client: httpx.Client, path: str, n: int) -> tuple[float, float, int]:
    times = []
    total = 0
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        total = r.json()["total_num"]
    return statistics.median(times), percentile(times, 0.99), total


async def load_test(
    base: str, headers: dict[str, str], path: str, rate: int, seconds: int
) -> tuple[int, int, float]:
    errors = 0
    done = 0
    lat: list[float] = []
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as client:

        async def one() -> None:
            nonlocal errors, done
            t = time.perf_counter()
            try:
                r = await client.get(path)
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            lat.append((time.perf_counter() - t) * 1000)
            done += 1

        tasks = []
        start = time.perf_counter()
        for i in range(rate * seconds):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return done, errors, percentile(lat, 0.99) if lat else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()

    name = f"openhss_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        settings = Settings(
            data_dir=Path(tempfile.mkdtemp()),
            database_url=url,
            admin_password=PASSWORD,  # type: ignore[arg-type]
            default_project_id=PROJECT,
        )
        rt = open_runtime(settings)
        bootstrap_admin(rt)
        hits = load(url, args.images, args.rows)
        with live_server(create_app(settings, rt)) as base:
            body = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {"name": "admin", "password": PASSWORD}},
                    },
                    "scope": {"project": {"id": PROJECT}},
                }
            }
            token = httpx.post(base + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
            headers = {"X-Auth-Token": token}
            q = f"/v5/{PROJECT}/vulnerability/images?vul_id={HOT}&type=linux_vul&image_type=local"
            q += "&is_handled=false"
            deep = min(100_000, hits - 10)
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                measure(client, q + "&offset=0&limit=10", 20)  # warm-up
                p50, p99, total = measure(client, q + "&offset=0&limit=10", args.samples)
                print(f"first page      : p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (total_num {total:,})")
                p50d, p99d, _ = measure(client, q + f"&offset={deep}&limit=10", args.samples)
                print(f"offset {deep:>7,}  : p50 {p50d:6.1f} ms  p99 {p99d:6.1f} ms")
                p50f, p99f, totf = measure(client, q + "&offset=0&limit=10&cluster_id=cce-1", args.samples)
                print(f"cluster filter  : p50 {p50f:6.1f} ms  p99 {p99f:6.1f} ms  (total_num {totf:,})")
            done, errors, p99l = asyncio.run(
                load_test(base, headers, q + "&offset=0&limit=10", args.rate, args.seconds)
            )
            print(
                f"load {args.rate} req/s x {args.seconds} s: {done:,} requests, {errors} errors,"
                f" p99 {p99l:.1f} ms"
            )
        rt.engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
