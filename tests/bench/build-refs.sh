#!/bin/bash
# Builds the reference filesystems for tests/bench into tests/bench/bin/
# (gitignored): libfuse's passthrough_ll, compiled from the example shipped
# by the Debian package libfuse3-dev. squashfuse and mksquashfs come from the
# Debian packages squashfuse and squashfs-tools; they are installed with
# apt-get when missing. No third-party source is copied into the repository:
# the example is compiled in a temporary directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/bin
EX=/usr/share/doc/libfuse3-dev/examples

need_pkgs=()
[ -f "$EX/passthrough_ll.c" ] || need_pkgs+=(libfuse3-dev)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
command -v gcc >/dev/null || need_pkgs+=(gcc)
command -v squashfuse >/dev/null || need_pkgs+=(squashfuse)
command -v mksquashfs >/dev/null || need_pkgs+=(squashfs-tools)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "build-refs: installing ${need_pkgs[*]}" >&2
	apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

mkdir -p "$BIN"
if [ -x "$BIN/passthrough_ll" ] && [ "$BIN/passthrough_ll" -nt "$EX/passthrough_ll.c" ]; then
	echo "build-refs: $BIN/passthrough_ll is up to date"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$EX/passthrough_ll.c" "$tmp/"
# Debian ships the helper compressed in some versions.
if [ -f "$EX/passthrough_helpers.h" ]; then
	cp "$EX/passthrough_helpers.h" "$tmp/"
elif [ -f "$EX/passthrough_helpers.h.gz" ]; then
	gzip -dc "$EX/passthrough_helpers.h.gz" >"$tmp/passthrough_helpers.h"
fi
# shellcheck disable=SC2046
gcc -O2 -g -Wall -o "$BIN/passthrough_ll" "$tmp/passthrough_ll.c" \
	$(pkg-config --cflags --libs fuse3) -lpthread
echo "build-refs: built $BIN/passthrough_ll ($(pkg-config --modversion fuse3))"
