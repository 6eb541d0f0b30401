"""Webhook events through a durable outbox.

- **Emit** (`emit`): called inside the transaction of the change (a scan finishing, a re-match making an
  image newly affected, a KEV addition); one `event_outbox` row per matching subscription (types,
  minimum severity, KEV only). The change and its events commit or roll back together.
- **Deliver** (`deliver_due`): claims due rows with a lease (a conditional UPDATE, so two deliverers
  never hold one row), POSTs the JSON body with `X-OpenHSS-Signature: sha256=HMAC(secret,
  "<timestamp>.<body>")`, `X-OpenHSS-Timestamp`, `X-OpenHSS-Event` and `X-OpenHSS-Delivery` (the
  event id: the receiver's idempotency key, the same on every retry). 2xx ends the row; anything else
  schedules a retry with exponential backoff, up to `webhooks.max_attempts`. A deliverer killed
  mid-delivery leaves a lease that expires, and the row is delivered again: at least once, never lost.
- **Targets**: http(s) only; loopback and private addresses are refused unless the settings allow them,
  checked when the subscription is made and again (after DNS) before every delivery.

Tenant scoping: subscriptions and outbox rows carry project and enterprise project; every scoped query
goes through `_scoped`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import WebhookSettings
from openhss.db import tenancy
from openhss.db.engine import transaction
from openhss.db.models import EventOutbox, EventSubscription, Image, VulImageIndex
from openhss.domain.errors import InvalidRequest, NotFound
from openhss.services.crypto import SecretBox
from openhss.services.identity import Scope
from openhss.services.results import SEVERITY_RANK, now_ms

log = logging.getLogger("openhss.events")

SCAN_FINISHED = "scan.finished"
NEWLY_AFFECTED = "image.newly_affected"
KEV_ADDED = "vulnerability.kev_added"
TEST = "webhook.test"
EVENT_TYPES = (SCAN_FINISHED, NEWLY_AFFECTED, KEV_ADDED)
SEVERITIES = ("Low", "Medium", "High", "Critical")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
SIGNATURE_HEADER = "X-OpenHSS-Signature"

M = TypeVar("M", bound="Select[Any]")


def _scoped(stmt: M, model: type[EventSubscription] | type[EventOutbox], scope: Scope) -> M:
    """The tenant filter: `db.tenancy.scoped`, the one mechanism every tenant query goes through
    (`model` names the table for the reader; the mechanism finds every tenant table itself)."""
    del model
    return tenancy.scoped(stmt, scope)


# --- target policy ---------------------------------------------------------------------------------------


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: WebhookSettings) -> str:
    if ip.is_loopback:
        return "" if policy.allow_loopback else "a loopback address"
    if ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "" if policy.allow_private else "a private or reserved address"
    return ""


def check_target(url: str, policy: WebhookSettings, *, resolve: bool = True) -> None:
    """Refuse what a webhook must not reach: non-http(s), credentials in the URL, loopback/private
    addresses (unless allowed). With `resolve`, every address the name resolves to is checked."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InvalidRequest("invalid parameter url: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequest("invalid parameter url: an http or https URL with a host is required")
    if parts.username or parts.password:
        raise InvalidRequest("invalid parameter url: credentials in the URL are not allowed")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            addresses = [ipaddress.ip_address("127.0.0.1")]
        elif not resolve:
            return
        else:
            try:
                infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80))
            except (OSError, UnicodeError) as exc:
                raise InvalidRequest(f"invalid parameter url: host {host} does not resolve") from exc
            addresses = [ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos]
    for ip in addresses:
        why = _refused(ip, policy)
        if why:
            raise InvalidRequest(f"invalid parameter url: {host} is {why}, not allowed as a webhook target")


# --- subscriptions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    url: str
    secret: str
    name: str = ""
    event_types: tuple[str, ...] = ()
    min_severity: str = ""
    kev_only: bool = False
    enabled: bool = True


def _check_spec(spec: SubscriptionSpec, policy: WebhookSettings) -> None:
    check_target(spec.url, policy)
    unknown = [t for t in spec.event_types if t not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(f"invalid parameter event_types: unknown {', '.join(unknown)}")
    if spec.min_severity and spec.min_severity not in SEVERITIES:
        raise InvalidRequest(f"invalid parameter min_severity: expected one of {', '.join(SEVERITIES)}")
    if len(spec.secret) < 16:
        raise InvalidRequest("invalid parameter secret: at least 16 characters")


def subscribe(
    session: Session, scope: Scope, ep: str, spec: SubscriptionSpec, box: SecretBox, policy: WebhookSettings
) -> EventSubscription:
    _check_spec(spec, policy)
    if not scope.allows(ep):
        raise InvalidRequest(f"invalid parameter enterprise_project_id: {ep} is not granted")
    row = EventSubscription(
        subscription_id=uuid.uuid4().hex,
        project_id=scope.project_id,
        enterprise_project_id=ep,
        name=spec.name[:128],
        url=spec.url,
        secret_encrypted=box.encrypt(spec.secret),
        event_types=",".join(spec.event_types),
        min_severity=spec.min_severity,
        kev_only=spec.kev_only,
        enabled=spec.enabled,
        created_at=now_ms(),
    )
    session.add(row)
    session.flush()
    return row


def list_subscriptions(session: Session, scope: Scope) -> list[EventSubscription]:
    return list(
        session.scalars(
            _scoped(select(EventSubscription), EventSubscription, scope).order_by(EventSubscription.id)
        )
    )


def get_subscription(session: Session, scope: Scope, subscription_id: str) -> EventSubscription:
    row = session.scalar(
        _scoped(select(EventSubscription), EventSubscription, scope).where(
            EventSubscription.subscription_id == subscription_id
        )
    )
    if row is None:
        raise NotFound(f"subscription {subscription_id} does not exist")
    return row


def unsubscribe(session: Session, scope: Scope, subscription_id: str) -> None:
    session.delete(get_subscription(session, scope, subscription_id))
    session.flush()


def delivery_counts(session: Session, subscription_pk: int) -> dict[str, int]:
    return {
        status: int(n)
        for status, n in session.execute(
            select(EventOutbox.status, func.count())
            .where(EventOutbox.subscription_pk == subscription_pk)
            .group_by(EventOutbox.status)
        )
    }


# --- emitting --------------------------------------------------------------------------------------------


def _wants(sub: EventSubscription, event_type: str, severity: str, kev: bool) -> bool:
    if event_type == TEST:
        return True
    types = [t for t in sub.event_types.split(",") if t]
    if types and event_type not in types:
        return False
    if sub.kev_only and not kev:
        return False
    return not (sub.min_severity and SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK.get(sub.min_severity, 0))


def emit(
    session: Session,
    project_id: str,
    ep: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    severity: str = "",
    kev: bool = False,
    only: EventSubscription | None = None,
) -> int:
    """Queue one event for every subscription of the project (and enterprise project) that wants it, in
    the caller's transaction; returns how many outbox rows were written."""
    subs: Iterable[EventSubscription]
    if only is not None:
        subs = [only]
    else:
        subs = session.scalars(
            _scoped(select(EventSubscription), EventSubscription, Scope(project_id, frozenset({ep}))).where(
                EventSubscription.enabled.is_(True)
            )
        )
    at = now_ms()
    n = 0
    for sub in subs:
        if not _wants(sub, event_type, severity, kev):
            continue
        event_id = uuid.uuid4().hex
        body = {
            "id": event_id,
            "type": event_type,
            "created_at": at,
            "project_id": project_id,
            "enterprise_project_id": ep,
            "data": dict(data),
        }
        session.add(
            EventOutbox(
                event_id=event_id,
                subscription_pk=sub.id,
                project_id=project_id,
                enterprise_project_id=ep,
                event_type=event_type,
                payload=json.dumps(body, separators=(",", ":"), sort_keys=True),
                status=PENDING,
                attempts=0,
                next_attempt_at=at,
                lease_owner="",
                lease_expires=0,
                last_error="",
                created_at=at,
                delivered_at=0,
            )
        )
        n += 1
    if n:
        session.flush()
    return n


def highest(severities: Iterable[str]) -> str:
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 0), default="")


def send_test(session: Session, scope: Scope, subscription_id: str) -> str:
    """Queue a `webhook.test` event for one subscription (whatever its filters); returns its event id."""
    sub = get_subscription(session, scope, subscription_id)
    emit(
        session,
        sub.project_id,
        sub.enterprise_project_id,
        TEST,
        {"subscription_id": sub.subscription_id},
        only=sub,
    )
    event_id = session.scalar(
        select(EventOutbox.event_id)
        .where(EventOutbox.subscription_pk == sub.id)
        .order_by(EventOutbox.id.desc())
    )
    assert event_id is not None
    return event_id


# --- delivery --------------------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def backoff_ms(attempts: int, policy: WebhookSettings) -> int:
    """Wait before attempt `attempts + 1`: backoff_seconds · 2^(attempts-1), capped."""
    return int(min(policy.backoff_seconds * 2 ** max(attempts - 1, 0), policy.max_backoff_seconds) * 1000)


Post = Callable[[str, bytes, dict[str, str]], int]


def http_post(timeout: float) -> Post:
    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        # No redirects: a 3xx to an internal address would sidestep the target policy.
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            return client.post(url, content=body, headers=headers).status_code

    return post


@dataclass(frozen=True, slots=True)
class _Claimed:
    pk: int
    event_id: str
    event_type: str
    payload: str
    attempts: int
    url: str
    secret: bytes


def _claim(session: Session, owner: str, now: int, lease_ms: int, batch: int) -> list[_Claimed]:
    due = session.scalars(
        select(EventOutbox.id)
        .where(
            EventOutbox.status == PENDING,
            EventOutbox.next_attempt_at <= now,
            EventOutbox.lease_expires <= now,
        )
        .order_by(EventOutbox.next_attempt_at, EventOutbox.id)
        .limit(batch)
    ).all()
    out = []
    for pk in due:
        got = session.execute(
            update(EventOutbox)
            .where(EventOutbox.id == pk, EventOutbox.status == PENDING, EventOutbox.lease_expires <= now)
            .values(lease_owner=owner[:128], lease_expires=now + lease_ms)
        )
        if getattr(got, "rowcount", 0) != 1:
            continue  # another deliverer took it
        row = session.execute(
            select(EventOutbox, EventSubscription)
            .join(EventSubscription, EventSubscription.id == EventOutbox.subscription_pk)
            .where(EventOutbox.id == pk)
        ).one()
        ev, sub = row
        out.append(
            _Claimed(
                ev.id, ev.event_id, ev.event_type, ev.payload, ev.attempts, sub.url, sub.secret_encrypted
            )
        )
    return out


def _finish(
    sessions: sessionmaker[Session], c: _Claimed, owner: str, error: str, policy: WebhookSettings
) -> None:
    now = now_ms()
    with transaction(sessions) as session:
        if not error:
            values: dict[str, Any] = {"status": DELIVERED, "delivered_at": now, "last_error": ""}
        else:
            attempts = c.attempts + 1
            values = {
                "attempts": attempts,
                "last_error": error[:512],
                "status": FAILED if attempts >= policy.max_attempts else PENDING,
                "next_attempt_at": now + backoff_ms(attempts, policy),
            }
        session.execute(
            update(EventOutbox)
            .where(EventOutbox.id == c.pk, EventOutbox.lease_owner == owner[:128])
            .values(lease_owner="", lease_expires=0, **values)
        )


def deliver_due(
    sessions: sessionmaker[Session],
    box: SecretBox,
    policy: WebhookSettings,
    *,
    owner: str | None = None,
    post: Post | None = None,
    batch: int = 50,
) -> int:
    """Deliver what is due once; returns how many events were delivered."""
    owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    post = post or http_post(policy.timeout_seconds)
    with transaction(sessions) as session:
        claimed = _claim(session, owner, now_ms(), policy.lease_seconds * 1000, batch)
    delivered = 0
    for c in claimed:
        body = c.payload.encode()
        ts = str(int(time.time()))
        error = ""
        try:
            check_target(c.url, policy)
            status = post(
                c.url,
                body,
                {
                    "Content-Type": "application/json",
                    "User-Agent": "openhss-webhooks",
                    "X-OpenHSS-Event": c.event_type,
                    "X-OpenHSS-Delivery": c.event_id,
                    "X-OpenHSS-Timestamp": ts,
                    SIGNATURE_HEADER: sign(box.decrypt(c.secret), ts, body),
                },
            )
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except InvalidRequest as exc:
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        _finish(sessions, c, owner, error, policy)
        if not error:
            delivered += 1
    return delivered


def run_deliverer(
    sessions: sessionmaker[Session],
    box: SecretBox,
    policy: WebhookSettings,
    stop: threading.Event,
    *,
    interval: float = 2.0,
) -> None:
    """Deliver until `stop` is set (the loop `openhss events deliver --loop` and workers run)."""
    owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    while not stop.is_set():
        try:
            n = deliver_due(sessions, box, policy, owner=owner)
        except Exception:  # a database blip must not end the loop; the rows stay pending
            log.exception("webhook delivery pass failed")
            n = 0
        if not n:
            stop.wait(interval)


# --- the events of images ----------------------------------------------------------------------------------


def _image_data(image: Image) -> dict[str, Any]:
    return {
        "image_id": image.image_id,
        "image_name": image.image_name,
        "image_version": image.image_version,
        "image_digest": image.image_digest,
        "image_type": image.image_type,
    }


def scan_finished(session: Session, image: Image, status: str, reason: str = "") -> int:
    data = {
        **_image_data(image),
        "scan_status": status,
        "failed_reason": reason,
        "vul_num": image.vul_num,
        "severity_level": image.severity_level,
    }
    return emit(
        session,
        image.project_id,
        image.enterprise_project_id,
        SCAN_FINISHED,
        data,
        severity=image.severity_level,
    )


def newly_affected(session: Session, image: Image, gained: Iterable[str], cause: str) -> int:
    """`image.newly_affected` for the gained vulnerabilities that are still open (a whitelist rule or a
    VEX statement that suppressed one at once means the image is not affected by it)."""
    rows = session.execute(
        select(VulImageIndex.vul_id, VulImageIndex.repair_necessity).where(
            VulImageIndex.image_pk == image.id,
            VulImageIndex.vul_id.in_(set(gained)),
            VulImageIndex.handled.is_(False),
        )
    ).all()
    if not rows:
        return 0
    data = {
        **_image_data(image),
        "cause": cause,
        "vulnerabilities": [{"vul_id": v, "severity": s} for v, s in sorted(rows)],
    }
    return emit(
        session,
        image.project_id,
        image.enterprise_project_id,
        NEWLY_AFFECTED,
        data,
        severity=highest(s for _v, s in rows),
    )


def kev_added(session: Session, image: Image, vul_ids: Sequence[str]) -> int:
    """`vulnerability.kev_added`: vulnerabilities of this image just listed in CISA KEV (the re-match of
    the KEV feed calls this once per image it finds; KEV-only subscriptions receive these)."""
    rows = session.execute(
        select(VulImageIndex.vul_id, VulImageIndex.repair_necessity).where(
            VulImageIndex.image_pk == image.id, VulImageIndex.vul_id.in_(set(vul_ids))
        )
    ).all()
    if not rows:
        return 0
    data = {**_image_data(image), "vulnerabilities": [{"vul_id": v, "severity": s} for v, s in sorted(rows)]}
    return emit(
        session,
        image.project_id,
        image.enterprise_project_id,
        KEV_ADDED,
        data,
        severity=highest(s for _v, s in rows),
        kev=True,
    )


def event(session: Session, event_id: str) -> EventOutbox:
    row = session.scalar(select(EventOutbox).where(EventOutbox.event_id == event_id))
    if row is None:
        raise NotFound(f"event {event_id} does not exist")
    return row
