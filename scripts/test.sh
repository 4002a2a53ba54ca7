#!/usr/bin/env bash
# The whole ringex test suite, as the README gives it and as CI runs it.
# Debug build: every unit, property, integration and end-to-end test.
# Release build: the concurrency stress suites again, because optimised code
# reorders memory accesses differently and races hide in one build or the other.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
if compgen -G "engine/tests/*stress*.rs" >/dev/null; then
  for t in engine/tests/*stress*.rs; do
    name=$(basename "$t" .rs)
    cargo test --release --locked -p engine --test "$name"
  done
fi
# Loom model checks of the ring (engine/tests/loom_ring.rs): the ring's atomics
# swapped for loom's under --cfg loom, in a target dir of their own so the normal
# build above is not invalidated. ~15 s of model checking after the build.
RUSTFLAGS="--cfg loom" cargo test --release --locked -p engine --test loom_ring \
  --target-dir target/loom
