"""`containerd:NAME`: an image in containerd's content store, exported with containerd's own `ctr`.

containerd's API is gRPC with no simple blob download for a name; `ctr images export` (its own
client) writes an oci-archive of just the requested platform into the scratch dir, which is then
read in place like any oci-archive and deleted on close. Nothing from the image is executed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import BinaryIO

from openhss.scan.errors import DownloadFailed, ImageNotFound
from openhss.scan.image import Image, Layer
from openhss.scan.refs import ImageRef, Transport
from openhss.scan.sources._scratch import check_spool_size, scratch_file
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions
from openhss.scan.sources.oci import BlobStore, TarStore, open_store


class ExportedHandle(ImageHandle):
    def __init__(self, ref: ImageRef, image: Image, store: BlobStore, spool: Path) -> None:
        super().__init__(ref, image)
        self.store = store
        self.spool = spool

    def open_layer(self, layer: Layer) -> BinaryIO:
        return self.store.open_blob(layer.digest, layer.size, f"layer {layer.digest}")

    def close(self) -> None:
        self.spool.unlink(missing_ok=True)


class ContainerdSource(Source):
    transport = Transport.CONTAINERD

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        if not ref.repository:
            raise ImageNotFound("containerd images are exported by name; an image ID alone is not supported")
        spool = scratch_file(options.scratch_dir, ".oci.tar")
        cmd = [
            options.ctr_binary,
            "--address",
            options.containerd_address,
            "--namespace",
            options.containerd_namespace,
            "images",
            "export",
            "--platform",
            str(options.platform),
            str(spool),
            ref.named,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=options.timeout * 10, check=False)
            if proc.returncode != 0:
                err = proc.stderr.decode(errors="replace").strip()[-500:]
                if "not found" in err:
                    raise ImageNotFound(f"no image {ref.named} in containerd ({err})")
                raise DownloadFailed(f"ctr images export {ref.named} failed: {err}")
            check_spool_size(spool, options.max_image_bytes + 64 * 1024 * 1024)
            handle = open_store(TarStore(spool), ImageRef(Transport.OCI_ARCHIVE, path=str(spool)), options)
        except FileNotFoundError:
            spool.unlink(missing_ok=True)
            raise DownloadFailed(f"containerd client {options.ctr_binary!r} not found") from None
        except subprocess.TimeoutExpired:
            spool.unlink(missing_ok=True)
            raise DownloadFailed(f"ctr images export {ref.named} timed out") from None
        except BaseException:
            spool.unlink(missing_ok=True)
            raise
        return ExportedHandle(ref, handle.image, handle.store, spool)
