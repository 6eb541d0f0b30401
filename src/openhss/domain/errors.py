"""Typed errors. Every layer raises these; the API maps them to the HSS error body in one place.

Codes follow the `HSS.xxxx` shape that Huawei services use; the SDK surfaces them as
`ClientRequestException.error_code`.
"""

from __future__ import annotations


class HssError(Exception):
    """Base: carries the HTTP status and HSS error code for the one error mapping in `api/errors.py`."""

    status_code = 500
    error_code = "HSS.0500"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(HssError):
    status_code = 400
    error_code = "HSS.0001"


class Unauthenticated(HssError):
    status_code = 401
    error_code = "HSS.0401"


class Forbidden(HssError):
    status_code = 403
    error_code = "HSS.0403"


class NotFound(HssError):
    status_code = 404
    error_code = "HSS.0404"


class Conflict(HssError):
    status_code = 409
    error_code = "HSS.0409"


class PayloadTooLarge(HssError):
    status_code = 413
    error_code = "HSS.0413"


class ServiceUnavailable(HssError):
    status_code = 503
    error_code = "HSS.0503"
