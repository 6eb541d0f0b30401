"""Hostile inputs: zip bombs, archives nested without end, lying headers, malformed lockfiles.

Each must end as a reported skip (or simply nothing found), never an exception out of the walker, and
memory must stay bounded (checked with tracemalloc, which sees every Python allocation, including
zlib's output buffers).
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from openhss.scan.analyzers.lang.golang import read_buildinfo
from openhss.scan.analyzers.lang.java import ZipLimits, scan_archive
from openhss.scan.analyzers.lang.rust import inflate

from .helpers import scan_files

POM = "groupId=com.example\nartifactId={a}\nversion=1.0\n"
MiB = 1024 * 1024


def _jar(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _bomb(size: int) -> bytes:
    """A jar whose one member inflates to `size` zero bytes (about 1000:1 with deflate)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("inner.jar", "w", force_zip64=True) as w:
            chunk = bytes(MiB)
            for _ in range(size // MiB):
                w.write(chunk)
        zf.writestr("META-INF/maven/com.example/outer/pom.properties", POM.format(a="outer"))
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _bomb(1024 * MiB)


def test_zip_bomb_nested_jar_is_skipped_without_inflating(bomb: bytes) -> None:
    assert len(bomb) < 4 * MiB
    tracemalloc.start()
    try:
        packages, skipped = scan_files([("app/bomb.jar", bomb, 0o644)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(p.name, p.version) for p in packages] == [("com.example:outer", "1.0")]
    assert any("inner.jar" in why and "declares" in why for path, why in skipped if path == "app/bomb.jar")
    assert peak < 64 * MiB


def _lie_about_size(data: bytes, member: str, fake: int) -> bytes:
    """Rewrite the declared uncompressed size of `member` in the local and central headers."""
    out = bytearray(data)
    name = member.encode()
    pos = out.find(b"PK\x03\x04")
    while pos >= 0:
        if out[pos + 30 : pos + 30 + len(name)] == name:
            struct.pack_into("<I", out, pos + 22, fake)
        pos = out.find(b"PK\x03\x04", pos + 4)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        if out[pos + 46 : pos + 46 + len(name)] == name:
            struct.pack_into("<I", out, pos + 24, fake)
        pos = out.find(b"PK\x01\x02", pos + 4)
    return bytes(out)


def test_lying_declared_size_is_not_trusted() -> None:
    inner = _jar({"META-INF/maven/com.example/inner/pom.properties": POM.format(a="inner").encode()})
    big = bytes(200 * MiB)
    outer = _jar({"inner.jar": inner, "lib/blob.jar": big})
    liar = _lie_about_size(outer, "lib/blob.jar", 1000)
    tracemalloc.start()
    try:
        packages, skipped = scan_files([("app/liar.jar", liar, 0o644)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ("com.example:inner", "1.0") in {(p.name, p.version) for p in packages}
    assert any("blob.jar" in why for _, why in skipped)
    assert peak < 64 * MiB


def test_total_inflated_budget_across_members() -> None:
    members = {f"lib/{i}.jar": bytes(3 * MiB) for i in range(6)}
    problems: list[str] = []
    limits = ZipLimits(max_total=8 * MiB)
    scan_archive(io.BytesIO(_jar(members)), "x.jar", limits, problems)
    assert any("inflates beyond" in p for p in problems)


def test_deeply_nested_jars_stop_at_the_depth_limit() -> None:
    data = _jar({"META-INF/maven/g/level9/pom.properties": POM.format(a="level9").encode()})
    for level in range(8, -1, -1):
        data = _jar(
            {
                f"META-INF/maven/g/level{level}/pom.properties": POM.format(a=f"level{level}").encode(),
                f"lib/level{level + 1}.jar": data,
            },
            zipfile.ZIP_STORED,
        )
    packages, skipped = scan_files([("app/deep.jar", data, 0o644)])
    found = {p.name for p in packages}
    assert found == {f"com.example:level{i}" for i in range(ZipLimits().max_depth)}
    assert any("nested deeper" in why for _, why in skipped)


def test_too_many_entries() -> None:
    data = _jar({f"f{i}": b"" for i in range(50)})
    with pytest.raises(ValueError, match="entries"):
        scan_archive(io.BytesIO(data), "x.jar", ZipLimits(max_entries=10))


def test_not_a_zip_is_skipped() -> None:
    packages, skipped = scan_files([("app/fake.jar", b"this is not a zip file", 0o644)])
    assert packages == [] and skipped and "not a zip" in skipped[0][1]


MALFORMED: list[tuple[str, bytes]] = [
    ("app/package-lock.json", b'{"lockfileVersion": 3, "packages": {"node_modules/a": '),
    ("app/package-lock.json", b"[1, 2, 3]"),
    ("app/yarn.lock", b'__metadata:\n  version: 6\n"a@npm:1": [unclosed\n'),
    ("app/pnpm-lock.yaml", b"lockfileVersion: '9.0'\npackages: {a@1.0.0: [\n"),
    ("app/poetry.lock", b"[[package]\nname = 'x'\n"),
    ("app/uv.lock", b"\x00\x01\x02garbage"),
    ("app/Pipfile.lock", b'{"default": '),
    ("app/Cargo.lock", b"[[package]]\nname = \n"),
    ("app/composer.lock", b"42"),
    ("app/vendor/composer/installed.json", b"{not json"),
    ("app/app.deps.json", b'{"libraries": '),
    ("app/packages.lock.json", b'{"version": 1}'),
    ("usr/lib/python3/site-packages/x.egg", b"PK\x03\x04 truncated"),
]


@pytest.mark.parametrize(
    ("path", "data"), MALFORMED, ids=[p + ":" + str(i) for i, (p, _) in enumerate(MALFORMED)]
)
def test_malformed_lockfile_is_a_reported_skip(path: str, data: bytes) -> None:
    packages, skipped = scan_files([(path, data, 0o644)])
    assert packages == []
    assert [p for p, _ in skipped] == [path]


def test_malformed_text_lockfiles_yield_nothing() -> None:
    files = [
        ("app/Gemfile.lock", b"\xff\xfe\x00garbage\nGEM\n  specs:\n    (\n", 0o644),
        ("app/requirements.txt", b"%{{ cookiecutter }}==1\n\x00\x00\n-r other.txt\n", 0o644),
        ("usr/lib/ruby/gems/3.1.0/specifications/x.gemspec", b"eval(File.read('/etc/passwd'))\n", 0o644),
    ]
    packages, skipped = scan_files(files)
    assert packages == [] and skipped == []


def test_oversized_lockfile_is_skipped() -> None:
    from openhss.scan.analyzers.lang import _common

    with pytest.raises(ValueError, match="larger than"):
        _common.read_text(io.BytesIO(b"x" * 101), limit=100)


def _elf_header(shoff: int, shnum: int) -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    rest = struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, shnum, 0)
    return ident + rest


@pytest.mark.parametrize(
    "data",
    [
        _elf_header(shoff=10**12, shnum=5) + bytes(128 * 1024),
        _elf_header(shoff=64, shnum=65535) + bytes(128 * 1024),
        b"\x7fELF" + bytes(70 * 1024),
        b"MZ" + bytes(70 * 1024),
        b"\xcf\xfa\xed\xfe" + b"\xff" * (70 * 1024),
    ],
    ids=["section-table-outside", "huge-section-count", "truncated-elf", "bare-mz", "macho-garbage"],
)
def test_hostile_executable_headers(data: bytes) -> None:
    assert read_buildinfo(io.BytesIO(data), len(data)) is None
    packages, _ = scan_files([("usr/bin/evil", data, 0o755)])
    assert packages == []


def test_go_buildinfo_with_absurd_string_length() -> None:
    # A well-formed ELF is not needed to reach the parser: the segment scan finds the magic.
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\xff\xff\xff\xff\x0f" + b"go1.21"
    with pytest.raises(ValueError):
        from openhss.scan.analyzers.lang.golang import _inline_strings

        _inline_strings(blob + bytes(64), 0)


def test_cargo_auditable_zlib_bomb() -> None:
    bomb = zlib.compress(bytes(64 * MiB), 9)
    with pytest.raises(ValueError, match="inflates beyond"):
        inflate(bomb, limit=MiB)


def test_lockfiles_inside_node_modules_are_not_read(tmp_path: Path) -> None:
    lock = b'{"lockfileVersion": 3, "packages": {"node_modules/x": {"version": "1.0.0"}}}'
    pkg = b'{"name": "dep", "version": "2.0.0"}'
    files = [
        ("app/node_modules/dep/package-lock.json", lock, 0o644),
        ("app/node_modules/dep/package.json", pkg, 0o644),
        (
            "app/node_modules/dep/test/fixtures/package.json",
            b'{"name": "fixture", "version": "9.9.9"}',
            0o644,
        ),
    ]
    packages, _ = scan_files(files)
    assert [(p.name, p.version) for p in packages] == [("dep", "2.0.0")]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("app/pnpm-lock.yaml", b"lockfileVersion: '9.0'\npackages: " + b"[" * 300_000 + b"]" * 300_000),
        ("app/yarn.lock", b"__metadata:\n  version: 6\nx: " + b"{a: " * 100_000 + b"1" + b"}" * 100_000),
        ("app/pnpm-lock.yaml", b"a:\n" + b" " * 5000 + b"b: 1\n"),
        ("app/package-lock.json", b"[" * 300_000 + b"]" * 300_000),
        ("app/poetry.lock", b"a = " + b"[" * 300_000 + b"]" * 300_000),
    ],
    ids=["pnpm-flow", "yarn-berry-flow", "yaml-indent", "json", "toml"],
)
def test_deeply_nested_documents_are_refused_not_crashing(path: str, data: bytes) -> None:
    # libyaml's C loader dies with SIGSEGV on such input: reaching the assertion at all is the test.
    packages, skipped = scan_files([(path, data, 0o644)])
    assert packages == []
    assert [p for p, _ in skipped] == [path]
