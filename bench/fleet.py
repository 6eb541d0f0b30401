"""Fleet throughput: scans per hour through the real executor, with the shared layer cache vs without,
and re-match of 10,000 stored inventories after an advisory update.

Corpus: N images (default 200) built from 10 distinct base layers (this machine's real dpkg database,
os-release and a slice of /usr/bin, plus a per-base marker) and one small app layer per image, all in
one OCI layout. Two `openhss worker` processes (concurrency 1 each) on Redis and a fresh PostgreSQL
database scan them through the same path the API uses (a bulk scan task). Baseline of the same run: the
identical corpus and workers with `scans.layer_cache=false`.

Re-match: 10,000 `image_inventories` rows (the real inventory of one scanned image) re-matched against
an advisory set changed on two package keys, on SQLite (the fleet-scale figure on PostgreSQL, against the
whole-inventory algorithm, is `bench/rematch.py`).

Usage: python bench/fleet.py [--images N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sqlalchemy import create_engine, func, insert, select, text

from common import record, table
from corpus import LayerInput, _write_layer, tree
from openhss.config import ScanSettings, Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTask, ScanTaskImage
from openhss.db.scheduling import ImageInventory
from openhss.domain.enums import ScanScope
from openhss.services import dispatch, rematch, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService
from openhss.worker.app import install

PG_ADMIN = os.environ.get("OPENHSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("OPENHSS_TEST_REDIS", "redis://127.0.0.1:6379/14")
PROJECT = "fleetbench0000000000"
BASES = 10


def _base_tree(root: Path, i: int) -> Path:
    d = root / f"base{i}"
    (d / "etc").mkdir(parents=True)
    shutil.copy("/etc/os-release", d / "etc/os-release")
    (d / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", d / "var/lib/dpkg/status")
    (d / "usr/bin").mkdir(parents=True)
    bins = sorted(p for p in Path("/usr/bin").iterdir() if p.is_file() and not p.is_symlink())
    for p in bins[i * 7 : i * 7 + 12]:
        shutil.copy(p, d / "usr/bin" / p.name)
    (d / "etc/base-id").write_text(f"base {i}\n")
    return d


def build_corpus(root: Path, images: int) -> list[str]:
    """One OCI layout holding every image (bases stored once); returns the tags."""
    out = root / "oci"
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    src = root / "src"
    bases = []
    for i in range(BASES):
        digest, diff_id, size = _write_layer(LayerInput(f"base {i}", tree(_base_tree(src, i))), blobs, 1)
        bases.append((digest, diff_id, size))
    manifests = []
    tags = []
    for n in range(images):
        app = src / f"app{n}"
        (app / "app").mkdir(parents=True)
        (app / "app" / "main.py").write_text(f"print('app {n}')\n")
        a_digest, a_diff, a_size = _write_layer(LayerInput(f"app {n}", tree(app)), blobs, 1)
        b_digest, b_diff, b_size = bases[n % BASES]

        def put(doc: dict[str, object]) -> tuple[str, int]:
            data = json.dumps(doc, sort_keys=True).encode()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            (blobs / digest.split(":")[1]).write_bytes(data)
            return digest, len(data)

        cfg = put(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["python3", "/app/main.py"], "User": "1000"},
                "rootfs": {"type": "layers", "diff_ids": [b_diff, a_diff]},
                "history": [{"created_by": "ADD base /"}, {"created_by": "COPY app /app"}],
            }
        )
        layer = "application/vnd.oci.image.layer.v1.tar+gzip"
        man = put(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": cfg[0],
                    "size": cfg[1],
                },
                "layers": [
                    {"mediaType": layer, "digest": b_digest, "size": b_size},
                    {"mediaType": layer, "digest": a_digest, "size": a_size},
                ],
            }
        )
        tag = f"app{n}"
        tags.append(tag)
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": man[0],
                "size": man[1],
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        )
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return tags


def _database() -> str:
    name = f"openhss_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop(url: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def fleet_run(root: Path, oci: Path, tags: list[str], *, cache: bool) -> dict[str, float]:
    url = _database()
    data = root / f"data-{'cache' if cache else 'nocache'}"
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(
        data_dir=data,
        database_url=url,
        broker_url=REDIS,
        queue_prefix=prefix,
        default_project_id=PROJECT,
        scans=ScanSettings(layer_cache=cache, sweep_interval_seconds=5),
    )
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    install(settings)
    env = {
        **os.environ,
        "OPENHSS_DATA_DIR": str(data),
        "OPENHSS_DATABASE_URL": url,
        "OPENHSS_BROKER_URL": REDIS,
        "OPENHSS_QUEUE_PREFIX": prefix,
        "OPENHSS_SCANS__LAYER_CACHE": "true" if cache else "false",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "openhss.cli", "worker", "--concurrency", "1", "--pool", "solo"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        with transaction(rt.sessions) as s:
            s.execute(
                insert(Image),
                [
                    {"project_id": PROJECT, "image_type": "local", "image_id": f"sha256:{n:064x}",
                     "image_name": f"fleet/{t}", "image_version": "1.0", "source_ref": f"oci:{oci}:{t}"}
                    for n, t in enumerate(tags)
                ],
            )  # fmt: skip
        time.sleep(8)  # let both workers finish starting (their start-up is not scan throughput)
        started = time.perf_counter()
        with transaction(rt.sessions) as s:
            scan_tasks.create_task(
                s,
                Scope(PROJECT, None),
                image_type="local",
                is_all=True,
                scan_scope=int(ScanScope.ALL & ~ScanScope.VULNERABILITY),
                settings=rt.settings.scans,
            )
        while True:
            with transaction(rt.sessions) as s:
                left = s.scalar(
                    select(func.count()).where(ScanTaskImage.status.in_(("waiting_for_scan", "scanning")))
                )
            if not left:
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        with transaction(rt.sessions) as s:
            task = s.scalars(select(ScanTask)).one()
            ok, failed = task.success_num, task.failed_num
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait(10)
        import redis

        client = redis.Redis.from_url(REDIS)
        stale = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if stale:
            client.delete(*stale)
        client.close()
        dispatch.set_sender(None)
        rt.engine.dispose()
        _drop(url)
    return {
        "seconds": round(seconds, 2),
        "images_per_hour": round(len(tags) / seconds * 3600),
        "ok": ok,
        "failed": failed,
    }


def rematch_bench(root: Path, oci: Path, tag: str, count: int = 10_000) -> dict[str, float]:
    """10,000 stored inventories (one real image's, repeated), two advisory keys changed."""
    settings = Settings(data_dir=root / "rematch", default_project_id=PROJECT)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    dispatch.set_sender(None)
    from openhss.scan.refs import parse_ref
    from openhss.scan.sources.base import SourceOptions
    from openhss.services.scanning import build_pipeline, scan_image

    report = scan_image(
        parse_ref(f"oci:{oci}:{tag}"), SourceOptions(), build_pipeline(ScanScope.SOFTWARE_COMPLIANCE)
    )
    from openhss.scan.applier import Inventory
    from openhss.scan.cache import INVENTORY_CODEC, encode_inventory

    debs = [p for p in report.packages if p.source_name]
    targets = sorted({p.source_name for p in debs})[:2]
    inv = Inventory(os=report.os, packages=list(report.packages))
    without = Inventory(os=report.os, packages=[p for p in report.packages if p.source_name not in targets])
    # One in ten stored images carries the packages the advisory change is about (a realistic daily update
    # touches a minority); each inventory is stored with its re-match keys, as the executor stores it.
    variants = [
        (
            encode_inventory(i.os, i.packages),
            "\n".join(sorted(f"{e}\t{n}" for e, n in rematch.rematch_keys(i))),
        )
        for i in (inv, without)
    ]
    zpath = root / "adv.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i, name in enumerate(targets):
            affected = {
                "package": {"ecosystem": "Debian:12", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
            doc = {"id": f"BENCH-{i}", "modified": "2024-01-01T00:00:00Z", "affected": [affected]}
            zf.writestr(f"{i}.json", json.dumps(doc))
    sync = VulnDbService.from_settings(settings).import_paths([zpath])
    with transaction(rt.sessions) as s:
        s.execute(
            insert(Image),
            [
                {
                    "project_id": PROJECT,
                    "image_type": "local",
                    "image_id": f"sha256:{n:064x}",
                    "image_name": f"r{n}",
                }
                for n in range(count)
            ],
        )
        pks = list(s.scalars(select(Image.id)))
        s.execute(
            insert(ImageInventory),
            [
                {
                    "image_pk": pk,
                    "codec": INVENTORY_CODEC,
                    "blob": variants[0 if n % 10 == 0 else 1][0],
                    "keys": variants[0 if n % 10 == 0 else 1][1],
                    "updated_at": 0,
                }
                for n, pk in enumerate(pks)
            ],
        )
    matcher = rt.matchers.get()
    with transaction(rt.sessions) as s:
        run_pk = rematch.create_rematch_run(s, sync.changed).id
    started = time.perf_counter()
    result = rematch.rematch(rt.sessions, run_pk, matcher)
    seconds = time.perf_counter() - started
    rt.engine.dispose()
    return {
        "inventories": count,
        "packages_each": len(report.packages),
        "changed_keys": len(sync.changed),
        "rematched": result.rematched,
        "newly_affected": len(result.newly_affected),
        "seconds": round(seconds, 2),
        "ms_per_rematched_image": round(seconds * 1000 / max(1, result.rematched), 1),
        "goal_seconds": 60,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--inventories", type=int, default=10_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="openhss-fleet-"))
    try:
        t = time.perf_counter()
        tags = build_corpus(root, args.images)
        print(
            f"corpus: {len(tags)} images, {BASES} bases, built in {time.perf_counter() - t:.1f} s", flush=True
        )
        oci = root / "oci"
        cached = fleet_run(root, oci, tags, cache=True)
        print(f"with layer cache: {cached}", flush=True)
        uncached = fleet_run(root, oci, tags, cache=False)
        print(f"without cache:    {uncached}", flush=True)
        rm = rematch_bench(root, oci, tags[0], args.inventories)
        ratio = round(cached["images_per_hour"] / max(1, uncached["images_per_hour"]), 2)
        print(
            table(
                [
                    ["scan, layer cache on", cached["seconds"], cached["images_per_hour"], ratio],
                    [
                        "scan, layer cache off (baseline)",
                        uncached["seconds"],
                        uncached["images_per_hour"],
                        1.0,
                    ],
                    [f"re-match {rm['inventories']} inventories", rm["seconds"], "-", "-"],
                ],
                ["run (2 workers)", "seconds", "images/hour", "ratio"],
            )
        )
        print(f"re-match: {rm}")
        record("fleet", {"images": len(tags), "bases": BASES, "cache": cached, "no_cache": uncached,
                         "cache_speedup": ratio, "rematch": rm})  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
