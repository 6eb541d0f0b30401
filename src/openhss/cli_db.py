"""`openhss db update|import|status`: keep the advisory database current, online or air-gapped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from openhss.config import Settings, default_data_dir, load_settings
from openhss.services.vulndb import MatcherCache, SyncReport, VulnDbError, VulnDbService

db_app = typer.Typer(help="Advisory database: update, offline import, status.", no_args_is_help=True)


def _service() -> VulnDbService:
    return VulnDbService.from_settings(load_settings())


def _fail(message: str) -> None:
    typer.echo(f"openhss: {message}", err=True)
    raise typer.Exit(1)


def data_dir_origin(settings: Settings) -> str:
    """Where the data dir setting came from, so "no database" is never a mystery about which dir."""
    if os.environ.get("OPENHSS_DATA_DIR"):
        return "from OPENHSS_DATA_DIR"
    if settings.data_dir != default_data_dir():
        return "from the OPENHSS_CONFIG file"
    return "the default; set OPENHSS_DATA_DIR to use another"


def _print(report: SyncReport) -> None:
    for name, count in sorted(report.counts.items()):
        typer.echo(f"{name}: {'not modified' if count is None else f'{count} records'}")
    typer.echo(f"{len(report.changed)} package keys changed")
    for warning in report.rejected:
        typer.echo(f"warning: rule file skipped: {warning}", err=True)


def _rematch(report: SyncReport) -> None:
    """Re-match the service's stored inventories against what changed and list newly affected images.

    With a broker configured (a distributed deployment) the run is queued as `openhss.rematch` and the
    workers share it; embedded (no broker) it runs here, through the same `services.rematch.rematch`, so the
    operator sees the outcome at once. Either way the result is kept (`rematch_hits`) for the API.
    Layers are never read again."""
    if not report.changed:
        return
    from sqlalchemy import select
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from openhss.db.engine import transaction
    from openhss.db.models import Image
    from openhss.services import rematch
    from openhss.services.runtime import open_runtime

    settings = load_settings()
    if not settings.database_url and not (settings.data_dir / "openhss.db").exists():
        # A CLI-only or scanning-only machine has no service database, hence no stored inventories:
        # creating one here would be a side effect of importing advisories (and may not fit the disk).
        typer.echo("re-match skipped: no service database in the data dir, so no stored images", err=True)
        return
    try:
        rt = open_runtime(settings)
    except SQLAlchemyError as exc:
        # The advisories are imported and swapped in already; say so, and why the re-match did not run.
        _fail(
            "advisories imported, but the service database could not be opened for re-matching: "
            f"{str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]}"
        )
        return
    if settings.broker_url:
        from openhss.worker.app import install

        install(settings)  # the task sender: the message goes out when the run row commits
        with transaction(rt.sessions) as session:
            run_pk = rematch.queue_rematch(session, report.changed).id
        typer.echo(
            f"re-match queued as run {run_pk} for the workers; "
            "GET /v5/{project_id}/image/rematch/newly-affected lists the newly affected images"
        )
        rt.engine.dispose()
        return
    try:
        matcher = rt.matchers.get()
    except VulnDbError as exc:
        typer.echo(f"re-match skipped: {exc}", err=True)
        return
    with transaction(rt.sessions) as session:
        run_pk = rematch.create_rematch_run(session, report.changed).id
    result = rematch.rematch(rt.sessions, run_pk, matcher)
    typer.echo(
        f"re-matched {result.rematched} of {result.checked} stored images; "
        f"{len(result.newly_affected)} newly affected"
    )
    with transaction(rt.sessions) as session:
        for image_pk, gained in result.newly_affected:
            image = session.scalar(select(Image).where(Image.id == image_pk))
            if image is None:
                continue
            name = f"{image.image_name}:{image.image_version}" if image.image_version else image.image_name
            shown = ", ".join(gained[:10]) + (f" (+{len(gained) - 10} more)" if len(gained) > 10 else "")
            typer.echo(f"  newly affected: {image.project_id} {image.image_type} {name}: {shown}")
    rt.engine.dispose()


@db_app.command("update")
def update(
    ecosystem: Annotated[
        list[str] | None,
        typer.Option("--ecosystem", "-e", help="OSV ecosystem name, or `malware` for rule packs/hash lists"),
    ] = None,
    mirror: Annotated[str | None, typer.Option(help="base URL laid out as <Ecosystem>/all.zip …")] = None,
    rematch: Annotated[
        bool, typer.Option(help="Re-match stored image inventories against the changes.")
    ] = True,
) -> None:
    """Download advisory feeds (only what changed since the last update) and swap in the new database."""
    try:
        report = _service().update(ecosystem or (), mirror)
    except (VulnDbError, OSError) as exc:
        _fail(str(exc))
        return
    _print(report)
    if rematch:
        _rematch(report)
    for err in report.errors:
        typer.echo(f"error: {err}", err=True)
    if report.errors:
        raise typer.Exit(1)


@db_app.command("import")
def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="OSV zips/dirs, Debian tracker JSON, Alpine secdb JSON, native npm/rubysec/FriendsOfPHP"
            " repositories, CVE JSON 5 zips, NVD 2.0 feeds, KEV JSON, EPSS csv(.gz), YARA rule packs,"
            " SHA-256 lists, or one bundle from `openhss db bundle`"
        ),
    ],
    rematch: Annotated[
        bool, typer.Option(help="Re-match stored image inventories against the changes.")
    ] = True,
) -> None:
    """Import advisory files carried in by hand (air-gapped sites)."""
    try:
        report = _service().import_paths(paths)
    except (VulnDbError, OSError) as exc:
        _fail(str(exc))
        return
    _print(report)
    if rematch:
        _rematch(report)


@db_app.command("bundle")
def bundle(
    out: Annotated[
        Path, typer.Argument(help="Bundle file to write (a tar; `<file>.sha256` is written beside it)")
    ],
    ecosystem: Annotated[
        list[str] | None,
        typer.Option("--ecosystem", "-e", help="Feeds to update first (default: all configured)"),
    ] = None,
    mirror: Annotated[str | None, typer.Option(help="base URL laid out as <Ecosystem>/all.zip …")] = None,
    update_first: Annotated[
        bool, typer.Option("--update/--no-update", help="Update from the feeds before writing the bundle.")
    ] = True,
) -> None:
    """On a connected machine: update, then write the advisory database as one verifiable file that
    `openhss db import` takes on an air-gapped site."""
    service = _service()
    if update_first:
        try:
            report = service.update(ecosystem or (), mirror)
        except (VulnDbError, OSError) as exc:
            _fail(str(exc))
            return
        _print(report)
        if report.errors:
            for err in report.errors:
                typer.echo(f"error: {err}", err=True)
            _fail("bundle not written: some feeds failed to update (use --no-update to bundle what is there)")
    try:
        info = service.bundle(out)
    except (VulnDbError, OSError) as exc:
        _fail(str(exc))
        return
    total = sum(int(s["count"]) for s in info.manifest["sources"])
    typer.echo(
        f"{info.path}: {total} records from {len(info.manifest['sources'])} sources, sha256 {info.sha256}"
    )


@db_app.command("status")
def status() -> None:
    """Sources, record counts and age of the advisory database, and the data dir it was looked for in."""
    settings = load_settings()
    st = VulnDbService.from_settings(settings).status()
    typer.echo(f"data dir: {settings.data_dir.resolve()} ({data_dir_origin(settings)})")
    if st.problem:
        _fail(st.problem)
    if not st.exists and not st.packs:
        _fail(f"no advisory database at {st.path}; run `openhss db update` or `openhss db import`")
    if st.exists:
        advisory_sources = len(st.sources) - len(st.enrichment)
        line = f"{st.path}: {st.total} records from {advisory_sources} sources"
        if st.enrichment:
            line += f"; {st.enrichment_total} CVE enrichment rows from {len(st.enrichment)} (CVSS, EPSS, KEV)"
        typer.echo(line)
    for s in st.sources:
        hours = s.age_seconds / 3600
        typer.echo(f"  {s.name:<28} {s.count:>8} records  {hours:6.1f} h old")
    if st.packs:
        typer.echo(f"malware rule packs and hash lists: {len(st.packs)}")
    for p in st.packs:
        hours = p.age_seconds / 3600
        counts = f"{p.rules:>8} rule files" if p.kind == "yara" else f"{p.hashes:>8} hashes    "
        skipped = f"  ({len(p.rejected)} skipped)" if p.rejected else ""
        typer.echo(f"  {p.name:<28} {counts}  {hours:6.1f} h old{skipped}")
    if st.exists:
        _print_coverage()


def _print_coverage() -> None:
    """Which ecosystem/release the advisories cover: a scan's packages elsewhere go unchecked."""
    from openhss.domain.coverage import age_text
    from openhss.services.coverage import advisory_table, db_coverage

    rows = db_coverage(advisory_table(MatcherCache.from_settings(load_settings())))
    typer.echo(f"coverage: {len(rows)} ecosystem/release pairs (packages of any other one are NOT checked)")
    for r in rows:
        feeds = ", ".join(f"{f.name} ({f.records}, {age_text(f.age_seconds)} old)" for f in r.feeds)
        typer.echo(
            f"  {r.ecosystem + (' ' + r.release if r.release else ''):<28} {r.records:>8} records  {feeds}"
        )
