"""The CLI as a user runs it: a real process per command, one-line errors with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# A new interpreter importing the whole service per command (1-8 s each on a loaded machine): 112 s of
# `make test-fast` over two workers. `make test` runs them; the inner loop has tests/cli in-process.
pytestmark = pytest.mark.slow


def run(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENHSS_DATA_DIR": str(tmp), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "openhss.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    assert run(tmp_path, "migrate").returncode == 0
    return tmp_path


def test_help_everywhere(tmp_path: Path) -> None:
    for cmd in (
        [],
        ["serve"],
        ["worker"],
        ["user"],
        ["user", "create"],
        ["user", "keys"],
        ["project", "create"],
    ):
        res = run(tmp_path, *cmd, "--help")
        assert res.returncode == 0 and "Usage" in res.stdout, (cmd, res.stderr)


def test_users_projects_and_keys(data: Path) -> None:
    pid = run(data, "project", "create", "payments", "--id", "proj-pay").stdout.strip()
    assert pid == "proj-pay"
    created = run(data, "user", "create", "bob", "--role", "operator", "--project", "proj-pay")
    assert created.returncode == 0 and "password:" in created.stdout
    assert "bob" in run(data, "user", "list").stdout
    keys = run(data, "user", "keys", "create", "bob", "--description", "ci").stdout.split()
    ak = keys[keys.index("key:") + 1]
    listed = run(data, "user", "keys", "list", "bob").stdout
    assert ak in listed and keys[-1] not in listed, "secret key must never be shown again"
    assert run(data, "user", "keys", "delete", ak).returncode == 0
    assert ak not in run(data, "user", "keys", "list", "bob").stdout
    assert "proj-pay" in run(data, "project", "list").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("user", "create", "dup"),
        ("user", "keys", "delete", "NOSUCHKEY"),
        ("user", "grant", "dup", "no-such-project"),
        ("project", "create", "bad", "--id", "has space"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(data: Path, args: tuple[str, ...]) -> None:
    run(data, "user", "create", "dup")
    res = run(data, *args)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("openhss: "), res.stderr
