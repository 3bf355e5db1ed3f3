#!/usr/bin/env bash
# Installs every Debian package this project needs to build, run and test,
# and the few npm packages of tools/k8s_schema (pinned by its lock file).
# Idempotent: what is already present is skipped; nothing is fetched from
# anywhere but Debian's archive and the npm registry.
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
# Node.js runs the offline Kubernetes schema validation (below). The machine
# image ships Node 20 with npm; where there is none, take Debian's.
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# npm packages for tests/cluster/k8s_schema_test (kubernetes-models and its
# KEDA / prometheus-operator models, pinned by package-lock.json), installed
# into tools/k8s_schema/node_modules; skipped while the lock file is unchanged.
# kubectl (for `kubectl kustomize`) comes with the machine image: Debian's
# kubernetes-client conflicts with it.
schema_dir="$(cd "$(dirname "$0")" && pwd)/k8s_schema"
stamp="${schema_dir}/node_modules/.nas-lock-sha256"
want="$(sha256sum "${schema_dir}/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "${stamp}" 2>/dev/null)" != "${want}" ]; then
  echo "setup: npm ci in tools/k8s_schema (kubernetes-models)"
  # Without the registry only the schema test fails (and says why), not setup.
  if (cd "${schema_dir}" && npm ci --loglevel=error --no-audit --no-fund >/dev/null); then
    echo "${want}" >"${stamp}"
  else
    echo "setup: WARNING: npm ci failed; tests/cluster/k8s_schema_test will fail" >&2
  fi
else
  echo "setup: tools/k8s_schema npm packages already installed"
fi
command -v kubectl >/dev/null 2>&1 ||
  echo "setup: WARNING: kubectl is missing; tests/cluster/k8s_schema_test will fail" >&2
