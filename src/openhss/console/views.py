"""The console's pages: server-rendered HTML over the same service functions the API routers call.

Every handler resolves the session to the API's `Scope` (see `session.py`) and runs one transaction
through `_run`, exactly like the routers; state changes need the operator role, as in the API. Forms
post and redirect (they work without JavaScript); htmx only swaps fragments (tab bodies, polled
progress) and boosts links.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from openhss.api.deps import Ctx
from openhss.console import data
from openhss.console.render import page, static_file
from openhss.console.session import (
    COOKIE,
    LOGIN_COOKIE,
    ConsoleUser,
    User,
    login,
    login_nonce,
    logout,
    require_login_csrf,
)
from openhss.db.engine import transaction
from openhss.db.models import Image, Registry
from openhss.domain.enums import ACTIVE_SCAN_STATUSES, FindingKind
from openhss.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthenticated
from openhss.domain.scope import DEFAULT_EP
from openhss.scan.refs import _HOST_RE
from openhss.services import (
    coverage,
    exports,
    findings,
    identity,
    images,
    registries,
    registry_images,
    scan_tasks,
    vex,
    vulnerabilities,
)
from openhss.services.identity import Scope
from openhss.services.images import ImageFilter, scoped_images
from openhss.services.vulndb import VulnDbService

router = APIRouter()
T = TypeVar("T")

Offset = Annotated[int, Query(ge=0, le=2_000_000)]
Limit = Annotated[int, Query(ge=10, le=200)]
Text = Annotated[str, Query(max_length=256)]
Bool = Annotated[Literal["", "true", "false"], Query()]
ScanStatusQ = Annotated[
    Literal[
        "",
        "unscan",
        "success",
        "scanning",
        "failed",
        "download_failed",
        "image_oversized",
        "waiting_for_scan",
        "image_scan_stop",
    ],
    Query(),
]
PAGE = 25
TABS = (
    ("vulnerabilities", "Vulnerabilities"),
    ("packages", "Packages"),
    (FindingKind.SECRET.value, "Secrets"),
    (FindingKind.MALWARE.value, "Malware"),
    (FindingKind.BASELINE.value, "Baseline"),
    (FindingKind.BUILD_COMMAND_RISK.value, "Build commands"),
    (FindingKind.NON_COMPLIANT_APP.value, "Compliance"),
    ("layers", "Layers"),
    ("hosts", "Runs on"),
)
#: Tabs whose findings of one rule show as one row (a count and example paths), not one row per file.
GROUPED_TABS = frozenset({FindingKind.BASELINE.value})
#: (report type, label) of every registered export (`services.exports.EXPORT_KINDS`).
REPORT_TYPES = tuple((name, kind.layout.title) for name, kind in exports.EXPORT_KINDS_BY_NAME.items())


async def _run(ctx: Ctx, fn: Callable[[Session], T]) -> T:
    def work() -> T:
        with transaction(ctx.sessions) as session:
            return fn(session)

    return await run_in_threadpool(work)


def _opt(value: str) -> str | None:
    return value.strip() or None


def _flag(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _back(request: Request, next_url: str, default: str) -> str:
    """Only redirect inside the console (never to a URL a form field names elsewhere)."""
    base = _base(request)
    if next_url.startswith(base + "/") and "//" not in next_url[len(base) :] and "\\" not in next_url:
        return next_url
    return base + default


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _image(session: Session, scope: Scope, image_pk: int) -> Image:
    img = session.scalars(scoped_images(scope).where(Image.id == image_pk)).first()
    if img is None:
        raise NotFound(f"image {image_pk} does not exist")
    return img


# --- static assets and login --------------------------------------------------------------------------


@router.get("/static/{name}", include_in_schema=False)
async def static(name: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9.-]*$", max_length=64)]) -> Response:
    return static_file(name)


def _login_form(request: Request, next_url: str, error: str, status_code: int = 200) -> Response:
    nonce = login_nonce(request)
    response = page(
        request, "login.html", None, next=next_url, error=error, csrf=nonce, status_code=status_code
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        path=_base(request) or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login", response_class=HTMLResponse, name="login")
async def login_page(request: Request, next: Annotated[str, Query(max_length=512)] = "") -> Response:
    return _login_form(request, next, "")


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    next: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    # Checked before the password, so a forged login costs no password hash and no throttle slot.
    require_login_csrf(request, csrf)
    source = request.client.host if request.client else "unknown"
    try:
        token = await run_in_threadpool(login, ctx, username, password, source)
    except Unauthenticated as exc:
        return _login_form(request, next, exc.message, 401)
    response = _redirect(_back(request, next, "/"))
    response.set_cookie(
        COOKIE,
        token,
        max_age=ctx.settings.limits.token_ttl_seconds,
        path=_base(request) or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_COOKIE, path=_base(request) or "/")
    return response


@router.post("/logout")
async def logout_submit(request: Request, ctx: Ctx, user: User) -> Response:
    await run_in_threadpool(logout, ctx, user.token)
    response = _redirect(_base(request) + "/login")
    response.delete_cookie(COOKIE, path=_base(request) or "/")
    return response


# --- overview ---------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, name="overview")
async def overview(request: Request, ctx: Ctx, user: User) -> Response:
    def q(session: Session) -> dict[str, object]:
        return {
            "image_counts": data.image_counts(session, user.scope),
            "open_by_severity": data.open_vulnerabilities_by_severity(session, user.scope),
            "over_time": data.findings_over_time(session, user.scope),
            "top_packages": data.top_vulnerable_packages(session, user.scope),
            "critical": data.newest_critical(session, user.scope),
            "running": data.running_tasks(session, user.scope),
            "fleet_coverage": coverage.fleet_coverage(
                session, user.scope, coverage.advisory_table(ctx.matchers)
            ),
        }

    values = await _run(ctx, q)
    db = await run_in_threadpool(VulnDbService.from_settings(ctx.settings).status)
    return page(request, "overview.html", user, nav="overview", db=db, **values)


# --- images -----------------------------------------------------------------------------------------


@router.get("/images", response_class=HTMLResponse, name="images")
async def image_list(
    request: Request,
    ctx: Ctx,
    user: User,
    kind: Annotated[Literal["local", "registry", "cicd"], Query()] = "local",
    image_name: Text = "",
    image_version: Text = "",
    scan_status: ScanStatusQ = "",
    has_vul: Bool = "",
    severity_level: Annotated[Literal["", "High", "Medium", "Low", "Security"], Query()] = "",
    host_name: Text = "",
    container_name: Text = "",
    app_name: Text = "",
    namespace: Text = "",
    registry_type: Annotated[
        Literal["", "SwrPrivate", "SwrShared", "SwrEnterprise", "Harbor", "Jfrog", "Other"], Query()
    ] = "",
    cicd_name: Text = "",
    offset: Offset = 0,
    limit: Limit = PAGE,
) -> Response:
    f = ImageFilter(
        image_name=_opt(image_name),
        image_version=_opt(image_version),
        scan_status=_opt(scan_status),
        has_vul=_flag(has_vul),
        severity_level=_opt(severity_level),
        host_name=_opt(host_name) if kind == "local" else None,
        container_name=_opt(container_name) if kind == "local" else None,
        app_name=_opt(app_name),
        namespace=_opt(namespace) if kind == "registry" else None,
        registry_type=_opt(registry_type) if kind == "registry" else None,
    )

    def q(session: Session) -> data.Page[Image]:
        if kind == "cicd":
            cq = registry_images.RegistryImageQuery(
                namespace=_opt(namespace),
                image_name=_opt(image_name),
                image_version=_opt(image_version),
                registry_name=_opt(cicd_name),
                scan_status=_opt(scan_status),
                has_vul=_flag(has_vul),
                severity_level=_opt(severity_level),
            )
            total, found = registry_images.list_cicd_images(session, user.scope, cq, offset, limit)
            return data.Page(total, found, offset, limit)
        if kind == "local":
            total, rows = images.list_local(session, user.scope, f, offset, limit)
            return data.Page(total, [img for img, _host in rows], offset, limit)
        stmt = images.apply_filter(scoped_images(user.scope).where(Image.image_type == "registry"), f)
        total = images.count(session, stmt)
        found = list(session.scalars(stmt.order_by(Image.id).offset(offset).limit(limit)))
        return data.Page(total, found, offset, limit)

    result = await _run(ctx, q)
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    return page(
        request,
        "images.html",
        user,
        nav=f"images-{kind}",
        kind=kind,
        result=result,
        form=dict(request.query_params),
        page_query=lambda off: urlencode({**query, "offset": off}),
    )


@router.post("/images/scan")
async def scan_images(
    request: Request,
    ctx: Ctx,
    user: User,
    image_type: Annotated[Literal["local", "registry", "cicd"], Form()],
    image_pk: Annotated[list[int], Form(min_length=1, max_length=200)],
    next: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    user.require_operator()
    refs = [scan_tasks.ImageRefIn(id=pk) for pk in image_pk]

    def q(session: Session) -> str:
        task = scan_tasks.create_task(
            session, user.scope, image_type=image_type, is_all=False, refs=refs, settings=ctx.settings.scans
        )
        return task.task_id

    await _run(ctx, q)
    return _redirect(_back(request, next, "/tasks"))


@router.get("/images/{image_pk}", response_class=HTMLResponse, name="image")
async def image_detail(
    request: Request,
    ctx: Ctx,
    user: User,
    image_pk: Annotated[int, Path(ge=1)],
    tab: Annotated[str, Query(max_length=32)] = "vulnerabilities",
    q_text: Annotated[str, Query(alias="q", max_length=256)] = "",
    repair_necessity: Annotated[
        Literal["", "immediate_repair", "delay_repair", "not_needed_repair"], Query()
    ] = "",
    handle_status: Annotated[Literal["", "unhandled", "handled"], Query()] = "",
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    if tab not in dict(TABS):
        raise InvalidRequest(f"invalid parameter tab: {tab}")

    def q(session: Session) -> dict[str, object]:
        img = _image(session, user.scope, image_pk)
        out: dict[str, object] = {
            "image": img,
            "coverage": coverage.image_coverage(session, img.id, coverage.advisory_table(ctx.matchers)),
            "counts": data.finding_counts(session, img.id),
            "nav": "images-" + img.image_type,
        }
        text = _opt(q_text)
        if tab == "vulnerabilities":
            vf = vulnerabilities.ImageVulFilter(
                repair_necessity=_opt(repair_necessity),
                vul_id=text,
                handle_status=_opt(handle_status),
            )
            total, rows = vulnerabilities.list_image_vulnerabilities(
                session, img.id, vf, offset, limit, by_risk=True
            )
            out["result"] = data.Page(total, rows, offset, limit)
        elif tab == "packages":
            total, apps = findings.apps(session, img.id, text, offset, limit)
            out["result"] = data.Page(total, apps, offset, limit)
        elif tab == "layers":
            out["layers"] = data.layers(session, img.id)
        elif tab == "hosts":
            _n, hosts = images.list_image_hosts(session, user.scope, [img.id], None, None, 0, 200)
            _m, containers = images.list_image_containers(session, user.scope, [img.id], None, None, 0, 200)
            out["hosts"] = hosts
            out["containers"] = containers
        elif tab in GROUPED_TABS:
            out["result"] = data.grouped_findings(session, img.id, FindingKind(tab), text, offset, limit)
            out["grouped"] = True
        else:
            ff = findings.FindingFilter(file_path=text)
            total, rows_f = findings.findings(
                session, img.id, FindingKind(tab), ff, offset, limit, by_severity=True
            )
            out["result"] = data.Page(total, rows_f, offset, limit)
        return out

    values = await _run(ctx, q)
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    fragment = request.headers.get("HX-Target") == "tab-body"
    return page(
        request,
        "image_tab.html" if fragment else "image.html",
        user,
        tab=tab,
        tabs=TABS,
        form=dict(request.query_params),
        page_query=lambda off: urlencode({**query, "offset": off}),
        **values,
    )


@router.get("/images/{image_pk}/status", response_class=HTMLResponse)
async def image_status(
    request: Request, ctx: Ctx, user: User, image_pk: Annotated[int, Path(ge=1)]
) -> Response:
    """The scan-status badge, polled while a scan is queued or running; a finished scan reloads."""
    img = await _run(ctx, lambda s: _image(s, user.scope, image_pk))
    response = page(request, "image_status.html", user, image=img)
    if (
        img.scan_status not in ACTIVE_SCAN_STATUSES
        and request.query_params.get("was") in ACTIVE_SCAN_STATUSES
    ):
        response.headers["HX-Refresh"] = "true"
    return response


# --- vulnerabilities ----------------------------------------------------------------------------------


@router.get("/vulnerabilities", response_class=HTMLResponse, name="vulnerabilities")
async def vulnerability_list(
    request: Request,
    ctx: Ctx,
    user: User,
    vul_id: Text = "",
    repair_necessity: Annotated[
        Literal["", "immediate_repair", "delay_repair", "not_needed_repair"], Query()
    ] = "",
    vul_type: Annotated[Literal["", "linux_vul", "app_vul"], Query()] = "",
    offset: Offset = 0,
    limit: Limit = PAGE,
) -> Response:
    def q(session: Session) -> data.Page[vulnerabilities.GlobalVul]:
        total, rows = vulnerabilities.list_global_vulnerabilities(
            session,
            user.scope,
            _opt(repair_necessity),
            _opt(vul_id),
            _opt(vul_type),
            offset,
            limit,
            by_severity=True,
        )
        return data.Page(total, rows, offset, limit)

    result = await _run(ctx, q)
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    return page(
        request,
        "vulnerabilities.html",
        user,
        nav="vulnerabilities",
        result=result,
        form=dict(request.query_params),
        page_query=lambda off: urlencode({**query, "offset": off}),
    )


VulIdPath = Annotated[str, Path(min_length=1, max_length=256)]


@router.get("/vulnerabilities/{vul_id}", response_class=HTMLResponse, name="vulnerability")
async def vulnerability_detail(
    request: Request,
    ctx: Ctx,
    user: User,
    vul_id: VulIdPath,
    image_name: Text = "",
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    def q(session: Session) -> dict[str, object]:
        total, rows = vulnerabilities.list_vul_images(
            session, user.scope, vul_id, None, _opt(image_name), None, None, offset, limit
        )
        facts = data.vulnerability_facts(session, user.scope, vul_id)
        if not facts and not total:
            raise NotFound(f"vulnerability {vul_id} affects no image in this project")
        _n, statements = vex.list_statements(session, user.scope, vul_id, None, 0, 20)
        return {"result": data.Page(total, rows, offset, limit), "facts": facts, "statements": statements}

    values = await _run(ctx, q)
    values["advisory"] = await run_in_threadpool(_advisory, ctx, vul_id)
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    return page(
        request,
        "vulnerability.html",
        user,
        nav="vulnerabilities",
        vul_id=vul_id,
        justifications=JUSTIFICATIONS,
        form=dict(request.query_params),
        page_query=lambda off: urlencode({**query, "offset": off}),
        **values,
    )


def _advisory(ctx: Ctx, vul_id: str) -> data.AdvisoryView | None:
    """The advisory store's records of `vul_id` (None without a store: the page shows what scans stored)."""
    store = VulnDbService.from_settings(ctx.settings).store
    if not store.exists():
        return None
    index = store.open_index()
    try:
        return data.advisory_view(index.by_id(vul_id), vul_id)
    finally:
        index.close()


#: OpenVEX justifications (`domain.vex.OPENVEX_JUSTIFICATIONS`) with the words the ignore dialog shows.
JUSTIFICATIONS = (
    ("component_not_present", "Component not present"),
    ("vulnerable_code_not_present", "Vulnerable code not present"),
    ("vulnerable_code_not_in_execute_path", "Vulnerable code not in execute path"),
    (
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "Vulnerable code cannot be controlled by adversary",
    ),
    ("inline_mitigations_already_exist", "Inline mitigations already exist"),
)


def _expiry_ms(day: str) -> int:
    """A date field (YYYY-MM-DD) → the end of that day, UTC, in epoch milliseconds; empty → no expiry."""
    if not day:
        return 0
    try:
        end = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        raise InvalidRequest(f"invalid parameter expires: {day} is not a date (YYYY-MM-DD)") from None
    return int(end.timestamp() * 1000) - 1


@router.post("/vulnerabilities/{vul_id}/handle")
async def vulnerability_handle(
    request: Request,
    ctx: Ctx,
    user: User,
    vul_id: VulIdPath,
    operate_type: Annotated[Literal["ignore", "not_ignore", "manual_repair"], Form()],
    vul_type: Annotated[Literal["linux_vul", "app_vul"], Form()],
    image_type: Annotated[Literal["local", "registry", "cicd"], Form()],
    image_id: Annotated[str, Form(max_length=512)] = "",
    remark: Annotated[str, Form(max_length=512)] = "",
    justification: Annotated[str, Form(max_length=64)] = "",
    expires: Annotated[str, Form(max_length=10)] = "",
    next: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    user.require_operator()
    if operate_type == "ignore" and not (justification and remark.strip()):
        raise InvalidRequest(
            "an ignore needs a justification and an impact statement (why it does not apply)"
        )
    extra = vex.HandleExtra(justification=justification, expires_at=_expiry_ms(expires))
    if image_id:
        req = vulnerabilities.HandleRequest(
            image_type=image_type,
            vul_type=vul_type,
            operate_type=operate_type,
            select_type="vul_view",
            vul_data=((vul_id, (image_id,)),),
            remark=remark,
        )
    else:
        req = vulnerabilities.HandleRequest(
            image_type=image_type,
            vul_type=vul_type,
            operate_type=operate_type,
            select_type="specific_vul_all_image",
            vul_id_list=(vul_id,),
            remark=remark,
        )
    await _run(ctx, lambda s: vex.handle(s, user.scope, req, user.principal.name, extra))  # recorded as VEX
    return _redirect(_back(request, next, "/vulnerabilities/" + vul_id))


# --- scan tasks --------------------------------------------------------------------------------------


def _tasks(
    ctx: Ctx, user: User, status: str, offset: int, limit: int
) -> Callable[[Session], data.Page[data.TaskView]]:
    def q(session: Session) -> data.Page[data.TaskView]:
        f = scan_tasks.TaskFilter(type="image_scan", task_status=_opt(status))
        total, rows = scan_tasks.list_tasks(session, user.scope, f, offset, limit)
        return data.Page(total, data.task_views(session, [t for t, _failed in rows]), offset, limit)

    return q


StatusQ = Annotated[Literal["", "scanning", "finished"], Query()]


@router.get("/tasks", response_class=HTMLResponse, name="tasks")
async def task_list(
    request: Request, ctx: Ctx, user: User, status: StatusQ = "", offset: Offset = 0, limit: Limit = PAGE
) -> Response:
    result = await _run(ctx, _tasks(ctx, user, status, offset, limit))
    fragment = request.headers.get("HX-Target") == "task-table"
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    return page(
        request,
        "tasks_table.html" if fragment else "tasks.html",
        user,
        nav="tasks",
        result=result,
        form=dict(request.query_params),
        page_query=lambda off: urlencode({**query, "offset": off}),
    )


@router.post("/tasks/{task_id}/stop")
async def task_stop(
    request: Request,
    ctx: Ctx,
    user: User,
    task_id: Annotated[str, Path(min_length=1, max_length=64)],
    next: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    user.require_operator()
    await _run(ctx, lambda s: scan_tasks.stop_task(s, user.scope, task_id))
    return _redirect(_back(request, next, "/tasks"))


# --- exports -----------------------------------------------------------------------------------------


@router.get("/exports", response_class=HTMLResponse, name="exports")
async def export_list(
    request: Request, ctx: Ctx, user: User, offset: Offset = 0, limit: Limit = PAGE
) -> Response:
    def q(session: Session) -> data.Page[Any]:
        total, rows = data.export_tasks(session, user.scope, offset, limit)
        return data.Page(total, rows, offset, limit)

    result = await _run(ctx, q)
    fragment = request.headers.get("HX-Target") == "export-table"
    return page(
        request,
        "exports_table.html" if fragment else "exports.html",
        user,
        nav="exports",
        result=result,
        report_types=REPORT_TYPES,
        report_labels=dict(REPORT_TYPES),
        page_query=lambda off: urlencode({"offset": off}),
    )


def export_query(report: str, image_type: str, f: ImageFilter) -> exports.ExportQuery:
    """The export the form asks for. For a vulnerability report the chosen images decide which one it
    is (the "Registry" choice once exported local rows); security reports default to local images."""
    if report in exports.VUL_REPORTS:
        return exports.VulExport(
            image_filter=f, operate_all=True, image_type=image_type or exports.VUL_REPORTS[report]
        )
    return exports.ReportExport(
        security_report_type=report, operate_all=True, image_filter=f, image_type=image_type or "local"
    )


@router.post("/exports")
async def export_create(
    request: Request,
    ctx: Ctx,
    user: User,
    report: Annotated[str, Form(max_length=64)],
    image_type: Annotated[Literal["", "local", "registry", "cicd"], Form()] = "",
    export_size: Annotated[int, Form(ge=1, le=2_147_483_647)] = 100_000,
    image_name: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    user.require_operator()
    if report not in dict(REPORT_TYPES):
        raise InvalidRequest(f"invalid parameter report: {report}")
    f = ImageFilter(image_name=_opt(image_name))

    query = export_query(report, image_type, f)

    def q(session: Session) -> str:
        return exports.create_export(session, user.scope, export_size, query).task_id

    await _run(ctx, q)
    return _redirect(_base(request) + "/exports")


@router.get("/exports/{task_id}/download")
async def export_download(
    ctx: Ctx, user: User, task_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> Response:
    """The file of a finished export, through the same lookup as `GET /v5/{project_id}/download/{file_id}`."""

    def q(session: Session) -> exports.ExportFile:
        task = exports.get_task(session, user.scope, task_id)
        return exports.open_file(session, ctx.settings, user.scope, task.file_id)

    found = await _run(ctx, q)
    return FileResponse(found.path, media_type=found.media_type, filename=found.file_name)


# --- registries and agents ---------------------------------------------------------------------------


RegistryTypeF = Annotated[
    Literal["Harbor", "Jfrog", "SwrPrivate", "SwrShared", "SwrEnterprise", "Other"], Form()
]
ProtocolF = Annotated[Literal["https", "http"], Form()]
Name128F = Annotated[str, Form(max_length=128)]
RegistryIdP = Annotated[str, Path(min_length=1, max_length=64)]
#: What a finished registry action says (fixed texts: a query parameter only picks one).
DONE = {
    "added": "Registry added; its first sync is queued.",
    "updated": "Registry saved; a sync is queued.",
    "deleted": "Registry deleted, with the images synced from it.",
    "synced": "Sync queued: new and changed tags appear under Registry images.",
}


async def _registries_page(
    request: Request,
    ctx: Ctx,
    user: ConsoleUser,
    *,
    message: str = "",
    error: str = "",
    form: dict[str, str] | None = None,
    edit: Registry | None = None,
    status_code: int = 200,
) -> Response:
    def q(session: Session) -> dict[str, object]:
        _n, configured = registries.list_registries(session, user.scope, registries.RegistryQuery(), 0, 200)
        views = {v.registry_name: v for v in data.registries(session, user.scope)}
        return {"configured": configured, "views": views, "rows": list(views.values())}

    values = await _run(ctx, q)
    return page(
        request,
        "registries.html",
        user,
        nav="registries",
        message=message or DONE.get(request.query_params.get("done", ""), ""),
        error=error,
        form=form or {},
        edit=edit,
        registry_types=("Harbor", "Jfrog", "SwrPrivate", "SwrShared", "SwrEnterprise", "Other"),
        status_code=status_code,
        **values,
    )


@router.get("/registries", response_class=HTMLResponse, name="registries")
async def registry_list(request: Request, ctx: Ctx, user: User) -> Response:
    return await _registries_page(request, ctx, user)


def _addr_ok(addr: str) -> str:
    if not _HOST_RE.match(addr):
        raise InvalidRequest(
            "registry address must be host[:port] without scheme or path, e.g. harbor.example.com"
        )
    return addr


@router.post("/registries", response_class=HTMLResponse)
async def registry_add(
    request: Request,
    ctx: Ctx,
    user: User,
    registry_name: Annotated[str, Form(min_length=1, max_length=128)],
    registry_type: RegistryTypeF,
    protocol: ProtocolF,
    registry_addr: Annotated[str, Form(min_length=1, max_length=256)],
    registry_username: Annotated[str, Form(min_length=1, max_length=128)],
    registry_password: Annotated[str, Form(min_length=1, max_length=128)],
    namespace: Name128F = "",
    latest_version_only: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Add a registry as `AddRegistry` does: the connection is checked before anything is stored."""
    user.require_operator()
    shown = {
        "registry_name": registry_name,
        "registry_type": registry_type,
        "protocol": protocol,
        "registry_addr": registry_addr,
        "registry_username": registry_username,
        "namespace": namespace,
    }
    fields = registries.RegistryFields(
        registry_name=registry_name.strip(),
        registry_type=registry_type,
        api_version="V2",
        protocol=protocol,
        registry_addr=registry_addr.strip(),
        registry_username=registry_username,
        registry_password=registry_password,
        namespace=_opt(namespace),
        connect_cluster_id="",
        get_scan_image_channel="Other",
        latest_version_only=latest_version_only == "on",
    )
    try:
        _addr_ok(fields.registry_addr or "")
        conn = registries.pending_connection(ctx.settings, ctx.box, fields)
        await run_in_threadpool(registries.check_connectivity, ctx.settings, conn)
        # A new registry belongs to one enterprise project: the default one, as in the HSS API.
        into = identity.authorize(user.principal, user.scope.project_id, DEFAULT_EP)
        await _run(ctx, lambda s: registries.add_registry(s, ctx.box, into, fields))
    except (InvalidRequest, Conflict, Forbidden) as exc:
        return await _registries_page(
            request, ctx, user, error=exc.message, form=shown, status_code=exc.status_code
        )
    return _redirect(_base(request) + "/registries?done=added")


@router.get("/registries/{registry_id}/edit", response_class=HTMLResponse)
async def registry_edit(request: Request, ctx: Ctx, user: User, registry_id: RegistryIdP) -> Response:
    user.require_operator()
    reg = await _run(ctx, lambda s: registries.get_registry(s, user.scope, registry_id))
    return await _registries_page(request, ctx, user, edit=reg)


@router.post("/registries/{registry_id}", response_class=HTMLResponse)
async def registry_update(
    request: Request,
    ctx: Ctx,
    user: User,
    registry_id: RegistryIdP,
    protocol: ProtocolF,
    registry_addr: Annotated[str, Form(min_length=1, max_length=256)],
    registry_username: Annotated[str, Form(min_length=1, max_length=128)],
    registry_password: Name128F = "",
    namespace: Name128F = "",
    latest_version_only: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """`UpdateRegistry`: an empty password keeps the stored one (never for a new address)."""
    user.require_operator()
    fields = registries.RegistryFields(
        protocol=protocol,
        registry_addr=registry_addr.strip(),
        registry_username=registry_username,
        registry_password=registry_password or None,
        namespace=namespace.strip(),
        latest_version_only=latest_version_only == "on",
    )

    def current(session: Session) -> tuple[Registry, registries.Connection]:
        reg = registries.get_registry(session, user.scope, registry_id)
        return reg, registries.pending_connection(ctx.settings, ctx.box, fields, reg)

    reg: Registry | None = None
    try:
        _addr_ok(fields.registry_addr or "")
        reg, conn = await _run(ctx, current)
        await run_in_threadpool(registries.check_connectivity, ctx.settings, conn)

        def q(session: Session) -> None:
            registries.update_registry(
                session, ctx.box, registries.get_registry(session, user.scope, registry_id), fields
            )

        await _run(ctx, q)
    except InvalidRequest as exc:
        if reg is None:
            reg = await _run(ctx, lambda s: registries.get_registry(s, user.scope, registry_id))
        return await _registries_page(request, ctx, user, error=exc.message, edit=reg, status_code=400)
    return _redirect(_base(request) + "/registries?done=updated")


@router.post("/registries/{registry_id}/test", response_class=HTMLResponse)
async def registry_test(request: Request, ctx: Ctx, user: User, registry_id: RegistryIdP) -> Response:
    """Check the saved settings against the registry now (the same check a save runs)."""
    user.require_operator()

    def q(session: Session) -> tuple[str, registries.Connection]:
        reg = registries.get_registry(session, user.scope, registry_id)
        return reg.registry_name, registries.pending_connection(
            ctx.settings, ctx.box, registries.RegistryFields(), reg
        )

    name, conn = await _run(ctx, q)
    try:
        await run_in_threadpool(registries.check_connectivity, ctx.settings, conn)
    except InvalidRequest as exc:
        return await _registries_page(request, ctx, user, error=f"{name}: {exc.message}", status_code=400)
    return await _registries_page(
        request, ctx, user, message=f"{name}: the registry accepts the saved settings."
    )


@router.post("/registries/{registry_id}/sync")
async def registry_sync(request: Request, ctx: Ctx, user: User, registry_id: RegistryIdP) -> Response:
    user.require_operator()
    await _run(ctx, lambda s: registries.queue_syncs(s, user.scope, [registry_id]))
    return _redirect(_base(request) + "/registries?done=synced")


@router.post("/registries/{registry_id}/delete")
async def registry_delete(request: Request, ctx: Ctx, user: User, registry_id: RegistryIdP) -> Response:
    user.require_operator()
    await _run(ctx, lambda s: registries.delete_registries(s, user.scope, [registry_id]))
    return _redirect(_base(request) + "/registries?done=deleted")


@router.get("/agents", response_class=HTMLResponse, name="agents")
async def agent_list(request: Request, ctx: Ctx, user: User) -> Response:
    rows = await _run(ctx, lambda s: data.agents(s, user.scope))
    return page(request, "agents.html", user, nav="agents", rows=rows)
