"""Memory under hostile uploads: the RSS growth of a running `openhss serve` while 8 clients upload at
once, against 8 ordinary uploads of the same routes in the same run (the baseline).

Hostile: zstd layer-analysis bombs (a few KiB declaring 256 MiB; and one that declares nothing and
inflates to 1 GiB), JSON value bombs (`[[],[],...]` just under the 10 MiB body limit, and others just
under the JSON value limit, which are parsed) to the inventory, agent-result and CI/CD routes.
Goal (issue 16): growth < 100 MB. Before the bounds, 8 concurrent 8 KiB layer-cache PUTs took the
server from 276 MB to 2.5 GB.

    python bench/uploads.py
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import httpx
import zstandard

from common import OPENHSS, record, table
from openhss.domain import signing
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.cache import encode
from openhss.scan.walk import LayerAnalysis

AK, SK = "BENCHUPLOADAK0000001", "bench-" + secrets.token_hex(16)
PROJECT = "benchuploads00000001"
GOAL_MB = 100


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Peak RSS of a process while a phase runs (sampled every 10 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> Sampler:
        self.peak = _rss_mb(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb(self.pid))
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb(self.pid))


def _send(base: str, method: str, path: str, body: bytes, ctype: str) -> int:
    url = base + path
    headers = {"content-type": ctype}
    headers.update(signing.sign(AK, SK, method, url, headers, body))
    try:
        return httpx.request(method, url, headers=headers, content=body, timeout=300).status_code
    except httpx.HTTPError:
        return -1


def _layer(i: int) -> tuple[str, str, bytes, str]:
    blob = encode(LayerAnalysis(f"sha256:{i:064x}", AnalysisResult()))
    return "PUT", f"/v5/{PROJECT}/agent/layer-cache/{secrets.token_hex(32)}", blob, "application/octet-stream"


def _benign(i: int) -> tuple[str, str, bytes, str]:
    if i % 2:
        return _layer(i)
    images = [{"image_id": f"sha256:{i:08x}{n:056x}", "repo_tags": [f"app{n}:1"]} for n in range(2000)]
    body = json.dumps({"agent_id": f"agent-{i}", "images": images}).encode()
    return "PUT", f"/v5/{PROJECT}/agent/inventory", body, "application/json"


def _hostile(i: int) -> tuple[str, str, bytes, str]:
    key = f"/v5/{PROJECT}/agent/layer-cache/{secrets.token_hex(32)}"
    if i in (0, 1, 2):  # declares its size: 256 MiB of JSON array
        return (
            "PUT",
            key,
            zstandard.ZstdCompressor(level=19).compress(b"[" + b"0," * (128 << 20) + b"0]"),
            "x",
        )
    if i == 3:  # declares nothing, inflates to 1 GiB
        cctx = zstandard.ZstdCompressor(level=19, write_content_size=False)
        return "PUT", key, cctx.compress(b" " * (1 << 30)), "application/octet-stream"
    if i in (5, 7):  # just under the JSON value limit: parsed (under the gate), then refused
        bomb = b'{"agent_id":"a","images":[' + b"[]," * 499_000 + b"[]]}"
    else:  # over it: refused before parsing
        bomb = b'{"agent_id":"a","images":[' + b"[]," * ((10 << 20) // 3 - 20) + b"[]]}"
    path = {
        4: f"/v5/{PROJECT}/agent/inventory",
        5: f"/v5/{PROJECT}/agent/inventory",
        6: f"/v5/{PROJECT}/image/cicd/images?cicd_name=b&image_name=b",
        7: f"/v5/{PROJECT}/agent/jobs/1/result?agent_id=a",
    }[i]
    return ("PUT" if "inventory" in path else "POST"), path, bomb, "application/json"


def _phase(base: str, pid: int, requests: list[tuple[str, str, bytes, str]]) -> tuple[float, list[int]]:
    with Sampler(pid) as s, ThreadPoolExecutor(len(requests)) as pool:
        statuses = list(pool.map(lambda r: _send(base, *r), requests))
    return s.peak, statuses


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = 18000 + os.getpid() % 1000
        env = {
            **os.environ,
            "OPENHSS_DATA_DIR": tmp,
            "OPENHSS_ADMIN_PASSWORD": secrets.token_urlsafe(12),
            "OPENHSS_ADMIN_ACCESS_KEY": AK,
            "OPENHSS_ADMIN_SECRET_KEY": SK,
            "OPENHSS_DEFAULT_PROJECT_ID": PROJECT,
            "OPENHSS_LOCAL_AGENT": "false",
        }
        proc = subprocess.Popen(
            [OPENHSS, "serve", "--port", str(port), "--no-worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for i in range(8):
                body = json.dumps({"agent_id": f"agent-{i}", "host_name": f"h{i}"}).encode()
                _send(base, "POST", f"/v5/{PROJECT}/agent/register", body, "application/json")
            # Warm up every route once, so imports and pools are not counted as growth.
            _phase(base, proc.pid, [_benign(0), _benign(1)])
            hostile = [_hostile(i) for i in range(8)]
            idle = _rss_mb(proc.pid)
            benign_peak, benign_status = _phase(base, proc.pid, [_benign(i) for i in range(8)])
            settled = _rss_mb(proc.pid)
            hostile_peak, hostile_status = _phase(base, proc.pid, hostile)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rows = [
        ["idle", f"{idle:.0f}", "", ""],
        ["8 ordinary uploads (baseline)", f"{benign_peak:.0f}", f"{benign_peak - idle:+.0f}", benign_status],
        ["8 hostile uploads", f"{hostile_peak:.0f}", f"{hostile_peak - settled:+.0f}", hostile_status],
    ]
    print(table(rows, ["phase", "peak RSS MB", "growth MB", "statuses"]))
    growth = hostile_peak - settled
    print(f"hostile growth {growth:.0f} MB (goal < {GOAL_MB} MB): {'ok' if growth < GOAL_MB else 'OVER'}")
    record(
        "uploads",
        {
            "idle_mb": idle,
            "benign_peak_mb": benign_peak,
            "hostile_peak_mb": hostile_peak,
            "hostile_growth_mb": growth,
            "hostile_statuses": hostile_status,
        },
    )


if __name__ == "__main__":
    main()
