"""Every analyzer module is registered: adding one is a module plus a registry line, and forgetting the
line must fail loudly rather than silently scan less."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import openhss.scan.analyzers as analyzers_pkg
from openhss.scan.analyzers.base import Analyzer
from openhss.scan.analyzers.registry import ANALYZERS


def _all_analyzer_classes() -> set[type[Analyzer]]:
    found: set[type[Analyzer]] = set()
    for info in pkgutil.walk_packages(analyzers_pkg.__path__, analyzers_pkg.__name__ + "."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if not issubclass(obj, Analyzer) or obj is Analyzer or inspect.isabstract(obj):
                continue
            if obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_every_analyzer_class_is_registered() -> None:
    missing = _all_analyzer_classes() - set(ANALYZERS)
    assert not missing, f"not in ANALYZERS: {sorted(c.__qualname__ for c in missing)}"


def test_names_are_unique_and_versions_positive() -> None:
    names = [a.name for a in ANALYZERS]
    assert len(names) == len(set(names))
    assert all(a.version >= 1 for a in ANALYZERS)


def test_registry_lines_match_the_classes() -> None:
    """The registry names scope, name and version without importing; they must be the classes' own."""
    from openhss.scan.analyzers.registry import ENTRIES

    for entry in ENTRIES:
        cls = entry.load()
        assert (entry.scope, entry.name) == (cls.scope, cls.name), entry.target
        if entry.version is not None:
            assert entry.version == cls.version, (
                f"{entry.target} is at version {cls.version}: update its line"
            )


def test_a_vulnerability_scan_does_not_import_the_secret_or_malware_engines() -> None:
    """`--scanners vuln` (and the API process) must not pay for hyperscan, RE2 or YARA at start-up."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from openhss.domain.enums import ScanScope\n"
        "from openhss.scan.pipeline import select_analyzers\n"
        "import openhss.api.app\n"
        "names = [a.name for a in select_analyzers(ScanScope.VULNERABILITY)]\n"
        "heavy = sorted(m for m in ('yara', 'hyperscan', 're2', 'openhss.scan.analyzers.secrets',\n"
        "               'openhss.scan.analyzers.malware') if m in sys.modules)\n"
        "print(len(names), heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, heavy = out.split(" ", 1)
    assert int(count) >= 10 and heavy.strip() == "[]", out


def test_a_fully_cached_rescan_imports_no_analyzer(tmp_path: Path) -> None:
    """Layer cache keys come from the registry's versions, so a warm rescan never imports an analyzer."""
    import subprocess
    import sys

    from tests.scan_sources.builders import LayerSpec, build_oci

    site = "usr/local/lib/python3.11/site-packages/requests-2.19.1.dist-info/METADATA"
    build_oci(
        tmp_path / "img",
        [LayerSpec("x").add_bytes(site, b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n")],
    )
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from openhss.domain.enums import ScanScope\n"
        "from openhss.scan.cache import FileLayerCache\n"
        "from openhss.scan.sources.base import SourceOptions\n"
        "from openhss.scan.refs import parse_ref\n"
        "from openhss.services.scanning import build_pipeline, scan_image\n"
        f"options = build_pipeline(ScanScope(0), cache=FileLayerCache(Path({str(tmp_path / 'cache')!r})))\n"
        f"report = scan_image(parse_ref('oci:{tmp_path / 'img'}:app'), SourceOptions(), options)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('openhss.scan.analyzers.lang'))\n"
        "print([p.name for p in report.packages], loaded)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'openhss.scan.analyzers.lang.python'" in first  # the cold scan read the layer
    assert again.startswith("['requests'] []"), again  # same result, from the cache, with no analyzer loaded
