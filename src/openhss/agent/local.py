"""The agent of `openhss serve` for its own host: the same `Agent.run()` as `openhss agent`, in a thread.

With `make run` alone the images of the machine running the service appear as local images and can be
scanned. It talks to the service over its own HTTP API like any remote agent (one code path), signed
with the key of a built-in operator user that the service creates and reads back from its database, so
nobody has to type or store credentials.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import select

from openhss.agent.runner import Agent, AgentConfig
from openhss.db.engine import transaction
from openhss.db.models import Project
from openhss.services import identity
from openhss.services.runtime import Runtime

log = logging.getLogger("openhss.agent")
LOCAL_AGENT_USER = "openhss-local-agent"
KEY_DESCRIPTION = "local agent of openhss serve"


def detect_docker_host(configured: str, env: Mapping[str, str] | None = None) -> str | None:
    """The Engine API address to read: the configured one, else the first existing usual socket.

    A configured or `DOCKER_HOST` unix socket that does not exist counts as absent; a TCP address cannot
    be checked without connecting, so it is taken as given."""
    env = os.environ if env is None else env
    if configured:
        candidates = [configured]
    else:
        candidates = [env.get("DOCKER_HOST", ""), "unix:///var/run/docker.sock"]
        if env.get("XDG_RUNTIME_DIR"):
            candidates.append(f"unix://{env['XDG_RUNTIME_DIR']}/podman/podman.sock")
        candidates.append("unix:///run/podman/podman.sock")
    for address in candidates:
        if not address:
            continue
        if address.startswith("unix://") or address.startswith("/"):
            path = address.removeprefix("unix://")
            if Path(path).is_socket():
                return f"unix://{path}"
            continue
        return address
    return None


def _project_id(rt: Runtime) -> str:
    """The default project (by id or name from the settings, else the oldest one)."""
    s = rt.settings
    with transaction(rt.sessions) as session:
        if s.default_project_id and session.get(Project, s.default_project_id) is not None:
            return s.default_project_id
        pid = session.scalar(select(Project.id).where(Project.name == s.default_project_name))
        pid = pid or session.scalar(select(Project.id).order_by(Project.created_at, Project.id))
    if pid is None:
        raise RuntimeError("no project exists for the local agent")
    return str(pid)


def _server_host(listen: str) -> str:
    if listen in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard listen is reached on loopback
        return "127.0.0.1"
    return f"[{listen}]" if ":" in listen else listen


class _Stopped(Exception):
    """Raised from the agent's sleep to end `Agent.run()` when the service shuts down."""


class LocalAgent:
    """Runs `Agent.run()` in a daemon thread once the HTTP server listens; `stop()` ends it."""

    def __init__(self, rt: Runtime, docker_host: str, listening_port: Callable[[], int | None]) -> None:
        self.docker_host = docker_host
        self.project_id = _project_id(rt)
        with transaction(rt.sessions) as session:
            self._ak, self._sk = identity.service_access_key(
                session, rt.box, LOCAL_AGENT_USER, self.project_id, KEY_DESCRIPTION
            )
        self._listen = _server_host(rt.settings.host)
        self._cache_dir = rt.settings.data_dir / "agent-layers"
        self._listening_port = listening_port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="openhss-local-agent", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped

    def _main(self) -> None:
        port = None
        while port is None:
            if self._stop.wait(0.1):
                return
            port = self._listening_port()
        cfg = AgentConfig(
            server=f"http://{self._listen}:{port}",
            ak=self._ak,
            sk=self._sk,
            project_id=self.project_id,
            docker_host=self.docker_host,
            cache_dir=self._cache_dir,
        )
        agent = Agent(cfg)
        while not self._stop.is_set():
            try:
                agent.run(sleep=self._sleep)
            except _Stopped:
                return
            except (RuntimeError, OSError, ValueError) as exc:
                # Registration failed (the engine socket went away, the server refused): retry later.
                log.warning("local agent: %s; retrying in %.0f s", exc, agent.interval)
                if self._stop.wait(agent.interval):
                    return
        agent.client.close()
