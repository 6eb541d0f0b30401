"""`openhss vex import|export|expire`: VEX documents in and out of the local service database.

Import stores the statements of an OpenVEX, CycloneDX VEX or CSAF 2.0 document and applies them to the
findings they cover (later scans and re-matches apply them too); export writes an OpenVEX 0.2 or
CycloneDX 1.6 VEX document of the current verdicts of a project, image or vulnerability. Bad input
prints one line and exits 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from openhss.config import load_settings
from openhss.db.engine import transaction
from openhss.db.models import Project
from openhss.domain import vex as dv
from openhss.domain.errors import HssError
from openhss.exports import cdx_vex, openvex
from openhss.services import vex
from openhss.services.identity import Scope
from openhss.services.results import now_ms
from openhss.services.runtime import Runtime, open_runtime

vex_app = typer.Typer(help="VEX documents: import statements, export verdicts.", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"openhss: {message}", err=True)
    raise typer.Exit(2)


def _runtime(project: str | None) -> tuple[Runtime, str]:
    """The service runtime and the project to work in (`None`: no project needed)."""
    settings = load_settings()
    if project is not None and not (project or settings.default_project_id):
        _fail("--project is required (no default project is configured)")
    try:
        rt = open_runtime(settings)
    except SQLAlchemyError as exc:
        _fail(f"cannot open the service database: {str(exc).splitlines()[0]}")
    if project is None:
        return rt, ""
    project = project or settings.default_project_id
    with rt.sessions() as session:
        if session.get(Project, project) is None:
            rt.engine.dispose()
            _fail(f"project {project} does not exist")
    return rt, project


@vex_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="OpenVEX, CycloneDX VEX or CSAF 2.0 VEX JSON file.")],
    project: Annotated[
        str, typer.Option("--project", help="Project ID (default: the default project).")
    ] = "",
    enterprise_project: Annotated[
        str, typer.Option(help="Enterprise project the statements belong to.")
    ] = "0",
    expires: Annotated[
        int | None, typer.Option(help="Expiry (epoch ms) for statements that carry none.", min=1)
    ] = None,
) -> None:
    """Store a VEX document's statements and apply them to the findings they cover."""
    try:
        doc = dv.parse_document(file.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    except dv.VexError as exc:
        _fail(f"{file}: {exc}")
    rt, project = _runtime(project)
    try:
        with transaction(rt.sessions) as session:
            vex.check_fields("", expires or 0, now_ms())
            result = vex.import_document(session, project, enterprise_project, doc, expires_at=expires or 0)
    except HssError as exc:
        _fail(exc.message)
    finally:
        rt.engine.dispose()
    typer.echo(
        f"{result.statements} {doc.format} statements imported; {result.applied} findings suppressed now",
        err=True,
    )


@vex_app.command("export")
def export_command(
    project: Annotated[
        str, typer.Option("--project", help="Project ID (default: the default project).")
    ] = "",
    fmt: Annotated[str, typer.Option("--format", help="openvex (default) or cyclonedx.")] = "openvex",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    image_id: Annotated[str | None, typer.Option("--image-id", help="Only this image.")] = None,
    vul_id: Annotated[str | None, typer.Option("--vul-id", help="Only this vulnerability.")] = None,
    image_type: Annotated[str | None, typer.Option(help="local | registry | cicd | cluster")] = None,
    include_open: Annotated[
        bool, typer.Option("--include-open/--handled-only", help="Also list unhandled findings.")
    ] = True,
    enterprise_project: Annotated[
        list[str] | None, typer.Option(help="Enterprise project ID (repeatable); default: all.")
    ] = None,
) -> None:
    """Write a VEX document of the current verdicts (per project, image or vulnerability)."""
    if fmt not in ("openvex", "cyclonedx"):
        _fail(f"invalid --format {fmt!r}: expected openvex or cyclonedx")
    if image_type is not None and image_type not in ("local", "registry", "cicd", "cluster"):
        _fail(f"invalid --image-type {image_type!r}: expected local, registry, cicd or cluster")
    rt, project = _runtime(project)
    scope = Scope(project, frozenset(enterprise_project) if enterprise_project else None)
    try:
        with transaction(rt.sessions) as session:
            statements = vex.export_statements(
                session, scope, vex.ExportFilter(image_type, image_id, vul_id, include_open)
            )
    finally:
        rt.engine.dispose()
    meta = openvex.Meta(f"openhss project {project}", now_ms())
    writer = openvex.write if fmt == "openvex" else cdx_vex.write
    if output is None:
        writer(statements, meta, sys.stdout)
        return
    try:
        with output.open("w", encoding="utf-8") as fh:
            writer(statements, meta, fh)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"{len(statements)} statements written to {output}", err=True)


@vex_app.command("expire")
def expire_command() -> None:
    """Expire statements past their expiry now (scans, re-matches and reads also do it)."""
    rt, _project = _runtime(None)
    try:
        with transaction(rt.sessions) as session:
            n = vex.expire_due(session, now_ms())
    finally:
        rt.engine.dispose()
    typer.echo(f"{n} verdicts reopened", err=True)
