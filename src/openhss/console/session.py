"""Console login: the API's own token, carried in a cookie the page's scripts cannot read.

Logging in issues a token through the same code as `POST /v3/auth/tokens` (same password check, same
throttle, same TTL); the console keeps it in an HttpOnly, SameSite=Strict cookie and resolves it on
every request exactly as the API resolves `X-Auth-Token`. Scope and role checks are the API's
(`identity.authorize`, `identity.require_role`), so the console can never show or do more than the
same user could through the API.

State-changing forms also carry a CSRF token derived from the session token (HMAC), so a request is
honoured only from a page this session rendered, even in a browser that ignores SameSite.

The login form has no session yet, so it is protected by a pre-session token instead (double submit):
rendering the form sets a random HttpOnly, SameSite=Strict cookie and puts the same value in a hidden
field; a login is honoured only when both arrive and match. A cross-site page can neither read the
cookie nor make the browser send it, so it cannot log a victim into the attacker's account (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from openhss.api.deps import AppContext, forget_token, get_context
from openhss.db.engine import transaction
from openhss.db.models import Project
from openhss.db.tenancy import bind_scope
from openhss.domain.enums import Role
from openhss.domain.errors import Forbidden, Unauthenticated
from openhss.services import identity
from openhss.services.identity import Principal, Scope

COOKIE = "openhss_console"
LOGIN_COOKIE = "openhss_console_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-Console-CSRF"


class LoginRequired(Exception):
    """No valid session: the console answers with a redirect to the login page."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    principal: Principal
    scope: Scope
    token: str
    #: The project's name (the id is for machines; the header shows this).
    project_name: str = ""

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)

    @property
    def can_operate(self) -> bool:
        return self.principal.can(Role.OPERATOR)

    def require_operator(self) -> None:
        identity.require_role(self.principal, Role.OPERATOR)


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"openhss-console-csrf", hashlib.sha256).hexdigest()


def login_nonce(request: Request) -> str:
    """The pre-session token for the login form: the browser's current one, or a fresh one."""
    current = request.cookies.get(LOGIN_COOKIE, "")
    return current if len(current) == 43 else secrets.token_urlsafe(32)


def require_login_csrf(request: Request, sent: str) -> None:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise Forbidden("the login form has expired or did not come from this console; reload the page")


def login(ctx: AppContext, username: str, password: str, source: str) -> str:
    """Issue a token exactly as `POST /v3/auth/tokens` with the password method does (the same
    service call: password check, throttle and TTL)."""
    login = identity.Login("password", username, password)
    limits = ctx.settings.limits
    return identity.log_in(ctx.sessions, ctx.box, ctx.throttle, source, login, limits.token_ttl_seconds).token


def logout(ctx: AppContext, token: str) -> None:
    with transaction(ctx.sessions) as session:
        identity.revoke_token(session, token)
    forget_token(token)


def _project_for(principal: Principal) -> str:
    """The token's project when it was scoped to one, else the first project the user may see."""
    if principal.token_project:
        return principal.token_project
    if not principal.grants:
        raise Forbidden(f"user {principal.name} has no project")
    return sorted(principal.grants)[0]


def _resolve(ctx: AppContext, token: str) -> ConsoleUser:
    with transaction(ctx.sessions) as session:
        principal = identity.resolve_token(session, token)
        scope = identity.authorize(principal, _project_for(principal), identity.ALL_GRANTED_EPS)
        project = session.get(Project, scope.project_id)
    return ConsoleUser(principal, scope, token, project.name if project else "")


async def console_user(request: Request, ctx: Annotated[AppContext, Depends(get_context)]) -> ConsoleUser:
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise LoginRequired
    try:
        user = await run_in_threadpool(_resolve, ctx, token)
    except Unauthenticated as exc:
        raise LoginRequired from exc
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent:
            form = await request.form()
            value = form.get(CSRF_FIELD, "")
            sent = value if isinstance(value, str) else ""
        if not hmac.compare_digest(sent, user.csrf):
            raise Forbidden("the form has expired or did not come from this console; reload the page")
    bind_scope(user.scope)  # every session this request opens filters tenant data by it
    return user


User = Annotated[ConsoleUser, Depends(console_user)]
