"""GET /v5/{project_id}/vulnerability/images on PostgreSQL at scale, through HTTP, against a real server.

Bulk-loads N images and M image-vulnerability index rows with COPY into a throw-away database (indexes
dropped during the load and built afterwards, then VACUUM ANALYZE), starts `uvicorn --workers W` in a
subprocess, and measures:

- p50/p99 of the first page and of the deepest page (offset 100,000, or the last page when the hot
  vulnerability hits fewer images), sequentially, authenticated;
- the same page's SQL run directly through psycopg (the database floor) and `/health` (the HTTP floor),
  as baselines of the same run, with the API's ratio to them;
- a bounded open-loop load: requests are issued on a fixed schedule (default 200 req/s for 20 s) whether
  or not earlier ones have answered, at most `--inflight` outstanding, each with a timeout; it prints
  achieved req/s, errors, late starts and latency percentiles.

    python bench/api.py                          # 100,000 images, 10,000,000 index rows
    python bench/api.py --images 10000 --rows 1000000
"""

# ruff: noqa: S608  (SQL here is assembled from module constants; values are bound parameters)
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
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import psycopg  # noqa: E402
from bench.common import record  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from tests.support.server import free_port  # noqa: E402

from openhss.config import Settings  # noqa: E402
from openhss.services.runtime import bootstrap_admin, open_runtime  # noqa: E402

ADMIN_URL = os.environ.get("OPENHSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROJECT = "benchproject00000001"
PASSWORD = "bench-admin-" + "password"
HOT = "CVE-2024-HOT0"
IMAGE_COLUMNS = (
    "project_id, enterprise_project_id, image_type, image_id, image_digest, image_name, image_version,"
    " local_image_type, registry_name, registry_type, organization, cluster_id, cluster_name, agent_id,"
    " image_size, is_multi_arch, latest_update_time, scan_status, scan_failed_desc, first_scan_time,"
    " latest_scan_time, vul_num, unsafe_setting_num, malicious_file_num, component_num, host_num,"
    " container_num, severity_level"
)
INDEX_COLUMNS = (
    "project_id, enterprise_project_id, vul_id, vul_type, image_pk, image_type, repair_necessity, status,"
    " handled"
)


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def load(url: str, images: int, rows: int) -> dict[str, Any]:
    """COPY images and index rows with the index table's indexes dropped, then rebuild them."""
    per_image = max(1, rows // images)
    pool = [f"CVE-2023-{n:05d}" for n in range(20_000)]
    rng = random.Random(7)
    t0 = time.perf_counter()
    with psycopg.connect(_pg(url), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'vul_image_index'::regclass AND contype IN ('u', 'f')"
        )
        constraints = cur.fetchall()
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'vul_image_index'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'vul_image_index'::regclass)"
        )
        indexes = cur.fetchall()
        for name, _ in constraints:
            cur.execute(f'ALTER TABLE vul_image_index DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        with cur.copy(f"COPY images ({IMAGE_COLUMNS}) FROM STDIN") as cp:
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
                        "prod" if i % 3 == 0 else "",
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
        t_images = time.perf_counter() - t0
        with cur.copy(f"COPY vul_image_index ({INDEX_COLUMNS}) FROM STDIN") as cp:
            for i in range(images):
                pk = first + i
                chosen = {HOT}
                while len(chosen) < per_image:
                    chosen.add(pool[rng.randrange(len(pool))])
                block = []
                for vid in chosen:
                    handled = vid != HOT and rng.random() < 0.05
                    status, flag = ("vul_status_ignored", "t") if handled else ("vul_status_unfix", "f")
                    block.append(f"{PROJECT}\t0\t{vid}\tlinux_vul\t{pk}\tlocal\tHigh\t{status}\t{flag}\n")
                cp.write("".join(block))
        t_copy = time.perf_counter() - t0
        cur.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cur.execute(definition)
        for name, definition in constraints:
            cur.execute(f'ALTER TABLE vul_image_index ADD CONSTRAINT "{name}" {definition}')
        t_index = time.perf_counter() - t0
        cur.execute("VACUUM ANALYZE images")
        cur.execute("VACUUM ANALYZE vul_image_index")
        cur.execute("SELECT count(*) FROM vul_image_index")
        n = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("SELECT count(*) FROM vul_image_index WHERE vul_id = %s", (HOT,))
        hits = cur.fetchone()[0]  # type: ignore[index]
    total = time.perf_counter() - t0
    print(
        f"loaded {images:,} images and {n:,} index rows: images {t_images:.0f} s, index rows"
        f" {t_copy - t_images:.0f} s, indexes {t_index - t_copy:.0f} s, vacuum {total - t_index:.0f} s"
    )
    return {"images": images, "rows": n, "hits": hits, "load_s": round(total, 1)}


def counted(url: str) -> dict[str, Any]:
    with psycopg.connect(_pg(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM vul_image_index)")
        images, rows = cur.fetchone()  # type: ignore[misc]
        cur.execute("SELECT count(*) FROM vul_image_index WHERE vul_id = %s", (HOT,))
        hits = cur.fetchone()[0]  # type: ignore[index]
    print(f"reusing {images:,} images and {rows:,} index rows")
    return {"images": images, "rows": rows, "hits": hits, "load_s": None}


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
        total = r.json().get("total_num", 0)
    return statistics.median(times), percentile(times, 0.99), total


KEY_SQL = (
    "project_id = %(p)s AND vul_id = %(v)s AND vul_type = 'linux_vul' AND image_type = 'local'"
    " AND handled = false AND enterprise_project_id = '0'"
)


def measure_sql(url: str, offset: int, n: int) -> tuple[float, float]:
    """Baseline: the same page as plain SQL, straight through psycopg, the textbook way: an index-only
    COUNT(*) and an index-only OFFSET walk of the same covering index, then the page's rows."""
    times = []
    args = {"p": PROJECT, "v": HOT, "o": offset}
    with psycopg.connect(_pg(url), autocommit=True) as conn:
        for _ in range(n):
            t = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(f"SELECT count(*) FROM vul_image_index WHERE {KEY_SQL}", args)
                cur.fetchone()
                cur.execute(
                    f"SELECT v.*, i.* FROM (SELECT image_pk FROM vul_image_index WHERE {KEY_SQL}"
                    " ORDER BY image_pk OFFSET %(o)s LIMIT 10) k"
                    " JOIN vul_image_index v ON v.image_pk = k.image_pk AND v.project_id = %(p)s"
                    " AND v.vul_id = %(v)s AND v.vul_type = 'linux_vul'"
                    " JOIN images i ON i.id = k.image_pk ORDER BY k.image_pk",
                    args,
                )
                cur.fetchall()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), percentile(times, 0.99)


async def open_loop(
    base: str, headers: dict[str, str], path: str, rate: int, seconds: int, inflight: int
) -> dict[str, Any]:
    """Fixed-schedule load, bounded in time (seconds + timeout) and in outstanding requests."""
    errors = 0
    late = 0
    statuses: dict[str, int] = {}
    lat: list[float] = []
    gate = asyncio.Semaphore(inflight)
    async with httpx.AsyncClient(
        base_url=base,
        headers=headers,
        timeout=10,
        limits=httpx.Limits(max_connections=inflight, max_keepalive_connections=inflight),
    ) as client:

        async def one() -> None:
            nonlocal errors
            try:
                t = time.perf_counter()
                r = await client.get(path)
                lat.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    errors += 1
                    statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as exc:
                errors += 1
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            finally:
                gate.release()

        tasks = []
        start = time.perf_counter()
        for i in range(rate * seconds):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                late += 1
            await gate.acquire()
            tasks.append(asyncio.create_task(one()))
        # Bounded in time too: whatever has not answered 10 s after the last send is cancelled.
        _, pending = await asyncio.wait(tasks, timeout=10)
        for t in pending:
            t.cancel()
        unfinished = len(pending)
        errors += unfinished
        if unfinished:
            statuses["unfinished"] = unfinished
        elapsed = time.perf_counter() - start
    return {
        "requests": len(tasks),
        "errors": errors,
        "error_kinds": statuses,
        "late_starts": late,
        "achieved_rps": round(len(tasks) / elapsed, 1),
        "p50_ms": round(percentile(lat, 0.50), 1) if lat else 0.0,
        "p99_ms": round(percentile(lat, 0.99), 1) if lat else 0.0,
    }


def start_server(url: str, data_dir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "OPENHSS_DATABASE_URL": url,
            "OPENHSS_DATA_DIR": str(data_dir),
            "OPENHSS_DEFAULT_PROJECT_ID": PROJECT,
            "OPENHSS_ADMIN_PASSWORD": PASSWORD,
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "openhss.api.asgi:app_from_environment",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sql-samples", type=int, default=50)
    ap.add_argument(
        "--keep", action="store_true", help="keep the loaded database and print its name (for --reuse)"
    )
    ap.add_argument("--reuse", metavar="DATABASE", help="measure a database an earlier --keep run loaded")
    args = ap.parse_args()

    name = args.reuse or f"openhss_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    proc: subprocess.Popen[bytes] | None = None
    figures: dict[str, Any] = {}
    try:
        data_dir = Path(tempfile.mkdtemp())
        settings = Settings(
            data_dir=data_dir,
            database_url=url,
            admin_password=PASSWORD,  # type: ignore[arg-type]
            default_project_id=PROJECT,
        )
        rt = open_runtime(settings)
        bootstrap_admin(rt)
        rt.engine.dispose()
        figures["data"] = counted(url) if args.reuse else load(url, args.images, args.rows)
        hits = int(figures["data"]["hits"])
        proc, base = start_server(url, data_dir, args.workers)
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
            measure(client, q + "&offset=0&limit=10", 30)  # warm-up (both workers, caches)
            measure(client, q + f"&offset={deep}&limit=10", 30)
            rows = []
            for label, path, offset in (
                ("first page", q + "&offset=0&limit=10", 0),
                (f"offset {deep:,}", q + f"&offset={deep}&limit=10", deep),
            ):
                p50, p99, total = measure(client, path, args.samples)
                s50, s99 = measure_sql(url, offset, args.sql_samples)
                rows.append((label, p50, p99, total, s50, s99))
            h50, h99, _ = measure(client, "/health", args.samples)
            p50f, p99f, totf = measure(client, q + "&offset=0&limit=10&cluster_id=cce-1", args.samples)
        print(f"baseline /health (HTTP + DB ping): p50 {h50:6.1f} ms  p99 {h99:6.1f} ms")
        for label, p50, p99, total, s50, s99 in rows:
            print(
                f"{label:<15}: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (total_num {total:,});"
                f" SQL alone p50 {s50:5.1f} ms p99 {s99:5.1f} ms; API/SQL p99 {p99 / s99:4.2f}x,"
                f" API/health p99 {p99 / h99:4.2f}x"
            )
            figures[label] = {
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "total_num": total,
                "sql_p50_ms": round(s50, 1),
                "sql_p99_ms": round(s99, 1),
            }
        print(f"cluster filter : p50 {p50f:6.1f} ms  p99 {p99f:6.1f} ms  (total_num {totf:,})")
        figures["cluster filter"] = {"p50_ms": round(p50f, 1), "p99_ms": round(p99f, 1), "total_num": totf}
        figures["health"] = {"p50_ms": round(h50, 1), "p99_ms": round(h99, 1)}
        load_figs = asyncio.run(
            open_loop(base, headers, q + "&offset=0&limit=10", args.rate, args.seconds, args.inflight)
        )
        print(
            f"open loop {args.rate} req/s x {args.seconds} s ({args.workers} workers):"
            f" {load_figs['requests']:,} requests, achieved {load_figs['achieved_rps']} req/s,"
            f" {load_figs['errors']} errors"
            f" {load_figs['error_kinds'] or ''}, {load_figs['late_starts']} late starts,"
            f" p50 {load_figs['p50_ms']} ms, p99 {load_figs['p99_ms']} ms"
        )
        figures["open_loop"] = {"rate": args.rate, "seconds": args.seconds, **load_figs}
        record("api", figures)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep or args.reuse:
            print(f"database kept: --reuse {name}")
        else:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
