# ruff: noqa: E501 - the table of cases reads best one case a line
"""Every way a user can get the command line wrong: one line on stderr naming what to do, never a traceback.

Exit statuses are the documented contract: 2 when the command line itself is wrong, 1 when the command
could not do its work. The table runs the real entry point in-process (a subprocess per case would cost
a second each); one case runs as a real process to pin down that nothing differs there.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from openhss import __version__
from openhss.entry import main

Setup = Callable[[Path], None]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`openhss ARGS` through the console entry point; (exit status, stdout, stderr)."""
    saved = sys.argv
    sys.argv = ["openhss", *args]
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = 0
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return code, out, err


def _garbage_tar(path: Path) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))


def _write(name: str, text: str) -> Setup:
    def setup(cwd: Path) -> None:
        (cwd / name).write_text(text, encoding="utf-8")

    return setup


def _nothing(cwd: Path) -> None:
    return None


# (case id, arguments, files to create in the working directory first, exit status, words in the message)
CASES: list[tuple[str, list[str], Setup, int, str]] = [
    ("malformed reference", ["scan", "nosuchthing:::"], _nothing, 2, "expected REPO[:TAG]"),
    ("not an image file", ["scan", "/etc/passwd"], _nothing, 2, "not an image archive"),
    ("unsupported scheme", ["scan", "ftp://x"], _nothing, 2, "unsupported scheme 'ftp'"),
    ("missing relative archive", ["scan", "../img/app.tar"], _nothing, 1, "no such file"),
    ("missing oci-archive", ["scan", "oci-archive:/nonexistent/app.tar"], _nothing, 1, "no such file"),
    ("missing oci layout", ["scan", "oci:/nonexistent/dir:tag"], _nothing, 1, "no such file"),
    ("missing rootfs", ["scan", "dir:/nonexistent/rootfs"], _nothing, 1, "no such file"),
    ("tar that is no image", ["scan", "./plain.tar"], lambda d: _garbage_tar(d / "plain.tar"), 2, "docker save"),
    ("broken oci layout", ["scan", "./layout", "--scanners", "none"], lambda d: _broken_layout(d / "layout"), 1, "scan failed"),
    ("no advisory database", ["scan", "dir:."], _nothing, 1, "run `openhss db update` or `db import`, or"),
    ("unknown option", ["scan", "--bogus", "x"], _nothing, 2, "No such option: --bogus"),
    ("missing image", ["scan"], _nothing, 2, "Missing argument"),
    ("unknown scanner", ["scan", "x", "--scanners", "nope"], _nothing, 2, "unknown scanner 'nope'"),
    ("unknown severity", ["scan", "x", "--severity", "FOO"], _nothing, 2, "unknown severity 'FOO'"),
    ("unknown format", ["scan", "x", "-f", "pdf"], _nothing, 2, "--format"),
    ("missing template", ["scan", "x", "-f", "template", "--template", "no.j2"], _nothing, 2, "no.j2"),
    ("bad timeout", ["scan", "x", "--timeout", "soon"], _nothing, 2, "invalid duration"),
    ("bad platform", ["scan", "x", "--platform", "linux"], _nothing, 2, "os/arch"),
    ("missing ignore file", ["scan", "x", "--ignorefile", "no.yaml"], _nothing, 2, "no.yaml"),
    ("ignore file not YAML", ["scan", "x"], _write(".openhssignore.yaml", "vulnerabilities: [\n"), 2, "not valid YAML"),
    ("ignore entry without id", ["scan", "x"], _write(".openhssignore.yaml", "vulnerabilities:\n  - statement: x\n"), 2, "needs an `id`"),
    ("ignore bad expiry", ["scan", "x"], _write(".openhssignore.yaml", "vulnerabilities:\n  - id: CVE-1\n    expired_at: soon\n"), 2, "expired_at"),
    ("ignore unknown section", ["scan", "x"], _write(".openhssignore.yaml", "vulns: []\n"), 2, "unknown section"),
    ("missing config file", ["scan", "x", "--config", "no.yaml"], _nothing, 2, "no.yaml does not exist"),
    ("unknown config key", ["scan", "x"], _write("openhss.yaml", "colour: red\n"), 2, "unknown setting 'colour'"),
    ("config value of wrong type", ["scan", "x"], _write("openhss.yaml", "exit-code: many\n"), 2, "exit-code"),
    ("upload without credentials", ["scan", "x", "--upload"], _nothing, 2, "--upload needs"),
    ("unknown command", ["nosuchcmd"], _nothing, 2, "No such command"),
    ("unknown db option", ["db", "status", "--bogus"], _nothing, 2, "No such option"),
    ("db import of a missing file", ["db", "import", "/nonexistent/feed.zip"], _nothing, 1, "feed.zip"),
    ("unreachable registry", ["scan", "docker://127.0.0.1:9/app:1", "--scanners", "none"], _nothing, 1, "download_failed"),
    ("unreachable server", ["scan", "dir:.", "--scanners", "none", "--upload", "--server", "http://127.0.0.1:9", "--ak", "a", "--sk", "b", "--cicd-name", "ci"], _nothing, 1, "upload failed"),
    ("unwritable output", ["scan", "dir:.", "--scanners", "none", "-o", "/nonexistent/dir/out.json"], _nothing, 1, "cannot write"),
]  # fmt: skip


def _broken_layout(path: Path) -> None:
    path.mkdir()
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text("{not json")


@pytest.mark.parametrize(
    ("args", "setup", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line(
    args: list[str],
    setup: Setup,
    status: int,
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENHSS_DEBUG", raising=False)
    setup(work)
    code, _, err = run_cli(args, capsys)
    assert code == status, err
    assert "Traceback" not in err
    assert err.startswith("openhss: ") and err.count("\n") == 1, err
    assert words in err, err


@pytest.mark.parametrize(
    "args",
    [["--version"], ["scan", "--version"], ["agent", "--version"], ["db", "status", "--version"],
     ["user", "keys", "list", "--version"], ["export", "--version"]],
)  # fmt: skip
def test_version_everywhere(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(args, capsys)
    assert (code, out, err) == (0, f"openhss {__version__}\n", "")


def test_help_documents_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["scan", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "2 the command line is wrong" in flat and "1 the scan could not run" in flat


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "OPENHSS_DATA_DIR": str(tmp_path)}
    env.pop("OPENHSS_DEBUG", None)
    for args, status in (
        (["scan", "nosuchthing:::"], 2),
        (["scan", "--bogus"], 2),
        (["scan", "../x.tar"], 1),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "openhss.entry", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == status and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == "" and "Traceback" not in done.stderr
