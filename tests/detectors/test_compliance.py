"""Software-compliance policy: licenses as SPDX expressions, denied/outdated/required packages."""

from __future__ import annotations

from openhss.domain.enums import Ecosystem, FindingKind, PackageType
from openhss.domain.models import Package
from openhss.scan.applier import Inventory
from openhss.scan.checks.base import CheckContext
from openhss.scan.checks.compliance import ComplianceCheck, CompliancePolicy, default_policy, evaluate

from .helpers import image_config

POLICY = """
version: 1
denied_licenses:
  - {id: no-agpl, title: AGPL, severity: High, licenses: ["AGPL-*"]}
denied_packages:
  - {id: no-telnetd, names: ["telnetd", "inetutils-telnetd"], types: [deb]}
  - {id: no-old-lodash, names: ["lodash"], types: [npm], versions: ["<4.17.21"]}
outdated_packages:
  - {id: openssl-min, names: ["openssl", "libssl*"], types: [deb], min_version: "3.0.11-1~deb12u2"}
required_packages:
  - {id: need-ca-certificates, names: ["ca-certificates"]}
  - {id: need-tini, names: ["tini"], types: [deb]}
"""


def deb(name: str, version: str, licenses: tuple[str, ...] = ()) -> Package:
    return Package(
        name, version, Ecosystem.DEBIAN, PackageType.DEB, path="var/lib/dpkg/status", licenses=licenses
    )


def npm(name: str, version: str, licenses: tuple[str, ...] = ()) -> Package:
    return Package(
        name,
        version,
        Ecosystem.NPM,
        PackageType.NPM,
        path=f"app/node_modules/{name}/package.json",
        licenses=licenses,
    )


def test_policy_rules() -> None:
    pkgs = [
        npm("ghost-lib", "1.0.0", ("AGPL-3.0-or-later",)),
        npm("dual", "2.0.0", ("MIT OR AGPL-3.0-only",)),
        npm("both", "1.0.0", ("MIT AND AGPL-3.0-only",)),
        npm("lodash", "4.17.20", ("MIT",)),
        npm("lodash-es", "4.17.20", ("MIT",)),
        deb("inetutils-telnetd", "2:2.4-2"),
        deb("openssl", "3.0.11-1~deb12u1"),
        deb("libssl3", "3.0.11-1~deb12u2"),
        deb("ca-certificates", "20230311"),
    ]
    findings = evaluate(CompliancePolicy.from_yaml(POLICY), pkgs)
    got = {(f.rule_id, f.evidence.split(" ")[0]) for f in findings}
    assert got == {
        ("no-agpl", "npm:ghost-lib@1.0.0"),
        ("no-agpl", "npm:both@1.0.0"),
        ("no-old-lodash", "npm:lodash@4.17.20"),
        ("no-telnetd", "deb:inetutils-telnetd@2:2.4-2"),
        ("openssl-min", "deb:openssl@3.0.11-1~deb12u1"),
        ("need-tini", "no"),
    }
    assert all(f.kind is FindingKind.NON_COMPLIANT_APP for f in findings)


def test_default_policy_loads_and_runs_as_check() -> None:
    policy = default_policy()
    assert {r.id for r in policy.denied_licenses} >= {"license-agpl"}
    inv = Inventory(packages=[deb("telnetd", "0.17-44"), npm("x", "1.0.0", ("AGPL-3.0",))])
    found = {f.rule_id for f in ComplianceCheck().run(CheckContext(image_config(), inv))}
    assert found == {"package-remote-shell-daemon", "license-agpl"}
