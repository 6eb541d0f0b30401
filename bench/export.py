"""Export 1,000,000 local-image vulnerability rows from PostgreSQL: wall time and peak RSS.

Generates N rows (1,000 vulnerabilities per image) inside a throw-away PostgreSQL database
(generate_series), then runs each export in a child process (peak RSS is that process's own
`ru_maxrss`):

- `cursor`    — the baseline floor: the export statement's tuples read through the same server-side
  cursor, nothing built (the database's and driver's share);
- `stream`    — the rows as the writers get them (`iter_values`: one layout-ordered tuple per row);
- `xlsx`      — `services.exports.write_export`, the worker's and CLI's path (streaming XLSX writer);
- `csv`       — the same with `fmt="csv"`;
- `xlsxwriter`— the baseline: the same rows into XlsxWriter in `constant_memory` mode, on fewer rows
  (`--baseline-rows`, it is several times slower) and compared by rows per second.

Goal: the XLSX export of 1M rows in under 60 s and 200 MB.

    python bench/export.py                        # 1,000,000 rows, baseline on 200,000
    python bench/export.py --rows 200000 --baseline-rows 50000
"""

from __future__ import annotations

import sys
from pathlib import Path

# Keep bench/ off the import path (a script name must never shadow a module) and put the repo on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.insert(0, str(_HERE))

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import zipfile  # noqa: E402

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from common import measure, record, table  # noqa: E402
from openhss.config import Settings  # noqa: E402
from openhss.db.engine import transaction  # noqa: E402
from openhss.services import identity  # noqa: E402
from openhss.services.identity import Scope  # noqa: E402
from openhss.services.images import ImageFilter  # noqa: E402
from openhss.services.runtime import open_runtime  # noqa: E402

ADMIN_URL = os.environ.get("OPENHSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PROJECT = "benchexport000000001"
PER_IMAGE = 1000


IMAGES_SQL = """
INSERT INTO images (project_id, enterprise_project_id, image_type, image_id, image_digest, image_name,
    image_version, local_image_type, registry_name, registry_type, organization, cluster_id, cluster_name,
    agent_id, image_size, is_multi_arch, latest_update_time, scan_status, scan_failed_desc,
    first_scan_time, latest_scan_time, vul_num, unsafe_setting_num, malicious_file_num, component_num,
    host_num, container_num, severity_level, source_ref)
SELECT %(p)s, '0', 'local', 'sha256:' || lpad(to_hex(i), 64, '0'), 'sha256:' || lpad(to_hex(i + 1), 64, '0'),
    'team-' || (i %% 50) || '/svc-' || i, '1.' || (i %% 20), 'other_image', '', '', '', '', '',
    'agent-' || i, 100000000, false, %(at)s, 'success', '', %(at)s, %(at)s, %(per)s, 0, 0, 300, 1, 0,
    'High', ''
FROM generate_series(0, %(n)s - 1) AS i
"""
#: PER_IMAGE rows per image (the last image takes the remainder), values cycling as a scan's would.
VULS_SQL = """
INSERT INTO image_vulnerabilities (project_id, image_pk, vul_id, vul_type, repair_necessity,
    severity_rank, cvss_score, app_name, app_version, app_path, app_type, fixed_version, layer_digest,
    description, status, first_found_time)
SELECT %(p)s, im.id, 'CVE-2024-' || lpad(j::text, 5, '0'), 'linux_vul',
    (ARRAY['Low', 'Medium', 'High', 'Critical'])[1 + j %% 4], j %% 4 + 1, 7.5, 'lib' || (j %% 300),
    '1.' || (j %% 7) || '.' || (j %% 11) || '-1', 'var/lib/dpkg/status', 'deb',
    CASE WHEN j %% 3 <> 0 THEN '1.' || (j %% 7) || '.' || (j %% 11 + 1) || '-1' ELSE '' END,
    'sha256:' || lpad(to_hex(j %% 9), 64, '0'),
    'An out-of-bounds read in lib' || (j %% 300) || ' allows remote attackers to crash it.',
    'vul_status_unfix', %(at)s
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM images WHERE project_id = %(p)s) AS im
CROSS JOIN generate_series(0, %(per)s - 1) AS j
WHERE im.n * %(per)s + j < %(rows)s
"""


def load(url: str, rows: int) -> None:
    """Generate the images and finding rows inside PostgreSQL (generate_series; nothing crosses the
    wire), then ANALYZE: seconds for a million rows."""
    images = max(1, -(-rows // PER_IMAGE))
    args = {"p": PROJECT, "n": images, "per": PER_IMAGE, "rows": rows, "at": 1_700_000_000_000}
    t0 = time.perf_counter()
    pg = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(pg, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(IMAGES_SQL, args)
        cur.execute(VULS_SQL, args)
        cur.execute("VACUUM ANALYZE images")
        cur.execute("VACUUM ANALYZE image_vulnerabilities")
        cur.execute("SELECT count(*) FROM image_vulnerabilities")
        total = cur.fetchone()[0]  # type: ignore[index]
    print(f"loaded {images:,} images and {total:,} vulnerability rows in {time.perf_counter() - t0:.0f} s")


def child(mode: str, url: str, out: str, rows: int) -> None:
    """One export in this (child) process; prints the number of rows written."""
    from openhss.services import exports

    started = time.perf_counter()
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url)
    rt = open_runtime(settings, migrate_schema=False)
    scope = Scope(PROJECT, None)
    q = exports.VulExport(image_filter=ImageFilter(), operate_all=True)
    if mode in ("xlsx", "csv"):
        written = exports.write_export(rt.sessions, scope, q, rows, mode, Path(out))
    elif mode == "cursor":
        # The floor: the same statement's tuples through the same server-side cursor, nothing built.
        stmt = exports.vul_rows(scope, q).limit(rows).execution_options(yield_per=5000)
        with rt.sessions() as session:
            written = sum(len(p) for p in session.connection().execute(stmt).partitions())
    elif mode == "stream":
        with rt.sessions() as session:
            written = sum(1 for _ in exports.iter_values(session, scope, q, rows))
    else:
        written = _xlsxwriter(rt, scope, q, rows, Path(out))
    print(written, f"{time.perf_counter() - started:.2f}")


def _xlsxwriter(rt: object, scope: Scope, q: object, rows: int, path: Path) -> int:
    import xlsxwriter

    from openhss.exports.layouts import LOCAL_VULNERABILITY
    from openhss.exports.tabular import cell
    from openhss.services import exports

    columns = LOCAL_VULNERABILITY.columns
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    sheet = workbook.add_worksheet(LOCAL_VULNERABILITY.sheet)
    header = workbook.add_format({"bold": True})
    for i, col in enumerate(columns):
        sheet.set_column(i, i, col.width)
        sheet.write_string(0, i, col.title, header)
    count = 0
    with rt.sessions() as session:  # type: ignore[attr-defined]
        for count, row in enumerate(exports.iter_values(session, scope, q, rows), start=1):  # type: ignore[arg-type]
            for i, raw in enumerate(row):
                value = cell(raw)
                if isinstance(value, str):
                    sheet.write_string(count, i, value)
                else:
                    sheet.write_number(count, i, value)
    workbook.close()
    return count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=200_000)
    ap.add_argument("--child", nargs=4, metavar=("MODE", "URL", "OUT", "ROWS"))
    args = ap.parse_args()
    if args.child:
        mode, url, out, rows = args.child
        child(mode, url, out, int(rows))
        return

    name = f"openhss_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    work = Path(tempfile.mkdtemp(prefix="openhss-export-bench-"))
    try:
        rt = open_runtime(Settings(data_dir=work, database_url=url))
        with transaction(rt.sessions) as s:
            identity.create_project(s, "bench", PROJECT)
        rt.engine.dispose()
        load(url, args.rows)
        load_avg = os.getloadavg()[0]
        results = []
        plan = [
            ("cursor", args.rows, None),
            ("stream", args.rows, None),
            ("xlsx", args.rows, work / "out.xlsx"),
            ("csv", args.rows, work / "out.csv"),
            ("xlsxwriter", min(args.baseline_rows, args.rows), work / "baseline.xlsx"),
        ]
        for mode, n, out in plan:
            run = measure(
                [sys.executable, str(Path(__file__).resolve()), "--child", mode, url, str(out or "-"), str(n)]
            )
            if run.returncode != 0:
                raise SystemExit(f"{mode} export failed")
            written_text, inside_text = run.stdout.decode().split()[-2:]
            written, inside = int(written_text), float(inside_text)
            size = out.stat().st_size if out is not None else 0
            if out is not None and out.suffix == ".xlsx":
                with zipfile.ZipFile(out) as zf:
                    assert zf.testzip() is None
            results.append((mode, written, run.seconds, inside, run.max_rss_mb, size))
            if out is not None:
                out.unlink()
        rate = {m: w / inside for m, w, _, inside, _, _ in results}
        rows_out = [
            [
                m,
                f"{w:,}",
                f"{s:.1f}",
                f"{inside:.1f}",
                f"{w / inside:,.0f}",
                f"{rss:.0f}",
                f"{size / 1e6:.0f}",
            ]
            for m, w, s, inside, rss, size in results
        ]
        header = ["mode", "rows", "wall s", "export s", "rows/s", "peak RSS MB", "file MB"]
        print(table(rows_out, header))
        print("wall s: the whole child process, interpreter start-up included; export s: inside it")
        ratio = rate["xlsx"] / rate["xlsxwriter"]
        print(f"streaming XLSX writer vs XlsxWriter constant_memory: {ratio:.1f}x the rows per second")
        print(f"load average (1 min) during the run: {load_avg:.1f} on {os.cpu_count()} cores")
        xlsx = next(r for r in results if r[0] == "xlsx")
        met = xlsx[2] < 60 and xlsx[4] < 200
        print(
            f"goal < 60 s and < 200 MB for {args.rows:,} rows: "
            f"{'met' if met else 'NOT met'} ({xlsx[2]:.1f} s wall, {xlsx[4]:.0f} MB)"
        )
        record(
            "export",
            {
                "rows": args.rows,
                "baseline_rows": min(args.baseline_rows, args.rows),
                "load_avg_1m": round(load_avg, 1),
                "xlsx_vs_xlsxwriter_rows_per_s": round(ratio, 2),
                **{
                    f"{m}_{k}": round(v, 1)
                    for m, _, s, inside, rss, _ in results
                    for k, v in (("wall_seconds", s), ("export_seconds", inside), ("peak_rss_mb", rss))
                },
            },
        )
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
