"""Baseline checks over the image config (CIS Docker Benchmark §4: user, HEALTHCHECK, secrets in Env).

Env values are secrets' most common leak in images: `docker inspect` shows them to anyone who can pull.
Each variable is run through the same secret rules as files (as a `NAME=value` line) and, because env
names are usually explicit, a name heuristic catches secrets no token format would recognise.
"""

from __future__ import annotations

import re
from typing import Any

from openhss.domain.enums import FindingKind, ScanScope, Severity
from openhss.domain.models import Finding
from openhss.scan.analyzers.secrets import default_engine, mask
from openhss.scan.checks.base import Check, CheckContext

SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?:pass(?:word|wd)?|pwd|secret|token|api_?key|access_?key|private_?key|credentials?|"
    r"auth|sk|ak)(?:$|_)"
)
#: Values that are references or placeholders, not secrets.
NOT_SECRET = re.compile(
    r"(?i)^(?:|true|false|yes|no|none|null|0|1|changeme|change_me|secret|password|\*+|x+|"
    r"/[\w./-]*|file:.*|\$\{?\w+\}?|<[^>]*>|\{\{.*\}\})$"
)
#: Names whose value is a path or switch even though the name looks secret-ish.
NAME_EXCEPTIONS = re.compile(r"(?i)(?:_FILE|_PATH|_DIR|_URL_PATH|_ENABLED|_LENGTH|_HEADER|_TYPE|_MODE)$")


def _finding(rule_id: str, severity: Severity, title: str, evidence: str, fix: str) -> Finding:
    return Finding(
        kind=FindingKind.BASELINE,
        rule_id=rule_id,
        severity=severity,
        title=title,
        evidence=evidence,
        remediation=fix,
    )


def _container_config(raw: Any) -> dict[str, Any]:
    cfg = raw.get("config") if isinstance(raw, dict) else None
    return cfg if isinstance(cfg, dict) else {}


def env_secrets(env: tuple[str, ...]) -> list[Finding]:
    engine = default_engine()
    out: list[Finding] = []
    for item in env:
        name, sep, value = item.partition("=")
        if not sep or not value:
            continue
        matches = engine.scan(item.encode(), "")
        if matches:
            for m in matches:
                out.append(
                    _finding(
                        "baseline-config-secret-in-env",
                        Severity.CRITICAL if m.rule.severity.rank >= Severity.HIGH.rank else Severity.HIGH,
                        f"Secret in image Env: {m.rule.title}",
                        m.evidence,
                        "Pass secrets at run time (orchestrator secrets, mounted files), never in ENV.",
                    )
                )
        elif (
            SECRET_NAME.search(name)
            and not NAME_EXCEPTIONS.search(name)
            and not NOT_SECRET.match(value)
            and len(value) >= 4
        ):
            out.append(
                _finding(
                    "baseline-config-secret-in-env",
                    Severity.HIGH,
                    "Secret-like variable in image Env",
                    f"{name}={mask(value)}",
                    "Pass secrets at run time (orchestrator secrets, mounted files), never in ENV.",
                )
            )
    return out


class ImageConfigCheck(Check):
    id = "image-config"
    scope = ScanScope.BASELINE

    def run(self, ctx: CheckContext) -> list[Finding]:
        cfg = ctx.config
        out: list[Finding] = []
        user = cfg.user.strip()
        if user in ("", "root", "0") or user.startswith(("root:", "0:")):
            out.append(
                _finding(
                    "baseline-config-runs-as-root",
                    Severity.MEDIUM,
                    "Container runs as root",
                    f"User={user!r}" if user else "no USER set (defaults to root)",
                    "Add a non-root user and `USER` it in the Dockerfile.",
                )
            )
        health = _container_config(cfg.raw).get("Healthcheck")
        test = health.get("Test") if isinstance(health, dict) else None
        if not test or test == ["NONE"]:
            out.append(
                _finding(
                    "baseline-config-no-healthcheck",
                    Severity.LOW,
                    "No HEALTHCHECK defined",
                    "Healthcheck is absent" if not test else "HEALTHCHECK NONE",
                    "Add a HEALTHCHECK instruction so the runtime can detect a hung service.",
                )
            )
        if any(p.split("/", 1)[0] == "22" for p in cfg.exposed_ports):
            out.append(
                _finding(
                    "baseline-config-exposes-ssh",
                    Severity.LOW,
                    "Image exposes the SSH port",
                    "ExposedPorts includes 22",
                    "Do not run SSH in containers; remove `EXPOSE 22`.",
                )
            )
        out.extend(env_secrets(cfg.env))
        return out
