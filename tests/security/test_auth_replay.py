"""Signed requests are idempotent, not single-use: a captured request replayed has no second effect and
gets only the first answer, and ordinary concurrent SDK-style traffic (identical POSTs signed in the
same second, as the SDK's one-second `X-Sdk-Date` makes them) is never refused as a "replay".

Runs on PostgreSQL and on the embedded SQLite database, the two places the claim race is decided.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, update

from openhss.db.engine import transaction
from openhss.db.models import ExportTask
from tests.support.service import BACKENDS, PROJECT, Service, service_on

from .conftest import send, signed

EXPORT = f"/v5/{PROJECT}/image/local-vulnerability/export?export_size=100"
HANDLE = f"/v5/{PROJECT}/image/vulnerability/handle"
LIST = f"/v5/{PROJECT}/image/local-repositories?limit=10&offset=0"
IGNORE_ALL = {"image_type": "local", "type": "linux_vul", "operate_type": "ignore", "select_type": "all_vul"}


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with service_on(request.param, tmp_path_factory.mktemp("replay")) as svc:
        yield svc


def _exports(svc: Service) -> int:
    """How many exports were ever created; earlier ones are marked finished (no worker runs here) so
    that one export type can be requested again."""
    with transaction(svc.runtime.sessions) as s:
        s.execute(update(ExportTask).values(task_status="success"))
        return int(s.scalar(select(func.count()).select_from(ExportTask)) or 0)


def test_replayed_capture_has_no_second_effect_and_gets_the_first_answer(service: Service) -> None:
    before = _exports(service)
    url, headers, raw = signed(service, "POST", EXPORT, {"operate_all": True})
    first = send("POST", url, headers, raw)
    assert first.status_code == 200, first.text
    assert _exports(service) == before + 1
    with ThreadPoolExecutor(8) as pool:
        replays = list(pool.map(lambda _: send("POST", url, headers, raw), range(8)))
    for replay in replays:
        assert (replay.status_code, replay.content) == (first.status_code, first.content)
        assert replay.headers["x-request-id"] != first.headers["x-request-id"]
    assert _exports(service) == before + 1


def test_concurrent_first_arrivals_execute_once(service: Service) -> None:
    """Duplicates that arrive while the first is still running wait for its answer."""
    before = _exports(service)
    url, headers, raw = signed(service, "POST", EXPORT, {"operate_all": True, "vul_type": "app_vul"})
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: send("POST", url, headers, raw), range(8)))
    assert {(a.status_code, a.content) for a in answers} == {(answers[0].status_code, answers[0].content)}
    assert answers[0].status_code == 200, answers[0].text
    assert _exports(service) == before + 1


def test_forged_duplicate_burns_nothing(service: Service) -> None:
    """A repeat with a swapped body is a bad signature (401) and neither claims nor waits on the key."""
    url, headers, raw = signed(service, "POST", HANDLE, IGNORE_ALL)
    forged = send("POST", url, headers, raw.replace(b'"ignore"', b'"unhandle"'))
    assert forged.status_code == 401, forged.text
    assert send("POST", url, headers, raw).status_code == 200


def _one(svc: Service, i: int) -> tuple[str, int, bytes]:
    kind = ("get", "handle", "handle", "list-vuls")[i % 4]
    if kind == "handle":
        # Every thread signs the same body at "now": within one second these are byte-identical.
        url, headers, raw = signed(svc, "POST", HANDLE, IGNORE_ALL)
        resp = send("POST", url, headers, raw)
        return headers["Authorization"], resp.status_code, resp.content
    path = (
        LIST if kind == "get" else f"/v5/{PROJECT}/image/vulnerabilities?limit=10&offset=0&image_type=local"
    )
    url, headers, raw = signed(svc, "GET", path)
    resp = send("GET", url, headers, raw)
    return headers["Authorization"], resp.status_code, resp.content


def test_sixty_requests_a_second_of_mixed_signed_traffic_has_no_spurious_refusal(service: Service) -> None:
    rate, seconds = 60, 3
    with ThreadPoolExecutor(16) as pool:
        futures = []
        start = time.monotonic()
        for i in range(rate * seconds):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_one, service, i))
        results = [f.result() for f in futures]
    statuses = [status for _, status, _ in results]
    assert statuses.count(200) == len(results), sorted(set(statuses))
    by_signature: dict[str, set[bytes]] = {}
    for auth, _, body in results:
        by_signature.setdefault(auth, set()).add(body)
    # Identical signatures happened (that is the point) and each got one answer.
    assert len(by_signature) < len(results)
    assert all(len(bodies) == 1 for bodies in by_signature.values())
