# Shared helpers for tests/bench/setup.sh and run.sh. Source it.
#
# Layout (all under $OUT, default tests/bench/out/, gitignored):
#   gen/r0 gen/r1 gen/r2   1,000 charms each, revisions 0..2 of cs:trusty/cNNNNN
#   gen/big/big.charm      cs:bionic/big, files/data/blob.bin = 100 MiB random
#   store/                 the charmfs store after publishing all of the above
#   ref/charms/            the same tree as a plain directory (cp -a of the mount)
#   ref.sqfs               squashfs image of ref/
#   mnt/{charmfs,pt,sq}    mount points; *.log daemon logs
set -u

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$BENCH/out}
CHARMFS=${CHARMFS:-/tmp/bench-build/charmfs}
PT=${PT:-$BENCH/bin/passthrough_ll}
PT_OPTS=${PT_OPTS:-}          # e.g. PT_OPTS=cache=always
CF_OPTS=${CF_OPTS:-}          # extra charmfs -o options
SQ_OPTS=${SQ_OPTS:-}          # extra squashfuse -o options (diag.sh: debug)
NCHARMS=${NCHARMS:-1000}
NREVS=${NREVS:-3}
GEN=$OUT/gen
STORE=$OUT/store
REF=$OUT/ref
IMG=$OUT/ref.sqfs
MNT_CF=$OUT/mnt/charmfs
MNT_PT=$OUT/mnt/pt
MNT_SQ=$OUT/mnt/sq

# passthrough_ll keeps one O_PATH descriptor per kernel inode: without a high
# limit it fails with EMFILE on the 10,000-file read. Raised for every daemon.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

declare -A PID=()              # mount point -> daemon pid
declare -A LOGF=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_ns() { date +%s%N; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# wait_mount MNT PID: until MNT is a FUSE mount answering requests.
wait_mount() {
	local mnt=$1 pid=$2 i
	for i in $(seq 1 800); do
		if mountpoint -q "$mnt" && ls "$mnt" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { cat "${LOGF[$mnt]}" >&2; die "daemon for $mnt exited"; }
		sleep 0.025
	done
	die "$mnt did not become ready"
}

# start_fs KIND MNT: KIND is charmfs, pt or sq. Foreground daemons in the
# background of this shell, so that we know their pid.
start_fs() {
	local kind=$1 mnt=$2
	mkdir -p "$mnt"
	mountpoint -q "$mnt" && die "$mnt is already mounted"
	LOGF[$mnt]=$OUT/$(basename "$mnt").log
	case $kind in
	charmfs)
		"$CHARMFS" -f ${CF_OPTS:+-o "$CF_OPTS"} "$STORE" "$mnt" 2>>"${LOGF[$mnt]}" &
		;;
	pt)
		"$PT" -f -o "source=$REF${PT_OPTS:+,$PT_OPTS}" "$mnt" 2>>"${LOGF[$mnt]}" &
		;;
	sq)
		squashfuse -f ${SQ_OPTS:+-o "$SQ_OPTS"} "$IMG" "$mnt" 2>>"${LOGF[$mnt]}" &
		;;
	*) die "unknown fs kind $kind" ;;
	esac
	PID[$mnt]=$!
	wait_mount "$mnt" "${PID[$mnt]}"
}

stop_fs() {
	local mnt=$1 pid=${PID[$1]:-} i
	[ -n "$pid" ] || return 0
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	for i in $(seq 1 400); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.025
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "daemon $pid for $mnt did not exit; sending SIGTERM"
		kill "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset "PID[$mnt]"
}

stop_all() {
	local m
	for m in "${!PID[@]}"; do
		stop_fs "$m"
	done
}

# rss_of PID: "VmRSS_kB VmHWM_kB"
rss_of() {
	awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{print r, h}' "/proc/$1/status"
}

# publish_dir SRCDIR DEST PARALLEL: cp every *.charm of SRCDIR into DEST.
publish_dir() {
	local src=$1 dest=$2 par=${3:-2}
	find "$src" -maxdepth 1 -name '*.charm' -print0 | sort -z |
		xargs -0 -P "$par" -n 100 cp -t "$dest"
}
