"""The layer cache in the service database: shared by workers, immutable entries, codec-checked."""

from __future__ import annotations

from datetime import timedelta

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.cache import cache_key
from openhss.scan.layers import LayerStats
from openhss.scan.walk import LayerAnalysis
from openhss.services.layer_cache import DbLayerCache
from openhss.services.runtime import Runtime


def _analysis(diff_id: str) -> LayerAnalysis:
    pkg = Package("curl", "7.88.1-10", Ecosystem.DEBIAN, PackageType.DEB, path="var/lib/dpkg/status")
    return LayerAnalysis(
        diff_id=diff_id,
        result=AnalysisResult(packages=[pkg], observed=["etc/shadow"]),
        whiteouts=["etc/motd"],
        stats=LayerStats(members=12, uncompressed_bytes=4096, compression="gzip"),
        analyzers={"dpkg": 1},
    )


def test_round_trip_duplicate_put_and_prune(runtime: Runtime) -> None:
    cache = DbLayerCache(runtime.sessions)
    key = cache_key("sha256:" + "a" * 64, {"dpkg": 1})
    assert cache.get(key) is None
    cache.put(key, _analysis("sha256:" + "a" * 64))
    cache.put(key, _analysis("sha256:" + "a" * 64))  # a second worker storing the same layer is harmless
    got = cache.get(key)
    assert got is not None
    assert [p.name for p in got.result.packages] == ["curl"]
    assert got.whiteouts == ["etc/motd"] and got.result.observed == ["etc/shadow"]
    assert got.stats.uncompressed_bytes == 4096
    assert cache.prune(timedelta(days=1)) == 0
    assert cache.prune(timedelta(seconds=-1)) == 1
    assert cache.get(key) is None
