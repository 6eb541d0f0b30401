"""The base install (`openhss[agent]`) runs the agent and `openhss scan` without the server stack.

Each check runs in a subprocess whose meta-path finder refuses every module of the `server` extra
(read from pyproject.toml and mapped to import names through the installed distributions), so any
import of them, however indirect or lazy, fails the run. The agent run is a real cycle against a live
server: register, report an image, claim its scan, scan it with the engine, upload the inventory.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from huaweicloudsdkhss.v5 import ListImageLocalRequest

from openhss.config import ScanSettings
from tests.api.conftest import sdk
from tests.scan_sources.builders import build_oci
from tests.support.service import running_service
from tests.worker.helpers import app_layer, import_advisories, os_layer

ROOT = Path(__file__).resolve().parents[2]


def server_modules() -> set[str]:
    """Top-level import names of the `server` extra's distributions."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = {
        re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower().replace("_", "-") for req in extra["server"]
    }
    out = {"starlette"}  # fastapi's own web layer: what `fastapi` would pull in
    for module, dists in importlib.metadata.packages_distributions().items():
        if any(d.lower().replace("_", "-") in wanted for d in dists):
            out.add(module)
    return out


BLOCKER = """
import importlib.abc, json, os, sys
BLOCKED = set(json.loads(os.environ["OPENHSS_TEST_BLOCKED"]))
class _ServerStackBlocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not installed on an agent host", name=name)
        return None
sys.meta_path.insert(0, _ServerStackBlocked())
"""

AGENT = """
from pathlib import Path
from openhss.agent import inventory
from openhss.agent.runner import Agent, AgentConfig
from openhss.domain.inventory import LocalImage

class _Host(Agent):
    def collect(self):
        self._sources = {os.environ["IMAGE_ID"]: "oci:" + os.environ["LAYOUT"] + ":app"}
        return inventory.Snapshot(images=[LocalImage(os.environ["IMAGE_ID"], ("docker.io/edge/app:1",))])

cfg = AgentConfig(os.environ["SERVER"], os.environ["AK"], os.environ["SK"], os.environ["PROJECT"],
                  agent_id="edge-1", cache_dir=Path(os.environ["CACHE"]))
_Host(cfg).run(once=True)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("agent ran")
"""


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "OPENHSS_TEST_BLOCKED": json.dumps(sorted(server_modules())), **env},
    )


def test_the_blocker_refuses_the_server_stack() -> None:
    """The finder really bites: importing the service needs the blocked packages."""
    blocked = server_modules()
    assert {"fastapi", "sqlalchemy", "alembic", "celery", "uvicorn", "psycopg"} <= blocked
    run = _run("import openhss.services.agents", {})
    assert run.returncode == 1 and "is not installed on an agent host" in run.stderr
    # The server commands say what to install instead of a traceback.
    cli = _run("sys.argv = ['openhss', 'migrate']\nfrom openhss.entry import main\nmain()", {})
    assert cli.returncode == 1, cli.stderr
    assert "needs the server install (pip install 'openhss[server]')" in cli.stderr


def test_agent_and_scan_run_without_the_server_stack(tmp_path: Path) -> None:
    built = build_oci(tmp_path / "img", [os_layer(), app_layer()], tag="app")
    with running_service(tmp_path / "svc", scans=ScanSettings(scan_on_new_image=True)) as svc:
        import_advisories(svc.runtime.settings, tmp_path)
        # `openhss scan` with the service's advisory store (as a CI runner with `openhss db update`).
        scan = _run(
            "sys.argv = ['openhss', 'scan', '--no-cache', '-f', 'json', 'oci:' + os.environ['LAYOUT']"
            " + ':app']\nfrom openhss.entry import main\nmain()",
            {"LAYOUT": str(built.oci_dir), "OPENHSS_DATA_DIR": str(svc.runtime.settings.data_dir)},
        )
        assert scan.returncode == 0, scan.stderr
        assert len(json.loads(scan.stdout)["vulnerabilities"]) == 3
        env = {
            "SERVER": svc.base_url,
            "AK": svc.ak,
            "SK": svc.sk,
            "PROJECT": svc.project_id,
            "IMAGE_ID": built.config_digest,
            "LAYOUT": str(built.oci_dir),
            "CACHE": str(tmp_path / "cache"),
        }
        agent = _run(AGENT, env)
        assert agent.returncode == 0, agent.stderr
        assert "agent ran" in agent.stdout
        rows = sdk(svc).list_image_local(ListImageLocalRequest(image_name="docker.io/edge/app")).data_list
        assert [(r.image_version, r.scan_status, r.vul_num) for r in rows] == [("1", "success", 3)]
