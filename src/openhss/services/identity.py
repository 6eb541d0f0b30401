"""Users, projects, enterprise projects, access keys and tokens: who a caller is and what it may see.

HSS scopes every call by `project_id` (path) and `enterprise_project_id` (query; "0" is the default,
"all_granted_eps" means every one the caller may see). A caller is granted projects, optionally only
some enterprise projects of them; admins see everything. Everything here runs inside one session so a
rejected request writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import string
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openhss.db.engine import transaction
from openhss.db.models import (
    AccessKey,
    AuthToken,
    EnterpriseProject,
    Project,
    ProjectGrant,
    RequestNonce,
    User,
)
from openhss.domain.enums import Role
from openhss.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthenticated
from openhss.domain.scope import DEFAULT_EP as DEFAULT_EP
from openhss.domain.scope import Scope as Scope
from openhss.services.crypto import SecretBox

ALL_GRANTED_EPS = "all_granted_eps"
_HASHER = PasswordHasher()
_AK_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `grants` maps project id → granted enterprise projects (None = all)."""

    user_id: int
    name: str
    role: Role
    grants: dict[str, frozenset[str] | None] = field(default_factory=dict)
    token_project: str | None = None

    def can(self, needed: Role) -> bool:
        return self.role.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class NewCredentials:
    user: str
    password: str | None
    access_key: str
    secret_key: str | None
    project_id: str


def _now() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def random_password() -> str:
    return secrets.token_urlsafe(18)


def new_access_key() -> tuple[str, str]:
    """Huawei-shaped keys: 20 upper-case alphanumerics for AK, 40 characters for SK."""
    ak = "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))
    sk = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return ak, sk


# --- projects ----------------------------------------------------------------------------------------


def create_project(session: Session, name: str, project_id: str = "", description: str = "") -> Project:
    pid = project_id or uuid.uuid4().hex
    if not pid.isascii() or not all(c.isalnum() or c in "-_" for c in pid) or len(pid) > 64:
        raise InvalidRequest("project id may hold only letters, digits, '-' and '_' (at most 64)")
    if session.get(Project, pid) is not None or session.scalar(select(Project).where(Project.name == name)):
        raise Conflict(f"project {name!r} or id {pid!r} already exists")
    project = Project(id=pid, name=name, description=description)
    session.add(project)
    session.flush()
    session.add(EnterpriseProject(project_id=pid, id=DEFAULT_EP, name="default"))
    session.flush()
    return project


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.created_at, Project.id)))


def create_enterprise_project(session: Session, project_id: str, ep_id: str, name: str) -> EnterpriseProject:
    if session.get(Project, project_id) is None:
        raise NotFound(f"project {project_id} does not exist")
    if ep_id == ALL_GRANTED_EPS or not ep_id:
        raise InvalidRequest(f"{ep_id!r} cannot be an enterprise project id")
    if session.get(EnterpriseProject, (project_id, ep_id)) is not None:
        raise Conflict(f"enterprise project {ep_id} already exists in {project_id}")
    ep = EnterpriseProject(project_id=project_id, id=ep_id, name=name)
    session.add(ep)
    session.flush()
    return ep


# --- users and keys ----------------------------------------------------------------------------------


def create_user(session: Session, name: str, role: Role, password: str | None = None) -> User:
    if not name or len(name) > 64:
        raise InvalidRequest("user name must be 1-64 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, role=role.value, password_hash=hash_password(password) if password else "")
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} does not exist")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def set_password(session: Session, name: str, password: str) -> None:
    get_user(session, name).password_hash = hash_password(password)


def grant(
    session: Session, user_name: str, project_id: str, enterprise_project_id: str | None = None
) -> None:
    user = get_user(session, user_name)
    if session.get(Project, project_id) is None:
        raise NotFound(f"project {project_id} does not exist")
    if (
        enterprise_project_id is not None
        and session.get(EnterpriseProject, (project_id, enterprise_project_id)) is None
    ):
        raise NotFound(f"enterprise project {enterprise_project_id} does not exist in {project_id}")
    session.add(
        ProjectGrant(user_id=user.id, project_id=project_id, enterprise_project_id=enterprise_project_id)
    )
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("grant already exists") from exc


def create_access_key(
    session: Session,
    box: SecretBox,
    user_name: str,
    description: str = "",
    pair: tuple[str, str] | None = None,
) -> tuple[str, str]:
    user = get_user(session, user_name)
    session.flush()
    ak, sk = pair or new_access_key()
    if session.get(AccessKey, ak) is not None:
        raise Conflict("access key already exists")
    session.add(
        AccessKey(access_key=ak, user_id=user.id, secret_encrypted=box.encrypt(sk), description=description)
    )
    session.flush()
    return ak, sk


def list_access_keys(session: Session, user_name: str) -> list[AccessKey]:
    user = get_user(session, user_name)
    return list(
        session.scalars(select(AccessKey).where(AccessKey.user_id == user.id).order_by(AccessKey.created_at))
    )


def delete_access_key(session: Session, access_key: str) -> None:
    if session.execute(delete(AccessKey).where(AccessKey.access_key == access_key)).rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"access key {access_key} does not exist")


def bootstrap(
    session: Session,
    box: SecretBox,
    admin_name: str,
    password: str = "",
    access_key: str = "",
    secret_key: str = "",
    project_id: str = "",
    project_name: str = "default",
) -> NewCredentials | None:
    """First start: an admin, a default project and an AK/SK. Returns what to print once, or None."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    project = create_project(session, project_name, project_id)
    pw = password or random_password()
    create_user(session, admin_name, Role.ADMIN, pw)
    pair = (access_key, secret_key) if access_key and secret_key else None
    ak, sk = create_access_key(session, box, admin_name, "created at first start", pair)
    return NewCredentials(admin_name, None if password else pw, ak, None if pair else sk, project.id)


def service_access_key(
    session: Session, box: SecretBox, user_name: str, project_id: str, description: str
) -> tuple[str, str]:
    """The AK/SK of a built-in operator user granted `project_id`, created on first use.

    For a component of the service that calls its own API (the local agent of `openhss serve`): no
    operator types or stores the key, and since SKs are stored encrypted the process reads it back on
    every start instead of minting a new key each time. The user has no password, so it cannot log in.
    """
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        user = create_user(session, user_name, Role.OPERATOR)
    granted = session.scalar(
        select(ProjectGrant).where(
            ProjectGrant.user_id == user.id,
            ProjectGrant.project_id == project_id,
            ProjectGrant.enterprise_project_id.is_(None),
        )
    )
    if granted is None and Role(user.role) is not Role.ADMIN:
        grant(session, user_name, project_id)
    key = session.scalar(
        select(AccessKey)
        .where(
            AccessKey.user_id == user.id,
            AccessKey.description == description,
            AccessKey.status == "active",
        )
        .order_by(AccessKey.created_at)
    )
    if key is not None:
        return key.access_key, box.decrypt(key.secret_encrypted)
    return create_access_key(session, box, user_name, description)


# --- authentication ----------------------------------------------------------------------------------


def principal_for(session: Session, user: User, token_project: str | None = None) -> Principal:
    if not user.enabled:
        raise Unauthenticated("user is disabled")
    role = Role(user.role)
    grants: dict[str, frozenset[str] | None] = {}
    if role is Role.ADMIN:
        for pid in session.scalars(select(Project.id)):
            grants[pid] = None
    else:
        collected: dict[str, set[str] | None] = {}
        for g in session.scalars(select(ProjectGrant).where(ProjectGrant.user_id == user.id)):
            if g.enterprise_project_id is None:
                collected[g.project_id] = None
            elif g.project_id not in collected or collected[g.project_id] is not None:
                bucket = collected.setdefault(g.project_id, set())
                assert bucket is not None
                bucket.add(g.enterprise_project_id)
        grants = {k: (None if v is None else frozenset(v)) for k, v in collected.items()}
    if token_project is not None:
        grants = {k: v for k, v in grants.items() if k == token_project}
    return Principal(user.id, user.name, role, grants, token_project)


def lookup_access_key(session: Session, box: SecretBox, access_key: str) -> tuple[User, str] | None:
    row = session.get(AccessKey, access_key)
    if row is None or row.status != "active":
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    return user, box.decrypt(row.secret_encrypted)


def touch_access_key(session: Session, access_key: str, every: timedelta = timedelta(minutes=5)) -> None:
    """Record use at most every few minutes, so signed reads do not each cost a write."""
    row = session.get(AccessKey, access_key)
    now = _now()
    if row is not None and (row.last_used_at is None or now - row.last_used_at > every):
        row.last_used_at = now


class TooManyAttempts(Unauthenticated):
    status_code = 429
    error_code = "HSS.0429"


class LoginThrottle:
    """Failed logins per source in a sliding minute, kept in process memory.

    Deliberately not in the database: a rejected request must write nothing. With several API replicas
    each enforces the limit on what it sees, which still bounds guessing to N x limit per minute.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, source: str) -> None:
        with self._lock:
            if len(self._window(source)) >= self.per_minute:
                raise TooManyAttempts("too many failed authentication attempts; retry in a minute")

    def failed(self, source: str) -> None:
        with self._lock:
            self._window(source).append(time.monotonic())
            if len(self._failures) > 10_000:
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def _window(self, source: str) -> deque[float]:
        window = self._failures.setdefault(source, deque())
        horizon = time.monotonic() - 60
        while window and window[0] < horizon:
            window.popleft()
        return window


def authenticate_password(session: Session, name: str, password: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    # Verify against a dummy hash for unknown users so timing does not reveal which names exist.
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("the user name or password is incorrect") from None
    if user is None or not user.password_hash:
        raise Unauthenticated("the user name or password is incorrect")
    return user


def authenticate_key_pair(session: Session, box: SecretBox, access_key: str, secret_key: str) -> User:
    found = lookup_access_key(session, box, access_key)
    if found is None or not secrets.compare_digest(found[1].encode(), secret_key.encode()):
        raise Unauthenticated("the access key or secret key is incorrect")
    return found[0]


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: every process importing the services (each CLI command, `--help`
    included, and every worker) paid an argon2 hash (64 MiB; 1.6 s of `openhss --help` at load 11) for a
    value only a password login for an unknown name reads. The first such login of a process pays for it
    once (one request in a process's life answers slower, then timing is even again)."""
    return _HASHER.hash("openhss-dummy-password")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, ttl_seconds: int, project_id: str | None, methods: str
) -> tuple[str, AuthToken]:
    if project_id is not None:
        principal = principal_for(session, user)
        if project_id not in principal.grants:
            raise Forbidden(f"user {user.name} has no access to project {project_id}")
    token = "MIIT" + secrets.token_urlsafe(48)
    now = _now()
    row = AuthToken(
        token_hash=token_digest(token),
        user_id=user.id,
        project_id=project_id,
        methods=methods,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    session.execute(delete(AuthToken).where(AuthToken.expires_at < now))
    session.flush()
    return token, row


@dataclass(frozen=True, slots=True)
class Login:
    """What a caller proves to be given a token (IAM's `password` or `hw_ak_sk` method), and the
    project the token is to be scoped to, by id or by name (neither: an unscoped token)."""

    method: Literal["password", "hw_ak_sk"]
    name: str  # the user name, or the access key
    secret: str  # the password, or the secret key
    project_id: str | None = None
    project_name: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    row: AuthToken
    user: User
    project: Project | None


def log_in(
    sessions: sessionmaker[Session],
    box: SecretBox,
    throttle: LoginThrottle,
    source: str,
    login: Login,
    ttl_seconds: int,
) -> IssuedToken:
    """Check the credentials and issue a token, in one transaction, under the per-source throttle.

    The one issuing path of `POST /v3/auth/tokens` and the console's login form: the same password
    check, throttle and TTL whichever door a user comes through. Its own transaction, because a failed
    attempt must be counted after everything it touched was rolled back.
    """
    throttle.check(source)
    try:
        with transaction(sessions) as session:
            if login.method == "password":
                user = authenticate_password(session, login.name, login.secret)
            else:
                user = authenticate_key_pair(session, box, login.name, login.secret)
            project_id = login.project_id
            if not project_id and login.project_name:
                found = session.scalar(select(Project.id).where(Project.name == login.project_name))
                if found is None:
                    raise InvalidRequest(f"project {login.project_name!r} does not exist")
                project_id = str(found)
            token, row = issue_token(session, user, ttl_seconds, project_id or None, login.method)
            project = session.get(Project, project_id) if project_id else None
            return IssuedToken(token, row, user, project)
    except Unauthenticated as exc:
        if not isinstance(exc, TooManyAttempts):
            throttle.failed(source)
        raise


def resolve_token(session: Session, token: str) -> Principal:
    row = session.get(AuthToken, token_digest(token))
    if row is None:
        raise Unauthenticated("the token is invalid")
    if row.expires_at <= _now():
        raise Unauthenticated("the token has expired")
    user = session.get(User, row.user_id)
    if user is None:
        raise Unauthenticated("the token is invalid")
    return principal_for(session, user, row.project_id)


def require_token_owner(session: Session, caller: Principal, token: str) -> None:
    """Only a token's owner or an admin may introspect or revoke it (IAM's own rule for
    `X-Subject-Token`): otherwise any read-only user could end another user's session or read who
    holds a token it found in a log."""
    row = session.get(AuthToken, token_digest(token))
    if row is not None and row.user_id != caller.user_id and not caller.can(Role.ADMIN):
        raise Forbidden("only the token's owner or an admin may use X-Subject-Token on this token")


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(AuthToken).where(AuthToken.token_hash == token_digest(token)))


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first execution of a signed request answered; a repeat receives exactly this."""

    status_code: int
    headers: list[tuple[str, str]]
    body: bytes | None  # None: the response was too large to keep


def claim_signature(session: Session, signature: str, expires_at: datetime, access_key: str) -> bool:
    """Make this request the one execution of its signature; False when the repeat is to be answered
    with another execution's response (one in flight, or the stored one).

    Identical signed bytes are one request only while nothing else happened in between: the SDK signs
    to the second and has no nonce, so a client that adds, removes and adds the same rule within one
    second sends the first add's bytes again, and that second add is a new request. The stored answer
    therefore stands for the signature only while it is its signer's latest claimed request; once the
    same access key has claimed another since, a repeat is re-claimed and executes anew. A capture
    replayed before the signer's next request still has no second effect (the case replay protection
    is for: a retry or a copy of the request just made); one replayed after it re-executes, exactly as
    the signer itself could, within the skew window.

    Runs in its own transaction (committed before the request executes), so a concurrent duplicate
    sees the claim; the primary key (first claim) and a compare-and-set on `claimed_at` (re-claim)
    decide races on both databases.
    """
    now = _now()
    session.execute(delete(RequestNonce).where(RequestNonce.expires_at < now))
    row = session.get(RequestNonce, signature)
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    RequestNonce(
                        signature=signature, expires_at=expires_at, access_key=access_key, claimed_at=now
                    )
                )
        except IntegrityError:
            return False
        return True
    if row.status_code is None or row.claimed_at is None or row.access_key is None:
        return False  # still executing (or claimed before signers were kept): answer from it
    since = row.claimed_at
    intervening = session.scalar(
        select(RequestNonce.signature)
        .where(
            RequestNonce.access_key == row.access_key,
            RequestNonce.claimed_at > since,
            RequestNonce.signature != signature,
        )
        .limit(1)
    )
    if intervening is None:
        return False  # an immediate repeat: the stored answer is its answer
    taken = session.execute(
        update(RequestNonce)
        .where(RequestNonce.signature == signature, RequestNonce.claimed_at == since)
        .values(
            claimed_at=now,
            expires_at=expires_at,
            status_code=None,
            response_headers=None,
            response_body=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire(row)
    return int(getattr(taken, "rowcount", 0) or 0) == 1


def store_response(session: Session, signature: str, response: StoredResponse) -> None:
    row = session.get(RequestNonce, signature)
    if row is None:  # purged meanwhile (a request that ran longer than the skew window)
        return
    row.status_code = response.status_code
    row.response_headers = json.dumps(response.headers)
    row.response_body = response.body


def stored_response(session: Session, signature: str) -> StoredResponse | None:
    """The first execution's response, or None while it is still running (or its row has expired)."""
    row = session.get(RequestNonce, signature)
    if row is None or row.status_code is None:
        return None
    pairs = json.loads(row.response_headers or "[]")
    return StoredResponse(row.status_code, [(str(k), str(v)) for k, v in pairs], row.response_body)


# --- authorisation -----------------------------------------------------------------------------------


def authorize(principal: Principal, project_id: str, enterprise_project_id: str | None) -> Scope:
    """Resolve `enterprise_project_id` for one request; another project is a 403, never an empty list."""
    if project_id not in principal.grants:
        raise Forbidden(f"no permission for project {project_id}")
    granted = principal.grants[project_id]
    ep = enterprise_project_id or DEFAULT_EP
    if ep == ALL_GRANTED_EPS:
        return Scope(project_id, granted)
    if granted is not None and ep not in granted:
        raise Forbidden(f"no permission for enterprise project {ep}")
    return Scope(project_id, frozenset({ep}))


def require_role(principal: Principal, needed: Role) -> None:
    if not principal.can(needed):
        raise Forbidden(f"this operation needs the {needed.value} role")
