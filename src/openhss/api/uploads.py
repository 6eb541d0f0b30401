"""Bounded reading of request bodies: what one request may cost in memory, decided before the cost.

A body's size on the wire says little about what parsing it costs: a zstd frame of 8 KiB inflates to
256 MiB, and JSON like `[[],[],...]` becomes ~20 times its size in Python objects. So every body is
bounded twice, centrally (`BodyLimitMiddleware`) and, for compressed uploads, by `zstd_bounded`:

* bytes: the wire size (`max_request_bytes`), and the decompressed size (`max_upload_decompressed_bytes`),
  checked from the frame header first and then while streaming, so a bomb is refused after at most
  `cap` bytes of work and none of memory beyond one chunk;
* values: the number of JSON values (counted from the structural characters, an upper bound) is at
  most `max_json_values`, which bounds what the parser allocates;
* concurrency: bodies above `large_body_bytes` (and every compressed upload) are parsed under one
  process-wide gate of `large_body_concurrency` slots, so 8 hostile uploads at once cost what one does.

Refusals are 413 `HSS.0413` naming the limit.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import zstandard

from openhss.config import Limits
from openhss.domain.errors import InvalidRequest, PayloadTooLarge

_CHUNK = 1 << 20
_HELD = "upload_gate_held"


def json_values(data: bytes) -> int:
    """An upper bound of the values a JSON text holds: every array, object and separator counts."""
    return data.count(b",") + data.count(b"[") + data.count(b"{")


class UploadBudget:
    """The per-process budget for expensive bodies (one per app)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._gate = asyncio.Semaphore(limits.large_body_concurrency)

    @asynccontextmanager
    async def gate(self, state: dict[str, Any]) -> AsyncIterator[None]:
        """Hold one slot for this request (`state`: its ASGI state); re-entrant within the request."""
        if state.get(_HELD):
            yield
            return
        async with self._gate:
            state[_HELD] = True
            try:
                yield
            finally:
                state[_HELD] = False

    def check_json(self, data: bytes) -> None:
        if json_values(data) > self.limits.max_json_values:
            raise PayloadTooLarge(f"request body holds more than {self.limits.max_json_values} JSON values")

    def zstd_bounded(self, blob: bytes) -> None:
        """Refuse a zstd upload whose content exceeds the byte or JSON-value budget, without keeping it.

        The declared size (if any) is checked before any work; the frame is then decompressed a chunk
        at a time, counting, and abandoned as soon as it goes over, so a lying header gains nothing.
        """
        cap = self.limits.max_upload_decompressed_bytes
        try:
            declared = zstandard.get_frame_parameters(blob).content_size
        except zstandard.ZstdError as exc:
            raise InvalidRequest(f"not a zstd frame: {exc}") from None
        if declared != zstandard.CONTENTSIZE_UNKNOWN and declared > cap:
            raise PayloadTooLarge(f"decompressed upload of {declared} bytes exceeds the limit of {cap} bytes")
        total = values = 0
        try:
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)) as reader:
                while chunk := reader.read(_CHUNK):
                    total += len(chunk)
                    values += json_values(chunk)
                    if total > cap:
                        raise PayloadTooLarge(f"decompressed upload exceeds the limit of {cap} bytes")
                    if values > self.limits.max_json_values:
                        raise PayloadTooLarge(
                            f"upload holds more than {self.limits.max_json_values} JSON values"
                        )
        except zstandard.ZstdError as exc:
            raise InvalidRequest(f"not a valid zstd frame: {exc}") from None
