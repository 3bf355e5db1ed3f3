#!/usr/bin/env bash
# Installs every Debian package this project needs to build, run and test.
# Idempotent: packages already present are skipped; nothing is fetched from
# anywhere but Debian's archive.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ pkg-config
  protobuf-compiler libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev
  libabsl-dev libtorch-dev libopenblas0-pthread
  libpqxx-dev libpq-dev prometheus-cpp-dev
  libsqlite3-dev sqlite3 libgoogle-glog-dev libgflags-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev
  # run and test
  postgresql postgresql-contrib prometheus dataset-fashion-mnist
  python3 python3-torch procps iproute2
  # deployment tests (tests/cluster): HTTP API queries and JSON
  curl jq
  # bench/controller_load: the Optuna peer on the same PostgreSQL
  python3-optuna python3-psycopg2
  # report rendering test (headless)
  chromium fonts-dejavu-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
