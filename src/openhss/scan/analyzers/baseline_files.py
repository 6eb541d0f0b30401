"""Baseline checks on file state (CIS Docker Benchmark §4 and the HSS baseline, file side).

Findings here describe the *current state* of a path, so the applier lets a later layer supersede them:
every path this analyzer examined goes into `observed`, and a layer that fixes a file (rewrites
`/etc/shadow`, drops a setuid bit, deletes a cache) clears the lower layer's finding.

Most checks need only the tar header (mode bits, path). Those are decided in `wants()` — recording a
finding is as cheap as the test itself — and `wants()` answers False so the walker copies no bytes; only
the few configuration files whose content matters (shadow, passwd, sudoers, sshd_config) are read, and
those are small. Password hashes are never copied into findings: evidence names users and hash schemes.
"""

from __future__ import annotations

import posixpath
import stat
from typing import BinaryIO, ClassVar

from openhss.domain.enums import EntryKind, FindingKind, ScanScope, Severity
from openhss.domain.models import Finding
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest

#: Configuration files whose content is checked; all are small text files.
MAX_CONFIG_SIZE = 1024 * 1024

SYSTEM_PREFIXES = (
    "bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/", "usr/", "etc/", "boot/", "opt/",
)  # fmt: skip
#: setuid/setgid programs a stock distribution ships; anything else with those bits is reported.
USUAL_SETID = frozenset(
    {
        "passwd", "su", "sudo", "sudoedit", "mount", "umount", "chsh", "chfn", "newgrp", "gpasswd", "chage",
        "expiry", "pkexec", "fusermount", "fusermount3", "crontab", "ssh-agent", "ssh-keysign", "wall",
        "write", "bsd-write", "at", "ping", "ping6", "traceroute6.iputils", "newuidmap", "newgidmap",
        "unix_chkpwd", "pam_extrausers_chkpwd", "dotlockfile", "dbus-daemon-launch-helper",
        "polkit-agent-helper-1", "Xorg.wrap", "mount.nfs", "mount.cifs", "doas", "ksu", "staprun",
        "userhelper", "usernetctl", "pam_timestamp_check", "chkpwd", "lockdev", "screen", "mlocate",
        "locate", "plocate", "dmcrypt-get-device", "sg", "vlock", "utempter", "bwrap",
    }
)  # fmt: skip
#: Hash schemes of crypt(5) considered weak: DES (no prefix), MD5, and Blowfish's buggy `$2a$`.
WEAK_SCHEMES = {"$1$": "MD5", "$2a$": "bcrypt-2a", "$md5": "Sun MD5", "_": "BSDi DES"}
#: Package-manager caches: per-file so that a later `rm -rf` (whiteouts per file) clears them.
CACHE_PREFIXES = (
    "var/cache/apt/archives/", "var/lib/apt/lists/", "var/cache/apk/", "var/cache/yum/", "var/cache/dnf/",
    "var/cache/zypp/", "var/cache/pacman/pkg/",
)  # fmt: skip
CACHE_SKIP = ("lock", "partial")
#: Per-user caches that are removed as whole directories; reported at the directory.
USER_CACHES = ("root/.cache/pip", "root/.npm/_cacache", "root/.cache/yarn", "usr/local/share/.cache/yarn")

SHADOW = "etc/shadow"
PASSWD = "etc/passwd"  # noqa: S105 - a file path
SSHD_CONFIG = "etc/ssh/sshd_config"
CONTENT_PATHS = frozenset({SHADOW, PASSWD, SSHD_CONFIG, "etc/sudoers"})


def _finding(rule_id: str, severity: Severity, title: str, path: str, evidence: str, fix: str) -> Finding:
    return Finding(
        kind=FindingKind.BASELINE,
        rule_id=rule_id,
        severity=severity,
        title=title,
        path=path,
        evidence=evidence,
        remediation=fix,
    )


def _weak_scheme(field: str) -> str:
    if field.startswith("$"):
        for prefix, name in WEAK_SCHEMES.items():
            if field.startswith(prefix):
                return name
        return ""
    if field.startswith("_"):
        return WEAK_SCHEMES["_"]
    if len(field) == 13:
        return "DES"
    return ""


def check_shadow(text: str, path: str = SHADOW) -> list[Finding]:
    empty: list[str] = []
    weak: list[str] = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 2 or not parts[0] or line.startswith("#"):
            continue
        user, pw = parts[0], parts[1]
        if pw == "":
            empty.append(user)
        elif pw[0] not in "!*" and (scheme := _weak_scheme(pw)):
            weak.append(f"{user} ({scheme})")
    out = []
    if empty:
        out.append(
            _finding(
                "baseline-shadow-empty-password",
                Severity.CRITICAL,
                "Accounts with an empty password",
                path,
                "users: " + ", ".join(empty),
                "Lock the accounts (`passwd -l USER`) or set a password hash; never ship empty passwords.",
            )
        )
    if weak:
        out.append(
            _finding(
                "baseline-shadow-weak-hash",
                Severity.HIGH,
                "Password hashes with a weak scheme",
                path,
                "users: " + ", ".join(weak),
                "Use yescrypt or SHA-512 crypt (`$y$`/`$6$`), or lock the accounts in images.",
            )
        )
    return out


def check_passwd(text: str, path: str = PASSWD) -> list[Finding]:
    extra = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[0] != "root" and parts[2].strip() == "0":
            extra.append(parts[0])
    if not extra:
        return []
    return [
        _finding(
            "baseline-passwd-extra-uid0",
            Severity.HIGH,
            "Accounts other than root with UID 0",
            path,
            "users: " + ", ".join(extra),
            "Give every account except root a non-zero UID.",
        )
    ]


def check_sudoers(text: str, path: str) -> list[Finding]:
    rules = [
        line.strip()
        for line in text.splitlines()
        if "NOPASSWD" in line
        and not line.lstrip().startswith("#")
        and not line.lstrip().startswith("Defaults")
    ]
    if not rules:
        return []
    return [
        _finding(
            "baseline-sudo-nopasswd",
            Severity.HIGH,
            "sudo allowed without a password",
            path,
            "; ".join(r[:120] for r in rules[:5]),
            "Remove NOPASSWD rules; containers should not need sudo at all.",
        )
    ]


def check_sshd_config(text: str, path: str = SSHD_CONFIG) -> list[Finding]:
    # sshd uses the first value it reads for most keywords.
    seen: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0].lower() == "match":
            break
        if len(words) >= 2:
            seen.setdefault(words[0].lower(), words[1].lower())
    out = []
    if seen.get("permitrootlogin") == "yes":
        out.append(
            _finding(
                "baseline-sshd-permit-root-login",
                Severity.HIGH,
                "sshd permits root login with a password",
                path,
                "PermitRootLogin yes",
                "Set `PermitRootLogin no` (or `prohibit-password`).",
            )
        )
    if seen.get("permitemptypasswords") == "yes":
        out.append(
            _finding(
                "baseline-sshd-permit-empty-passwords",
                Severity.CRITICAL,
                "sshd permits empty passwords",
                path,
                "PermitEmptyPasswords yes",
                "Set `PermitEmptyPasswords no`.",
            )
        )
    if seen.get("passwordauthentication") == "yes":
        out.append(
            _finding(
                "baseline-sshd-password-authentication",
                Severity.MEDIUM,
                "sshd allows password authentication",
                path,
                "PasswordAuthentication yes",
                "Set `PasswordAuthentication no` and use keys.",
            )
        )
    return out


class BaselineFileAnalyzer(Analyzer):
    name = "baseline-files"
    version = 1
    scope = ScanScope.BASELINE
    max_size = MAX_CONFIG_SIZE
    #: Every check of `_header_checks` and `wants` needs one of these: a system or cache path, a
    #: per-user cache dir, or a setuid/setgid bit. Most of an app layer (node_modules, /srv, /home)
    #: meets none, and this analyzer is then not asked about it at all.
    interest: ClassVar[Interest] = Interest(
        paths=frozenset(USER_CACHES), prefixes=SYSTEM_PREFIXES + CACHE_PREFIXES, mode_bits=0o6000
    )

    def __init__(self) -> None:
        self._result = AnalysisResult()

    def _header_checks(self, entry: FileEntry) -> None:
        path, mode = entry.path, entry.mode
        res = self._result
        system = path.startswith(SYSTEM_PREFIXES)
        if entry.kind is EntryKind.FILE and (system and (entry.is_executable or path.startswith("etc/"))):
            res.observed.append(path)
        if entry.kind is EntryKind.FILE and mode & (stat.S_ISUID | stat.S_ISGID):
            res.observed.append(path)
            base = posixpath.basename(path)
            if base not in USUAL_SETID:
                bits = "setuid" if mode & stat.S_ISUID else "setgid"
                res.findings.append(
                    _finding(
                        "baseline-unexpected-setuid",
                        Severity.HIGH,
                        "Unexpected setuid/setgid program",
                        path,
                        f"{bits} mode {mode & 0o7777:04o}",
                        "Remove the setuid/setgid bit (`chmod u-s,g-s`) unless the program needs it.",
                    )
                )
        if system and mode & stat.S_IWOTH and entry.kind in (EntryKind.FILE, EntryKind.DIR):
            if entry.kind is EntryKind.DIR and mode & stat.S_ISVTX:
                return  # sticky world-writable dirs (tmp-like) are the intended pattern
            res.observed.append(path)
            res.findings.append(
                _finding(
                    "baseline-world-writable",
                    Severity.MEDIUM,
                    "World-writable "
                    + ("directory" if entry.kind is EntryKind.DIR else "file")
                    + " in a system path",
                    path,
                    f"mode {mode & 0o7777:04o}",
                    "Remove write permission for others (`chmod o-w`).",
                )
            )
        if path in ("usr/sbin/sshd", "sbin/sshd") and entry.kind is EntryKind.FILE:
            res.findings.append(
                _finding(
                    "baseline-sshd-installed",
                    Severity.MEDIUM,
                    "SSH server installed in the image",
                    path,
                    "sshd binary present",
                    "Do not run sshd in containers; use `docker exec`/`kubectl exec` for access.",
                )
            )
        if entry.kind is EntryKind.FILE and path.startswith("etc/ssh/ssh_host_") and path.endswith("_key"):
            res.findings.append(
                _finding(
                    "baseline-ssh-host-key-in-image",
                    Severity.HIGH,
                    "SSH host private key baked into the image",
                    path,
                    "every container from this image shares the key",
                    "Generate host keys at container start, not at build time.",
                )
            )
        if entry.kind is EntryKind.FILE and path.startswith(CACHE_PREFIXES):
            base = posixpath.basename(path)
            if base not in CACHE_SKIP and "/partial/" not in path:
                res.findings.append(
                    _finding(
                        "baseline-package-cache",
                        Severity.LOW,
                        "Package manager cache left in the image",
                        path,
                        f"{entry.size} bytes",
                        "Clean the cache in the RUN step that filled it"
                        " (`apt-get clean && rm -rf /var/lib/apt/lists/*`).",
                    )
                )
        if entry.kind is EntryKind.DIR and path in USER_CACHES:
            res.findings.append(
                _finding(
                    "baseline-package-cache",
                    Severity.LOW,
                    "Package manager cache left in the image",
                    path,
                    "cache directory present",
                    "Use `--no-cache-dir`/`npm cache clean --force` or a build cache mount.",
                )
            )

    def wants(self, entry: FileEntry) -> bool:
        self._header_checks(entry)
        if not entry.is_file or entry.size > MAX_CONFIG_SIZE:
            return False
        return entry.path in CONTENT_PATHS or entry.path.startswith("etc/sudoers.d/")

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        text = content.read(MAX_CONFIG_SIZE).decode("utf-8", "replace")
        path = entry.path
        result = AnalysisResult(observed=[path])
        if path == SHADOW:
            result.findings = check_shadow(text, path)
        elif path == PASSWD:
            result.findings = check_passwd(text, path)
        elif path == SSHD_CONFIG:
            result.findings = check_sshd_config(text, path)
        else:
            result.findings = check_sudoers(text, path)
        return result

    def finish(self) -> AnalysisResult:
        out, self._result = self._result, AnalysisResult()
        return out
