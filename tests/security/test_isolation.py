"""Tenant isolation attacked from inside: two projects × two enterprise projects × three roles.

One live server per database backend. The attacker is the operator (and the read-only user) of
project P, enterprise project "0"; the victims are P/ep2 and both EPs of project Q, each seeded with one
of everything (`tests/support/tenants.py`). Routes come from the app itself (`/openapi.json` and the
console router), so a new route is attacked without editing this file. Every request must answer
without a 5xx and without any victim secret in its body; after every write route the victims' rows
are compared with a snapshot. Explicit families cover what a generic request cannot reach: forged
agent reports and scan results, CI/CD uploads over another EP's build, `all_granted_eps` creations,
the newly-affected list and layer-cache poisoning by a claimed diff_id.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from openhss.console.session import COOKIE, CSRF_HEADER, csrf_for
from openhss.console.views import router as console_router
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTask, ScanTaskImage
from openhss.domain import upload as upload_json
from openhss.domain.enums import Ecosystem, PackageType, Role
from openhss.domain.models import Package
from openhss.domain.report import ImageSummary
from openhss.domain.upload import ScanUpload
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.cache import decode
from openhss.scan.walk import LayerAnalysis
from openhss.services import identity
from openhss.services.layer_cache import DbLayerCache
from tests.support.pg import temp_database
from tests.support.service import PROJECT, Service, running_service
from tests.support.tenants import (
    SECOND_EP,
    SECOND_PROJECT,
    SHARED_VUL,
    Tenant,
    layer_blob,
    leaked,
    seed_run,
    seed_tenant,
    snapshot,
)
from tests.worker.helpers import import_advisories

#: Attacks sent, per (backend, family); printed by the last test of the module.
ATTACKS: Counter[tuple[str, str]] = Counter()


pytestmark = pytest.mark.slow  # one live server per backend, hundreds of requests


@dataclass(frozen=True, slots=True)
class World:
    backend: str
    svc: Service
    tenants: list[Tenant]  # P/0 (the attacker's tenant), P/ep2, Q/0, Q/ep2
    admin_token: str
    multi_token: str  # an operator granted both enterprise projects of P
    http: httpx.Client
    spec: dict[str, Any]

    @property
    def attacker(self) -> Tenant:
        return self.tenants[0]

    @property
    def victims(self) -> list[Tenant]:
        return self.tenants[1:]

    def snapshots(self) -> list[dict[str, Any]]:
        return [snapshot(self.svc.runtime.sessions, v) for v in self.victims]


def _changed(world: World, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """Which victim's which table differs, so a failure names what to look at."""
    return sorted(
        f"{v.name}:{table}"
        for v, b, a in zip(world.victims, before, after, strict=True)
        for table in b
        if b[table] != a[table]
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        url = "" if request.param == "sqlite" else stack.enter_context(temp_database())
        tmp = tmp_path_factory.mktemp(f"isolation-{request.param}")
        svc = stack.enter_context(running_service(tmp, url))
        rt = svc.runtime
        with transaction(rt.sessions) as s:
            identity.create_project(s, "isolation-second", SECOND_PROJECT)
            identity.create_enterprise_project(s, PROJECT, SECOND_EP, "second")
            identity.create_enterprise_project(s, SECOND_PROJECT, SECOND_EP, "second")
        run = seed_run(rt)
        places = [(PROJECT, "0"), (PROJECT, SECOND_EP), (SECOND_PROJECT, "0"), (SECOND_PROJECT, SECOND_EP)]
        tenants = [seed_tenant(rt, f"t{i}", p, ep, run) for i, (p, ep) in enumerate(places)]
        with transaction(rt.sessions) as s:
            admin = identity.get_user(s, rt.settings.admin_username)
            admin_token = identity.issue_token(s, admin, 7200, None, "password")[0]
            multi = identity.create_user(s, "multi-ep-operator", Role.OPERATOR, "pw-" + uuid.uuid4().hex)
            identity.grant(s, multi.name, PROJECT, "0")
            identity.grant(s, multi.name, PROJECT, SECOND_EP)
            multi_token = identity.issue_token(s, multi, 7200, None, "password")[0]
        import_advisories(rt.settings, tmp)  # CI/CD uploads are matched on arrival
        http = stack.enter_context(httpx.Client(base_url=svc.base_url, timeout=60))
        spec = http.get("/openapi.json").json()
        yield World(request.param, svc, tenants, admin_token, multi_token, http, spec)


def _call(
    w: World,
    family: str,
    method: str,
    path: str,
    token: str,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
    raw: bytes | None = None,
) -> httpx.Response:
    ATTACKS[(w.backend, family)] += 1
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
    return w.http.request(method, path, params=params, content=content, headers=headers)


# --- values an attack puts wherever a route takes an id ------------------------------------------------


def _victim_values(v: Tenant, path: str) -> dict[str, Any]:
    """Parameter name → the victim's value; names are the HSS/openhss parameter names."""
    export = "export" in path
    return {
        "image_id": v.registry_image_id if "registr" in path else v.image_id,
        "id": v.registry_id if "registries" in path else v.whitelist_id,
        "task_id": v.export_task_id if export else v.scan_task_id,
        "file_id": v.file_id,
        "job_id": v.job_pk,
        "key": v.layer_key,
        "agent_id": v.agent_id,
        "image_name": v.image_name,
        "image_version": v.image_version,
        "tag_name": v.image_version,
        "registry_name": v.registry_name,
        "registry_id": v.registry_id,
        "registry_id_list": [v.registry_id],
        "cicd_name": v.cicd_name,
        "host_id": v.host_id,
        "container_id": v.container_id,
        "sensitive_info_id": str(v.finding_pk),
        "whitelist_id": v.whitelist_id,
        "vul_id": SHARED_VUL,
        "vul_id_list": [SHARED_VUL],
        "vul_ids": [SHARED_VUL],
        "registry_addr": "127.0.0.1:1",
        "registry_password": "attacker-password",
        "registry_username": "attacker",
    }


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            if options:
                return _resolve(spec, options[0])
    return schema


def _value(
    spec: dict[str, Any], name: str, schema: dict[str, Any], values: dict[str, Any], depth: int = 0
) -> Any:
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if name in values:
        value = values[name]
        if kind == "string" and not isinstance(value, str):
            return str(value)
        if kind == "integer" and isinstance(value, str):
            return int(value) if value.isdigit() else 1
        if kind == "array" and not isinstance(value, list):
            return [value]
        return value
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if kind == "object" or "properties" in schema:
        return _object(spec, schema, values, depth + 1)
    if kind == "array":
        return [_value(spec, name, schema.get("items", {}), values, depth + 1)] if depth < 4 else []
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False  # operate_all/is_all false: the explicit (victim) id lists are used
    return "x" * max(1, int(schema.get("minLength", 1)))


def _object(
    spec: dict[str, Any], schema: dict[str, Any], values: dict[str, Any], depth: int = 0
) -> dict[str, Any]:
    schema = _resolve(spec, schema)
    required = set(schema.get("required", []))
    out: dict[str, Any] = {}
    for prop, sub in schema.get("properties", {}).items():
        resolved = _resolve(spec, sub)
        structural = resolved.get("type") in ("array", "object") or "properties" in resolved
        if prop in required or prop in values or (structural and depth < 4):
            out[prop] = _value(spec, prop, sub, values, depth)
    return out


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    op: dict[str, Any]

    @property
    def family(self) -> str:
        if "/agent/layer-cache" in self.path:
            return "layer-cache"
        if "/agent/" in self.path:
            return "agent-forgery"
        if "/cicd/" in self.path and self.method != "GET":
            return "cicd-forgery"
        return "read" if self.method == "GET" else "write"


def _tenant_routes(spec: dict[str, Any]) -> list[Route]:
    return [
        Route(method.upper(), path, op)
        for path, ops in spec["paths"].items()
        if path.startswith("/v5/{project_id}/")
        for method, op in ops.items()
    ]


def _request(
    w: World, route: Route, project: str, values: dict[str, Any], ep: str | None
) -> tuple[str, dict[str, Any], Any]:
    path = route.path.replace("{project_id}", project)
    params: dict[str, Any] = {}
    for p in route.op.get("parameters", []):
        name, where = p["name"], p["in"]
        if where == "path" and name != "project_id":
            path = path.replace("{" + name + "}", str(_value(w.spec, name, p.get("schema", {}), values)))
        elif where == "query" and name != "enterprise_project_id" and (p.get("required") or name in values):
            params[name] = _value(w.spec, name, p.get("schema", {}), values)
    if ep is not None:
        params["enterprise_project_id"] = ep
    body = None
    content = route.op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = _object(w.spec, content["application/json"].get("schema", {}), values)
    return path, params, body


def _check(w: World, resp: httpx.Response, what: str, failures: list[str], expect: int | None = None) -> None:
    if resp.status_code >= 500:
        failures.append(f"{what}: {resp.status_code} {resp.text[:200]}")
    elif expect is not None and resp.status_code != expect:
        failures.append(f"{what}: expected {expect}, got {resp.status_code} {resp.text[:200]}")
    found = leaked(resp.text, w.victims)
    if found:
        failures.append(f"{what}: {resp.status_code} leaks {found[:3]}")


def test_the_oracle_sees_what_the_admin_may_see(world: World) -> None:
    """Control: the same reads by an admin do show victim secrets, so the leak check can fail."""
    for path in ("image/local-repositories", "image/local/hosts", "image/tasks", "image/registries"):
        params: dict[str, Any] = {"enterprise_project_id": "all_granted_eps", "limit": 200}
        if path == "image/tasks":
            params.update(type="image_scan", global_image_type="local")
        if path == "image/local/hosts":
            params.update(image_id=world.victims[0].image_id)
        resp = _call(world, "control", "GET", f"/v5/{PROJECT}/{path}", world.admin_token, params=params)
        assert resp.status_code == 200, resp.text
        assert leaked(resp.text, [world.victims[0]]), path


def test_every_api_route_keeps_tenants_apart(world: World) -> None:
    """Operator of P/0 against every `/v5/{project_id}/...` route with every victim's ids."""
    failures: list[str] = []
    routes = _tenant_routes(world.spec)
    assert len(routes) >= 50, "the route list comes from the app; it cannot be this short"
    token = world.attacker.operator_token
    for route in routes:
        before = world.snapshots() if route.method != "GET" else None
        for v in world.victims:
            values = _victim_values(v, route.path)
            for ep in (None, "all_granted_eps"):
                path, params, body = _request(world, route, PROJECT, values, ep)
                resp = _call(world, route.family, route.method, path, token, params=params, body=body)
                _check(world, resp, f"{route.method} {route.path} ids of {v.name} ep={ep}", failures)
        # A granted project with an enterprise project that is not granted, and another project: 403.
        for project, ep in ((PROJECT, SECOND_EP), (SECOND_PROJECT, None)):
            values = _victim_values(world.victims[0 if project == PROJECT else 1], route.path)
            path, params, body = _request(world, route, project, values, ep)
            resp = _call(world, route.family, route.method, path, token, params=params, body=body)
            _check(world, resp, f"{route.method} {route.path} in {project}/{ep}", failures, expect=403)
        if before is not None and (after := world.snapshots()) != before:
            failures.append(
                f"{route.method} {route.path} changed a victim's rows: {_changed(world, before, after)}"
            )
    assert not failures, "\n".join(failures)


def test_read_only_users_cannot_write_anything(world: World) -> None:
    """Role escalation: the read-only user of P/0, its own ids, every write route: 403, nothing changes."""
    failures: list[str] = []
    me = world.attacker
    mine = snapshot(world.svc.runtime.sessions, me)
    for route in _tenant_routes(world.spec):
        if route.method == "GET":
            continue
        for ep in (None, "all_granted_eps"):
            path, params, body = _request(world, route, PROJECT, _victim_values(me, route.path), ep)
            resp = _call(
                world, "role-escalation", route.method, path, me.readonly_token, params=params, body=body
            )
            _check(world, resp, f"read-only {route.method} {route.path} ep={ep}", failures, expect=403)
    assert snapshot(world.svc.runtime.sessions, me) == mine
    assert not failures, "\n".join(failures)


def _console_routes() -> list[APIRoute]:
    return [r for r in console_router.routes if isinstance(r, APIRoute) and "{name}" not in r.path]


def test_every_console_route_keeps_tenants_apart(world: World) -> None:
    """The console (scope: every EP the user is granted) with the victims' ids in paths and forms."""
    failures: list[str] = []
    token = world.attacker.operator_token
    routes = _console_routes()
    assert len(routes) >= 15
    for route in routes:
        for method in sorted(route.methods or ()):
            if route.path in ("/login", "/logout"):
                continue
            before = world.snapshots() if method != "GET" else None
            for v in world.victims:
                task = v.export_task_id if route.path.startswith("/exports") else v.scan_task_id
                path = route.path.format(
                    image_pk=v.image_pk, vul_id=SHARED_VUL, task_id=task, registry_id=v.registry_id
                )
                form = {
                    "image_pk": str(v.image_pk),
                    "image_type": "local",
                    "operate_type": "ignore",
                    "image_id": v.image_id,
                    "export_type": "local-vulnerability",
                    "next": "",
                }
                ATTACKS[(world.backend, "console")] += 1
                resp = world.http.request(
                    method,
                    "/console" + path,
                    headers={CSRF_HEADER: csrf_for(token), "Cookie": f"{COOKIE}={token}"},
                    data=form if method == "POST" else None,
                    params={"q": v.image_name, "image_pk": v.image_pk} if method == "GET" else None,
                )
                _check(world, resp, f"console {method} {route.path} ids of {v.name}", failures)
            if before is not None and (after := world.snapshots()) != before:
                failures.append(
                    f"console {method} {route.path} changed a victim's rows: {_changed(world, before, after)}"
                )
    assert not failures, "\n".join(failures)


# --- forged agents --------------------------------------------------------------------------------------


def _agent(w: World, what: str, token: str, ep: str | None = None, **body: Any) -> httpx.Response:
    params = {"enterprise_project_id": ep} if ep else None
    method = "PUT" if what == "inventory" else "POST"
    return _call(w, "agent-forgery", method, f"/v5/{PROJECT}/agent/{what}", token, params=params, body=body)


def test_an_agent_cannot_act_for_another_enterprise_projects_host(world: World) -> None:
    before = world.snapshots()
    me, victim, other_project = world.attacker, world.victims[0], world.victims[1]
    token = me.operator_token
    assert _agent(world, "register", token, agent_id=victim.agent_id, host_name="evil").status_code == 409
    assert _agent(world, "heartbeat", token, agent_id=victim.agent_id).status_code == 404
    assert _agent(world, "inventory", token, agent_id=victim.agent_id).status_code == 404
    assert _agent(world, "jobs/claim", token, agent_id=victim.agent_id, limit=20).status_code == 404

    # Its own agent reports the victims' images with new tags and containers running on them.
    evil = "evil-" + uuid.uuid4().hex[:8]
    assert _agent(world, "register", token, agent_id=evil).status_code == 200
    images = [{"image_id": t.image_id, "repo_tags": ["evil/renamed:6.6"]} for t in (victim, other_project)]
    containers = [{"container_id": "evil-" + t.name, "image_id": t.image_id} for t in (victim, other_project)]
    resp = _agent(world, "inventory", token, agent_id=evil, images=images, containers=containers)
    assert resp.status_code == 200, resp.text
    assert victim.image_id not in resp.json()["new_images"]

    claimed = _agent(world, "jobs/claim", token, agent_id=evil, limit=20)
    assert claimed.status_code == 200
    victim_ids = {t.image_id for t in world.victims}
    assert not victim_ids & {j["image_id"] for j in claimed.json()["jobs"]}

    forged = upload_json.to_json(ScanUpload(image=_summary(victim.image_id)))
    for owner in (evil, victim.agent_id):
        resp = _call(
            world,
            "agent-forgery",
            "POST",
            f"/v5/{PROJECT}/agent/jobs/{victim.job_pk}/result",
            token,
            params={"agent_id": owner},
            raw=forged,
        )
        assert resp.status_code in (200, 404) and not (resp.status_code == 200 and resp.json()["accepted"])
        resp = _agent(world, f"jobs/{victim.job_pk}/failure", token, agent_id=owner, status="failed")
        assert resp.status_code in (200, 404) and not (resp.status_code == 200 and resp.json()["accepted"])
    assert world.snapshots() == before


def _summary(config_digest: str) -> ImageSummary:
    return ImageSummary(
        ref="docker.io/team/app:1",
        transport="oci-archive",
        digest="sha256:" + "e" * 64,
        config_digest=config_digest,
        os_name="linux",
        architecture="amd64",
    )


def test_a_ci_upload_cannot_overwrite_another_enterprise_projects_build(world: World) -> None:
    before = world.snapshots()
    victim = world.victims[0]
    forged = upload_json.to_json(ScanUpload(image=_summary(victim.cicd_image_id)))
    resp = _call(
        world,
        "cicd-forgery",
        "POST",
        f"/v5/{PROJECT}/image/cicd/images",
        world.attacker.operator_token,
        params={"cicd_name": victim.cicd_name, "image_name": "clean", "image_version": "1"},
        raw=forged,
    )
    assert resp.status_code == 409, resp.text
    assert resp.json()["error_code"] == "HSS.0409"
    assert world.snapshots() == before


def test_all_granted_eps_never_files_a_new_object_under_a_default(world: World) -> None:
    token = world.multi_token
    resp = _agent(world, "register", token, "all_granted_eps", agent_id="multi-" + uuid.uuid4().hex[:8])
    assert resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001", resp.text
    upload = upload_json.to_json(ScanUpload(image=_summary("sha256:" + uuid.uuid4().hex * 2)))
    resp = _call(
        world,
        "all-granted-eps",
        "POST",
        f"/v5/{PROJECT}/image/cicd/images",
        token,
        params={"cicd_name": "multi-ci", "image_name": "app", "enterprise_project_id": "all_granted_eps"},
        raw=upload,
    )
    assert resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001", resp.text
    resp = _call(
        world,
        "all-granted-eps",
        "POST",
        f"/v5/{PROJECT}/image/registries",
        token,
        params={"enterprise_project_id": "all_granted_eps"},
        body={
            "registry_name": "multi-reg",
            "registry_type": "Harbor",
            "protocol": "http",
            "registry_addr": "127.0.0.1:1",
            "registry_username": "u",
            "registry_password": "p",
        },
    )
    assert resp.status_code == 400, resp.text

    # A batch scan over both EPs' images queues one task per EP, each visible exactly where its image is.
    mine, theirs = world.attacker, world.victims[0]
    with transaction(world.svc.runtime.sessions) as s:
        known = set(s.scalars(select(ScanTask.task_id)))
    resp = _call(
        world,
        "all-granted-eps",
        "POST",
        f"/v5/{PROJECT}/image/local/batch-scan",
        token,
        params={"enterprise_project_id": "all_granted_eps"},
        body={
            "operate_all": False,
            "image_info_list": [{"image_id": mine.image_id}, {"image_id": theirs.image_id}],
        },
    )
    assert resp.status_code == 200, resp.text
    with transaction(world.svc.runtime.sessions) as s:
        made = {
            (task.enterprise_project_id, image_id)
            for task, image_id in s.execute(
                select(ScanTask, Image.image_id)
                .join(ScanTaskImage, ScanTaskImage.task_pk == ScanTask.id)
                .join(Image, Image.id == ScanTaskImage.image_pk)
                .where(ScanTask.task_id.not_in(known))
            ).all()
        }
    # an image already waiting in its seeded task is not queued twice: only the EPs are checked
    assert {ep for ep, _ in made} <= {"0", SECOND_EP}
    assert all((ep == "0") == (image_id == mine.image_id) for ep, image_id in made)


def test_newly_affected_lists_only_the_callers_images(world: World) -> None:
    def listed(token: str, ep: str | None = None) -> set[str]:
        params = {"limit": 100, **({"enterprise_project_id": ep} if ep else {})}
        resp = _call(
            world, "read", "GET", f"/v5/{PROJECT}/image/rematch/newly-affected", token, params=params
        )
        assert resp.status_code == 200, resp.text
        return {row["image_id"] for row in resp.json()["data_list"]}

    me, victim = world.attacker, world.victims[0]
    assert listed(me.operator_token) == {me.image_id}
    assert listed(me.readonly_token, "all_granted_eps") == {me.image_id}
    assert listed(world.multi_token, "all_granted_eps") == {me.image_id, victim.image_id}


def test_a_claimed_diff_id_cannot_poison_or_read_another_tenants_layer_cache(world: World) -> None:
    me, victim = world.attacker, world.victims[0]
    key = victim.layer_key  # every tenant's agents stored an analysis under this claimed key

    def get(token: str, k: str, ep: str = "0") -> httpx.Response:
        path = f"/v5/{PROJECT}/agent/layer-cache/{k}"
        return _call(world, "layer-cache", "GET", path, token, params={"enterprise_project_id": ep})

    def put(token: str, k: str, blob: bytes) -> httpx.Response:
        return _call(world, "layer-cache", "PUT", f"/v5/{PROJECT}/agent/layer-cache/{k}", token, raw=blob)

    # Planting under the victim's key lands in the attacker's own space (already holding its entry).
    assert put(me.operator_token, key, layer_blob("sha256:" + key, "planted-clean")).status_code == 200
    theirs = get(victim.operator_token, key, victim.ep)
    assert theirs.status_code == 200
    assert [p.name for p in decode(theirs.content).result.packages] == [victim.secrets[-1]]
    own = get(me.operator_token, key)
    assert [p.name for p in decode(own.content).result.packages] == [me.secrets[-1]]

    # A worker's analysis (from bytes the server read) is neither served to agents nor replaceable.
    worker_key = uuid.uuid4().hex + uuid.uuid4().hex
    pkg = "worker-" + uuid.uuid4().hex
    analysis = LayerAnalysis(
        diff_id="sha256:" + worker_key,
        result=AnalysisResult(packages=[Package(pkg, "1", Ecosystem.DEBIAN, PackageType.DEB, "pkg:deb/x@1")]),
        analyzers={"os": 1},
    )
    cache = DbLayerCache(world.svc.runtime.sessions)
    cache.put(worker_key, analysis)
    assert get(me.operator_token, worker_key).status_code == 404
    assert put(me.operator_token, worker_key, layer_blob("sha256:" + worker_key, "clean")).status_code == 200
    served = cache.get(worker_key)
    assert served is not None and [p.name for p in served.result.packages] == [pkg]


def test_zz_attack_counts(world: World) -> None:
    """The per-family attack counts of this backend (run with -s to read them)."""
    mine = {family: n for (backend, family), n in sorted(ATTACKS.items()) if backend == world.backend}
    print(f"\nisolation attacks on {world.backend}: {mine} total={sum(mine.values())}")
    assert mine.get("read", 0) > 50 and mine.get("write", 0) > 50
