#!/usr/bin/env bash
# Builds the OS2 container images locally, with no registry: each image is
# `FROM scratch` plus a binary, the shared libraries `ldd` lists for it, and
# (for the node) the repository's sources and production node_modules.
#
#   deploy/build-images.sh            build os2/node:local and os2/nats:local when their inputs changed
#   deploy/build-images.sh --force    rebuild both
#
# Images carry a label os2.inputs=<sha256 of their inputs>; an image whose
# label matches is kept as is, so repeated runs (and the container tests) cost
# a hash, not a build. Needs: docker (the legacy builder is fine), ldd, tar,
# sha256sum; /usr/bin/node and nats-server (apt-get install -y nats-server).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${OS2_IMAGE_WORK:-${TMPDIR:-/tmp}/os2-image-build}"
NODE_BIN="${NODE_BIN:-$(command -v node)}"
NATS_BIN="${NATS_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
NODE_TAG="${OS2_NODE_IMAGE:-os2/node:local}"
NATS_TAG="${OS2_NATS_IMAGE:-os2/nats:local}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

die () { echo "build-images: $*" >&2; exit 1; }
command -v docker >/dev/null || die "docker is missing: apt-get install -y docker.io (then start dockerd)"
docker info >/dev/null 2>&1 || die "the docker daemon is not running: start dockerd (dockerd >/var/log/dockerd.log 2>&1 &)"
[[ -x "$NODE_BIN" ]] || die "node binary not found ($NODE_BIN)"
[[ -x "$NATS_BIN" ]] || die "nats-server not found ($NATS_BIN): apt-get install -y nats-server"

# Copies a binary and every library ldd resolves for it (plus the loader) under $2.
copy_with_libs () {
  local bin="$1" root="$2" dest="$3"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  ldd "$bin" 2>/dev/null | grep -oE '(/[^ ]+\.so[^ ]*)' | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# Minimal filesystem every image needs: /tmp, /etc/passwd for uid 1000, hosts resolution.
base_rootfs () {
  local root="$1"
  mkdir -p "$root/tmp" "$root/etc" "$root/data"
  # COPY makes everything root-owned: /tmp and /data must be writable by uid 1000.
  chmod 1777 "$root/tmp" "$root/data"
  printf 'root:x:0:0:root:/root:/nonexistent\nos2:x:1000:1000:os2:/data:/nonexistent\n' > "$root/etc/passwd"
  printf 'root:x:0:\nos2:x:1000:\n' > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
}

inputs_hash () {
  # Hash of everything that goes into the image: binary, libs list, Dockerfile, sources.
  ( cd "$ROOT" && { sha256sum "$@" ; git ls-files -s -- packages apps deploy/image package.json package-lock.json 2>/dev/null; git diff HEAD -- packages apps deploy/image 2>/dev/null; } ) | sha256sum | cut -c1-16
}

current_label () {
  docker image inspect --format '{{ index .Config.Labels "os2.inputs" }}' "$1" 2>/dev/null || true
}

build_nats () {
  local hash
  hash="$( (sha256sum "$NATS_BIN" "$ROOT/deploy/image/Dockerfile.nats"; ldd "$NATS_BIN" 2>&1 || true) | sha256sum | cut -c1-16)"
  if [[ $FORCE == 0 && "$(current_label "$NATS_TAG")" == "$hash" ]]; then echo "build-images: $NATS_TAG is up to date ($hash)"; return; fi
  local ctx="$WORK/nats"
  rm -rf "$ctx" && mkdir -p "$ctx/rootfs"
  base_rootfs "$ctx/rootfs"
  copy_with_libs "$NATS_BIN" "$ctx/rootfs" /nats-server
  cp "$ROOT/deploy/image/Dockerfile.nats" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q --label "os2.inputs=$hash" -t "$NATS_TAG" "$ctx" >/dev/null
  echo "build-images: built $NATS_TAG ($hash)"
}

build_node () {
  local hash
  hash="$(inputs_hash "$NODE_BIN" "$ROOT/deploy/image/Dockerfile.node")"
  if [[ $FORCE == 0 && "$(current_label "$NODE_TAG")" == "$hash" ]]; then echo "build-images: $NODE_TAG is up to date ($hash)"; return; fi
  local ctx="$WORK/node"
  rm -rf "$ctx" && mkdir -p "$ctx/rootfs/app"
  base_rootfs "$ctx/rootfs"
  copy_with_libs "$NODE_BIN" "$ctx/rootfs" /usr/bin/node
  # The app: workspace sources (symlinked from node_modules/@os2) and node_modules
  # without the build/lint/test tooling the node never loads.
  ( cd "$ROOT" && tar -c \
      --exclude='*/test' --exclude='*/bench' --exclude='*.tmp.ts' --exclude='node_modules/.cache' \
      --exclude='node_modules/@turbo' --exclude='node_modules/turbo*' --exclude='node_modules/typescript' \
      --exclude='node_modules/eslint*' --exclude='node_modules/@eslint*' --exclude='node_modules/@typescript-eslint' \
      --exclude='node_modules/typescript-eslint' --exclude='node_modules/@rolldown' --exclude='node_modules/rolldown' \
      --exclude='node_modules/lightningcss*' --exclude='node_modules/vitest' --exclude='node_modules/@vitest' \
      --exclude='node_modules/vite' --exclude='node_modules/testcontainers' --exclude='node_modules/@testcontainers' \
      --exclude='node_modules/docker-*' --exclude='node_modules/ssh2' --exclude='node_modules/cpu-features' \
      package.json packages apps deploy/image node_modules ) | tar -x -C "$ctx/rootfs/app"
  cp "$ROOT/deploy/image/Dockerfile.node" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q --label "os2.inputs=$hash" -t "$NODE_TAG" "$ctx" >/dev/null
  echo "build-images: built $NODE_TAG ($hash)"
}

# One build at a time: the container and compose suites may both call this
# script at once, and they share $WORK (the second waits, then finds the
# images up to date).
mkdir -p "$WORK"
if command -v flock >/dev/null; then
  exec 9>"$WORK/.lock"
  flock 9
fi

build_nats
build_node
