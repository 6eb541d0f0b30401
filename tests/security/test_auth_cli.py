"""Commands that sign requests take the secret key from a file or the environment, so it never has to
appear in argv (readable by every local user through `ps` or /proc)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openhss.db.engine import transaction
from openhss.db.models import Host
from tests.scan_sources.builders import build_oci, write_oci_archive
from tests.support.service import Service, running_service
from tests.worker.helpers import os_layer


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("cli-sk")) as service:
        yield service


def _agent(
    svc: Service, tmp: Path, host: str, *key_args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "openhss.entry",
        "agent",
        "--server",
        svc.base_url,
        "--ak",
        svc.ak,
        *key_args,
    ]
    cmd += ["--project-id", svc.project_id, "--docker-host", f"unix://{tmp}/no-docker.sock", "--once", "-q"]
    cmd += ["--host-id", f"ecs-{host}", "--host-name", host, "--no-scan"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENHSS_SK")}
    return subprocess.run(cmd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120)


def _registered(svc: Service, host: str) -> bool:
    with transaction(svc.runtime.sessions) as s:
        return s.scalar(select(Host.id).where(Host.host_name == host)) is not None


def _upload(svc: Service, tmp: Path, archive: Path, *key_args: str, env: dict[str, str] | None = None) -> str:
    """stderr of `openhss scan --upload`; the server has no advisory database, so a request that
    passed authentication is answered with that reason, and a badly signed one with a 401."""
    cmd = [
        sys.executable,
        "-m",
        "openhss.entry",
        "scan",
        "--upload",
        "--server",
        svc.base_url,
        "--ak",
        svc.ak,
    ]
    cmd += [*key_args, "--project-id", svc.project_id, "--cicd-name", "ci", "--no-cache", "-q"]
    cmd += ["-f", "json", f"oci-archive:{archive}"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENHSS_SK")}
    run = subprocess.run(
        cmd,
        env={**clean, "OPENHSS_DATA_DIR": str(tmp / "cli"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert svc.sk not in " ".join(run.args)
    return run.stderr


def test_scan_upload_signs_with_the_key_from_a_file_or_the_environment(svc: Service, tmp_path: Path) -> None:
    built = build_oci(tmp_path / "img", [os_layer()], tag="app")
    archive = write_oci_archive(built, tmp_path / "build.oci.tar")
    key_file = tmp_path / "sk"
    key_file.write_text(svc.sk + "\n")
    key_file.chmod(0o600)
    authenticated = "advisory database"
    assert authenticated in _upload(svc, tmp_path, archive, "--sk-file", str(key_file))
    assert authenticated in _upload(svc, tmp_path, archive, env={"OPENHSS_SK_FILE": str(key_file)})
    assert authenticated in _upload(svc, tmp_path, archive, env={"OPENHSS_SK": svc.sk})
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-key\n")
    refused = _upload(svc, tmp_path, archive, "--sk-file", str(wrong))
    assert authenticated not in refused and "signature" in refused, refused


def test_a_missing_empty_or_doubled_key_is_one_line(svc: Service, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    cases = [
        ((), "a secret key is needed"),
        (("--sk-file", str(tmp_path / "absent")), "cannot read the secret key file"),
        (("--sk-file", str(empty)), "is empty"),
        (("--sk", "x", "--sk-file", str(empty)), "give the secret key once"),
    ]
    for args, message in cases:
        run = _agent(svc, tmp_path, "never", *args)
        assert run.returncode == 2
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not _registered(svc, "never")
