"""Ground truth: our inventory against the package managers' and toolchains' own answers.

* Python: real wheels installed with `pip install --no-deps --target` → our set == the distributions
  `importlib.metadata` finds there;
* Node: `npm install --ignore-scripts` of real packages → our set from `node_modules` == `npm ls --all
  --json`, and our set from the `package-lock.json` alone == the same;
* Go: binaries built here with Debian's Go from a vendored module graph (with a replacement), for
  Linux, Windows and macOS, and the Go programs Debian ships (`/usr/bin/skopeo`…) → our modules ==
  `go version -m`;
* Java: every jar Debian ships in `/usr/share/java` → our coordinates == the `pom.properties` that
  Info-ZIP's `unzip` extracts, also when the jars are nested in a war;
* Rust: a `.dep-v0` section added to a real ELF with binutils' `objcopy`, as `cargo auditable` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
import zlib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from openhss.domain.enums import Ecosystem, PackageType

from .cache import cached_dir
from .helpers import scan_files, tree_files

SITE = "usr/local/lib/python3.9/site-packages"
PY_SPECS = ["requests==2.19.1", "urllib3==1.24.1", "Django==2.2.0", "PyYAML==5.4.1", "Jinja2==2.10"]
NPM_SPECS = ["lodash@4.17.4", "minimist@1.2.0", "handlebars@4.0.11"]


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- Python -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site_packages() -> Path:
    def build(dest: Path) -> None:
        # Wheels only (PyYAML 5.3 had no Linux wheel, hence 5.4.1): nothing from a package is run.
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(dest)]
        cmd += ["--only-binary=:all:", "--python-version", "3.9", "--implementation", "cp"]
        cmd += ["--platform", "manylinux2014_x86_64", "--disable-pip-version-check", *PY_SPECS]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode:
            pytest.skip(f"pip could not fetch the wheels (PyPI unreachable?): {proc.stderr[-500:]}")

    return cached_dir("pip-target", "|".join(PY_SPECS), build)


def test_python_equals_dist_info(site_packages: Path) -> None:
    truth = {
        (_pep503(d.metadata["Name"]), d.version) for d in metadata.distributions(path=[str(site_packages)])
    }
    packages, skipped = scan_files(tree_files(site_packages, SITE))
    ours = {(p.name, p.version) for p in packages}
    assert len(truth) == len(PY_SPECS)
    assert ours == truth
    assert not skipped
    for p in packages:
        assert p.ecosystem is Ecosystem.PYPI and p.type is PackageType.PYTHON
        assert p.purl == f"pkg:pypi/{p.name}@{p.version}"
        assert p.path.startswith(SITE) and p.path.endswith("/METADATA")
    by_name = {p.name: p for p in packages}
    assert by_name["requests"].licenses == ("Apache-2.0",)
    assert by_name["urllib3"].licenses == ("MIT",)
    assert by_name["django"].licenses  # "License: BSD": which BSD is not said, but it is said


def test_python_lockfile_ignored_beside_installed_metadata(site_packages: Path) -> None:
    files = tree_files(site_packages, SITE)
    files.append(("app/requirements.txt", b"flask==2.0.0\nrequests==2.19.1\n", 0o644))
    packages, _ = scan_files(files)
    assert "flask" not in {p.name for p in packages}
    alone, _ = scan_files([("app/requirements.txt", b"flask==2.0.0\nrequests>=2\n", 0o644)])
    assert [(p.name, p.version, p.path) for p in alone] == [("flask", "2.0.0", "app/requirements.txt")]


# --- Node ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def npm_project() -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")

    def build(dest: Path) -> None:
        (dest / "package.json").write_text(json.dumps({"name": "gt", "version": "1.0.0", "private": True}))
        cmd = [
            "npm",
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            *NPM_SPECS,
        ]
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=300)
        if proc.returncode:
            pytest.skip(f"npm install failed (registry unreachable?): {proc.stderr[-500:]}")

    return cached_dir("npm-install", "|".join(NPM_SPECS), build)


def _npm_ls(project: Path) -> set[tuple[str, str]]:
    proc = subprocess.run(
        ["npm", "ls", "--all", "--json"], cwd=project, capture_output=True, text=True, timeout=120
    )
    doc: dict[str, Any] = json.loads(proc.stdout)
    out: set[tuple[str, str]] = set()
    stack = [doc.get("dependencies", {})]
    while stack:
        for name, dep in stack.pop().items():
            out.add((name, dep["version"]))
            stack.append(dep.get("dependencies", {}))
    return out


def test_node_modules_equals_npm_ls(npm_project: Path) -> None:
    truth = _npm_ls(npm_project)
    files = tree_files(npm_project, "app")
    packages, _ = scan_files(files)
    ours = {(p.name, p.version) for p in packages}
    assert len(truth) >= 8
    assert ours == truth
    # The lockfile of a project whose node_modules is in the layer adds nothing.
    assert all("/node_modules/" in p.path for p in packages)
    lodash = next(p for p in packages if p.name == "lodash")
    assert lodash.purl == "pkg:npm/lodash@4.17.4" and lodash.licenses == ("MIT",)


def test_package_lock_alone_equals_npm_ls(npm_project: Path) -> None:
    truth = _npm_ls(npm_project)
    packages, _ = scan_files([("app/package-lock.json", npm_project / "package-lock.json", 0o644)])
    assert {(p.name, p.version) for p in packages} == truth


# --- Go -----------------------------------------------------------------------------------------------

GO_MOD = """module example.com/app

go 1.19

require (
\texample.com/lib v1.2.3
\tgithub.com/acme/orig v0.4.0
)

replace github.com/acme/orig v0.4.0 => github.com/acme/fork v0.4.1
"""
GO_MAIN = """package main

import (
\t"fmt"

\t"example.com/lib"
\t"github.com/acme/orig"
)

func main() { fmt.Println(lib.Hello(), orig.Name) }
"""
GO_MODULES_TXT = """# example.com/lib v1.2.3
## explicit
example.com/lib
# github.com/acme/orig v0.4.0 => github.com/acme/fork v0.4.1
## explicit
github.com/acme/orig
# github.com/acme/orig v0.4.0 => github.com/acme/fork v0.4.1
"""
GO_TARGETS = {
    "app-linux": ("linux", "amd64"),
    "app.exe": ("windows", "amd64"),
    "app-darwin": ("darwin", "arm64"),
}
DEBIAN_GO_PROGRAMS = ["/usr/bin/skopeo", "/usr/bin/podman", "/usr/sbin/runc", "/usr/bin/containerd"]


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go toolchain absent: install Debian's golang-go for the Go ground truth")
    return go


@pytest.fixture(scope="module")
def go_binaries() -> Path:
    go = _go()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout

    def build(dest: Path) -> None:
        src = dest / "src"
        (src / "vendor/example.com/lib").mkdir(parents=True)
        (src / "vendor/github.com/acme/orig").mkdir(parents=True)
        (src / "go.mod").write_text(GO_MOD)
        (src / "main.go").write_text(GO_MAIN)
        (src / "vendor/modules.txt").write_text(GO_MODULES_TXT)
        (src / "vendor/example.com/lib/lib.go").write_text(
            'package lib\n\nfunc Hello() string { return "hi" }\n'
        )
        (src / "vendor/github.com/acme/orig/orig.go").write_text('package orig\n\nconst Name = "fork"\n')
        for out, (goos, goarch) in GO_TARGETS.items():
            env = {
                **os.environ,
                "GOOS": goos,
                "GOARCH": goarch,
                "GOFLAGS": "-mod=vendor",
                "GOPROXY": "off",
                "CGO_ENABLED": "0",
                "GOPATH": str(dest / "gopath"),
                "GOCACHE": str(dest / "gocache"),
            }
            subprocess.run(
                [go, "build", "-o", str(dest / out), "."], cwd=src, env=env, check=True, timeout=300
            )
        shutil.rmtree(dest / "gocache", ignore_errors=True)
        shutil.rmtree(dest / "gopath", ignore_errors=True)

    return cached_dir("go-build", version + GO_MOD + GO_MAIN + GO_MODULES_TXT, build)


def _go_version_m(path: Path) -> set[tuple[str, str]]:
    """Go's own reader: `go version -m`, with replacements applied the way the module graph does."""
    out = subprocess.run([_go(), "version", "-m", str(path)], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    go_version = lines[0].split(": ", 1)[1].split()[0]
    modules: list[list[str]] = []
    for line in lines[1:]:
        parts = line.strip("\t").split("\t")
        if parts[0] in ("mod", "dep"):
            modules.append([parts[1], parts[2]])
        elif parts[0] == "=>" and len(parts) > 2 and parts[2]:
            modules[-1] = [parts[1], parts[2]]
    truth = {(m, v) for m, v in modules if v != "(devel)"}
    truth.add(("stdlib", "v" + go_version.removeprefix("go")))
    return truth


@pytest.mark.parametrize("binary", list(GO_TARGETS))
def test_go_binary_equals_go_version_m(go_binaries: Path, binary: str) -> None:
    path = go_binaries / binary
    truth = _go_version_m(path)
    packages, skipped = scan_files([(f"usr/local/bin/{binary}", path, 0o755)])
    ours = {(p.name, p.version) for p in packages}
    assert ours == truth
    assert ("github.com/acme/fork", "v0.4.1") in ours and ("example.com/lib", "v1.2.3") in ours
    assert not skipped
    fork = next(p for p in packages if p.name == "github.com/acme/fork")
    assert fork.purl == "pkg:golang/github.com/acme/fork@v0.4.1" and fork.ecosystem is Ecosystem.GO


def test_debian_go_programs_equal_go_version_m() -> None:
    _go()
    programs = [Path(p) for p in DEBIAN_GO_PROGRAMS if Path(p).is_file()]
    if not programs:
        pytest.skip("no Debian Go program installed (scripts/test-debs.txt lists skopeo)")
    for path in programs:
        packages, _ = scan_files([(f"usr/bin/{path.name}", path, 0o755)])
        assert {(p.name, p.version) for p in packages} == _go_version_m(path), path


def test_non_go_executable_yields_nothing() -> None:
    packages, skipped = scan_files([("usr/bin/python3", Path(sys.executable).resolve(), 0o755)])
    assert packages == [] and skipped == []


# --- Java ---------------------------------------------------------------------------------------------


def _debian_jars() -> list[Path]:
    jars = sorted(p for p in Path("/usr/share/java").glob("*.jar") if p.is_file() and not p.is_symlink())
    if not jars:
        pytest.skip("no jars in /usr/share/java (Debian's maven package installs them)")
    return jars


def _unzip_poms(jar: Path) -> set[tuple[str, str]]:
    """Coordinates from every pom.properties in `jar`, extracted by Info-ZIP's unzip."""
    names = subprocess.run(["unzip", "-Z1", str(jar)], capture_output=True, text=True, check=True).stdout
    out: set[tuple[str, str]] = set()
    for name in names.splitlines():
        if not name.endswith("pom.properties"):
            continue
        text = subprocess.run(["unzip", "-p", str(jar), name], capture_output=True, text=True).stdout
        props = dict(
            (k.strip(), v.strip())
            for k, _, v in (line.partition("=") for line in text.splitlines() if not line.startswith("#"))
        )
        if props.get("groupId") and props.get("artifactId") and props.get("version"):
            out.add((f"{props['groupId']}:{props['artifactId']}", props["version"]))
    return out


def test_debian_jars_equal_their_pom_properties() -> None:
    if shutil.which("unzip") is None:
        pytest.skip("unzip is not installed")
    jars = _debian_jars()
    files = [(f"usr/share/java/{j.name}", j, 0o644) for j in jars]
    packages, skipped = scan_files(files)
    assert not skipped
    checked = 0
    for jar in jars:
        truth = _unzip_poms(jar)
        ours = {(p.name, p.version) for p in packages if p.path == f"usr/share/java/{jar.name}"}
        if truth:
            checked += 1
            assert ours == truth, jar
    assert checked >= 10
    commons = [p for p in packages if p.name == "org.apache.commons:commons-lang3"]
    if commons:
        assert commons[0].purl == f"pkg:maven/org.apache.commons/commons-lang3@{commons[0].version}"
        assert commons[0].ecosystem is Ecosystem.MAVEN and commons[0].type is PackageType.JAR


def test_war_with_nested_debian_jars(tmp_path: Path) -> None:
    jars = [j for j in _debian_jars() if _unzip_poms(j)][:6]
    war = tmp_path / "app.war"
    with zipfile.ZipFile(war, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "META-INF/maven/com.example/app/pom.properties",
            "groupId=com.example\nartifactId=app\nversion=1.0\n",
        )
        for jar in jars:
            zf.write(jar, f"WEB-INF/lib/{jar.name}")
    ear = tmp_path / "app.ear"
    with zipfile.ZipFile(ear, "w", zipfile.ZIP_STORED) as zf:
        zf.write(war, "app.war")
    truth = {("com.example:app", "1.0")}
    for jar in jars:
        truth |= _unzip_poms(jar)
    packages, skipped = scan_files([("opt/app.ear", ear, 0o644)])
    assert {(p.name, p.version) for p in packages} == truth
    assert {p.path for p in packages} == {"opt/app.ear"}
    assert not skipped


# --- Rust ---------------------------------------------------------------------------------------------


def test_cargo_auditable_section(tmp_path: Path) -> None:
    if shutil.which("objcopy") is None:
        pytest.skip("binutils' objcopy is not installed")
    deps = {
        "packages": [
            {"name": "app", "version": "0.1.0", "source": "local", "kind": "runtime", "root": True},
            {"name": "serde", "version": "1.0.193", "source": "crates.io", "kind": "runtime"},
            {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
        ]
    }
    section = tmp_path / "deps.z"
    section.write_bytes(zlib.compress(json.dumps(deps).encode()))
    binary = tmp_path / "app"
    src = Path(shutil.which("ls") or "/bin/ls").resolve()
    subprocess.run(
        ["objcopy", "--add-section", f".dep-v0={section}", str(src), str(binary)],
        check=True,
        capture_output=True,
    )
    packages, skipped = scan_files([("usr/bin/app", binary, 0o755)])
    # The binary's own root crate (`source: local`) was never published: not a crates.io package.
    assert {(p.name, p.version, p.type) for p in packages} == {
        ("serde", "1.0.193", PackageType.RUSTBINARY),
    }
    assert not skipped
    assert next(p for p in packages if p.name == "serde").purl == "pkg:cargo/serde@1.0.193"
