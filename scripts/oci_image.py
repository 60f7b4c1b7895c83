#!/usr/bin/env python3
"""Assembles an OCI image archive from a root directory, without a container engine.

    oci_image.py ROOTFS OUT.tar --name kaptain/kaptain --tag 0.1.0 \
        --entrypoint /usr/local/bin/kaptain --user 65532:65532 [--env K=V ...]

The result is an OCI image layout in a tar (oci-layout, index.json, blobs/sha256/...) with one
gzip layer, plus a Docker-style manifest.json, so that `skopeo copy oci-archive:OUT.tar ...`,
`podman load -i`, `docker load -i`, `kind load image-archive` and `k3d image import` all take
it. The layer is reproducible: entries sorted, owned by root, mtime 0.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_tar(root: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                paths.append(os.path.join(dirpath, name))
        for path in sorted(paths):
            rel = os.path.relpath(path, root)
            info = tar.gettarinfo(path, arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def blob(out: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    info.mtime = 0
    out.addfile(info, io.BytesIO(data))
    return digest


def add(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    out.addfile(info, io.BytesIO(data))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rootfs")
    p.add_argument("out")
    p.add_argument("--name", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--entrypoint", required=True)
    p.add_argument("--user", default="65532:65532")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    a = p.parse_args(argv)
    if not os.path.isdir(a.rootfs):
        print(f"oci_image: {a.rootfs}: not a directory", file=sys.stderr)
        return 2

    raw = layer_tar(a.rootfs)
    diff_id = hashlib.sha256(raw).hexdigest()
    layer = gzip.compress(raw, compresslevel=9, mtime=0)
    labels = dict(l.split("=", 1) for l in a.label)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": a.user,
            "Entrypoint": [a.entrypoint],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"] + a.env,
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/build-image.sh"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    ref = f"{a.name}:{a.tag}"
    full = ref if "/" in a.name and "." in a.name.split("/")[0] else f"docker.io/{ref}"
    with tarfile.open(a.out, "w") as out:
        add(out, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        config_digest = blob(out, config_bytes)
        layer_digest = blob(out, layer)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config_bytes),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{layer_digest}",
                "size": len(layer),
            }],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        manifest_digest = blob(out, manifest_bytes)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{manifest_digest}",
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "org.opencontainers.image.ref.name": a.tag,
                    "io.containerd.image.name": full,
                },
            }],
        }
        add(out, "index.json", json.dumps(index, indent=2).encode())
        # The Docker archive's manifest, for loaders that read only that.
        add(out, "manifest.json", json.dumps([{
            "Config": f"blobs/sha256/{config_digest}",
            "RepoTags": [ref],
            "Layers": [f"blobs/sha256/{layer_digest}"],
        }]).encode())
    print(f"sha256:{manifest_digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
