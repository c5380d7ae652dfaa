#!/usr/bin/env python3
"""Write a Docker image archive (the `docker save` format) of a rootfs.

    image.py ROOTFS_DIR OUT.tar NAME:TAG [CMD...]

The archive holds one layer (the rootfs as a tar), an image config and
manifest.json, so `docker load`, `ctr images import` and `podman load` all
accept it. Everything is made offline from files already on this machine:
the e2e tests use a busybox rootfs built by bundles/busybox.sh from Debian's
busybox-static, and never pull from a registry.

The output is deterministic (fixed mtimes, sorted entries, numeric owners),
so the same rootfs always gives the same image id. CMD (default `sh`) is the
image's command: the CRI e2e makes its pod sandbox ("pause") image with
`sleep inf`.
"""

import hashlib
import io
import json
import os
import sys
import tarfile

EPOCH = 0  # mtime of every entry: deterministic archives


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = EPOCH
    info.uname = ""
    info.gname = ""
    return info


def layer_tar(rootfs: str) -> bytes:
    """The rootfs as an uncompressed tar, entries sorted, paths relative."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                arc = os.path.relpath(full, rootfs)
                tar.add(full, arcname=arc, recursive=False, filter=_normalise)
    return buf.getvalue()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(_normalise(info), io.BytesIO(data))


def image_config(diff_id: str, cmd: list) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {
                "created": "1970-01-01T00:00:00Z",
                "created_by": "berth scripts/e2e/image.py (Debian busybox-static)",
            }
        ],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def main() -> int:
    if len(sys.argv) < 4:
        print("usage: image.py ROOTFS_DIR OUT.tar NAME:TAG [CMD...]", file=sys.stderr)
        return 2
    rootfs, out, ref = sys.argv[1:4]
    cmd = sys.argv[4:] or ["sh"]
    if not os.path.isfile(os.path.join(rootfs, "bin", "busybox")):
        print(f"image.py: {rootfs} has no bin/busybox", file=sys.stderr)
        return 1

    layer = layer_tar(rootfs)
    layer_hex = hashlib.sha256(layer).hexdigest()
    config = image_config("sha256:" + layer_hex, cmd)
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = [
        {
            "Config": f"{config_hex}.json",
            "RepoTags": [ref],
            "Layers": [f"{layer_hex}/layer.tar"],
        }
    ]

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, f"{layer_hex}/layer.tar", layer)
        add_bytes(tar, f"{config_hex}.json", config)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    os.replace(tmp, out)
    print(f"image.py: {out}: {ref} (config sha256:{config_hex[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
