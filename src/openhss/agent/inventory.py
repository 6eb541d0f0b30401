"""What is on this host: images and running containers, from the Docker Engine API socket (Docker or
podman's `podman system service`) and from containerd's CRI namespace (`k8s.io`, Kubernetes pods).

Everything read here comes from a local daemon and is still treated as untrusted: values are
type-checked and truncated to the server's field limits before they are reported.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx

from openhss.domain.inventory import (
    MAX_ENTRY_POINT,
    MAX_IMAGE_ID,
    MAX_REF,
    MAX_REFS,
    NONE_TAG,
    HostInventory,
    LocalContainer,
    LocalImage,
)
from openhss.scan.sources.docker_daemon import engine_client

POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


class InventoryError(RuntimeError):
    """The container runtime could not be read (socket missing, daemon down, unexpected answer)."""


@dataclass(slots=True)
class Snapshot:
    """One runtime's (or, merged, one host's) images and containers, and what the runtime is."""

    images: list[LocalImage] = field(default_factory=list)
    containers: list[LocalContainer] = field(default_factory=list)
    runtime_type: str = ""
    runtime_name: str = ""

    def inventory(self) -> HostInventory:
        return HostInventory(tuple(self.images), tuple(self.containers))


def _str(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _strs(value: object, limit: int = MAX_REF) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        v[:limit] for v in value[:MAX_REFS] if isinstance(v, str) and v and not v.startswith(NONE_TAG)
    )


def _image_id(value: object) -> str:
    text = _str(value, MAX_IMAGE_ID)
    if text and ":" not in text:
        text = f"sha256:{text}"
    return text


def _labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _json_list(resp: httpx.Response, what: str) -> list[dict[str, Any]]:
    resp.raise_for_status()
    data = resp.json()
    if not isinstance(data, list):
        raise InventoryError(f"{what}: expected a JSON list")
    return [d for d in data if isinstance(d, dict)]


def from_engine(docker_host: str, timeout: float = 30.0) -> Snapshot:
    """Images and running containers through the Docker Engine API."""
    snap = Snapshot()
    try:
        with engine_client(docker_host, timeout) as client:
            version = client.get("/version")
            version.raise_for_status()
            info = version.json() if isinstance(version.json(), dict) else {}
            components = [c.get("Name", "") for c in info.get("Components") or [] if isinstance(c, dict)]
            podman = any("podman" in str(n).lower() for n in components)
            snap.runtime_type = "podman" if podman else "docker"
            snap.runtime_name = f"{snap.runtime_type} {_str(info.get('Version'), 40)}".strip()
            for d in _json_list(client.get("/images/json"), "GET /images/json"):
                image_id = _image_id(d.get("Id"))
                if not image_id:
                    continue
                created = d.get("Created")
                size = d.get("Size")
                snap.images.append(
                    LocalImage(
                        image_id=image_id,
                        repo_tags=_strs(d.get("RepoTags")),
                        repo_digests=_strs(d.get("RepoDigests")),
                        size=size if isinstance(size, int) and size >= 0 else 0,
                        created_ms=created * 1000 if isinstance(created, int) and created >= 0 else 0,
                    )
                )
            for d in _json_list(client.get("/containers/json"), "GET /containers/json"):
                labels = _labels(d.get("Labels"))
                names = _strs(d.get("Names"), 256)
                snap.containers.append(
                    LocalContainer(
                        container_id=_str(d.get("Id"), 128),
                        image_id=_image_id(d.get("ImageID")),
                        container_name=(names[0].lstrip("/") if names else ""),
                        pod_id=labels.get(POD_UID, "")[:128],
                        pod_name=labels.get(POD_NAME, "")[:256],
                        namespace=labels.get(POD_NAMESPACE, "")[:256],
                        entry_point=_str(d.get("Command"), MAX_ENTRY_POINT),
                        status=_str(d.get("State"), 32) or "running",
                    )
                )
    except (httpx.HTTPError, ValueError) as exc:
        raise InventoryError(f"container engine at {docker_host}: {exc}") from None
    return snap


def _ctr(ctr: str, address: str, namespace: str, *args: str, timeout: float = 30.0) -> str:
    cmd = [ctr, "-a", address, "-n", namespace, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(f"containerd at {address}: {exc}") from None
    if proc.returncode != 0:
        raise InventoryError(f"containerd at {address}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode(errors="replace")


def from_containerd(address: str, namespace: str = "k8s.io", ctr: str = "ctr") -> Snapshot:
    """Images, and containers with their pod labels, of one containerd namespace (via `ctr`).

    Images are keyed by their config digest (what the CRI calls the image id); a container counts as
    running only when its task is.
    """
    snap = Snapshot(runtime_type="containerd", runtime_name="containerd")
    config_of: dict[str, str] = {}
    for line in _ctr(ctr, address, namespace, "images", "ls").splitlines()[1:]:
        cols = line.split()
        if len(cols) < 4 or not cols[2].startswith("sha256:"):
            continue
        ref, manifest_digest = cols[0], cols[2]
        if manifest_digest not in config_of:
            config_of[manifest_digest] = _config_digest(ctr, address, namespace, manifest_digest)
        image_id = config_of[manifest_digest]
        if not image_id:
            continue
        found = next((i for i in snap.images if i.image_id == image_id), None)
        is_digest_ref = ref.startswith("sha256:")
        tags = () if is_digest_ref or "@" in ref else (ref,)
        digests = (ref,) if "@" in ref else (f"{_repository(ref)}@{manifest_digest}",) if tags else ()
        if found is None:
            snap.images.append(LocalImage(image_id, tags, digests))
        else:
            snap.images[snap.images.index(found)] = LocalImage(
                image_id,
                tuple(sorted({*found.repo_tags, *tags})),
                tuple(sorted({*found.repo_digests, *digests})),
            )
    running = set()
    for line in _ctr(ctr, address, namespace, "tasks", "ls").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[2].upper() == "RUNNING":
            running.add(cols[0])
    for cid in _ctr(ctr, address, namespace, "containers", "ls", "-q").split():
        if cid not in running:
            continue
        try:
            info = json.loads(_ctr(ctr, address, namespace, "containers", "info", cid))
        except ValueError:
            continue
        labels = _labels(info.get("Labels"))
        image_ref = _str(info.get("Image"), 512)
        image_id = next(
            (i.image_id for i in snap.images if image_ref in i.repo_tags or image_ref == i.image_id), ""
        )
        snap.containers.append(
            LocalContainer(
                container_id=cid[:128],
                image_id=image_id,
                container_name=labels.get(CONTAINER_NAME, cid)[:256],
                pod_id=labels.get(POD_UID, "")[:128],
                pod_name=labels.get(POD_NAME, "")[:256],
                namespace=labels.get(POD_NAMESPACE, "")[:256],
            )
        )
    return snap


def _repository(ref: str) -> str:
    """`host:port/repo:tag` → `host:port/repo` (the tag is after the last colon past the last slash)."""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def _config_digest(ctr: str, address: str, namespace: str, manifest_digest: str) -> str:
    """The config digest of a manifest (or of the linux/amd64 entry of an index)."""
    for _ in range(2):
        try:
            doc = json.loads(_ctr(ctr, address, namespace, "content", "get", manifest_digest))
        except (ValueError, InventoryError):
            return ""
        if not isinstance(doc, dict):
            return ""
        config = doc.get("config")
        if isinstance(config, dict) and isinstance(config.get("digest"), str):
            return str(config["digest"])
        manifests = doc.get("manifests")
        if not isinstance(manifests, list) or not manifests:
            return ""
        chosen = next(
            (
                m
                for m in manifests
                if isinstance(m, dict)
                and isinstance(m.get("platform"), dict)
                and m["platform"].get("architecture") == "amd64"
            ),
            manifests[0],
        )
        manifest_digest = str(chosen.get("digest", "")) if isinstance(chosen, dict) else ""
    return ""


def merge(*snaps: Snapshot) -> Snapshot:
    """One host's inventory from several runtimes (an image in two stores is one image)."""
    out = Snapshot()
    by_id: dict[str, LocalImage] = {}
    for snap in snaps:
        for img in snap.images:
            old = by_id.get(img.image_id)
            if old is None:
                by_id[img.image_id] = img
            else:
                by_id[img.image_id] = LocalImage(
                    img.image_id,
                    tuple(sorted({*old.repo_tags, *img.repo_tags})),
                    tuple(sorted({*old.repo_digests, *img.repo_digests})),
                    max(old.size, img.size),
                    max(old.created_ms, img.created_ms),
                )
        out.containers.extend(snap.containers)
        if snap.runtime_type and not out.runtime_type:
            out.runtime_type, out.runtime_name = snap.runtime_type, snap.runtime_name
    out.images = list(by_id.values())
    return out
