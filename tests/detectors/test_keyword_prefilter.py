"""The Aho–Corasick fallback of the secret keyword prefilter (used where no Hyperscan wheel exists)
finds exactly the keywords Hyperscan finds, on the shipped rules' keywords."""

from __future__ import annotations

import random

import pytest

from openhss.scan.analyzers import secrets
from openhss.scan.analyzers.secrets import KeywordPrefilter, default_engine


def _keywords() -> list[str]:
    engine = default_engine()
    return sorted({kw for rule in engine.rules if rule.patterns for kw in rule.keywords})


def _buffers(keywords: list[str]) -> list[bytes]:
    rng = random.Random(18)
    out = [b"", b"no keyword here", bytes(range(256)) * 4]
    for _ in range(200):
        picked = rng.sample(keywords, k=min(len(keywords), rng.randint(1, 4)))
        parts: list[bytes] = []
        for kw in picked:
            # Case variants: the prefilter is case-insensitive (Hyperscan CASELESS) in both engines.
            variant = "".join(c.upper() if rng.random() < 0.5 else c for c in kw)
            parts += [rng.randbytes(rng.randint(0, 40)), variant.encode("latin-1")]
        out.append(b"".join(parts))
    return out


@pytest.mark.skipif(secrets.hyperscan is None, reason="no Hyperscan wheel here: nothing to compare with")
def test_fallback_finds_what_hyperscan_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    keywords = _keywords()
    assert keywords, "the shipped secret rules have keywords"
    fast = KeywordPrefilter(keywords)
    buffers = _buffers(keywords)
    expected = [fast.present(data) for data in buffers]
    assert sum(map(len, expected)) > len(buffers), "the buffers hold keywords"
    monkeypatch.setattr(secrets, "hyperscan", None)
    fallback = KeywordPrefilter(keywords)
    assert fallback._hs is None and fallback._auto is not None
    for data, want in zip(buffers, expected, strict=True):
        assert fallback.present(data) == want, data[:80]
