"""Helpers every language analyzer shares: building a `Package` with its purl, and bounded reads.

Lockfiles and manifests come from hostile images, so every reader caps what it loads and every parser
turns malformed input into a `ValueError` the walker reports as a skip, never a crash.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import yaml
from packageurl import PackageURL

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.licenses import normalize_all

#: Manifests and lockfiles beyond this size are not real ones; the walker reports them as skipped.
LOCKFILE_MAX = 32 * 1024 * 1024


# Long license names that package metadata spells out (trove classifiers, Maven/Jenkins manifests,
# pom `<name>`s). The generic SPDX normaliser would split "Apache License, Version 2.0" at the comma,
# so the names that are unambiguous are mapped here first; anything else goes through unchanged.
_LICENSE_NAMES = {
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit license (mit)": "MIT",
    "apache license, version 2.0": "Apache-2.0",
    "the apache license, version 2.0": "Apache-2.0",
    "the apache software license, version 2.0": "Apache-2.0",
    "apache software license, version 2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "eclipse public license v2.0": "EPL-2.0",
    "eclipse public license 2.0": "EPL-2.0",
    "eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
    "eclipse public license - v 2.0": "EPL-2.0",
    "eclipse public license - v 1.0": "EPL-1.0",
    "eclipse public license 1.0": "EPL-1.0",
    "eclipse public license 1.0 (epl-1.0)": "EPL-1.0",
    "mozilla public license 1.1 (mpl 1.1)": "MPL-1.1",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only",
    "gnu affero general public license v3 or later (agplv3+)": "AGPL-3.0-or-later",
    "python software foundation license": "PSF-2.0",
    "isc license (iscl)": "ISC",
    "the unlicense (unlicense)": "Unlicense",
    "zero-clause bsd (0bsd)": "0BSD",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "universal permissive license (upl)": "UPL-1.0",
    "common development and distribution license 1.0 (cddl-1.0)": "CDDL-1.0",
}


def license_names(values: Iterable[object]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            out.append(_LICENSE_NAMES.get(text.lower(), text))
    return out


def make_package(
    name: str,
    version: str,
    ecosystem: Ecosystem,
    ptype: PackageType,
    path: str,
    purl_type: str,
    *,
    namespace: str | None = None,
    purl_name: str | None = None,
    licenses: Iterable[str] = (),
    qualifiers: Mapping[str, str] | None = None,
) -> Package:
    purl = PackageURL(
        type=purl_type,
        namespace=namespace or None,
        name=purl_name or name,
        version=version or None,
        qualifiers=dict(qualifiers) if qualifiers else None,
    ).to_string()
    return Package(
        name=name,
        version=version,
        ecosystem=ecosystem,
        type=ptype,
        purl=purl,
        path=path,
        licenses=normalize_all(license_names(licenses)),
    )


def read_text(content: BinaryIO, limit: int = LOCKFILE_MAX) -> str:
    """Decode a text manifest; BOMs (UTF-8/16, as Windows tools write them) are honoured."""
    data = content.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig", errors="replace")


def read_json(content: BinaryIO, limit: int = LOCKFILE_MAX) -> Any:
    text = read_text(content, limit)
    try:
        return json.loads(text)
    except RecursionError as exc:  # `[[[[...` a million deep: hostile, and not a ValueError
        raise ValueError("JSON nested too deeply") from exc


def load_toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ValueError("TOML nested too deeply") from exc


#: libyaml's C loader recurses on the C stack while constructing nested collections: a few hundred
#: thousand `[` crash the process (SIGSEGV), which no `except` can catch. Real lockfiles nest a handful
#: of levels, so text nested beyond these limits is refused before it reaches the parser.
YAML_MAX_DEPTH = 256
YAML_MAX_INDENT = 1024
_YAML_TOKENS = re.compile(r"""[\[\]{}]|'[^'\n]*'|"(?:[^"\\\n]|\\.)*"|\n( *)""")
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_yaml_nesting(text: str) -> None:
    depth = 0
    for m in _YAML_TOKENS.finditer(text):
        tok = m.group(0)
        if tok in ("[", "{"):
            depth += 1
            if depth > YAML_MAX_DEPTH:
                raise ValueError(f"YAML flow collections nested deeper than {YAML_MAX_DEPTH}")
        elif tok in ("]", "}"):
            depth = max(0, depth - 1)
        elif m.group(1) is not None and len(m.group(1)) > YAML_MAX_INDENT:
            raise ValueError(f"YAML indented deeper than {YAML_MAX_INDENT} columns")


def load_yaml_all(text: str) -> Iterator[Any]:
    """Every document of a YAML stream, with the safe loader (C when available), nesting bounded."""
    _check_yaml_nesting(text)
    try:
        yield from yaml.load_all(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ValueError("YAML nested too deeply") from exc


#: Directories that hold *other installed packages*: a lockfile in one of them is a development file
#: that package shipped (gems and npm tarballs routinely carry their own `Gemfile.lock`/
#: `package-lock.json`), evidence of nothing installed. Measured on real images: 148 npm and 27 gem
#: phantom packages per image came from lockfiles inside installed gems.
_PACKAGE_DIRS = re.compile(
    r"""(?x)
    (?:^|/)(?:
        node_modules/                              # npm packages
      | gems/[^/]+-\d[^/]*/ | bundler/gems/       # installed gems (release and git checkouts)
      | (?:site|dist)-packages/[^/]+/              # Python packages (a package's own directory)
      | usr/share/(?:nodejs|javascript|rubygems-integration|doc|gocode)/ | usr/lib/nodejs/
      | usr/lib/ruby/vendor_ruby/ | usr/share/ruby-[^/]+/
      | pkg/mod/                                   # Go module cache
      | \.cargo/registry/ | \.cargo/git/          # cargo sources
      | vendor/[^/]+/[^/]+/                        # composer packages (vendor/VENDOR/NAME/)
      | \.nuget/packages/
    )"""
)


def inside_installed_package(path: str) -> bool:
    """Whether a lockfile lies inside another installed package's directory (never the image's own
    application): such lockfiles describe that package's development, not what the image installed."""
    return _PACKAGE_DIRS.search(path) is not None


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def dirname(path: str) -> str:
    return posixpath.dirname(path)


def dedupe(packages: Iterable[Package]) -> list[Package]:
    """Lockfiles often list one package several times (several dependants); report it once per file."""
    seen: dict[tuple[str, str, str], Package] = {}
    for p in packages:
        seen.setdefault((p.name, p.version, p.path), p)
    return list(seen.values())


def as_str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
