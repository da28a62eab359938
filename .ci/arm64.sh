#!/usr/bin/env bash
# Cross-build gatepass for 64-bit Raspberry Pi OS (aarch64) and run the
# binary under qemu-user: --version, init, household import, pass issue, a
# scan and events verify, each checked.
#
# Usage: .ci/arm64.sh            (from the repository root)
# Needs: apt (as root or via sudo) if the cross toolchain is missing; rustup.
set -euo pipefail

TARGET=aarch64-unknown-linux-gnu
cd "$(dirname "$0")/.."

need_pkgs=()
command -v aarch64-linux-gnu-gcc >/dev/null || need_pkgs+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/include/stdio.h ] || need_pkgs+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need_pkgs+=(qemu-user)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "== installing ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}"
fi

if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi

# Set here rather than in a committed .cargo/config.toml so native builds are
# untouched; cc picks aarch64-linux-gnu-gcc for the bundled SQLite itself.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

echo "== cargo build --release --target $TARGET"
cargo build --release --target "$TARGET"
BIN="target/$TARGET/release/gatepass"
file "$BIN" 2>/dev/null || true

run() {
    echo "+ gatepass $*" >&2
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$BIN" "$@"
}

version="$(run --version)"
grep -q '^gatepass ' <<<"$version"

D="$(mktemp -d)"
trap 'rm -rf "$D"' EXIT
run --data-dir "$D" init --community Test --gate east
printf 'household,address,grid,name\n1-101,Block 1,A,Ann\n1-101,Block 1,A,Bo\n' > "$D/register.csv"
imported="$(run --data-dir "$D" household import "$D/register.csv")"
grep -q 'added 2' <<<"$imported"
run --data-dir "$D" pass issue --all --out "$D/cards"
test -s "$D/cards/index.html"
payload="$(sed -n 2p "$D/cards/passes.csv" | cut -d, -f4)"
out="$(run --data-dir "$D" scan --payload "$payload" --temp 36.5 --direction in --json)"
echo "$out"
grep -q '"decision": "allow"' <<<"$out"
run --data-dir "$D" events verify
echo "== arm64 build runs under qemu: ok"

# The .deb a Pi installs: binary, units, example config, postinst user.
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet
cargo deb --target "$TARGET" --no-build --output target/gatepass_arm64.deb
info="$(dpkg-deb -I target/gatepass_arm64.deb)"
files="$(dpkg-deb -c target/gatepass_arm64.deb)"
grep -q 'Architecture: arm64' <<<"$info"
grep -q './usr/bin/gatepass$' <<<"$files"
grep -q './lib/systemd/system/gatepass.service$' <<<"$files"
echo "== arm64 .deb: ok ($(du -h target/gatepass_arm64.deb | cut -f1))"
