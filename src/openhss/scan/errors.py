"""Errors the image layer raises, each carrying the HSS scan status it ends a scan with.

The scan state machine must record *why* a scan ended, not just that it did: the status tells the user
whether to retry (download_failed), raise a limit (image_oversized) or report a broken image (failed),
and the reason string is what the HSS API shows next to it. Mapping lives on the exception so the
pipeline needs a single `except ScanError as e: mark(e.status, e.reason)`.
"""

from __future__ import annotations

from typing import ClassVar

from openhss.domain.enums import ScanStatus
from openhss.domain.errors import InvalidRequest


class ScanError(Exception):
    """Base of every error that ends an image scan; `status` is the final `ScanStatus`."""

    status: ClassVar[ScanStatus] = ScanStatus.FAILED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImageOversized(ScanError):
    """A configured size or count limit was exceeded (image, layer, members)."""

    status = ScanStatus.IMAGE_OVERSIZED


class DownloadFailed(ScanError):
    """The image could not be fetched intact: store unreachable, auth refused, digest mismatch."""

    status = ScanStatus.DOWNLOAD_FAILED


class DigestMismatch(DownloadFailed):
    """Bytes received do not hash to the digest that names them: corrupted or tampered in transit."""


class AuthenticationFailed(DownloadFailed):
    """The registry refused the credentials (or demanded some and none were configured)."""


class ImageNotFound(DownloadFailed):
    """The store answered but has no such image, tag or blob."""


class CorruptImage(ScanError):
    """Malformed content: bad tar header, truncated or invalid compression, unparsable manifest."""

    status = ScanStatus.FAILED


class DiffIdMismatch(CorruptImage):
    """A layer's uncompressed tar does not hash to the diff_id its image config names.

    The config is the image author's claim; the diff_id keys the layer cache and the report, so an
    image whose claim is false is refused rather than scanned under a name that is not its content.
    """


class PlatformNotFound(ScanError):
    """A multi-platform index has no manifest for the requested platform."""

    status = ScanStatus.FAILED


class ScratchSpaceExhausted(ScanError):
    """The scratch dir filled up while spooling a member: an operator problem, named as such."""

    status = ScanStatus.FAILED


class BudgetExceeded(Exception):
    """One file's analysis went over its time, byte, member or scratch budget.

    Not a `ScanError`: it ends that file's analysis (a reported skip), never the scan, so one planted
    file cannot hide the rest of an image.
    """


class InvalidImageReference(InvalidRequest):
    """A reference string the parser cannot read; an API input error (400), not a scan outcome."""
