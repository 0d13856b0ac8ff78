#!/usr/bin/env bash
# Type-check and lint the #[cfg(windows)] code of winkube-csi-proxy and
# winkube-node for x86_64-pc-windows-gnu from Linux (clippy -D warnings, all
# targets).
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

PACKAGES="${WINDOWS_CHECK_PACKAGES:-winkube-csi-proxy winkube-node}"
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

# Optional (WINDOWS_CHECK_WINE=1): link the library's unit tests with mingw and
# run them under Wine. That exercises the named-pipe transport (create, first
# instance, a silent probe client, a gRPC call over the pipe). Wine is not
# Windows: ACLs, services and storage cmdlets are not covered. Own target dir:
# the linker settings would otherwise rebuild std for the clippy step each time.
if [ "${WINDOWS_CHECK_WINE:-0}" = "1" ]; then
  dpkg-query -W -f='${Status}' wine64 2>/dev/null | grep -q "install ok installed" || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64 >/dev/null
  }
  export WINEPREFIX="$PWD/target/windows-wine/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
  stub="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
  if [ ! -f "$stub" ]; then
    mkdir -p "$(dirname "$WINEPREFIX")"
    /usr/lib/wine/wine64 cmd /c exit >/dev/null 2>&1 || true
    # Wine 8 lacks bcryptprimitives.dll (ProcessPrng), which Rust's std imports.
    src="$(mktemp --suffix=.c)"
    cat > "$src" <<'C'
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) { ULONG c = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, c)) return FALSE; data += c; len -= c; }
    return TRUE;
}
C
    x86_64-w64-mingw32-gcc -O2 -shared -o "$stub" "$src" -ladvapi32
    rm -f "$src"
  fi
  echo "== windows-check: unit tests under Wine ($(/usr/lib/wine/wine64 --version))"
  # shellcheck disable=SC2086
  env CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/usr/lib/wine/wine64 \
    /usr/bin/cargo test $pkg_args --lib --target "$TARGET" --target-dir target/windows-wine \
      -Zbuild-std=std,panic_abort
fi
echo "== windows-check: ok ($(( $(date +%s) - start )) s)"
