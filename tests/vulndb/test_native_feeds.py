"""Native advisory repositories (nodejs security-wg npm, rubysec, FriendsOfPHP) imported as they are.

The accuracy tests evaluate every advisory's own constraints independently (node-semver semantics through
`semver.satisfies`; RubyGems and Composer constraints through each scheme's ordering, one comparison at a
time) at versions around every bound, and require the matcher's verdict on the imported records to agree.
"""

from __future__ import annotations

import functools
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openhss.cli_db import db_app
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.domain.version import scheme_for
from openhss.domain.version.semver import satisfies
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.services.vulndb import VulnDbError, VulnDbService
from openhss.vulndb.sources.native_files import load_yaml

NPM_DOC = {
    "id": 104, "module_name": "electron-packager", "cves": ["CVE-2099-1"],
    "vulnerable_versions": ">= 5.2.1 <= 6.0.0 || >=6.0.0 <= 6.0.2 || >7.1.0 <7.2.0",
    "patched_versions": ">= 7.0.0", "cvss_vector": "CVSS:3.0/AV:P/AC:L/PR:L/UI:R/S:U/C:L/I:L/A:N",
    "title": "SSL Validation Defaults to False",
}  # fmt: skip
RUBY_DOC = """---
gem: actionpack
cve: 2099-0002
ghsa: aaaa-bbbb-cccc
patched_versions:
  - "~> 4.2.5, >= 4.2.5.1"
  - ">= 5.0.1"
unaffected_versions:
  - "< 3.0"
  - "<= 3.1"
cvss_v3: 7.5
"""
PHP_DOC = """title: 'XSS'
cve: CVE-2099-0003
branches:
    main:
        versions: ['>=1.16.0', '<1.16.9']
    1.15.x:
        versions: ['>1.7.0', '<=1.15.17']
reference: 'composer://Codingms/Additional-TCA'
"""


def _repo_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def _affected(svc: VulnDbService, eco: Ecosystem, kind: PackageType, name: str, version: str) -> set[str]:
    matcher = VulnerabilityMatcher(svc.open_index())
    return {f.vul_id for f in matcher.match(None, [Package(name, version, eco, kind)]).findings}


def test_npm_rubysec_friendsofphp_fixtures(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    report = svc.import_paths([
        _repo_zip(tmp_path / "security-wg.zip", {
            "security-wg-main/vuln/npm/104.json": json.dumps(NPM_DOC),
            "security-wg-main/vuln/core/1.json": json.dumps({"id": 1, "vulnerable_versions": "*"}),
        }),
        _repo_zip(tmp_path / "ruby-advisory-db.zip", {"gems/actionpack/CVE-2099-0002.yml": RUBY_DOC,
                                                      "rubies/ruby/CVE-2099-9.yml": "engine: ruby\n"}),
    ])  # fmt: skip
    assert report.counts == {"nodejs-security-wg:npm": 1, "rubysec": 1}
    php = tmp_path / "security-advisories" / "codingms" / "additional-tca"
    php.mkdir(parents=True)
    (php / "CVE-2099-0003.yaml").write_text(PHP_DOC)
    assert svc.import_paths([tmp_path / "security-advisories"]).counts == {"friendsofphp": 1}

    npm = {v: _affected(svc, Ecosystem.NPM, PackageType.NPM, "electron-packager", v)
           for v in ("5.2.0", "5.2.1", "6.0.2", "6.0.3", "7.1.0", "7.1.1", "7.2.0")}  # fmt: skip
    assert {v for v, hit in npm.items() if hit} == {"5.2.1", "6.0.2", "7.1.1"}
    assert npm["5.2.1"] == {"CVE-2099-1"}

    gem_versions = ("2.9", "3.1", "3.1.1", "4.2.5", "4.2.5.1", "4.2.9", "4.3", "5.0.0", "5.0.1")
    gem = {v: _affected(svc, Ecosystem.RUBYGEMS, PackageType.GEM, "actionpack", v) for v in gem_versions}
    assert {v for v, hit in gem.items() if hit} == {"3.1.1", "4.2.5", "4.3", "5.0.0"}

    php_hits = {v: _affected(svc, Ecosystem.PACKAGIST, PackageType.COMPOSER, "codingms/additional-tca", v)
                for v in ("1.7.0", "1.7.1", "1.15.17", "1.15.18", "1.16.0", "1.16.9")}  # fmt: skip
    assert {v for v, hit in php_hits.items() if hit} == {"1.7.1", "1.15.17", "1.16.0"}


def test_empty_inputs_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = VulnDbService(tmp_path / "db")
    empty = tmp_path / "empty" / "nested"
    empty.mkdir(parents=True)
    (empty / "README.md").write_text("no advisories here\n")
    core_only = _repo_zip(tmp_path / "core.zip", {"vuln/core/1.json": json.dumps({"id": 1})})
    # the shape of a FriendsOfPHP tree, but PyPA's YAML: not taken for Packagist advisories
    pypa = tmp_path / "advisory-database" / "vulns" / "jinja2"
    pypa.mkdir(parents=True)
    (pypa / "PYSEC-2019-217.yaml").write_text("id: PYSEC-2019-217\naffected: []\n")
    for path in (tmp_path / "empty", core_only, tmp_path / "advisory-database"):
        with pytest.raises(VulnDbError, match="no osv records"):
            svc.import_paths([path])
    assert not svc.store.exists() and svc.status().sources == []

    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path / "data"))
    res = CliRunner().invoke(db_app, ["import", "--no-rematch", str(tmp_path / "empty")])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "searched recursively" in res.output


# ---- the real repositories ----------------------------------------------------------------------------

_GEM_OP = re.compile(r"^\s*(~>|>=|<=|!=|=|>|<)?\s*(\S+)\s*$")


def _req_holds(cmp: Callable[[str, str], int], text: str, version: str) -> bool:
    """One RubyGems/Composer comparison evaluated directly (the independent reference)."""
    m = _GEM_OP.match(text)
    assert m, text
    op, bound = m.group(1) or "=", m.group(2)
    c = cmp(version, bound)
    if op == "~>":  # Gem::Version#bump: release segments only, drop the last, increment
        parts = re.split(r"[.]?[A-Za-z]", bound, maxsplit=1)[0].split(".")
        parts = parts[:-1] if len(parts) > 1 else parts
        upper = ".".join([*parts[:-1], str(int(parts[-1]) + 1)])
        return c >= 0 and cmp(version, upper) < 0
    return {"=": c == 0, "!=": c != 0, ">": c > 0, ">=": c >= 0, "<": c < 0, "<=": c <= 0}[op]


def _candidates(bounds: list[str], extra: Callable[[str], list[str]]) -> list[str]:
    out = {"0.0.1"}
    for b in bounds:
        out.update([b, *extra(b)])
    return sorted(out)


def _numeric_neighbours(v: str) -> list[str]:
    parts = v.split(".")
    if not all(p.isdigit() for p in parts):
        return []
    up = [*parts[:-1], str(int(parts[-1]) + 1)]
    down = [*parts[:-1], str(int(parts[-1]) - 1)] if int(parts[-1]) > 0 else [*parts, "0"]
    return [".".join(up), ".".join(down), f"{v}.1"]


def _satisfied_by(expr: str, version: str) -> bool:
    return satisfies(version, expr)


def _semver_neighbours(v: str) -> list[str]:
    major, minor, patch = (int(x) for x in v.split("-")[0].split("."))
    return [f"{major}.{minor}.{patch + 1}", f"{major}.{minor + 1}.0", f"{major}.{minor}.{max(patch - 1, 0)}"]


def _check(svc: VulnDbService, eco: Ecosystem, kind: PackageType,
           cases: list[tuple[str, str, list[str], Callable[[str], bool]]]) -> int:  # fmt: skip
    matcher = VulnerabilityMatcher(svc.open_index())
    wrong: list[tuple[str, str, bool]] = []
    checked = 0
    for name, vid, versions, reference in cases:
        for v in versions:
            got = any(
                vid == f.vul_id or vid in f.aliases
                for f in matcher.match(None, [Package(name, v, eco, kind)]).findings
            )
            checked += 1
            if got != reference(v):
                wrong.append((vid, v, got))
    assert wrong == []
    return checked


@pytest.mark.slow
def test_real_repositories_agree_with_their_own_constraints(shared_dir: Path, tmp_path: Path) -> None:
    native = shared_dir / "data" / "native"
    svc = VulnDbService(tmp_path / "db")
    report = svc.import_paths([native / "npm-nodejs-security-wg.zip", native / "RubyGems-rubysec.zip",
                               native / "Packagist-FriendsOfPHP.zip"])  # fmt: skip
    feeds = ("nodejs-security-wg:npm", "rubysec", "friendsofphp")
    counts = {name: report.counts[name] or 0 for name in feeds}
    assert counts["nodejs-security-wg:npm"] >= 460  # 468 npm advisories, a few with no range
    assert counts["rubysec"] >= 1200 and counts["friendsofphp"] >= 1500

    npm_cases: list[tuple[str, str, list[str], Callable[[str], bool]]] = []
    gem_cases: list[tuple[str, str, list[str], Callable[[str], bool]]] = []
    gem_cmp = scheme_for(Ecosystem.RUBYGEMS).compare
    with zipfile.ZipFile(native / "npm-nodejs-security-wg.zip") as zf:
        for n in zf.namelist():
            if not re.search(r"vuln/npm/\d+\.json$", n):
                continue
            doc: dict[str, Any] = json.loads(zf.read(n))
            expr = str(doc.get("vulnerable_versions") or "")
            bounds = re.findall(r"\d+\.\d+\.\d+(?:-[\w.]+)?", expr)
            if not doc.get("module_name") or not bounds:
                continue
            versions = _candidates(bounds, _semver_neighbours)
            npm_cases.append((doc["module_name"], f"NSWG-ECO-{doc['id']}", versions,
                              functools.partial(_satisfied_by, expr)))  # fmt: skip
    with zipfile.ZipFile(native / "RubyGems-rubysec.zip") as zf:
        for n in zf.namelist():
            if not n.startswith("gems/"):
                continue
            d = load_yaml(zf.read(n))
            assert isinstance(d, dict)
            reqs = [str(r) for k in ("patched_versions", "unaffected_versions") for r in d.get(k) or []]
            bounds = re.findall(r"\d+(?:\.\d+)*", " ".join(reqs))
            if not reqs or len(gem_cases) >= 400:
                continue

            def ref(v: str, reqs: list[str] = reqs) -> bool:
                return not any(all(_req_holds(gem_cmp, c, v) for c in r.split(",")) for r in reqs)

            stem = n.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            gem_cases.append((str(d["gem"]), stem, _candidates(bounds, _numeric_neighbours), ref))
    php_cases: list[tuple[str, str, list[str], Callable[[str], bool]]] = []
    php_cmp = scheme_for(Ecosystem.PACKAGIST).compare
    with zipfile.ZipFile(native / "Packagist-FriendsOfPHP.zip") as zf:
        for n in zf.namelist()[::4]:
            d = load_yaml(zf.read(n))
            assert isinstance(d, dict)
            branches = [b.get("versions") or [] for b in (d.get("branches") or {}).values()]
            bounds = re.findall(r"\d+(?:\.\d+)*", " ".join(str(c) for b in branches for c in b))
            cve = str(d.get("cve") or "")
            vid = cve if cve.startswith("CVE-") else "FRIENDSOFPHP-" + n.removesuffix(".yaml")

            def php_ref(v: str, branches: list[list[str]] = branches) -> bool:
                return any(b and all(_req_holds(php_cmp, c, v) for c in b) for b in branches)

            name = str(d["reference"]).removeprefix("composer://").lower()
            php_cases.append((name, vid, _candidates(bounds, _numeric_neighbours), php_ref))
    assert _check(svc, Ecosystem.PACKAGIST, PackageType.COMPOSER, php_cases) > 2000
    assert _check(svc, Ecosystem.NPM, PackageType.NPM, npm_cases) > 2000
    assert _check(svc, Ecosystem.RUBYGEMS, PackageType.GEM, gem_cases) > 2000
