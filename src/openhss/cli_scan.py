"""`openhss scan IMAGE`: the whole engine on one image, locally, with no server.

This is what a CI pipeline runs, so its contract is the output formats, the filters and the exit code:
`--exit-code N` makes the command fail when anything at or above `--severity` remains after filtering.
A scan that cannot finish prints one line with the HSS status and reason and exits 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openhss.domain.enums import ScanScope, Severity

if TYPE_CHECKING:
    from rich.progress import Progress

    from openhss.domain.report import ImageReport
    from openhss.domain.vex import Statement
    from openhss.scan.pipeline import Progress as LayerProgress

#: Same as scan.refs.DOCKER_HUB; spelled out so `--help` does not import the engine.
DEFAULT_REGISTRY = "docker.io"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"
    SARIF = "sarif"


#: `--scanners` names → the HSS scan_scope bits they enable.
SCANNERS: dict[str, ScanScope] = {
    "vuln": ScanScope.VULNERABILITY,
    "secret": ScanScope.SENSITIVE_INFO,
    "malware": ScanScope.MALWARE,
    "baseline": ScanScope.BASELINE,
    "build": ScanScope.BASELINE,
    "compliance": ScanScope.SOFTWARE_COMPLIANCE,
}


def parse_scanners(text: str) -> ScanScope:
    scope = ScanScope(0)
    for name in (n.strip() for n in text.split(",") if n.strip()):
        if name == "all":
            return ScanScope.ALL
        if name in ("none", "sbom"):
            continue  # inventory only: the package analyzers always run
        if name not in SCANNERS:
            raise typer.BadParameter(f"unknown scanner {name!r}; choose from {', '.join(SCANNERS)}, all")
        scope |= SCANNERS[name]
    return scope


def parse_severities(text: str) -> frozenset[Severity]:
    out = set()
    for name in (n.strip() for n in text.split(",") if n.strip()):
        match = Severity.parse(name)
        if match is None:
            raise typer.BadParameter(
                f"unknown severity {name!r}; choose from {', '.join(s.value for s in Severity)}"
            )
        out.add(match)
    return frozenset(out)


def render(report: ImageReport, fmt: OutputFormat) -> str:
    from openhss.exports import cyclonedx, sarif, scan_json, spdx

    if fmt is OutputFormat.JSON:
        return json.dumps(scan_json.report_doc(report), indent=2, ensure_ascii=False)
    if fmt is OutputFormat.CYCLONEDX:
        return cyclonedx.render(report)
    if fmt is OutputFormat.SPDX:
        return spdx.render(report)
    if fmt is OutputFormat.SARIF:
        return sarif.render(report)
    return render_table(report)


def render_table(report: ImageReport) -> str:
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=160, file=io.StringIO())
    img = report.image
    os_text = f"{report.os.family} {report.os.version}" if report.os else "unknown OS"
    console.print(
        f"[bold]{img.ref}[/bold]  {img.digest or img.config_digest}  {os_text}  "
        f"{img.os_name}/{img.architecture}  {len(report.layers)} layers"
    )
    console.print(
        f"{len(report.packages)} packages, {len(report.vulnerabilities)} vulnerabilities, "
        f"{len(report.findings)} other findings"
    )
    if report.vulnerabilities:
        table = Table(title="Vulnerabilities")
        for col in ("Package", "Installed", "Fixed", "Vulnerability", "Severity", "Type", "Path"):
            table.add_column(col)
        for v in sorted(report.vulnerabilities, key=lambda v: (-v.severity.rank, v.package_name, v.vul_id)):
            table.add_row(
                v.package_name,
                v.package_version,
                v.fixed_version or f"({v.status})",
                v.vul_id,
                v.severity.value,
                v.type.value,
                v.path,
            )
        console.print(table)
    if report.findings:
        table = Table(title="Findings")
        for col in ("Kind", "Rule", "Severity", "Title", "Path", "Evidence"):
            table.add_column(col)
        for f in sorted(report.findings, key=lambda f: (-f.severity.rank, f.kind.value, f.rule_id, f.path)):
            table.add_row(f.kind.value, f.rule_id, f.severity.value, f.title, f.path, f.evidence)
        console.print(table)
    if not report.vulnerabilities and report.packages:
        table = Table(title="Packages")
        for col in ("Name", "Version", "Ecosystem", "Path"):
            table.add_column(col)
        for p in report.packages:
            table.add_row(p.name, p.version, p.ecosystem.value, p.path)
        console.print(table)
    for path, reason in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {path}: {reason}")
    return console.export_text()


def _progress_sink(enabled: bool) -> tuple[Callable[[LayerProgress], None] | None, Progress | None]:
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("layers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("layers", total=None)

    def sink(event: LayerProgress) -> None:
        bar.update(task, total=event.total, completed=event.done)

    return sink, bar


def scan_command(
    image: Annotated[
        str,
        typer.Argument(
            help="Image reference in skopeo transport syntax, e.g. "
            "oci-archive:app.tar, docker://host/repo:tag, dir:/rootfs"
        ),
    ],
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    scanners: Annotated[
        str, typer.Option(help="vuln,secret,malware,baseline,build,compliance, all, or none (inventory only)")
    ] = "all",
    severity: Annotated[str, typer.Option(help="Only report these severities (comma-separated)")] = "",
    ignore_unfixed: Annotated[bool, typer.Option("--ignore-unfixed")] = False,
    exit_code: Annotated[
        int, typer.Option("--exit-code", help="Exit with this code when findings remain")
    ] = 0,
    platform: Annotated[str, typer.Option(help="os/arch\\[/variant] in a multi-platform image")] = "",
    username: Annotated[str, typer.Option(envvar="OPENHSS_REGISTRY_USERNAME")] = "",
    password: Annotated[str, typer.Option(envvar="OPENHSS_REGISTRY_PASSWORD", hidden=True)] = "",
    insecure: Annotated[bool, typer.Option("--insecure", help="Plain HTTP / unverified TLS")] = False,
    ca_file: Annotated[str, typer.Option(help="CA bundle for the registry's TLS")] = "",
    default_registry: Annotated[
        str, typer.Option(help="Registry for bare REPO:TAG references")
    ] = DEFAULT_REGISTRY,
    docker_host: Annotated[str, typer.Option(envvar="DOCKER_HOST")] = "unix:///var/run/docker.sock",
    cache_dir: Annotated[Path | None, typer.Option(help="Layer cache directory")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    db: Annotated[Path | None, typer.Option(help="Advisory database file (default: the data dir's)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    upload: Annotated[
        bool,
        typer.Option("--upload", help="Send the result to a server as a CI/CD image (needs --cicd-name)"),
    ] = False,
    server: Annotated[str, typer.Option(envvar="OPENHSS_SERVER", help="Server URL for --upload")] = "",
    ak: Annotated[str, typer.Option("--ak", envvar="OPENHSS_AK", help="Access key for --upload")] = "",
    sk: Annotated[str, typer.Option("--sk", envvar="OPENHSS_SK", help="Secret key for --upload")] = "",
    project_id: Annotated[str, typer.Option(envvar="OPENHSS_PROJECT_ID", help="Project for --upload")] = "",
    cicd_name: Annotated[str, typer.Option(help="Pipeline name the image is listed under")] = "",
    vex: Annotated[
        list[Path] | None,
        typer.Option("--vex", help="OpenVEX, CycloneDX VEX or CSAF VEX file; suppresses what it covers"),
    ] = None,
) -> None:
    """Scan one image and print its inventory and findings."""
    from openhss.scan.cache import FileLayerCache, default_cache_dir
    from openhss.scan.errors import ScanError
    from openhss.scan.image import Platform
    from openhss.scan.refs import parse_ref
    from openhss.scan.sources.base import Credentials, SourceOptions
    from openhss.services.scanning import (
        NoAdvisoryDatabase,
        ScanFilters,
        apply_filters,
        build_pipeline,
        exceeds,
        scan_image,
    )

    try:
        statements = _read_vex(vex or [])
        scope = parse_scanners(scanners)
        filters = ScanFilters(severities=parse_severities(severity), ignore_unfixed=ignore_unfixed)
        ref = parse_ref(image, default_registry=default_registry)
        source = SourceOptions(
            platform=Platform.parse(platform) if platform else Platform(),
            default_registry=default_registry,
            credentials=Credentials(username=username, password=password) if username else None,
            insecure=insecure,
            ca_file=ca_file or None,
            docker_host=docker_host,
        )
        if upload and not (server and ak and sk and cicd_name):
            raise typer.BadParameter("--upload needs --server, --ak, --sk and --cicd-name")
        cache = None if no_cache else FileLayerCache(cache_dir or default_cache_dir())
        try:
            options = build_pipeline(scope, cache=cache, advisory_db=db)
        except NoAdvisoryDatabase:
            if not upload:
                raise
            # The server matches uploaded inventories; locally the report then has no vulnerabilities.
            options = build_pipeline(scope & ~ScanScope.VULNERABILITY, cache=cache)
            options.scope = scope
        sink, bar = _progress_sink(not quiet and sys.stderr.isatty())
        options.progress = sink
        if bar is not None:
            with bar:
                report = scan_image(ref, source, options)
        else:
            report = scan_image(ref, source, options)
    except ScanError as exc:
        typer.echo(f"openhss: scan {exc.status.value}: {exc.reason}", err=True)
        raise typer.Exit(2) from None
    except typer.BadParameter as exc:
        typer.echo(f"openhss: {exc.message}", err=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        typer.echo(f"openhss: {exc}", err=True)
        raise typer.Exit(2) from None
    server_vulns = 0
    if upload:
        server_vulns = _upload(report, server, ak, sk, project_id, cicd_name, quiet)
    if statements:
        report = _apply_vex(report, statements, quiet)
    report = apply_filters(report, filters)
    text = render(report, format)
    if output is not None:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if exit_code and (exceeds(report) or (server_vulns and not report.vulnerabilities and not severity)):
        raise typer.Exit(exit_code)


def _read_vex(files: list[Path]) -> list[Statement]:
    from openhss.domain.vex import VexError, parse_document

    out: list[Statement] = []
    for path in files:
        try:
            out.extend(parse_document(path.read_bytes()).statements)
        except OSError as exc:
            raise typer.BadParameter(f"cannot read --vex {path}: {exc.strerror or exc}") from None
        except VexError as exc:
            raise typer.BadParameter(f"--vex {path}: {exc}") from None
    return out


def _apply_vex(report: ImageReport, statements: list[Statement], quiet: bool) -> ImageReport:
    """Drop the vulnerabilities a VEX statement marks not_affected/fixed; say how many and why."""
    import dataclasses
    import time

    from openhss.domain.vex import report_images, split_report

    images = report_images(report.image.ref, report.image.digest, report.image.repo_tags)
    kept, suppressed = split_report(images, report.vulnerabilities, statements, int(time.time() * 1000))
    if suppressed and not quiet:
        typer.echo(f"{len(suppressed)} vulnerabilities suppressed by VEX statements", err=True)
    return dataclasses.replace(report, vulnerabilities=kept)


def cicd_name_of(report: ImageReport) -> tuple[str, str, str]:
    """(namespace, image name, version) a CI/CD image is listed under, from its reference or tags."""
    from openhss.scan.errors import InvalidImageReference
    from openhss.scan.refs import parse_ref, split_name

    ref = parse_ref(report.image.ref)
    if not ref.repository and report.image.repo_tags:
        with contextlib.suppress(InvalidImageReference):
            ref = split_name(report.image.repo_tags[0])
    if ref.repository:
        org, sep, rest = ref.repository.partition("/")
        namespace, name = (org, rest) if sep else ("", ref.repository)
        return namespace, name, ref.tag or ref.digest[:64]
    return "", Path(ref.path.rstrip("/")).name or "image", "latest"


def _upload(
    report: ImageReport, server: str, ak: str, sk: str, project_id: str, cicd: str, quiet: bool
) -> int:
    """Post the inventory (not layers) to the server, which matches it; returns its vulnerability count."""
    from urllib.parse import urlencode

    from openhss.agent.client import ServerClient, ServerError
    from openhss.domain.upload import ScanUpload, to_json

    namespace, name, version = cicd_name_of(report)
    client = ServerClient(server, ak, sk, project_id)
    try:
        project = client.resolve_project()
        query = urlencode(
            {"cicd_name": cicd, "image_name": name, "image_version": version, "namespace": namespace}
        )
        answer = client.request(
            "POST", f"/v5/{project}/image/cicd/images?{query}", raw=to_json(ScanUpload.from_report(report))
        )
    except ServerError as exc:
        typer.echo(f"openhss: upload failed: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        client.close()
    if not quiet:
        typer.echo(
            f"uploaded {namespace + '/' if namespace else ''}{name}:{version} as CI/CD image "
            f"{answer['image_id']} ({cicd}): {answer['vul_num']} vulnerabilities, {answer['severity_level']}",
            err=True,
        )
    return int(answer["vul_num"])
