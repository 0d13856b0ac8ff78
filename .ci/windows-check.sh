#!/usr/bin/env bash
# Type-check and lint the #[cfg(windows)] code of winkube-csi-proxy for
# x86_64-pc-windows-gnu from Linux (clippy -D warnings, all targets).
#
# Uses Debian's rustc-web toolchain (same compiler and library source version)
# with -Zbuild-std, called by absolute path so rustup's toolchain on PATH is
# untouched. Installs what it needs with apt-get (root, Debian bookworm) and is
# idempotent: packages are only installed when missing, and the separate
# target dir (target/windows-check) makes a second run take seconds.
# Nothing is linked or run. Set WINDOWS_CHECK_PACKAGES to check other crates.
#
# Measured on the 2-core CI machine: see docs/csi-proxy.md ("Windows check").
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="${WINDOWS_CHECK_PACKAGES:-winkube-csi-proxy}"
TARGET="${WINDOWS_CHECK_TARGET:-x86_64-pc-windows-gnu}"
APT_PKGS="rustc-web cargo-web rust-web-src rust-web-clippy binutils-mingw-w64-x86-64 gcc-mingw-w64-x86-64-posix"

start=$(date +%s)
missing=""
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== windows-check: installing$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

pkg_args=""
for p in $PACKAGES; do pkg_args="$pkg_args -p $p"; done

echo "== windows-check: clippy --all-targets -D warnings for $TARGET on [$PACKAGES] ($(/usr/bin/rustc -V))"
# shellcheck disable=SC2086
env CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
  /usr/bin/cargo-clippy clippy $pkg_args --all-targets --target "$TARGET" \
    --target-dir target/windows-check -Zbuild-std=std,panic_abort -- -D warnings
echo "== windows-check: ok ($(( $(date +%s) - start )) s)"
