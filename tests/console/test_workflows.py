"""Console workflows of issue 22 in the browser: worst risk first, grouped baseline rows, the complete
vulnerability page, and axe-core on every page in both themes.

Expected values come from the database, the scan report or the advisory store, never from the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select, update

from openhss.db.engine import transaction
from openhss.db.models import ExportTask, ImageVulnerability, Project, ScanTask, ScanTaskImage
from openhss.domain.enums import FindingKind, Severity
from openhss.domain.risk import risk_key
from openhss.services.vulndb import VulnDbService
from tests.console.conftest import CACHED_DEBS, Seeded, shoot
from tests.support.service import PROJECT

pytestmark = pytest.mark.slow
RANKS = {s.value: s.rank for s in Severity}


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored vulnerability row as `domain.risk.RiskFields` reads it."""

    severity: Severity
    cvss_score: float
    epss: float | None
    kev_date_added: str
    fixed_version: str
    vul_id: str
    package_name: str
    package_version: str


def _risk(v: ImageVulnerability) -> tuple[object, ...]:
    sev = next(s for s in Severity if s.rank == v.severity_rank)
    key = risk_key(
        _Stored(
            sev,
            v.cvss_score or 0.0,
            v.epss,
            v.kev_date_added,
            v.fixed_version,
            v.vul_id,
            v.app_name,
            v.app_version,
        )
    )
    return key[:5]  # ids and names break ties; their collation is the database's


def _shown_vulnerabilities(page: Page) -> list[tuple[str, str]]:
    rows = page.locator("#vuln-table tbody tr")
    out = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        out.append(
            (
                (cells.nth(1).locator("a").text_content() or "").strip(),
                (cells.nth(3).text_content() or "").strip(),
            )
        )
    return out


def test_baseline_lists_the_critical_first_and_groups_one_rule(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.console}/images/{seeded.local_pk}?tab={FindingKind.BASELINE.value}")
    rows = page.locator("#grouped-findings tbody tr")
    expect(rows.first).to_contain_text("baseline-sshd-permit-empty-passwords")
    expect(rows.first.locator(".badge")).to_have_text("Critical")
    shown = [rows.nth(i).locator(".badge").first.inner_text() for i in range(rows.count())]
    assert [RANKS[s] for s in shown] == sorted((RANKS[s] for s in shown), reverse=True), shown
    cache = rows.filter(has_text="baseline-package-cache")
    expect(cache).to_have_count(1)
    files = sum(f.count for f in seeded.report.findings if f.rule_id == "baseline-package-cache")
    assert files >= CACHED_DEBS
    expect(cache.locator("td.num")).to_have_text(str(files))
    examples = cache.locator("td").nth(3)
    expect(examples).to_contain_text("var/cache/apt/archives/lib00_1.0_amd64.deb")
    expect(examples).to_contain_text(f"and {files - 3} more")
    expect(page.locator(".tabs [aria-current=page] .count-pill")).to_have_text(str(rows.count()))
    shoot(page, "image-baseline")


def test_image_vulnerabilities_in_risk_order(page: Page, seeded: Seeded) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        stored = list(
            s.scalars(select(ImageVulnerability).where(ImageVulnerability.image_pk == seeded.registry_pk))
        )
        # Promote the least urgent row to the KEV catalogue: it must jump to the top of the list.
        low = max(stored, key=_risk)
        s.execute(
            update(ImageVulnerability)
            .where(ImageVulnerability.id == low.id)
            .values(kev_date_added="2026-01-02")
        )
        low_id, low_version = low.vul_id, low.app_version
    try:
        page.goto(f"{seeded.console}/images/{seeded.registry_pk}")
        shown = _shown_vulnerabilities(page)
        assert shown[0] == (low_id, low_version), shown[:3]
        expect(page.locator("#vuln-table tbody tr").first.locator(".badge.kev")).to_have_text("KEV")
        with transaction(seeded.svc.runtime.sessions) as s:
            by_key = {
                (v.vul_id, v.app_version): _risk(v)
                for v in s.scalars(
                    select(ImageVulnerability).where(ImageVulnerability.image_pk == seeded.registry_pk)
                )
            }
        keys = [by_key[k] for k in shown]
        assert keys == sorted(keys), "the list is not in the documented risk order"
        # Descriptions are shortened at a word boundary, never mid-word.
        with transaction(seeded.svc.runtime.sessions) as s:
            full = dict(
                s.execute(
                    select(ImageVulnerability.vul_id, ImageVulnerability.description).where(
                        ImageVulnerability.image_pk == seeded.registry_pk
                    )
                ).all()
            )
        subs = page.locator("#vuln-table tbody tr td:nth-child(2) .sub")
        for i in range(min(subs.count(), 15)):
            text = subs.nth(i).inner_text()
            desc = " ".join((full[shown[i][0]] or "").split())
            if text.endswith("…"):
                prefix = text[:-1]
                assert desc.startswith(prefix) and not desc[len(prefix)].isalnum(), (text, desc)
            else:
                assert text == desc
    finally:
        with transaction(seeded.svc.runtime.sessions) as s:
            s.execute(
                update(ImageVulnerability).where(ImageVulnerability.id == low.id).values(kev_date_added="")
            )


def test_vulnerability_page_shows_the_advisory(page: Page, seeded: Seeded) -> None:
    index = VulnDbService.from_settings(seeded.svc.runtime.settings).open_index()
    try:
        with transaction(seeded.svc.runtime.sessions) as s:
            candidates = list(
                s.scalars(
                    select(ImageVulnerability)
                    .where(ImageVulnerability.image_pk == seeded.local_pk)
                    .order_by(ImageVulnerability.vul_id)
                )
            )
        vul, records = next(
            (v, recs)
            for v in candidates
            if (recs := index.by_id(v.vul_id)) and any(r.urls for r in recs) and any(r.aliases for r in recs)
        )
    finally:
        index.close()
    page.goto(f"{seeded.console}/vulnerabilities/{vul.vul_id}")
    main = page.locator("main")
    expect(page.locator(".description")).to_have_text(" ".join(vul.description.split()) or records[0].summary)
    for alias in {a for r in records for a in r.aliases} - {vul.vul_id}:
        expect(main.get_by_role("link", name=alias, exact=True)).to_be_visible()
    url = next(u for r in records for u in r.urls if u.startswith("https://"))
    expect(main.locator(f'a[href="{url}"]').first).to_be_attached()
    ranges = page.locator("#ranges tbody")
    expect(ranges).to_contain_text(records[0].name)
    for fixed in records[0].fixed_versions:
        expect(ranges).to_contain_text(fixed)
    vector = next((r.cvss_vector for r in records if r.cvss_vector), "")
    if vector:
        expect(page.locator(".vector")).to_have_text(vector)
    for label in ("EPSS", "Known exploited", "Severity"):
        expect(page.locator(".facts .k", has_text=label)).to_be_visible()
    # No blank gap: every block of the head is as tall as what it holds (a column flexbox once sized
    # the facts grid at one column per row: 350 px for two rows of facts).
    slack = page.evaluate(
        """() => [...document.querySelectorAll('section.vul-head > *')].map(e => {
             const kids = [...e.children].map(k => k.getBoundingClientRect());
             if (!kids.length) return 0;
             const used = Math.max(...kids.map(k => k.bottom)) - Math.min(...kids.map(k => k.top));
             return e.getBoundingClientRect().height - used; })"""
    )
    assert max(slack) < 30, slack
    shoot(page, "vulnerability-advisory")


def test_ignore_needs_a_reason_and_keeps_the_expiry(page: Page, seeded: Seeded) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        vul = s.scalars(
            select(ImageVulnerability)
            .where(ImageVulnerability.image_pk == seeded.registry_pk)
            .order_by(ImageVulnerability.severity_rank, ImageVulnerability.vul_id)
        ).first()
        assert vul is not None
        vul_id, vul_type = vul.vul_id, vul.vul_type
    page.goto(f"{seeded.console}/vulnerabilities/{vul_id}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    # Without a justification and impact statement the server refuses (the form also requires them).
    r = page.request.post(
        f"{seeded.console}/vulnerabilities/{vul_id}/handle",
        form={"csrf": csrf, "operate_type": "ignore", "vul_type": vul_type, "image_type": "registry"},
    )
    assert r.status == 400 and "justification" in r.text()
    row = page.locator("#affected tbody tr").filter(has_text="registry")
    row.locator("details.ignore summary").click()
    form = row.locator("details.ignore form")
    form.get_by_role("button").click()  # the browser refuses an empty required form: nothing is sent
    expect(row).to_contain_text("open")
    form.get_by_label("Justification").select_option("inline_mitigations_already_exist")
    form.get_by_label("Impact statement").fill("the proxy strips the header")
    form.get_by_label("Expires (optional)").fill("2099-12-31")
    shoot(page, "ignore-dialog")
    form.get_by_role("button").click()
    expect(page.locator("#affected tbody tr").filter(has_text="registry")).to_contain_text("ignored")
    verdicts = page.locator("#verdicts")
    expect(verdicts).to_contain_text("the proxy strips the header")
    expect(verdicts).to_contain_text("2099-12-31")
    page.locator("#affected tbody tr").filter(has_text="registry").get_by_role(
        "button", name="Reopen"
    ).click()
    expect(page.locator("#affected tbody tr").filter(has_text="registry")).to_contain_text("open")


AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.id} (${v.impact}): ${v.help} at `
      + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""


def test_axe_finds_no_serious_violation_on_any_page(page: Page, seeded: Seeded, axe_source: str) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        vul_id = s.scalars(
            select(ImageVulnerability.vul_id).where(ImageVulnerability.image_pk == seeded.local_pk)
        ).first()
    image = f"/images/{seeded.local_pk}"
    paths = [
        "/",
        "/images?kind=local",
        "/images?kind=registry",
        "/images?kind=cicd",
        f"/images/{seeded.cicd_pk}",
        image,
        *(
            f"{image}?tab={t}"
            for t in ("packages", "sensitive-info", "malwares", "baseline", "build-command-risks")
        ),
        *(f"{image}?tab={t}" for t in ("non-compliant-app", "layers", "hosts")),
        "/vulnerabilities",
        f"/vulnerabilities/{vul_id}",
        "/tasks",
        "/exports",
        "/registries",
        "/agents",
        "/webhooks",
        "/images/999999",
    ]
    failures: dict[str, list[str]] = {}
    for path in paths:
        page.goto(seeded.console + path)
        page.evaluate(axe_source)
        for theme in ("light", "dark"):
            page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
            found = page.evaluate(AXE_RUN)
            if found:
                failures[f"{path} [{theme}]"] = found
    # The dialogs, open: ignore with reason, add registry.
    for name, path, summary in (
        ("ignore dialog", f"/vulnerabilities/{vul_id}", "details.ignore summary"),
        ("add registry", "/registries", "details.add-registry summary"),
    ):
        page.goto(seeded.console + path)
        page.locator(summary).first.click()
        page.evaluate(axe_source)
        for theme in ("light", "dark"):
            page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
            if found := page.evaluate(AXE_RUN):
                failures[f"{name} [{theme}]"] = found
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
    assert re.match(r"^[\d.]+$", page.evaluate("axe.version"))


def test_the_header_names_the_project(page: Page, seeded: Seeded) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        project = s.get_one(Project, PROJECT)
        name = project.name
    header = page.locator(".topbar .project")
    expect(header).to_have_text(name)
    expect(header).to_have_attribute("title", f"Project {PROJECT}")


def test_cicd_images_have_their_page_scan_and_export(page: Page, seeded: Seeded) -> None:
    page.locator("nav.sidebar").get_by_role("link", name="CI/CD images").click()
    expect(page).to_have_url(re.compile(r"/images\?kind=cicd$"))
    rows = page.locator("table.dense tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shop/api")  # the namespace is part of the name
    expect(rows.first).to_contain_text("shop-pipeline")
    shoot(page, "images-cicd")
    page.get_by_label("Pipeline").fill("another-pipeline")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("No images match")
    page.goto(seeded.console + "/images?kind=cicd&cicd_name=shop-pipeline")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").first.click()
    expect(page.locator(".crumbs")).to_contain_text("CI/CD images")
    # Scan now queues a task for the CI/CD image (no 404 page): the page comes back with the badge.
    page.get_by_role("button", name="Scan now").click()
    expect(page).to_have_url(re.compile(rf"/images/{seeded.cicd_pk}$"))
    with transaction(seeded.svc.runtime.sessions) as s:
        task = s.scalars(
            select(ScanTask)
            .join(ScanTaskImage, ScanTaskImage.task_pk == ScanTask.id)
            .where(ScanTaskImage.image_pk == seeded.cicd_pk)
        ).one()
        assert task.image_type == "cicd"
    page.get_by_role("button", name="Export vulnerabilities").click()
    expect(page).to_have_url(re.compile(r"/exports$"))
    with transaction(seeded.svc.runtime.sessions) as s:
        newest = s.scalars(select(ExportTask).order_by(ExportTask.id.desc())).first()
        assert newest is not None
        assert "cicd" in newest.export_type + newest.filters, newest.filters


def test_coverage_notices_on_the_image_page_and_overview(page: Page, seeded: Seeded) -> None:
    debs = [p for p in seeded.report.packages if p.type.value == "deb"]
    assert debs, "the seeded image has a Debian package"
    page.goto(f"{seeded.console}/images/{seeded.local_pk}")
    notice = page.locator('[data-coverage="os"]')
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("NOT checked")
    expect(notice).to_contain_text("Debian 12")
    page.goto(seeded.console + "/")
    fleet = page.locator('[data-coverage="fleet"]')
    expect(fleet).to_be_visible()
    expect(fleet).to_contain_text("Debian 12")


def test_vulnerability_list_puts_the_worst_first(page: Page, seeded: Seeded) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        worst = dict(
            s.execute(
                select(ImageVulnerability.vul_id, func.max(ImageVulnerability.severity_rank)).group_by(
                    ImageVulnerability.vul_id
                )
            ).all()
        )
    page.goto(seeded.console + "/vulnerabilities?limit=200")
    links = page.locator("table.dense tbody tr td:nth-child(2) a")
    shown = [links.nth(i).inner_text() for i in range(links.count())]
    assert len(shown) == len(worst)
    ranks = [worst[v] for v in shown]
    assert ranks == sorted(ranks, reverse=True), list(zip(shown, ranks, strict=True))
