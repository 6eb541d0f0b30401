"""The agent loop: register, then report the inventory when it changed, heartbeat, repeat.

The agent keeps no state on disk: each report is a full snapshot and the server derives the changes,
so an agent restarted (or a report lost) converges on the next cycle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from openhss import __version__
from openhss.agent import inventory
from openhss.agent.client import ServerClient

log = logging.getLogger("openhss.agent")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    server: str
    ak: str
    sk: str
    project_id: str = ""
    docker_host: str | None = None
    containerd_socket: str | None = None
    containerd_namespace: str = "k8s.io"
    ctr_binary: str = "ctr"
    host_id: str = ""
    host_name: str = ""
    agent_id: str = ""
    public_ip: str = ""
    cluster_id: str = ""
    cluster_name: str = ""
    interval: float | None = None


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text:
            return text
    return socket.gethostname()


def _private_ip(server: str) -> str:
    """The local address this host uses to reach the server (no packet is sent: UDP connect only)."""
    parts = urlsplit(server)
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, parts.port or 80))
            return str(s.getsockname()[0])
    except OSError:
        return ""


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')[:64]
    except OSError:
        pass
    return platform.system()


class Agent:
    def __init__(self, cfg: AgentConfig, client: ServerClient | None = None) -> None:
        self.cfg = cfg
        self.client = client or ServerClient(cfg.server, cfg.ak, cfg.sk, cfg.project_id)
        self.host_id = cfg.host_id or _machine_id()
        self.agent_id = (
            cfg.agent_id or hashlib.sha256(f"openhss-agent:{self.host_id}".encode()).hexdigest()[:32]
        )
        self.interval = cfg.interval or 30.0
        self._last_report = ""

    def collect(self) -> inventory.Snapshot:
        snaps = []
        if self.cfg.docker_host:
            snaps.append(inventory.from_engine(self.cfg.docker_host))
        if self.cfg.containerd_socket:
            snaps.append(
                inventory.from_containerd(
                    self.cfg.containerd_socket, self.cfg.containerd_namespace, self.cfg.ctr_binary
                )
            )
        return inventory.merge(*snaps)

    def register(self, snap: inventory.Snapshot) -> None:
        body = {
            "agent_id": self.agent_id,
            "host_id": self.host_id[:128],
            "host_name": (self.cfg.host_name or socket.gethostname())[:256],
            "private_ip": _private_ip(self.cfg.server),
            "public_ip": self.cfg.public_ip,
            "os_type": platform.system() or "Linux",
            "version": f"openhss-agent {__version__}",
            "docker_type": snap.runtime_type,
            "docker_name": snap.runtime_name[:128],
            "cluster_id": self.cfg.cluster_id,
            "cluster_name": self.cfg.cluster_name,
        }
        answer = self.client.agent("POST", "register", body)
        if self.cfg.interval is None:
            self.interval = float(answer.get("heartbeat_interval") or 30)
        log.info("registered host %s as agent %s (%s)", body["host_name"], self.agent_id, _os_name())

    def report(self, snap: inventory.Snapshot) -> dict[str, list[str]] | None:
        """Send the snapshot if it differs from the last one the server accepted."""
        doc = snap.as_json()
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        if digest == self._last_report:
            return None
        changes: dict[str, list[str]] = self.client.agent(
            "PUT", "inventory", {"agent_id": self.agent_id, **doc}
        )
        self._last_report = digest
        summary = {k: len(v) for k, v in changes.items() if v}
        log.info(
            "reported %d images, %d containers; changes %s", len(snap.images), len(snap.containers), summary
        )
        return changes

    def heartbeat(self) -> None:
        self.client.agent("POST", "heartbeat", {"agent_id": self.agent_id})

    def cycle(self) -> None:
        snap = self.collect()
        self.report(snap)
        self.heartbeat()

    def run(self, once: bool = False, sleep: Callable[[float], None] = time.sleep) -> None:
        self.register(self.collect())
        while True:
            try:
                self.cycle()
            except (inventory.InventoryError, RuntimeError) as exc:
                if once:
                    raise
                log.warning("agent cycle failed, retrying next cycle: %s", exc)
            if once:
                return
            sleep(self.interval)
