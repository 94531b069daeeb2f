#!/usr/bin/env bash
# Runs a built executor fuzz target inside the reference chroot, where lavapipe lives (its
# libraries need a newer C library than the build machine's): /dev, /proc, /sys and this folder
# are bound at the same path, VK_DRIVER_FILES names lavapipe, and every other argument goes to
# libFuzzer. Corpora and artifacts must live under this folder.
#
# usage: run.sh TARGET [LIBFUZZER ARGS...]
#   run.sh execute_commands corpus/execute_commands seeds/execute_commands -max_total_time=600
#   run.sh execute_stream artifacts/execute_stream/crash-...      (replays one input, with the log)
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:?usage: run.sh TARGET [LIBFUZZER ARGS...]}"
shift
home="${VENUS_RS_HOME:-$HOME/.cache/venus-rs}"
root="$home/reference-root"
lavapipe=/usr/share/vulkan/icd.d/lvp_icd.json
triple="$(rustc -vV | sed -n 's/^host: //p')"
binary="$fuzz_dir/target/$triple/release/$target"

if [ ! -f "$root$lavapipe" ]; then
    echo "[fuzz] $root has no lavapipe: run \`cargo xtask setup\` (or set VENUS_RS_HOME)" >&2
    exit 1
fi
if [ ! -x "$binary" ]; then
    echo "[fuzz] $binary is not built: RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir $fuzz_dir $target" >&2
    exit 1
fi

cd "$fuzz_dir"
exec unshare --mount --propagation private /bin/sh -c '
    set -e
    root="$1"; fuzz_dir="$2"; shift 2
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mkdir -p "$root$fuzz_dir"
    mount --bind "$fuzz_dir" "$root$fuzz_dir"
    cd "$fuzz_dir"
    exec chroot "$root" /bin/sh -c "cd \"$fuzz_dir\" && exec /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root VK_DRIVER_FILES='"$lavapipe"' \"\$@\"" sh "$@"
' sh "$root" "$fuzz_dir" "$binary" "$@"
