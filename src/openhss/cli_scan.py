"""`openhss scan IMAGE`: the whole engine on one image, locally, with no server.

This is what a CI pipeline runs, so its contract is the output formats, the filters and the exit code:
`--exit-code N` makes the command fail when anything at or above `--severity` remains after filtering.
A scan that cannot finish prints one line with the HSS status and reason and exits 1; a command line
that cannot be used (bad flag, value, reference) prints one line and exits 2. Never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from openhss.cli_secrets import SkFileOption, SkOption, secret_key
from openhss.domain.enums import ScanScope, Severity
from openhss.domain.errors import HssError

if TYPE_CHECKING:
    from openhss.cli_scope import SkipRules
    from openhss.domain.report import ImageReport
    from openhss.domain.suppression import Suppressed
    from openhss.domain.vex import Statement
    from openhss.scan.pipeline import Progress as LayerProgress

#: Same as scan.refs.DOCKER_HUB; spelled out so `--help` does not import the engine.
DEFAULT_REGISTRY = "docker.io"
#: Same as cli_ignore.DEFAULT_IGNOREFILE, for the same reason.
DEFAULT_IGNOREFILE = ".openhssignore.yaml"
#: In the layer cache directory: license strings already checked against the SPDX list.
SPDX_MEMO = "spdx-expressions.json"
#: Scan flags read from this file in the working directory when `--config` is not given.
DEFAULT_CONFIG = "openhss.yaml"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"
    SARIF = "sarif"
    TEMPLATE = "template"


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


def render(
    report: ImageReport,
    fmt: OutputFormat,
    *,
    template: Path | None = None,
    width: int | None = None,
    color: bool = False,
    suppressed: Sequence[Suppressed] = (),
    show_suppressed: bool = False,
    server: UploadResult | None = None,
) -> str:
    # Only the writer of the format asked for is imported: an SBOM run is mostly start-up.
    if fmt is OutputFormat.JSON:
        from openhss.exports import scan_json

        doc = scan_json.report_doc(report)
        if show_suppressed:
            doc["suppressed"] = [s.as_dict() for s in suppressed]
        if server is not None:
            doc["server"] = server.as_dict()
        return dump_json(doc)
    if fmt is OutputFormat.CYCLONEDX:
        from openhss.exports import cyclonedx

        return dump_json(cyclonedx.document(report))
    if fmt is OutputFormat.SPDX:
        from openhss.exports import spdx

        return dump_json(spdx.document(report))
    if fmt is OutputFormat.SARIF:
        from openhss.exports import sarif

        return dump_json(sarif.document(report))
    from openhss.cli_output import render_table, render_template

    if fmt is OutputFormat.TEMPLATE:
        return render_template(report, template, suppressed)
    text = render_table(
        report, width=width, color=color, suppressed=suppressed, show_suppressed=show_suppressed
    )
    if server is not None:
        text += server.line() + "\n"
    return text


def dump_json(doc: object) -> str:
    """Indented JSON as `json.dumps(indent=2)` writes it, but with orjson: the stdlib's C encoder is not
    used when indenting, and the SBOM of a large image took longer to print than to rescan."""
    import orjson

    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What the server made of an uploaded inventory: with no local advisory database, this is the
    scan's vulnerability result, so it goes to stdout and decides the exit code."""

    image_id: str
    cicd_name: str
    name: str
    vul_num: int
    severity_level: str
    scan_status: str

    def line(self) -> str:
        return (
            f"server result for {self.name} (CI/CD image {self.image_id}, {self.cicd_name}): "
            f"{self.vul_num} vulnerabilities, severity level {self.severity_level}, scan {self.scan_status}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "image_id": self.image_id,
            "cicd_name": self.cicd_name,
            "name": self.name,
            "vul_num": self.vul_num,
            "severity_level": self.severity_level,
            "scan_status": self.scan_status,
        }

    def exceeds(self, severities: frozenset[Severity]) -> bool:
        """Whether the server's result fails the gate. The image-level `severity_level` is the highest
        severity found (High stands for High and Critical: HSS has no Critical image level)."""
        if not self.vul_num:
            return False
        if not severities:
            return True
        level = {"Low": 1, "Medium": 2, "High": 3}.get(self.severity_level, 0)
        return any(min(s.rank, 3) == level for s in severities)


class _DelayedProgress:
    """A Rich progress bar on stderr that appears only once a scan has run for `delay` seconds, so
    a warm rescan prints nothing but its result (`OPENHSS_PROGRESS_DELAY` changes the delay)."""

    def __init__(self, delay: float = 1.0) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("layers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("layers", total=None)
        self._delay = delay
        self._timer = threading.Timer(delay, self.bar.start)
        self._timer.daemon = True

    def sink(self, event: LayerProgress) -> None:
        self.bar.update(self.task, total=event.total, completed=event.done)

    def __enter__(self) -> _DelayedProgress:
        if self._delay <= 0:
            self.bar.start()
        else:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.bar.stop()


def scan_command(
    image: Annotated[
        str,
        typer.Argument(
            help="What to scan: a local path (docker-archive or oci-archive tar, OCI layout dir, root "
            "filesystem dir), REPO:TAG, or a skopeo reference: docker://HOST/REPO:TAG, oci-archive:FILE, "
            "docker-archive:FILE, oci:DIR, dir:DIR, docker-daemon:NAME, containerd:NAME",
            show_default=False,
        ),
    ],
    format: Annotated[
        OutputFormat,
        typer.Option(
            "--format", "-f", help="Output format (template: --template FILE, or a line per finding)"
        ),
    ] = OutputFormat.TABLE,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="Jinja2 template for --format template (gets report, targets)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    scanners: Annotated[
        str, typer.Option(help="vuln,secret,malware,baseline,build,compliance, all, or none (inventory only)")
    ] = "all",
    severity: Annotated[str, typer.Option(help="Only report these severities (comma-separated)")] = "",
    ignore_unfixed: Annotated[bool, typer.Option("--ignore-unfixed")] = False,
    kev: Annotated[bool, typer.Option("--kev", help="Only vulnerabilities in CISA's KEV catalogue")] = False,
    min_epss: Annotated[
        float, typer.Option("--min-epss", min=0.0, max=1.0, help="Only vulnerabilities with EPSS ≥ this")
    ] = 0.0,
    exit_code: Annotated[
        int, typer.Option("--exit-code", help="Exit with this code when findings remain")
    ] = 0,
    ignorefile: Annotated[
        Path,
        typer.Option(
            "--ignorefile", help="Suppressions in .trivyignore.yaml layout (used only when the file exists)"
        ),
    ] = Path(DEFAULT_IGNOREFILE),
    show_suppressed: Annotated[
        bool, typer.Option("--show-suppressed", help="List suppressed findings with their reason")
    ] = False,
    skip_dirs: Annotated[
        list[str] | None,
        typer.Option(
            "--skip-dirs", help="Do not read paths under these globs (repeatable or comma-separated)"
        ),
    ] = None,
    skip_files: Annotated[
        list[str] | None,
        typer.Option(
            "--skip-files", help="Do not read files matching these globs (repeatable or comma-separated)"
        ),
    ] = None,
    timeout: Annotated[
        str, typer.Option("--timeout", help="Give up after this long, e.g. 90s, 5m (default: no limit)")
    ] = "",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=f"YAML file of scan flags (default: ./{DEFAULT_CONFIG} when present); flags and "
            "OPENHSS_* variables win over it",
        ),
    ] = None,
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no notes on stderr")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar on stderr")] = False,
    upload: Annotated[
        bool,
        typer.Option("--upload", help="Send the result to a server as a CI/CD image (needs --cicd-name)"),
    ] = False,
    server: Annotated[str, typer.Option(envvar="OPENHSS_SERVER", help="Server URL for --upload")] = "",
    ak: Annotated[str, typer.Option("--ak", envvar="OPENHSS_AK", help="Access key for --upload")] = "",
    sk: SkOption = "",
    sk_file: SkFileOption = None,
    project_id: Annotated[str, typer.Option(envvar="OPENHSS_PROJECT_ID", help="Project for --upload")] = "",
    cicd_name: Annotated[str, typer.Option(help="Pipeline name the image is listed under")] = "",
    explain: Annotated[
        str,
        typer.Option(
            "--explain",
            help="Show why vulnerability ID (or an alias) is or is not reported: file, package and owner, "
            "advisory records and feeds, version comparison, verdict",
        ),
    ] = "",
    vex: Annotated[
        list[Path] | None,
        typer.Option("--vex", help="OpenVEX, CycloneDX VEX or CSAF VEX file; suppresses what it covers"),
    ] = None,
) -> None:
    """Scan one image and print its inventory and findings.

    Exit status: 0 done (nothing left at --severity, or no --exit-code); the --exit-code value when
    findings remain; 2 the command line is wrong (unknown option, bad value, malformed reference,
    unreadable ignore or config file); 1 the scan could not run (missing file, unreachable registry,
    broken image, no advisory database, upload refused, timeout).
    """
    from openhss.cli_ignore import IgnoreFileError, load_ignorefile
    from openhss.cli_refs import UnusableReference, resolve_reference
    from openhss.cli_scope import SaltedCache, SkipRules, deadline_check, parse_duration, skipping_analyzers
    from openhss.domain.suppression import apply_suppressions, expired
    from openhss.scan.cache import FileLayerCache, default_cache_dir
    from openhss.scan.errors import InvalidImageReference, ScanError
    from openhss.scan.grouping import group_repeated
    from openhss.scan.image import Platform
    from openhss.scan.pipeline import ScanStopped, select_analyzers
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

    del config  # read before parsing (entry.load_scan_config): it supplies the defaults of these flags
    # --- the command line: every problem here is a usage error (exit 2) ---------------------------------
    try:
        statements = _read_vex(vex) if vex else []  # the VEX parser only when there is a document
        scope = parse_scanners(scanners)
        severities = parse_severities(severity)
        filters = ScanFilters(
            severities=severities, ignore_unfixed=ignore_unfixed, kev_only=kev, min_epss=min_epss
        )
        seconds = parse_duration(timeout) if timeout else None
        if template is not None and not template.is_file():
            raise typer.BadParameter(f"template {template} is not a readable file")
        sk = secret_key(sk, sk_file)
        if upload and not (server and ak and sk and cicd_name):
            raise typer.BadParameter(
                "--upload needs --server, --ak, a secret key (OPENHSS_SK or --sk-file) and --cicd-name"
            )
        if ignorefile != Path(DEFAULT_IGNOREFILE) and not ignorefile.is_file():
            raise typer.BadParameter(f"ignore file {ignorefile} does not exist")
        suppressions = load_ignorefile(ignorefile) if ignorefile.is_file() else []
        rules = SkipRules.of(skip_dirs or [], skip_files or [])
        reference = resolve_reference(image)
        ref = parse_ref(reference, default_registry=default_registry)
        source = SourceOptions(
            platform=Platform.parse(platform) if platform else Platform(),
            default_registry=default_registry,
            credentials=Credentials(username=username, password=password) if username else None,
            insecure=insecure,
            ca_file=ca_file or None,
            docker_host=docker_host,
        )
    except UnusableReference as exc:
        _fail(str(exc), 2 if exc.usage else 1)
    except InvalidImageReference as exc:
        _fail(
            f"{exc.message}; expected REPO[:TAG], docker://HOST/REPO:TAG, TRANSPORT:LOCATION or a local path",
            2,
        )
    except (typer.BadParameter, HssError) as exc:
        _fail(exc.message, 2)
    except (IgnoreFileError, ValueError) as exc:
        _fail(str(exc), 2)
    except ScanError as exc:  # e.g. a malformed --platform
        _fail(exc.reason, 2)
    today = dt.date.today()
    if not quiet:
        for s in expired(suppressions, today):
            typer.echo(
                f"openhss: note: ignore entry {s.id} in {s.origin} expired on {s.expires_text}; "
                "it no longer suppresses anything",
                err=True,
            )
    # --- the scan: every problem here is a runtime failure (exit 1) -------------------------------------
    try:
        cache_root = None if no_cache else (cache_dir or default_cache_dir())
        cache = None if cache_root is None else FileLayerCache(cache_root)
        try:
            options = build_pipeline(scope, cache=cache, advisory_db=db)
        except NoAdvisoryDatabase:
            if not upload:
                raise
            # The server matches uploaded inventories; its result is the scan's vulnerability result.
            options = build_pipeline(scope & ~ScanScope.VULNERABILITY, cache=cache)
            options.scope = scope
        if rules:
            options.analyzers = skipping_analyzers(select_analyzers(options.scope, options.analyzers), rules)
            options.cache = SaltedCache(options.cache, rules.salt) if options.cache is not None else None
        options.should_stop = deadline_check(seconds)
        watchdog = _watchdog(seconds)
        try:
            if not (quiet or no_progress) and sys.stderr.isatty():
                with _DelayedProgress(float(os.environ.get("OPENHSS_PROGRESS_DELAY", "1"))) as progress:
                    options.progress = progress.sink
                    report = scan_image(ref, source, options)
            else:
                report = scan_image(ref, source, options)
        finally:
            if watchdog is not None:
                watchdog.cancel()
    except ScanStopped:
        _fail(f"scan timed out after {timeout}; raise --timeout or narrow the scan with --skip-dirs", 1)
    except ScanError as exc:
        _fail(f"scan {exc.status.value}: {exc.reason}", 1)
    except HssError as exc:
        _fail(exc.message, 1)
    except (OSError, ValueError) as exc:
        _fail(_os_message(exc), 1)
    if rules:
        report = _drop_skipped(report, rules)
    if explain:
        _explain(report, options.matcher, explain, format, output)
        return
    matched_locally = options.matcher is not None or not scope & ScanScope.VULNERABILITY
    server_result = _upload(report, server, ak, sk, project_id, cicd_name) if upload else None
    report, suppressed = apply_suppressions(report, suppressions, today)
    # Grouped after the suppressions: an ignore entry's `paths` name single files.
    report = dataclasses.replace(report, findings=group_repeated(report.findings))
    if statements:
        report, by_vex = _apply_vex(report, statements, vex or [])
        suppressed += by_vex
    report = apply_filters(report, filters)
    if not quiet:
        from openhss.cli_output import coverage_notes

        for note in coverage_notes(report):
            typer.echo(f"openhss: warning: {note}", err=True)
    tty = output is None and sys.stdout.isatty()
    with contextlib.ExitStack() as memo:
        if cache_root is not None and format in (OutputFormat.CYCLONEDX, OutputFormat.SPDX):
            from openhss.exports.spdx import remembered_expressions

            # SBOM license validation, answered from the last runs': see remembered_expressions.
            memo.enter_context(remembered_expressions(cache_root / SPDX_MEMO))
        text = render(
            report,
            format,
            template=template,
            width=shutil.get_terminal_size((160, 24)).columns if tty else None,
            color=tty and "NO_COLOR" not in os.environ,
            suppressed=suppressed,
            show_suppressed=show_suppressed,
            server=server_result,
        )
    try:
        if output is not None:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        _fail(f"cannot write the output: {_os_message(exc)}", 1)
    if server_result is not None and format not in (OutputFormat.TABLE, OutputFormat.JSON) and not quiet:
        typer.echo(server_result.line(), err=True)  # an SBOM or SARIF document has no place for it
    failed = exceeds(report)
    if server_result is not None and not matched_locally:
        failed = failed or server_result.exceeds(severities)
    if exit_code and failed:
        raise typer.Exit(exit_code)


def _explain(
    report: ImageReport, matcher: object, vul_id: str, fmt: OutputFormat, output: Path | None
) -> None:
    from openhss.scan.applier import Inventory
    from openhss.scan.matcher import VulnerabilityMatcher
    from openhss.scan.matcher.explain import as_text, explain

    if not isinstance(matcher, VulnerabilityMatcher):
        _fail("--explain needs the vuln scanner and an advisory database", 2)
    found = explain(matcher, Inventory(os=report.os, packages=report.packages), vul_id.strip())
    if fmt is OutputFormat.JSON:
        text = dump_json([e.as_dict() for e in found]) + "\n"
    else:
        text = as_text(found, vul_id.strip())
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"openhss: {message}", err=True)
    raise typer.Exit(code)


def _os_message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _watchdog(seconds: float | None) -> threading.Timer | None:
    """The layer-boundary check cannot interrupt one huge layer; past a grace period, end the process."""
    if seconds is None:
        return None

    def expire() -> None:
        sys.stderr.write(f"openhss: scan timed out after {seconds:g}s; raise --timeout\n")
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(seconds + max(5.0, seconds * 0.1), expire)
    timer.daemon = True
    timer.start()
    return timer


def _drop_skipped(report: ImageReport, rules: SkipRules) -> ImageReport:
    """Image-level checks see the folded inventory, not the walk: drop what they found in skipped paths."""
    return dataclasses.replace(
        report,
        packages=[p for p in report.packages if not (p.path and rules.skips(p.path))],
        vulnerabilities=[v for v in report.vulnerabilities if not (v.path and rules.skips(v.path))],
        findings=[f for f in report.findings if not (f.path and rules.skips(f.path))],
    )


class ConfigFileError(ValueError):
    """The scan config file cannot be used as written."""


def load_scan_config(argv: Sequence[str]) -> dict[str, object]:
    """Defaults for the scan flags from `--config FILE` (or ./openhss.yaml when present).

    Keys are the flag names without dashes (`severity`, `skip-dirs`, `exit-code`, …; `_` and `-` both
    work). The result is click's `default_map`, so a flag on the command line and an `OPENHSS_*`
    variable both win over the file, and values are checked exactly like typed ones."""
    path: Path | None = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--config":
            if i + 1 >= len(argv):
                return {}  # click reports the missing value
            path = Path(argv[i + 1])
        elif arg.startswith("--config="):
            path = Path(arg.removeprefix("--config="))
    explicit = path is not None
    path = path or Path(DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise ConfigFileError(f"config file {path} does not exist")
        return {}
    import yaml  # only when there is a file: most CI runs have none

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"config file {path} cannot be read: {type(exc).__name__}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigFileError(f"config file {path}: expected `flag: value` lines")
    known = {name for name in scan_command.__annotations__ if name not in ("image", "config", "return")}
    out: dict[str, object] = {}
    for key, value in doc.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in known:
            raise ConfigFileError(
                f"config file {path}: unknown setting {key!r}; use scan flag names such as severity, "
                "skip-dirs, exit-code"
            )
        if name in ("skip_dirs", "skip_files") and isinstance(value, str):
            value = [value]
        if isinstance(value, dict) or (isinstance(value, list) and name not in ("skip_dirs", "skip_files")):
            raise ConfigFileError(f"config file {path}: {key} takes a single value")
        out[name] = [str(v) for v in value] if isinstance(value, list) else value
    return out


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


def _apply_vex(
    report: ImageReport, statements: list[Statement], files: list[Path]
) -> tuple[ImageReport, list[Suppressed]]:
    """Leave out the vulnerabilities a VEX statement marks not_affected/fixed, as suppressions with
    the statement's reason (shown by --show-suppressed, like the ignore file's)."""
    import dataclasses
    import time
    from datetime import UTC, datetime

    from openhss.domain.suppression import Suppressed, Suppression
    from openhss.domain.vex import report_images, split_report

    images = report_images(report.image.ref, report.image.digest, report.image.repo_tags)
    kept, hits = split_report(images, report.vulnerabilities, statements, int(time.time() * 1000))
    origin = ", ".join(str(f) for f in files)
    gone = [
        Suppressed(
            v.vul_id,
            f"{v.package_name} {v.package_version}",
            v.path,
            Suppression(
                id=st.vul_id,
                source="vex",
                origin=origin,
                statement=f"{st.status.value}: {st.reason}",
                expires=datetime.fromtimestamp(st.expires / 1000, UTC).date() if st.expires else None,
            ),
        )
        for v, st in hits
    ]
    return dataclasses.replace(report, vulnerabilities=kept), gone


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


def _upload(report: ImageReport, server: str, ak: str, sk: str, project_id: str, cicd: str) -> UploadResult:
    """Post the inventory (not layers) to the server, which matches it and answers with its verdict."""
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
        _fail(f"upload failed: {exc}", 1)
    finally:
        client.close()
    return UploadResult(
        image_id=str(answer["image_id"]),
        cicd_name=cicd,
        name=f"{namespace + '/' if namespace else ''}{name}:{version}",
        vul_num=int(answer["vul_num"]),
        severity_level=str(answer["severity_level"]),
        scan_status=str(answer["scan_status"]),
    )
