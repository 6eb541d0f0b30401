"""Typed ORM models. Column names follow HSS field names where the API exposes them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes on both databases (SQLite drops tzinfo; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnterpriseProject(Base):
    """HSS enterprise projects partition a project's resources; "0" is the default one."""

    __tablename__ = "enterprise_projects"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectGrant(Base):
    """A user may see a project; `enterprise_project_id` NULL means every enterprise project of it."""

    __tablename__ = "project_grants"
    __table_args__ = (UniqueConstraint("user_id", "project_id", "enterprise_project_id", name="uq_grant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AccessKey(Base):
    """AK/SK pair. The SK must be recoverable to verify HMAC signatures, so it is encrypted, not hashed."""

    __tablename__ = "access_keys"

    access_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    description: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuthToken(Base):
    """Issued X-Auth-Tokens, stored by SHA-256 so a database leak does not leak usable tokens."""

    __tablename__ = "auth_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    methods: Mapped[str] = mapped_column(String(64), default="password")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RequestNonce(Base):
    """Signatures of accepted state-changing requests, kept for the skew window as idempotency keys:
    a repeat of the same signed request is answered with the first one's stored response."""

    __tablename__ = "request_nonces"
    __table_args__ = (Index("ix_request_nonces_signer", "access_key", "claimed_at"),)

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Who signed it and when this execution was claimed: a repeat is answered from the stored response
    # only while it is the signer's latest claimed request (see `services.identity.claim_signature`).
    access_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # NULL until the first execution has answered; a repeat waits for it.
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_headers: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


# --- fleet: hosts, images, containers ---------------------------------------------------------------


class Host(Base):
    """A machine an agent reports from; local images and containers hang off it."""

    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("project_id", "agent_id", name="uq_host_agent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    agent_id: Mapped[str] = mapped_column(String(128))
    host_id: Mapped[str] = mapped_column(String(128), default="")
    host_name: Mapped[str] = mapped_column(String(256), default="")
    private_ip: Mapped[str] = mapped_column(String(64), default="")
    public_ip: Mapped[str] = mapped_column(String(64), default="")
    os_type: Mapped[str] = mapped_column(String(32), default="Linux")
    version: Mapped[str] = mapped_column(String(64), default="")
    agent_status: Mapped[str] = mapped_column(String(16), default="online")
    docker_type: Mapped[str] = mapped_column(String(32), default="")
    docker_name: Mapped[str] = mapped_column(String(128), default="")
    cluster_id: Mapped[str] = mapped_column(String(128), default="")
    cluster_name: Mapped[str] = mapped_column(String(256), default="")
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Image(Base):
    """One image as HSS lists it: a local image (possibly on many hosts), a registry or a CI/CD image.

    Counters and the severity level are denormalised summaries, refreshed whenever findings change,
    so list endpoints never aggregate findings at request time.
    """

    __tablename__ = "images"
    __table_args__ = (
        # A registry or CI/CD image is one row per image id in its registry / pipeline; a local image
        # is one row per image id and tag (migration 0018, services/image_tags.py).
        Index(
            "uq_image",
            "project_id",
            "image_type",
            "registry_name",
            "image_id",
            unique=True,
            postgresql_where=text("image_type <> 'local'"),
            sqlite_where=text("image_type <> 'local'"),
        ),
        Index(
            "uq_image_local_tag",
            "project_id",
            "image_id",
            "image_name",
            "image_version",
            unique=True,
            postgresql_where=text("image_type = 'local'"),
            sqlite_where=text("image_type = 'local'"),
        ),
        Index("ix_images_project_type_name", "project_id", "image_type", "image_name", "image_version"),
        # ListVulAffectImages' image_id filter starts from the image (migration 0019).
        Index("ix_images_project_image_id", "project_id", "image_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    image_type: Mapped[str] = mapped_column(String(16))
    image_id: Mapped[str] = mapped_column(String(256))
    image_digest: Mapped[str] = mapped_column(String(256), default="")
    image_name: Mapped[str] = mapped_column(String(512))
    image_version: Mapped[str] = mapped_column(String(256), default="")
    local_image_type: Mapped[str] = mapped_column(String(32), default="other_image")
    registry_name: Mapped[str] = mapped_column(String(256), default="")
    registry_type: Mapped[str] = mapped_column(String(32), default="")
    organization: Mapped[str] = mapped_column(String(256), default="")
    cluster_id: Mapped[str] = mapped_column(String(128), default="")
    cluster_name: Mapped[str] = mapped_column(String(256), default="")
    agent_id: Mapped[str] = mapped_column(String(128), default="")
    image_size: Mapped[int] = mapped_column(BigInteger, default=0)
    is_multi_arch: Mapped[bool] = mapped_column(Boolean, default=False)
    latest_update_time: Mapped[int] = mapped_column(BigInteger, default=0)
    scan_status: Mapped[str] = mapped_column(String(32), default="unscan")
    scan_failed_desc: Mapped[str] = mapped_column(Text, default="")
    first_scan_time: Mapped[int] = mapped_column(BigInteger, default=0)
    latest_scan_time: Mapped[int] = mapped_column(BigInteger, default=0)
    vul_num: Mapped[int] = mapped_column(Integer, default=0)
    unsafe_setting_num: Mapped[int] = mapped_column(Integer, default=0)
    malicious_file_num: Mapped[int] = mapped_column(Integer, default=0)
    component_num: Mapped[int] = mapped_column(Integer, default=0)
    host_num: Mapped[int] = mapped_column(Integer, default=0)
    container_num: Mapped[int] = mapped_column(Integer, default=0)
    severity_level: Mapped[str] = mapped_column(String(16), default="Security")
    #: Where a worker can read the image: a skopeo-style reference (`oci:DIR`, `docker://…`, …);
    #: empty when only the reporting agent can reach it (services/image_sources.py decides).
    source_ref: Mapped[str] = mapped_column(Text, default="")


class ImageHost(Base):
    __tablename__ = "image_hosts"

    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    host_pk: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Container(Base):
    __tablename__ = "containers"
    __table_args__ = (UniqueConstraint("host_pk", "container_id", name="uq_container"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    host_pk: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    image_pk: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"), index=True)
    container_id: Mapped[str] = mapped_column(String(128))
    container_name: Mapped[str] = mapped_column(String(256), default="")
    pod_id: Mapped[str] = mapped_column(String(128), default="")
    pod_name: Mapped[str] = mapped_column(String(256), default="")
    namespace: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(32), default="running")
    entry_point: Mapped[str] = mapped_column(Text, default="")


class ImageVulnerability(Base):
    """One vulnerability finding in one package of one image (the per-image list)."""

    __tablename__ = "image_vulnerabilities"
    __table_args__ = (
        UniqueConstraint("image_pk", "vul_id", "app_name", "app_path", "app_version", name="uq_image_vul"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    vul_id: Mapped[str] = mapped_column(String(256))
    vul_type: Mapped[str] = mapped_column(String(16))
    repair_necessity: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(Integer, default=0)
    cvss_score: Mapped[float | None] = mapped_column(nullable=True)
    app_name: Mapped[str] = mapped_column(String(256))
    app_version: Mapped[str] = mapped_column(String(256), default="")
    app_path: Mapped[str] = mapped_column(String(1024), default="")
    app_type: Mapped[str] = mapped_column(String(32), default="")
    fixed_version: Mapped[str] = mapped_column(String(256), default="")
    layer_digest: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="vul_status_unfix")
    first_found_time: Mapped[int] = mapped_column(BigInteger, default=0)
    # Enrichment (migration 0012): who rated the severity (`none`: nobody), EPSS, CISA KEV.
    severity_source: Mapped[str] = mapped_column(String(64), default="", server_default="")
    epss: Mapped[float | None] = mapped_column(nullable=True)
    epss_percentile: Mapped[float | None] = mapped_column(nullable=True)
    epss_date: Mapped[str] = mapped_column(String(16), default="", server_default="")
    kev_date_added: Mapped[str] = mapped_column(String(16), default="", server_default="")
    kev_due_date: Mapped[str] = mapped_column(String(16), default="", server_default="")


#: The `vul_image_index` columns the ListVulAffectImages filters test besides its key, all covered by
#: `ix_vul_image_page` on PostgreSQL. The image attributes among them are trigger-kept copies.
FILTER_COLUMNS = (
    "repair_necessity",
    "status",
    "image_id",
    "image_name",
    "registry_name",
    "registry_type",
    "cluster_id",
)


class VulImageIndex(Base):
    """Inverted index vulnerability → image: one row per (image, vul_id, type).

    "Which images are hit by CVE-X" is answered from here with an index range scan, never by scanning
    findings. Maintained at scan and re-match time together with `image_vulnerabilities`.
    """

    __tablename__ = "vul_image_index"
    __table_args__ = (
        UniqueConstraint("project_id", "vul_id", "vul_type", "image_pk", name="uq_vul_image"),
        # image_pk before enterprise_project_id: pages come in image order for any set of enterprise
        # projects, and count/offset walk the index alone (migration 0008). On PostgreSQL the filter
        # columns ride along (INCLUDE, migration 0019), so every documented filter of
        # ListVulAffectImages is an index-only walk of the key's range, counted exactly from it.
        Index(
            "ix_vul_image_page",
            "project_id",
            "vul_id",
            "vul_type",
            "image_type",
            "handled",
            "image_pk",
            "enterprise_project_id",
            postgresql_include=list(FILTER_COLUMNS),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    vul_id: Mapped[str] = mapped_column(String(256))
    vul_type: Mapped[str] = mapped_column(String(16))
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    image_type: Mapped[str] = mapped_column(String(16))
    repair_necessity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="vul_status_unfix")
    handled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Copies of the image's filterable attributes (migration 0019), written by database triggers only:
    # on insert of an index row from its image, and on every change of them on `images`. Filters of
    # ListVulAffectImages then never join `images` to decide membership or count.
    image_id: Mapped[str] = mapped_column(String(256), default="", server_default="")
    image_name: Mapped[str] = mapped_column(String(512), default="", server_default="")
    registry_name: Mapped[str] = mapped_column(String(256), default="", server_default="")
    registry_type: Mapped[str] = mapped_column(String(32), default="", server_default="")
    cluster_id: Mapped[str] = mapped_column(String(128), default="", server_default="")


class VulIndexCount(Base):
    """Signed row counts of `vul_image_index` per (project, enterprise project, vul, type, image type,
    handled), written by database triggers (migration 0008) so "how many images does CVE-X hit" is a
    sum over a handful of rows instead of a count over an index range.

    Triggers only append (`n` = +k / -k per statement in PostgreSQL, per row in SQLite): no shared
    counter row is locked, so concurrent scans never wait on or deadlock over a popular CVE. Readers
    fold a key's rows into one when they find many (`services.vulnerabilities`).
    """

    __tablename__ = "vul_index_counts"
    __table_args__ = (
        Index(
            "ix_vul_index_counts_key",
            "project_id",
            "vul_id",
            "vul_type",
            "image_type",
            "handled",
            "enterprise_project_id",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    enterprise_project_id: Mapped[str] = mapped_column(String(64))
    vul_id: Mapped[str] = mapped_column(String(256))
    vul_type: Mapped[str] = mapped_column(String(16))
    image_type: Mapped[str] = mapped_column(String(16))
    handled: Mapped[bool] = mapped_column(Boolean)
    n: Mapped[int] = mapped_column(BigInteger)


# --- per-image scan results ---------------------------------------------------------------------------


class ImageApp(Base):
    """One installed package ("app" in HSS) of one image; `vul_num` is kept by `record_scan`."""

    __tablename__ = "image_apps"
    __table_args__ = (Index("ix_image_apps_image_name", "image_pk", "app_name"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    app_name: Mapped[str] = mapped_column(String(256))
    app_version: Mapped[str] = mapped_column(String(256), default="")
    app_type: Mapped[str] = mapped_column(String(32), default="")
    app_path: Mapped[str] = mapped_column(String(1024), default="")
    layer_digest: Mapped[str] = mapped_column(String(128), default="")
    licenses: Mapped[str] = mapped_column(Text, default="")
    vul_num: Mapped[int] = mapped_column(Integer, default=0)


class ImageFile(Base):
    """A file worth listing (executable, setuid/setgid, world-writable) in one image."""

    __tablename__ = "image_files"
    __table_args__ = (Index("ix_image_files_image", "image_pk", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    file_path: Mapped[str] = mapped_column(String(4096))
    file_name: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    mode: Mapped[int] = mapped_column(Integer, default=0)
    file_type: Mapped[str] = mapped_column(String(32), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    layer_digest: Mapped[str] = mapped_column(String(128), default="")


class ImageFinding(Base):
    """A non-CVE finding of one image: malware, sensitive info, baseline, build-command risk, licence breach.

    `evidence` is already masked by the analyzer; `handle_status` is the user's verdict on sensitive
    info (unhandled / ignored / ...), kept across rescans by `record_scan` when the same finding recurs.
    """

    __tablename__ = "image_findings"
    __table_args__ = (
        Index("ix_image_findings_image_kind", "image_pk", "kind"),
        Index("ix_image_findings_project_kind_rule", "project_id", "kind", "rule_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(256))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(1024), default="")
    path: Mapped[str] = mapped_column(String(4096), default="")
    layer_digest: Mapped[str] = mapped_column(String(128), default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    evidence: Mapped[str] = mapped_column(Text, default="")
    remediation: Mapped[str] = mapped_column(Text, default="")
    handle_status: Mapped[str] = mapped_column(String(32), default="unhandled")
    found_time: Mapped[int] = mapped_column(BigInteger, default=0)


class ImageVulOperation(Base):
    """History of vulnerability handling (ignore / not_ignore / manual_repair / add_to_whitelist)."""

    __tablename__ = "image_vul_operations"
    __table_args__ = (
        Index("ix_image_vul_ops_project_time", "project_id", "operate_time"),
        Index("ix_image_vul_ops_vul", "project_id", "vul_id", "operate_time"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    operate_type: Mapped[str] = mapped_column(String(32))
    vul_id: Mapped[str] = mapped_column(String(256))
    vul_type: Mapped[str] = mapped_column(String(16))
    image_pk: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"), nullable=True)
    image_id: Mapped[str] = mapped_column(String(256), default="")
    user_name: Mapped[str] = mapped_column(String(64), default="")
    remark: Mapped[str] = mapped_column(String(512), default="")
    operate_time: Mapped[int] = mapped_column(BigInteger)
    # What the handle-history read shows, copied at handling time so it survives image deletion.
    image_type: Mapped[str] = mapped_column(String(16), default="")
    image_name: Mapped[str] = mapped_column(String(512), default="")
    image_version: Mapped[str] = mapped_column(String(256), default="")
    image_digest: Mapped[str] = mapped_column(String(256), default="")
    agent_id: Mapped[str] = mapped_column(String(128), default="")
    app_name: Mapped[str] = mapped_column(String(256), default="")
    app_version: Mapped[str] = mapped_column(String(256), default="")
    app_path: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    #: Set when a whitelist rule made this verdict, so removing the rule reopens exactly its pairs.
    whitelist_id: Mapped[str] = mapped_column(String(64), default="")


class ImageWhitelist(Base):
    """One vulnerability whitelist rule: `vul_id` of `vul_type` is ignored on the images the rule names.

    `rule_type` all_images / specific_image_types (registry flavours in `image_types`, comma-separated)
    / specific_images (`image_info`, the JSON list the caller sent). Applying a rule marks matching
    (image, vul) pairs ignored with an `add_to_whitelist` history entry; removing it reopens the pairs
    whose last verdict came from a whitelist and that no remaining rule covers.
    """

    __tablename__ = "image_whitelists"
    __table_args__ = (
        UniqueConstraint(
            "project_id",
            "enterprise_project_id",
            "global_image_type",
            "vul_type",
            "vul_id",
            name="uq_image_whitelist",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    whitelist_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    global_image_type: Mapped[str] = mapped_column(String(16))
    vul_type: Mapped[str] = mapped_column(String(16))
    vul_id: Mapped[str] = mapped_column(String(256))
    vul_name: Mapped[str] = mapped_column(String(256), default="")
    rule_type: Mapped[str] = mapped_column(String(32))
    image_types: Mapped[str] = mapped_column(String(256), default="")
    image_info: Mapped[str] = mapped_column(Text, default="[]")
    description: Mapped[str] = mapped_column(String(1024), default="")
    create_time: Mapped[int] = mapped_column(BigInteger)


# --- scan tasks and export tasks ---------------------------------------------------------------------


class ScanTask(Base):
    """A manual or batch scan request; `filters` is the JSON of the query that chose its images."""

    __tablename__ = "scan_tasks"
    __table_args__ = (Index("ix_scan_tasks_project_created", "project_id", "create_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    task_name: Mapped[str] = mapped_column(String(256))
    task_type: Mapped[str] = mapped_column(String(16), default="manual")
    image_type: Mapped[str] = mapped_column(String(16))
    scan_scope: Mapped[int] = mapped_column(BigInteger, default=0x7FFFFFFF)
    rate_limit: Mapped[int] = mapped_column(Integer, default=0)
    is_all: Mapped[bool] = mapped_column(Boolean, default=False)
    filters: Mapped[str] = mapped_column(Text, default="{}")
    task_status: Mapped[str] = mapped_column(String(16), default="scanning")
    total_num: Mapped[int] = mapped_column(Integer, default=0)
    success_num: Mapped[int] = mapped_column(Integer, default=0)
    failed_num: Mapped[int] = mapped_column(Integer, default=0)
    create_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Priority lane (`manual` or `bulk`): the queue its jobs are sent to.
    lane: Mapped[str] = mapped_column(String(16), default="manual")
    #: The rate limiter's token bucket (capacity one): the earliest time (ms) the next job may start.
    rate_next_at: Mapped[int] = mapped_column(BigInteger, default=0)


class ScanTaskImage(Base):
    """One image of a scan task, in HSS scan statuses; the executor picks `waiting_for_scan` rows."""

    __tablename__ = "scan_task_images"
    __table_args__ = (
        UniqueConstraint("task_pk", "image_pk", name="uq_scan_task_image"),
        Index("ix_scan_task_images_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task_pk: Mapped[int] = mapped_column(ForeignKey("scan_tasks.id", ondelete="CASCADE"))
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32), default="waiting_for_scan")
    failed_reason: Mapped[str] = mapped_column(Text, default="")
    first_scan_time: Mapped[int] = mapped_column(BigInteger, default=0)
    latest_scan_time: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Who runs the job while `scanning` (a worker's id or `agent:<host pk>`) and until when (ms): a job
    #: whose lease expired belongs to nobody and is started again.
    lease_owner: Mapped[str] = mapped_column(String(160), default="")
    lease_expires: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the job's message was last sent (ms); the sweeper re-sends long-silent waiting jobs.
    dispatched_at: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Set by a stop request while the job runs; the runner ends it at the next layer boundary.
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class ExportTask(Base):
    """An export requested through the API; the export worker writes `file_id`/`file_name` when done."""

    __tablename__ = "export_tasks"
    __table_args__ = (Index("ix_export_tasks_project", "project_id", "create_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_ids: Mapped[str] = mapped_column(Text, default="")
    task_name: Mapped[str] = mapped_column(String(128))
    export_type: Mapped[str] = mapped_column(String(64))
    export_size: Mapped[int] = mapped_column(Integer)
    filters: Mapped[str] = mapped_column(Text, default="{}")
    task_status: Mapped[str] = mapped_column(String(16), default="running")
    record_total_num: Mapped[int] = mapped_column(Integer, default=0)
    file_id: Mapped[str] = mapped_column(String(64), default="")
    file_name: Mapped[str] = mapped_column(String(255), default="")
    failed_reason: Mapped[str] = mapped_column(Text, default="")
    create_time: Mapped[int] = mapped_column(BigInteger)
    #: Who writes the file now and until when (ms), renewed by its heartbeat: a runner that died is
    #: recognised by its lease, so its task fails and stops blocking its type (services/exports.py).
    lease_owner: Mapped[str] = mapped_column(String(128), default="")
    lease_expires: Mapped[int] = mapped_column(BigInteger, default=0)


# --- image registries ----------------------------------------------------------------------------------


class Registry(Base):
    """A customer's image registry (Harbor, JFrog, SWR or any v2 registry) whose images are synced.

    The password is encrypted with the service key (`SecretBox`) and never leaves the service: list
    responses carry no credential field, and the sync/scan code decrypts it only to talk to the registry.
    """

    __tablename__ = "registries"
    __table_args__ = (UniqueConstraint("project_id", "registry_name", name="uq_registry_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registry_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    registry_name: Mapped[str] = mapped_column(String(128))
    registry_type: Mapped[str] = mapped_column(String(32))
    api_version: Mapped[str] = mapped_column(String(8), default="V2")
    protocol: Mapped[str] = mapped_column(String(8), default="https")
    registry_addr: Mapped[str] = mapped_column(String(256))
    registry_username: Mapped[str] = mapped_column(String(128), default="")
    password_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    namespace: Mapped[str] = mapped_column(String(128), default="")
    connect_cluster_id: Mapped[str] = mapped_column(String(64), default="")
    get_scan_image_channel: Mapped[str] = mapped_column(String(16), default="Other")
    #: PEM bundle to verify the registry's TLS certificate (an extension; empty = system CAs).
    ca_cert: Mapped[str] = mapped_column(Text, default="")
    #: Sync only the newest tag of each repository (an extension of the HSS body).
    latest_version_only: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="accessing")
    fail_reason: Mapped[str] = mapped_column(String(64), default="")
    images_num: Mapped[int] = mapped_column(Integer, default=0)
    latest_sync_time: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegistryImage(Base):
    """Where a registry image row came from: its registry, repository and tag, as of the last sync."""

    __tablename__ = "registry_images"
    __table_args__ = (UniqueConstraint("registry_pk", "repository", "tag", name="uq_registry_image_tag"),)

    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    registry_pk: Mapped[int] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"), index=True)
    repository: Mapped[str] = mapped_column(String(512))
    tag: Mapped[str] = mapped_column(String(128))
    latest_version: Mapped[bool] = mapped_column(Boolean, default=False)
    latest_sync_time: Mapped[int] = mapped_column(BigInteger, default=0)


class RegistryImageArch(Base):
    """One platform image of a multi-architecture registry image (an entry of its OCI index or Docker
    manifest list), as of the sync that last saw the tag's digest: HSS's `association_images`."""

    __tablename__ = "registry_image_archs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(128))
    os: Mapped[str] = mapped_column(String(32), default="")
    architecture: Mapped[str] = mapped_column(String(32), default="")
    variant: Mapped[str] = mapped_column(String(32), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)


# --- VEX statements and webhook events (tenant data: project + enterprise project on every row) -------


class VexStatement(Base):
    """One VEX statement: made by a handling action (`source` handle), standing for a whitelist rule
    (whitelist, `whitelist_id`) or imported from a document (import). `products` is the JSON list of
    `[product id, [subcomponent purls]]`. A verdict a statement made is tagged `vex:<statement_id>` in
    the handle history (`image_vul_operations.whitelist_id`), so expiry reopens exactly those pairs."""

    __tablename__ = "vex_statements"
    __table_args__ = (
        Index("ix_vex_statements_project_vul", "project_id", "vul_id"),
        Index("ix_vex_statements_due", "expired", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    statement_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    source: Mapped[str] = mapped_column(String(16))
    vul_id: Mapped[str] = mapped_column(String(256))
    aliases: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(String(64), default="")
    impact_statement: Mapped[str] = mapped_column(Text, default="")
    action_statement: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: Epoch ms after which the statement stops suppressing; 0 = never.
    expires_at: Mapped[int] = mapped_column(BigInteger, default=0)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    products: Mapped[str] = mapped_column(Text, default="[]")
    whitelist_id: Mapped[str] = mapped_column(String(64), default="")
    document_id: Mapped[str] = mapped_column(String(512), default="")


class EventSubscription(Base):
    """A webhook: where a project's events go, which ones (types, minimum severity, KEV only), and the
    HMAC-SHA256 signing secret (encrypted at rest like registry passwords)."""

    __tablename__ = "event_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    name: Mapped[str] = mapped_column(String(128), default="")
    url: Mapped[str] = mapped_column(String(2048))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    #: Comma-separated event types; empty = all.
    event_types: Mapped[str] = mapped_column(String(512), default="")
    #: Only events whose highest severity is at least this ("" = any).
    min_severity: Mapped[str] = mapped_column(String(16), default="")
    kev_only: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class EventOutbox(Base):
    """One event for one subscription, written in the transaction of the change that caused it and
    delivered at least once by whoever holds its lease; `event_id` is the receiver's idempotency key."""

    __tablename__ = "event_outbox"
    __table_args__ = (Index("ix_event_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    subscription_pk: Mapped[int] = mapped_column(
        ForeignKey("event_subscriptions.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    #: pending → delivered | failed (gave up after the configured attempts).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str] = mapped_column(String(128), default="")
    lease_expires: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int] = mapped_column(BigInteger, default=0)
