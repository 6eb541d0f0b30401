"""The console in a real browser (Debian's headless Chromium through Playwright) against a live service.

Every page is checked against the database or the JSON API for the same data, actions are checked for
their effect in the database and through the API, and the main pages are saved as screenshots (light
and dark) for a person to look at.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import openpyxl
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from sqlalchemy import func, select

from openhss.console.session import LOGIN_COOKIE
from openhss.db.engine import transaction
from openhss.db.models import (
    ExportTask,
    Image,
    ImageFinding,
    ImageVulnerability,
    ImageVulOperation,
    ScanTask,
    ScanTaskImage,
    VexStatement,
    VulImageIndex,
)
from openhss.domain.enums import FindingKind
from openhss.services.results import IGNORED, UNFIXED
from tests.console.conftest import ARTIFACTS, READER, READER_PASSWORD, Seeded, api_token, log_in, shoot
from tests.support.service import ADMIN_PASSWORD, PROJECT

pytestmark = pytest.mark.slow


def ignore_with_reason(scope: Locator, justification: str, impact: str, expires: str = "") -> None:
    """The ignore dialog as a user fills it: open it, choose why, say what it means, maybe an expiry."""
    dialog = scope.locator("details.ignore").first
    dialog.locator("summary").click()
    form = dialog.locator("form")
    form.get_by_label("Justification").select_option(justification)
    form.get_by_label("Impact statement").fill(impact)
    if expires:
        form.get_by_label("Expires (optional)").fill(expires)
    form.get_by_role("button").click()


def some_vul(seeded: Seeded, *, fixed: bool = True) -> ImageVulnerability:
    with transaction(seeded.svc.runtime.sessions) as s:
        stmt = select(ImageVulnerability).where(ImageVulnerability.image_pk == seeded.local_pk)
        if fixed:
            stmt = stmt.where(ImageVulnerability.fixed_version != "")
        found = s.scalars(
            stmt.order_by(ImageVulnerability.severity_rank.desc(), ImageVulnerability.vul_id)
        ).first()
        assert found is not None, "the seeded scan found no vulnerability"
        return found


# --- login and session --------------------------------------------------------------------------------


def test_login_redirect_bad_password_and_cookie(context: BrowserContext, seeded: Seeded) -> None:
    page = context.new_page()
    page.goto(seeded.console + "/images?kind=local")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert [c["name"] for c in context.cookies()] == [LOGIN_COOKIE], "no session after a bad password"
    page.screenshot(path=ARTIFACTS / "login-light.png")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/console/images\?kind=local$"))
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    # The cookie holds an API token: the same value works as X-Auth-Token on the JSON API.
    r = httpx.get(seeded.svc.base_url + "/v3/projects", headers={"X-Auth-Token": cookie["value"]})
    assert r.status_code == 200 and PROJECT in r.text
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    r = httpx.get(seeded.svc.base_url + "/v3/projects", headers={"X-Auth-Token": cookie["value"]})
    assert r.status_code == 401, "logging out revokes the token"


def test_forms_need_the_session_csrf_token(page: Page, seeded: Seeded) -> None:
    def tasks() -> int:
        with transaction(seeded.svc.runtime.sessions) as s:
            return s.scalar(select(func.count()).select_from(ScanTask)) or 0

    before = tasks()
    form: dict[str, str | float | bool] = {"image_type": "local", "image_pk": str(seeded.unscanned_pk)}
    r = page.request.post(seeded.console + "/images/scan", form=form)
    assert r.status == 403 and "did not come from this console" in r.text()
    r = page.request.post(seeded.console + "/images/scan", form={**form, "csrf": "0" * 64})
    assert r.status == 403
    assert tasks() == before


# --- overview -----------------------------------------------------------------------------------------


def test_overview_shows_the_database_figures(page: Page, seeded: Seeded) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        local = s.scalar(select(func.count()).where(Image.image_type == "local")) or 0
        open_pairs = s.scalar(select(func.count()).where(VulImageIndex.handled.is_(False))) or 0
        critical = s.scalars(
            select(ImageVulnerability.vul_id).where(
                ImageVulnerability.severity_rank == 4, ImageVulnerability.status == UNFIXED
            )
        ).all()
        top = s.execute(
            select(ImageVulnerability.app_name, func.count(func.distinct(ImageVulnerability.vul_id)))
            .where(ImageVulnerability.status == UNFIXED)
            .group_by(ImageVulnerability.app_name)
            .order_by(func.count(func.distinct(ImageVulnerability.vul_id)).desc())
        ).first()
    assert open_pairs and top
    kpi = page.locator("a.kpi", has_text="Local images")
    expect(kpi.locator(".kpi-value")).to_have_text(str(local))
    expect(page.locator(".donut-total")).to_have_text(str(open_pairs))
    expect(page.locator(".kpi", has_text="Vulnerability database").locator(".kpi-value")).to_have_text(
        "just now"
    )
    assert top[0] in (page.locator("svg[aria-labelledby='pkg-title']").text_content() or "")
    rows = page.locator("section", has_text="Newest critical findings").locator("tbody tr")
    expect(rows).to_have_count(8)
    shown = [rows.nth(i).locator("td").first.text_content() or "" for i in range(8)]
    assert all(any(v in text for v in critical) or "Malware" in text for text in shown), shown
    expect(page.get_by_text("Malware").first).to_be_visible()
    shoot(page, "overview")


# --- images -------------------------------------------------------------------------------------------


def test_local_images_list_and_filters(page: Page, seeded: Seeded) -> None:
    page.get_by_role("link", name="Local images").first.click()
    rows = page.locator("table.dense tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("tbody")).to_contain_text("shop/api")
    expect(page.locator("tbody")).to_contain_text("not scanned")
    shoot(page, "images-local")
    page.get_by_label("Scan status").select_option("unscan")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(page.locator("tbody")).not_to_contain_text("shop/api")
    page.goto(seeded.console + "/images?kind=local&host_name=web-2")
    expect(rows).to_have_count(2)
    expect(page.locator("tbody")).not_to_contain_text("shop/worker")
    page.goto(seeded.console + "/images?kind=local&has_vul=true")
    expect(rows).to_have_count(1)
    page.goto(seeded.console + "/images?kind=local&image_name=legacy")
    expect(rows).to_have_count(1)
    page.goto(seeded.console + "/images?kind=registry")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("harbor-prod")


def test_image_page_tabs(page: Page, seeded: Seeded) -> None:
    vul = some_vul(seeded)
    page.goto(f"{seeded.console}/images/{seeded.local_pk}")
    table = page.locator("#vuln-table")
    row = table.locator("tr", has_text=vul.vul_id).first
    expect(row).to_contain_text(vul.app_name)
    expect(row).to_contain_text(vul.fixed_version)
    shoot(page, "image-vulnerabilities")

    page.get_by_role("link", name=re.compile("^Packages")).click()
    expect(page).to_have_url(re.compile(r"tab=packages"))
    expect(page.locator("tbody")).to_contain_text("requests")
    expect(page.locator("tbody")).to_contain_text("2.19.1")

    page.get_by_role("link", name=re.compile("^Secrets")).click()
    expect(page.locator("tbody")).to_contain_text("app/.env")
    content = page.content()
    assert seeded.aws_key not in content, "the raw secret must never reach the page"
    assert seeded.aws_key[:4] in content and "*" in page.locator("code.evidence").first.inner_text()
    shoot(page, "image-secrets")

    page.get_by_role("link", name=re.compile("^Malware")).click()
    expect(page.locator("tbody")).to_contain_text("opt/tools/eicar.com")

    page.get_by_role("link", name=re.compile("^Build commands")).click()
    expect(page.locator("tbody")).to_contain_text("curl -fsSL")

    page.get_by_role("link", name=re.compile("^Layers")).click()
    expect(page.locator("tbody")).to_contain_text("curl -fsSL")
    expect(page.locator("tbody tr")).to_have_count(
        len(
            {p.layer_digest for p in seeded.report.packages}
            | {f.layer_digest for f in seeded.report.findings if f.layer_digest}
            | {v.layer_digest for v in seeded.report.vulnerabilities}
            | {r.layer_digest for r in seeded.report.files}
        )
    )

    page.get_by_role("link", name=re.compile("^Runs on")).click()
    expect(page.locator("main")).to_contain_text("web-1")
    expect(page.locator("main")).to_contain_text("web-2")
    expect(page.locator("main")).to_contain_text("shop-api-1")
    # Browser history follows the tabs (htmx pushes the URL), and a reload renders the same tab.
    page.reload()
    expect(page.locator("main")).to_contain_text("shop-api-1")


def test_secret_and_malware_counts_match_the_api(
    page: Page, seeded: Seeded, admin_state: dict[str, Any]
) -> None:
    token = api_token(admin_state)
    with transaction(seeded.svc.runtime.sessions) as s:
        image_id = s.get_one(Image, seeded.local_pk).image_id
        secrets_n = s.scalar(
            select(func.count()).where(
                ImageFinding.image_pk == seeded.local_pk, ImageFinding.kind == FindingKind.SECRET.value
            )
        )
    r = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/image/{image_id}/sensitive",
        params={"image_type": "local", "limit": 200},
        headers={"X-Auth-Token": token},
    )
    assert r.status_code == 200
    assert r.json()["total_num"] == secrets_n
    page.goto(f"{seeded.console}/images/{seeded.local_pk}?tab=sensitive-info")
    expect(page.locator("tbody tr")).to_have_count(secrets_n or 1)
    for item in r.json()["data_list"]:
        expect(page.locator("tbody")).to_contain_text(item["content"])


# --- vulnerabilities -----------------------------------------------------------------------------------


def test_ignore_a_vulnerability_and_reopen_it(
    page: Page, seeded: Seeded, admin_state: dict[str, Any]
) -> None:
    vul = some_vul(seeded)
    page.get_by_role("link", name="Vulnerabilities").first.click()
    expect(page.locator("tbody")).to_contain_text(vul.vul_id)
    shoot(page, "vulnerabilities")
    page.get_by_label("Vulnerability ID").fill(vul.vul_id)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=vul.vul_id).click()
    affected = page.locator("#affected tbody tr")
    expect(affected).to_have_count(2)  # the local and the registry copy
    shoot(page, "vulnerability")
    local_row = affected.filter(has_text="local")
    ignore_with_reason(local_row, "vulnerable_code_not_in_execute_path", "not reachable from the API")
    expect(page.locator("#affected tbody tr").filter(has_text="local")).to_contain_text("ignored")
    with transaction(seeded.svc.runtime.sessions) as s:
        idx = s.scalars(
            select(VulImageIndex).where(
                VulImageIndex.image_pk == seeded.local_pk, VulImageIndex.vul_id == vul.vul_id
            )
        ).one()
        assert idx.status == IGNORED and idx.handled
        other = s.scalars(
            select(VulImageIndex).where(
                VulImageIndex.image_pk == seeded.registry_pk, VulImageIndex.vul_id == vul.vul_id
            )
        ).one()
        assert other.status == UNFIXED, "ignoring on one image leaves the other open"
        op = s.scalars(select(ImageVulOperation).order_by(ImageVulOperation.id.desc())).first()
        assert op is not None and op.operate_type == "ignore" and op.user_name == "admin"
        st = s.scalars(
            select(VexStatement).where(VexStatement.vul_id == vul.vul_id).order_by(VexStatement.id.desc())
        ).first()
        assert st is not None and st.status == "not_affected"
        assert st.justification == "vulnerable_code_not_in_execute_path"
        assert st.impact_statement == "not reachable from the API" and st.expires_at == 0
    # The suppression is visible with its reason.
    expect(page.locator("#verdicts")).to_contain_text("not reachable from the API")
    expect(page.locator("#verdicts")).to_contain_text("vulnerable code not in execute path")
    r = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/vulnerability/images",
        params={"vul_id": vul.vul_id, "type": vul.vul_type, "image_type": "local", "is_handled": "true"},
        headers={"X-Auth-Token": api_token(admin_state)},
    )
    assert r.status_code == 200
    assert [d["status"] for d in r.json()["data_list"]] == [IGNORED]
    page.locator("#affected tbody tr").filter(has_text="local").get_by_role("button", name="Reopen").click()
    expect(page.locator("#affected tbody tr").filter(has_text="local")).to_contain_text("open")
    with transaction(seeded.svc.runtime.sessions) as s:
        assert not s.scalars(
            select(VulImageIndex.handled).where(
                VulImageIndex.image_pk == seeded.local_pk, VulImageIndex.vul_id == vul.vul_id
            )
        ).one()


def test_read_only_user_sees_but_cannot_act(context: BrowserContext, seeded: Seeded) -> None:
    page = context.new_page()
    log_in(page, seeded.console, READER, READER_PASSWORD)
    page.goto(seeded.console + "/images?kind=local")
    expect(page.locator("tbody")).to_contain_text("shop/api")
    expect(page.get_by_role("button", name="Scan selected")).to_have_count(0)
    vul = some_vul(seeded)
    page.goto(f"{seeded.console}/vulnerabilities/{quote(vul.vul_id)}")
    expect(page.get_by_role("button", name="Ignore")).to_have_count(0)
    csrf = page.locator("form[action$='/logout'] input[name=csrf]").get_attribute("value")
    r = page.request.post(
        f"{seeded.console}/vulnerabilities/{quote(vul.vul_id)}/handle",
        form={"csrf": csrf or "", "operate_type": "ignore", "vul_type": vul.vul_type, "image_type": "local"},
        max_redirects=0,
    )
    assert r.status == 403 and "operator" in r.text()
    expect(page.locator("details.ignore")).to_have_count(0)
    # Registries: listed, but no add/edit/sync/delete for a reader, and the server refuses them too.
    page.goto(seeded.console + "/registries")
    expect(page.locator("details.add-registry")).to_have_count(0)
    form: dict[str, str | float | bool] = {"csrf": csrf or "", "registry_name": "x"}
    form |= {"registry_type": "Harbor", "protocol": "https"}
    form |= {"registry_addr": "harbor.example.com", "registry_username": "u", "registry_password": "p"}
    r = page.request.post(f"{seeded.console}/registries", form=form, max_redirects=0)
    assert r.status == 403 and "operator" in r.text()
    r = page.request.post(
        f"{seeded.console}/registries/none/sync", form={"csrf": csrf or ""}, max_redirects=0
    )
    assert r.status == 403


# --- scan tasks and exports -------------------------------------------------------------------------------


def test_scan_from_the_console_runs_to_results(
    page: Page, seeded: Seeded, admin_state: dict[str, Any]
) -> None:
    """The scan button queues a task; the embedded worker scans the image; the page follows it live."""
    page.goto(seeded.console + "/images?kind=local&scan_status=unscan")
    page.get_by_label("Select shop/worker:2.0.0").check()
    page.get_by_role("button", name="Scan selected").click()
    page.goto(f"{seeded.console}/images/{seeded.unscanned_pk}")
    # The badge polls while queued/scanning and reloads the page once the scan has finished.
    expect(page.locator("#scan-status")).to_contain_text("success", timeout=90_000)
    expect(page.locator("#vuln-table")).to_contain_text("pyyaml", timeout=10_000)
    with transaction(seeded.svc.runtime.sessions) as s:
        img = s.get_one(Image, seeded.unscanned_pk)
        assert img.scan_status == "success" and img.vul_num > 0
        vul_ids = set(
            s.scalars(select(ImageVulnerability.vul_id).where(ImageVulnerability.image_pk == img.id))
        )
        task = s.scalars(
            select(ScanTask)
            .join(ScanTaskImage, ScanTaskImage.task_pk == ScanTask.id)
            .where(ScanTaskImage.image_pk == img.id)
        ).one()
    for vid in vul_ids:
        expect(page.locator("#vuln-table")).to_contain_text(vid)
    shoot(page, "image-scanned-by-worker")
    page.get_by_role("link", name="Scan tasks").click()
    row = page.locator("tbody tr", has_text=task.task_id[:12])
    expect(row).to_contain_text("finished")
    expect(row).to_contain_text("100%")
    # A readable task name (the stored one stays in the tooltip) and the risky image counted.
    name = row.locator("td").first.locator(".strong")
    expect(name).to_have_attribute("title", task.task_name)
    if re.fullmatch(r"[a-z_]+_\d{13}", task.task_name):
        expect(name).not_to_have_text(task.task_name)
        expect(name).to_contain_text(
            datetime.fromtimestamp(task.create_time / 1000, UTC).strftime("%Y-%m-%d")
        )
    expect(row.locator("td").nth(6)).to_have_text("1")
    r = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/image/tasks",
        params={"type": "image_scan", "task_id": task.task_id},
        headers={"X-Auth-Token": api_token(admin_state)},
    )
    assert r.status_code == 200, r.text
    assert [t["risky_num"] for t in r.json()["data_list"]] == [1]


def test_stop_a_waiting_scan(page: Page, seeded: Seeded, admin_state: dict[str, Any]) -> None:
    """An image only its host's agent can read waits in the queue; the console stops the task."""
    page.goto(seeded.console + "/images?kind=local&image_name=legacy")
    page.get_by_label("Select legacy/batch:0.9").check()
    page.get_by_role("button", name="Scan selected").click()
    with transaction(seeded.svc.runtime.sessions) as s:
        task = s.scalars(select(ScanTask).order_by(ScanTask.id.desc())).first()
        assert task is not None and task.total_num == 1
        (queued,) = s.scalars(select(ScanTaskImage).where(ScanTaskImage.task_pk == task.id))
        assert queued.image_pk == seeded.agent_only_pk
        task_id = task.task_id
    page.goto(f"{seeded.console}/images/{seeded.agent_only_pk}")
    expect(page.locator("#scan-status")).to_contain_text("queued")
    page.get_by_role("link", name="Scan tasks").click()
    row = page.locator("tbody tr", has_text=task_id[:12])
    expect(row).to_contain_text("scanning")
    expect(page.locator(".live")).to_be_visible()
    shoot(page, "tasks")
    row.get_by_role("button", name="Stop").click()
    expect(page.locator("tbody tr", has_text=task_id[:12])).to_contain_text("stopped")
    with transaction(seeded.svc.runtime.sessions) as s:
        assert s.get_one(Image, seeded.agent_only_pk).scan_status == "image_scan_stop"
    r = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/image/tasks",
        params={"type": "image_scan", "task_id": task_id, "enterprise_project_id": "all_granted_eps"},
        headers={"X-Auth-Token": api_token(admin_state)},
    )
    assert r.status_code == 200 and r.json()["data_list"][0]["task_status"] == -1  # HSS: -1 = stopped


def test_create_and_download_an_export(page: Page, seeded: Seeded, admin_state: dict[str, Any]) -> None:
    page.get_by_role("link", name="Exports").click()
    page.locator("select[name=report]").select_option("local-vulnerability")
    page.get_by_role("button", name="Create export").click()
    rows = page.locator("#export-table tbody tr")
    expect(rows).to_have_count(1)
    # The table polls while the worker writes the file; the download link appears when it is done.
    download_link = rows.first.get_by_role("link", name=re.compile("^Download"))
    expect(download_link).to_be_visible(timeout=60_000)
    with transaction(seeded.svc.runtime.sessions) as s:
        task = s.scalars(select(ExportTask)).one()
        vul_rows = s.scalar(
            select(func.count())
            .select_from(ImageVulnerability)
            .join(Image, Image.id == ImageVulnerability.image_pk)
            .where(Image.image_type == "local")
        )
    assert task.export_type == "local-vulnerability" and task.task_status == "success"
    assert task.record_total_num == vul_rows
    expect(rows.first).to_contain_text(str(vul_rows))
    shoot(page, "exports")
    with page.expect_download() as info:
        download_link.click()
    path = info.value.path()
    assert info.value.suggested_filename == task.file_name
    book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True)
    data_rows = [r for r in book.worksheets[0].iter_rows(values_only=True)][1:]
    assert len(data_rows) == vul_rows
    # The same bytes as the API's download of the same file.
    token = api_token(admin_state)
    r = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/download/{task.file_id}",
        params={"enterprise_project_id": "all_granted_eps"},
        headers={"X-Auth-Token": token},
    )
    assert r.status_code == 200 and r.content == path.read_bytes()


def test_registries_and_agents(page: Page, seeded: Seeded) -> None:
    page.get_by_role("link", name="Registries").click()
    row = page.locator("tbody tr", has_text="harbor-prod")
    expect(row).to_contain_text("Harbor")
    row.get_by_role("link").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Agents").click()
    web1 = page.locator("tbody tr", has_text="web-1")
    expect(web1).to_contain_text("online")
    expect(web1).to_contain_text("prod-cce")
    expect(page.locator("tbody tr", has_text="web-2")).to_contain_text("offline")
    shoot(page, "agents")


# --- accessibility, assets -------------------------------------------------------------------------------


def test_keyboard_navigation(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.console + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.goto(seeded.console + "/")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.textContent.trim()"))
    nav = [
        "Overview",
        "Local images",
        "Registry images",
        "Vulnerabilities",
        "Scan tasks",
        "Exports",
        "Registries",
        "Agents",
    ]
    positions = [order.index(n) for n in nav]
    assert positions == sorted(positions), order
    # Enter on a focused nav link navigates, and the current page is announced.
    while page.evaluate("document.activeElement.textContent.trim()") != "Scan tasks":
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/tasks$"))
    expect(page.locator("nav.sidebar [aria-current=page]")).to_have_text("Scan tasks")
    # The focus ring is visible on keyboard focus.
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_theme_toggle_and_local_assets(page: Page, seeded: Seeded) -> None:
    external: list[str] = []
    page.on(
        "request",
        lambda req: external.append(req.url) if not req.url.startswith(seeded.svc.base_url) else None,
    )
    page.goto(seeded.console + "/")
    page.wait_for_function("window.htmx !== undefined")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name=re.compile("theme", re.I)).click()
    toggled = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert toggled != dark
    page.reload()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == toggled, "the choice persists"
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{seeded.console}/images/{seeded.local_pk}")
    page.get_by_role("link", name=re.compile("^Packages")).click()  # an htmx swap
    expect(page.locator("tbody")).to_contain_text("requests")
    assert external == [], f"the console loaded something from elsewhere: {external}"
    assert errors == [], f"console errors (CSP violations show up here): {errors}"
    r = httpx.get(seeded.console + "/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:200]


def test_missing_pages_render_errors_not_json(page: Page, seeded: Seeded) -> None:
    r = page.goto(seeded.console + "/images/999999")
    assert r is not None and r.status == 404
    expect(page.get_by_role("alert")).to_contain_text("does not exist")
    r = page.goto(seeded.console + "/images?kind=bogus")
    assert r is not None and r.status == 400
    # The JSON API is untouched by the console's HTML error pages.
    api = httpx.get(seeded.svc.base_url + f"/v5/{PROJECT}/image/local-repositories")
    assert api.status_code == 401 and api.json()["error_code"] == "HSS.0401"
