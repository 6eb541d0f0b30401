"""Registries end to end: a real `docker-registry` with htpasswd auth, added through the official SDK,
synced by the Celery task (embedded worker), listed; the password never comes back out."""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkhss.v5 import (
    AddRegistryRequest,
    AddRegistryRequestBody,
    BatchDeleteRegistryRequest,
    BatchDeleteRegistryRequestBody,
    CreateImageSynchronizeTaskRequest,
    CreateImageSynchronizeTaskRequestInfo,
    CreateImageSynchronizeTaskRequestInfoRegistryInfo,
    CreateManualImageScanTaskReqInfo,
    CreateManualImageScanTaskReqInfoImageInfo,
    CreateManualImageScanTaskRequest,
    DeleteRegistryRequest,
    HssClient,
    ListRegistryImagesRequest,
    ListRegistryRequest,
    ListRegistryStatisticsRequest,
    UpdateRegistryRequest,
    UpdateRegistryRequestBody,
)
from sqlalchemy import select

from openhss.config import RegistryTargets
from openhss.db.engine import transaction
from openhss.db.models import Image, Registry
from openhss.services import registries
from openhss.worker.embedded import start_embedded_worker
from tests.api.conftest import sdk
from tests.scan_sources.builders import BuiltImage, build_oci, write_platform_index
from tests.scan_sources.peers import registry, skopeo_copy
from tests.support.service import Service, running_service
from tests.worker.helpers import app_layer, import_advisories, os_layer

USER = "syncer"
#: The registries here run on this host: the test deployment allows loopback targets explicitly.
LOOPBACK_REGISTRIES = RegistryTargets(allow_loopback=True)


def _image(tmp: Path, text: str) -> BuiltImage:
    """Real Debian and PyPI package metadata of this machine (three advisories match it)."""
    return build_oci(tmp, [os_layer(), app_layer(text)], tag="app", config_extra={"Cmd": ["/app"]})


def _wait(pred: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def reg_host(tmp_path: Path) -> Iterator[tuple[str, str, BuiltImage, BuiltImage]]:
    password = secrets.token_urlsafe(16)
    one = _image(tmp_path / "one", "1")
    two = _image(tmp_path / "two", "2")
    with registry(tmp_path / "reg", htpasswd=(USER, password)) as host:
        push = ("--dest-tls-verify=false", "--dest-creds", f"{USER}:{password}")
        skopeo_copy(f"oci:{one.oci_dir}:app", f"docker://{host}/team/app:1.0", *push)
        skopeo_copy(f"oci:{two.oci_dir}:app", f"docker://{host}/team/app:2.0", *push)
        skopeo_copy(f"oci:{two.oci_dir}:app", f"docker://{host}/team/app:latest", *push)
        skopeo_copy(f"oci:{one.oci_dir}:app", f"docker://{host}/solo:7", *push)
        yield host, password, one, two


def _add(
    client: HssClient, host: str, password: str, name: str = "harbor-test", cluster: str = "cluster-1"
) -> None:
    body = AddRegistryRequestBody(
        registry_name=name,
        registry_type="Harbor",
        api_version="V2",
        protocol="http",
        registry_addr=host,
        registry_username=USER,
        registry_password=password,
        connect_cluster_id=cluster,
        get_scan_image_channel="Other",
    )
    client.add_registry(AddRegistryRequest(body=body))


def _registry_id(client: HssClient) -> str:
    listed = client.list_registry(ListRegistryRequest())
    assert listed.total_num == 1
    return str(listed.data_list[0].id)


def _images(client: HssClient, **kw: object) -> list[dict[str, Any]]:
    resp = client.list_registry_images(ListRegistryImagesRequest(limit=200, **kw))
    return [i.to_dict() for i in resp.data_list]


@pytest.mark.slow
def test_registry_add_sync_list_delete(
    reg_host: tuple[str, str, BuiltImage, BuiltImage], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host, password, one, two = reg_host
    caplog.set_level(logging.DEBUG)
    with running_service(tmp_path / "svc", registry_targets=LOOPBACK_REGISTRIES) as svc:
        client = sdk(svc)
        # Wrong password: the connectivity check refuses, clearly, and nothing is stored.
        with pytest.raises(ClientRequestException) as exc:
            _add(client, host, "not-" + password)
        assert exc.value.status_code == 400
        assert "refused the user name or password" in exc.value.error_msg
        assert "not-" + password not in exc.value.error_msg
        assert client.list_registry(ListRegistryRequest()).total_num == 0

        _add(client, host, password)
        # Another registry under the same name (a byte-identical repeat would be the same request,
        # answered once: README, "Replay protection").
        with pytest.raises(ClientRequestException) as dup:
            _add(client, host, password, cluster="cluster-2")
        assert dup.value.status_code == 409
        listed = client.list_registry(ListRegistryRequest(registry_type="Harbor,Jfrog"))
        info = listed.data_list[0].to_dict()
        assert info["registry_addr"] == host and info["registry_username"] == USER
        assert info["status"] == "success" and info["protocol"] == "http"
        reg_id = info["id"]
        with transaction(svc.runtime.sessions) as s:
            row = s.scalars(select(Registry)).one()
            assert password.encode() not in row.password_encrypted

        worker = start_embedded_worker(svc.runtime.settings, concurrency=1)
        try:
            _sync_and_scan(svc, client, reg_id, host, password, one, two, tmp_path)
        finally:
            worker.stop()

        # latest-version-only: update keeps the stored password when none is given.
        client.update_registry(
            UpdateRegistryRequest(id=reg_id, body=UpdateRegistryRequestBody(get_scan_image_channel="Other"))
        )
        with pytest.raises(ClientRequestException) as bad:
            client.update_registry(
                UpdateRegistryRequest(
                    id=reg_id, body=UpdateRegistryRequestBody(registry_password="wrong-one")
                )
            )
        assert bad.value.status_code == 400
        with transaction(svc.runtime.sessions) as s:
            s.scalars(select(Registry)).one().latest_version_only = True
        registries.sync_registry(svc.runtime.settings, svc.runtime.sessions, svc.runtime.box, _pk(svc))
        assert {(r["image_name"], r["image_version"]) for r in _images(client)} == {
            ("app", "latest"),
            ("solo", "7"),
        }

        client.delete_registry(DeleteRegistryRequest(id=reg_id))
        assert client.list_registry(ListRegistryRequest()).total_num == 0
        with transaction(svc.runtime.sessions) as s:
            assert s.scalars(select(Image).where(Image.image_type == "registry")).all() == []
        with pytest.raises(ClientRequestException) as gone:
            client.batch_delete_registry(
                BatchDeleteRegistryRequest(body=BatchDeleteRegistryRequestBody(ids=[reg_id]))
            )
        assert gone.value.status_code == 404
    assert password not in caplog.text


def _sync_and_scan(
    svc: Service,
    client: HssClient,
    reg_id: str,
    host: str,
    password: str,
    one: BuiltImage,
    two: BuiltImage,
    tmp_path: Path,
) -> None:
    _sync(client, reg_id)
    rows = _images(client)
    by_tag = {(r["namespace"], r["image_name"], r["image_version"]): r for r in rows}
    assert set(by_tag) == {
        ("team", "app", "1.0"),
        ("team", "app", "2.0"),
        ("team", "app", "latest"),
        ("", "solo", "7"),
    }
    assert by_tag[("team", "app", "1.0")]["image_digest"] == one.manifest_digest
    assert by_tag[("team", "app", "latest")]["image_digest"] == two.manifest_digest
    expected_size = len(one.config) + sum(len(one.blobs[d]) for d in one.layer_digests)
    assert by_tag[("team", "app", "1.0")]["image_size"] == expected_size
    assert all(r["registry_id"] == reg_id and r["registry_type"] == "Harbor" for r in rows)
    assert all(r["image_type"] == "harbor" and r["scan_status"] == "unscan" for r in rows)
    latest = {(r["image_name"], r["image_version"]) for r in _images(client, latest_version=True)}
    assert latest == {("app", "latest"), ("solo", "7")}
    assert [r["image_version"] for r in _images(client, namespace="team", image_version="2.0")] == ["2.0"]
    stats = client.list_registry_statistics(ListRegistryStatisticsRequest())
    assert (stats.success_num, stats.fail_num) == (1, 0)
    assert client.list_registry(ListRegistryRequest()).data_list[0].images_num == 4
    ids_before = {k: r["id"] for k, r in by_tag.items()}

    # A tag removed from the registry disappears on resync; unchanged ones keep their rows.
    _delete_tag(tmp_path / "reg" / "data", "team/app", "2.0")
    _sync(client, reg_id, expect=3)
    after = {(r["namespace"], r["image_name"], r["image_version"]): r["id"] for r in _images(client)}
    assert set(after) == set(ids_before) - {("team", "app", "2.0")}
    assert all(after[k] == ids_before[k] for k in after)

    # A scan task over a registry image pulls it with the stored credentials and records results.
    import_advisories(svc.runtime.settings, tmp_path)
    target = after[("team", "app", "1.0")]
    client.create_manual_image_scan_task(
        CreateManualImageScanTaskRequest(
            global_image_type="registry",
            body=CreateManualImageScanTaskReqInfo(
                image_info=[CreateManualImageScanTaskReqInfoImageInfo(id=target)]
            ),
        )
    )

    def scanned() -> dict[str, object]:
        return next(r for r in _images(client) if r["id"] == target)

    _wait(lambda: scanned()["scan_status"] in ("success", "failed", "download_failed"), 90)
    row = scanned()
    assert row["scan_status"] == "success", row["scan_failed_desc"]
    assert row["vul_num"] == 3 and row["latest_scan_time"]
    assert [r["vul_num"] for r in _images(client, has_vul=True)] == [3]


def _pk(svc: Service) -> int:
    with transaction(svc.runtime.sessions) as s:
        return s.scalars(select(Registry.id)).one()


def _sync(client: HssClient, reg_id: str, expect: int = 4) -> None:
    """API sync task → dispatch → Celery (the embedded worker) → `openhss.sync_registry`."""
    body = CreateImageSynchronizeTaskRequestInfo(
        sync_all_registries=False,
        registry_info=[CreateImageSynchronizeTaskRequestInfoRegistryInfo(registry_id=reg_id)],
    )
    before = _sync_time(client)
    # The SDK signs with a one-second date, so the same POST twice within a second carries the same
    # signature and is one request, answered once (README, "Replay protection"); this test wants a
    # second sync *executed*, so it lets the second turn.
    time.sleep(1.05)
    client.create_image_synchronize_task(CreateImageSynchronizeTaskRequest(body=body))
    _wait(lambda: _sync_time(client) > before and len(_images(client)) == expect)


def _sync_time(client: HssClient) -> int:
    return int(client.list_registry(ListRegistryRequest()).data_list[0].latest_sync_time or 0)


def _delete_tag(store: Path, repo: str, tag: str) -> None:
    """Untag in the registry's own storage (this docker-registry build refuses the DELETE API)."""
    tag_dir = store / "docker/registry/v2/repositories" / repo / "_manifests/tags" / tag
    assert tag_dir.is_dir()
    shutil.rmtree(tag_dir)


def test_registry_validation_errors(tmp_path: Path) -> None:
    with running_service(tmp_path / "svc", registry_targets=LOOPBACK_REGISTRIES) as svc:
        client = sdk(svc)
        for field, value in (("registry_addr", "http://x.example/path"), ("registry_type", "Quay")):
            body = {
                "registry_name": "r",
                "registry_type": "Harbor",
                "api_version": "V2",
                "protocol": "https",
                "registry_addr": "registry.example:5000",
                "registry_username": "u",
                "registry_password": "p",
                "connect_cluster_id": "c",
                "get_scan_image_channel": "Other",
                field: value,
            }
            with pytest.raises(ClientRequestException) as exc:
                client.add_registry(AddRegistryRequest(body=AddRegistryRequestBody(**body)))
            assert exc.value.status_code == 400 and field in exc.value.error_msg
        unreachable = dict(body, registry_type="Other", registry_addr="127.0.0.1:1")
        with pytest.raises(ClientRequestException) as exc:
            client.add_registry(AddRegistryRequest(body=AddRegistryRequestBody(**unreachable)))
        assert exc.value.status_code == 400 and "could not be reached as a v2 registry" in exc.value.error_msg
        assert client.list_registry(ListRegistryRequest()).total_num == 0


def test_multi_arch_image_lists_its_platform_images(tmp_path: Path) -> None:
    """An OCI index pushed with skopeo (`--all`) to a real docker-registry: after a sync its row is
    multi-arch and `association_images` names each platform manifest; only the platform the scanner
    picks (linux/amd64) carries the row's scan state."""
    password = secrets.token_urlsafe(16)
    out = tmp_path / "multi"
    amd = build_oci(out, [os_layer(), app_layer("amd")], write_index=False)
    arm = build_oci(out, [os_layer(), app_layer("arm")], arch="arm64", write_index=False)
    index_digest = write_platform_index(out, [(arm, "linux/arm64"), (amd, "linux/amd64")])
    single = _image(tmp_path / "single", "1")
    with (
        registry(tmp_path / "reg", htpasswd=(USER, password)) as host,
        running_service(tmp_path / "svc", registry_targets=LOOPBACK_REGISTRIES) as svc,
    ):
        push = ("--dest-tls-verify=false", "--dest-creds", f"{USER}:{password}")
        skopeo_copy(f"oci:{out}:multi", f"docker://{host}/team/multi:1", "--all", *push)
        skopeo_copy(f"oci:{single.oci_dir}:app", f"docker://{host}/team/single:1", *push)
        client = sdk(svc)
        _add(client, host, password)
        registries.sync_registry(svc.runtime.settings, svc.runtime.sessions, svc.runtime.box, _pk(svc))
        rows = {r["image_name"]: r for r in _images(client)}
        assert set(rows) == {"multi", "single"}
        assert rows["single"]["is_multiple_arch"] is False and rows["single"]["association_images"] == []
        multi = rows["multi"]
        assert multi["is_multiple_arch"] is True and multi["image_digest"] == index_digest
        assoc = multi["association_images"]
        assert [a["image_digest"] for a in assoc] == [arm.manifest_digest, amd.manifest_digest]
        for a in assoc:
            assert (a["image_name"], a["image_version"], a["namespace"]) == ("multi", "1", "team")
            assert a["image_type"] == "harbor" and a["image_id"] == a["image_digest"].split(":")[1]
            assert a["scan_status"] == "unscan" and a["vul_num"] == 0
        assert len({a["id"] for a in assoc}) == 2
        assert _images(client, is_multarch=True)[0]["association_images"] == assoc

        # A scan of the row reads linux/amd64 (the scanner's default platform): its state
        # shows on that platform image only.
        with transaction(svc.runtime.sessions) as s:
            img = s.scalars(select(Image).where(Image.image_name == "multi")).one()
            img.scan_status, img.vul_num, img.malicious_file_num = "success", 3, 1
        assoc = _images(client, image_name="multi")[0]["association_images"]
        by_digest = {a["image_digest"]: a for a in assoc}
        assert (by_digest[amd.manifest_digest]["scan_status"], by_digest[amd.manifest_digest]["vul_num"]) == (
            "success",
            3,
        )
        assert by_digest[amd.manifest_digest]["malicious_file_num"] == 1
        assert (by_digest[arm.manifest_digest]["scan_status"], by_digest[arm.manifest_digest]["vul_num"]) == (
            "unscan",
            0,
        )

        # A resync of the unchanged registry keeps the platform rows (same ids), not duplicates them.
        registries.sync_registry(svc.runtime.settings, svc.runtime.sessions, svc.runtime.box, _pk(svc))
        again = _images(client, image_name="multi")[0]["association_images"]
        assert [a["id"] for a in again] == [a["id"] for a in assoc]
