#!/usr/bin/env bash
# Cross-build gatepass for 64-bit Raspberry Pi OS (aarch64) and run the
# binary under qemu-user: --version always, then init / household import /
# pass issue / scan for each command the binary's --help already lists, so
# this passes on a tree where a command is not written yet and becomes
# stricter by itself once it is.
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
if [ -z "$version" ]; then
    echo "== note: --version printed nothing (the CLI is not written yet)" >&2
else
    echo "$version"
    grep -q gatepass <<<"$version"
fi

HELP="$(run --help 2>&1 || true)"
has() {
    # A subcommand line in clap's help starts with two spaces and the name.
    if grep -Eq "^  $1( |$)" <<<"$HELP"; then
        return 0
    fi
    echo "== skipped: the binary has no '$1' command yet" >&2
    return 1
}
sub_has() {
    local sub_help
    sub_help="$(run "$1" --help 2>&1 || true)"
    if grep -Eq "^  $2( |$)" <<<"$sub_help"; then
        return 0
    fi
    echo "== skipped: the binary has no '$1 $2' command yet" >&2
    return 1
}

D="$(mktemp -d)"
trap 'rm -rf "$D"' EXIT

if has init; then
    run --data-dir "$D" init --community Test --gate east
fi
if has household && sub_has household import; then
    printf 'household,address,grid,name\nH001,1 East Lane,G1,Li Wei\nH002,2 East Lane,G1,Wang Fang\n' > "$D/register.csv"
    run --data-dir "$D" household import "$D/register.csv"
fi
if has pass && sub_has pass issue; then
    run --data-dir "$D" pass issue --all --out "$D/cards"
    test -s "$D/cards/passes.csv"
fi
if has scan && [ -s "$D/cards/passes.csv" ]; then
    payload="$(sed -n 2p "$D/cards/passes.csv" | cut -d, -f4)"
    out="$(run --data-dir "$D" scan --payload "$payload" --temp 36.5 --json)"
    echo "$out"
    grep -q '"decision"' <<<"$out"
fi

echo "== arm64 build and qemu run OK"
