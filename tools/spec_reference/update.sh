#!/bin/bash
# Copies the generated reference over docs/job-spec-reference.md.
set -euo pipefail
cp "$1" "${BUILD_WORKSPACE_DIRECTORY}/docs/job-spec-reference.md"
chmod 644 "${BUILD_WORKSPACE_DIRECTORY}/docs/job-spec-reference.md"
echo "wrote docs/job-spec-reference.md"
