"""Which files an OS package manager installed, as far as language analyzers care.

A distro that packages `urllib3` (Debian's `python3-urllib3`) patches it and publishes its own verdicts;
PyPI ranges keyed by the upstream version would report CVEs the distro fixed by backport. So a language
package whose evidence file (dist-info/egg-info metadata, `package.json`, a jar, a gemspec, a binary in
a `bin` directory) is listed by dpkg (`info/*.list`, distroless `status.d/*.md5sums`) or apk (`R:` lines)
is marked OS-owned and matched through the distro only.

File lists are long (tens of thousands of paths per image) and almost none of them can be a language
package's evidence, so only paths that can are kept: that keeps layer-cache entries small.
"""

from __future__ import annotations

import re

#: Paths a language analyzer may report a package from (`Package.path`).
_EVIDENCE = re.compile(
    r"""(?x)
    \.(?:dist|egg)-info(?:/|$) | \.egg$          # Python metadata (file or directory)
    | /package\.json$                            # node packages (Debian: usr/share/nodejs/*)
    | \.(?:jar|war|ear)$                         # Java archives
    | \.gemspec$                                 # installed gems
    | \.deps\.json$ | /composer/installed\.json$
    | (?:^|/)(?:s?bin|libexec)/[^/]+$            # executables: Go / Rust binaries
    """
)
#: Top-level directories that merged-/usr systems keep only under `usr/` (dpkg still lists `/bin/x`).
_MERGED = ("bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/")


def evidence_paths(listed: str) -> list[str]:
    """The image-relative spellings of one listed path worth keeping (none when it is not evidence)."""
    path = listed.strip().lstrip("/")
    if not path or path.startswith("..") or "/../" in path or not _EVIDENCE.search(path):
        return []
    if path.startswith(_MERGED):
        return [path, "usr/" + path]
    return [path]
