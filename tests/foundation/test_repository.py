"""Identity, tenancy and migrations against both databases (SQLite file and the real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from openhss.db import migrate
from openhss.db.engine import transaction
from openhss.db.models import AccessKey, AuthToken, Base
from openhss.domain.enums import Role
from openhss.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated
from openhss.services import identity
from openhss.services.runtime import Runtime
from tests.support.service import ADMIN_SK, PROJECT


def test_migrations_match_models_and_round_trip(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert migrate.current_revision(runtime.engine) == migrate.head_revision()
    migrate.downgrade(runtime.engine, "base")
    assert migrate.current_revision(runtime.engine) is None
    migrate.upgrade(runtime.engine)
    assert migrate.current_revision(runtime.engine) == migrate.head_revision()


def test_bootstrap_happens_once(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as s:
        assert identity.bootstrap(s, runtime.box, "someone-else") is None
        assert [u.name for u in identity.list_users(s)] == ["admin"]
        assert [p.id for p in identity.list_projects(s)] == [PROJECT]


def test_secret_keys_are_encrypted_at_rest(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as s:
        row = s.scalars(select(AccessKey)).one()
        assert ADMIN_SK.encode() not in row.secret_encrypted
        found = identity.lookup_access_key(s, runtime.box, row.access_key)
        assert found is not None and found[1] == ADMIN_SK


def test_grants_and_enterprise_project_scoping(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as s:
        identity.create_project(s, "second", "proj-b")
        identity.create_enterprise_project(s, PROJECT, "ep-1", "team one")
        identity.create_enterprise_project(s, PROJECT, "ep-2", "team two")
        identity.create_user(s, "alice", Role.READ_ONLY, "pw-alice-1")
        identity.grant(s, "alice", PROJECT, "ep-1")
        identity.grant(s, "alice", PROJECT, "0")
        user = identity.get_user(s, "alice")
        p = identity.principal_for(s, user)
    assert p.grants == {PROJECT: frozenset({"ep-1", "0"})}
    assert identity.authorize(p, PROJECT, None).enterprise_project_ids == frozenset({"0"})
    assert identity.authorize(p, PROJECT, "all_granted_eps").enterprise_project_ids == frozenset(
        {"ep-1", "0"}
    )
    with pytest.raises(Forbidden):
        identity.authorize(p, PROJECT, "ep-2")
    with pytest.raises(Forbidden):
        identity.authorize(p, "proj-b", None)
    with pytest.raises(Forbidden):
        identity.require_role(p, Role.OPERATOR)
    with transaction(runtime.sessions) as s:
        admin = identity.principal_for(s, identity.get_user(s, "admin"))
    assert identity.authorize(admin, "proj-b", "all_granted_eps").enterprise_project_ids is None


def test_duplicates_and_unknowns_are_typed_errors(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as s:
        with pytest.raises(Conflict):
            identity.create_user(s, "admin", Role.ADMIN, "x")
        with pytest.raises(NotFound):
            identity.grant(s, "nobody", PROJECT)
        with pytest.raises(NotFound):
            identity.delete_access_key(s, "NOPE")


def test_tokens_expire_and_are_stored_hashed(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as s:
        user = identity.authenticate_password(s, "admin", "admin-pass-for-tests")
        token, row = identity.issue_token(s, user, 3600, PROJECT, "password")
        assert s.get(AuthToken, token) is None and row.token_hash == identity.token_digest(token)
        principal = identity.resolve_token(s, token)
        assert principal.name == "admin" and set(principal.grants) == {PROJECT}
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(runtime.sessions) as s, pytest.raises(Unauthenticated, match="expired"):
        identity.resolve_token(s, token)
    with transaction(runtime.sessions) as s, pytest.raises(Unauthenticated):
        identity.authenticate_password(s, "admin", "wrong")


def test_a_signature_is_claimed_once_and_its_response_kept(runtime: Runtime) -> None:
    later = datetime.now(UTC) + timedelta(minutes=15)
    with transaction(runtime.sessions) as s:
        assert identity.claim_signature(s, "a" * 64, later, "AK1")
    with transaction(runtime.sessions) as s:
        assert not identity.claim_signature(s, "a" * 64, later, "AK1")
        assert identity.stored_response(s, "a" * 64) is None  # still executing
    answer = identity.StoredResponse(200, [("content-type", "application/json")], b"{}")
    with transaction(runtime.sessions) as s:
        identity.store_response(s, "a" * 64, answer)
    with transaction(runtime.sessions) as s:
        assert identity.stored_response(s, "a" * 64) == answer
