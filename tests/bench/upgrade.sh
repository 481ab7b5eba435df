#!/bin/bash
# Upgrade benchmark (SPEC §4.9): the two costs of taking a release that do
# not depend on the store, on a SIZE_MB (100) MiB release of random data
# served from 127.0.0.1, against the standard tools in the same run:
#
#   1. download: `relbench download` (release_client_download(): libcurl,
#      the SHA-256 computed while receiving, the body written to a file)
#      against `curl -s -o /dev/null` of the same URL from the same server
#      (target: throughput ratio >= 0.9), and, for reference, `curl -s -o
#      FILE` into the same directory (the same write, no hashing);
#   2. hash and verify: `relbench verify` (sha256_fd() of the file,
#      release_key_load(), release_verify() of the signature made by
#      `charmfs --sign-release`) against `sha256sum FILE` (target: time
#      ratio <= 1.2).
#
# ROUNDS (7) alternating rounds, each tool once a round; medians and bests.
# Download times are the transfer as each client reports it (curl's
# time_total, relbench's own clock around the download call: both include
# the connection, neither the process start); verify times are whole
# processes (sha256sum has no other clock). The downloaded files are
# removed before and after each run, so that no run truncates the
# previous one's pages or writes them back meanwhile.
#
# Servers (SERVERS, default "sendfile httpserver", run one after the
# other): tests/bench/sendfile_httpd.py in its sendfile mode (the body goes
# by sendfile(2): the targets are read on this one), and in its
# httpserver mode (http.server's own copy loop, as `python3 -m
# http.server`), to show how much a slow server hides.
#
#   tests/bench/upgrade.sh          (or tests/bench/run.sh upgrade)
#
# Environment: BUILD (default /tmp/bench-build), a non-sanitizer build
# directory in which the script makes charmfs and tests/bench/relbench;
# ROUNDS, SIZE_MB, SERVERS; DL_DIR, where the downloads go (default the
# temporary directory, under TMPDIR or /tmp). Build without sanitizers:
#   cd /work/main && autoreconf -fi
#   mkdir -p /tmp/bench-build && cd /tmp/bench-build &&
#     /work/main/configure CFLAGS='-O2 -g'
# Not part of `make check`; prints numbers, asserts nothing on time.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-/tmp/bench-build}
ROUNDS=${ROUNDS:-7}
SIZE_MB=${SIZE_MB:-100}
SERVERS=${SERVERS:-sendfile httpserver}
VERSION=1.0.0

die() { echo "upgrade.sh: $*" >&2; exit 1; }
for tool in curl python3 sha256sum make; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -f "$BUILD/Makefile" ] || die "no $BUILD/Makefile (see the header)"
if grep -q '^SAN_CFLAGS = .*fsanitize' "$BUILD/Makefile"; then
	echo "upgrade.sh: warning: $BUILD is a sanitizer build; its figures are not comparable" >&2
fi
make -s -C "$BUILD" charmfs tests/bench/relbench >/dev/null || die "make in $BUILD failed"
CHARMFS=$BUILD/charmfs
RELBENCH=$BUILD/tests/bench/relbench

T=$(mktemp -d "${TMPDIR:-/tmp}/charmfs-upgbench.XXXXXX")
DL_DIR=${DL_DIR:-$T/dl}
SERVER_PID= SERVER_IN=
cleanup() {
	stop_server
	rm -f "$DL_DIR/relbench.bin" "$DL_DIR/curl.bin"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server MODE: the server in the background, its stdin a pipe from
# this shell (closing it stops the server); PORT once it listens.
start_server() {
	coproc SRV { exec python3 "$HERE/sendfile_httpd.py" "$1" "$T/www"; }
	SERVER_PID=$SRV_PID SERVER_IN=${SRV[1]}
	read -r -t 20 PORT <&"${SRV[0]}" || die "the $1 server did not start"
}
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	{ exec {SERVER_IN}>&-; } 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID= SERVER_IN=
}

now_ns() { date +%s%N; }

# Each sample is one line "NAME SECONDS" in $T/samples.
sample() { echo "$1 $2" >>"$T/samples"; }

run_curl_null() {
	local t
	t=$(curl -sf -o /dev/null -w '%{time_total}' "$URL") || die "curl -o /dev/null $URL failed"
	sample "$1 curl-null" "$t"
}
run_curl_file() {
	local t
	rm -f "$DL_DIR/curl.bin"
	t=$(curl -sf -o "$DL_DIR/curl.bin" -w '%{time_total}' "$URL") || die "curl -o FILE $URL failed"
	[ "$(stat -c %s "$DL_DIR/curl.bin")" -eq "$SIZE" ] || die "curl -o FILE: short download"
	rm -f "$DL_DIR/curl.bin"
	sample "$1 curl-file" "$t"
}
run_relbench() {
	local out bytes secs sha
	rm -f "$DL_DIR/relbench.bin"
	out=$("$RELBENCH" download "$URL" "$DL_DIR/relbench.bin") || die "relbench download $URL failed"
	rm -f "$DL_DIR/relbench.bin"
	read -r _ bytes _ secs _ sha <<<"$out"
	[ "$bytes" -eq "$SIZE" ] && [ "$sha" = "$SHA" ] ||
		die "relbench download: $out (expected $SIZE bytes, sha256 $SHA)"
	sample "$1 relbench" "$secs"
}
run_sha256sum() {
	local t0 t1
	t0=$(now_ns)
	sha256sum "$REL" >/dev/null
	t1=$(now_ns)
	sample "verify sha256sum" "$(awk -v d=$((t1 - t0)) 'BEGIN{printf "%.6f", d / 1e9}')"
}
run_verify() {
	local t0 t1
	t0=$(now_ns)
	"$RELBENCH" verify "$T/key.pub.pem" "$REL" "$VERSION" "$SIG" >/dev/null
	t1=$(now_ns)
	sample "verify relbench" "$(awk -v d=$((t1 - t0)) 'BEGIN{printf "%.6f", d / 1e9}')"
}

# stat NAME: "median best count" of NAME's samples, in seconds.
stat_of() {
	awk -v n="$1" '$1" "$2 == n {print $3}' "$T/samples" | sort -g |
		awk '{v[NR]=$1} END{if (!NR) {print "nan nan 0"; exit}
			m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; print m, v[1], NR}'
}
# line LABEL NAME [BYTES]: one row of the report.
line() {
	local med best n
	read -r med best n < <(stat_of "$2")
	awk -v l="$1" -v m="$med" -v b="$best" -v n="$n" -v bytes="${3:-0}" 'BEGIN{
		printf "| %s | %.1f ms | %.1f ms |", l, m * 1000, b * 1000
		if (bytes > 0) printf " %.0f MB/s | %.0f MB/s |", bytes / m / 1e6, bytes / b / 1e6
		else printf " - | - |"
		printf " %d |\n", n }'
}
ratio() { # ratio NAME_A NAME_B: median of A / median of B, and best / best
	local ma ba mb bb
	read -r ma ba _ < <(stat_of "$1")
	read -r mb bb _ < <(stat_of "$2")
	awk -v ma="$ma" -v ba="$ba" -v mb="$mb" -v bb="$bb" \
		'BEGIN{printf "%.2f (best: %.2f)", ma / mb, ba / bb}'
}

# The release, its key and its signature, by the daemon's own tools.
mkdir -p "$T/www" "$DL_DIR"
REL=$T/www/release.bin
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$REL"
SIZE=$(stat -c %s "$REL")
SHA=$(sha256sum "$REL" | cut -d' ' -f1)
"$CHARMFS" --keygen "$T/key" >/dev/null
SIG=$("$CHARMFS" --sign-release "$T/key.pem" "$REL" "$VERSION")
"$RELBENCH" verify "$T/key.pub.pem" "$REL" "$VERSION" "$SIG" >/dev/null ||
	die "relbench verify refused the signature of charmfs --sign-release"
if "$RELBENCH" verify "$T/key.pub.pem" "$REL" 1.0.1 "$SIG" >/dev/null 2>&1; then
	die "relbench verify accepted the signature for another version"
fi
: >"$T/samples"

for mode in $SERVERS; do
	start_server "$mode"
	URL=http://127.0.0.1:$PORT/release.bin
	curl -sf -o /dev/null "$URL" || die "GET $URL failed"
	echo "server $mode on 127.0.0.1:$PORT: $ROUNDS rounds of $SIZE bytes" >&2
	for r in $(seq 1 "$ROUNDS"); do
		# Each round starts with another client, so that none always runs first.
		case $((r % 3)) in
		0) run_curl_null "$mode"; run_relbench "$mode"; run_curl_file "$mode" ;;
		1) run_relbench "$mode"; run_curl_file "$mode"; run_curl_null "$mode" ;;
		2) run_curl_file "$mode"; run_curl_null "$mode"; run_relbench "$mode" ;;
		esac
	done
	stop_server
done
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run_sha256sum; run_verify; else run_verify; run_sha256sum; fi
done

echo
echo "charmfs upgrade benchmark, $(date -u +%FT%TZ), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
echo "$BUILD ($(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?')); $(curl --version | head -1 | cut -d' ' -f1-2); $SIZE bytes; downloads into $(df -T "$DL_DIR" | awk 'NR==2{print $2}') ($DL_DIR); $ROUNDS rounds"
echo
echo "| measurement | median | best | MB/s (median) | MB/s (best) | runs |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in $SERVERS; do
	line "$mode: curl -s -o /dev/null" "$mode curl-null" "$SIZE"
	line "$mode: curl -s -o FILE" "$mode curl-file" "$SIZE"
	line "$mode: relbench download (hash + FILE)" "$mode relbench" "$SIZE"
done
line "sha256sum FILE" "verify sha256sum" "$SIZE"
line "relbench verify (sha256_fd + Ed25519)" "verify relbench" "$SIZE"
echo
for mode in $SERVERS; do
	echo "$mode: download ratio relbench / curl -o /dev/null (MB/s): $(ratio "$mode curl-null" "$mode relbench") (target >= 0.9)"
	echo "$mode: download ratio relbench / curl -o FILE (MB/s): $(ratio "$mode curl-file" "$mode relbench")"
done
echo "verify ratio relbench verify / sha256sum (time): $(ratio "verify relbench" "verify sha256sum") (target <= 1.2)"
