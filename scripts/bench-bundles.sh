# shellcheck shell=bash
# Sourced by scripts/bench.sh and scripts/link-order.sh (from the
# repository's top directory): makes the benchmark bundles under build/ and
# exports their paths. `$bundle` is the plain `true` bundle.
bundle=$PWD/build/bench-bundle
bash bundles/busybox.sh "$bundle" true
# The same `true` bundle with memory+pids limits, with Docker's seccomp
# profile (the one Docker 20.10 passed, spec-tests/fixtures/), and in a new
# user namespace mapping 0..65535 to 100000.. (the rootfs stays root-owned
# on disk; `true` only needs it world-readable). The Docker row runs the
# whole config Docker 20.10 passed (its mounts, masked and read-only paths,
# capabilities, device rules, limits, seccomp, namespaces) on the busybox
# rootfs, with its bind sources (resolv.conf, hostname, hosts) made in the
# bundle and its cgroupsPath dropped (each run gets its own cgroup).
export BENCH_DOCKER_BUNDLE=$PWD/build/bench-bundle-docker
export BENCH_LIMITS_BUNDLE=$PWD/build/bench-bundle-limits
export BENCH_SECCOMP_BUNDLE=$PWD/build/bench-bundle-seccomp
export BENCH_USERNS_BUNDLE=$PWD/build/bench-bundle-userns
docker_config=$PWD/spec-tests/fixtures/configs/docker-20.10-busybox.json
[[ -f $docker_config ]] || { echo "bench.sh: no $docker_config (make fixtures)" >&2; exit 1; }
bash bundles/busybox.sh "$BENCH_LIMITS_BUNDLE" true
bash bundles/busybox.sh "$BENCH_SECCOMP_BUNDLE" true
bash bundles/busybox.sh "$BENCH_USERNS_BUNDLE" true
bash bundles/busybox.sh "$BENCH_DOCKER_BUNDLE" true
python3 - "$BENCH_LIMITS_BUNDLE/config.json" "$BENCH_SECCOMP_BUNDLE/config.json" "$docker_config" \
    "$BENCH_USERNS_BUNDLE/config.json" "$BENCH_DOCKER_BUNDLE" <<'PY'
import json, os, sys
limits, seccomp, docker, userns, dbundle = sys.argv[1:6]
c = json.load(open(docker))
c["root"] = {"path": "rootfs"}
c["linux"].pop("cgroupsPath", None)
c["process"]["args"] = ["true"]
for m in c["mounts"]:
    if m.get("type") == "bind":
        src = os.path.join(dbundle, os.path.basename(m["destination"]))
        open(src, "w").write("bench\n")
        m["source"] = src
json.dump(c, open(os.path.join(dbundle, "config.json"), "w"), indent=1)
c = json.load(open(limits))
c["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 20}}
json.dump(c, open(limits, "w"), indent=1)
c = json.load(open(seccomp))
c["linux"]["seccomp"] = json.load(open(docker))["linux"]["seccomp"]
json.dump(c, open(seccomp, "w"), indent=1)
c = json.load(open(userns))
c["linux"]["namespaces"].append({"type": "user"})
ids = [{"containerID": 0, "hostID": 100000, "size": 65536}]
c["linux"]["uidMappings"] = ids
c["linux"]["gidMappings"] = ids
json.dump(c, open(userns, "w"), indent=1)
PY
# A long-running container for `exec true`.
export BENCH_SLEEP_BUNDLE=$PWD/build/bench-bundle-sleep
bash bundles/busybox.sh "$BENCH_SLEEP_BUNDLE" sleep 1000

