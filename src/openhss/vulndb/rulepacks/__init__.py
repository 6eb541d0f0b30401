"""Malware rule packs (YARA) and known-bad hash lists: fetched by `db update`, imported offline."""
