"""CycloneDX 1.6 SBOM (JSON) of one scanned image, with its vulnerabilities (VEX-style `affects`).

Built with cyclonedx-python-lib so the output follows the spec's schema exactly; the image itself is the
metadata component (type `container`) and every package a `library` component keyed by its purl.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisState
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from openhss import __version__
from openhss.domain.enums import Severity
from openhss.domain.models import Package
from openhss.domain.report import ImageReport
from openhss.exports.spdx import spdx_expression

_SEVERITY = {
    Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
    Severity.HIGH: VulnerabilitySeverity.HIGH,
    Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
    Severity.LOW: VulnerabilitySeverity.LOW,
    Severity.UNKNOWN: VulnerabilitySeverity.UNKNOWN,
}


def _bom_ref(p: Package, index: int) -> str:
    # purls are not unique in an image (the same wheel vendored twice); the path disambiguates.
    return f"{p.purl or p.name + '@' + p.version}#{index}"


def _component(p: Package, ref: str, licenses: LicenseFactory) -> Component:
    purl: PackageURL | None = None
    if p.purl:
        try:
            purl = PackageURL.from_string(p.purl)
        except ValueError:
            purl = None
    props = [Property(name="openhss:ecosystem", value=p.ecosystem.value)]
    if p.path:
        props.append(Property(name="openhss:path", value=p.path))
    if p.layer_digest:
        props.append(Property(name="openhss:layer_digest", value=p.layer_digest))
    if p.source_name:
        props.append(Property(name="openhss:source_name", value=p.source_name))
        props.append(Property(name="openhss:source_version", value=p.source_version))
    comp = Component(
        name=p.name,
        version=p.version,
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=ref,
        properties=props,
    )
    # CycloneDX allows either ONE expression or a list of named/id licenses, never both.
    exprs = [spdx_expression(t) for t in p.licenses if t]
    if exprs and all(exprs):
        joined = " AND ".join(f"({e})" if " " in str(e) else str(e) for e in dict.fromkeys(exprs))
        comp.licenses.add(LicenseExpression(joined) if " " in joined else licenses.make_from_string(joined))
    else:
        for text in dict.fromkeys(t for t in p.licenses if t):
            comp.licenses.add(DisjunctiveLicense(name=text))
    return comp


def _method(vector: str) -> VulnerabilityScoreSource | None:
    if not vector:
        return None
    if vector.startswith("CVSS:4"):
        return VulnerabilityScoreSource.CVSS_V4
    if vector.startswith("CVSS:3"):
        return (
            VulnerabilityScoreSource.CVSS_V3_1
            if vector.startswith("CVSS:3.1")
            else VulnerabilityScoreSource.CVSS_V3
        )
    return VulnerabilityScoreSource.CVSS_V2


def render(report: ImageReport) -> str:
    licenses = LicenseFactory()
    img = report.image
    root = Component(
        name=img.ref,
        version=img.digest or img.config_digest,
        type=ComponentType.CONTAINER,
        bom_ref=f"image:{img.digest or img.config_digest or img.ref}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=img.digest.partition(":")[2])]
        if img.digest.startswith("sha256:")
        else [],
        properties=[Property(name="openhss:platform", value=f"{img.os_name}/{img.architecture}")]
        + (
            [Property(name="openhss:os", value=f"{report.os.family} {report.os.version}".strip())]
            if report.os
            else []
        ),
    )
    bom = Bom()
    bom.metadata.timestamp = datetime.now(UTC)
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(name="openhss", version=__version__, type=ComponentType.APPLICATION)
    )
    refs: dict[tuple[str, str, str, str], str] = {}
    components: list[Component] = []
    for index, pkg in enumerate(report.packages):
        ref = _bom_ref(pkg, index)
        refs.setdefault((pkg.name, pkg.version, pkg.ecosystem.value, pkg.path), ref)
        component = _component(pkg, ref, licenses)
        bom.components.add(component)
        components.append(component)
    # one call: registering per component is quadratic in the library
    bom.register_dependency(root, components)
    for v in report.vulnerabilities:
        target = refs.get((v.package_name, v.package_version, v.ecosystem.value, v.path))
        if target is None:
            continue
        ratings = [
            VulnerabilityRating(
                severity=_SEVERITY[v.severity],
                score=Decimal(str(v.cvss_score)) if v.cvss_score else None,
                vector=v.cvss_vector or None,
                method=_method(v.cvss_vector),
            )
        ]
        analysis = None
        if v.status in ("unfixed", "wont-fix"):
            analysis = VulnerabilityAnalysis(state=ImpactAnalysisState.EXPLOITABLE, detail=v.status)
        bom.vulnerabilities.add(
            Vulnerability(
                bom_ref=f"{v.vul_id}:{target}",
                id=v.vul_id,
                source=VulnerabilitySource(name=v.source) if v.source else None,
                description=v.title or None,
                ratings=ratings,
                recommendation=f"Upgrade {v.package_name} to {v.fixed_version}" if v.fixed_version else None,
                affects=[BomTarget(ref=target)],
                analysis=analysis,
            )
        )
    return JsonV1Dot6(bom).output_as_string(indent=2)
