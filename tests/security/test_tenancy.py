"""The tenant-scope mechanism itself (`db.tenancy`), on SQLite and PostgreSQL.

A statement on tenant data that bypasses the mechanism must fail, every model with a `project_id` must
be covered, and the filter must reach every place a tenant table can appear in a statement.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from openhss.db.engine import make_engine, make_session_factory
from openhss.db.models import Base, Host, Image, ImageHost, Project
from openhss.db.tenancy import (
    IDENTITY_TABLES,
    UnscopedQuery,
    bind_scope,
    guard_tenants,
    scoped,
    tenant_models,
    unscoped,
    unscoped_block,
)
from openhss.domain.errors import InvalidRequest
from openhss.domain.scope import Scope
from tests.support.pg import temp_database

A1 = Scope("A", frozenset({"1"}))
A_ALL = Scope("A", None)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('tenancy')}/t.db")
        _seed(eng)
        yield eng
        eng.dispose()
        return
    with temp_database() as url:
        eng = make_engine(url)
        _seed(eng)
        yield eng
        eng.dispose()


def _seed(eng: Engine) -> None:
    """Two projects × two EPs, one image and one host each, the host running its image."""
    Base.metadata.create_all(eng)
    with make_session_factory(eng)() as s:
        s.add_all([Project(id="A", name="a"), Project(id="B", name="b")])
        s.flush()
        for p in "AB":
            for ep in "01":
                img = Image(
                    project_id=p,
                    enterprise_project_id=ep,
                    image_type="local",
                    image_id=p + ep,
                    image_name="n",
                )
                host = Host(project_id=p, enterprise_project_id=ep, agent_id=p + ep)
                s.add_all([img, host])
                s.flush()
                s.add(ImageHost(image_pk=img.id, host_pk=host.id))
        s.commit()


@pytest.fixture
def system(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as s:
        yield s
        s.rollback()


@pytest.fixture
def guarded(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield guard_tenants(make_session_factory(engine))


def test_every_model_with_a_project_id_is_a_tenant_model_or_named_identity() -> None:
    with_project = {t.name for t in Base.metadata.sorted_tables if "project_id" in t.c}
    assert {t.table for t in tenant_models()} == with_project - IDENTITY_TABLES
    # the identity exceptions are real tables, so a rename cannot silently un-guard one
    assert with_project >= IDENTITY_TABLES
    assert {"images", "hosts", "registries", "scan_tasks", "export_tasks"} <= {
        t.table for t in tenant_models()
    }


def test_scoped_filters_project_and_enterprise_project(system: Session) -> None:
    assert system.scalars(scoped(select(Image.image_id), A1)).all() == ["A1"]
    assert sorted(system.scalars(scoped(select(Image.image_id), A_ALL))) == ["A0", "A1"]


def test_scoped_reaches_joins_aliases_and_sub_selects(system: Session) -> None:
    joined = select(Image.image_id, Host.agent_id).join(ImageHost, ImageHost.image_pk == Image.id)
    joined = joined.join(Host, Host.id == ImageHost.host_pk)
    assert system.execute(scoped(joined, A1)).all() == [("A1", "A1")]
    other = aliased(Image)
    assert system.scalars(scoped(select(other.image_id), A1)).all() == ["A1"]
    # a correlated EXISTS on another tenant table is filtered too: B's hosts do not count for A
    any_host = exists(select(Host.id).where(Host.agent_id.in_(["B0", "B1", "A1"])))
    assert system.scalars(scoped(select(Project.id).where(any_host), A1)).all() == ["A", "B"]
    only_b = exists(select(Host.id).where(Host.agent_id.in_(["B0", "B1"])))
    assert system.scalars(scoped(select(Project.id).where(only_b), A1)).all() == []
    # wrapping a scoped statement (the list endpoints' count) keeps its filter
    inner = scoped(select(Image), A1).subquery()
    assert system.scalar(select(func.count()).select_from(inner)) == 1


def test_scoped_writes_touch_only_the_scope(system: Session) -> None:
    assert system.execute(scoped(update(Image).values(image_name="x"), A1)).rowcount == 1  # type: ignore[attr-defined]
    assert system.execute(scoped(delete(Host), A_ALL)).rowcount == 2  # type: ignore[attr-defined]
    left = system.scalars(select(Host.agent_id).order_by(Host.agent_id)).all()
    assert left == ["B0", "B1"]


@pytest.mark.parametrize(
    "stmt",
    [
        select(Image),
        select(Image.id).join(Host, Host.project_id == Image.project_id),
        select(func.count()).select_from(select(Host).subquery()),
        select(Project).where(exists(select(Image.id))),
        update(Host).values(host_name="x"),
        delete(Image),
    ],
    ids=["select", "join", "subquery", "exists", "update", "delete"],
)
def test_a_guarded_session_refuses_tenant_statements_without_a_scope(
    guarded: sessionmaker[Session], stmt: object
) -> None:
    with guarded() as s, pytest.raises(UnscopedQuery, match="no tenant scope"):
        s.execute(stmt)  # type: ignore[call-overload]


def test_a_guarded_session_refuses_get_by_primary_key_without_a_scope(guarded: sessionmaker[Session]) -> None:
    with guarded() as s, pytest.raises(UnscopedQuery):
        s.get(Image, 1)


def test_a_guarded_session_lets_identity_tables_through(guarded: sessionmaker[Session]) -> None:
    with guarded() as s:
        assert sorted(s.scalars(select(Project.id))) == ["A", "B"]


def test_a_bound_scope_filters_every_statement_of_a_guarded_session(
    guarded: sessionmaker[Session],
) -> None:
    def in_request() -> tuple[list[str], int, int | None]:
        bind_scope(A1)
        with guarded() as s:
            names = list(s.scalars(select(Image.image_id).order_by(Image.image_id)))
            total = s.scalar(select(func.count()).select_from(select(Host).subquery())) or 0
            b_image = s.scalar(unscoped(select(Image.id).where(Image.image_id == "B0"), "test lookup"))
            seen = s.get(Image, b_image)
            return names, total, None if seen is None else seen.id

    names, total, seen = contextvars.copy_context().run(in_request)
    assert names == ["A1"]
    assert total == 1
    assert seen is None  # B's image by primary key is not found under A's scope


def test_unscoped_escapes_are_explicit(guarded: sessionmaker[Session]) -> None:
    with guarded() as s:
        assert len(s.scalars(unscoped(select(Image), "test: every row")).all()) == 4
        with unscoped_block(s, "test: system bookkeeping"):
            assert len(s.scalars(select(Host)).all()) == 4
        with pytest.raises(UnscopedQuery):
            s.scalars(select(Host)).all()
    with pytest.raises(ValueError, match="reason"):
        unscoped(select(Image), " ")


def test_a_new_object_needs_one_enterprise_project() -> None:
    assert A1.creation_ep() == "1"
    with pytest.raises(InvalidRequest, match="all_granted_eps"):
        A_ALL.creation_ep()
    with pytest.raises(InvalidRequest):
        Scope("A", frozenset({"0", "1"})).creation_ep()
