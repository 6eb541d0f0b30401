"""Request/response models whose field names are exactly the HSS SDK's JSON keys (spec §3-4).

Shared query-parameter types live here too, so every list endpoint enforces the same documented
ranges (offset 0-2000000, limit 10-200) and answers 400 naming the field when they are violated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel

Offset = Annotated[int, Query(ge=0, le=2_000_000, description="Start position, 0-2000000.")]
Limit = Annotated[int, Query(ge=10, le=200, description="Page size, 10-200.")]
RepairNecessity = Literal["Low", "Medium", "High", "Critical"]
VulTypeParam = Literal["app_vul", "linux_vul"]
ImageTypeParam = Literal["local", "registry", "cicd", "cluster"]
VulImageStatus = Literal["vul_status_unfix", "vul_status_ignored"]


class VulAffectImagesResponseInfo(BaseModel):
    image_id: str
    image_name: str
    vul_id: str
    repair_necessity: str
    container_num: int
    image_digest: str
    image_version: str
    agent_id: str
    status: str
    first_scan_time: str
    latest_scan_time: str
    image_type: str
    image_size: str
    organization: str
    registry_type: str
    registry_name: str
    is_multi_arch: str
    cluster_id: str
    cluster_name: str


class ListVulAffectImagesResponse(BaseModel):
    total_num: int
    data_list: list[VulAffectImagesResponseInfo]
