"""Every `openhss scan` flag added for CI use, on real images built here: references by content,
table, template, ignore file, skip globs, timeout, config file, data dir, colour and width on a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import secrets
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.cli.test_cli_errors import run_cli
from tests.scan_sources.builders import LayerSpec, build_oci, write_docker_archive, write_oci_archive

SITE = "usr/local/lib/python3.11/site-packages"
VENDOR = "opt/vendor/site-packages"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def dist_info(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


@pytest.fixture
def aws_key() -> str:
    return "AKIA" + "".join(secrets.choice(ALPHABET) for _ in range(16))


@pytest.fixture
def image(tmp_path: Path, aws_key: str) -> Path:
    """An OCI layout: Debian os-release, five apt list files (one baseline rule), a secret, and Python
    packages in the site dir and in a vendored dir (for --skip-dirs)."""
    apt = LayerSpec("RUN apt-get update")
    for i in range(5):
        apt.add_bytes(f"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_{i}_Packages", b"x" * 10)
    build_oci(
        tmp_path / "app",
        [
            LayerSpec("FROM scratch").add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            apt,
            LayerSpec("COPY app")
            .add_bytes("app/.env", f"AWS_ACCESS_KEY_ID={aws_key}\n".encode())
            .add_bytes(f"{SITE}/requests-2.19.1.dist-info/METADATA", dist_info("requests", "2.19.1"))
            .add_bytes(f"{VENDOR}/urllib3-1.24.1.dist-info/METADATA", dist_info("urllib3", "1.24.1")),
        ],
    )
    return tmp_path / "app"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own (ignore/config files are looked for there) and a private data dir."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return work


NO_VULN = ["--scanners", "secret,baseline"]


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code, out, err = run_cli(["scan", *args, "-f", "json", "-q"], capsys)
    assert code == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


def vulnerabilities(doc: dict[str, object]) -> list[dict[str, object]]:
    items = doc["vulnerabilities"]
    assert isinstance(items, list)
    return items


def rules(doc: dict[str, object], key: str) -> list[tuple[str, str]]:
    items = doc[key]
    assert isinstance(items, list)
    return [(i["rule_id"], i["path"]) for i in items]


def packages(doc: dict[str, object]) -> set[str]:
    items = doc["packages"]
    assert isinstance(items, list)
    return {p["name"] for p in items}


# --- references --------------------------------------------------------------------------------------


def test_bare_paths_are_recognised_by_content(
    image: Path, tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.scan_sources.builders import BuiltImage

    built: BuiltImage = build_oci(
        tmp_path / "small",
        [LayerSpec("FROM scratch").add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')],
    )
    (tmp_path / "img").mkdir()
    oci_tar = write_oci_archive(built, tmp_path / "img" / "app.oci")  # no telling suffix: content decides
    write_docker_archive(built, tmp_path / "img" / "app.tar")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    expected = {
        "../img/app.tar": "docker-archive:",
        str(oci_tar): "oci-archive:",
        "../small": "oci:",
        "../rootfs": "dir:",
    }
    for typed, transport in expected.items():
        doc = scan_json(capsys, typed, "--scanners", "none")
        img = doc["image"]
        assert isinstance(img, dict)
        assert img["ref"].startswith(transport), (typed, img["ref"])
        assert img["os"]["family"] == "debian"


# --- output ------------------------------------------------------------------------------------------


def test_table_groups_baseline_per_rule_with_a_summary(
    image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["scan", str(image), *NO_VULN], capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if "baseline-package-cache" in line]
    assert len(rows) == 1 and "│ 5 " in rows[0], out  # one row for the five files, with the count
    assert "(+2 more)" in out
    secrets_at = out.index("sensitive-info\n")  # the secret's group, with its own summary line
    assert (
        out[secrets_at:].splitlines()[1] == "Total: 1 (Critical: 1, High: 0, Medium: 0, Low: 0, Unknown: 0)"
    )
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_template_format(image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cli_env / "t.j2").write_text(
        "{{ report.image.os.family }}|{% for f in report.baseline %}{{ f.rule_id }};{% endfor %}\n"
    )
    code, out, err = run_cli(["scan", str(image), *NO_VULN, "-f", "template", "--template", "t.j2"], capsys)
    assert code == 0, err
    family, rules_text = out.strip().split("|")
    # The five cache files of one directory are one finding (issue 23), with its count.
    assert family == "debian" and rules_text.split(";").count("baseline-package-cache") == 1


def test_terminal_gets_colour_and_its_width(image: Path, tmp_path: Path) -> None:
    """On a terminal the table fits the window and severities are coloured; NO_COLOR turns colour off."""
    env = {**os.environ, "OPENHSS_DATA_DIR": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    env.pop("COLUMNS", None)
    for no_color, expect_colour in ((False, True), (True, False)):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 90, 0, 0))
        run_env = {**env, "NO_COLOR": "1"} if no_color else env
        proc = subprocess.Popen(
            [sys.executable, "-m", "openhss.entry", "scan", str(image), *NO_VULN, "-q"],
            stdout=slave, stderr=subprocess.PIPE, env=run_env, cwd=tmp_path,
        )  # fmt: skip
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
        text = b"".join(chunks).decode()
        assert ("\x1b[" in text) is expect_colour
        plain = text if expect_colour is False else _strip_ansi(text)
        widths = [len(line) for line in plain.replace("\r", "").splitlines()]
        assert widths and max(widths) <= 90
        assert "│ baseline-package-cache " in plain  # an id is never cut or wrapped to fit


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- policy input ------------------------------------------------------------------------------------


def test_ignorefile_suppresses_with_reason_and_reports_expired(
    image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cli_env / ".openhssignore.yaml").write_text(
        "misconfigurations:\n"
        "  - id: baseline-package-cache\n"
        "    paths: ['var/lib/apt/lists/*_0_*', 'var/lib/apt/lists/*_1_*']\n"
        "    statement: apt lists are removed by the next stage\n"
        "secrets:\n"
        "  - id: aws-access-token\n"
        "    expired_at: 2020-01-01\n"
        "    statement: test key\n"
    )
    code, out, err = run_cli(["scan", str(image), *NO_VULN, "-f", "json", "--show-suppressed"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    # Suppressed per file first, then the three left are grouped into one finding (issue 23).
    (cache,) = [f for f in doc["baseline"] if f["rule_id"] == "baseline-package-cache"]
    assert cache["count"] == 3 and cache["examples"] == [
        f"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_{i}_Packages" for i in (2, 3, 4)
    ]
    assert [r for r, _ in rules(doc, "secrets")] == [
        "aws-access-token"
    ]  # the expired entry no longer applies
    assert "aws-access-token" in err and "expired on 2020-01-01" in err
    suppressed = doc["suppressed"]
    assert len(suppressed) == 2
    assert {(s["source"], s["statement"]) for s in suppressed} == {
        ("ignorefile", "apt lists are removed by the next stage")
    }
    # the table lists them with their reason too
    code, out, _ = run_cli(["scan", str(image), *NO_VULN, "--show-suppressed", "-q"], capsys)
    assert (
        code == 0
        and "Suppressed" in out
        and "apt lists are removed by the next stage" in " ".join(out.split())
    )


def test_ignorefile_vulnerability_by_purl(
    tmp_path: Path, cli_env: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_oci(
        tmp_path / "py",
        [
            LayerSpec("FROM scratch")
            .add_bytes("etc/os-release", b"ID=debian\n")
            .add_bytes(f"{SITE}/requests-2.19.1.dist-info/METADATA", dist_info("requests", "2.19.1"))
        ],
    )
    code, _, err = run_cli(["db", "import", str(shared_dir / "data/osv/PyPI.zip")], capsys)
    assert code == 0, err
    before = scan_json(capsys, str(tmp_path / "py"), "--scanners", "vuln")
    ids = {v["vul_id"] for v in vulnerabilities(before)}
    assert "CVE-2018-18074" in ids
    (cli_env / "ignore.yaml").write_text(
        "vulnerabilities:\n  - id: CVE-2018-18074\n"
        "    purls: ['pkg:pypi/requests']\n    statement: not reachable\n"
    )
    after = scan_json(capsys, str(tmp_path / "py"), "--scanners", "vuln", "--ignorefile", "ignore.yaml")
    left = {v["vul_id"] for v in vulnerabilities(after)}
    assert left == ids - {"CVE-2018-18074"}
    code, _, _ = run_cli(["scan", str(tmp_path / "py"), "--scanners", "vuln", "--exit-code", "3", "-q",
                          "--severity", "MEDIUM", "--ignorefile", "ignore.yaml"], capsys)  # fmt: skip
    medium_left = any(v["severity"] == "Medium" for v in vulnerabilities(after))
    assert code == (3 if medium_left else 0)


# --- scope -------------------------------------------------------------------------------------------


def test_skip_dirs_and_skip_files(image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = scan_json(capsys, str(image), *NO_VULN)
    assert {"requests", "urllib3"} <= packages(full)
    assert ("aws-access-token", "app/.env") in rules(full, "secrets")
    skipped = scan_json(capsys, str(image), *NO_VULN, "--skip-dirs", "/opt/vendor", "--skip-files", "**/.env")
    assert "urllib3" not in packages(skipped) and "requests" in packages(skipped)
    assert rules(skipped, "secrets") == []
    # the layer cache of the skipping scan does not answer a full one (keys are salted by the globs)
    again = scan_json(capsys, str(image), *NO_VULN)
    assert packages(again) == packages(full) and rules(again, "secrets") == rules(full, "secrets")


def test_timeout_ends_the_scan_with_exit_1(
    image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["scan", str(image), *NO_VULN, "--no-cache", "--timeout", "1ms"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("openhss: scan timed out after 1ms") and err.count("\n") == 1


def test_config_file_sets_flags_and_flags_win(
    image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cli_env / "openhss.yaml").write_text(
        "format: json\nscanners: secret,baseline\nskip-dirs: [opt/vendor]\nquiet: true\n"
    )
    code, out, err = run_cli(["scan", str(image)], capsys)
    assert code == 0, err
    assert "urllib3" not in packages(json.loads(out))  # skip-dirs from the file
    code, out, _ = run_cli(["scan", str(image), "-f", "table"], capsys)
    assert code == 0 and out.startswith("oci:")  # the flag wins over the file's format
    (cli_env / "ci.yaml").write_text("severity: CRITICAL\nexit_code: 4\nscanners: secret\n")
    code, out, _ = run_cli(["scan", str(image), "--config", "ci.yaml", "-f", "json"], capsys)
    assert code == 4  # the AWS key is Critical: the gate from the named file fails the build
    assert {f["severity"] for f in json.loads(out)["secrets"]} == {"Critical"}


# --- data dir ----------------------------------------------------------------------------------------


def test_db_status_names_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENHSS_DATA_DIR", raising=False)
    monkeypatch.delenv("OPENHSS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["db", "status"], capsys)
    assert code == 1
    assert (
        out
        == f"data dir: {tmp_path / 'xdg' / 'openhss'} (the default; set OPENHSS_DATA_DIR to use another)\n"
    )
    assert err.count("openhss db update") == 1 and err.count("\n") == 1
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "elsewhere"))
    code, out, _ = run_cli(["db", "status"], capsys)
    assert out.startswith(f"data dir: {tmp_path / 'elsewhere'} (from OPENHSS_DATA_DIR)")


def test_template_format_without_a_file_prints_a_line_per_finding(
    image: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["scan", str(image), *NO_VULN, "-f", "template"], capsys)
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert ["secrets", "aws-access-token", "Critical", "AWS Access Token", "app/.env"] in rows
    cache_rows = [r for r in rows if r[:2] == ["baseline", "baseline-package-cache"]]
    assert len(cache_rows) == 1 and cache_rows[0][4] == "var/lib/apt/lists/", cache_rows  # one per directory


def _stderr_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openhss.entry", *args],
        stdout=subprocess.DEVNULL, stderr=slave, env=env, cwd=cwd,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait() == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_and_its_silencers(image: Path, tmp_path: Path) -> None:
    """Progress goes to stderr when it is a terminal; --no-progress and -q silence it."""
    env = {**os.environ, "OPENHSS_DATA_DIR": str(tmp_path / "d"), "OPENHSS_PROGRESS_DELAY": "0"}
    args = ["scan", str(image), *NO_VULN, "--no-cache"]
    assert "layers" in _stderr_on_a_terminal(args, env, tmp_path)
    assert _stderr_on_a_terminal([*args, "--no-progress"], env, tmp_path) == ""
    assert _stderr_on_a_terminal([*args, "-q"], env, tmp_path) == ""
