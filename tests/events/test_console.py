"""The console's webhooks page over real HTTP: log in, add a subscription with the form (CSRF token from
the page), see it listed, send a test event that the deliverer takes to a real receiver, delete it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from openhss.config import WebhookSettings
from openhss.services import events
from tests.events.receiver import Receiver
from tests.support.service import ADMIN_PASSWORD, running_service

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def hidden(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


def test_webhooks_page(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        with (
            running_service(tmp_path, webhooks=WebhookSettings(allow_loopback=True)) as svc,
            httpx.Client(base_url=svc.base_url + "/console", follow_redirects=True) as web,
        ):
            login = web.get("/login")
            done = web.post(
                "/login", data={**hidden(login.text), "username": "admin", "password": ADMIN_PASSWORD}
            )
            assert done.status_code == 200, done.text
            page = web.get("/webhooks")
            assert page.status_code == 200 and "No webhooks yet" in page.text
            token = hidden(page.text)["csrf"]
            form = {"csrf": token, "url": receiver.url, "secret": "console-webhook-secret", "name": "ops"}
            made = web.post("/webhooks", data={**form, "event_type": "scan.finished", "min_severity": "High"})
            assert made.status_code == 200 and receiver.url in made.text and "scan.finished" in made.text
            bad = web.post("/webhooks", data={**form, "url": "ftp://example.com/x"})
            assert "http or https" in bad.text
            assert web.post("/webhooks", data={**form, "csrf": "0" * 64}).status_code == 403
            (sid,) = re.findall(r"/webhooks/([0-9a-f]{32})/test", made.text)
            web.post(f"/webhooks/{sid}/test", data={"csrf": token})
            rt = svc.runtime
            assert events.deliver_due(rt.sessions, rt.box, rt.settings.webhooks) == 1
            assert receiver.deliveries[0].headers["x-openhss-event"] == events.TEST
            gone = web.post(f"/webhooks/{sid}/delete", data={"csrf": token})
            assert "No webhooks yet" in gone.text
    finally:
        receiver.stop()
