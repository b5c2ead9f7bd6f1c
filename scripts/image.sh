#!/usr/bin/env bash
# Builds the koya image (deploy/image/Containerfile) with Podman:
#   bash scripts/image.sh [TAG]     (default ghcr.io/koya-dev/koya:dev)
# then checks that it runs. No registry is needed: FROM scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-ghcr.io/koya-dev/koya:dev}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
echo "image.sh: building a static koya ($version)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/koya-dev/koya/internal/cli.Version=$version" -o "$ctx/koya" ./cmd/koya
cp deploy/image/Containerfile "$ctx/Containerfile"
echo "image.sh: podman build -t $tag"
podman build -q -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
podman run --rm "$tag" version
echo "$tag"
