"""Secret detection: gitleaks/Trivy-compatible rules behind one Aho–Corasick keyword prefilter.

Cost model: a layer is mostly files that contain no secret. Every wanted file is lower-cased once and
run through a single automaton holding every rule's keywords; only rules whose keyword occurs are
evaluated, and only on a window around each occurrence (the keyword's line, or a wider span for the few
multi-line rules such as private keys). Regexes are RE2 (google-re2): upstream rules are written for
Go's RE2, so the syntax and the linear-time guarantee carry over unchanged — a hostile file cannot make
a rule backtrack.

The raw secret never leaves this module: findings carry a masked line excerpt.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, BinaryIO

import ahocorasick
import re2  # type: ignore[import-untyped]
import yaml

from openhss.domain.enums import FindingKind, ScanScope, Severity
from openhss.domain.models import Finding
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry

hyperscan: Any
try:  # Hyperscan (x86-64/arm64 wheels); the Aho–Corasick fallback gives the same answers, slower.
    import hyperscan as _hyperscan

    hyperscan = _hyperscan
except ImportError:  # pragma: no cover - depends on the platform's wheels
    hyperscan = None

#: Files larger than this are not searched for secrets (data files, not configuration).
MAX_TEXT_SIZE = 8 * 1024 * 1024
#: A NUL byte in the first block marks a binary file.
BINARY_PROBE = 8192
#: Default window before/after a keyword hit for single-line rules.
DEFAULT_BEFORE = 1024
DEFAULT_AFTER = 4096
#: Window of rules whose regex can cross lines (private keys, multi-line curl commands).
MULTILINE_BEFORE = 2048
MULTILINE_AFTER = 16384
#: Regex constructs that can match a newline: such rules are evaluated on a multi-line window.
_MULTILINE = re.compile(r"\\s\\S|\\S\\s|\(\?[a-z]*s|\[\\r\\n\]|\\n|\\r")
#: Buffers up to this size are searched whole by each candidate rule.
WHOLE_BUFFER = 4 * 1024
#: More keyword windows than this for one rule in one buffer: search the buffer whole instead.
MAX_WINDOWS = 256
#: What one regex call on a window costs in Python overhead, in bytes of RE2 scanning: a rule with more
#: windows than the buffer has multiples of this is cheaper to run once over the whole buffer.
WINDOW_COST = 1024
#: Leading characters of a secret kept visible in evidence.
MASK_KEEP = 4
#: Longest evidence excerpt.
EVIDENCE_WIDTH = 160

_SEVERITIES = {
    "LOW": Severity.LOW,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}


def shannon_entropy(text: bytes) -> float:
    """Bits per symbol, as gitleaks computes it for its `entropy` thresholds."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _compile(pattern: str) -> Any:
    return re2.compile(pattern.encode())


@dataclass(frozen=True, slots=True)
class Pattern:
    regex: Any
    group: int | None
    entropy: float
    #: Whether the global (gitleaks) allowlist applies; Trivy's rules never had it.
    global_allow: bool = True


@dataclass(frozen=True, slots=True)
class Allow:
    """One gitleaks-style allowlist: `condition` OR (any criterion) or AND (all given criteria)."""

    regexes: tuple[Any, ...] = ()
    paths: tuple[Any, ...] = ()
    stopwords: tuple[bytes, ...] = ()
    target: str = "secret"
    all_of: bool = False

    def allows(self, path: str, secret: bytes, match: bytes, line: bytes) -> bool:
        checks: list[bool] = []
        if self.regexes:
            subject = {"match": match, "line": line}.get(self.target, secret)
            checks.append(any(r.search(subject) for r in self.regexes))
        if self.paths:
            checks.append(any(p.search(path.encode()) for p in self.paths))
        if self.stopwords:
            low = secret.lower()
            checks.append(any(w in low for w in self.stopwords))
        if not checks:
            return False
        return all(checks) if self.all_of else any(checks)


@dataclass(frozen=True, slots=True)
class SecretRule:
    id: str
    title: str
    severity: Severity
    keywords: tuple[str, ...]
    patterns: tuple[Pattern, ...]
    path: Any = None
    allows: tuple[Allow, ...] = ()
    before: int = DEFAULT_BEFORE
    after: int = DEFAULT_AFTER
    multiline: bool = False
    #: Lower wins when two rules report the same bytes (specific rules before generic ones).
    priority: int = 0


@dataclass(frozen=True, slots=True)
class SecretMatch:
    rule: SecretRule
    line: int
    start: int
    end: int
    evidence: str
    end_line: int = 0


def _allow_from(doc: dict[str, Any]) -> Allow:
    return Allow(
        regexes=tuple(_compile(r) for r in doc.get("regexes", ())),
        paths=tuple(_compile(p) for p in doc.get("paths", ())),
        stopwords=tuple(w.lower().encode() for w in doc.get("stopwords", ())),
        target=str(doc.get("target", "secret")),
        all_of=str(doc.get("condition", "OR")).upper() == "AND",
    )


def _rule_from(doc: dict[str, Any], order: int) -> SecretRule:
    patterns = []
    for p in doc.get("patterns", ()):
        regex = _compile(p["regex"])
        group = p.get("group")
        if isinstance(group, str):
            group = regex.groupindex[group.encode()]
        patterns.append(
            Pattern(
                regex=regex,
                group=group,
                entropy=float(p.get("entropy", 0.0)),
                global_allow=bool(p.get("global_allow", True)),
            )
        )
    sources = [str(p["regex"]) for p in doc.get("patterns", ())]
    multiline = bool(doc.get("multiline", False)) or any(_MULTILINE.search(s) for s in sources)
    rid = str(doc["id"])
    return SecretRule(
        id=rid,
        title=str(doc.get("title", rid)),
        severity=_SEVERITIES.get(str(doc.get("severity", "MEDIUM")).upper(), Severity.MEDIUM),
        keywords=tuple(str(k).lower() for k in doc.get("keywords", ())),
        patterns=tuple(patterns),
        path=_compile(doc["path"]) if doc.get("path") else None,
        allows=tuple(_allow_from(a) for a in doc.get("allow", ())),
        before=int(doc.get("before", MULTILINE_BEFORE if multiline else DEFAULT_BEFORE)),
        after=int(doc.get("after", MULTILINE_AFTER if multiline else DEFAULT_AFTER)),
        multiline=multiline,
        priority=order + (10_000 if rid.startswith("generic") or doc.get("generic") else 0),
    )


def mask(secret: str) -> str:
    keep = min(MASK_KEEP, len(secret) // 4)
    return secret[:keep] + "*" * (len(secret) - keep)


def _excerpt(line: bytes, line_start: int, spans: Sequence[tuple[int, int]], focus: tuple[int, int]) -> str:
    """The line around `focus` with every secret span on it masked."""
    text = bytearray(line)
    for s, e in spans:
        s, e = max(s - line_start, 0), min(e - line_start, len(text))
        if s < e:
            masked = mask(bytes(text[s:e]).decode("utf-8", "replace")).encode()
            keep = len(masked) - masked.count(b"*")
            text[s + keep : e] = b"*" * (e - s - keep)
    fs = max(focus[0] - line_start, 0)
    lo = max(0, fs - EVIDENCE_WIDTH // 3)
    hi = min(len(text), lo + EVIDENCE_WIDTH)
    return bytes(text[lo:hi]).decode("utf-8", "replace").strip()


class KeywordPrefilter:
    """Which rule keywords occur in a buffer: one Hyperscan pass (Aho–Corasick where it is missing).

    Hyperscan reports each keyword once (SINGLEMATCH), so the cost is a single SIMD pass however
    common a keyword is; the Aho–Corasick fallback walks every occurrence in Python and is ~20x slower.
    """

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = list(keywords)
        self._local = threading.local()
        self._hs: Any = None
        self._auto: Any = None
        if hyperscan is not None and self.keywords:
            db = hyperscan.Database()
            flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
            db.compile(
                expressions=[b"".join(b"\\x%02x" % c for c in k.encode("latin-1")) for k in self.keywords],
                ids=list(range(len(self.keywords))),
                elements=len(self.keywords),
                flags=[flags] * len(self.keywords),
            )
            self._hs = db
        elif self.keywords:
            auto = ahocorasick.Automaton()
            for i, kw in enumerate(self.keywords):
                auto.add_word(kw, i)
            auto.make_automaton()
            self._auto = auto

    def present(self, data: bytes) -> set[int]:
        found: set[int] = set()
        if self._hs is not None:
            scratch = getattr(self._local, "scratch", None)
            if scratch is None:
                scratch = self._local.scratch = hyperscan.Scratch(self._hs)

            def on_match(kid: int, _start: int, _end: int, _flags: int, _ctx: object) -> None:
                found.add(kid)

            self._hs.scan(data, match_event_handler=on_match, scratch=scratch)
        elif self._auto is not None:
            for _end, kid in self._auto.iter(data.decode("latin-1").lower()):
                found.add(kid)
        return found


@dataclass(slots=True)
class SecretEngine:
    rules: list[SecretRule]
    global_allow: Allow
    excluded_paths: list[str] = field(default_factory=list)
    _prefilter: Any = None
    _kw_rules: list[tuple[int, ...]] = field(default_factory=list)
    _unkeyed: list[int] = field(default_factory=list)
    _exclude: Any = None
    #: The same exclusions as an RE2 set: a DFA-only yes/no, several times cheaper per call than a
    #: search (which also locates the match). Asked for every file of every layer.
    _exclude_set: Any = None
    #: Rules without patterns that fire on a path alone: asked for every analyzed file, so listed once.
    _path_only: list[SecretRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        by_kw: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            if not rule.patterns:
                continue
            if not rule.keywords:
                self._unkeyed.append(i)
            for kw in rule.keywords:
                by_kw.setdefault(kw, []).append(i)
        self._path_only = [r for r in self.rules if not r.patterns and r.path is not None]
        self._prefilter = KeywordPrefilter(list(by_kw))
        self._kw_rules = [tuple(v) for v in by_kw.values()]
        paths = list(self.excluded_paths)
        self._exclude = _compile("|".join(f"(?:{p})" for p in paths)) if paths else None
        self._exclude_set = None
        if paths:
            exclude_set = re2.Set.SearchSet()
            for p in paths:
                exclude_set.Add(p.encode())
            exclude_set.Compile()
            self._exclude_set = exclude_set

    @classmethod
    def from_documents(cls, docs: Iterable[dict[str, Any]]) -> SecretEngine:
        rules: list[SecretRule] = []
        allow: dict[str, list[str]] = {"regexes": [], "paths": [], "stopwords": []}
        excluded: list[str] = []
        seen: set[str] = set()
        for doc in docs:
            for key in allow:
                allow[key].extend(doc.get("allowlist", {}).get(key, ()))
            excluded.extend(doc.get("allowlist", {}).get("paths", ()))
            excluded.extend(doc.get("excluded_paths", ()))
            for rdoc in doc.get("rules", ()):
                if rdoc["id"] in seen:
                    raise ValueError(f"duplicate secret rule id {rdoc['id']}")
                seen.add(rdoc["id"])
                rules.append(_rule_from(rdoc, len(rules)))
        glob = Allow(
            regexes=tuple(_compile(r) for r in allow["regexes"]),
            stopwords=tuple(w.lower().encode() for w in allow["stopwords"]),
        )
        return cls(rules=rules, global_allow=glob, excluded_paths=excluded)

    def path_excluded(self, path: str) -> bool:
        if self._exclude is None:
            return False
        raw = path.encode()
        if self._exclude_set.Match(raw):
            return True
        # A set's DFA that runs out of memory answers "no match" rather than falling back as a
        # search does: a "no" is confirmed by the search (excluded paths, the bulk of an image, are
        # answered by the set alone).
        return self._exclude.search(raw) is not None

    def path_rules(self, path: str) -> list[SecretRule]:
        """Rules that fire on a path alone (e.g. a PKCS#12 key store)."""
        if not self._path_only:
            return []
        raw = path.encode()
        return [r for r in self._path_only if r.path.search(raw)]

    def _windows(self, data: bytes, only: set[str] | None) -> dict[int, list[tuple[int, int]]]:
        """Per candidate rule, the byte ranges its regexes run on.

        Small buffers are searched whole (one RE2 call beats any window bookkeeping). In large ones each
        keyword occurrence opens a window (its line, or a multi-line span for key blocks); a rule whose
        keyword is so common that windows would cover most of the buffer is searched whole too.
        """
        present = self._prefilter.present(data)
        candidates: dict[int, list[str]] = {}
        for kid in present:
            for i in self._kw_rules[kid]:
                candidates.setdefault(i, []).append(self._prefilter.keywords[kid])
        for i in self._unkeyed:
            candidates[i] = []
        n = len(data)
        out: dict[int, list[tuple[int, int]]] = {}
        low = data.lower() if n > WHOLE_BUFFER and candidates else b""
        # Many rules share a keyword ("key", "token", "secret") and the default window: each keyword's
        # occurrences are found once per buffer, and each distinct window shape is built once.
        found: dict[str, list[int]] = {}
        shaped: dict[tuple[tuple[str, ...], int, int, bool], list[tuple[int, int]] | None] = {}
        for i, kws in candidates.items():
            rule = self.rules[i]
            if only is not None and rule.id not in only:
                continue
            if n <= WHOLE_BUFFER or not kws:
                out[i] = [(0, n)]
                continue
            shape = (tuple(kws), rule.before, rule.after, rule.multiline)
            if shape not in shaped:
                shaped[shape] = self._merged(data, low, kws, found, rule)
            merged = shaped[shape]
            out[i] = [(0, n)] if merged is None or len(merged) * WINDOW_COST > n else merged
        return out

    @staticmethod
    def _merged(
        data: bytes, low: bytes, kws: list[str], found: dict[str, list[int]], rule: SecretRule
    ) -> list[tuple[int, int]] | None:
        """The merged windows around every occurrence of `kws`; None when there are too many of them."""
        n = len(data)
        spans: list[tuple[int, int]] = []
        for kw in kws:
            starts = found.get(kw)
            if starts is None:
                k = kw.encode("latin-1")
                starts = []
                pos = low.find(k)
                while pos >= 0 and len(starts) <= MAX_WINDOWS:
                    starts.append(pos)
                    pos = low.find(k, pos + 1)
                found[kw] = starts
            spans.extend((pos, pos + len(kw)) for pos in starts)
            if len(spans) > MAX_WINDOWS:
                return None
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if rule.multiline:
                ws, we = max(0, s - rule.before), min(n, e + rule.after)
            else:
                ls = data.rfind(b"\n", max(0, s - rule.before), s) + 1 or max(0, s - rule.before)
                le = data.find(b"\n", e, e + rule.after)
                ws, we = ls, (le if le >= 0 else min(n, e + rule.after))
            if merged and ws <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], we))
            else:
                merged.append((ws, we))
        return merged

    def scan(self, data: bytes, path: str = "", only: set[str] | None = None) -> list[SecretMatch]:
        """All secrets in `data`; `only` restricts to some rule ids (as upstream validates one rule)."""
        pathb = path.encode()
        raw: list[tuple[int, int, int, int, int, SecretRule]] = []
        for i, windows in self._windows(data, only).items():
            rule = self.rules[i]
            if rule.path is not None and not rule.path.search(pathb):
                continue
            seen: set[tuple[int, int]] = set()
            for ws, we in windows:
                chunk = data if (ws, we) == (0, len(data)) else data[ws:we]
                for pat in rule.patterns:
                    for m in pat.regex.finditer(chunk):
                        g = pat.group
                        if g is None:
                            g = next((k for k in range(1, pat.regex.groups + 1) if m.group(k)), 0)
                        s, e = m.span(g)
                        if s < 0 or s == e:
                            continue
                        key = (ws + s, ws + e)
                        if key in seen:
                            continue
                        secret = chunk[s:e]
                        if pat.entropy and shannon_entropy(secret) < pat.entropy:
                            continue
                        ls = data.rfind(b"\n", 0, ws + s) + 1
                        le = data.find(b"\n", ws + e)
                        line = data[ls : le if le >= 0 else len(data)]
                        mstart, mend = m.span()
                        match = chunk[mstart:mend]
                        if (pat.global_allow and self.global_allow.allows(path, secret, match, line)) or any(
                            a.allows(path, secret, match, line) for a in rule.allows
                        ):
                            continue
                        seen.add(key)
                        raw.append((rule.priority, ws + s, ws + e, ls, len(line), rule))
        raw.sort(key=lambda r: (r[0], r[1]))
        taken: list[tuple[int, int, int, int, int, SecretRule]] = []
        for item in raw:
            if any(item[1] < t[2] and t[1] < item[2] for t in taken):
                continue
            taken.append(item)
        spans = [(t[1], t[2]) for t in taken]
        out = []
        for _, s, e, ls, ll, rule in sorted(taken, key=lambda t: t[1]):
            line_spans = [(a, b) for a, b in spans if a < ls + ll and b > ls]
            evidence = _excerpt(data[ls : ls + ll], ls, line_spans, (s, e))
            line_no = data.count(b"\n", 0, s) + 1
            end_line = line_no + data.count(b"\n", s, e)
            out.append(SecretMatch(rule, line_no, s, e, evidence, end_line))
        return out


_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(name: str) -> dict[str, Any]:
    text = resources.files("openhss.scan.rules").joinpath(name).read_text(encoding="utf-8")
    # libyaml's safe loader builds the same document ~7x faster (0.34 s -> 0.05 s for the 130 kB
    # upstream rules, paid by every scan process that looks for secrets).
    doc = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader either way
    if not isinstance(doc, dict):
        raise ValueError(f"{name}: not a mapping")
    return doc


@functools.cache
def default_engine() -> SecretEngine:
    """The shipped rules, compiled once per process."""
    return SecretEngine.from_documents([_load_yaml("secrets-upstream.yaml"), _load_yaml("secrets.yaml")])


def looks_binary(head: bytes) -> bool:
    return b"\x00" in head[:BINARY_PROBE]


def to_findings(matches: Iterable[SecretMatch], path: str) -> list[Finding]:
    return [
        Finding(
            kind=FindingKind.SECRET,
            rule_id=m.rule.id,
            severity=m.rule.severity,
            title=m.rule.title,
            path=path,
            line=m.line,
            evidence=m.evidence,
            remediation="Remove the secret from the image, rotate it, and inject it at run time instead.",
        )
        for m in matches
    ]


class SecretAnalyzer(Analyzer):
    name = "secrets"
    version = 1
    scope = ScanScope.SENSITIVE_INFO
    max_size = MAX_TEXT_SIZE

    def __init__(self, engine: SecretEngine | None = None) -> None:
        self.engine = engine or default_engine()

    def wants(self, entry: FileEntry) -> bool:
        if not entry.is_file or entry.size == 0 or entry.size > MAX_TEXT_SIZE:
            return False
        return not self.engine.path_excluded(entry.path)

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        result = AnalysisResult()
        for rule in self.engine.path_rules(entry.path):
            result.findings.append(
                Finding(
                    kind=FindingKind.SECRET,
                    rule_id=rule.id,
                    severity=rule.severity,
                    title=rule.title,
                    path=entry.path,
                    evidence=entry.path.rsplit("/", 1)[-1],
                    remediation="Do not ship key stores in images; mount them at run time.",
                )
            )
        data = content.read(MAX_TEXT_SIZE)
        if looks_binary(data):
            return result
        result.findings.extend(to_findings(self.engine.scan(data, entry.path), entry.path))
        return result
