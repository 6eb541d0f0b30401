"""Reliability on the machine's real services (never restarted: a private Redis, a private RabbitMQ
node and a TCP proxy stand in for the failures): a worker SIGKILLed mid-scan, a broker restart with
queued tasks (Redis append-only, RabbitMQ durable queues), the database unreachable for ~10 s, and
1,000 queued scans with bounded memory."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from openhss.config import ScanSettings, Settings
from openhss.db.engine import transaction
from openhss.db.models import ImageApp, ScanTask, ScanTaskImage
from openhss.domain.enums import ScanScope
from openhss.services import dispatch, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from openhss.worker.app import install, queue_names
from tests.support.pg import temp_database
from tests.support.server import free_port
from tests.support.service import PROJECT, make_settings
from tests.worker.brokers import REDIS, cleanup_broker, require_broker
from tests.worker.helpers import add_image, build_image, wait_for, worker_process
from tests.worker.proxy import CuttableProxy
from tests.worker.rabbit import PrivateRabbit, require_rabbitmq_server

pytestmark = pytest.mark.slow
FAST = ScanSettings(lease_seconds=3, sweep_interval_seconds=1.0, resend_after_seconds=30)


@contextmanager
def service(tmp: Path, broker: str, database_url: str = "", direct_url: str = "") -> Iterator[Runtime]:
    """Settings for a worker on `broker` and a fresh database (or `database_url`, migrated through
    `direct_url`), with this process's sender installed."""
    if not broker.startswith("sqla"):
        require_broker(broker)
    with ExitStack() as stack:
        if not database_url:
            database_url = direct_url = stack.enter_context(temp_database())
        setup = open_runtime(make_settings(tmp, direct_url or database_url))
        bootstrap_admin(setup)
        setup.engine.dispose()
        settings = make_settings(
            tmp, database_url, broker_url=broker, queue_prefix=f"t{uuid.uuid4().hex[:10]}.", scans=FAST
        )
        rt = open_runtime(settings, migrate_schema=False)
        install(settings)
        try:
            yield rt
        finally:
            dispatch.set_sender(None)
            cleanup_broker(settings)
            rt.engine.dispose()


def _queue(
    rt: Runtime, pks: list[int], scope: int = int(ScanScope.ALL & ~ScanScope.VULNERABILITY)
) -> ScanTask:
    from openhss.db.models import Image

    with transaction(rt.sessions) as s:
        ids = list(s.scalars(select(Image.image_id).where(Image.id.in_(pks))))
        return scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=False,
            scan_scope=scope,
            refs=[scan_tasks.ImageRefIn(image_id=i) for i in ids],
            settings=rt.settings.scans,
        )


def _jobs(rt: Runtime) -> list[ScanTaskImage]:
    with transaction(rt.sessions) as s:
        return list(s.scalars(select(ScanTaskImage).order_by(ScanTaskImage.id)))


def _all_done(rt: Runtime) -> bool:
    return all(j.status not in ("waiting_for_scan", "scanning") for j in _jobs(rt))


def test_worker_killed_mid_scan_finishes_elsewhere_once(tmp_path: Path) -> None:
    with service(tmp_path, REDIS) as rt:
        pk = add_image(rt.sessions, "victim", build_image(tmp_path / "img"))
        with worker_process(rt.settings, tmp_path / "a.log") as a:
            _queue(rt, [pk])
            # A fresh worker spends seconds on its first scan (rule compilation): kill it in there.
            wait_for(lambda: _jobs(rt)[0].status == "scanning", 60, "worker A to start the scan")
            a.kill()
        [job] = _jobs(rt)
        assert job.status == "scanning" and job.attempts == 1
        with worker_process(rt.settings, tmp_path / "b.log", beat=True) as b:
            try:
                wait_for(lambda: _jobs(rt)[0].status == "success", 60, "worker B to finish the scan")
            except AssertionError:
                print(b.output())
                raise
        [job] = _jobs(rt)
        assert job.attempts == 2 and job.lease_owner == ""
        with transaction(rt.sessions) as s:
            assert s.scalar(select(func.count()).where(ImageApp.image_pk == pk)) == 3
            task = s.scalars(select(ScanTask)).one()
            assert (task.success_num, task.failed_num, task.task_status) == (1, 0, "finished")


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_broker_restart_keeps_queued_tasks(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes",
           "--appendfsync", "always", "--dir", str(data), "--save", ""]  # fmt: skip
    redis_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _port_open(port), 20, "private redis")
        with service(tmp_path, f"redis://127.0.0.1:{port}/0") as rt:
            ref = build_image(tmp_path / "img")
            pks = [add_image(rt.sessions, f"img{i}", ref) for i in range(4)]
            _queue(rt, pks)  # queued while no worker runs
            redis_proc.kill()  # the broker dies hard, with the messages in it
            redis_proc.wait(10)
            redis_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: _port_open(port), 20, "private redis again")
            # resend_after (30 s) is far away: only the messages that survived in the broker can run these.
            with worker_process(rt.settings, tmp_path / "w.log", concurrency=2) as w:
                try:
                    wait_for(lambda: _all_done(rt), 60, "the queued scans")
                except AssertionError:
                    print(w.output())
                    raise
            assert [j.status for j in _jobs(rt)] == ["success"] * 4
            assert [j.attempts for j in _jobs(rt)] == [1] * 4
    finally:
        if redis_proc.poll() is None:
            redis_proc.terminate()
            redis_proc.wait(10)


def _queued_messages(url: str, names: list[str]) -> int:
    """Messages waiting in `names` on the broker at `url` (passive declares: nothing is created)."""
    from amqp.exceptions import NotFound
    from kombu import Connection  # type: ignore[attr-defined]

    total = 0
    with Connection(url) as conn:
        for name in names:
            channel = conn.channel()
            with suppress(NotFound):  # a lane nothing was sent to was never declared
                total += channel.queue_declare(name, passive=True).message_count
            if channel.is_open:
                channel.close()
    return total


def test_rabbitmq_restart_keeps_queued_tasks(tmp_path: Path) -> None:
    """Scans queued with no worker are in the broker once the transaction that queued them has committed,
    and survive the broker dying hard.

    The race this once lost (`assert 1 == 4` under load): without publisher confirms, `send_task` returns
    when the frames are written to the socket, not when RabbitMQ has routed them, so a count on another
    connection right after the commit saw 1 of 4, and a broker dying right after loses the unsynced rest.
    With confirms (`worker.app`) each send returns after RabbitMQ has queued and, for a persistent message
    on a durable queue, fsynced it: the count is exact at once and a SIGKILL (no flush on the way out, as
    the Redis twin above) loses nothing."""
    require_rabbitmq_server()
    rabbit = PrivateRabbit(tmp_path / "rabbit")
    try:
        rabbit.start()
        with service(tmp_path, rabbit.url) as rt:
            ref = build_image(tmp_path / "img")
            pks = [add_image(rt.sessions, f"img{i}", ref) for i in range(4)]
            _queue(rt, pks)  # queued while no worker runs
            names = queue_names(rt.settings)
            assert _queued_messages(rabbit.url, names) == 4, "a committed scan's message is not in the broker"
            rabbit.kill()
            rabbit.start()  # the same node on the same mnesia directory, recovering from a crash
            assert _queued_messages(rabbit.url, names) == 4, "the queued scans did not survive the restart"
            # resend_after (30 s) is far away: only the messages that survived in the broker can run these.
            with worker_process(rt.settings, tmp_path / "w.log", concurrency=2) as w:
                try:
                    wait_for(lambda: _all_done(rt), 60, "the queued scans")
                except AssertionError:
                    print(w.output())
                    raise
            jobs = _jobs(rt)
            assert [j.status for j in jobs] == ["success"] * 4
            assert [j.attempts for j in jobs] == [1] * 4
            with transaction(rt.sessions) as s:
                counts = dict(
                    s.execute(select(ImageApp.image_pk, func.count()).group_by(ImageApp.image_pk)).all()
                )
                assert counts == {pk: 3 for pk in pks}  # one result set per image, none doubled
                task = s.scalars(select(ScanTask)).one()
                assert (task.success_num, task.failed_num, task.task_status) == (4, 0, "finished")
    finally:
        rabbit.stop()


def test_database_unavailable_for_ten_seconds(tmp_path: Path) -> None:
    with temp_database() as url:
        u = make_url(url)
        proxy = CuttableProxy((u.host or "127.0.0.1", u.port or 5432))
        via_proxy = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        try:
            with service(tmp_path, REDIS, database_url=via_proxy, direct_url=url) as rt:
                direct = open_runtime(
                    Settings(**{**rt.settings.model_dump(), "database_url": url}), migrate_schema=False
                )
                ref = build_image(tmp_path / "img")
                pks = [add_image(direct.sessions, f"img{i}", ref) for i in range(6)]
                with worker_process(rt.settings, tmp_path / "w.log", concurrency=2, beat=True) as w:
                    _queue(direct, pks)
                    wait_for(
                        lambda: any(j.status == "scanning" for j in _jobs(direct)), 60, "a scan to start"
                    )
                    proxy.cut()
                    time.sleep(10)
                    proxy.restore()
                    try:
                        wait_for(lambda: _all_done(direct), 90, "every scan after the outage")
                    except AssertionError:
                        print(w.output())
                        raise
                jobs = _jobs(direct)
                assert [j.status for j in jobs] == ["success"] * 6
                with transaction(direct.sessions) as s:
                    counts = dict(
                        s.execute(select(ImageApp.image_pk, func.count()).group_by(ImageApp.image_pk)).all()
                    )
                    assert counts == {pk: 3 for pk in pks}
                    task = s.scalars(select(ScanTask)).one()
                    assert (task.success_num, task.failed_num, task.task_status) == (6, 0, "finished")
                direct.engine.dispose()
        finally:
            proxy.close()


def _rss_mb(pid: int) -> float:
    total = 0
    for child in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(x) for x in out.split()]


def test_thousand_queued_scans_bounded_memory(tmp_path: Path) -> None:
    import redis

    with service(tmp_path, REDIS) as rt:
        ref = build_image(tmp_path / "img")
        from openhss.db.models import Image

        with transaction(rt.sessions) as s:
            s.add_all(
                Image(project_id=PROJECT, image_type="local", image_id=f"sha256:{i:064x}", image_name=f"i{i}",
                      source_ref=ref)
                for i in range(1000)
            )  # fmt: skip
        with transaction(rt.sessions) as s:
            pks = list(s.scalars(select(Image.id)))
        _queue(rt, pks, scope=int(ScanScope.SOFTWARE_COMPLIANCE))
        assert dispatch.drain(), "the background sender did not send the 1,000 messages"
        client = redis.Redis.from_url(REDIS)
        keys = [k for k in client.scan_iter(match=f"{rt.settings.queue_prefix}*") if b"scan.bulk" in k]
        assert keys, "bulk lane queue not found in Redis"
        assert client.llen(keys[0]) == 1000
        broker_bytes = client.memory_usage(keys[0]) or 0
        assert broker_bytes < 3 * 1024 * 1024, f"1,000 queued scans take {broker_bytes} bytes in Redis"
        with worker_process(rt.settings, tmp_path / "w.log", concurrency=2) as w:
            samples: list[float] = []
            started = time.monotonic()
            done = 0
            # Sample while it works: at least 10 s, until 40 scans are done (or 45 s on a loaded machine).
            while time.monotonic() - started < 45 and (done < 40 or time.monotonic() - started < 10):
                time.sleep(1)
                samples.append(_rss_mb(w.proc.pid))
                done = sum(1 for j in _jobs(rt) if j.status == "success")
        client.close()
        assert done >= 10, f"only {done} scans finished"
        # After warm-up the worker's memory stays flat while it works through the queue.
        warm = samples[len(samples) // 3]
        assert max(samples) - warm < 60, f"worker RSS grew from {warm:.0f} to {max(samples):.0f} MiB"
