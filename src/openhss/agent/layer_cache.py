"""The server's shared layer cache as seen by an agent: the far tier of its `TieredLayerCache`.

A layer already analysed by another agent of the same project and enterprise project is fetched from the
server instead of being read from the local store again; what the agent analyses itself is offered back.
The server cache is an optimisation only: any failure talking to it falls back to analysing the layer.
The table behind it is read only by services/layer_cache.py (under keys of the agent's tenant).
"""

from __future__ import annotations

import logging

from openhss.agent.client import ServerClient
from openhss.scan.cache import decode, encode
from openhss.scan.walk import LayerAnalysis

log = logging.getLogger("openhss.agent")


class RemoteLayerCache:
    def __init__(self, client: ServerClient) -> None:
        self.client = client
        self.hits = 0

    def get(self, key: str) -> LayerAnalysis | None:
        try:
            blob = self.client.get_bytes(f"/v5/{self.client.resolve_project()}/agent/layer-cache/{key}")
            if blob is None:
                return None
            analysis = decode(blob)
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            log.debug("shared layer cache unavailable for %s: %s", key, exc)
            return None
        self.hits += 1
        return analysis

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        try:
            self.client.agent("PUT", f"layer-cache/{key}", raw=encode(analysis))
        except RuntimeError as exc:  # too large for one request, server busy: the server just misses it
            log.debug("could not share the analysis of %s: %s", key, exc)
