"""The tenant scope of one request: the value every read and write of tenant data is filtered by.

It lives in `domain/` because both `db.tenancy` (which turns it into SQL filters) and `services/` (which
resolves it from the caller's grants in `services.identity.authorize`) need it, and `db/` may not import
`services/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from openhss.domain.errors import InvalidRequest

#: The default enterprise project of every project.
DEFAULT_EP = "0"


@dataclass(frozen=True, slots=True)
class Scope:
    """What one request may touch: a project and the enterprise projects (None = all of them).

    `all_granted_eps` resolves to the set of granted EPs (or None for an unrestricted grant): good for
    reading and for operating on existing objects, which keep their EP. A *new* object needs exactly
    one EP, so creating one under `all_granted_eps` is refused (`creation_ep`) instead of being filed
    silently under EP "0", where its maker might not see it and others would.
    """

    project_id: str
    enterprise_project_ids: frozenset[str] | None

    def allows(self, ep: str) -> bool:
        return self.enterprise_project_ids is None or ep in self.enterprise_project_ids

    def creation_ep(self) -> str:
        """The one EP a new object of this request is filed under; 400 when the scope names several."""
        eps = self.enterprise_project_ids
        if eps is not None and len(eps) == 1:
            return next(iter(eps))
        raise InvalidRequest(
            "creating an object needs one enterprise_project_id, not all_granted_eps: "
            "name the enterprise project it belongs to"
        )
