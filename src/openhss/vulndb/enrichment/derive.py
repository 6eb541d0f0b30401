"""Resolve, once per store build, what every advisory id inherits from its alias group and the CVE feeds.

Why at build time: a finding is stamped from the records the matcher looks up, so the answer to "which
severity, EPSS and KEV entry belong to PYSEC-x" must be ready per advisory id; computing it for the whole
store after each update keeps lookups a join on one primary key, and makes a change of enrichment show up
in the per-key digests that decide what re-matching touches.

Severity precedence for a record (README "Severity"), first that exists wins:
1. the record's own CVSS or distro rating (Debian urgency, Ubuntu priority, Red Hat/SUSE severity);
2. a CVSS score of another advisory of the same alias group (CVE ↔ GHSA ↔ PYSEC ↔ GO-…), highest;
3. NVD's primary CVSS, then the CVE record's CNA container, then its ADP containers (CISA vulnrichment);
4. a rating word of another advisory of the group (e.g. a distro's urgency for a language advisory);
5. nothing: severity `Unknown`, source `none`.
Only 2.–5. are stored here; 1. stays on the record. EPSS takes the highest score among the group's CVEs,
KEV the earliest entry.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

from openhss.domain.aliases import AliasGroups
from openhss.domain.enums import Severity
from openhss.vulndb.enrichment.base import CVE_ID

_Rated = tuple[int, float, str, str, str]  # (has score, score, severity, vector, source)


def derive_enriched(conn: sqlite3.Connection) -> int:
    """Rebuild the `enriched` table from `records`, `cve_scores`, `epss` and `kev`; returns its rows."""
    conn.execute("DELETE FROM enriched")
    groups = AliasGroups()

    own: dict[str, _Rated] = {}
    advisory_ids: set[str] = set()
    rows = conn.execute("SELECT DISTINCT advisory_id, aliases, severity, score, vector FROM records")
    for adv, aliases, sev, score, vector in rows:
        advisory_ids.add(adv)
        groups.join(adv, json.loads(aliases))
        if sev != Severity.UNKNOWN.value:
            rated = (1 if score > 0 else 0, float(score), str(sev), str(vector), f"alias:{adv}")
            if adv not in own or rated[:2] > own[adv][:2]:
                own[adv] = rated
    members: dict[str, set[str]] = defaultdict(set)
    for x in list(groups.ids()):
        members[groups.find(x)].add(x)

    external: dict[str, tuple[int, float, str, str]] = {}
    for cve, provider, rank, score, vector in conn.execute(
        "SELECT cve, provider, rank, score, vector FROM cve_scores"
    ):
        cur = external.get(cve)
        if cur is None or (rank, -score) < (cur[0], -cur[1]):
            external[cve] = (int(rank), float(score), str(vector), str(provider))
    epss = {
        cve: (float(s), float(p), str(d))
        for cve, s, p, d in conn.execute("SELECT cve, score, percentile, date FROM epss ORDER BY score")
    }
    kev: dict[str, tuple[str, str]] = {}
    for cve, added, due in conn.execute("SELECT cve, date_added, due_date FROM kev ORDER BY date_added DESC"):
        kev[cve] = (str(added), str(due))

    out: list[tuple[object, ...]] = []
    for adv in advisory_ids:
        group = members.get(groups.find(adv), {adv})
        cves = sorted(i for i in group if CVE_ID.match(i))
        others = [own[i] for i in group if i != adv and i in own]
        scored = [r for r in others if r[0]]
        words = [r for r in others if not r[0]]
        ext = sorted((external[c] for c in cves if c in external), key=lambda e: (e[0], -e[1]))
        sev, score, vector, source = "", 0.0, "", ""
        if scored:
            best = max(scored, key=lambda r: (r[1], r[4]))
            sev, score, vector, source = best[2], best[1], best[3], best[4]
        elif ext:
            score, vector, source = ext[0][1], ext[0][2], ext[0][3]
            sev = Severity.from_score(score).value
        elif words:
            best = max(words, key=lambda r: (Severity(r[2]).rank, r[4]))
            sev, source = best[2], best[4]
        e = max((epss[c] for c in cves if c in epss), default=None)
        k = min((kev[c] for c in cves if c in kev), default=None)
        if not sev and e is None and k is None:
            continue
        epss_cols = (e[0], e[1], e[2]) if e else (None, None, "")
        kev_cols = k if k else ("", "")
        out.append(
            (adv, sev or Severity.UNKNOWN.value, score, vector, source or "none", *epss_cols, *kev_cols)
        )
    conn.executemany("INSERT INTO enriched VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", out)
    return len(out)
