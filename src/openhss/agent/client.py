"""The agent's side of `/v5/{project_id}/agent/...`: JSON over HTTP, signed with AK/SK like the SDK."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from openhss.domain import signing


class ServerError(RuntimeError):
    """The server refused or failed a request; the message carries its HSS error code and text."""


class ServerClient:
    def __init__(self, server: str, ak: str, sk: str, project_id: str = "", timeout: float = 60.0) -> None:
        self.server = server.rstrip("/")
        self.ak = ak
        self._sk = sk
        self.project_id = project_id
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        url = self.server + path
        if raw is not None:
            data = raw
        else:
            data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.project_id:
            headers["X-Project-Id"] = self.project_id
        # A per-request nonce keeps two identical requests in one second from looking like a replay.
        headers["X-Request-Nonce"] = uuid.uuid4().hex
        headers.update(signing.sign(self.ak, self._sk, method, url, headers, data))
        try:
            resp = self.http.request(method, url, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise ServerError(f"{method} {path}: {exc}") from None
        if resp.status_code >= 400:
            try:
                err = resp.json()
                text = f"{err.get('error_code')}: {err.get('error_msg')}"
            except ValueError:
                text = resp.text[:200]
            raise ServerError(f"{method} {path}: HTTP {resp.status_code} {text}")
        return resp.json() if resp.content else None

    def get_bytes(self, path: str) -> bytes | None:
        """A binary GET; None on 404."""
        url = self.server + path
        headers = {"Content-Type": "application/json", "X-Request-Nonce": uuid.uuid4().hex}
        if self.project_id:
            headers["X-Project-Id"] = self.project_id
        headers.update(signing.sign(self.ak, self._sk, "GET", url, headers, b""))
        try:
            resp = self.http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ServerError(f"GET {path}: {exc}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise ServerError(f"GET {path}: HTTP {resp.status_code}")
        return resp.content

    def resolve_project(self) -> str:
        """The only project the key may see, when none was given."""
        if self.project_id:
            return self.project_id
        projects = self.request("GET", "/v3/projects").get("projects", [])
        if len(projects) != 1:
            raise ServerError(f"the access key sees {len(projects)} projects; choose one with --project-id")
        self.project_id = str(projects[0]["id"])
        return self.project_id

    def agent(self, method: str, action: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        return self.request(method, f"/v5/{self.resolve_project()}/agent/{action}", body, raw=raw)
