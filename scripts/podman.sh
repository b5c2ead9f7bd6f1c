#!/usr/bin/env bash
# Makes Podman's Docker-compatible API ready for koya's container backend
# tests and prints its address on the last line of stdout:
#
#   unix:///run/podman/podman.sock
#
# Installs Debian's podman, runc and busybox-static when missing, configures
# Podman for this kind of machine (runc: crun fails on hybrid cgroups; no
# systemd: cgroupfs and file event logs; no default ulimits; no registry
# is reachable: no search registries), starts `podman system service` in the
# background when nothing answers on the socket, and builds the local test
# images (nothing can be pulled here):
#
#   koya-test/busybox     FROM scratch: a static busybox and its applets
#                         under /bin (sh, sleep, cat, nc, ...), PATH=/bin
#   koya-test/entrypoint  the same files with ENTRYPOINT ["/bin/sh","-c"]
#                         and CMD ["echo from-image-cmd"], for the test of
#                         entrypoint resolution
#
# Safe to run any number of times.
set -euo pipefail

SOCK=/run/podman/podman.sock
URL="unix://$SOCK"

log() { echo "podman.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "setting up Podman needs root: sudo bash $0"
  exit 1
fi

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static) # /bin/busybox, static
command -v curl >/dev/null || need+=(curl)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p /etc/containers
# Written only when it differs: a running service keeps its configuration.
write() {
  local path=$1 content
  content=$(cat)
  if [ ! -f "$path" ] || [ "$(cat "$path")" != "$content" ]; then
    printf '%s\n' "$content" >"$path"
    log "wrote $path"
  fi
}
write /etc/containers/containers.conf <<'EOF'
# Written by koya's scripts/podman.sh.
[containers]
# The hosts' default ulimits cannot always be applied in nested containers.
default_ulimits = []

[engine]
# crun fails on hybrid cgroup hierarchies; runc works.
runtime = "runc"
# No systemd here.
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
EOF
write /etc/containers/storage.conf <<'EOF'
# Written by koya's scripts/podman.sh.
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
write /etc/containers/registries.conf <<'EOF'
# Written by koya's scripts/podman.sh: no registry is reachable from this
# machine, so short names are not searched anywhere; images are local.
unqualified-search-registries = []
short-name-mode = "disabled"
EOF

ping() { curl -fsS --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }
if ! ping; then
  log "starting podman system service on $URL"
  mkdir -p "$(dirname "$SOCK")"
  rm -f "$SOCK"
  # setsid: the service outlives this script and the test command.
  # From /: conmon writes files (an "oom" marker) relative to its working
  # directory, which would otherwise be the checkout.
  (cd / && exec setsid podman system service --time=0 "$URL" </dev/null >>/var/log/podman-service.log 2>&1) &
  for _ in $(seq 1 100); do
    ping && break
    sleep 0.1
  done
  if ! ping; then
    log "podman system service did not answer on $SOCK; see /var/log/podman-service.log:"
    tail -n 20 /var/log/podman-service.log >&2 || true
    exit 1
  fi
fi

# The root filesystem of the test images: static busybox with its applets.
build_rootfs() {
  local dir=$1
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  chmod 1777 "$dir/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
}

# An image is rebuilt when the busybox it holds changed (label koya.source).
SRC="busybox-$(sha256sum /bin/busybox | cut -c1-16)-v1"
image_current() {
  [ "$(podman image inspect --format '{{index .Labels "koya.source"}}' "$1" 2>/dev/null)" = "$SRC" ]
}
if ! image_current koya-test/busybox || ! image_current koya-test/entrypoint; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  build_rootfs "$tmp/rootfs"
  tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
  podman import -q \
    --change 'ENV PATH=/bin' --change 'CMD ["sh"]' --change "LABEL koya.source=$SRC" \
    "$tmp/rootfs.tar" koya-test/busybox >/dev/null
  podman import -q \
    --change 'ENV PATH=/bin' --change 'ENTRYPOINT ["/bin/sh", "-c"]' --change 'CMD ["echo from-image-cmd"]' \
    --change "LABEL koya.source=$SRC" \
    "$tmp/rootfs.tar" koya-test/entrypoint >/dev/null
  log "built koya-test/busybox and koya-test/entrypoint"
fi

echo "$URL"
