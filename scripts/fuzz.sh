#!/usr/bin/env bash
# Runs every cargo-fuzz target in the repository for a bounded time each.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# The toolchain here is stable; cargo-fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 unlocks on a stable compiler. A crash fails the script and
# leaves the reproducer under <crate>/fuzz/artifacts/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-60}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  for target in $(cd "$dir" && cargo fuzz list); do
    echo "== fuzz $dir $target for ${secs}s"
    log=$(mktemp)
    if ! (cd "$dir" && cargo fuzz run --target-dir "$root/target/fuzz" "$target" -- -max_total_time="$secs" -max_len=4096 -print_final_stats=1) >"$log" 2>&1; then
      tail -40 "$log"
      echo "fuzz: $dir $target failed (a crash leaves its reproducer in $dir/artifacts/$target/)"
      exit 1
    fi
    grep -E "^(Done|stat::number_of_executed_units)" "$log" || true
    rm -f "$log"
  done
done
