"""`openhss events deliver|test|subscribe|list`: the webhook outbox from the command line.

`deliver` runs the deliverer (once, or `--loop` until interrupted) against the service database: a
deliverer killed at any point loses nothing; its claimed events are delivered again once their lease
expires. `test` queues a `webhook.test` event for one subscription and delivers it at once.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from openhss.config import load_settings
from openhss.db.engine import transaction
from openhss.domain.errors import HssError
from openhss.services import events
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime, open_runtime

events_app = typer.Typer(help="Webhook events: subscriptions, delivery, test.", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"openhss: {message}", err=True)
    raise typer.Exit(2)


def _runtime() -> Runtime:
    try:
        return open_runtime(load_settings())
    except SQLAlchemyError as exc:
        _fail(f"cannot open the service database: {str(exc).splitlines()[0]}")


def _project(rt: Runtime, project: str) -> str:
    project = project or rt.settings.default_project_id
    if not project:
        _fail("--project is required (no default project is configured)")
    return project


@events_app.command("deliver")
def deliver_command(
    loop: Annotated[bool, typer.Option("--loop", help="Keep delivering until interrupted.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between polls when idle (--loop).", min=0.05)
    ] = 2.0,
) -> None:
    """Deliver the events that are due."""
    rt = _runtime()
    try:
        if not loop:
            n = events.deliver_due(rt.sessions, rt.box, rt.settings.webhooks)
            typer.echo(f"{n} events delivered", err=True)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            events.run_deliverer(rt.sessions, rt.box, rt.settings.webhooks, stop, interval=interval)
        except KeyboardInterrupt:
            stop.set()
    finally:
        rt.engine.dispose()


@events_app.command("subscribe")
def subscribe_command(
    url: Annotated[str, typer.Argument(help="Receiver URL (http or https).")],
    secret: Annotated[str, typer.Option(envvar="OPENHSS_WEBHOOK_SECRET", help="HMAC-SHA256 signing secret.")],
    project: Annotated[
        str, typer.Option("--project", help="Project ID (default: the default project).")
    ] = "",
    enterprise_project: Annotated[str, typer.Option(help="Enterprise project whose events are sent.")] = "0",
    event_type: Annotated[
        list[str] | None,
        typer.Option("--event-type", help=f"One of {', '.join(events.EVENT_TYPES)}; repeatable."),
    ] = None,
    min_severity: Annotated[str, typer.Option(help="Low | Medium | High | Critical")] = "",
    kev_only: Annotated[
        bool, typer.Option("--kev-only", help="Only events about KEV-listed vulnerabilities.")
    ] = False,
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a webhook subscription; prints its id."""
    rt = _runtime()
    try:
        project = _project(rt, project)
        spec = events.SubscriptionSpec(url, secret, name, tuple(event_type or ()), min_severity, kev_only)
        with transaction(rt.sessions) as session:
            sub = events.subscribe(
                session, Scope(project, None), enterprise_project, spec, rt.box, rt.settings.webhooks
            )
            sid = sub.subscription_id
    except HssError as exc:
        _fail(exc.message)
    finally:
        rt.engine.dispose()
    typer.echo(sid)


@events_app.command("list")
def list_command(
    project: Annotated[
        str, typer.Option("--project", help="Project ID (default: the default project).")
    ] = "",
) -> None:
    """List subscriptions with their delivery counts."""
    rt = _runtime()
    try:
        project = _project(rt, project)
        with transaction(rt.sessions) as session:
            for sub in events.list_subscriptions(session, Scope(project, None)):
                counts = events.delivery_counts(session, sub.id)
                shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no events"
                typer.echo(f"{sub.subscription_id}  {sub.url}  {sub.event_types or 'all events'}  {shown}")
    finally:
        rt.engine.dispose()


@events_app.command("test")
def test_command(
    subscription_id: str,
    project: Annotated[
        str, typer.Option("--project", help="Project ID (default: the default project).")
    ] = "",
) -> None:
    """Send a webhook.test event to one subscription now; exit 1 when the receiver did not take it."""
    rt = _runtime()
    try:
        project = _project(rt, project)
        with transaction(rt.sessions) as session:
            event_id = events.send_test(session, Scope(project, None), subscription_id)
        events.deliver_due(rt.sessions, rt.box, rt.settings.webhooks)
        with transaction(rt.sessions) as session:
            row = events.event(session, event_id)
    except HssError as exc:
        _fail(exc.message)
    finally:
        rt.engine.dispose()
    if row.status != events.DELIVERED:
        typer.echo(
            f"openhss: test event {event_id} not delivered: {row.last_error or 'not due yet'}", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"test event {event_id} delivered")
