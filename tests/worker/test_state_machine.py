"""The job state machine on the real databases: leases, duplicate deliveries, stop, rate bucket with an
injected clock, project cap, sweeper, agent-side execution."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openhss.db.engine import transaction
from openhss.db.models import Host, Image, ImageApp, ImageHost, Project, ScanTask, ScanTaskImage
from openhss.domain.enums import ScanScope, ScanStatus
from openhss.scan.pipeline import ScanStopped
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.services import agent_jobs, dispatch, results, scan_executor, scan_queue, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime
from openhss.services.scanning import build_pipeline, scan_image
from tests.support.service import BACKENDS, PROJECT, runtime_on
from tests.worker.helpers import CERTIFI_VUL, ZLIB_VUL, add_image, build_image, import_advisories

SCOPE = Scope(PROJECT, None)
pytestmark = pytest.mark.slow


@pytest.fixture(params=BACKENDS)
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    sent: list[dispatch.Message] = []
    dispatch.set_sender(sent.append)
    with runtime_on(request.param, tmp_path) as runtime:
        yield runtime
    dispatch.set_sender(None)


def _task(rt: Runtime, pks: list[int], **kw: object) -> ScanTask:
    with transaction(rt.sessions) as s:
        ids = [s.get(Image, pk).image_id for pk in pks]  # type: ignore[union-attr]
        return scan_tasks.create_task(
            s,
            SCOPE,
            image_type="local",
            is_all=False,
            refs=[scan_tasks.ImageRefIn(image_id=i) for i in ids],
            settings=rt.settings.scans,
            **kw,  # type: ignore[arg-type]
        )


def _jobs(rt: Runtime, task: ScanTask) -> list[ScanTaskImage]:
    with transaction(rt.sessions) as s:
        return list(
            s.scalars(
                select(ScanTaskImage).where(ScanTaskImage.task_pk == task.id).order_by(ScanTaskImage.id)
            )
        )


def test_lease_duplicates_and_one_result_set(rt: Runtime, tmp_path: Path) -> None:
    import_advisories(rt.settings, tmp_path)
    pk = add_image(rt.sessions, "app", build_image(tmp_path / "img"))
    task = _task(rt, [pk])
    [job] = _jobs(rt, task)
    t0 = 1_000_000_000_000
    lease = rt.settings.scans.lease_seconds * 1000
    with transaction(rt.sessions) as s:
        a = scan_queue.start_job(s, job.id, "worker-a", now=t0, settings=rt.settings.scans)
    assert isinstance(a, scan_queue.Started)
    with transaction(rt.sessions) as s:  # a duplicate delivery while A's lease is live: no-op
        assert (
            scan_queue.start_job(s, job.id, "worker-b", now=t0 + lease - 1, settings=rt.settings.scans)
            is None
        )
    with transaction(rt.sessions) as s:  # A was killed: its lease expired, B takes over
        b = scan_queue.start_job(s, job.id, "worker-b", now=t0 + lease + 1, settings=rt.settings.scans)
    assert isinstance(b, scan_queue.Started)
    with transaction(rt.sessions) as s:  # A comes back from the dead: it may not finish
        assert not scan_queue.finish_job(s, job.id, "worker-a", ScanStatus.FAILED, "zombie")
    # B's run: the real worker path, with the job already B's (same owner resumes after expiry).
    out = scan_executor.run_job(rt, job.id, owner="worker-c", clock=lambda: t0 + 3 * lease)
    assert out.status is ScanStatus.SUCCESS
    assert scan_executor.run_job(rt, job.id).status is None  # redelivered: no-op
    with transaction(rt.sessions) as s:
        row = s.get(ScanTaskImage, job.id)
        assert row is not None and row.status == "success" and row.attempts == 3 and row.lease_owner == ""
        n_apps = s.scalar(select(func.count()).where(ImageApp.image_pk == pk))
        assert n_apps == 3
        t = s.get(ScanTask, task.id)
        assert t is not None and (t.task_status, t.success_num, t.failed_num) == ("finished", 1, 0)


def test_stop_waiting_and_running(rt: Runtime, tmp_path: Path) -> None:
    ref = build_image(tmp_path / "img")
    pks = [add_image(rt.sessions, f"img{i}", ref) for i in range(3)]
    task = _task(rt, pks, scan_scope=int(ScanScope.MALWARE))
    jobs = _jobs(rt, task)
    with transaction(rt.sessions) as s:
        assert isinstance(
            scan_queue.start_job(s, jobs[0].id, "w", settings=rt.settings.scans), scan_queue.Started
        )
    with transaction(rt.sessions) as s:
        scan_tasks.stop_task(s, SCOPE, task.task_id)
    statuses = [j.status for j in _jobs(rt, task)]
    assert statuses == ["scanning", "image_scan_stop", "image_scan_stop"]
    assert next(t for t in [_jobs(rt, task)[0]]).stop_requested
    # The running scan sees the flag at its next layer boundary.
    lease = scan_executor.Lease(rt.sessions, jobs[0].id, "w", 60_000, results.now_ms)
    assert lease.should_stop()
    options = build_pipeline(ScanScope.MALWARE)
    options.should_stop = lease.should_stop
    with pytest.raises(ScanStopped) as err:
        scan_image(parse_ref(ref), SourceOptions(), options)
    with transaction(rt.sessions) as s:
        assert scan_queue.finish_job(s, jobs[0].id, "w", err.value.status, err.value.reason)
        t = s.get(ScanTask, task.id)
        assert t is not None and t.task_status == "finished" and (t.success_num, t.failed_num) == (0, 0)
        assert scan_tasks.progress(s, t) == -1
        assert set(s.scalars(select(Image.scan_status).where(Image.id.in_(pks)))) == {"image_scan_stop"}


def test_rate_limit_across_workers_with_injected_clock(rt: Runtime, tmp_path: Path) -> None:
    """60/h over 2 simulated hours, four concurrent "workers": no hour window holds more than 60 starts."""
    ref = build_image(tmp_path / "img")
    pks = [add_image(rt.sessions, f"img{i}", ref) for i in range(200)]
    task = _task(rt, pks, rate_limit=60)
    jobs = [j.id for j in _jobs(rt, task)]
    clock = {"now": 1_000_000_000_000}
    end = clock["now"] + 2 * 3_600_000
    lock = threading.Lock()
    starts: list[int] = []
    deferrals: list[float] = []
    pending = list(jobs)

    def worker(name: str) -> None:
        while True:
            with lock:
                if clock["now"] >= end or not pending:
                    return
                job = pending.pop(0)
                clock["now"] += 11_000  # time passes between deliveries
                now = clock["now"]
            with transaction(rt.sessions) as s:
                got = scan_queue.start_job(s, job, name, now=now, settings=rt.settings.scans)
            if isinstance(got, scan_queue.Started):
                with transaction(rt.sessions) as s:
                    assert scan_queue.finish_job(s, job, name, ScanStatus.FAILED, "not scanned", now=now)
                with lock:
                    starts.append(now)
            else:
                assert isinstance(got, scan_queue.Deferred) and got.reason == "rate limit"
                with lock:
                    deferrals.append(got.countdown)
                    pending.append(job)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(starts) >= 90  # the limiter is not stricter than asked (11 s steps: ~66 s spacing)
    worst = max(sum(1 for x in starts if s0 <= x < s0 + 3_600_000) for s0 in starts)
    # Upper bound: the limit. Lower bound: not much stricter than asked — 11 s steps quantise the 60 s
    # spacing to 66 s (~54/h), and four threads may commit their starts out of clock order under load.
    assert 45 <= worst <= 60
    assert deferrals and min(deferrals) > 0  # re-sent with a countdown until the next token


def test_project_cap_and_sweeper(rt: Runtime, tmp_path: Path) -> None:
    settings = rt.settings.model_copy(
        update={"scans": rt.settings.scans.model_copy(update={"project_concurrency": 1})}
    )
    ref = build_image(tmp_path / "img")
    pks = [add_image(rt.sessions, f"img{i}", ref) for i in range(2)]
    jobs = [j.id for j in _jobs(rt, _task(rt, pks))]
    t0 = results.now_ms()
    with transaction(rt.sessions) as s:
        assert isinstance(
            scan_queue.start_job(s, jobs[0], "a", now=t0, settings=settings.scans), scan_queue.Started
        )
    with transaction(rt.sessions) as s:
        got = scan_queue.start_job(s, jobs[1], "b", now=t0, settings=settings.scans)
    assert isinstance(got, scan_queue.Deferred) and got.reason == "project concurrency cap"
    assert _jobs_status(rt, jobs) == ["scanning", "waiting_for_scan"]
    # Worker "a" dies; the sweeper resets its job and re-sends both.
    sent: list[dispatch.Message] = []
    dispatch.set_sender(sent.append)
    with transaction(rt.sessions) as s:
        report = scan_queue.sweep(s, settings.scans, now=t0 + settings.scans.lease_seconds * 1000 + 1)
    assert report.expired == 1 and report.resent == 1  # job 1 was dispatched recently, job 0 reset
    assert [(m.name, m.args, m.queue) for m in sent] == [("openhss.scan_job", (jobs[0],), "scan.manual")]
    assert _jobs_status(rt, jobs) == ["waiting_for_scan", "waiting_for_scan"]


def test_fair_share_a_busy_project_yields_to_a_waiting_one(rt: Runtime, tmp_path: Path) -> None:
    """Issue 16: one tenant's backlog must not keep another tenant's scan waiting. A project that
    already runs a scan gives a start up to a project running fewer with a job waiting; alone, it
    uses every worker. Agents' claims are not held back (they scan only their own host)."""
    ref = build_image(tmp_path / "img")
    mine = [add_image(rt.sessions, f"a{i}", ref) for i in range(3)]
    with transaction(rt.sessions) as s:
        s.add(Project(id="other-project", name="other"))
    theirs = add_image(rt.sessions, "b0", ref, project="other-project")
    a_jobs = [j.id for j in _jobs(rt, _task(rt, mine))]
    with transaction(rt.sessions) as s:
        ids = [s.get(Image, theirs).image_id]  # type: ignore[union-attr]
        b_task = scan_tasks.create_task(
            s,
            Scope("other-project", None),
            image_type="local",
            is_all=False,
            refs=[scan_tasks.ImageRefIn(image_id=i) for i in ids],
            settings=rt.settings.scans,
        )
    (b_job,) = [j.id for j in _jobs(rt, b_task)]
    cfg = rt.settings.scans
    t0 = results.now_ms()

    def start(job: int, owner: str) -> scan_queue.Started | scan_queue.Deferred | None:
        with transaction(rt.sessions) as s:
            return scan_queue.start_job(s, job, owner, now=t0, settings=cfg)

    assert isinstance(start(a_jobs[0], "w1"), scan_queue.Started)
    got = start(a_jobs[1], "w2")
    assert isinstance(got, scan_queue.Deferred) and got.reason == "fair share across projects"
    assert _jobs_status(rt, a_jobs) == ["scanning", "waiting_for_scan", "waiting_for_scan"]
    assert isinstance(start(b_job, "w2"), scan_queue.Started)
    # Nobody else waits now: the busy project takes the next free worker.
    assert isinstance(start(a_jobs[1], "w3"), scan_queue.Started)
    off = cfg.model_copy(update={"fair_share": False})
    with transaction(rt.sessions) as s:
        assert isinstance(scan_queue.start_job(s, a_jobs[2], "w4", now=t0, settings=off), scan_queue.Started)


def _jobs_status(rt: Runtime, jobs: list[int]) -> list[str]:
    with transaction(rt.sessions) as s:
        return [s.get(ScanTaskImage, j).status for j in jobs]  # type: ignore[union-attr]


def test_lanes(rt: Runtime, tmp_path: Path) -> None:
    ref = build_image(tmp_path / "img")
    pks = [add_image(rt.sessions, f"img{i}", ref) for i in range(13)]
    sent: list[dispatch.Message] = []
    dispatch.set_sender(sent.append)
    assert _task(rt, pks[:2]).lane == "manual"
    assert _task(rt, pks[2:]).lane == "bulk"
    assert [m.queue for m in sent] == ["scan.manual"] * 2 + ["scan.bulk"] * 11


def test_agent_side_execution(rt: Runtime, tmp_path: Path) -> None:
    import_advisories(rt.settings, tmp_path)
    ref = build_image(tmp_path / "img")
    with transaction(rt.sessions) as s:
        host = Host(project_id=PROJECT, agent_id="agent-1", host_name="h1")
        s.add(host)
        s.flush()
        host_pk = host.id
    pks = [add_image(rt.sessions, f"local{i}", "") for i in range(2)]
    with transaction(rt.sessions) as s:
        s.add_all([ImageHost(image_pk=pk, host_pk=host_pk) for pk in pks])
    jobs = [j.id for j in _jobs(rt, _task(rt, pks))]
    # A worker receiving the message leaves the job to the agent.
    out = scan_executor.run_job(rt, jobs[0])
    assert out.status is None and out.reason == "delegated to agent"
    with transaction(rt.sessions) as s:
        claimed = agent_jobs.claim_jobs_for_host(s, host_pk, 5, rt.settings.scans)
    assert [c.job_pk for c in claimed] == jobs
    with transaction(rt.sessions) as s:
        assert agent_jobs.claim_jobs_for_host(s, host_pk, 5, rt.settings.scans) == []  # already taken
        assert agent_jobs.heartbeat_job(s, jobs[0], agent_jobs.agent_owner(host_pk), rt.settings.scans)
    report = scan_image(
        parse_ref(ref), SourceOptions(), build_pipeline(ScanScope.ALL & ~ScanScope.VULNERABILITY)
    )
    with transaction(rt.sessions) as s:
        assert agent_jobs.complete_job(s, jobs[0], report, rt.matchers)
        assert agent_jobs.fail_job(s, jobs[1], "download_failed", "agent: image vanished")
    with transaction(rt.sessions) as s:
        a, b = (s.get(Image, pk) for pk in pks)
        assert a is not None and b is not None
        assert a.scan_status == "success" and a.vul_num == 3
        assert (b.scan_status, b.scan_failed_desc) == ("download_failed", "agent: image vanished")
        from openhss.db.models import VulImageIndex

        assert {ZLIB_VUL, CERTIFI_VUL} <= set(
            s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == a.id))
        )
    with pytest.raises(ValueError), transaction(rt.sessions) as s:
        agent_jobs.fail_job(s, jobs[1], "success", "no")


def test_on_new_image(rt: Runtime, tmp_path: Path) -> None:
    pk = add_image(rt.sessions, "new", build_image(tmp_path / "img"))
    with transaction(rt.sessions) as s:
        assert scan_tasks.on_new_image(s, pk, rt.settings) is None  # off by default
    on = rt.settings.model_copy(
        update={"scans": rt.settings.scans.model_copy(update={"scan_on_new_image": True})}
    )
    with transaction(rt.sessions) as s:
        task = scan_tasks.on_new_image(s, pk, on)
        assert task is not None and task.task_type == "cycle" and task.total_num == 1
    with transaction(rt.sessions) as s:
        assert scan_tasks.on_new_image(s, pk, on) is None  # already queued
