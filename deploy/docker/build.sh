#!/usr/bin/env bash
# Builds the binaries with Bazel (-c opt) and the controller and CPU worker
# images from them. The Docker build context is deploy/docker/ with the
# binaries staged in bin/ (bazel-bin is a symlink out of the tree, which a
# build context cannot follow).
#
#   deploy/docker/build.sh [TAG]        # images nas-controller:TAG, nas-worker:TAG
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-latest}"
bazel build -c opt //controller/service:nas-controller //worker:nas-worker //cli:nasctl
mkdir -p deploy/docker/bin
install -m 0755 bazel-bin/controller/service/nas-controller bazel-bin/worker/nas-worker \
  bazel-bin/cli/nasctl deploy/docker/bin/
docker build -f deploy/docker/Dockerfile.controller -t "nas-controller:${tag}" deploy/docker
docker build -f deploy/docker/Dockerfile.worker -t "nas-worker:${tag}" deploy/docker
