"""Signed requests are idempotent, not single-use: a captured request replayed has no second effect and
gets only the first answer, and ordinary concurrent SDK-style traffic (identical POSTs signed in the
same second, as the SDK's one-second `X-Sdk-Date` makes them) is never refused as a "replay". The same
signed bytes sent again after another request of the same signer are a new request, and execute.

Runs on PostgreSQL and on the embedded SQLite database, the two places the claim race is decided.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from openhss.db.engine import transaction
from openhss.db.models import ExportTask
from tests.support.service import BACKENDS, PROJECT, Service, service_on

from .conftest import send, signed

EXPORT = f"/v5/{PROJECT}/image/local-vulnerability/export?export_size=100"
HANDLE = f"/v5/{PROJECT}/image/vulnerability/handle"
LIST = f"/v5/{PROJECT}/image/local-repositories?limit=10&offset=0"
WHITELISTS = f"/v5/{PROJECT}/image/whitelists?global_image_type=local&type=vulnerability"
RULE_CVE = "CVE-2099-0001"
RULE = {"vul_type": "linux_vul", "vul_ids": [RULE_CVE], "rule_type": "all_images"}
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


def _rule_ids(svc: Service) -> list[str]:
    url, headers, raw = signed(svc, "GET", f"{WHITELISTS}&vul_name={RULE_CVE}&offset=0&limit=10")
    resp = send("GET", url, headers, raw)
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["data_list"]]


def test_add_remove_add_within_one_second_adds_again(service: Service) -> None:
    """The SDK signs to the second: add, remove and add the same rule within it, and the second add is
    byte-identical to the first. It follows another request of the same client, so it is a new request
    (it once got the first add's stored answer and added nothing); an immediate repeat of it is not."""
    at = datetime.now(UTC)
    add = signed(service, "POST", WHITELISTS, RULE, now=at)
    first = send("POST", *add)
    assert first.status_code == 200, first.text
    ids = _rule_ids(service)
    assert len(ids) == 1
    removed = send("DELETE", *signed(service, "DELETE", WHITELISTS, {"ids": ids}, now=at))
    assert removed.status_code == 200, removed.text
    assert _rule_ids(service) == []

    again = send("POST", *add)
    assert again.status_code == 200, again.text
    assert len(_rule_ids(service)) == 1, "the second add was answered with the first add's stored response"

    # Immediately repeated, with nothing between: the same request, answered once (a real second add
    # of an existing rule would be a 400).
    repeat = send("POST", *add)
    assert (repeat.status_code, repeat.content) == (again.status_code, again.content)
    assert len(_rule_ids(service)) == 1

    cleanup = send("DELETE", *signed(service, "DELETE", WHITELISTS, {"ids": _rule_ids(service)}))
    assert cleanup.status_code == 200, cleanup.text
