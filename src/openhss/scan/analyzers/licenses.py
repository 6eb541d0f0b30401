"""License strings from package metadata → SPDX expressions.

Package managers spell licenses every which way: Debian uses its own short names (`GPL-2+`, `Expat`),
rpm spells Fedora's (`GPLv2+`, `ASL 2.0`), apk and PyPI mostly SPDX. Policies and the SBOM outputs need
SPDX, so every analyzer funnels its license text through `normalize`. The `license-expression` library
knows the SPDX list, its case rules and its deprecated `+` forms; this module only adds the distro
dialects it does not know. Anything still unknown becomes a `LicenseRef-` so the expression stays valid
SPDX and the original wording is not lost.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from license_expression import Licensing

#: Distro short names (Debian DEP-5, Fedora's legacy names) that are not SPDX ids or aliases.
_ALIASES: dict[str, str] = {
    "expat": "MIT",
    "mit/x11": "MIT",
    "x11": "X11",
    "asl 2.0": "Apache-2.0",
    "asl-2.0": "Apache-2.0",
    "apache2": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "psf": "PSF-2.0",
    "python": "PSF-2.0",
    "zlib": "Zlib",
    "bsd-3": "BSD-3-Clause",
    "bsd-2": "BSD-2-Clause",
    "isc": "ISC",
    "public-domain": "LicenseRef-public-domain",
    "public domain": "LicenseRef-public-domain",
    "artistic": "Artistic-1.0-Perl",
    "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "openssl": "OpenSSL",
    "boost": "BSL-1.0",
    "mpl": "MPL-1.1",
    "gpl": "GPL-1.0-or-later",
    "lgpl": "LGPL-2.0-or-later",
}

#: `GPL-2+`, `GPLv2+`, `LGPL-2.1`, `GFDL-1.3+`, `AGPLv3`: family, version, plus.
_VERSIONED = re.compile(
    r"^(a?gpl|lgpl|gfdl|mpl|apache|artistic|cc-by(?:-sa)?)[-_ ]?v?(\d+(?:\.\d+)?)(\+)?$", re.I
)
_FAMILY = {
    "gpl": "GPL",
    "agpl": "AGPL",
    "lgpl": "LGPL",
    "gfdl": "GFDL",
    "mpl": "MPL",
    "apache": "Apache",
    "artistic": "Artistic",
    "cc-by": "CC-BY",
    "cc-by-sa": "CC-BY-SA",
}
# Families whose SPDX ids carry -only/-or-later; the others take the bare version.
_ONLY_OR_LATER = {"GPL", "AGPL", "LGPL", "GFDL"}
_LGPL2_MINOR = {"LGPL": {"2": "2.0"}}
_REF_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_OPERATORS = re.compile(r"\s*(?<![\w.+-])(and|or|with)(?![\w.+-])\s*|\s*([(),|&])\s*", re.I)


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    # Imported here: a cached rescan reaches this module (restamp → dpkg) but never normalises.
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def _symbol(token: str) -> str:
    """One license name → an SPDX id (or LicenseRef)."""
    raw = token.strip().strip(".;:")
    if not raw:
        return ""
    low = raw.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    m = _VERSIONED.match(raw)
    if m:
        family = _FAMILY[m.group(1).lower()]
        version = m.group(2)
        version = _LGPL2_MINOR.get(family, {}).get(version, version)
        if "." not in version:
            version += ".0"
        if family in _ONLY_OR_LATER:
            return f"{family}-{version}-{'or-later' if m.group(3) else 'only'}"
        return f"{family}-{version}"
    known = _licensing().known_symbols.get(raw) or _licensing().known_symbols_lowercase.get(low)
    if known is not None:
        return str(known.key)
    return "LicenseRef-" + (_REF_UNSAFE.sub("-", raw).strip("-") or "unknown")


def _tokens(text: str) -> list[str]:
    """Split on boolean operators and parentheses, keeping them; `,` and `|` mean OR, `&` means AND."""
    out: list[str] = []
    pos = 0
    for m in _OPERATORS.finditer(text):
        out.append(text[pos : m.start()])
        op = (m.group(1) or m.group(2)).lower()
        out.append({",": "or", "|": "or", "&": "and"}.get(op, op))
        pos = m.end()
    out.append(text[pos:])
    return [t for t in (s.strip() for s in out) if t]


# Pure in `text`, and the same few hundred strings ("GPL-2+", "MIT", a copyright file's License: lines)
# recur across an image's thousands of packages: parsing each again was ~5% of a cold fat-image scan.
@lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """A license string as found in metadata → an SPDX expression; "" when there is nothing to say."""
    text = " ".join(text.split())
    if not text or text.lower() in {"unknown", "none", "noassertion", "see license", "other"}:
        return ""
    from license_expression import ExpressionError

    licensing = _licensing()
    try:
        parsed = licensing.parse(text, validate=False, simple=False)
        if parsed is not None and not licensing.unknown_license_keys(parsed):
            return str(parsed.render())
    except ExpressionError:
        pass
    parts: list[str] = []
    for tok in _tokens(text):
        if tok in {"and", "or", "with"}:
            if not parts or parts[-1] == "(":
                continue
            if parts[-1] in {"AND", "OR", "WITH"}:
                parts.pop()  # "GPL-1+ or Artistic, and BSD": the comma yields to the word
            parts.append(tok.upper())
        elif tok in {"(", ")"}:
            parts.append(tok)
        elif parts and parts[-1] == "WITH":
            parts.append(_exception(tok))
        else:
            sym = _symbol(tok)
            if sym:
                parts.append(sym)
    while parts and parts[-1] in {"AND", "OR", "WITH"}:
        parts.pop()
    candidate = " ".join(parts).replace("( ", "(").replace(" )", ")")
    try:
        parsed = licensing.parse(candidate, validate=False, simple=False)
    except ExpressionError:
        return _symbol(text)
    return str(parsed.render()) if parsed is not None else ""


def _exception(token: str) -> str:
    known = _licensing().known_symbols_lowercase.get(token.lower())
    if known is not None:
        return str(known.key)
    return "LicenseRef-" + (_REF_UNSAFE.sub("-", token).strip("-") or "exception")


def normalize_all(texts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Normalise several license strings, dropping empties and duplicates but keeping their order."""
    seen: dict[str, None] = {}
    for t in texts:
        n = normalize(t)
        if n:
            seen.setdefault(n, None)
    return tuple(seen)


# --- Debian copyright files --------------------------------------------------------------------------

_DEP5_LICENSE = re.compile(r"^License:[ \t]*(\S[^\n]*)$", re.M)
_COMMON_LICENSES = re.compile(r"/usr/share/common-licenses/([0-9A-Za-z_.+-]*[0-9A-Za-z+])")
#: Free-text copyright files name their license in prose; the usual Debian boilerplate sentences.
_PROSE = [
    (
        re.compile(
            r"GNU\s+(?:Lesser|Library)\s+General\s+Public\s+License\W{0,80}?version\s+(\d(?:\.\d)?)", re.I
        ),
        "LGPL",
    ),
    (re.compile(r"GNU\s+General\s+Public\s+License\W{0,80}?version\s+(\d(?:\.\d)?)", re.I), "GPL"),
    (re.compile(r"Apache\s+License,?\s+Version\s+(\d\.\d)", re.I), "Apache"),
]
_LATER = re.compile(r"at\s+your\s+option\W+any\s+later\s+version", re.I)


def debian_copyright(text: str) -> tuple[str, ...]:
    """SPDX licenses named by a `usr/share/doc/PKG/copyright` file, in order of appearance."""
    found: list[str] = []
    # DEP-5 `License:` stanzas; older files without a `Format:` header use the same field too.
    for m in _DEP5_LICENSE.finditer(text):
        found.append(m.group(1).strip())
    for m in _COMMON_LICENSES.finditer(text):
        name = m.group(1)
        # `GPL` alone means "any version"; `GPL-2` the exact one; Debian adds `+` in prose, not here.
        if re.search(
            re.escape(m.group(0)) + r"\W{0,3}\s*(?:or|and)\s+(?:any\s+)?later", text[m.start() :][:200]
        ):
            name += "+"
        found.append(name)
    if not found:
        for rx, family in _PROSE:
            pm = rx.search(text)
            if pm:
                version = pm.group(1)
                later = bool(_LATER.search(text, pm.end(), pm.end() + 200))
                found.append(f"{family}-{version}{'+' if later else ''}")
    return normalize_all(found)
