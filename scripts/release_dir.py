#!/usr/bin/env python3
"""Where `cargo build --release` puts the binaries: TARGET_DIR/TRIPLE/release.

The target triple is defined once, as `build.target` in .cargo/config.toml
(CARGO_BUILD_TARGET overrides it, as for cargo); the target dir is
$CARGO_TARGET_DIR or the repository's target/, as for cargo. Scripts and the
Makefile ask here instead of spelling the triple out:

    python3 scripts/release_dir.py           prints the directory
    from release_dir import release_dir      (with scripts/ on sys.path)
"""

import os
import tomllib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def target_triple() -> str:
    triple = os.environ.get("CARGO_BUILD_TARGET")
    if triple:
        return triple
    with open(os.path.join(REPO, ".cargo", "config.toml"), "rb") as f:
        return tomllib.load(f)["build"]["target"]


def release_dir() -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    return os.path.join(os.path.abspath(target), target_triple(), "release")


if __name__ == "__main__":
    print(release_dir())
