"""Registries from the console: add (checked first), test the connection, sync, edit, delete, against a
real `docker-registry` with htpasswd auth; the synced images appear and leave with their registry."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from openhss.db.engine import transaction
from openhss.db.models import Image, Registry
from tests.console.conftest import Seeded, shoot
from tests.scan_sources.builders import LayerSpec, build_oci
from tests.scan_sources.peers import registry, skopeo_copy

pytestmark = pytest.mark.slow
USER = "console-sync"
NAME = "lab-registry"


def _synced(seeded: Seeded) -> int:
    with transaction(seeded.svc.runtime.sessions) as s:
        return s.scalar(select(func.count()).where(Image.registry_name == NAME)) or 0


def _fill(page: Page, host: str, password: str) -> None:
    form = page.locator("#add-registry")
    form.get_by_label("Name", exact=True).fill(NAME)
    form.locator("select[name=registry_type]").select_option("Harbor")
    form.locator("select[name=protocol]").select_option("http")
    form.get_by_label("Address", exact=True).fill(host)
    form.get_by_label("User name", exact=True).fill(USER)
    form.get_by_label("Password", exact=True).fill(password)


def test_registry_add_test_sync_edit_delete(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    password = secrets.token_urlsafe(16)
    image = build_oci(
        tmp_path / "img",
        [LayerSpec("ADD rootfs.tar /").add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')],
        tag="app",
    )
    with registry(tmp_path / "reg", htpasswd=(USER, password)) as host:
        push = ("--dest-tls-verify=false", "--dest-creds", f"{USER}:{password}")
        skopeo_copy(f"oci:{image.oci_dir}:app", f"docker://{host}/team/app:1.0", *push)
        page.goto(seeded.console + "/registries")
        page.locator("details.add-registry summary").click()
        # A wrong password: the check refuses it, the form keeps what was typed (not the password).
        _fill(page, host, "not-" + password)
        page.get_by_role("button", name="Check and add").click()
        expect(page.get_by_role("alert")).to_contain_text("refused the user name or password")
        expect(page.locator("#add-registry").get_by_label("Address", exact=True)).to_have_value(host)
        expect(page.locator("#add-registry").get_by_label("Password", exact=True)).to_have_value("")
        with transaction(seeded.svc.runtime.sessions) as s:
            assert s.scalar(select(func.count()).select_from(Registry)) == 0
        _fill(page, host, password)
        page.get_by_role("button", name="Check and add").click()
        expect(page.get_by_role("status")).to_contain_text("Registry added")
        row = page.locator("#configured tbody tr", has_text=NAME)
        expect(row).to_contain_text(f"http://{host}")
        # The first sync runs on the worker: the pushed tag becomes a registry image.
        deadline = time.monotonic() + 60
        while _synced(seeded) == 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _synced(seeded) == 1
        with transaction(seeded.svc.runtime.sessions) as s:
            img = s.scalars(select(Image).where(Image.registry_name == NAME)).one()
            assert (img.organization, img.image_version) == ("team", "1.0")
        page.reload()
        expect(page.locator("#registry-images tbody tr", has_text=NAME).locator("td").nth(2)).to_have_text(
            "1"
        )
        shoot(page, "registries")

        row.get_by_role("button", name="Test connection").click()
        expect(page.get_by_role("status")).to_contain_text("accepts the saved settings")

        page.locator("#configured tbody tr", has_text=NAME).get_by_role("link", name="Edit").click()
        edit = page.locator("#edit-registry")
        edit.get_by_label("Namespace", exact=True).fill("team")
        edit.get_by_role("button", name="Save and check").click()  # password left empty: the stored one
        expect(page.get_by_role("status")).to_contain_text("Registry saved")
        with transaction(seeded.svc.runtime.sessions) as s:
            assert s.scalars(select(Registry.namespace).where(Registry.registry_name == NAME)).one() == "team"
        # A new address needs the password typed again: the stored one never goes to a new host.
        page.locator("#configured tbody tr", has_text=NAME).get_by_role("link", name="Edit").click()
        page.locator("#edit-registry").get_by_label("Address", exact=True).fill("10.0.0.9:5000")
        page.locator("#edit-registry").get_by_role("button", name="Save and check").click()
        expect(page.get_by_role("alert")).to_contain_text("registry_password")
        with transaction(seeded.svc.runtime.sessions) as s:
            assert (
                s.scalars(select(Registry.registry_addr).where(Registry.registry_name == NAME)).one() == host
            )

        page.goto(seeded.console + "/registries")
        page.locator("#configured tbody tr", has_text=NAME).get_by_role("button", name="Sync").click()
        expect(page.get_by_role("status")).to_contain_text("Sync queued")

        row = page.locator("#configured tbody tr", has_text=NAME)
        row.locator("details.confirm summary").click()
        row.get_by_role("button", name=f"Delete {NAME}").click()
        expect(page.get_by_role("status")).to_contain_text("Registry deleted")
        expect(page.locator("#configured tbody tr", has_text=NAME)).to_have_count(0)
    with transaction(seeded.svc.runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Registry)) == 0
    assert _synced(seeded) == 0
