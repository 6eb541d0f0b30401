"""What an agent reports about its host: the host itself, its local images and its running containers.

One definition for the three places that used to declare it each: the agent builds these values from
its container runtime, the API validates the wire form against the same field bounds (pydantic reads
the `Annotated` constraints of these dataclasses), and the service stores them. Pure values, so the
agent needs none of the server stack to produce them.

A local image is keyed by its config digest (`image_id`), but HSS lists local images per
`image_name:image_version` (its list filters take one name and one version): `name_versions` is the
rule that turns one stored image into the rows the service lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import ConfigDict, Field, with_config

#: The version (and name) HSS shows for an image without a tag.
NONE_TAG = "<none>"

#: Field bounds of the wire form: the agent truncates to these, the API refuses what exceeds them.
MAX_IMAGE_ID = 256
MAX_REF = 512
MAX_REFS = 256
MAX_IMAGES = 20_000
MAX_CONTAINERS = 50_000
MAX_ENTRY_POINT = 4096

ImageId = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_IMAGE_ID)]
Ref = Annotated[str, Field(strict=True, max_length=MAX_REF)]
#: A JSON array becomes the tuple (lax for the container only: its items must still be strings).
Refs = Annotated[tuple[Ref, ...], Field(max_length=MAX_REFS, strict=False)]
NonNeg = Annotated[int, Field(strict=True, ge=0, le=9_223_372_036_854_775_807)]
Id128 = Annotated[str, Field(strict=True, min_length=1, max_length=128)]
Str32 = Annotated[str, Field(strict=True, max_length=32)]
Str64 = Annotated[str, Field(strict=True, max_length=64)]
Str128 = Annotated[str, Field(strict=True, max_length=128)]
Str256 = Annotated[str, Field(strict=True, max_length=256)]

#: As the API's other bodies: unknown keys ignored, known scalars strictly typed (a `"5"` is no size;
#: each alias above says `strict`, since a strict class would refuse the JSON object itself).
_WIRE = ConfigDict(extra="ignore")


def split_tag(repo_tag: str) -> tuple[str, str]:
    """`registry/repo:tag` → (`registry/repo`, `tag`); the tag is after the last colon past the last /."""
    slash = repo_tag.rfind("/")
    colon = repo_tag.rfind(":")
    if colon > slash:
        return repo_tag[:colon], repo_tag[colon + 1 :]
    return repo_tag, "latest"


@with_config(_WIRE)
@dataclass(frozen=True, slots=True)
class HostInfo:
    """The host an agent runs on, as it registers itself."""

    agent_id: Id128
    host_id: Str128 = ""
    host_name: Str256 = ""
    private_ip: Str64 = ""
    public_ip: Str64 = ""
    os_type: Str32 = "Linux"
    version: Str64 = ""
    docker_type: Str32 = ""
    docker_name: Str128 = ""
    cluster_id: Str128 = ""
    cluster_name: Str256 = ""


@with_config(_WIRE)
@dataclass(frozen=True, slots=True)
class LocalImage:
    """An image in a host's local store; `image_id` is the config digest (`sha256:...`)."""

    image_id: ImageId
    repo_tags: Refs = ()
    repo_digests: Refs = ()
    size: NonNeg = 0
    created_ms: NonNeg = 0

    def name_versions(self) -> list[tuple[str, str]]:
        """The (image_name, image_version) rows this image is listed as: one per tag, sorted.

        An untagged image is one row: its repository (from a repo digest) with version `<none>`.
        """
        tags = sorted({split_tag(t) for t in self.repo_tags if t and not t.startswith(NONE_TAG)})
        if tags:
            return tags
        for d in self.repo_digests:
            if "@" in d:
                return [(d.split("@", 1)[0], NONE_TAG)]
        return [(NONE_TAG, NONE_TAG)]

    def digest(self) -> str:
        """The manifest digest of the first repo digest (`repo@sha256:...`), else empty."""
        for d in sorted(self.repo_digests):
            if "@" in d:
                return d.split("@", 1)[1]
        return ""


@with_config(_WIRE)
@dataclass(frozen=True, slots=True)
class LocalContainer:
    container_id: Id128
    image_id: Annotated[str, Field(strict=True, max_length=MAX_IMAGE_ID)] = ""
    container_name: Str256 = ""
    pod_id: Str128 = ""
    pod_name: Str256 = ""
    namespace: Str256 = ""
    entry_point: Annotated[str, Field(strict=True, max_length=MAX_ENTRY_POINT)] = ""
    status: Str32 = "running"


@with_config(_WIRE)
@dataclass(frozen=True, slots=True)
class HostInventory:
    """A whole snapshot of one host: every report replaces the previous one."""

    images: Annotated[Sequence[LocalImage], Field(max_length=MAX_IMAGES)] = ()
    containers: Annotated[Sequence[LocalContainer], Field(max_length=MAX_CONTAINERS)] = ()

    def as_json(self) -> dict[str, Any]:
        """The report body (without `agent_id`), in a stable order so unchanged snapshots hash equal."""
        return {
            "images": [asdict(i) for i in sorted(self.images, key=lambda i: i.image_id)],
            "containers": [asdict(c) for c in sorted(self.containers, key=lambda c: c.container_id)],
        }


@with_config(_WIRE)
@dataclass(frozen=True, slots=True)
class InventoryReport:
    """The body of an inventory report: whose host, and its snapshot."""

    agent_id: Id128
    images: Annotated[list[LocalImage], Field(max_length=MAX_IMAGES)] = field(default_factory=list)
    containers: Annotated[list[LocalContainer], Field(max_length=MAX_CONTAINERS)] = field(
        default_factory=list
    )

    def inventory(self) -> HostInventory:
        return HostInventory(tuple(self.images), tuple(self.containers))
