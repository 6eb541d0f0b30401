"""The agent API on both databases: concurrent reports of the same images from many hosts keep one
image row with exact counters; bad input, unknown agents and weak roles get HSS errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select

from openhss.agent import inventory
from openhss.agent.client import ServerClient, ServerError
from openhss.agent.runner import Agent, AgentConfig
from openhss.db.engine import transaction
from openhss.db.models import Container, Host, Image, ImageHost
from openhss.domain.enums import Role
from openhss.domain.inventory import LocalImage
from openhss.services import identity
from tests.support.service import BACKENDS, Service, service_on

HOSTS = 4
IMAGES = 30
READER_AK, READER_SK = "AGENTREADERAK0000001", "agent-reader-sk-" + "q" * 24


@pytest.fixture(scope="module", params=BACKENDS)
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with service_on(request.param, tmp_path_factory.mktemp("agent-api")) as s:
        yield s


def _client(svc: Service, ak: str | None = None, sk: str | None = None) -> ServerClient:
    return ServerClient(svc.base_url, ak or svc.ak, sk or svc.sk, svc.project_id)


def _image(n: int) -> dict[str, object]:
    return {
        "image_id": f"sha256:{n:064x}",
        "repo_tags": [f"docker.io/fleet/app{n}:1.{n}"],
        "repo_digests": [f"docker.io/fleet/app{n}@sha256:{n + 1000:064x}"],
        "size": 1000 + n,
    }


def test_concurrent_reports_keep_one_image_per_id(svc: Service) -> None:
    errors: list[BaseException] = []

    def agent(h: int) -> None:
        c = _client(svc)
        try:
            c.agent(
                "POST", "register", {"agent_id": f"fleet-{h}", "host_id": f"ecs-{h}", "host_name": f"n{h}"}
            )
            containers = [
                {"container_id": f"c-{h}-{n}", "image_id": f"sha256:{n:064x}", "container_name": f"app{n}"}
                for n in range(h + 1)
            ]
            images = [_image(n) for n in range(IMAGES)]
            c.agent(
                "PUT", "inventory", {"agent_id": f"fleet-{h}", "images": images, "containers": containers}
            )
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=agent, args=(h,)) for h in range(HOSTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with transaction(svc.runtime.sessions) as s:
        rows = {i.image_id: i for i in s.scalars(select(Image).where(Image.image_type == "local"))}
        fleet = {k: v for k, v in rows.items() if v.image_name.startswith("docker.io/fleet/")}
        assert len(fleet) == IMAGES
        for n in range(IMAGES):
            img = fleet[f"sha256:{n:064x}"]
            assert img.host_num == HOSTS, (n, img.host_num)
            # host h runs containers of images 0..h
            assert img.container_num == sum(1 for h in range(HOSTS) if n <= h), (n, img.container_num)
            assert (img.image_name, img.image_version) == (f"docker.io/fleet/app{n}", f"1.{n}")
            assert img.image_digest == f"sha256:{n + 1000:064x}"
        links = s.scalar(
            select(func.count()).select_from(ImageHost).join(Image, Image.id == ImageHost.image_pk)
        )
        assert links == HOSTS * IMAGES
        assert s.scalar(select(func.count()).select_from(Host).where(Host.agent_id.like("fleet-%"))) == HOSTS

    # One host drops an image and stops its containers: only its links and counts change.
    c = _client(svc)
    changes = c.agent(
        "PUT", "inventory", {"agent_id": "fleet-0", "images": [_image(n) for n in range(1, IMAGES)]}
    )
    assert changes["removed_images"] == [f"sha256:{0:064x}"]
    assert changes["stopped_containers"] == ["c-0-0"]
    with transaction(svc.runtime.sessions) as s:
        img0 = s.scalars(select(Image).where(Image.image_id == f"sha256:{0:064x}")).one()
        assert (img0.host_num, img0.container_num) == (HOSTS - 1, HOSTS - 1)
        assert (
            s.scalar(select(func.count()).select_from(Container).where(Container.container_id == "c-0-0"))
            == 0
        )
    # Every host drops image 0: it is no longer a local image at all.
    for h in range(1, HOSTS):
        containers = [{"container_id": f"c-{h}-{n}", "image_id": f"sha256:{n:064x}"} for n in range(1, h + 1)]
        c.agent(
            "PUT",
            "inventory",
            {
                "agent_id": f"fleet-{h}",
                "images": [_image(n) for n in range(1, IMAGES)],
                "containers": containers,
            },
        )
    with transaction(svc.runtime.sessions) as s:
        assert s.scalars(select(Image).where(Image.image_id == f"sha256:{0:064x}")).all() == []
    c.close()


def test_agent_api_errors(svc: Service) -> None:
    c = _client(svc)
    with pytest.raises(ServerError, match=r"HTTP 404 HSS.0404: agent nobody is not registered"):
        c.agent("PUT", "inventory", {"agent_id": "nobody", "images": []})
    with pytest.raises(ServerError, match=r"HTTP 400 HSS.0001"):
        c.agent("POST", "register", {"agent_id": ""})
    with pytest.raises(ServerError, match=r"HTTP 400 HSS.0001"):
        c.agent("PUT", "inventory", {"agent_id": "x", "images": [{"image_id": "i", "size": -1}]})
    with pytest.raises(ServerError, match=r"HTTP 400 HSS.0001.*image_id"):
        c.agent("PUT", "inventory", {"agent_id": "x", "images": [{"repo_tags": ["a:b"]}]})
    with pytest.raises(ServerError, match=r"HTTP 400 HSS.0001.*invalid scan upload"):
        c.agent("POST", "jobs/1/result?agent_id=x", raw=b'{"image": 5}')
    c.close()
    with transaction(svc.runtime.sessions) as s:
        if identity.lookup_access_key(s, svc.runtime.box, READER_AK) is None:
            identity.create_user(s, "agent-reader", Role.READ_ONLY, "agent-reader-pass-1")
            identity.grant(s, "agent-reader", svc.project_id)
            identity.create_access_key(s, svc.runtime.box, "agent-reader", pair=(READER_AK, READER_SK))
    reader = _client(svc, READER_AK, READER_SK)
    with pytest.raises(ServerError, match=r"HTTP 403"):
        reader.agent("POST", "register", {"agent_id": "sneaky"})
    reader.close()
    wrong = _client(svc, svc.ak, "not-the-secret")
    with pytest.raises(ServerError, match=r"HTTP 401"):
        wrong.agent("POST", "heartbeat", {"agent_id": "fleet-1"})
    wrong.close()


class _FixedAgent(Agent):
    """An agent whose host has a fixed inventory (the runtime socket is tested with real podman)."""

    def collect(self) -> inventory.Snapshot:
        return inventory.Snapshot(images=[LocalImage("sha256:" + "e" * 64, ("docker.io/x/forgotten:1",))])


def test_agent_recovers_when_the_server_forgot_its_host(svc: Service) -> None:
    agent = _FixedAgent(
        AgentConfig(svc.base_url, svc.ak, svc.sk, svc.project_id, agent_id="amnesia", scan=False)
    )
    agent.run(once=True)
    with transaction(svc.runtime.sessions) as s:
        s.execute(delete(Host).where(Host.agent_id == "amnesia"))
    agent.cycle()  # unchanged inventory, but the server answers 404: register and report again
    with transaction(svc.runtime.sessions) as s:
        host = s.scalars(select(Host).where(Host.agent_id == "amnesia")).one()
        img = s.scalars(select(Image).where(Image.image_id == "sha256:" + "e" * 64)).one()
        assert host.agent_status == "online" and img.host_num == 1
    agent.client.close()
