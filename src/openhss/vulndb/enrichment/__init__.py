"""Enrichment feeds: CVSS from CVE JSON 5 and NVD, EPSS, CISA KEV. They add to advisories, never match."""
