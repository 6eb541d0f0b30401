"""VEX statements applied to a fleet, against the whitelist rule as the baseline (same run, same DB).

N images (SQLite in a temp data dir) share packages and a vulnerability. Measured:
- baseline: an HSS whitelist rule over all images for the vulnerability (`whitelists.add`);
- import of one versionless package statement (`pkg:deb/debian/zlib1g`) suppressing it on every image;
- import of the document our own export writes (one image-narrowed product per image), i.e. the
  second-instance side of the export → import round trip;
- the OpenVEX export of N suppressed pairs.

    python bench/vex.py                 # 2,000 images
    python bench/vex.py --images 300
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402

from bench.common import record, table  # noqa: E402

from openhss.config import Settings  # noqa: E402
from openhss.db.engine import transaction  # noqa: E402
from openhss.db.models import Image  # noqa: E402
from openhss.domain.enums import Ecosystem, PackageType, Severity, VulType  # noqa: E402
from openhss.domain.models import OSInfo, Package  # noqa: E402
from openhss.domain.vex import Product, Statement, VexStatus, parse_document  # noqa: E402
from openhss.domain.vulnerability import VulnerabilityFinding  # noqa: E402
from openhss.exports import openvex  # noqa: E402
from openhss.scan.applier import Inventory  # noqa: E402
from openhss.services import results, vex, whitelists  # noqa: E402
from openhss.services.identity import Scope  # noqa: E402
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime  # noqa: E402

PROJECT = "benchproject00000001"
CVE = "CVE-2023-45853"
PKGS = [
    Package(name=n, version=v, ecosystem=Ecosystem.DEBIAN, type=PackageType.DEB, path="var/lib/dpkg/status")
    for n, v in (("zlib1g", "1:1.2.13.dfsg-1"), ("bash", "5.2.15-2+b2"), ("openssl", "3.0.11-1"))
]
VULNS = [
    VulnerabilityFinding(CVE, "zlib1g", "1:1.2.13.dfsg-1", Ecosystem.DEBIAN, Severity.HIGH, VulType.LINUX),
    VulnerabilityFinding(
        "CVE-2022-3715", "bash", "5.2.15-2+b2", Ecosystem.DEBIAN, Severity.HIGH, VulType.LINUX
    ),
]


def fleet(tmp: Path, n: int) -> Runtime:
    rt = open_runtime(Settings(data_dir=tmp, default_project_id=PROJECT, admin_password="bench-admin-pass"))
    bootstrap_admin(rt)
    with transaction(rt.sessions) as s:
        for i in range(n):
            img = Image(
                project_id=PROJECT,
                image_type="local",
                image_id=f"sha256:{uuid.uuid4().hex * 2}",
                image_digest=f"sha256:{i:064x}",
                image_name=f"docker.io/library/app{i % 50}",
                image_version=str(i),
            )
            s.add(img)
            s.flush()
            results.record_scan(s, img.id, Inventory(os=OSInfo("debian", "12"), packages=PKGS), VULNS)
    return rt


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    n = ap.parse_args().images
    scope = Scope(PROJECT, None)
    figures: dict[str, float] = {"images": n}
    with tempfile.TemporaryDirectory() as d:
        base = fleet(Path(d) / "a", n)
        with transaction(base.sessions) as s:
            rule = whitelists.Rule(whitelists.ALL_IMAGES, description="baseline")
            figures["whitelist_s"], _ = timed(
                lambda: whitelists.add(s, scope, "local", "linux_vul", [CVE], rule, "b")
            )
        with transaction(base.sessions) as s:
            figures["export_s"], statements = timed(
                lambda: vex.export_statements(s, scope, vex.ExportFilter(include_open=False))
            )
        out = io.StringIO()
        openvex.write(statements, openvex.Meta("bench", 0), out)  # type: ignore[arg-type]
        exported = parse_document(out.getvalue())

        pkg_rt = fleet(Path(d) / "b", n)
        only_package = Statement(
            CVE, VexStatus.NOT_AFFECTED, (Product("pkg:deb/debian/zlib1g"),), impact_statement="x"
        )
        doc = parse_document(_doc([only_package]))
        with transaction(pkg_rt.sessions) as s:
            figures["import_package_s"], res = timed(lambda: vex.import_document(s, PROJECT, "0", doc))
        assert res.applied == n  # type: ignore[attr-defined]

        img_rt = fleet(Path(d) / "c", n)
        with transaction(img_rt.sessions) as s:
            figures["import_exported_s"], res = timed(lambda: vex.import_document(s, PROJECT, "0", exported))
        assert res.applied == n  # type: ignore[attr-defined]
    rows = [
        ["whitelist rule, all images (baseline)", f"{figures['whitelist_s']:.2f}", "1.00"],
        *[
            [label, f"{figures[key]:.2f}", f"{figures[key] / figures['whitelist_s']:.2f}"]
            for label, key in (
                ("VEX import, one package statement", "import_package_s"),
                ("VEX import, our export (1 product per image)", "import_exported_s"),
                ("OpenVEX export of the suppressed pairs", "export_s"),
            )
        ],
    ]
    print(f"{n} images, one vulnerability suppressed on each")
    print(table(rows, ["operation", "seconds", "x baseline"]))
    record("vex", figures)


def _doc(statements: list[Statement]) -> str:
    out = io.StringIO()
    openvex.write(statements, openvex.Meta("bench", 0), out)
    return out.getvalue()


if __name__ == "__main__":
    main()
