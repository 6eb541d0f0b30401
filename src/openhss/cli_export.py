"""`openhss export <report> --project ID [filters] -o FILE`: the API's exports, against the local database.

For cron jobs and air-gapped sites: the same statements and writers as the export worker
(`services.exports.write_export`), but synchronous and without a task row, so it neither waits for nor
blocks an export requested through the API. Bad input prints one line and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openhss.config import load_settings
from openhss.db.models import Project
from openhss.domain.enums import IMAGE_SCAN_STATUSES
from openhss.domain.errors import HssError
from openhss.exports.registry import FILE_FORMATS
from openhss.services import exports
from openhss.services.identity import Scope
from openhss.services.images import IMAGE_TYPE_PARAM, ImageFilter
from openhss.services.runtime import open_runtime

export_app = typer.Typer(
    help="Write an export file (the same reports as the export API) from the local database.",
    no_args_is_help=True,
)

#: One command per registered report type (`services.exports.EXPORT_KINDS`).
REPORT_TYPES = exports.REPORT_TYPES
SCAN_STATUSES = IMAGE_SCAN_STATUSES
_ONLY_VUL = "applies only to the vulnerability exports"
_ONLY_REPORT = "does not apply to the vulnerability exports"


def _fail(message: str) -> None:
    typer.echo(f"openhss: {message}", err=True)
    raise typer.Exit(2)


def _check_choice(name: str, value: str | None, choices: tuple[str, ...] | list[str]) -> None:
    if value is not None and value not in choices:
        _fail(f"invalid {name} {value!r}: expected one of {', '.join(choices)}")


def _command(report_type: str) -> None:
    def command(
        project: Annotated[str, typer.Option("--project", help="Project ID.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
        fmt: Annotated[
            str, typer.Option("--format", help=f"{' | '.join(FILE_FORMATS)} (default xlsx).")
        ] = "xlsx",
        enterprise_project: Annotated[
            list[str] | None, typer.Option(help="Enterprise project ID (repeatable); default: all.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many rows (export_size).")] = 1_000_000,
        image_id: Annotated[
            list[str] | None, typer.Option("--image-id", help="Only these images (repeatable).")
        ] = None,
        image_type: Annotated[
            str | None, typer.Option(help="Image type of a security report (default: registry images).")
        ] = None,
        image_name: Annotated[str | None, typer.Option()] = None,
        image_version: Annotated[str | None, typer.Option()] = None,
        namespace: Annotated[str | None, typer.Option()] = None,
        scan_status: Annotated[str | None, typer.Option()] = None,
        severity_level: Annotated[str | None, typer.Option(help="Security | Low | Medium | High")] = None,
        has_vul: Annotated[bool | None, typer.Option("--has-vul/--no-vul")] = None,
        has_malicious_file: Annotated[
            bool | None, typer.Option("--has-malicious-file/--no-malicious-file")
        ] = None,
        has_unsafe_setting: Annotated[
            bool | None, typer.Option("--has-unsafe-setting/--no-unsafe-setting")
        ] = None,
        risky: Annotated[bool | None, typer.Option("--risky/--not-risky")] = None,
        has_container: Annotated[bool | None, typer.Option("--has-container/--no-container")] = None,
        latest_version: Annotated[bool, typer.Option(help="Only the newest version of each image.")] = False,
        start_scan_time: Annotated[int | None, typer.Option(help="Latest scan time from (epoch ms).")] = None,
        end_scan_time: Annotated[int | None, typer.Option(help="Latest scan time to (epoch ms).")] = None,
        start_update_time: Annotated[int | None, typer.Option(help="Creation time from (epoch ms).")] = None,
        end_update_time: Annotated[int | None, typer.Option(help="Creation time to (epoch ms).")] = None,
        vul_type: Annotated[str | None, typer.Option(help="linux_vul | app_vul")] = None,
        handle_status: Annotated[str | None, typer.Option(help="unhandled | handled")] = None,
        vul_id: Annotated[
            list[str] | None, typer.Option("--vul-id", help="Only these vulnerabilities.")
        ] = None,
        rule_id: Annotated[
            list[str] | None, typer.Option("--rule-id", help="Only these build-command rules.")
        ] = None,
        risk_level: Annotated[str | None, typer.Option(help="critical | high | medium | low")] = None,
        risk_name: Annotated[str | None, typer.Option()] = None,
    ) -> None:
        _check_choice("--format", fmt, list(FILE_FORMATS))
        _check_choice("--scan-status", scan_status, SCAN_STATUSES)
        _check_choice("--severity-level", severity_level, ("Security", "Low", "Medium", "High"))
        _check_choice("--vul-type", vul_type, ("linux_vul", "app_vul"))
        _check_choice("--handle-status", handle_status, ("unhandled", "handled"))
        _check_choice("--risk-level", risk_level, ("critical", "high", "medium", "low"))
        _check_choice(
            "--image-type", image_type, [t for t in IMAGE_TYPE_PARAM if t not in ("local", "registry")]
        )
        is_vul = report_type in exports.VUL_REPORTS
        vul_only = {"--vul-type": vul_type, "--handle-status": handle_status, "--vul-id": vul_id}
        report_only = {"--image-type": image_type, "--rule-id": rule_id, "--risk-level": risk_level,
                       "--risk-name": risk_name, "--latest-version": latest_version or None}  # fmt: skip
        for name, value in (report_only if is_vul else vul_only).items():
            if value:
                _fail(f"{name} {_ONLY_REPORT if is_vul else _ONLY_VUL}")
        if (rule_id or risk_level or risk_name) and report_type != "build-command-risks":
            _fail("--rule-id, --risk-level and --risk-name apply only to build-command-risks")
        image_filter = ImageFilter(
            image_name=image_name,
            image_version=image_version,
            namespace=namespace,
            scan_status=scan_status,
            severity_level=severity_level,
            has_vul=has_vul,
            has_malicious_file=has_malicious_file,
            has_unsafe_setting=has_unsafe_setting,
            risky=risky,
            has_container=has_container,
            start_latest_scan_time=start_scan_time,
            end_latest_scan_time=end_scan_time,
            start_latest_update_time=start_update_time,
            end_latest_update_time=end_update_time,
        )
        ids = tuple(image_id or ())
        q: exports.ExportQuery
        if is_vul:
            q = exports.VulExport(
                image_type=exports.VUL_REPORTS[report_type],
                image_filter=image_filter,
                operate_all=not ids,
                image_id_list=ids,
                vul_type=vul_type,
                handle_status=handle_status,
                vul_id_list=tuple(vul_id or ()),
            )
        else:
            q = exports.ReportExport(
                security_report_type=report_type,
                operate_all=not ids,
                image_filter=image_filter,
                image_type=image_type,
                image_id_list=ids,
                latest_version=latest_version or None,
                build_command_rule_id_list=tuple(rule_id or ()),
                build_command_risk_level=risk_level,
                build_command_risk_name=risk_name,
            )
        scope = Scope(project, frozenset(enterprise_project) if enterprise_project else None)
        try:
            rt = open_runtime(load_settings())
            try:
                with rt.sessions() as session:
                    if session.get(Project, project) is None:
                        _fail(f"project {project} does not exist")
                written = exports.write_export(rt.sessions, scope, q, limit, fmt, output)
            finally:
                rt.engine.dispose()
        except HssError as exc:
            _fail(exc.message)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}")
        typer.echo(f"{written} rows written to {output}", err=True)

    command.__doc__ = (
        f"Export the {report_type} report ({exports.EXPORT_KINDS_BY_NAME[report_type].layout.title})."
    )
    export_app.command(report_type)(command)


for _report in REPORT_TYPES:
    _command(_report)
