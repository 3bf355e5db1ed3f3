#!/bin/bash
# Fails when the committed reference differs from the generated one.
if ! diff -u "$2" "$1"; then
  echo "docs/job-spec-reference.md is stale: run bazel run //tools/spec_reference:update" >&2
  exit 1
fi
