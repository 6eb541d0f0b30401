"""Webhook events against a real local receiver: signatures, subscription filters, tenant separation,
receiver downtime with exponential backoff, giving up, the target policy, and the done-when scenario: an
advisory update newly affecting three images delivers exactly three events although the deliverer is
killed (SIGKILL) in the middle of a delivery and restarted."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from openhss.config import WebhookSettings
from openhss.db.engine import transaction
from openhss.db.models import EventOutbox, Image
from openhss.domain.errors import InvalidRequest
from openhss.services import events, rematch, scan_queue
from openhss.services.identity import Scope
from openhss.services.results import now_ms
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from tests.events.receiver import Receiver
from tests.support.service import PROJECT, make_settings
from tests.vex.test_service import FINDINGS, ZLIB, Instance, finding

SECRET = "s" * 8 + "-webhook-secret"
POLICY = WebhookSettings(allow_loopback=True, backoff_seconds=0.05, max_backoff_seconds=0.2, lease_seconds=1)
SCOPE = Scope(PROJECT, None)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_runtime(make_settings(tmp_path, webhooks=POLICY))
    bootstrap_admin(runtime)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.release.set()
    r.stop()


def subscribe(rt: Runtime, url: str, ep: str = "0", **kw: object) -> str:
    with transaction(rt.sessions) as s:
        spec = events.SubscriptionSpec(url, SECRET, **kw)  # type: ignore[arg-type]
        return events.subscribe(s, SCOPE, ep, spec, rt.box, POLICY).subscription_id


def rows(rt: Runtime) -> list[EventOutbox]:
    with rt.sessions() as s:
        out = list(s.scalars(select(EventOutbox).order_by(EventOutbox.id)))
        s.expunge_all()
        return out


def deliver_until_done(rt: Runtime, policy: WebhookSettings = POLICY) -> None:
    deadline = time.monotonic() + 30  # a guard against hanging, not a timing assertion
    while any(r.status == events.PENDING for r in rows(rt)):
        assert time.monotonic() < deadline, [(r.status, r.last_error) for r in rows(rt)]
        events.deliver_due(rt.sessions, rt.box, policy)
        time.sleep(0.05)


def test_signed_delivery_and_filters(rt: Runtime, receiver: Receiver) -> None:
    everything = subscribe(rt, receiver.url)
    subscribe(rt, receiver.url, min_severity="High")
    subscribe(rt, receiver.url, kev_only=True)
    subscribe(rt, receiver.url, event_types=(events.SCAN_FINISHED,))
    subscribe(rt, receiver.url, ep="other")  # another enterprise project hears nothing of "0"
    pk = Instance(rt.sessions).image()
    with transaction(rt.sessions) as s:
        image = s.get_one(Image, pk)
        assert events.emit(s, PROJECT, "0", events.NEWLY_AFFECTED, {"n": 1}, severity="Medium") == 1
        assert events.emit(s, PROJECT, "0", events.NEWLY_AFFECTED, {"n": 2}, severity="Critical") == 2
        assert events.kev_added(s, image, ["CVE-2023-45853"]) == 3
        assert events.scan_finished(s, image, "success") == 3  # image level High: all, High, scan-only
        assert events.emit(s, "otherproject", "0", events.SCAN_FINISHED, {}) == 0
    assert events.deliver_due(rt.sessions, rt.box, POLICY) == 9
    assert len(receiver.deliveries) == 9
    for d in receiver.deliveries:
        expected = hmac.new(
            SECRET.encode(), d.headers["x-openhss-timestamp"].encode() + b"." + d.body, hashlib.sha256
        ).hexdigest()
        assert d.headers["x-openhss-signature"] == f"sha256={expected}"
        body = json.loads(d.body)
        assert body["id"] == d.headers["x-openhss-delivery"] and body["type"] == d.headers["x-openhss-event"]
    kev = [
        json.loads(d.body) for d in receiver.deliveries if d.headers["x-openhss-event"] == events.KEV_ADDED
    ]
    assert kev[0]["data"]["vulnerabilities"] == [{"vul_id": "CVE-2023-45853", "severity": "High"}]
    with transaction(rt.sessions) as s:
        event_id = events.send_test(s, SCOPE, everything)
    assert events.deliver_due(rt.sessions, rt.box, POLICY) == 1
    assert receiver.event_ids()[-1] == event_id


def test_receiver_downtime_backoff_and_giving_up(rt: Runtime, receiver: Receiver) -> None:
    subscribe(rt, receiver.url)
    port = receiver.port
    receiver.stop()
    with transaction(rt.sessions) as s:
        events.emit(s, PROJECT, "0", events.SCAN_FINISHED, {"x": 1})
    assert events.deliver_due(rt.sessions, rt.box, POLICY) == 0
    (row,) = rows(rt)
    assert row.status == events.PENDING and row.attempts == 1 and "Connect" in row.last_error
    assert row.next_attempt_at > row.created_at
    # Not due again before its backoff: an immediate pass claims nothing.
    with transaction(rt.sessions) as s:
        s.execute(update(EventOutbox).values(next_attempt_at=now_ms() + 60_000))
    assert events.deliver_due(rt.sessions, rt.box, POLICY) == 0
    assert rows(rt)[0].attempts == 1
    with transaction(rt.sessions) as s:
        s.execute(update(EventOutbox).values(next_attempt_at=0))
    back = Receiver(port=port).start()
    try:
        deliver_until_done(rt)
        assert back.event_ids() == [row.event_id]
        assert rows(rt)[0].attempts == 1 and rows(rt)[0].status == events.DELIVERED

        back.status = 500
        with transaction(rt.sessions) as s:
            events.emit(s, PROJECT, "0", events.SCAN_FINISHED, {"x": 2})
        deliver_until_done(rt, WebhookSettings(**{**POLICY.model_dump(), "max_attempts": 3}))
        last = rows(rt)[-1]
        assert last.status == events.FAILED and last.attempts == 3 and last.last_error == "HTTP 500"
        assert back.event_ids().count(last.event_id) == 3  # same idempotency key on every retry
    finally:
        back.stop()


def test_backoff_doubles_and_is_capped() -> None:
    p = WebhookSettings(backoff_seconds=5, max_backoff_seconds=60)
    assert [events.backoff_ms(n, p) for n in (1, 2, 3, 4, 5, 6)] == [5000, 10000, 20000, 40000, 60000, 60000]


@pytest.mark.parametrize(
    ("url", "policy", "ok"),
    [
        ("http://127.0.0.1:9/x", WebhookSettings(), False),
        ("http://localhost/x", WebhookSettings(), False),
        ("http://[::1]/x", WebhookSettings(), False),
        ("http://127.0.0.1:9/x", WebhookSettings(allow_loopback=True), True),
        ("http://10.1.2.3/x", WebhookSettings(allow_loopback=True), False),
        ("http://169.254.169.254/latest/meta-data", WebhookSettings(allow_loopback=True), False),
        ("http://10.1.2.3/x", WebhookSettings(allow_private=True), True),
        ("https://93.184.215.14/hook", WebhookSettings(), True),
        ("ftp://93.184.215.14/x", WebhookSettings(), False),
        ("https://user:pw@93.184.215.14/x", WebhookSettings(), False),
        ("file:///etc/passwd", WebhookSettings(allow_loopback=True, allow_private=True), False),
        ("http://[::1/x", WebhookSettings(allow_loopback=True), False),
        ("http://example.com:99999/x", WebhookSettings(), False),
        ("http://" + "a" * 300 + ".example/x", WebhookSettings(), False),
    ],
)
def test_target_policy(url: str, policy: WebhookSettings, ok: bool) -> None:
    if ok:
        events.check_target(url, policy)
    else:
        with pytest.raises(InvalidRequest):
            events.check_target(url, policy)


def _deliverer(data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPENHSS_DATA_DIR": str(data_dir),
        "OPENHSS_WEBHOOKS__ALLOW_LOOPBACK": "true",
        "OPENHSS_WEBHOOKS__LEASE_SECONDS": "1",
        "OPENHSS_WEBHOOKS__BACKOFF_SECONDS": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "openhss.entry", "events", "deliver", "--loop", "--interval", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow  # two deliverer processes
def test_rematch_newly_affecting_three_images_delivers_three_events_across_a_kill(
    rt: Runtime, receiver: Receiver, tmp_path: Path
) -> None:
    inst = Instance(rt.sessions)
    affected = {inst.image(f"docker.io/library/app{i}", "sha256:" + f"{i}" * 64) for i in range(3)}
    elsewhere = inst.image("docker.io/library/other", "sha256:" + "e" * 64)
    with transaction(rt.sessions) as s:
        s.get_one(Image, elsewhere).enterprise_project_id = "ep-b"  # no subscription there
    subscribe(rt, receiver.url, event_types=(events.NEWLY_AFFECTED,))
    receiver.hold_first = True

    new = [*FINDINGS, finding("CVE-2099-0002", ZLIB)]
    with transaction(rt.sessions) as s:
        run = rematch.create_rematch_run(s, {("Debian", "zlib1g")}).id
    report = rematch.rematch(rt.sessions, run, lambda inv: new)
    assert len(report.newly_affected) == 4
    assert len(rows(rt)) == 3  # written with the re-match, in its transactions

    first = _deliverer(tmp_path)
    try:
        _wait(receiver.arrived.is_set, "the first delivery never arrived")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    receiver.release.set()  # the answer goes to a dead process: that delivery is not recorded
    assert not any(r.status == events.DELIVERED for r in rows(rt))

    second = _deliverer(tmp_path)
    try:
        _wait(
            lambda: all(r.status == events.DELIVERED for r in rows(rt)), "events not delivered after restart"
        )
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, second.stderr.read() if second.stderr else ""
    ids = receiver.event_ids()
    assert len(set(ids)) == 3 and len(ids) >= 3  # at least once; exactly three distinct events
    images = {json.loads(d.body)["data"]["image_name"] for d in receiver.deliveries}
    with rt.sessions() as s:
        names = {s.get_one(Image, pk).image_name for pk in affected}
    assert images == names
    for d in receiver.deliveries:
        body = json.loads(d.body)
        assert body["data"]["cause"] == "rematch"
        assert body["data"]["vulnerabilities"] == [{"vul_id": "CVE-2099-0002", "severity": "High"}]


def test_embedded_worker_delivers(tmp_path: Path, receiver: Receiver) -> None:
    """`openhss serve`'s in-process worker runs the deliverer: an emitted event arrives with no CLI."""
    from openhss.worker.embedded import start_embedded_worker

    settings = make_settings(tmp_path, webhooks=POLICY)
    runtime = open_runtime(settings)
    bootstrap_admin(runtime)
    subscribe(runtime, receiver.url)
    worker = start_embedded_worker(settings)
    try:
        with transaction(runtime.sessions) as s:
            events.emit(s, PROJECT, "0", events.SCAN_FINISHED, {"embedded": True})
        _wait(lambda: len(receiver.deliveries) == 1, "the embedded deliverer did not deliver")
    finally:
        worker.stop()
        runtime.engine.dispose()
    assert json.loads(receiver.deliveries[0].body)["data"] == {"embedded": True}


def test_scan_events_from_the_executor(rt: Runtime, receiver: Receiver) -> None:
    """finish_job emits, in its own transaction: scan.finished always; image.newly_affected only for
    vulnerabilities the image did not have and that no whitelist rule or VEX statement suppresses."""
    from openhss.db.models import ScanTaskImage
    from openhss.domain.enums import ScanStatus
    from openhss.domain.models import OSInfo
    from openhss.domain.vex import parse_document
    from openhss.domain.vulnerability import VulnerabilityFinding
    from openhss.scan.applier import Inventory
    from openhss.services import dispatch, scan_tasks, vex
    from openhss.services.results import IGNORED
    from tests.vex.test_documents import DIGEST
    from tests.vex.test_service import BASH, _doc_for

    subscribe(rt, receiver.url)
    with transaction(rt.sessions) as s:
        img = Image(project_id=PROJECT, image_type="local", image_id="sha256:" + "7" * 64, image_name="nginx",
                    image_version="1.25", image_digest=DIGEST)  # fmt: skip
        s.add(img)
        s.flush()
        pk = img.id
        vex.import_document(
            s, PROJECT, "0", parse_document(_doc_for("CVE-2099-0003", "pkg:deb/debian/zlib1g"))
        )
    inv = Inventory(os=OSInfo("debian", "12"), packages=[BASH, ZLIB])

    def scan(vulns: list[VulnerabilityFinding], status: ScanStatus = ScanStatus.SUCCESS) -> None:
        with transaction(rt.sessions) as s:
            task = scan_tasks.create_task(
                s,
                SCOPE,
                image_type="local",
                is_all=False,
                refs=[scan_tasks.ImageRefIn(image_id="sha256:" + "7" * 64)],
                settings=rt.settings.scans,
            )
            job = s.scalars(select(ScanTaskImage).where(ScanTaskImage.task_pk == task.id)).one().id
        with transaction(rt.sessions) as s:
            assert isinstance(
                scan_queue.start_job(s, job, "w", settings=rt.settings.scans), scan_queue.Started
            )
        with transaction(rt.sessions) as s:
            reason = "" if status is ScanStatus.SUCCESS else "pull failed"
            assert scan_queue.finish_job(s, job, "w", status, reason, inventory=inv, vulnerabilities=vulns)

    try:
        scan(list(FINDINGS))
        scan(list(FINDINGS))  # a rescan finding nothing new
        scan([*FINDINGS, finding("CVE-2099-0003", ZLIB)])  # new, but a VEX statement says not_affected
        scan([], ScanStatus.FAILED)
    finally:
        dispatch.set_sender(None)
    kinds = [(r.event_type, json.loads(r.payload)["data"]) for r in rows(rt)]
    assert [k for k, _d in kinds] == [
        events.NEWLY_AFFECTED,
        events.SCAN_FINISHED,
        events.SCAN_FINISHED,
        events.SCAN_FINISHED,
        events.SCAN_FINISHED,
    ]
    assert [v["vul_id"] for v in kinds[0][1]["vulnerabilities"]] == sorted(f.vul_id for f in FINDINGS)
    assert kinds[0][1]["cause"] == "scan"
    assert [d["scan_status"] for _k, d in kinds[1:]] == ["success", "success", "success", "failed"]
    with rt.sessions() as s:
        from openhss.db.models import VulImageIndex

        status = s.scalar(
            select(VulImageIndex.status).where(
                VulImageIndex.image_pk == pk, VulImageIndex.vul_id == "CVE-2099-0003"
            )
        )
    assert status == IGNORED


def _openhss(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENHSS_DATA_DIR": str(data_dir), "OPENHSS_WEBHOOKS__ALLOW_LOOPBACK": "true"}
    return subprocess.run(
        [sys.executable, "-m", "openhss.entry", "events", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.slow  # four CLI processes
def test_events_cli(rt: Runtime, receiver: Receiver, tmp_path: Path) -> None:
    made = _openhss(tmp_path, "subscribe", receiver.url, "--secret", SECRET, "--project", PROJECT)
    assert made.returncode == 0, made.stderr
    sid = made.stdout.strip()
    done = _openhss(tmp_path, "test", sid, "--project", PROJECT)
    assert done.returncode == 0 and "delivered" in done.stdout, done.stderr
    assert [d.headers["x-openhss-event"] for d in receiver.deliveries] == [events.TEST]
    listed = _openhss(tmp_path, "list", "--project", PROJECT)
    assert sid in listed.stdout and "delivered 1" in listed.stdout
    receiver.status = 503
    failed = _openhss(tmp_path, "test", sid, "--project", PROJECT)
    assert failed.returncode == 1 and "HTTP 503" in failed.stderr and "Traceback" not in failed.stderr
