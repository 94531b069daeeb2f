#!/usr/bin/env bash
# CI smoke of the executor fuzz targets: builds `execute_stream` (raw bytes, seeded with Mesa's
# recorded streams) and `execute_commands` (commands built from the input with the generated
# encoders), then fuzzes each for VENUS_RS_FUZZ_SECONDS (default 60) against lavapipe inside the
# reference chroot (`run.sh`).
#
# Exits non-zero on a crash, a panic, an out-of-memory or a slow input (libFuzzer writes the
# input to host/fuzz/artifacts/<target>/; `run.sh TARGET ARTIFACT` replays it with the host's
# log). The seeds are read, never modified. The host's own log lines (one per FATAL context)
# are silenced while fuzzing.
#
# usage: smoke.sh [TARGET...]   (default: both targets)
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${VENUS_RS_FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(execute_stream execute_commands)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "[fuzz-smoke] installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
# The toolchain is stable; cargo-fuzz needs -Z flags for the sanitizer build.
export RUSTC_BOOTSTRAP=1
echo "[fuzz-smoke] building ${targets[*]}"
for target in "${targets[@]}"; do
    timeout 1800 cargo fuzz build --fuzz-dir "$fuzz_dir" "$target"
done

work="$(mktemp -d "$fuzz_dir/smoke-corpus.XXXXXX")"
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "$fuzz_dir/artifacts/$target"
    echo "[fuzz-smoke] fuzzing $target for ${seconds}s"
    # The outer timeout only guards against a hung run; libFuzzer stops itself at
    # max_total_time.
    timeout $((seconds + 300)) "$fuzz_dir/run.sh" "$target" \
        "$work/$target" "$fuzz_dir/seeds/$target" \
        -artifact_prefix="$fuzz_dir/artifacts/$target/" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -close_fd_mask=2
    echo "[fuzz-smoke] $target: no crash in ${seconds}s"
done
