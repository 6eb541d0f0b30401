"""Settings: environment (`OPENHSS_*`), an optional TOML file (`OPENHSS_CONFIG`), then defaults.

The embedded defaults (SQLite and a filesystem broker under the data dir) make `make run` work with no
server; the distributed deployment changes only `database_url` and `broker_url`.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Limits(BaseModel):
    """Bounds that keep hostile input and large fleets from exhausting the service."""

    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_image_bytes: int = Field(default=20 * 1024**3, ge=1)
    max_layer_members: int = Field(default=2_000_000, ge=1)
    token_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    signature_skew_seconds: int = Field(default=15 * 60, ge=1, le=3600)
    auth_attempts_per_minute: int = Field(default=30, ge=1)
    #: What a compressed upload (an agent's layer analysis) may inflate to.
    max_upload_decompressed_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: Most JSON values (arrays, objects, separators) one body may hold: bounds what parsing allocates.
    #: 1M admits an agent's largest inventory (20 000 images, 50 000 containers).
    max_json_values: int = Field(default=1_000_000, ge=1000)
    #: Bodies above this size, and every compressed upload, are parsed under a per-process gate ...
    large_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: ... of this many at a time, so concurrent hostile uploads cost what one does.
    large_body_concurrency: int = Field(default=1, ge=1)


class WebhookSettings(BaseModel):
    """Outbound webhooks (services/events.py). Targets on loopback or private networks are refused
    unless allowed here: a webhook URL is user input, and the server must not become a probe of its own
    network (the same concern as registry addresses)."""

    allow_loopback: bool = False
    allow_private: bool = False
    #: Delivery attempts before an event is marked failed; the wait doubles from `backoff_seconds`.
    max_attempts: int = Field(default=12, ge=1, le=100)
    backoff_seconds: float = Field(default=5.0, gt=0)
    max_backoff_seconds: float = Field(default=3600.0, gt=0)
    #: A claimed event not delivered within this long (its deliverer died) is claimed again.
    lease_seconds: int = Field(default=60, ge=1)
    timeout_seconds: float = Field(default=10.0, gt=0)
    #: How often the distributed deployment's beat runs a delivery pass.
    poll_seconds: float = Field(default=5.0, gt=0)


class ScanSettings(BaseModel):
    """How scans are executed (services/scan_queue.py, scan_executor.py); the same for embedded and
    distributed deployments."""

    #: A running job's lease; its worker renews it every third of this. A worker killed mid-scan loses
    #: the job to whoever sees the lease expired (the sweeper, or a redelivered message).
    lease_seconds: int = Field(default=120, ge=2)
    #: How often the sweeper resets expired leases and re-sends jobs whose message may be lost.
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    #: A waiting job not (re)sent for this long is sent again (duplicates are no-ops).
    resend_after_seconds: int = Field(default=3600, ge=1)
    #: At most this many jobs of one project scan at once (0: no cap).
    project_concurrency: int = Field(default=0, ge=0)
    #: A task with more images than this (or is_all/operate_all) goes to the bulk lane.
    manual_lane_max_images: int = Field(default=10, ge=1)
    #: Re-scan every image whose latest scan is older than this many hours (0: off).
    rescan_interval_hours: float = Field(default=0.0, ge=0)
    #: Queue a scan for each local image an agent reports for the first time.
    scan_on_new_image: bool = False
    #: Use the shared layer cache (turn off only to measure what it saves).
    layer_cache: bool = True
    #: Layer cache entries nobody read for this many days are deleted by the periodic prune (0: keep).
    layer_cache_retention_days: float = Field(default=30.0, ge=0)
    #: Parallel scans of the in-process worker of `openhss serve`.
    embedded_concurrency: int = Field(default=2, ge=1)
    #: Wall-clock budget of one image scan in seconds (0: none): a hostile image that keeps its
    #: analyzers busy ends `failed` with the reason instead of holding a worker slot for ever.
    max_scan_seconds: int = Field(default=3600, ge=0)
    #: A project already scanning yields a start to another project that runs fewer scans and has
    #: one waiting (work conserving: a lone project still uses every worker).
    fair_share: bool = True


class RegistryTargets(BaseModel):
    """Which addresses a registry may point at (checked on save, before every sync and pull).

    A registry is a URL a tenant chooses and the server connects to with its own network position, so
    without a policy it reaches the server's own loopback services and the cloud metadata endpoint
    (169.254.169.254: instance credentials). Loopback, link-local (which includes the metadata
    addresses), unspecified and multicast targets are refused unless allowed here; private ranges are
    allowed by default because on-prem registries live there. `allow_networks` admits specific CIDRs
    (e.g. a registry on the server's own host: `["127.0.0.1/32"]`), `deny_networks` refuses more.
    """

    allow_loopback: bool = False
    allow_link_local: bool = False
    allow_networks: list[str] = Field(default_factory=list)
    deny_networks: list[str] = Field(default_factory=list)


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the file named by `OPENHSS_CONFIG` (TOML); absent file name means no file."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        name = os.environ.get("OPENHSS_CONFIG", "")
        self._data: dict[str, Any] = {}
        if name:
            with Path(name).open("rb") as fh:
                self._data = tomllib.load(fh)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/openhss` (`~/.local/share/openhss`): the same place whatever the working directory,
    so `openhss db update` run anywhere feeds `openhss scan` and `make run` alike."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openhss"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENHSS_", env_nested_delimiter="__", extra="ignore")

    #: Override with `OPENHSS_DATA_DIR` or `data_dir` in the `OPENHSS_CONFIG` file.
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Key material for encrypting secrets at rest (access-key secrets, registry passwords). When empty,
    #: a random key is generated once into `<data_dir>/secret.key` (mode 0600).
    secret_key: SecretStr = SecretStr("")
    admin_username: str = "admin"
    #: When set, the first start uses these instead of generating and printing random credentials.
    admin_password: SecretStr = SecretStr("")
    admin_access_key: str = ""
    admin_secret_key: SecretStr = SecretStr("")
    default_project_id: str = ""
    default_project_name: str = "default"
    embedded_worker: bool = True
    #: `openhss serve` also runs an agent for its own host (its images become local images).
    local_agent: bool = True
    #: The local agent's Docker Engine API address (Docker or podman); empty: `DOCKER_HOST`, then
    #: /var/run/docker.sock, $XDG_RUNTIME_DIR/podman/podman.sock, /run/podman/podman.sock.
    local_agent_docker_host: str = ""
    #: How often every registry is re-synced (repositories, tags, digests).
    registry_sync_seconds: int = Field(default=3600, ge=10)
    #: Agents heartbeat this often; a host silent for `agent_offline_seconds` is shown offline.
    agent_heartbeat_seconds: int = Field(default=30, ge=1)
    agent_offline_seconds: int = Field(default=180, ge=1)
    #: Prefix of every Celery queue name, so several deployments (or test runs) share one broker.
    queue_prefix: str = ""
    scans: ScanSettings = ScanSettings()
    webhooks: WebhookSettings = WebhookSettings()
    #: Export files are deleted this long after the export was requested (the task then reports failure).
    export_retention_hours: int = Field(default=24, ge=1, le=24 * 365)
    #: A task still `running` after this long is failed by the cleanup (its worker died or hung), which
    #: also frees the per-project, per-type slot for a new export.
    export_timeout_minutes: int = Field(default=60, ge=1, le=24 * 60)
    limits: Limits = Limits()
    registry_targets: RegistryTargets = RegistryTargets()
    #: YARA rule packs (zip/tar of .yar) and known-bad SHA-256 lists `openhss db update` fetches.
    malware_rule_packs: list[str] = Field(
        default_factory=lambda: ["https://github.com/Yara-Rules/rules/archive/refs/heads/master.zip"]
    )
    malware_hash_lists: list[str] = Field(
        default_factory=lambda: ["https://bazaar.abuse.ch/export/txt/sha256/recent/"]
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls), file_secret_settings)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openhss.db').resolve()}"

    @cached_property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        # kombu's SQLAlchemy transport needs no server and, unlike the filesystem transport, supports
        # visibility timeouts, so a crashed in-process worker's task is redelivered.
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        """The data dir, private to the service's user: 0700, and the embedded SQLite database and
        broker files 0600 from their first byte (SQLite gives `-wal`/`-shm` the database file's mode).
        They hold every tenant's findings and the encrypted secrets, and the key is beside them."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private(self.data_dir, 0o700)
        private = []
        if not self.database_url:
            private += ["openhss.db", "openhss.db-wal", "openhss.db-shm"]
        if not self.broker_url:
            private += ["broker.db", "broker.db-wal", "broker.db-shm", "broker.db-journal"]
        for name in private:
            path = self.data_dir / name
            if path.exists():
                _private(path, 0o600)
            elif not name.endswith(("-wal", "-shm", "-journal")):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        return self.data_dir


def _private(path: Path, mode: int) -> None:
    """Tighten a path's mode; one owned by someone else (an admin's choice) is left as it is."""
    try:
        if path.stat().st_mode & 0o777 & ~mode:
            path.chmod(mode)
    except PermissionError:
        pass


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
