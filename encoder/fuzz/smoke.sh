#!/usr/bin/env bash
# CI smoke of the host-decoder fuzz target: builds `decode_command` and fuzzes it for
# VENUS_RS_FUZZ_SECONDS (default 60) starting from the checked-in seeds. Exits non-zero on a
# crash, a panic, a leak, an out-of-memory or a slow input (libFuzzer writes the input to
# encoder/fuzz/artifacts/decode_command/). The seeds are read, never modified.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${VENUS_RS_FUZZ_SECONDS:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "[fuzz-smoke] installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# The toolchain is stable; cargo-fuzz needs -Z flags for the sanitizer build.
export RUSTC_BOOTSTRAP=1

echo "[fuzz-smoke] building decode_command"
timeout 1800 cargo fuzz build --fuzz-dir "$fuzz_dir" decode_command

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
echo "[fuzz-smoke] fuzzing decode_command for ${seconds}s"
# The outer timeout only guards against a hung run; libFuzzer stops itself at max_total_time.
timeout $((seconds + 300)) cargo fuzz run --fuzz-dir "$fuzz_dir" decode_command \
    "$corpus" "$fuzz_dir/seeds/decode_command" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
echo "[fuzz-smoke] no crash in ${seconds}s"
