"""The agent loop: register, then report the inventory when it changed, heartbeat, repeat.

The agent keeps no state on disk: each report is a full snapshot and the server derives the changes,
so an agent restarted (or a report lost) converges on the next cycle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from openhss import __version__
from openhss.agent import inventory
from openhss.agent.client import ServerClient, ServerError
from openhss.domain.inventory import HostInfo

log = logging.getLogger("openhss.agent")
#: An unchanged inventory is still sent this often, so the server converges even if it lost state.
RESEND_AFTER = 600.0


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
    #: Run the scans the server assigns to this host's images (the expensive half stays on the host).
    scan: bool = True
    cache_dir: Path | None = None
    jobs_per_cycle: int = 2
    #: Read and feed the server's layer cache (layers this tenant's agents analysed are not read again).
    shared_cache: bool = True


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
        self._reported_at = 0.0
        #: image id → how to open it locally (`docker-daemon:` / `containerd:` reference text).
        self._sources: dict[str, str] = {}

    def collect(self) -> inventory.Snapshot:
        snaps = []
        sources: dict[str, str] = {}
        if self.cfg.containerd_socket:
            snap = inventory.from_containerd(
                self.cfg.containerd_socket, self.cfg.containerd_namespace, self.cfg.ctr_binary
            )
            sources.update({i.image_id: f"containerd:{i.repo_tags[0]}" for i in snap.images if i.repo_tags})
            snaps.append(snap)
        if self.cfg.docker_host:
            snap = inventory.from_engine(self.cfg.docker_host)
            sources.update({i.image_id: f"docker-daemon:{i.image_id}" for i in snap.images})
            snaps.append(snap)
        self._sources = sources
        return inventory.merge(*snaps)

    def register(self, snap: inventory.Snapshot) -> None:
        info = HostInfo(
            agent_id=self.agent_id,
            host_id=self.host_id[:128],
            host_name=(self.cfg.host_name or socket.gethostname())[:256],
            private_ip=_private_ip(self.cfg.server),
            public_ip=self.cfg.public_ip,
            os_type=platform.system() or "Linux",
            version=f"openhss-agent {__version__}",
            docker_type=snap.runtime_type,
            docker_name=snap.runtime_name[:128],
            cluster_id=self.cfg.cluster_id,
            cluster_name=self.cfg.cluster_name,
        )
        body = dataclasses.asdict(info)
        answer = self.client.agent("POST", "register", body)
        if self.cfg.interval is None:
            self.interval = float(answer.get("heartbeat_interval") or 30)
        log.info("registered host %s as agent %s (%s)", body["host_name"], self.agent_id, _os_name())

    def report(self, snap: inventory.Snapshot) -> dict[str, list[str]] | None:
        """Send the snapshot if it differs from the last one the server accepted."""
        doc = snap.inventory().as_json()
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        if digest == self._last_report and time.monotonic() - self._reported_at < RESEND_AFTER:
            return None
        changes: dict[str, list[str]] = self.client.agent(
            "PUT", "inventory", {"agent_id": self.agent_id, **doc}
        )
        self._last_report = digest
        self._reported_at = time.monotonic()
        summary = {k: len(v) for k, v in changes.items() if v}
        log.info(
            "reported %d images, %d containers; changes %s", len(snap.images), len(snap.containers), summary
        )
        return changes

    def heartbeat(self) -> None:
        self.client.agent("POST", "heartbeat", {"agent_id": self.agent_id})

    def cycle(self) -> None:
        snap = self.collect()
        try:
            self.report(snap)
            self.heartbeat()
        except ServerError as exc:
            if " HTTP 404 " not in str(exc):
                raise
            # The server forgot this host (restored backup, deleted host): register and report again.
            self.register(snap)
            self._last_report = ""
            self.report(snap)
            self.heartbeat()
        if self.cfg.scan:
            self.run_jobs()

    def run_jobs(self) -> int:
        """Claim the server's waiting scans of this host's images, run them here, upload the results."""
        answer = self.client.agent(
            "POST", "jobs/claim", {"agent_id": self.agent_id, "limit": self.cfg.jobs_per_cycle}
        )
        jobs = answer.get("jobs", [])
        for job in jobs:
            self._run_job(job)
        return len(jobs)

    def _run_job(self, job: dict[str, object]) -> None:
        from openhss.agent.layer_cache import RemoteLayerCache
        from openhss.domain.enums import ScanScope
        from openhss.domain.upload import ScanUpload, to_json
        from openhss.scan.cache import FileLayerCache, TieredLayerCache, default_cache_dir
        from openhss.scan.errors import ScanError
        from openhss.scan.pipeline import PipelineOptions
        from openhss.scan.refs import parse_ref
        from openhss.scan.sources.base import SourceOptions
        from openhss.services.scanning import scan_image

        job_id, image_id = int(str(job["job_id"])), str(job["image_id"])
        where = self._sources.get(image_id)
        try:
            if where is None:
                raise RuntimeError(f"image {image_id} is no longer on this host")
            source = SourceOptions(
                docker_host=self.cfg.docker_host or "unix:///var/run/docker.sock",
                containerd_address=self.cfg.containerd_socket or "/run/containerd/containerd.sock",
                containerd_namespace=self.cfg.containerd_namespace,
                ctr_binary=self.cfg.ctr_binary,
            )
            # No matcher here: the server matches the uploaded packages against its advisories.
            local = FileLayerCache(self.cfg.cache_dir or default_cache_dir())
            remote = RemoteLayerCache(self.client) if self.cfg.shared_cache else None
            options = PipelineOptions(
                scope=ScanScope(int(str(job["scan_scope"]))), cache=TieredLayerCache(local, remote)
            )
            with self._lease(job_id, int(str(job.get("lease_expires") or 0))):
                report = scan_image(parse_ref(where), source, options)
        except ScanError as exc:
            self._fail(job_id, exc.status.value, exc.reason)
            return
        except (RuntimeError, OSError, ValueError) as exc:
            self._fail(job_id, "failed", str(exc))
            return
        data = to_json(ScanUpload.from_report(report))
        answer = self.client.agent("POST", f"jobs/{job_id}/result?agent_id={self.agent_id}", raw=data)
        log.info(
            "scanned %s (job %d): %d packages, %d findings, %d/%d layers from cache, accepted=%s",
            image_id,
            job_id,
            len(report.packages),
            len(report.findings),
            sum(1 for la in report.layers if la.cached),
            len(report.layers),
            answer.get("accepted"),
        )

    @contextlib.contextmanager
    def _lease(self, job_id: int, lease_expires_ms: int) -> Iterator[None]:
        """Renew the job's lease every third of its length while the scan runs."""
        period = max(1.0, (lease_expires_ms / 1000 - time.time()) / 3) if lease_expires_ms else 30.0
        done = threading.Event()

        def renew() -> None:
            while not done.wait(period):
                try:
                    answer = self.client.agent(
                        "POST", f"jobs/{job_id}/heartbeat", {"agent_id": self.agent_id}
                    )
                except RuntimeError as exc:
                    log.warning("could not renew scan job %d: %s", job_id, exc)
                    continue
                if not answer.get("accepted"):
                    log.warning("scan job %d was stopped or taken over; its result will be refused", job_id)
                    return

        thread = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(5)

    def _fail(self, job_id: int, status: str, reason: str) -> None:
        log.warning("scan job %d failed: %s", job_id, reason)
        body = {"agent_id": self.agent_id, "status": status, "reason": reason[:4096]}
        self.client.agent("POST", f"jobs/{job_id}/failure", body)

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
