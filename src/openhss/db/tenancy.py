"""Tenant isolation by construction: one way to scope tenant data, and sessions that refuse any other.

Tenant models are every mapped class with a `project_id` column (partitioned by enterprise project too
when it has `enterprise_project_id`), found from the mappers: a new model is guarded the moment it has a
`project_id`, with nothing to register. The identity tables read *before* a scope exists (grants,
tokens, enterprise projects) are the explicit exceptions in `IDENTITY_TABLES`.

Two halves, one filter:

- `scoped(stmt, scope)` attaches `project_id = scope.project_id` (and `enterprise_project_id IN
  scope.enterprise_project_ids` where the table has one) to *every* occurrence of every tenant model in
  the statement: FROM list, joins, aliases, EXISTS and IN sub-selects (SQLAlchemy's
  `with_loader_criteria`). Service code builds its tenant queries with it, in any session.
- `guard_tenants(factory)` makes a session factory's sessions apply the same filter to every SELECT,
  UPDATE and DELETE they run, with the scope bound to the request (`bind_scope`, a context variable set
  by the API's scope dependency and by the console); a statement on a tenant table with no scope bound
  is refused with `UnscopedQuery`. The API and console serve callers and use a guarded factory; worker
  and CLI sessions are system sessions (no caller).
- `unscoped(stmt, reason)` / `unscoped_block(session, reason)` are the one, grep-able escape for system
  work inside a request (re-match bookkeeping, rows reached by a primary key that was itself resolved in
  scope). The reason is mandatory.

Limits, by design: INSERTs carry their project and EP from the scope (`Scope.creation_ep`), they are
not filtered; `Session.get` of an object already in the session's identity map returns it without SQL
(every object there was loaded through a scoped statement, or inside an explicit unscoped block).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Delete, Select, Table, Update, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.orm.util import LoaderCriteriaOption
from sqlalchemy.sql import visitors
from sqlalchemy.sql.selectable import Alias, FromClause, Join

from openhss.db import scheduling as _scheduling  # noqa: F401  (its tenant models must be mapped)
from openhss.db.models import Base
from openhss.domain.scope import Scope

__all__ = [
    "IDENTITY_TABLES",
    "Scope",
    "TenantModel",
    "UnscopedQuery",
    "bind_scope",
    "bound_scope",
    "guard_tenants",
    "pin_scope",
    "scoped",
    "tenant_models",
    "unscoped",
    "unscoped_block",
]

#: Tables with a `project_id` that are not tenant data: they decide *what* a caller's scope is.
IDENTITY_TABLES = frozenset({"enterprise_projects", "project_grants", "auth_tokens"})

_UNSCOPED = "openhss_unscoped"
_SESSION_UNSCOPED = "openhss_unscoped_reasons"
_SESSION_SCOPE = "openhss_scope"

S = TypeVar("S", bound="Select[*tuple[Any, ...]] | Update | Delete")

_current_scope: ContextVar[Scope | None] = ContextVar("openhss_tenant_scope", default=None)


class UnscopedQuery(RuntimeError):
    """A statement on tenant data with no scope: a programming error, never a client error."""


@dataclass(frozen=True, slots=True)
class TenantModel:
    model: type[Any]
    table: str
    has_ep: bool


_TENANT: tuple[TenantModel, ...] | None = None
_TENANT_MAPPERS = 0


def tenant_models() -> tuple[TenantModel, ...]:
    """Every tenant model, from the mappers (re-read when a module maps more: nothing to register)."""
    global _TENANT, _TENANT_MAPPERS
    if _TENANT is None or len(Base.registry.mappers) != _TENANT_MAPPERS:
        _TENANT_MAPPERS = len(Base.registry.mappers)
        found = []
        for mapper in Base.registry.mappers:
            table = mapper.local_table
            if not isinstance(table, Table) or table.name in IDENTITY_TABLES or "project_id" not in table.c:
                continue
            found.append(TenantModel(mapper.class_, table.name, "enterprise_project_id" in table.c))
        _TENANT = tuple(sorted(found, key=lambda t: t.table))
    return _TENANT


def _tenant_table_names() -> frozenset[str]:
    return frozenset(t.table for t in tenant_models())


def _criteria(scope: Scope) -> list[LoaderCriteriaOption]:
    pid = scope.project_id
    eps = None if scope.enterprise_project_ids is None else tuple(sorted(scope.enterprise_project_ids))
    opts: list[LoaderCriteriaOption] = []
    for tenant in tenant_models():
        if tenant.has_ep and eps is not None:
            opts.append(
                with_loader_criteria(
                    tenant.model,
                    lambda cls: (cls.project_id == pid) & cls.enterprise_project_id.in_(eps),
                    include_aliases=True,
                )
            )
        else:
            opts.append(
                with_loader_criteria(tenant.model, lambda cls: cls.project_id == pid, include_aliases=True)
            )
    return opts


def _from_tenant(from_: FromClause) -> Iterator[tuple[FromClause, TenantModel]]:
    """The tenant tables a top-level FROM element reads, as the selectable the filter must name."""
    by_table = {t.table: t for t in tenant_models()}
    if isinstance(from_, Join):
        yield from _from_tenant(from_.left)
        yield from _from_tenant(from_.right)
    elif isinstance(from_, Table) and from_.name in by_table:
        yield from_, by_table[from_.name]
    elif isinstance(from_, Alias) and isinstance(from_.element, Table) and from_.element.name in by_table:
        yield from_, by_table[from_.element.name]


def scoped(stmt: S, scope: Scope) -> S:
    """`stmt` limited to `scope` wherever it reads or writes a tenant model (sub-selects included).

    The top-level FROM list gets plain WHERE terms, which survive wrapping the statement in another
    (`select(func.count()).select_from(stmt.subquery())`); sub-selects, joins' ON targets and aliases
    get the same terms through loader criteria when the statement itself is executed.
    """
    froms: list[FromClause] = list(stmt.get_final_froms()) if isinstance(stmt, Select) else [stmt.table]
    conds: list[ColumnElement[bool]] = []
    eps = None if scope.enterprise_project_ids is None else sorted(scope.enterprise_project_ids)
    for from_ in froms:
        for selectable, tenant in _from_tenant(from_):
            conds.append(selectable.c.project_id == scope.project_id)
            if tenant.has_ep and eps is not None:
                conds.append(selectable.c.enterprise_project_id.in_(eps))
    out: Any = stmt.where(*conds) if conds else stmt  # where/options keep the statement's own type
    result: S = out.options(*_criteria(scope))
    return result


def unscoped(stmt: S, reason: str) -> S:
    """Mark one statement as deliberately unscoped (system work); `reason` says why it is safe."""
    if not reason.strip():
        raise ValueError("unscoped() needs a reason")
    out: S = stmt.execution_options(**{_UNSCOPED: reason})  # type: ignore[assignment]
    return out


@contextmanager
def unscoped_block(session: Session, reason: str) -> Iterator[Session]:
    """Let system code inside a request run unscoped statements for the extent of the block only."""
    if not reason.strip():
        raise ValueError("unscoped_block() needs a reason")
    reasons: list[str] = session.info.setdefault(_SESSION_UNSCOPED, [])
    reasons.append(reason)
    try:
        yield session
    finally:
        reasons.pop()


def bind_scope(scope: Scope) -> Token[Scope | None]:
    """Bind the scope of the request being served (context-local: one request never sees another's)."""
    return _current_scope.set(scope)


def pin_scope(session: Session, scope: Scope) -> Session:
    """Bind `scope` to this one session: its statements are filtered by it whatever thread or context
    runs them (a request's unit of work is entered, used and committed on different worker threads)."""
    session.info[_SESSION_SCOPE] = scope
    return session


def bound_scope(session: Session | None = None) -> Scope | None:
    if session is not None:
        pinned: Scope | None = session.info.get(_SESSION_SCOPE)
        if pinned is not None:
            return pinned
    return _current_scope.get()


def _touches_tenant(stmt: Any) -> list[str]:
    names: list[str] = []
    tenant = _tenant_table_names()
    for element in visitors.iterate(stmt):
        table = element.element if isinstance(element, Alias) else element
        if isinstance(table, Table) and table.name in tenant and table.name not in names:
            names.append(table.name)
    return names


def _guard(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return  # refreshing an object this session already loaded (through a scoped statement)
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(_UNSCOPED) or state.session.info.get(_SESSION_UNSCOPED):
        return
    scope = bound_scope(state.session)
    if scope is not None:
        state.statement = state.statement.options(*_criteria(scope))
        return
    touched = _touches_tenant(state.statement)
    if touched:
        raise UnscopedQuery(
            f"statement on tenant table(s) {touched} with no tenant scope bound: "
            "serve it under a request scope (db.tenancy.bind_scope), or mark system work "
            "with unscoped(stmt, reason)"
        )


def guard_tenants(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Make every session of `factory` scope tenant statements, refusing them when no scope is bound."""
    event.listen(factory, "do_orm_execute", _guard)
    return factory
