#!/bin/sh
# Installs the venus-rs ICD under a prefix: the library in PREFIX/lib/venus-rs/ and the manifest of this
# folder in PREFIX/share/vulkan/icd.d/, its library_path pointing at the installed library.
#
# usage: manifests/install.sh PREFIX [x86_64|aarch64]
# Build first: cargo build --release -p venus-rs-icd --lib (aarch64: as `cargo xtask pair` does, into
# target/aarch64). The Vulkan loader finds the manifest through VK_DRIVER_FILES or, for PREFIX /usr/local
# or /usr, on its own.
set -eu
prefix=${1:?usage: manifests/install.sh PREFIX [x86_64|aarch64]}
arch=${2:-$(uname -m)}
here=$(cd "$(dirname "$0")" && pwd)
workspace=$(dirname "$here")
case "$arch" in
    x86_64) library="$workspace/target/release/libvulkan_venus_rs.so" ;;
    aarch64) library="$workspace/target/aarch64/aarch64-unknown-linux-gnu/release/libvulkan_venus_rs.so" ;;
    *) echo "install.sh: unknown architecture $arch (x86_64 or aarch64)" >&2; exit 2 ;;
esac
[ -f "$library" ] || { echo "install.sh: $library is missing: build the ICD first" >&2; exit 1; }
mkdir -p "$prefix/lib/venus-rs" "$prefix/share/vulkan/icd.d"
cp "$library" "$prefix/lib/venus-rs/libvulkan_venus_rs.so"
sed "s|\"library_path\": \"[^\"]*\"|\"library_path\": \"$prefix/lib/venus-rs/libvulkan_venus_rs.so\"|" \
    "$here/venus_rs_icd.$arch.json" > "$prefix/share/vulkan/icd.d/venus_rs_icd.$arch.json"
echo "installed $prefix/lib/venus-rs/libvulkan_venus_rs.so and $prefix/share/vulkan/icd.d/venus_rs_icd.$arch.json"
