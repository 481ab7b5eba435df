# Shared helpers for charmfs mount tests. Source it, then call start_daemon.
#
# Each test gets its own temporary directory with a store and a mount
# point; the daemon runs in the foreground in the background of the test
# shell, readiness is awaited by polling the mount (never a fixed sleep),
# and cleanup always unmounts. A test fails if the daemon's stderr holds a
# sanitizer report.

set -u

: "${CHARMFS:?CHARMFS must name the charmfs binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/charmfs-test.XXXXXX")
STORE=$T/store
MNT=$T/mnt
LOG=$T/daemon.log
DAEMON_PID=
FAILS=0
PASSES=0
mkdir -p "$MNT"

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

pass() {
	PASSES=$((PASSES + 1))
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@"; then pass; else fail "$what"; fi
}

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass
	else
		fail "$1: expected [$2], got [$3]"
	fi
}

# expect_errno DESCRIPTION "Message text" COMMAND...: the command must fail and
# its stderr must mention the strerror text (e.g. "File exists").
expect_errno() {
	local what=$1 msg=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$what: succeeded, expected \"$msg\""
	elif ! printf '%s' "$out" | grep -q -- "$msg"; then
		fail "$what: expected \"$msg\", got: $out"
	else
		pass
	fi
}

# errno_of PYTHON-OS-CALL: prints the errno name a syscall fails with, or OK.
errno_of() {
	python3 - "$@" <<'PY'
import errno, os, sys
try:
    eval(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}

sanitizer_report() {
	grep -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer" "$LOG" 2>/dev/null
}

wait_mounted() {
	local i
	for i in $(seq 1 400); do
		if mountpoint -q "$MNT" && [ -e "$MNT/events" ]; then
			return 0
		fi
		if [ -n "$DAEMON_PID" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "daemon exited during startup:" >&2
			cat "$LOG" >&2
			return 1
		fi
		sleep 0.025
	done
	echo "mount did not become ready" >&2
	return 1
}

# start_daemon [charmfs options...]: mounts $STORE on $MNT.
start_daemon() {
	"$CHARMFS" -f "$@" "$STORE" "$MNT" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_mounted || exit 1
}

# stop_daemon: unmounts and waits for the daemon to exit.
stop_daemon() {
	if [ -n "$DAEMON_PID" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
	fi
}

# kill_daemon: kill -9, then clear the dead mount.
kill_daemon() {
	if [ -n "$DAEMON_PID" ]; then
		kill -9 "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
}

cleanup() {
	stop_daemon
	if sanitizer_report >/dev/null; then
		echo "FAIL: sanitizer report in daemon log:" >&2
		cat "$LOG" >&2
		FAILS=$((FAILS + 1))
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# finish: prints the summary and sets the exit status.
finish() {
	stop_daemon
	if sanitizer_report >/dev/null; then
		echo "FAIL: sanitizer report in daemon log:" >&2
		cat "$LOG" >&2
		FAILS=$((FAILS + 1))
	fi
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
	exit $?
}

# make_charm NAME OUT [SRC]: zips a sample charm (default tests/data/charms/NAME).
make_charm() {
	local name=$1 out=$2 src=${3:-$SRCDIR/tests/data/charms/$1}
	rm -f "$out"
	(cd "$src" && zip -qry "$out" .)
}

# copy_charm NAME DEST: copies a sample charm directory for editing.
copy_charm() {
	rm -rf "$2"
	cp -a "$SRCDIR/tests/data/charms/$1" "$2"
}
