"""Differential tests against the real tools installed here: `dpkg --compare-versions` and rpm's
own `rpm.vercmp` (through `rpm --eval` Lua). Random versions from a fixed seed, so a failure
reproduces; the tools skip the test with a reason when absent."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from openhss.domain.version.dpkg import DpkgScheme
from openhss.domain.version.rpm import rpmvercmp

_DPKG_ALPHABET = "0123456789" * 3 + "abcz.+~" + "AZ"
# No `-` or `:`: rpm.vercmp() in Lua splits an EVR there; rpmvercmp proper sees single fields.
_RPM_ALPHABET = "0123456789" * 2 + "abz" + ".~^_+" + "A"


def _random_dpkg(rng: random.Random) -> str:
    upstream = rng.choice("0123456789") + "".join(
        rng.choice(_DPKG_ALPHABET) for _ in range(rng.randint(0, 7))
    )
    version = upstream
    if rng.random() < 0.5:
        version += "-" + "".join(rng.choice(_DPKG_ALPHABET) for _ in range(rng.randint(1, 5)))
    if rng.random() < 0.2:
        version = f"{rng.randint(0, 3)}:{version}"
    return version


def _mutate(rng: random.Random, v: str, alphabet: str) -> str:
    """A close neighbour of `v` (most interesting comparisons are between near-equal versions)."""
    chars = list(v)
    i = rng.randrange(len(chars) + 1)
    op = rng.random()
    if op < 0.4:
        chars.insert(i, rng.choice(alphabet))
    elif op < 0.7 and i < len(chars) and len(chars) > 1:
        del chars[i]
    elif i < len(chars):
        chars[i] = rng.choice(alphabet)
    return "".join(chars)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
def test_dpkg_agrees_with_dpkg_compare_versions() -> None:
    rng = random.Random(20261122)
    scheme = DpkgScheme()
    pairs: list[tuple[str, str]] = []
    while len(pairs) < 400:
        a = _random_dpkg(rng)
        b = _mutate(rng, a, _DPKG_ALPHABET) if rng.random() < 0.7 else _random_dpkg(rng)
        # dpkg only promises an order for well-formed versions (upstream starts with a digit, a
        # revision is non-empty, no `:` or `-` in odd places); keep those.
        if all(scheme.valid(v) and v.split(":")[-1][:1].isdigit() and not v.endswith("-") for v in (a, b)):
            pairs.append((a, b))
    disagreements = []
    for a, b in pairs:
        lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], capture_output=True, check=False)
        eq = subprocess.run(["dpkg", "--compare-versions", a, "eq", b], capture_output=True, check=False)
        if lt.stderr or eq.stderr:
            continue  # dpkg warned about syntax: not an ordering question
        want = -1 if lt.returncode == 0 else (0 if eq.returncode == 0 else 1)
        if scheme.compare(a, b) != want:
            disagreements.append((a, b, want))
    assert not disagreements, disagreements[:20]


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")
def test_rpmvercmp_agrees_with_rpm() -> None:
    rng = random.Random(4242)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < 2000:
        a = "".join(rng.choice(_RPM_ALPHABET) for _ in range(rng.randint(1, 9)))
        b = _mutate(rng, a, _RPM_ALPHABET) if rng.random() < 0.7 else a[::-1]
        if "'" not in a + b and "\\" not in a + b:
            pairs.append((a, b))
    lua = "".join(f"print(rpm.vercmp('{a}','{b}'))print('\\n')" for a, b in pairs)
    out = subprocess.run(
        ["rpm", "--eval", f"%{{lua:{lua}}}"], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert len(out) == len(pairs)
    disagreements = [
        (a, b, int(w)) for (a, b), w in zip(pairs, out, strict=True) if rpmvercmp(a, b) != int(w)
    ]
    assert not disagreements, disagreements[:20]
