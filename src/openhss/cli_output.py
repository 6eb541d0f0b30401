"""The human output of `openhss scan`: a table per target, sized to the terminal, ordered by risk.

A CI log is read top-down by someone deciding whether to stop a release, so the most urgent rows come
first, each target (the OS packages, each application manifest) says how many of each severity it has,
and families of identical baseline findings collapse into one row per rule. Ids are never truncated (a
CVE id cut to `CVE-2023-4…` is useless); narrow terminals wrap cells instead.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openhss.domain.enums import FindingKind, Severity, VulType
from openhss.domain.risk import risk_key

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from openhss.domain.models import Finding
    from openhss.domain.report import ImageReport
    from openhss.domain.suppression import Suppressed
    from openhss.domain.vulnerability import VulnerabilityFinding

#: Rich styles per severity; only used when stdout is a terminal.
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.UNKNOWN: "dim",
}
#: Example paths shown in a grouped baseline row.
EXAMPLES_PER_RULE = 3
#: Advisory titles are often the first lines of a description: a table row shows this much of them.
TITLE_WIDTH = 72


def short_title(text: str) -> str:
    """The first sentence, at most `TITLE_WIDTH` characters (the full text is in `-f json`). For
    titles and evidence only: identifiers are never shortened."""
    flat = " ".join(text.split())
    end = flat.find(". ")
    if 0 < end < TITLE_WIDTH:
        return flat[: end + 1]
    return flat if len(flat) <= TITLE_WIDTH else flat[: TITLE_WIDTH - 1].rstrip() + "…"


def vulnerability_order(v: VulnerabilityFinding) -> tuple[object, ...]:
    """Sort key, most urgent first: the documented risk order (`domain.risk.risk_key`: KEV, then
    EPSS × severity, then fixability); every table and template sorts through here."""
    return risk_key(v)


def finding_order(f: Finding) -> tuple[int, str, str, str]:
    return (-f.severity.rank, f.kind.value, f.rule_id, f.path)


def severity_counts(severities: Iterable[Severity]) -> str:
    """`Total: 7 (Critical: 1, High: 2, Medium: 4, Low: 0, Unknown: 0)`; a KEV count slots in here."""
    counts = Counter(severities)
    total = sum(counts.values())
    parts = ", ".join(f"{s.value}: {counts.get(s, 0)}" for s in sorted(Severity, key=lambda s: -s.rank))
    return f"Total: {total} ({parts})"


@dataclass(frozen=True, slots=True)
class Target:
    """What a group of vulnerabilities was found in: the OS packages, or one application manifest."""

    name: str
    vulnerabilities: list[VulnerabilityFinding]


def targets(report: ImageReport) -> list[Target]:
    """OS packages first (one target for the distro), then each application path, alphabetically."""
    os_name = f"{report.os.family} {report.os.version}" if report.os else "unknown OS"
    groups: dict[str, list[VulnerabilityFinding]] = defaultdict(list)
    for v in report.vulnerabilities:
        key = f"OS packages ({os_name})" if v.type is VulType.LINUX else (v.path or "(no path)")
        groups[key].append(v)
    # The OS first, then the target with the most urgent finding, so the top of the log is what matters.
    names = sorted(
        groups,
        key=lambda n: (not n.startswith("OS packages"), min(vulnerability_order(v) for v in groups[n]), n),
    )
    return [Target(n, sorted(groups[n], key=vulnerability_order)) for n in names]


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """Baseline findings of one rule: one table row however many files tripped it."""

    rule_id: str
    severity: Severity
    title: str
    paths: list[str]
    #: Files the rule tripped on (more than `paths` when grouped findings keep only examples).
    files: int = 0


def group_baseline(findings: Sequence[Finding]) -> list[RuleGroup]:
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_rule[f.rule_id].append(f)
    # The engine already folds one rule's findings in one directory into one (`count`, `examples`,
    # `path` the directory): expand them back to file paths so a row counts files, not directories.
    groups = [
        RuleGroup(
            rule,
            max((f.severity for f in fs), key=lambda s: s.rank),
            fs[0].title,
            sorted({p for f in fs for p in (f.examples or (f.path,))}),
            sum(f.count for f in fs),
        )
        for rule, fs in by_rule.items()
    ]
    return sorted(groups, key=lambda g: (-g.severity.rank, g.rule_id))


def _console(width: int | None, color: bool) -> Console:
    from rich.console import Console

    return Console(
        file=io.StringIO(),
        width=width or 160,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )


#: Column headers whose cells are identifiers: never wrapped while other columns can give up width.
ID_COLUMNS = frozenset({"Package", "Vulnerability", "Rule", "Id", "Name", "Version", "Installed", "Fixed"})
#: An identifier longer than this may wrap after all (a 200-character Go module path).
MAX_ID_WIDTH = 48


def _keep_ids(table: Table) -> Table:
    """Give identifier columns the width of their longest cell, so Rich shrinks titles and paths first."""
    from rich.text import Text

    for column in table.columns:
        if column.header in ID_COLUMNS:
            cells = [Text.from_markup(c).cell_len for c in column.cells if isinstance(c, str)]
            column.min_width = min(max(cells, default=0), MAX_ID_WIDTH)
    return table


def _sev(severity: Severity, color: bool) -> str:
    from rich.markup import escape

    text = escape(severity.value)
    return f"[{SEVERITY_STYLE[severity]}]{text}[/]" if color else text


def coverage_notes(report: ImageReport) -> list[str]:
    """What the advisory DB could not check: a scan with such packages is never a clean result."""
    from openhss.domain.coverage import describe, uncovered

    notes = [describe(e) for e in uncovered(report.coverage or [])]
    if notes:
        notes.append("not a clean result for these packages: load their advisories (see `openhss db status`)")
    return notes


def render_table(
    report: ImageReport,
    *,
    width: int | None = None,
    color: bool = False,
    suppressed: Sequence[Suppressed] = (),
    show_suppressed: bool = False,
) -> str:
    from rich.markup import escape
    from rich.table import Table

    console = _console(width, color)
    img = report.image
    os_text = f"{report.os.family} {report.os.version}" if report.os else "unknown OS"
    console.print(
        f"[bold]{escape(img.ref)}[/bold]  {escape(img.digest or img.config_digest)}  {escape(os_text)}  "
        f"{escape(img.os_name)}/{escape(img.architecture)}  {len(report.layers)} layers",
    )
    console.print(
        f"{len(report.packages)} packages, {len(report.vulnerabilities)} vulnerabilities, "
        f"{len(report.findings)} other findings" + (f", {len(suppressed)} suppressed" if suppressed else ""),
    )
    for note in coverage_notes(report):
        console.print(f"[bold yellow]{escape(note)}[/bold yellow]", highlight=False)

    def table(title: str, *columns: str) -> Table:
        t = Table(title=title, title_justify="left", expand=False)
        for col in columns:
            t.add_column(col, overflow="fold")
        return t

    for target in targets(report):
        console.print()
        console.print(f"[bold]{escape(target.name)}[/bold]")
        console.print(severity_counts(v.severity for v in target.vulnerabilities))
        t = table("", "Package", "Vulnerability", "Severity", "Installed", "Fixed", "Title")
        for v in target.vulnerabilities:
            t.add_row(
                escape(v.package_name),
                escape(v.vul_id),
                _sev(v.severity, color),
                escape(v.package_version),
                escape(v.fixed_version or f"({v.status})"),
                escape(short_title(v.title)),
            )
        console.print(_keep_ids(t))
    by_kind: dict[FindingKind, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_kind[f.kind].append(f)
    for kind in FindingKind:
        found = by_kind.get(kind)
        if not found:
            continue
        console.print()
        console.print(f"[bold]{escape(kind.value)}[/bold]")
        console.print(severity_counts(f.severity for f in found))
        if kind is FindingKind.BASELINE:
            t = table("", "Rule", "Severity", "Title", "Count", "Example paths")
            for g in group_baseline(found):
                examples = "\n".join(g.paths[:EXAMPLES_PER_RULE])
                total = max(g.files, len(g.paths))
                shown = min(len(g.paths), EXAMPLES_PER_RULE)
                more = f"\n(+{total - shown} more)" if total > shown else ""
                t.add_row(
                    escape(g.rule_id), _sev(g.severity, color), escape(g.title), str(total),
                    escape(examples + more),
                )  # fmt: skip
        else:
            t = table("", "Rule", "Severity", "Title", "Path", "Evidence")
            for f in sorted(found, key=finding_order):
                where = f"{f.path}:{f.line}" if f.line else f.path
                t.add_row(
                    escape(f.rule_id),
                    _sev(f.severity, color),
                    escape(f.title),
                    escape(where),
                    escape(short_title(f.evidence)),  # masked already; the full line is in -f json
                )
        console.print(_keep_ids(t))
    if not report.vulnerabilities and report.packages:
        console.print()
        t = table("Packages", "Name", "Version", "Ecosystem", "Path")
        for p in report.packages:
            t.add_row(escape(p.name), escape(p.version), escape(p.ecosystem.value), escape(p.path))
        console.print(_keep_ids(t))
    if show_suppressed and suppressed:
        console.print()
        t = table("Suppressed", "Id", "Package / rule", "Path", "Source", "Reason", "Expires")
        for s in suppressed:
            t.add_row(
                escape(s.finding_id), escape(s.subject), escape(s.path), escape(s.suppression.source),
                escape(s.suppression.statement), escape(s.suppression.expires_text),
            )  # fmt: skip
        console.print(_keep_ids(t))
    for path, reason in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(path)}: {escape(reason)}")
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return str(text)


#: `--format template` without `--template`: one tab-separated line per finding, for grep and awk.
DEFAULT_TEMPLATE = (
    "{% for t in targets %}{% for v in t.vulnerabilities %}"
    "vulnerability\t{{ v.vul_id }}\t{{ v.severity.value }}\t{{ v.package_name }} {{ v.package_version }}"
    "\t{{ t.name }}\n{% endfor %}{% endfor %}"
    "{% for key in ['secrets', 'malware', 'baseline', 'build_command_risks', 'non_compliant_apps'] %}"
    "{% for f in report[key] %}{{ key }}\t{{ f.rule_id }}\t{{ f.severity }}\t{{ f.title }}\t{{ f.path }}\n"
    "{% endfor %}{% endfor %}"
)


def render_template(report: ImageReport, template: Path | None, suppressed: Sequence[Suppressed] = ()) -> str:
    """`--format template --template FILE`: Jinja2 over the same JSON document `-f json` prints, plus
    the ordered targets, so a template never re-implements grouping or ordering. Without a file, a
    line per finding (`DEFAULT_TEMPLATE`)."""
    import json

    import jinja2

    from openhss.exports import scan_json

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)) if template is not None else None,
        autoescape=False,  # noqa: S701 - output is whatever text format the user's template makes
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    doc = scan_json.report_doc(report)
    compiled = env.get_template(template.name) if template is not None else env.from_string(DEFAULT_TEMPLATE)
    return compiled.render(
        report=doc,
        targets=[
            {"name": t.name, "vulnerabilities": [v._asdict() for v in t.vulnerabilities]}
            for t in targets(report)
        ],
        suppressed=[s.as_dict() for s in suppressed],
    )
