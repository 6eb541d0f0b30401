"""Valid inputs generated here (so the harnesses run without the shared fixtures), one per format.

Each is the smallest structure its parser accepts with a package in it: a mutation then starts from
something that reaches the deep code, not from bytes the first check rejects.
"""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

DPKG_STATUS = (
    b"Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"
    b"Source: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n continued line\n .\n\n"
    b"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\n\n"
    b"Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n"
)
APK_INSTALLED = (
    b"C:Q1abcdefghijklmnopqrstuvwxyz01234=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\nI:622592\n"
    b"T:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Maintainer <m@example.org>\n"
    b"t:1697544512\nc:83b858f83b658bd34eca5d8ad4d145f673ae7e5e\nD:so:libc.musl-x86_64.so.1\n"
    b"F:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1abc=\n\n"
    b"P:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only AND (MIT OR BSD-2-Clause)\no:busybox\n"
)
OS_RELEASE = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
    b"VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nID_LIKE='rhel fedora'\n"
    b'HOME_URL="https://www.debian.org/"\n# comment\nEMPTY=\nESCAPED="a\\"b\\\\c"\n'
)
PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nevil::0:0::/:/bin/sh\n"
SHADOW = b"root:$6$salt$hash:19000:0:99999:7:::\nnopw::19000:0:99999:7:::\nlocked:!:19000::::::\n"
SSHD_CONFIG = b"Port 22\nPermitRootLogin yes\nPasswordAuthentication yes\nMatch User x\n  X11Forwarding yes\n"
SUDOERS = b"root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL) NOPASSWD: ALL\nDefaults !authenticate\n#includedir /x\n"

PACKAGE_JSON = json.dumps(
    {
        "name": "@scope/pkg",
        "version": "1.2.3",
        "license": {"type": "MIT"},
        "licenses": [{"type": "ISC"}],
        "dependencies": {"a": "^1"},
    }
).encode()
PACKAGE_LOCK_V1 = json.dumps(
    {
        "name": "app",
        "lockfileVersion": 1,
        "dependencies": {
            "lodash": {"version": "4.17.4", "dependencies": {"x": {"version": "1.0.0"}}},
            "dev": {"version": "1.0.0", "dev": True},
        },
    }
).encode()
PACKAGE_LOCK_V3 = json.dumps(
    {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app"},
            "node_modules/lodash": {"version": "4.17.4", "license": "MIT"},
            "node_modules/@s/x": {"version": "1.0.0", "dev": True},
            "node_modules/a/node_modules/b": {"version": "2.0.0", "link": True},
        },
    }
).encode()
YARN_V1 = (
    b'# yarn lockfile v1\n\n"lodash@^4.17.4", lodash@4.17.4:\n  version "4.17.4"\n'
    b'  resolved "https://registry.yarnpkg.com/lodash/-/lodash-4.17.4.tgz"\n  dependencies:\n'
    b'    x "^1"\n\n"@scope/a@file:../a":\n  version "0.0.1"\n'
)
YARN_BERRY = (
    b'__metadata:\n  version: 6\n\n"lodash@npm:^4.17.4":\n  version: 4.17.4\n'
    b'  resolution: "lodash@npm:4.17.4"\n'
    b'\n"app@workspace:.":\n  version: 0.0.0-use.local\n'
)
PNPM_V6 = (
    b"lockfileVersion: '6.0'\npackages:\n  /lodash@4.17.4:\n    resolution: {integrity: sha512-x}\n"
    b"    dev: false\n  /@scope/a@1.0.0(react@18.0.0):\n    dev: true\n"
)
PNPM_V5 = (
    b"lockfileVersion: 5.4\npackages:\n  /lodash/4.17.4:\n    dev: false\n  /@s/a/1.0.0_b@2:\n    dev: true\n"
)
METADATA = (
    b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\nLicense: Apache 2.0\n"
    b"Classifier: License :: OSI Approved :: Apache Software License\nLicense-Expression: MIT OR X\n"
    b"Requires-Dist: idna (<2.8,>=2.5)\n\nlong description\n"
)
REQUIREMENTS = (
    b"requests==2.19.1\nDjango == 2.2.0 ; python_version >= '3'\n-r other.txt\n-e git+https://x/y#egg=z\n"
    b"urllib3[secure]==1.24.1 --hash=sha256:abc \\\n  --hash=sha256:def\n# comment\nflask>=1.0\n"
)
POETRY_LOCK = (
    b'[[package]]\nname = "requests"\nversion = "2.19.1"\ncategory = "main"\noptional = false\n\n'
    b'[package.dependencies]\nidna = ">=2.5"\n\n[[package]]\nname = "pytest"\nversion = "7.0"\n'
    b'category = "dev"\n\n[metadata]\nlock-version = "1.1"\n'
)
PIPFILE_LOCK = json.dumps(
    {
        "_meta": {"hash": {"sha256": "x"}},
        "default": {"requests": {"version": "==2.19.1"}},
        "develop": {"pytest": {"version": "==7.0"}},
    }
).encode()
UV_LOCK = (
    b'version = 1\n[[package]]\nname = "idna"\nversion = "2.7"\n'
    b'source = { registry = "https://pypi.org/simple" }\n'
)
GEMFILE_LOCK = (
    b"GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.0.1)\n    rails (5.2.0)\n"
    b"      rack (>= 2.0)\n    nokogiri (1.10.0-x86_64-linux)\n\nPLATFORMS\n  ruby\n\n"
    b"DEPENDENCIES\n  rails\n\n"
    b"BUNDLED WITH\n   2.1.4\n"
)
GEMSPEC = (
    b'# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = "rack".freeze\n'
    b'  s.version = "2.0.1"\n  s.licenses = ["MIT".freeze]\nend\n'
)
COMPOSER_LOCK = json.dumps(
    {
        "packages": [{"name": "symfony/http-foundation", "version": "v4.2.0", "license": ["MIT"]}],
        "packages-dev": [{"name": "phpunit/phpunit", "version": "8.0.0"}],
    }
).encode()
COMPOSER_INSTALLED = json.dumps(
    {"packages": [{"name": "guzzlehttp/guzzle", "version": "6.3.0", "version_normalized": "6.3.0.0"}]}
).encode()
DEPS_JSON = json.dumps(
    {
        "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0"},
        "libraries": {
            "Newtonsoft.Json/12.0.1": {"type": "package", "serviceable": True},
            "app/1.0.0": {"type": "project"},
        },
    }
).encode()
PACKAGES_LOCK_JSON = json.dumps(
    {"version": 1, "dependencies": {"net6.0": {"Newtonsoft.Json": {"type": "Direct", "resolved": "12.0.1"}}}}
).encode()
CARGO_LOCK = (
    b'version = 3\n\n[[package]]\nname = "smallvec"\nversion = "1.6.0"\n'
    b'source = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "abc"\n\n'
    b'[[package]]\nname = "app"\nversion = "0.1.0"\ndependencies = ["smallvec"]\n'
)
OSV = json.dumps(
    {
        "id": "GHSA-xxxx-yyyy-zzzz",
        "modified": "2024-01-01T00:00:00Z",
        "published": "2023-01-01T00:00:00Z",
        "aliases": ["CVE-2023-0001"],
        "summary": "s",
        "details": "d",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Requests"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
                "versions": ["2.19.1"],
                "database_specific": {"severity": "HIGH"},
            },
            {
                "package": {"ecosystem": "Debian:12", "name": "python3-requests"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.28.1-1"}]}],
            },
        ],
        "references": [{"type": "WEB", "url": "https://example.org"}],
    }
).encode()


POM = b"groupId=%(g)s\nartifactId=%(a)s\nversion=%(v)s\n"


def pom_jar(nested: bool = True) -> bytes:
    """A jar with Maven metadata, a manifest, and (optionally) a nested jar inside it."""

    def jar(members: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return buf.getvalue()

    inner = jar(
        {
            "META-INF/maven/org.inner/inner/pom.properties": POM
            % {b"g": b"org.inner", b"a": b"inner", b"v": b"2.0"}
        }
    )
    members = {
        "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nImplementation-Title: outer\n"
        b"Implementation-Version: 1.0\n"
        b"Implementation-Vendor-Id: org.outer\n",
        "META-INF/maven/org.outer/outer/pom.properties": POM
        % {b"g": b"org.outer", b"a": b"outer", b"v": b"1.0"},
        "META-INF/maven/org.outer/outer/pom.xml": b"<project><licenses><license><name>MIT</name>"
        b"</license></licenses></project>",
    }
    if nested:
        members["BOOT-INF/lib/inner-2.0.jar"] = inner
    return jar(members)


# --- executables --------------------------------------------------------------------------------


def elf(sections: dict[str, bytes], pad_to: int = 70 * 1024) -> bytes:
    """A minimal little-endian ELF64 with the named sections and one PT_LOAD segment over them."""
    names = b"\x00" + b"".join(n.encode() + b"\x00" for n in [*sections, ".shstrtab"])
    body = bytearray()
    placed: list[tuple[int, int, int]] = []  # (name offset, file offset, size)
    data_start = 64 + 56
    for name, blob in [*sections.items(), (".shstrtab", names)]:
        while (data_start + len(body)) % 16:
            body.append(0)
        placed.append((names.index(name.encode() + b"\x00"), data_start + len(body), len(blob)))
        body += blob
    shoff = data_start + len(body)
    shoff += -shoff % 8
    body += bytes(shoff - data_start - len(body))
    vaddr = 0x400000
    sh = bytes(64)  # the null section
    for name_off, off, size in placed:
        sh += struct.pack("<IIQQQQIIQQ", name_off, 1, 2, vaddr + off, off, size, 0, 0, 16, 0)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, vaddr, 64, shoff, 0, 64, 56, 1, 64, len(placed) + 1, len(placed)
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, vaddr, vaddr, shoff, shoff, 0x1000)
    out = ident + header + phdr + bytes(body) + sh
    return out + bytes(max(0, pad_to - len(out)))


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def go_binary() -> bytes:
    sentinel = bytes(range(16))
    modinfo = (
        "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
        "dep\tgolang.org/x/net\tv0.0.0-20200202094626-16171245cfb2\th1:x\n"
        "dep\tgithub.com/a/b\tv1.2.3\n=>\tgithub.com/c/d\tv1.3.0\th1:y\nbuild\tGOOS=linux\n"
    )
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    version = b"go1.21.0"
    mod = sentinel + modinfo.encode() + sentinel
    blob += _uvarint(len(version)) + version + _uvarint(len(mod)) + mod
    return elf({".go.buildinfo": blob, ".text": b"\x90" * 64})


def rust_binary() -> bytes:
    deps = {
        "packages": [
            {
                "name": "app",
                "version": "0.1.0",
                "source": "local",
                "kind": "runtime",
                "root": True,
                "dependencies": [1],
            },
            {"name": "smallvec", "version": "1.6.0", "source": "crates.io"},
        ]
    }
    return elf({".dep-v0": zlib.compress(json.dumps(deps).encode()), ".text": b"\x90" * 64}, pad_to=20 * 1024)


# --- rpm ----------------------------------------------------------------------------------------


def rpm_header(
    name: str = "bash", version: str = "5.1.8", release: str = "6.el9", epoch: int | None = 1
) -> bytes:
    """An rpm header blob (the format every rpmdb backend stores) with the tags the reader wants."""
    strings = {
        1000: name,
        1001: version,
        1002: release,
        1022: "x86_64",
        1014: "GPLv3+",
        1044: f"{name}-{version}-{release}.src.rpm",
        1004: "shell",
        1011: "Vendor",
    }
    entries, data = [], bytearray()
    for tag, value in strings.items():
        entries.append(struct.pack(">iIiI", tag, 6, len(data), 1))
        data += value.encode() + b"\x00"
    if epoch is not None:
        data += bytes(-len(data) % 4)
        entries.append(struct.pack(">iIiI", 1003, 4, len(data), 1))
        data += struct.pack(">I", epoch)
    return struct.pack(">II", len(entries), len(data)) + b"".join(entries) + bytes(data)


def rpm_sqlite(blobs: list[bytes]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
        conn.commit()
        conn.close()
        return path.read_bytes()


def rpm_ndb(blobs: list[bytes]) -> bytes:
    """SUSE's Packages.db: header, one slot page, blobs at 16-byte block offsets."""
    page = 4096
    out = bytearray(page)
    struct.pack_into("<IIII", out, 0, int.from_bytes(b"RpmP", "little"), 0, 1, 1)
    slots = bytearray()
    for i, blob in enumerate(blobs, 1):
        off = len(out)
        slots += struct.pack("<IIII", int.from_bytes(b"Slot", "little"), i, off // 16, 0)
        out += struct.pack("<IIII", int.from_bytes(b"BlbS", "little"), i, 0, len(blob)) + blob
        out += bytes(-len(out) % 16)
    slots += struct.pack("<IIII", int.from_bytes(b"Slot", "little"), 0, 0, 0) * (
        (page - 32 - len(slots)) // 16
    )
    out[32 : 32 + len(slots)] = slots
    return bytes(out)
