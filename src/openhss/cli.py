"""The `openhss` command line: run the service and worker, manage users, keys and projects.

Every command fails with one line on stderr and exit status 2 for bad input, never a traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from openhss.cli_agent import agent_command
from openhss.cli_db import db_app
from openhss.cli_events import events_app
from openhss.cli_export import export_app
from openhss.cli_scan import scan_command
from openhss.cli_vex import vex_app
from openhss.config import Settings, load_settings
from openhss.db.engine import transaction
from openhss.domain.enums import Role
from openhss.domain.errors import HssError
from openhss.services import identity
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime

if TYPE_CHECKING:
    import uvicorn

    from openhss.agent.local import LocalAgent

app = typer.Typer(
    help="openhss: container-image security with an HSS v5 compatible API.\n\n"
    "`openhss --version` (with any command) prints the version. Exit status: 0 done, 1 the command "
    "could not do its work, 2 the command line or its input is wrong; errors are one line on stderr.",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Users and their access keys.", no_args_is_help=True)
keys_app = typer.Typer(help="Access keys (AK/SK) of a user.", no_args_is_help=True)
project_app = typer.Typer(help="Projects and enterprise projects.", no_args_is_help=True)
app.add_typer(user_app, name="user")
user_app.add_typer(keys_app, name="keys")
app.add_typer(project_app, name="project")
app.add_typer(db_app, name="db")
app.add_typer(export_app, name="export")
app.add_typer(vex_app, name="vex")
app.add_typer(events_app, name="events")
app.command("scan")(scan_command)
app.command("agent")(agent_command)

out = Console()
P = ParamSpec("P")
R = TypeVar("R")


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HssError as exc:
            typer.echo(f"openhss: {exc.message}", err=True)
            raise typer.Exit(2) from None
        except (OSError, ValueError) as exc:
            typer.echo(f"openhss: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _runtime() -> Runtime:
    return open_runtime(load_settings())


def _print_credentials(creds: identity.NewCredentials, settings: Settings) -> None:
    lines = [
        "First start: created the administrator account (shown only this once).",
        f"  user name     : {creds.user}",
        f"  password      : {creds.password if creds.password is not None else '(from settings)'}",
        f"  access key    : {creds.access_key}",
        f"  secret key    : {creds.secret_key if creds.secret_key is not None else '(from settings)'}",
        f"  project id    : {creds.project_id}",
        f"  API endpoint  : http://{settings.host}:{settings.port}",
        f"  console       : http://{settings.host}:{settings.port}/console/",
    ]
    print("\n".join(lines), flush=True)


@app.command()
@one_line_errors
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    rt = _runtime()
    from openhss.db.migrate import current_revision

    out.print(f"database at revision {current_revision(rt.engine)}")


@app.command()
@one_line_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default from settings: 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default from settings: 8080).")] = None,
    worker: Annotated[bool, typer.Option(help="Run the in-process worker (embedded mode).")] = True,
    local_agent: Annotated[
        bool | None,
        typer.Option(help="Report and scan this host's Docker/podman images (default from settings)."),
    ] = None,
) -> None:
    """Run the API service (and, by default, an in-process worker)."""
    import uvicorn

    os.umask(0o077)  # everything the service writes (exports, CA files, databases) is its own

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if local_agent is not None:
        overrides["local_agent"] = local_agent
    settings = load_settings(**overrides)
    rt = open_runtime(settings)
    creds = bootstrap_admin(rt)
    if creds is not None:
        _print_credentials(creds, settings)
    if worker and settings.embedded_worker:
        from openhss.worker.embedded import start_embedded_worker

        start_embedded_worker(settings, matchers=rt.matchers)
    else:
        from openhss.worker.app import install

        install(
            settings, rt.matchers
        )  # API requests still queue scans, for `openhss worker` processes to run
    from openhss.api.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, rt), host=settings.host, port=settings.port, log_level="info")
    )
    agent = _local_agent(rt, server) if settings.local_agent else None
    _banner(settings)
    try:
        server.run()
    finally:
        if agent is not None:
            agent.stop()


def _banner(settings: Settings) -> None:
    """Where to go next, on every start: the console first (what a person opens), then the API."""
    from openhss.console import MOUNT

    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{settings.port}"
    lines = [
        f"openhss console : {base}{MOUNT}/   (log in as {settings.admin_username})",
        f"openhss API     : {base}   (docs: {base}/docs)",
        f"openhss data dir: {settings.data_dir.resolve()}",
    ]
    print("\n".join(lines), flush=True)


def _local_agent(rt: Runtime, server: uvicorn.Server) -> LocalAgent | None:
    """Start the agent for this host, or say in one line why not (no Engine API socket here)."""
    from openhss.agent.local import LOCAL_AGENT_USER, LocalAgent, detect_docker_host

    docker_host = detect_docker_host(rt.settings.local_agent_docker_host)
    if docker_host is None:
        where = rt.settings.local_agent_docker_host or "DOCKER_HOST or the usual Docker/podman sockets"
        typer.echo(f"openhss: local agent not started: no Docker Engine API socket at {where}", err=True)
        return None

    def listening_port() -> int | None:
        if not server.started or not server.servers:
            return None
        return int(server.servers[0].sockets[0].getsockname()[1])

    agent = LocalAgent(rt, docker_host, listening_port)
    agent.start()
    typer.echo(
        f"openhss: local agent: reporting this host's images from {docker_host} as {LOCAL_AGENT_USER}",
        err=True,
    )
    return agent


@app.command()
@one_line_errors
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Parallel tasks in this worker.")] = 2,
    beat: Annotated[
        bool, typer.Option(help="Also run the periodic scheduler (run it in one worker only).")
    ] = False,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads or solo.")] = "prefork",
) -> None:
    """Run a worker process (distributed mode: Redis or RabbitMQ broker, PostgreSQL database).

    It consumes the manual scan lane first, then the bulk lane, then everything else."""
    from openhss.worker.app import install, queue_names

    os.umask(0o077)  # everything the worker writes (exports, CA files, schedule) is its own
    settings = load_settings()
    open_runtime(settings).engine.dispose()  # migrate; forked pool children open their own engines
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        f"--queues={','.join(queue_names(settings))}",
    ]
    if beat:
        argv += ["--beat", f"--schedule={settings.ensure_data_dir() / 'celerybeat-schedule'}"]
    install(settings).worker_main(argv)


@user_app.command("create")
@one_line_errors
def user_create(
    name: str,
    role: Annotated[Role, typer.Option(help="admin, operator or read-only.")] = Role.READ_ONLY,
    password: Annotated[
        str | None, typer.Option(help="Password; a random one is generated and printed if omitted.")
    ] = None,
    project: Annotated[list[str] | None, typer.Option(help="Grant this project id (repeatable).")] = None,
) -> None:
    """Create a user, optionally granted projects."""
    rt = _runtime()
    pw = password or identity.random_password()
    with transaction(rt.sessions) as session:
        identity.create_user(session, name, role, pw)
        for pid in project or []:
            identity.grant(session, name, pid)
    out.print(f"created user {name} ({role.value})")
    if password is None:
        print(f"password: {pw}")


@user_app.command("list")
@one_line_errors
def user_list() -> None:
    """List users and their roles."""
    rt = _runtime()
    table = Table("id", "name", "role", "enabled", "created")
    with transaction(rt.sessions) as session:
        for u in identity.list_users(session):
            table.add_row(
                str(u.id), u.name, u.role, str(u.enabled), u.created_at.isoformat(timespec="seconds")
            )
    out.print(table)


@user_app.command("password")
@one_line_errors
def user_password(name: str, password: Annotated[str, typer.Option(prompt=True, hide_input=True)]) -> None:
    """Set a user's password."""
    rt = _runtime()
    with transaction(rt.sessions) as session:
        identity.set_password(session, name, password)
    out.print(f"password of {name} changed")


@user_app.command("grant")
@one_line_errors
def user_grant(
    name: str,
    project_id: str,
    enterprise_project: Annotated[str | None, typer.Option(help="Only this enterprise project.")] = None,
) -> None:
    """Let a user see a project (all its enterprise projects unless one is named)."""
    rt = _runtime()
    with transaction(rt.sessions) as session:
        identity.grant(session, name, project_id, enterprise_project)
    out.print(f"granted {project_id} to {name}")


@keys_app.command("list")
@one_line_errors
def keys_list(name: str) -> None:
    """List a user's access keys (secrets are never shown again)."""
    rt = _runtime()
    table = Table("access key", "status", "description", "created", "last used")
    with transaction(rt.sessions) as session:
        for k in identity.list_access_keys(session, name):
            table.add_row(
                k.access_key,
                k.status,
                k.description,
                k.created_at.isoformat(timespec="seconds"),
                k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "-",
            )
    out.print(table)


@keys_app.command("create")
@one_line_errors
def keys_create(name: str, description: Annotated[str, typer.Option()] = "") -> None:
    """Create an AK/SK pair for a user; the secret key is printed once."""
    rt = _runtime()
    with transaction(rt.sessions) as session:
        ak, sk = identity.create_access_key(session, rt.box, name, description)
    print(f"access key: {ak}\nsecret key: {sk}")


@keys_app.command("delete")
@one_line_errors
def keys_delete(access_key: str) -> None:
    """Delete an access key; requests signed with it are refused from now on."""
    rt = _runtime()
    with transaction(rt.sessions) as session:
        identity.delete_access_key(session, access_key)
    out.print(f"deleted {access_key}")


@project_app.command("create")
@one_line_errors
def project_create(
    name: str,
    project_id: Annotated[str, typer.Option("--id", help="Project id (default: random 32 hex).")] = "",
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a project with its default enterprise project "0"."""
    rt = _runtime()
    with transaction(rt.sessions) as session:
        project = identity.create_project(session, name, project_id, description)
    print(project.id)


@project_app.command("list")
@one_line_errors
def project_list() -> None:
    """List projects."""
    rt = _runtime()
    table = Table("id", "name", "description", "created")
    with transaction(rt.sessions) as session:
        for p in identity.list_projects(session):
            table.add_row(p.id, p.name, p.description, p.created_at.isoformat(timespec="seconds"))
    out.print(table)


@project_app.command("ep-create")
@one_line_errors
def project_ep_create(project_id: str, ep_id: str, name: str) -> None:
    """Create an enterprise project inside a project."""
    rt = _runtime()
    with transaction(rt.sessions) as session:
        identity.create_enterprise_project(session, project_id, ep_id, name)
    out.print(f"created enterprise project {ep_id} in {project_id}")


def main() -> None:
    app(prog_name="openhss")


if __name__ == "__main__":
    main()
