#!/usr/bin/env bash
# Builds the C libraries and lays out an install tree: the one documented command for C users.
#
#   scripts/build-c.sh [PREFIX]        (default target/c)
#
# PREFIX/lib/libgearlet.so.X.Y.Z (SONAME libgearlet.so.X, the ABI's major version) with the
# libgearlet.so.X and libgearlet.so links, PREFIX/lib/libgearlet.a, PREFIX/include/gearlet.h and
# gearlet_ffi.h, and PREFIX/lib/pkgconfig/gearlet.pc, so that
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs gearlet
# works. Under the build directory (target/, the default) those flags carry an rpath to it, so a
# program runs from there as built; for an install elsewhere run `ldconfig` afterwards (a system
# prefix such as /usr/local), or set LD_LIBRARY_PATH=PREFIX/lib. The package itself stays an
# rlib: `cargo rustc --crate-type` builds the cdylib and the staticlib for this invocation only,
# so Rust users of the crate never build or link them.
# CARGO_BUILD_JOBS (default 1) bounds the build's parallelism on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-target/c}"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
major="${version%%.*}"
soname="libgearlet.so.$major"

cargo rustc --release --lib --no-default-features --features capi -j "${CARGO_BUILD_JOBS:-1}" \
    --crate-type cdylib --crate-type staticlib \
    -- -C "link-arg=-Wl,-soname,$soname"

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
rel="$target_dir/release"
install -m 0755 "$rel/libgearlet.so" "$prefix/lib/libgearlet.so.$version"
ln -sf "libgearlet.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/libgearlet.so"
install -m 0644 "$rel/libgearlet.a" "$prefix/lib/libgearlet.a"
install -m 0644 include/gearlet.h include/gearlet_ffi.h "$prefix/include/"

# What a program linking the static library needs besides it: what `--print native-static-libs`
# reports for this crate on Linux with glibc.
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
# Inside the build directory (the default target/c) programs get an rpath to it, so they run
# without LD_LIBRARY_PATH; an install prefix gets none (ldconfig, or the system's library path).
rpath=""
case "$prefix/" in "$target_dir"/*) rpath=" -Wl,-rpath,\${libdir}" ;; esac
cat >"$prefix/lib/pkgconfig/gearlet.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: gearlet
Description: Embedded Gearman job server (C ABI)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir}$rpath -lgearlet
Libs.private: $native_libs
PC
echo "C libraries in $prefix (pkg-config: PKG_CONFIG_PATH=$prefix/lib/pkgconfig)"
