"""Software compliance: a YAML policy of denied licenses, denied/outdated packages and required packages.

The policy is data (default in `openhss/scan/rules/compliance.yaml`, replaceable through settings), so
each organisation states its own rules; every violation names the policy rule id that triggered it.
License expressions are evaluated as SPDX boolean expressions: a package is only in breach when no
choice of its alternatives avoids every denied license.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from license_expression import ExpressionError, get_spdx_licensing

from openhss.domain.enums import FindingKind, ScanScope, Severity
from openhss.domain.models import Finding, Package
from openhss.domain.version import InvalidVersion, scheme_for
from openhss.scan.checks.base import Check, CheckContext

_OPS = ("<=", ">=", "!=", "==", "<", ">", "=")


@dataclass(frozen=True, slots=True)
class PolicyRule:
    id: str
    title: str
    severity: Severity
    patterns: tuple[str, ...] = ()
    types: frozenset[str] = frozenset()
    versions: tuple[str, ...] = ()
    min_version: str = ""

    def matches_name(self, name: str) -> bool:
        low = name.lower()
        return any(fnmatch.fnmatchcase(low, p.lower()) for p in self.patterns)

    def matches_type(self, pkg: Package) -> bool:
        return not self.types or pkg.type.value in self.types


@dataclass(frozen=True, slots=True)
class CompliancePolicy:
    denied_licenses: tuple[PolicyRule, ...] = ()
    denied_packages: tuple[PolicyRule, ...] = ()
    outdated_packages: tuple[PolicyRule, ...] = ()
    required_packages: tuple[PolicyRule, ...] = ()
    warnings: list[str] = field(default_factory=list, compare=False)

    @classmethod
    def from_yaml(cls, text: str) -> CompliancePolicy:
        doc = yaml.safe_load(text) or {}
        if not isinstance(doc, dict):
            raise ValueError("compliance policy must be a mapping")

        def rules(key: str, names_key: str) -> tuple[PolicyRule, ...]:
            out = []
            for item in doc.get(key) or ():
                pats = item.get(names_key) or ([item["name"]] if "name" in item else [])
                out.append(
                    PolicyRule(
                        id=str(item["id"]),
                        title=str(item.get("title", item["id"])),
                        severity=Severity.parse(str(item.get("severity", "medium"))) or Severity.MEDIUM,
                        patterns=tuple(str(p) for p in pats),
                        types=frozenset(str(t) for t in item.get("types") or ()),
                        versions=tuple(str(v) for v in item.get("versions") or ()),
                        min_version=str(item.get("min_version", "")),
                    )
                )
            return tuple(out)

        return cls(
            denied_licenses=rules("denied_licenses", "licenses"),
            denied_packages=rules("denied_packages", "names"),
            outdated_packages=rules("outdated_packages", "names"),
            required_packages=rules("required_packages", "names"),
        )


@functools.cache
def default_policy() -> CompliancePolicy:
    text = resources.files("openhss.scan.rules").joinpath("compliance.yaml").read_text(encoding="utf-8")
    return CompliancePolicy.from_yaml(text)


_LICENSING = get_spdx_licensing()


def _denied(symbol: str, rule: PolicyRule) -> bool:
    return rule.matches_name(symbol)


def _satisfiable(node: Any, rule: PolicyRule) -> bool:
    """True when the expression can be met without a license the rule denies."""
    kind = type(node).__name__
    if kind == "OR":
        return any(_satisfiable(a, rule) for a in node.args)
    if kind == "AND":
        return all(_satisfiable(a, rule) for a in node.args)
    if kind == "LicenseWithExceptionSymbol":
        return not (_denied(node.license_symbol.key, rule) or _denied(node.exception_symbol.key, rule))
    key = getattr(node, "key", str(node))
    aliases = getattr(node, "aliases", ())
    return not any(_denied(k, rule) for k in (key, *aliases))


def license_violates(expression: str, rule: PolicyRule) -> bool:
    try:
        parsed = _LICENSING.parse(expression, validate=False)
    except ExpressionError:
        return rule.matches_name(expression.strip())
    if parsed is None:
        return False
    return not _satisfiable(parsed, rule)


def _ecosystem_compare(pkg: Package, a: str, b: str) -> int | None:
    try:
        return scheme_for(pkg.ecosystem).compare(a, b)
    except (KeyError, InvalidVersion):
        return None


def _version_matches(pkg: Package, constraint: str) -> bool:
    for op in _OPS:
        if constraint.startswith(op):
            cmp = _ecosystem_compare(pkg, pkg.version, constraint[len(op) :].strip())
            if cmp is None:
                return False
            return {
                "<": cmp < 0,
                "<=": cmp <= 0,
                ">": cmp > 0,
                ">=": cmp >= 0,
                "=": cmp == 0,
                "==": cmp == 0,
                "!=": cmp != 0,
            }[op]
    return pkg.version == constraint


def _finding(rule: PolicyRule, pkg: Package | None, evidence: str) -> Finding:
    return Finding(
        kind=FindingKind.NON_COMPLIANT_APP,
        rule_id=rule.id,
        severity=rule.severity,
        title=rule.title,
        path=pkg.path if pkg else "",
        layer_digest=pkg.layer_digest if pkg else "",
        evidence=evidence,
        remediation="Replace or remove the package, or change the policy if this use is approved.",
    )


def evaluate(policy: CompliancePolicy, packages: Sequence[Package]) -> list[Finding]:
    out: list[Finding] = []
    for pkg in packages:
        ident = f"{pkg.type.value}:{pkg.name}@{pkg.version}"
        for rule in policy.denied_licenses:
            bad = [lic for lic in pkg.licenses if license_violates(lic, rule)]
            if bad:
                out.append(_finding(rule, pkg, f"{ident} license {' / '.join(bad)}"))
        for rule in policy.denied_packages:
            if (
                rule.matches_type(pkg)
                and rule.matches_name(pkg.name)
                and (not rule.versions or any(_version_matches(pkg, v) for v in rule.versions))
            ):
                out.append(_finding(rule, pkg, f"{ident} is denied"))
        for rule in policy.outdated_packages:
            if rule.min_version and rule.matches_type(pkg) and rule.matches_name(pkg.name):
                cmp = _ecosystem_compare(pkg, pkg.version, rule.min_version)
                if cmp is not None and cmp < 0:
                    out.append(_finding(rule, pkg, f"{ident} is older than {rule.min_version}"))
    for rule in policy.required_packages:
        if not any(rule.matches_type(p) and rule.matches_name(p.name) for p in packages):
            out.append(_finding(rule, None, f"no package matching {', '.join(rule.patterns)} is installed"))
    return out


class ComplianceCheck(Check):
    id = "software-compliance"
    scope = ScanScope.SOFTWARE_COMPLIANCE

    def __init__(self, policy: CompliancePolicy | None = None) -> None:
        self.policy = policy or default_policy()

    def run(self, ctx: CheckContext) -> list[Finding]:
        return evaluate(self.policy, ctx.inventory.packages)
