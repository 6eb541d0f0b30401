"""What a re-match found: an image an advisory update made newly affected.

One definition for the service's listing (`services.rematch.newly_affected`) and the API's answer
(`GET …/image/rematch/newly-affected` serialises it as is).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NewlyAffected:
    image_id: str
    image_name: str
    image_version: str
    image_type: str
    #: The vulnerabilities the image gained in that run.
    vul_ids: list[str]
    #: When the run recorded it (epoch milliseconds).
    found_time: int
