"""Risky build commands, found in the image history (`created_by` of each step).

The history is all that remains of the Dockerfile in a pulled image: `RUN` steps appear as
`/bin/sh -c ...` (classic builder) or `RUN /bin/sh -c ... # buildkit`, with build args prefixed as
`|2 NAME=value ...`; `ADD`/`COPY`/`ENV`/`ARG`/`USER` steps keep their keyword. Each rule is a regex over
that text with a stable id; `BUILD_COMMAND_RULES` is what the build-command-risks list API serves and
what `build_command_rule_id_list` selects from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openhss.domain.enums import FindingKind, ScanScope, Severity
from openhss.domain.models import Finding
from openhss.scan.checks.base import Check, CheckContext

#: Longest history excerpt kept as evidence.
EVIDENCE_WIDTH = 200


@dataclass(frozen=True, slots=True)
class BuildCommandRule:
    id: str
    severity: Severity
    title: str
    description: str
    remediation: str
    pattern: re.Pattern[str]


def _rule(rid: str, sev: Severity, title: str, desc: str, fix: str, pattern: str) -> BuildCommandRule:
    return BuildCommandRule(rid, sev, title, desc, fix, re.compile(pattern))


_SECRET_NAME = (
    r"[\w-]*(?:PASS(?:WORD|WD)?|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)[\w-]*"  # noqa: S105
)

BUILD_COMMAND_RULES: tuple[BuildCommandRule, ...] = (
    _rule(
        "build-curl-pipe-shell",
        Severity.HIGH,
        "Remote script piped into a shell",
        "A script downloaded at build time is executed without verification (curl|wget ... | sh).",
        "Download to a file, verify its checksum or signature, then run it.",
        r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?(?:env\s+\S+\s+)?(?:/usr)?(?:/bin/)?(?:ba|z|da|k)?sh\b"
        r"|\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node)\b"
        r"|\b(?:ba)?sh\s+-c\s+[\"']?\$\((?:curl|wget)\b|\b(?:ba)?sh\s+<\(\s*(?:curl|wget)\b",
    ),
    _rule(
        "build-tls-verification-disabled",
        Severity.HIGH,
        "TLS certificate verification disabled",
        "Downloads without certificate checks can be tampered with in transit.",
        "Remove the insecure flag and install the CA certificate the mirror needs.",
        r"\bcurl\b[^\n;&|]*\s(?:-k\b|--insecure\b|-[a-zA-Z]*k[a-zA-Z]*\s)|--no-check-certificate"
        r"|--trusted-host\b|http\.sslVerify\s*=?\s*false|GIT_SSL_NO_VERIFY\s*=\s*(?:1|true)"
        r"|strict-ssl\s*=?\s*false|NODE_TLS_REJECT_UNAUTHORIZED\s*=\s*0|PYTHONHTTPSVERIFY\s*=\s*0"
        r"|Verify-Peer\s*\"?\s*=?\s*\"?false|sslverify\s*=\s*(?:0|false|no)\b",
    ),
    _rule(
        "build-package-signature-disabled",
        Severity.HIGH,
        "Package signature checks disabled",
        "Packages are installed without verifying their signatures.",
        "Keep signature verification on; import the repository key instead.",
        r"--nogpgcheck|--allow-unauthenticated|--force-yes\b|--allow-untrusted|gpgcheck\s*=\s*0"
        r"|\[trusted=yes\]|AllowUnauthenticated\s*\"?\s*=?\s*\"?true|--no-verify-signature",
    ),
    _rule(
        "build-secret-in-arg-env",
        Severity.CRITICAL,
        "Secret passed as ARG or ENV",
        "Build args and env values are stored in the image history and config, readable by anyone who pulls.",
        "Use BuildKit secrets (`RUN --mount=type=secret`) or inject at run time.",
        r"(?i)(?:\b(?:ENV|ARG)\s+(?:[\w.-]+=\S*\s+)*"
        + _SECRET_NAME
        + r"(?:=|\s+)(?![\"']?\$)[\"']?[^\s\"'$]{4,}"
        r"|^\|\d+\s+(?:\S+=\S*\s+)*" + _SECRET_NAME + r"=(?![\"']?\$)[^\s$]{4,})",
    ),
    _rule(
        "build-privileged-hint",
        Severity.HIGH,
        "Privileged or host-namespace execution hint",
        "The build or its documented run command asks for privileged mode, host namespaces"
        " or the Docker socket.",
        "Run without --privileged, host namespaces or the Docker socket; grant only the capabilities needed.",
        r"--privileged\b|--cap-add[= ](?:ALL|SYS_ADMIN)\b"
        r"|--security-opt[= ](?:seccomp|apparmor)[=:]unconfined|/var/run/docker\.sock"
        r"|--(?:net(?:work)?|pid|ipc)[= ]host\b",
    ),
    _rule(
        "build-chmod-777",
        Severity.MEDIUM,
        "World-writable permissions set",
        "chmod 777 (or o+w) lets any user in the container modify the files.",
        "Grant the minimum permissions (e.g. 755 for dirs, 644 for files) to the owning user.",
        r"\bchmod\s+(?:-[a-zA-Z]+\s+)*(?:0?777|[0-7]?[0-7][0-7][2367]\b|(?:a|o|ugo)\+[rx]*w)",
    ),
    _rule(
        "build-add-remote-url",
        Severity.MEDIUM,
        "ADD from a remote URL",
        "ADD fetches the URL without checksum verification and with no cache invalidation guarantees.",
        "Use `ADD --checksum=...` or download with curl and verify the checksum.",
        r"(?:^|#\(nop\)\s*|\s)ADD\s+(?:--(?!checksum)\S+\s+)*https?://",
    ),
    _rule(
        "build-sudo",
        Severity.MEDIUM,
        "sudo used in the build",
        "sudo in a Dockerfile hides privilege changes and leaves sudo installed in the image.",
        "Switch users with `USER` instead of sudo; do not install sudo in images.",
        r"(?:^|[;&|]\s*|-c\s+[\"']?)sudo\s",
    ),
    _rule(
        "build-user-root-last",
        Severity.MEDIUM,
        "Last USER instruction is root",
        "The image switches back to root at the end, so containers run as root.",
        "End the Dockerfile with `USER <non-root>`.",
        r"(?:^|#\(nop\)\s*)USER\s+(?:root|0)(?::\S+)?\s*(?:#.*)?$",
    ),
    _rule(
        "build-package-upgrade",
        Severity.LOW,
        "Distribution upgrade during the build",
        "apt-get upgrade / dist-upgrade (or yum/apk upgrade) makes builds unreproducible;"
        " rebuild on a newer base instead.",
        "Use a current base image and pin the packages you install.",
        r"\bapt(?:-get)?\s+(?:-\S+\s+)*(?:dist-|full-)?upgrade\b|\b(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*upgrade\b"
        r"|\b(?:yum|dnf)\s+(?:-\S+\s+)*update\s*(?:-y\s*)?(?:$|[;&|])|\bapk\s+(?:--\S+\s+)*upgrade\b",
    ),
    _rule(
        "build-latest-base-tag",
        Severity.LOW,
        "Base image referenced by the mutable `latest` tag",
        "The base image recorded in the image metadata is `latest` or untagged,"
        " so rebuilds are not reproducible.",
        "Pin the base image by tag and digest.",
        r"(?!x)x",  # decided from the base-image label/annotation, see BuildCommandCheck
    ),
    _rule(
        "build-plain-http-download",
        Severity.LOW,
        "Download over plain HTTP",
        "Files fetched over http:// can be altered in transit.",
        "Use https:// and verify checksums.",
        r"\b(?:curl|wget)\b[^\n;&|]*\bhttp://(?!localhost|127\.0\.0\.1)",
    ),
    _rule(
        "build-private-key-copied",
        Severity.HIGH,
        "Private key copied into the image",
        "An SSH or TLS private key added to a layer stays in the image even if removed later.",
        "Use `RUN --mount=type=ssh` or secrets mounts; never COPY keys.",
        r"\b(?:COPY|ADD)\b[^\n]*(?:\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\.ssh/|\.pem\b|\.p12\b|\.pfx\b|\.key\b)",
    ),
)

RULES_BY_ID = {r.id: r for r in BUILD_COMMAND_RULES}
_SECRET_VALUE = re.compile(r"(?i)(" + _SECRET_NAME + r"(?:=|\s+)[\"']?)([^\s\"'$]+)")
_BASE_NAME_LABELS = ("org.opencontainers.image.base.name",)


def _instruction(created_by: str) -> str:
    text = created_by.strip()
    text = re.sub(r"\s*# buildkit$", "", text)
    return text


class BuildCommandCheck(Check):
    id = "build-commands"
    scope = ScanScope.BASELINE

    def __init__(self, rule_ids: frozenset[str] | None = None) -> None:
        """`rule_ids` restricts the rules (HSS `build_command_rule_id_list`); None means all."""
        self.rules = [r for r in BUILD_COMMAND_RULES if rule_ids is None or r.id in rule_ids]

    def _finding(self, rule: BuildCommandRule, ctx: CheckContext, index: int, evidence: str) -> Finding:
        return Finding(
            kind=FindingKind.BUILD_COMMAND_RISK,
            rule_id=rule.id,
            severity=rule.severity,
            title=rule.title,
            layer_digest=ctx.layer_of(index) if index >= 0 else "",
            line=index + 1,
            evidence=evidence,
            remediation=rule.remediation,
        )

    def run(self, ctx: CheckContext) -> list[Finding]:
        # The secret engine (hyperscan/RE2) loads only when a build-command check actually runs.
        from openhss.scan.analyzers.secrets import default_engine, mask

        engine = default_engine()
        out: list[Finding] = []
        last_user = -1
        for index, entry in enumerate(ctx.history):
            text = _instruction(entry.created_by)
            if re.search(r"(?:^|#\(nop\)\s*)USER\s", text):
                last_user = index
            # Secrets in the command are masked before the text is used as evidence anywhere.
            matches = engine.scan(text.encode(), "")
            shown = text
            for m in sorted(matches, key=lambda m: -m.start):
                secret = text.encode()[m.start : m.end].decode("utf-8", "replace")
                shown = shown.replace(secret, mask(secret))
            for rule in self.rules:
                if rule.id == "build-user-root-last":
                    continue
                found = rule.pattern.search(text)
                if found is None:
                    continue
                if rule.id == "build-secret-in-arg-env":
                    shown = _SECRET_VALUE.sub(lambda m: m.group(1) + mask(m.group(2)), shown)
                out.append(self._finding(rule, ctx, index, shown[:EVIDENCE_WIDTH]))
            if (
                matches
                and "build-secret-in-arg-env" in {r.id for r in self.rules}
                and not any(f.line == index + 1 and f.rule_id == "build-secret-in-arg-env" for f in out)
            ):
                rule = RULES_BY_ID["build-secret-in-arg-env"]
                out.append(self._finding(rule, ctx, index, shown[:EVIDENCE_WIDTH]))
        root_last = RULES_BY_ID["build-user-root-last"]
        if last_user >= 0 and root_last in self.rules:
            text = _instruction(ctx.history[last_user].created_by)
            if root_last.pattern.search(text):
                out.append(self._finding(root_last, ctx, last_user, text[:EVIDENCE_WIDTH]))
        latest = RULES_BY_ID["build-latest-base-tag"]
        if latest in self.rules:
            for label in _BASE_NAME_LABELS:
                base = ctx.config.labels.get(label, "")
                if (
                    base
                    and "@" not in base
                    and (base.endswith(":latest") or ":" not in base.rsplit("/", 1)[-1])
                ):
                    out.append(self._finding(latest, ctx, -1, f"{label}={base}"))
        return out
