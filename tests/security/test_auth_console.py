"""The console's own defences: no response can be MIME-sniffed, and the login form refuses a
cross-site submission (login CSRF: logging a victim's browser into the attacker's account)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.service import ADMIN_PASSWORD, Service, running_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("console-sec")) as service:
        yield service


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_every_console_response_forbids_sniffing(svc: Service) -> None:
    with httpx.Client(base_url=svc.base_url + "/console") as browser:
        for path in ("/login", "/", "/static/htmx.min.js", "/no-such-page"):
            resp = browser.get(path)
            assert resp.headers.get("x-content-type-options") == "nosniff", (path, resp.status_code)


def test_login_needs_the_form_token_of_this_browser(svc: Service) -> None:
    creds = {"username": "admin", "password": ADMIN_PASSWORD}
    with (
        httpx.Client(base_url=svc.base_url + "/console") as victim,
        httpx.Client(base_url=svc.base_url + "/console") as attacker,
    ):
        # A cross-site form post: no pre-session cookie, no field.
        forged = victim.post("/login", data=creds)
        assert forged.status_code == 403 and "openhss_console" not in forged.cookies
        # The attacker's own valid field, replayed from another browser, does not match the victim's cookie.
        attacker_token = _form_token(attacker.get("/login").text)
        victim.get("/login")
        forged = victim.post("/login", data={**creds, "csrf": attacker_token})
        assert forged.status_code == 403 and "openhss_console" not in forged.cookies
        # The form as this browser rendered it logs in.
        token = _form_token(victim.get("/login").text)
        ok = victim.post("/login", data={**creds, "csrf": token})
        assert ok.status_code == 303, ok.text
        assert ok.cookies.get("openhss_console")
        assert victim.get("/").status_code == 200
