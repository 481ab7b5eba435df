#!/bin/bash
# Hook runner benchmark: a hook run (hook_run() of `sh -c true`) against the
# same command forked directly, median of HR_N runs each, in a small process
# and in one with a large heap (HR_RSS_MB). Target: ratio < 2 at the median.
# Not part of `make check`; prints numbers, asserts nothing on time.
#
#   tests/bench/hookrun.sh
#
# hookrun_load.c is compiled against non-sanitizer libraries.
# Environment: BUILD (default /tmp/bench-build, which needs
# .libs/libcharmfs.a and .libs/libcharmfs_hooks.a), HR_N (300),
# HR_RSS_MB (512). Build without sanitizers, never inside the source tree:
#   cd /work/main && autoreconf -fi
#   mkdir -p /tmp/bench-build && cd /tmp/bench-build &&
#     /work/main/configure CFLAGS='-O2 -g' && make -j2 libcharmfs.la libcharmfs_hooks.la
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-/tmp/bench-build}
HR_N=${HR_N:-300}
HR_RSS_MB=${HR_RSS_MB:-512}

die() { echo "hookrun.sh: $*" >&2; exit 1; }

for lib in libcharmfs.a libcharmfs_hooks.a; do
	[ -f "$BUILD/.libs/$lib" ] || die "no $BUILD/.libs/$lib (see the header)"
done
bin=$BUILD/hookrun_load
cc -O2 -std=gnu11 -pthread -I"$BUILD" -I"$SRC/backend" -I"$SRC/hooks" \
	"$HERE/hookrun_load.c" "$BUILD/.libs/libcharmfs_hooks.a" "$BUILD/.libs/libcharmfs.a" \
	$(pkg-config --libs sqlite3 libarchive libcrypto yaml-0.1 jansson) -o "$bin"
"$bin" "$HR_N" 0
"$bin" "$HR_N" "$HR_RSS_MB"
