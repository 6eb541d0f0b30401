"""A local image with several tags: one listed row per name:version, one scan for all of them.

The agent here is the real `Agent` (register, report, claim, scan, upload) over the HTTP API; only its
runtime is fixed: the host holds one OCI image under two tags. The scan runs the real engine on the
image's bytes and the server matches it against imported test advisories.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkhss.v5 import ListImageLocalRequest, ListImageVulnerabilitiesRequest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from openhss.agent import inventory
from openhss.agent.runner import Agent, AgentConfig
from openhss.config import ScanSettings
from openhss.db import migrate
from openhss.db.engine import make_engine, transaction
from openhss.db.models import Image, ImageVulnerability, Project, ScanTaskImage
from openhss.domain.inventory import LocalImage
from tests.api.conftest import sdk
from tests.scan_sources.builders import build_oci
from tests.support.pg import temp_database
from tests.support.service import running_service
from tests.worker.helpers import CERTIFI_VUL, ZLIB_VUL, app_layer, import_advisories, os_layer

REPO = "docker.io/team/app"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class _TaggedHost(Agent):
    """A host whose store holds one image under the tags in `tags` (changed by the test)."""

    def __init__(self, cfg: AgentConfig, image_id: str, layout: Path) -> None:
        super().__init__(cfg)
        self.image_id = image_id
        self.layout = layout
        self.tags: tuple[str, ...] = ()

    def collect(self) -> inventory.Snapshot:
        self._sources = {self.image_id: f"oci:{self.layout}:app"}
        return inventory.Snapshot(images=[LocalImage(self.image_id, self.tags, (), 1234, 0)])


def _rows(svc_client: object, **kw: object) -> dict[str, Any]:
    resp = svc_client.list_image_local(ListImageLocalRequest(limit=200, **kw))  # type: ignore[attr-defined]
    return {i.image_version: i for i in resp.data_list}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_tags_are_two_rows_sharing_one_scan(tmp_path: Path, database: str) -> None:
    built = build_oci(tmp_path / "img", [os_layer(), app_layer()], tag="app")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(temp_database()) if database == "postgresql" else ""
        svc = stack.enter_context(
            running_service(tmp_path / "svc", url, scans=ScanSettings(scan_on_new_image=True))
        )
        import_advisories(svc.runtime.settings, tmp_path)
        cfg = AgentConfig(
            svc.base_url, svc.ak, svc.sk, svc.project_id, agent_id="tagged", cache_dir=tmp_path / "cache"
        )
        host = _TaggedHost(cfg, built.config_digest, built.oci_dir)
        host.tags = (f"{REPO}:1", f"{REPO}:latest")
        host.run(once=True)  # register, report, claim the scans of its images, scan, upload
        client = sdk(svc)

        rows = _rows(client, image_name=REPO)
        assert sorted(rows) == ["1", "latest"]
        for version in ("1", "latest"):
            found = _rows(client, image_name=REPO, image_version=version)
            assert list(found) == [version]
            row = found[version]
            assert row.image_id == built.config_digest and row.host_num == 1
            assert row.scan_status == "success", row.scan_failed_desc
            assert row.vul_num == 3
            vuls = client.list_image_vulnerabilities(
                ListImageVulnerabilitiesRequest(
                    image_type="local",
                    image_id=row.image_id,
                    namespace="docker.io",
                    image_name=REPO,
                    tag_name=version,
                    limit=200,
                )
            )
            assert {ZLIB_VUL, CERTIFI_VUL} <= {v.vul_id for v in vuls.data_list}, version
        with transaction(svc.runtime.sessions) as s:
            # The digest was scanned once: one job for both tags, yet both rows hold the findings.
            assert s.scalar(select(func.count()).select_from(ScanTaskImage)) == 1
            per_row = dict(
                s.execute(
                    select(ImageVulnerability.image_pk, func.count()).group_by(ImageVulnerability.image_pk)
                ).all()
            )
            assert len(per_row) == 2 and len(set(per_row.values())) == 1

        # A third tag of the same bytes starts with the scan's results and queues no scan.
        host.tags = (f"{REPO}:1", f"{REPO}:latest", f"{REPO}:stable")
        host.cycle()
        stable = _rows(client, image_name=REPO, image_version="stable")["stable"]
        assert stable.scan_status == "success" and stable.vul_num == 3
        with transaction(svc.runtime.sessions) as s:
            assert s.scalar(select(func.count()).select_from(ScanTaskImage)) == 1

        # Removing one tag removes one row; the others keep their results.
        host.tags = (f"{REPO}:1", f"{REPO}:stable")
        host.cycle()
        rows = _rows(client, image_name=REPO)
        assert sorted(rows) == ["1", "stable"]
        assert all(r.vul_num == 3 and r.scan_status == "success" for r in rows.values())
        assert _rows(client, image_name=REPO, image_version="latest") == {}
        host.client.close()


def _table(model: type) -> Table:
    """The model's Core table: the migration test writes rows as the schema at 0017 has them."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def test_migration_0018_keeps_images_and_their_results(tmp_path: Path) -> None:
    """SQLite rebuilds `images` for the new key: the rows that reference it must survive (with foreign
    keys on, dropping the old table would cascade into them)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine, "0017")
    with engine.begin() as conn:
        conn.execute(insert(_table(Project)).values(id="p1", name="p1", description="", created_at=NOW))
        image = {
            "project_id": "p1",
            "enterprise_project_id": "0",
            "image_type": "local",
            "registry_name": "",
            "image_id": "sha256:" + "a" * 64,
            "image_name": REPO,
        }
        pk = conn.execute(
            insert(_table(Image)).values(**image, image_version="1").returning(Image.__table__.c.id)
        ).scalar_one()
        conn.execute(
            insert(_table(ImageVulnerability)).values(
                project_id="p1",
                image_pk=pk,
                vul_id="CVE-1",
                vul_type="linux_vul",
                repair_necessity="high",
                app_name="zlib",
            )
        )
        with pytest.raises(IntegrityError), conn.begin_nested():  # the old key: one row per image
            conn.execute(insert(_table(Image)).values(**image, image_version="latest"))
    migrate.upgrade(engine, "0018")
    with engine.begin() as conn:
        conn.execute(insert(_table(Image)).values(**image, image_version="latest"))
        assert conn.scalar(select(func.count()).select_from(ImageVulnerability.__table__)) == 1
        assert conn.scalar(select(func.count()).select_from(Image.__table__)) == 2
        with pytest.raises(IntegrityError), conn.begin_nested():  # the new key: one per image and tag
            conn.execute(insert(_table(Image)).values(**image, image_version="latest"))
    migrate.downgrade(engine, "0017")  # the extra tag row goes, the first row and its results stay
    with engine.begin() as conn:
        assert conn.scalar(select(Image.__table__.c.image_version)) == "1"
        assert conn.scalar(select(func.count()).select_from(ImageVulnerability.__table__)) == 1
    engine.dispose()
