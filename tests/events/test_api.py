"""The webhook subscription endpoints over HTTP (AK/SK-signed): create, list with delivery counts (no
secret), test event, delete; the target policy and bad filters as HSS 400 bodies."""

from __future__ import annotations

from pathlib import Path

from openhss.config import WebhookSettings
from openhss.services import events
from tests.events.receiver import Receiver
from tests.support.service import running_service
from tests.vex.test_api import call

SECRET = "an-api-webhook-secret"


def test_subscriptions_over_http(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        with running_service(tmp_path, webhooks=WebhookSettings(allow_loopback=True)) as svc:
            made = call(
                svc,
                "POST",
                "/events/subscriptions",
                {
                    "url": receiver.url,
                    "secret": SECRET,
                    "event_types": ["image.newly_affected"],
                    "min_severity": "High",
                },
            )
            assert made.status_code == 200, made.text
            sid = made.json()["subscription_id"]
            test = call(svc, "POST", f"/events/subscriptions/{sid}/test")
            assert test.status_code == 200, test.text
            rt = svc.runtime
            assert events.deliver_due(rt.sessions, rt.box, rt.settings.webhooks) == 1
            assert receiver.event_ids() == [test.json()["event_id"]]
            listed = call(svc, "GET", "/events/subscriptions").json()
            (info,) = listed["data_list"]
            assert info["delivered_num"] == 1 and info["event_types"] == ["image.newly_affected"]
            assert "secret" not in info and SECRET not in str(listed)
            for body in (
                {"url": "ftp://example.com/x", "secret": SECRET},
                {"url": receiver.url, "secret": "short"},
                {"url": receiver.url, "secret": SECRET, "event_types": ["nope"]},
            ):
                resp = call(svc, "POST", "/events/subscriptions", body)
                assert resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001", resp.text
            assert call(svc, "DELETE", f"/events/subscriptions/{sid}").status_code == 200
            assert call(svc, "GET", "/events/subscriptions").json()["total_num"] == 0
            assert call(svc, "DELETE", "/events/subscriptions/unknown").status_code == 404
        with running_service(tmp_path / "strict") as svc:  # default policy: no loopback targets
            resp = call(svc, "POST", "/events/subscriptions", {"url": receiver.url, "secret": SECRET})
            assert resp.status_code == 400 and "loopback" in resp.json()["error_msg"], resp.text
    finally:
        receiver.stop()
