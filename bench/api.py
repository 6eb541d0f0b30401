"""GET /v5/{project_id}/vulnerability/images on PostgreSQL at scale, through HTTP, against a real server.

Generates N images and M image-vulnerability index rows inside PostgreSQL (INSERT … SELECT over
generate_series into a throw-away database, indexes dropped during the load and built afterwards, then
VACUUM ANALYZE), starts `uvicorn --workers W` in a subprocess, and measures:

- p50/p99 of the first page for every documented filter of the page (and all of them at once), and of
  a deep page (offset 100,000), sequentially, authenticated, with the exact `total_num`;
- baselines of the same run: each case's bare SQL through psycopg (the database floor), the previous
  schema's counting join to `images` for the image filters, and `/health` (the HTTP floor);
- `--explain`: the access-path lines of `EXPLAIN (ANALYZE, BUFFERS)` of each case's count and page;
- bounded open-loop loads (the first page; every case round robin): requests are issued on a fixed
  schedule (default 300 req/s for 20 s) whether or not earlier ones have answered, at most `--inflight`
  outstanding, each with a timeout; it prints achieved req/s, errors, late starts and percentiles.

    python bench/api.py                          # 100,000 images, 10,000,000 index rows
    python bench/api.py --images 10000 --rows 1000000 --explain
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
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402
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
#: Every image has the hot vulnerability; a quarter are registry images (Harbor, three registries),
#: two thirds run in one of two clusters, names come from 500 repositories, severities cycle.
IMAGES_SQL = """
INSERT INTO images (project_id, enterprise_project_id, image_type, image_id, image_digest, image_name,
    image_version, local_image_type, registry_name, registry_type, organization, cluster_id, cluster_name,
    agent_id, image_size, is_multi_arch, latest_update_time, scan_status, scan_failed_desc,
    first_scan_time, latest_scan_time, vul_num, unsafe_setting_num, malicious_file_num, component_num,
    host_num, container_num, severity_level, source_ref)
SELECT %(p)s, '0', CASE WHEN i %% 4 = 3 THEN 'registry' ELSE 'local' END,
    'sha256:' || lpad(to_hex(i), 64, '0'), 'sha256:' || lpad(to_hex(i + 1), 64, '0'),
    'app-' || (i %% 500) || '/svc', (i %% 50)::text, 'other_image',
    CASE WHEN i %% 4 = 3 THEN 'harbor-' || (i %% 3) ELSE '' END,
    CASE WHEN i %% 4 = 3 THEN 'Harbor' ELSE '' END, '',
    CASE WHEN i %% 3 <> 2 THEN 'cce-' || (i %% 2) ELSE '' END, CASE WHEN i %% 3 <> 2 THEN 'prod' ELSE '' END,
    'agent-' || (i %% 999), 100000000, false, 1700000000000, 'success', '', 1700000000000, 1700000000000,
    %(per)s, 0, 0, 300, 1, i %% 4, 'High', ''
FROM generate_series(0, %(n)s - 1) AS i
"""
#: k = 0 is the hot vulnerability; k > 0 walks the 20,000-id pool with a stride coprime to it, so an
#: image's ids are distinct. About 5 % of the cold pairs are handled. The copied image attributes are
#: filled in the same statement (what the insert trigger would write, without a per-row function call).
INDEX_SQL = """
INSERT INTO vul_image_index (project_id, enterprise_project_id, vul_id, vul_type, image_pk, image_type,
    repair_necessity, status, handled, image_id, image_name, registry_name, registry_type, cluster_id)
SELECT im.project_id, im.enterprise_project_id,
    CASE WHEN k = 0 THEN %(hot)s
         ELSE 'CVE-2023-' || lpad(((im.id::bigint * 7919 + k * 4729) %% 20000)::text, 5, '0') END,
    'linux_vul', im.id, im.image_type, (ARRAY['Low', 'Medium', 'High', 'Critical'])[1 + (im.id + k) %% 4],
    CASE WHEN h THEN 'vul_status_ignored' ELSE 'vul_status_unfix' END, h,
    im.image_id, im.image_name, im.registry_name, im.registry_type, im.cluster_id
FROM images im CROSS JOIN generate_series(0, %(per)s - 1) AS k
CROSS JOIN LATERAL (SELECT k > 0 AND (im.id * 31 + k * 17) %% 20 = 0 AS h) AS f
WHERE im.project_id = %(p)s
"""


COUNT_KEY = "project_id, enterprise_project_id, vul_id, vul_type, image_type, handled"


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def load(url: str, images: int, rows: int) -> dict[str, Any]:
    """Generate images and index rows inside PostgreSQL (generate_series, no rows cross the wire) with
    the index table's indexes and the copy trigger off, then rebuild the indexes and VACUUM ANALYZE."""
    per_image = max(1, rows // images)
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
        cur.execute("SET work_mem = '256MB'")
        cur.execute(IMAGES_SQL, {"p": PROJECT, "n": images, "per": per_image})
        t_images = time.perf_counter() - t0
        # The copy and count triggers are off for the bulk insert (a per-row function call, a 10 M-row
        # transition table): the statement writes the copies itself, and the counts are written below
        # the way migration 0008 backfills them.
        cur.execute("ALTER TABLE vul_image_index DISABLE TRIGGER USER")
        try:
            cur.execute(INDEX_SQL, {"p": PROJECT, "hot": HOT, "per": per_image})
        finally:
            cur.execute("ALTER TABLE vul_image_index ENABLE TRIGGER USER")
        cur.execute(
            f"INSERT INTO vul_index_counts ({COUNT_KEY}, n)"
            f" SELECT {COUNT_KEY}, count(*) FROM vul_image_index GROUP BY {COUNT_KEY}"
        )
        t_copy = time.perf_counter() - t0
        cur.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cur.execute(definition)
        for name, definition in constraints:
            cur.execute(f'ALTER TABLE vul_image_index ADD CONSTRAINT "{name}" {definition}')
        t_index = time.perf_counter() - t0
        cur.execute("VACUUM ANALYZE images")
        cur.execute("VACUUM ANALYZE vul_image_index")
        cur.execute("VACUUM ANALYZE vul_index_counts")
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
    "project_id = %(p)s AND vul_id = %(v)s AND vul_type = 'linux_vul' AND image_type = %(it)s"
    " AND handled = false AND enterprise_project_id = '0'"
)
SAMPLE_IMAGE_ID = "sha256:" + f"{1000:x}".rjust(64, "0")


@dataclass(frozen=True)
class Case:
    """One documented filter of ListVulAffectImages on the hot vulnerability: its query parameters, and
    its condition as bare SQL on the index row (this schema) and on the image (the previous schema)."""

    label: str
    image_type: str
    params: dict[str, str]
    index_sql: str
    image_sql: str


CASES = (
    Case("no filter", "local", {}, "", ""),
    Case("repair_necessity", "local", {"repair_necessity": "Critical"}, "repair_necessity = 'Critical'",
         "v.repair_necessity = 'Critical'"),
    Case("status", "local", {"status": "vul_status_unfix"}, "status = 'vul_status_unfix'",
         "v.status = 'vul_status_unfix'"),
    Case("image_id", "local", {"image_id": SAMPLE_IMAGE_ID},
         f"image_pk IN (SELECT id FROM images WHERE project_id = %(p)s AND image_id = '{SAMPLE_IMAGE_ID}')"
         f" AND image_id = '{SAMPLE_IMAGE_ID}'",
         f"i.image_id = '{SAMPLE_IMAGE_ID}'"),
    Case("image_name", "local", {"image_name": "app-7"}, "image_name LIKE '%%app-7%%'",
         "i.image_name LIKE '%%app-7%%'"),
    Case("registry_name", "registry", {"registry_name": "harbor-1"}, "registry_name = 'harbor-1'",
         "i.registry_name = 'harbor-1'"),
    Case("registry_type", "registry", {"registry_type": "Harbor"}, "registry_type = 'Harbor'",
         "i.registry_type = 'Harbor'"),
    Case("cluster_id", "local", {"cluster_id": "cce-1"}, "cluster_id = 'cce-1'", "i.cluster_id = 'cce-1'"),
    Case("all six", "registry",
         {"repair_necessity": "High", "image_name": "app-", "registry_name": "harbor-1",
          "registry_type": "Harbor", "cluster_id": "cce-1", "status": "vul_status_unfix"},
         "repair_necessity = 'High' AND image_name LIKE '%%app-%%' AND registry_name = 'harbor-1'"
         " AND registry_type = 'Harbor' AND cluster_id = 'cce-1' AND status = 'vul_status_unfix'",
         "v.repair_necessity = 'High' AND i.image_name LIKE '%%app-%%' AND i.registry_name = 'harbor-1'"
         " AND i.registry_type = 'Harbor' AND i.cluster_id = 'cce-1' AND v.status = 'vul_status_unfix'"),
)  # fmt: skip


def case_path(case: Case, offset: int = 0) -> str:
    q = f"/v5/{PROJECT}/vulnerability/images?vul_id={HOT}&type=linux_vul&image_type={case.image_type}"
    q += "&is_handled=false&limit=10&offset=" + str(offset)
    return q + "".join(f"&{k}={v}" for k, v in case.params.items())


def index_statements(case: Case, offset: int) -> tuple[str, str]:
    """This schema's count and page for the case, the textbook way: an index-only COUNT(*) of the key's
    filtered range, an index-only OFFSET walk of it, then the page's index and image rows."""
    where = KEY_SQL + (f" AND {case.index_sql}" if case.index_sql else "")
    return (
        f"SELECT count(*) FROM vul_image_index WHERE {where}",
        f"SELECT v.*, i.* FROM (SELECT image_pk FROM vul_image_index WHERE {where}"
        f" ORDER BY image_pk OFFSET {offset} LIMIT 10) k"
        " JOIN vul_image_index v ON v.image_pk = k.image_pk AND v.project_id = %(p)s"
        " AND v.vul_id = %(v)s AND v.vul_type = 'linux_vul'"
        " JOIN images i ON i.id = k.image_pk ORDER BY k.image_pk",
    )


def join_statements(case: Case) -> tuple[str, str]:
    """The previous schema's answer: image filters only on `images`, so count and page join the key's
    whole range to it (what the service ran before migration 0019)."""
    where = " AND ".join(f"v.{c}" for c in KEY_SQL.split(" AND ")) + f" AND {case.image_sql}"
    keys = f"FROM vul_image_index v JOIN images i ON i.id = v.image_pk WHERE {where}"
    return (
        f"SELECT count(*) FROM (SELECT v.image_pk {keys}) c",
        f"SELECT v.*, i.* {keys} ORDER BY v.image_pk LIMIT 10",
    )


def measure_sql(url: str, statements: tuple[str, ...], image_type: str, n: int) -> tuple[float, float]:
    times = []
    args = {"p": PROJECT, "v": HOT, "it": image_type}
    with psycopg.connect(_pg(url), autocommit=True) as conn:
        for _ in range(n):
            t = time.perf_counter()
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql, args)  # type: ignore[arg-type]
                    cur.fetchall()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), percentile(times, 0.99)


def explain(url: str, case: Case) -> list[str]:
    """`EXPLAIN (ANALYZE, BUFFERS)` of the case's count and page: the lines that show the access path."""
    keep = ("Scan", "Heap Fetches", "Buffers", "Execution Time", "Rows Removed")
    out = []
    args = {"p": PROJECT, "v": HOT, "it": case.image_type}
    with psycopg.connect(_pg(url), autocommit=True) as conn, conn.cursor() as cur:
        for what, sql in zip(("count", "page"), index_statements(case, 0), strict=True):
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, args)  # type: ignore[arg-type]
            lines = [str(r[0]).strip() for r in cur.fetchall()]
            out += [f"  {case.label} {what}: {ln}" for ln in lines if any(k in ln for k in keep)][:8]
    return out


async def open_loop(
    base: str, headers: dict[str, str], paths: list[str], rate: int, seconds: int, inflight: int
) -> dict[str, Any]:
    """Fixed-schedule load, bounded in time (seconds + timeout) and in outstanding requests; request i
    asks for paths[i % len(paths)]."""
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

        async def one(path: str) -> None:
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
                if time.perf_counter() - start > seconds:
                    break  # the server fell behind the schedule: stop sending, report what was sent
            await gate.acquire()
            tasks.append(asyncio.create_task(one(paths[i % len(paths)])))
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
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sql-samples", type=int, default=50)
    ap.add_argument("--old-samples", type=int, default=5, help="samples of the previous schema's join")
    ap.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) key lines")
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
        deep = min(100_000, hits - 10)
        first = case_path(CASES[0])
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for case in CASES:  # warm-up (both workers, caches)
                measure(client, case_path(case), 10)
            measure(client, case_path(CASES[0], deep), 30)
            h50, h99, _ = measure(client, "/health", args.samples)
            print(f"baseline /health (HTTP + DB ping): p50 {h50:6.1f} ms  p99 {h99:6.1f} ms")
            figures["health"] = {"p50_ms": round(h50, 1), "p99_ms": round(h99, 1)}
            print(
                f"{'filter':<17} {'API p50':>8} {'API p99':>8} {'total_num':>10} | {'SQL p50':>8}"
                f" {'SQL p99':>8} | {'old join p50':>12} {'p99':>8}"
            )
            for case in CASES:
                p50, p99, total = measure(client, case_path(case), args.samples)
                s50, s99 = measure_sql(url, index_statements(case, 0), case.image_type, args.sql_samples)
                fig: dict[str, Any] = {
                    "p50_ms": round(p50, 1),
                    "p99_ms": round(p99, 1),
                    "total_num": total,
                    "sql_p50_ms": round(s50, 1),
                    "sql_p99_ms": round(s99, 1),
                }
                old = ""
                if case.image_sql:
                    o50, o99 = measure_sql(url, join_statements(case), case.image_type, args.old_samples)
                    fig |= {"old_join_p50_ms": round(o50, 1), "old_join_p99_ms": round(o99, 1)}
                    old = f" | {o50:12.1f} {o99:8.1f}"
                print(f"{case.label:<17} {p50:8.1f} {p99:8.1f} {total:10,} | {s50:8.1f} {s99:8.1f}{old}")
                figures[case.label] = fig
            p50, p99, total = measure(client, case_path(CASES[0], deep), args.samples)
            s50, s99 = measure_sql(url, index_statements(CASES[0], deep), "local", args.sql_samples)
            label = f"offset {deep:,}"
            print(f"{label:<17} {p50:8.1f} {p99:8.1f} {total:10,} | {s50:8.1f} {s99:8.1f}")
            figures[label] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "total_num": total}
            figures[label] |= {"sql_p50_ms": round(s50, 1), "sql_p99_ms": round(s99, 1)}
        if args.explain:
            for case in CASES:
                print("\n".join(explain(url, case)))
        for label, paths in (
            ("first page", [first]),
            ("every filter, round robin", [case_path(c) for c in CASES]),
        ):
            load_figs = asyncio.run(open_loop(base, headers, paths, args.rate, args.seconds, args.inflight))
            print(
                f"open loop {label}, {args.rate} req/s x {args.seconds} s ({args.workers} workers):"
                f" {load_figs['requests']:,} requests, achieved {load_figs['achieved_rps']} req/s,"
                f" {load_figs['errors']} errors"
                f" {load_figs['error_kinds'] or ''}, {load_figs['late_starts']} late starts,"
                f" p50 {load_figs['p50_ms']} ms, p99 {load_figs['p99_ms']} ms"
            )
            figures[f"open_loop {label}"] = {"rate": args.rate, "seconds": args.seconds, **load_figs}
        print(f"load average: {os.getloadavg()}")
        figures["loadavg"] = os.getloadavg()
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
