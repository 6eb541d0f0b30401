"""Fleet scheduling: fair lanes under a 10,000-image scan-all, unchanged rescans, throughput with the
shared layer cache vs without, and re-match of 10,000 stored inventories after an advisory update.

Fair lanes (`lanes`): a scan-all of 10,000 images (tiny real images of the corpus below, their layers
in the layer cache after the first scans) is queued through the service path (`scan_tasks.create_task`,
bulk lane) onto a real broker (Redis, then RabbitMQ) consumed by two `openhss worker` processes; while
that backlog runs, a manual scan of one image is queued the same way (manual lane) and the time until a
worker *starts* it (`scan_task_images.first_scan_time`, written by the worker's `start_job`) is measured,
five times. Baseline of the same run: the same manual scan on the idle queue. Goal: <= 5 s.

Unchanged rescan (`unchanged`): the corpus' small Debian image (a copy of its OCI layout) scanned once,
then rescanned: server-side wall time of `run_job`, bytes the worker process read (/proc/self/io
`rchar`, which counts file reads, not the database socket), rows added and `pg_total_relation_size`
growth. The rescan runs with the layer blobs removed from the copy and the layer cache off, so it can
only succeed if no layer is read. Baselines of the same run: the same rescan without a stored
fingerprint (the previous behaviour: layer cache on, every result row rewritten) and a cold full scan.
Goal: <= 0.2 s, 0 layer bytes, 0 DB bytes.

Corpus: N images (default 200) built from 10 distinct base layers (this machine's real dpkg database,
os-release and a slice of /usr/bin, plus a per-base marker) and one small app layer per image, all in
one OCI layout. Two `openhss worker` processes (concurrency 1 each) on Redis and a fresh PostgreSQL
database scan them through the same path the API uses (a bulk scan task). Baseline of the same run: the
identical corpus and workers with `scans.layer_cache=false`.

Re-match: 10,000 `image_inventories` rows (the real inventory of one scanned image) re-matched against
an advisory set changed on two package keys, on SQLite (the fleet-scale figure on PostgreSQL, against the
whole-inventory algorithm, is `bench/rematch.py`).

Queueing (`queueing`): the API request's time to create a scan-all of 10,000 images (no workers) on
Redis and on RabbitMQ, three ways in the same run: database only (no sender: the floor), the after-commit
messages sent one at a time (the baseline) and as one batch (`worker.app.make_batch_sender`, what the
service installs). Goal: about the database time.

Usage: python bench/fleet.py [--images N] [--parts queueing,lanes,unchanged,throughput,rematch]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sqlalchemy import create_engine, func, insert, select, text, update

from common import record, table
from corpus import LayerInput, _write_layer, tree
from openhss.config import ScanSettings, Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTask, ScanTaskImage, VulImageIndex
from openhss.db.scheduling import ImageInventory
from openhss.domain.enums import ACTIVE_SCAN_STATUSES, Ecosystem, ScanScope
from openhss.services import dispatch, rematch, scan_executor, scan_queue, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
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
                    {
                        "project_id": PROJECT,
                        "image_type": "local",
                        "image_id": f"sha256:{n:064x}",
                        "image_name": f"fleet/{t}",
                        "image_version": "1.0",
                        "source_ref": f"oci:{oci}:{t}",
                    }
                    for n, t in enumerate(tags)
                ],
            )
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


# --- fair lanes --------------------------------------------------------------------------------------

RABBIT = os.environ.get("OPENHSS_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
BULK_IMAGES = 10_000
MANUAL_SAMPLES = 5
IDLE_SAMPLES = 3


def _start_workers(env: dict[str, str], n: int = 2) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "openhss.cli", "worker", "--concurrency", "1", "--pool", "solo"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(n)
    ]


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        os.killpg(w.pid, signal.SIGTERM)
    for w in workers:
        try:
            w.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait(10)


def _purge_broker(broker: str, prefix: str, queues: list[str]) -> None:
    """Leave nothing of this run on the shared broker (the bulk backlog is still queued at the end)."""
    if broker.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker)
        stale = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if stale:
            client.delete(*stale)
        client.close()
        return
    from kombu import Connection  # type: ignore[attr-defined]

    with Connection(broker) as conn:  # type: ignore[no-untyped-call]
        channel = conn.channel()
        for name in queues:
            try:
                channel.queue_delete(name)
            except Exception:  # a queue no worker declared does not exist
                channel = conn.channel()


def _manual_start(rt: Runtime, image_id: str, timeout: float = 300.0) -> tuple[float, float]:
    """Queue a manual scan of one image; (seconds until a worker started it, until it finished)."""
    submitted = time.time() * 1000
    with transaction(rt.sessions) as s:
        task = scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=False,
            scan_scope=LANE_SCOPE,
            refs=[scan_tasks.ImageRefIn(image_id=image_id)],
            settings=rt.settings.scans,
        )
        assert task.lane == "manual", task.lane
        job = s.scalars(select(ScanTaskImage.id).where(ScanTaskImage.task_pk == task.id)).one()
    deadline = time.monotonic() + timeout
    started = 0.0
    while time.monotonic() < deadline:
        with transaction(rt.sessions) as s:
            status, first = s.execute(
                select(ScanTaskImage.status, ScanTaskImage.first_scan_time).where(ScanTaskImage.id == job)
            ).one()
        if first and not started:
            started = (first - submitted) / 1000
        if status not in ACTIVE_SCAN_STATUSES:
            return round(started, 3), round(time.time() - submitted / 1000, 3)
        time.sleep(0.02)
    raise RuntimeError(f"manual scan of {image_id} did not finish within {timeout:.0f} s")


def _progress(rt: Runtime, task_pk: int) -> tuple[int, int]:
    """(bulk jobs finished, bulk jobs still waiting) of the scan-all."""
    with transaction(rt.sessions) as s:
        rows = dict(
            s.execute(
                select(ScanTaskImage.status, func.count())
                .where(ScanTaskImage.task_pk == task_pk)
                .group_by(ScanTaskImage.status)
            ).all()
        )
    waiting = int(rows.get("waiting_for_scan", 0))
    return sum(int(n) for st, n in rows.items() if st not in ACTIVE_SCAN_STATUSES), waiting


#: What the lanes benchmark scans: everything but vulnerabilities (which would need an advisory DB
#: and add nothing to a scheduling figure).
LANE_SCOPE = int(ScanScope.ALL & ~ScanScope.VULNERABILITY)


def lanes_run(root: Path, oci: Path, tags: list[str], broker: str) -> dict[str, Any]:
    """A manual scan's start latency on an idle queue and during a 10,000-image scan-all."""
    url = _database()
    kind = broker.split(":", 1)[0]
    data = root / f"data-lanes-{kind}"
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(
        data_dir=data,
        database_url=url,
        broker_url=broker,
        queue_prefix=prefix,
        default_project_id=PROJECT,
        scans=ScanSettings(sweep_interval_seconds=60),
    )
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    install(settings)
    env = {
        **os.environ,
        "OPENHSS_DATA_DIR": str(data),
        "OPENHSS_DATABASE_URL": url,
        "OPENHSS_BROKER_URL": broker,
        "OPENHSS_QUEUE_PREFIX": prefix,
    }
    manual_id = f"sha256:{'f' * 64}"
    with transaction(rt.sessions) as s:
        s.execute(
            insert(Image),
            [
                {
                    "project_id": PROJECT,
                    "image_type": "local",
                    "image_id": f"sha256:{n:064x}",
                    "image_name": f"fleet/bulk{n}",
                    "image_version": "1.0",
                    "source_ref": f"oci:{oci}:{tags[n % len(tags)]}",
                }
                for n in range(BULK_IMAGES)
            ],
        )
    workers = _start_workers(env)
    from openhss.worker.app import queue_names

    try:
        # The manual image joins after the scan-all is created (so it is not one of its 10,000); until
        # then the idle baseline scans it under another image type, which the scan-all does not select.
        with transaction(rt.sessions) as s:
            s.add(
                Image(
                    project_id=PROJECT,
                    image_type="local",
                    image_id=manual_id,
                    image_name="fleet/manual",
                    image_version="1.0",
                    source_ref=f"oci:{oci}:{tags[0]}",
                )
            )
        _manual_start(rt, manual_id, timeout=600)  # workers up and warm (their start-up is not latency)
        idle = [_manual_start(rt, manual_id) for _ in range(IDLE_SAMPLES)]
        with transaction(rt.sessions) as s:
            s.execute(text("UPDATE images SET image_type = 'registry' WHERE image_id = :i"), {"i": manual_id})
        t = time.perf_counter()
        with transaction(rt.sessions) as s:
            bulk = scan_tasks.create_task(
                s,
                Scope(PROJECT, None),
                image_type="local",
                is_all=True,
                scan_scope=LANE_SCOPE,
                settings=rt.settings.scans,
            )
            bulk_pk, bulk_lane, bulk_total = bulk.id, bulk.lane, bulk.total_num
        queued_seconds = time.perf_counter() - t
        with transaction(rt.sessions) as s:
            s.execute(text("UPDATE images SET image_type = 'local' WHERE image_id = :i"), {"i": manual_id})
        while _progress(rt, bulk_pk)[0] < 20:  # the backlog is flowing through both workers
            time.sleep(0.2)
        during = []
        backlog = []
        for _ in range(MANUAL_SAMPLES):
            backlog.append(_progress(rt, bulk_pk)[1])
            during.append(_manual_start(rt, manual_id))
            time.sleep(1.0)
        done, waiting = _progress(rt, bulk_pk)
    finally:
        _stop_workers(workers)
        _purge_broker(broker, prefix, queue_names(settings))
        dispatch.set_sender(None)
        rt.engine.dispose()
        _drop(url)
    starts = [a for a, _ in during]
    idle_starts = [a for a, _ in idle]
    return {
        "broker": kind,
        "bulk_images": bulk_total,
        "bulk_lane": bulk_lane,
        "bulk_queue_seconds": round(queued_seconds, 2),
        "bulk_waiting_at_each_manual_scan": backlog,
        "bulk_done_at_end": done,
        "bulk_waiting_at_end": waiting,
        "manual_start_seconds_during_scan_all": starts,
        "manual_finish_seconds_during_scan_all": [b for _, b in during],
        "manual_start_seconds_idle": idle_starts,
        "manual_start_max_seconds": max(starts),
        "manual_start_idle_median_seconds": statistics.median(idle_starts),
        "goal_seconds": 5.0,
        "met": max(starts) <= 5.0,
    }


# --- unchanged rescan ----------------------------------------------------------------------------------

#: Tables a rescan writes by definition: the request (task and job rows) and the image row, whose scan
#: time it records. Everything else holds results, which an unchanged rescan must leave alone.
REQUEST_TABLES = ("scan_tasks", "scan_task_images", "images")


QUEUE_MODES = ("database only", "one at a time", "batch")


def _queue_once(root: Path, broker: str, images: int, mode: str) -> dict[str, Any]:
    """Queue a scan-all of `images` images (no workers) on a fresh database; time the request's work.

    `database only` installs no sender (the messages are dropped: what the request costs without
    sending), `one at a time` the single-message sender (the baseline: every message through the
    producer pool, each RabbitMQ publish waiting for its confirm), `batch` what `install` installs (a
    batch of `dispatch.BACKGROUND_AT` or more is sent by the background thread after the request).
    `seconds` is the request, `all_sent_seconds` until every message is on the broker.
    """
    from openhss.worker.app import make_celery, make_sender, queue_names

    url = _database()
    kind = broker.split(":", 1)[0]
    prefix = f"benchq{uuid.uuid4().hex[:8]}."
    settings = Settings(
        data_dir=root / f"data-queue-{kind}",
        database_url=url,
        broker_url=broker,
        queue_prefix=prefix,
        default_project_id=PROJECT,
        scans=ScanSettings(sweep_interval_seconds=60),
    )
    rt = open_runtime(settings)
    try:
        bootstrap_admin(rt)
        with transaction(rt.sessions) as s:
            s.execute(
                insert(Image),
                [
                    {
                        "project_id": PROJECT,
                        "image_type": "local",
                        "image_id": f"sha256:{n:064x}",
                        "image_name": f"fleet/q{n}",
                        "image_version": "1.0",
                        "source_ref": "oci:/nonexistent:x",
                    }
                    for n in range(images)
                ],
            )
        if mode == "batch":
            app = install(settings)
        else:
            app = make_celery(settings)
            dispatch.set_sender(make_sender(app, settings) if mode == "one at a time" else None)
        with app.connection_for_write() as conn:  # declare the queues first: not part of the request
            for name in queue_names(settings):
                conn.default_channel.queue_declare(name, durable=True, auto_delete=False)
        t = time.perf_counter()
        with transaction(rt.sessions) as s:
            scan_tasks.create_task(
                s,
                Scope(PROJECT, None),
                image_type="local",
                is_all=True,
                scan_scope=LANE_SCOPE,
                settings=rt.settings.scans,
            )
        seconds = time.perf_counter() - t
        if not dispatch.drain(timeout=600):
            raise RuntimeError("the background sender did not finish in 600 s")
        sent_seconds = time.perf_counter() - t
        bulk = prefix + scan_queue.LANES["bulk"]
        if broker.startswith("redis"):
            import redis

            client = redis.Redis.from_url(broker)
            queued = int(client.llen(prefix + bulk))
            client.close()
        else:
            with app.connection_for_write() as conn:
                queued = int(conn.default_channel.queue_declare(bulk, passive=True).message_count)
        return {
            "broker": kind,
            "mode": mode,
            "seconds": round(seconds, 2),
            "all_sent_seconds": round(sent_seconds, 2),
            "messages_on_broker": queued,
        }
    finally:
        dispatch.set_sender(None)
        _purge_broker(broker, prefix, queue_names(settings))
        rt.engine.dispose()
        _drop(url)


def queueing_run(root: Path, broker: str, images: int = BULK_IMAGES) -> list[dict[str, Any]]:
    """The request time of a scan-all of `images`: database only, one-at-a-time sending, batch."""
    return [_queue_once(root, broker, images, mode) for mode in QUEUE_MODES]


def _rchar() -> int:
    """Bytes this process read through read()-family calls (files, pipes; the PostgreSQL socket uses
    recv(), not counted)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no rchar line")


def _db_footprint(rt: Runtime) -> tuple[int, dict[str, int], int]:
    """(rows in result tables, bytes of each result table, bytes of the whole database)."""
    with transaction(rt.sessions) as s:
        names = [
            n
            for n in s.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            if n not in REQUEST_TABLES and n != "alembic_version"
        ]
        # Table names come from the catalogue, not from input.
        rows = sum(int(s.scalar(text(f'SELECT count(*) FROM "{n}"')) or 0) for n in names)  # noqa: S608
        size = {n: int(s.scalar(text(f"SELECT pg_total_relation_size('\"{n}\"')")) or 0) for n in names}
        total = int(s.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    return rows, size, total


def _one_scan(rt: Runtime, settings: Settings, image_pk: int) -> dict[str, Any]:
    with transaction(rt.sessions) as s:
        image_id = s.scalars(select(Image.image_id).where(Image.id == image_pk)).one()
        task = scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=False,
            refs=[scan_tasks.ImageRefIn(image_id=image_id)],
            settings=settings.scans,
        )
        job = s.scalars(select(ScanTaskImage.id).where(ScanTaskImage.task_pk == task.id)).one()
    rows0, size0, db0 = _db_footprint(rt)
    read0 = _rchar()
    t = time.perf_counter()
    outcome = scan_executor.run_job(dataclasses.replace(rt, settings=settings), job)
    seconds = time.perf_counter() - t
    read = _rchar() - read0
    rows1, size1, db1 = _db_footprint(rt)
    with transaction(rt.sessions) as s:
        vulns = s.scalar(
            select(func.count()).select_from(VulImageIndex).where(VulImageIndex.image_pk == image_pk)
        )
    return {
        "status": outcome.status.value if outcome.status else outcome.reason,
        "seconds": round(seconds, 3),
        "bytes_read": read,
        "result_rows_added": rows1 - rows0,
        "result_bytes_added": sum(size1.values()) - sum(size0.values()),
        "grown_tables": {n: size1[n] - size0.get(n, 0) for n in size1 if size1[n] != size0.get(n, 0)},
        "database_bytes_added": db1 - db0,
        "vulnerabilities": int(vulns or 0),
    }


def _debian_advisories(root: Path, oci: Path, tag: str) -> Path:
    """OSV records for 40 of the image's own Debian source packages (all versions affected), so the scans
    match and store real findings rows."""
    from openhss.scan.refs import parse_ref
    from openhss.scan.sources.base import SourceOptions
    from openhss.services.scanning import build_pipeline, scan_image

    report = scan_image(
        parse_ref(f"oci:{oci}:{tag}"), SourceOptions(), build_pipeline(ScanScope.SOFTWARE_COMPLIANCE)
    )
    names = sorted({p.source_name or p.name for p in report.packages if p.ecosystem is Ecosystem.DEBIAN})[:40]
    release = (report.os.version if report.os else "12").split(".")[0]
    path = root / "debian-advisories.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i, name in enumerate(names):
            affected = {
                "package": {"ecosystem": f"Debian:{release}", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
            doc = {"id": f"BENCH-DEB-{i}", "modified": "2024-01-01T00:00:00Z", "affected": [affected]}
            zf.writestr(f"{i}.json", json.dumps(doc))
    return path


def unchanged_run(root: Path) -> dict[str, Any]:
    """Rescan of an unchanged image: server-side time, layer bytes read, rows and bytes added."""
    from corpus import small_debian

    source = small_debian()
    oci = root / "small-debian"
    shutil.copytree(source, oci)
    index = json.loads((oci / "index.json").read_text())
    entry = index["manifests"][0]
    tag = entry.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    manifest = json.loads((oci / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_text())
    layers = [oci / "blobs" / "sha256" / d["digest"].split(":")[1] for d in manifest["layers"]]
    layer_bytes = sum(p.stat().st_size for p in layers)

    url = _database()
    settings = Settings(data_dir=root / "data-unchanged", database_url=url, default_project_id=PROJECT)
    uncached = settings.model_copy(update={"scans": settings.scans.model_copy(update={"layer_cache": False})})
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    dispatch.set_sender(None)
    try:
        VulnDbService.from_settings(settings).import_paths([_debian_advisories(root, oci, tag)])
        with transaction(rt.sessions) as s:
            img = Image(
                project_id=PROJECT,
                image_type="local",
                image_id=f"sha256:{'e' * 64}",
                image_name="bench/small-debian",
                image_version="1.0",
                source_ref=f"oci:{oci}:{tag}",
            )
            s.add(img)
            s.flush()
            pk = img.id
        first = _one_scan(rt, uncached, pk)  # cold: every layer read

        # Baseline (the previous behaviour): the same rescan, layer cache warm, no stored fingerprint.
        def forget() -> None:
            with transaction(rt.sessions) as s:
                s.execute(update(ImageInventory).where(ImageInventory.image_pk == pk).values(fingerprint=""))

        forget()
        _one_scan(rt, settings, pk)  # fills the layer cache
        forget()
        baseline = _one_scan(rt, settings, pk)
        # Unchanged rescans: layer cache off and the layer blobs gone, so reading any layer would fail.
        hidden = root / "hidden-layers"
        hidden.mkdir()
        for p in layers:
            p.rename(hidden / p.name)
        rescans = [_one_scan(rt, uncached, pk) for _ in range(5)]
        for p in layers:
            (hidden / p.name).rename(p)
    finally:
        rt.engine.dispose()
        _drop(url)
    worst = max(rescans, key=lambda r: r["seconds"])
    ok = all(r["status"] == "success" for r in rescans)
    return {
        "image": "small-debian",
        "layer_bytes": layer_bytes,
        "first_scan": first,
        "rescan_without_fingerprint": baseline,
        "unchanged_rescans": rescans,
        "unchanged_seconds_max": worst["seconds"],
        "unchanged_seconds_median": statistics.median(r["seconds"] for r in rescans),
        # The blobs were absent: a successful rescan read none of them.
        "unchanged_layer_bytes_read": 0 if ok else None,
        "unchanged_result_bytes_added": max(r["result_bytes_added"] for r in rescans),
        "unchanged_result_rows_added": max(r["result_rows_added"] for r in rescans),
        "goal_seconds": 0.2,
        "met": ok
        and worst["seconds"] <= 0.2
        and all(r["result_bytes_added"] == 0 and r["result_rows_added"] == 0 for r in rescans),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--inventories", type=int, default=10_000)
    ap.add_argument(
        "--parts", default="queueing,lanes,unchanged,throughput,rematch", help="comma-separated subset"
    )
    ap.add_argument(
        "--queue-images", type=int, default=BULK_IMAGES, help="scan-all size of the queueing part"
    )
    ap.add_argument("--brokers", default=f"{REDIS},{RABBIT}", help="brokers of the lanes part")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    unknown = parts - {"queueing", "lanes", "unchanged", "throughput", "rematch"}
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    root = Path(tempfile.mkdtemp(prefix="openhss-fleet-"))
    figures: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    rows: list[list[Any]] = []
    try:
        t = time.perf_counter()
        tags = (
            build_corpus(root, args.images if parts & {"throughput", "rematch"} else 50)
            if parts - {"queueing"}
            else []
        )
        print(
            f"corpus: {len(tags)} images, {BASES} bases, built in {time.perf_counter() - t:.1f} s", flush=True
        )
        oci = root / "oci"
        if "queueing" in parts:
            figures["queueing"] = []
            for broker in args.brokers.split(","):
                runs = queueing_run(root, broker, args.queue_images)
                print(f"queueing ({broker.split(':', 1)[0]}): {runs}", flush=True)
                figures["queueing"].extend(runs)
                by_mode = {r["mode"]: r for r in runs}
                rows.append(
                    [
                        f"queue scan-all of {args.queue_images} ({runs[0]['broker']}), request s"
                        f" (database only {by_mode['database only']['seconds']},"
                        f" batch all sent {by_mode['batch']['all_sent_seconds']})",
                        by_mode["batch"]["seconds"],
                        by_mode["one at a time"]["seconds"],
                        "about the database time",
                        by_mode["batch"]["messages_on_broker"] == args.queue_images,
                    ]
                )
        if "lanes" in parts:
            figures["lanes"] = []
            for broker in args.brokers.split(","):
                lanes = lanes_run(root, oci, tags, broker)
                print(f"lanes ({lanes['broker']}): {lanes}", flush=True)
                figures["lanes"].append(lanes)
                rows.append(
                    [
                        f"manual scan start in scan-all of {lanes['bulk_images']} ({lanes['broker']}), max s",
                        lanes["manual_start_max_seconds"],
                        lanes["manual_start_idle_median_seconds"],
                        "<= 5 s",
                        lanes["met"],
                    ]
                )
        if "unchanged" in parts:
            unch = unchanged_run(root)
            print(f"unchanged rescan: {unch}", flush=True)
            figures["unchanged"] = unch
            base = unch["rescan_without_fingerprint"]
            rows.append(
                [
                    "unchanged rescan, server s, max of 5 (vs no fingerprint)",
                    unch["unchanged_seconds_max"],
                    base["seconds"],
                    "<= 0.2 s",
                    unch["met"],
                ]
            )
            rows.append(
                [
                    "unchanged rescan, layer bytes read (vs cold scan)",
                    unch["unchanged_layer_bytes_read"],
                    unch["first_scan"]["bytes_read"],
                    "0",
                    unch["unchanged_layer_bytes_read"] == 0,
                ]
            )
            rows.append(
                [
                    "unchanged rescan, result bytes added (vs no fingerprint)",
                    unch["unchanged_result_bytes_added"],
                    base["result_bytes_added"],
                    "0",
                    unch["unchanged_result_bytes_added"] == 0,
                ]
            )
        if "throughput" in parts:
            cached = fleet_run(root, oci, tags, cache=True)
            print(f"with layer cache: {cached}", flush=True)
            uncached = fleet_run(root, oci, tags, cache=False)
            print(f"without cache:    {uncached}", flush=True)
            ratio = round(cached["images_per_hour"] / max(1, uncached["images_per_hour"]), 2)
            figures.update(
                images=len(tags), bases=BASES, cache=cached, no_cache=uncached, cache_speedup=ratio
            )
            rows.append(
                [
                    "scans/hour, 2 workers, layer cache on",
                    cached["images_per_hour"],
                    uncached["images_per_hour"],
                    "-",
                    "-",
                ]
            )
        if "rematch" in parts:
            rm = rematch_bench(root, oci, tags[0], args.inventories)
            print(f"re-match: {rm}", flush=True)
            figures["rematch"] = rm
            rows.append(
                [
                    f"re-match {rm['inventories']} inventories, s",
                    rm["seconds"],
                    "-",
                    f"<= {rm['goal_seconds']} s",
                    rm["seconds"] <= rm["goal_seconds"],
                ]
            )
        print(table(rows, ["measure", "openhss", "baseline (same run)", "goal", "met"]))
        print(f"load average (1 min) at start: {figures['load_average']:.2f}")
        record("fleet", figures)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
