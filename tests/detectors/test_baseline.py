"""Baseline file-state checks on crafted layers, including a later layer fixing what an earlier broke."""

from __future__ import annotations

import pytest

from openhss.domain.enums import FindingKind
from openhss.scan.analyzers.baseline_files import BaselineFileAnalyzer
from openhss.scan.checks.base import CheckContext
from openhss.scan.checks.image_config import ImageConfigCheck

from .helpers import directory, file, image_config, scan_layers, whiteout

SHADOW_BAD = (
    "root:$y$j9T$abcdefghijklmnop$0123456789012345678901234567890123456789012:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "guest::19000:0:99999:7:::\n"
    "legacy:$1$saltsalt$qjdTPDxaTnVOkr2hjmBKw.:19000:0:99999:7:::\n"
    "locked:!$1$saltsalt$qjdTPDxaTnVOkr2hjmBKw.:19000:0:99999:7:::\n"
)
SHADOW_FIXED = "root:*:19000:0:99999:7:::\nguest:!:19000:0:99999:7:::\nlegacy:!:19000:0:99999:7:::\n"


def base_layer() -> list:  # type: ignore[type-arg]
    return [
        directory("etc"),
        file("etc/shadow", SHADOW_BAD, 0o640),
        file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n"),
        file("etc/sudoers.d/app", "app ALL=(ALL) NOPASSWD: ALL\n", 0o440),
        file("etc/ssh/sshd_config", "# comment\nPermitRootLogin yes\nPasswordAuthentication yes\n"),
        file("usr/sbin/sshd", b"\x7fELF", 0o755),
        file("usr/bin/passwd", b"\x7fELF", 0o4755),
        file("usr/local/bin/helper", b"\x7fELF", 0o4755),
        file("etc/app.conf", "x=1\n", 0o666),
        directory("usr/share/app/drop", 0o777),
        directory("tmp", 0o1777),
        file(
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", b"x" * 10
        ),
        file("var/lib/apt/lists/lock", b""),
    ]


def rules(findings: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(f.rule_id, f.path) for f in findings if f.kind is FindingKind.BASELINE}


def test_baseline_file_checks() -> None:
    inv = scan_layers([base_layer()], [BaselineFileAnalyzer])
    got = rules(inv.findings)
    assert got == {
        ("baseline-shadow-empty-password", "etc/shadow"),
        ("baseline-shadow-weak-hash", "etc/shadow"),
        ("baseline-passwd-extra-uid0", "etc/passwd"),
        ("baseline-sudo-nopasswd", "etc/sudoers.d/app"),
        ("baseline-sshd-permit-root-login", "etc/ssh/sshd_config"),
        ("baseline-sshd-password-authentication", "etc/ssh/sshd_config"),
        ("baseline-sshd-installed", "usr/sbin/sshd"),
        ("baseline-unexpected-setuid", "usr/local/bin/helper"),
        ("baseline-world-writable", "etc/app.conf"),
        ("baseline-world-writable", "usr/share/app/drop"),
        (
            "baseline-package-cache",
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
        ),
    }
    shadow = [f for f in inv.findings if f.path == "etc/shadow"]
    # Evidence names users and schemes, never the hashes.
    assert all("$1$" not in f.evidence and "saltsalt" not in f.evidence for f in shadow)
    assert any("guest" in f.evidence for f in shadow) and any("legacy (MD5)" in f.evidence for f in shadow)


def test_later_layer_fixes_clear_state_findings() -> None:
    fix = [
        file("etc/shadow", SHADOW_FIXED, 0o640),
        whiteout("etc/sudoers.d/app"),
        file("etc/ssh/sshd_config", "PermitRootLogin no\nPasswordAuthentication no\n"),
        file("usr/local/bin/helper", b"\x7fELF", 0o755),
        file("etc/app.conf", "x=1\n", 0o644),
        whiteout("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"),
    ]
    inv = scan_layers([base_layer(), fix], [BaselineFileAnalyzer])
    assert rules(inv.findings) == {
        ("baseline-passwd-extra-uid0", "etc/passwd"),
        ("baseline-sshd-installed", "usr/sbin/sshd"),
        ("baseline-world-writable", "usr/share/app/drop"),
    }


def test_later_layer_that_does_not_touch_the_file_keeps_the_finding() -> None:
    inv = scan_layers([base_layer(), [file("opt/app/run.sh", "#!/bin/sh\n", 0o755)]], [BaselineFileAnalyzer])
    assert ("baseline-shadow-empty-password", "etc/shadow") in rules(inv.findings)


@pytest.mark.parametrize(
    ("user", "health", "expected"),
    [
        ("", None, {"baseline-config-runs-as-root", "baseline-config-no-healthcheck"}),
        ("0:0", ["CMD", "true"], {"baseline-config-runs-as-root"}),
        ("app", ["NONE"], {"baseline-config-no-healthcheck"}),
        ("1000:1000", ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], set()),
    ],
)
def test_image_config_checks(user: str, health: list[str] | None, expected: set[str]) -> None:
    cfg = image_config(user=user, healthcheck=health, env=["PATH=/usr/bin", "LANG=C.UTF-8"])
    assert {f.rule_id for f in ImageConfigCheck().run(CheckContext(cfg))} == expected


def test_exposed_ssh_port() -> None:
    cfg = image_config(user="app", healthcheck=["CMD", "true"], ports=["22/tcp", "8080/tcp"])
    assert {f.rule_id for f in ImageConfigCheck().run(CheckContext(cfg))} == {"baseline-config-exposes-ssh"}
