#!/bin/bash
# Disk full (SPEC §5, §2, §6): with STOREDIR on a small tmpfs, publishes fail
# with ENOSPC once the space is used up, whatever step runs out of space;
# nothing is half-stored; counters and locks fail cleanly (ENOSPC or EIO) or
# succeed, and then count and hold exactly; the daemon stays up; once space is
# freed everything works again, and charmfs --check is clean.
. "$SRCDIR/tests/mount/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: diskfull.sh needs root to mount a tmpfs"
	exit 77
fi
SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=8m tmpfs "$SMALL" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
trap 'stop_daemon; umount "$SMALL" 2>/dev/null || umount -l "$SMALL"; cleanup' EXIT
STORE=$SMALL/store
FILLER=$SMALL/filler

# big N: $T/bigN.charm, wordpress with 1 MiB of incompressible data.
for n in $(seq 0 23); do
	copy_charm wordpress "$T/big$n"
	head -c 1048576 /dev/urandom >"$T/big$n/lib/blob"
	make_charm wordpress "$T/big$n.charm" "$T/big$n"
done
make_charm mysql "$T/mysql.charm"

# revs: the revision directories of trusty/wordpress.
revs() {
	ls "$MNT/charms/trusty/wordpress" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | xargs
}

# fill [KEEP-KIB]: fills the tmpfs with a filler file, leaving about KEEP-KIB free.
fill() {
	rm -f "$FILLER"
	local avail=$(($(stat -f -c '%a * %S' "$SMALL") / 1024))
	avail=$((avail - ${1:-0}))
	if [ "$avail" -gt 0 ]; then
		head -c "${avail}K" /dev/zero >"$FILLER" 2>/dev/null
	fi
	# Every last page, when asked for none.
	if [ "${1:-0}" -eq 0 ]; then
		head -c 1M /dev/zero >>"$FILLER" 2>/dev/null
	fi
	return 0
}

# try_publish WHAT N: publishes big N at trusty/wordpress; either it succeeds
# and adds exactly one whole revision, or it fails with ENOSPC (or EIO) and
# leaves charms/ as it was. Sets TP to ok or full.
try_publish() {
	local what=$1 n=$2 before out r
	before=$(store_state)
	r=$(revs)
	if out=$(cp "$T/big$n.charm" "$MNT/publish/trusty/wordpress.charm" 2>&1); then
		local latest
		latest=$(readlink "$MNT/charms/trusty/wordpress/latest")
		expect_eq "$what: a new revision" "$r${r:+ }$latest" "$(revs)"
		expect_eq "$what: stored whole" "$(cat "$MNT/charms/trusty/wordpress/$latest/sha256")" \
			"$(sha256sum <"$MNT/charms/trusty/wordpress/$latest/archive.charm" | cut -d' ' -f1)"
		check "$what: its files/" cmp -s "$T/big$n/lib/blob" "$MNT/charms/trusty/wordpress/$latest/files/lib/blob"
		rm -f "$MNT/publish/trusty/wordpress.charm"
		TP=ok
	else
		case $out in
		*"No space left on device"*) pass ;;
		*"Input/output error"*) fail "$what: EIO where SPEC §5 asks for ENOSPC: $out" ;;
		*) fail "$what: expected ENOSPC, got: $out" ;;
		esac
		expect_eq "$what: nothing half-stored" "$before" "$(store_state)"
		rm -f "$MNT/publish/trusty/wordpress.charm"
		TP=full
	fi
}

start_daemon
check "a first publish" cp "$T/mysql.charm" "$MNT/publish/trusty/mysql.charm"
mkdir -p "$MNT/counters/full/k"
echo 5 >"$MNT/counters/full/k/counter.inc"

# --- publish until the space is used up --------------------------------------------
n=0
full=0
while [ $n -lt 8 ]; do
	try_publish "publish $n" $n; r=$TP
	n=$((n + 1))
	[ "$r" = full ] && { full=1; break; }
done
check "publishing ran out of space (ENOSPC) within 8 MiB" test $full = 1
check "daemon alive after ENOSPC" daemon_alive

# --- run out of space at each step: the free space before the publish varies ---------
# Freeing: rmdir of every revision, so the blobs and trees go too.
for r in $(revs); do rmdir "$MNT/charms/trusty/wordpress/$r"; done
check "rmdir freed the revisions" test -z "$(revs)"
for keep in 0 64 512 1100 1600 2200 2700 3300; do
	fill "$keep"
	try_publish "publish with ${keep} KiB free" $n; r=$TP
	echo "diskfull.sh: publish of 1 MiB with $keep KiB free: $r"
	n=$((n + 1))
	check "daemon alive (${keep} KiB free)" daemon_alive
	for r in $(revs); do rmdir "$MNT/charms/trusty/wordpress/$r"; done
done

# --- counters and locks on a full disk ----------------------------------------------
fill 0
v=$(cat "$MNT/counters/full/k/counter.value")
okc=0
errs=
for i in $(seq 1 200); do
	if out=$( { echo >"$MNT/counters/full/k/counter.inc"; } 2>&1); then
		okc=$((okc + 1))
	else
		errs="$errs$out"$'\n'
	fi
done
bad=$(printf '%s' "$errs" | grep -v 'No space left on device\|Input/output error' | head -n 3)
expect_eq "counter.inc on a full disk: only ENOSPC or EIO" "" "$bad"
expect_eq "counter counts exactly its successful writes" "$((v + okc))" "$(cat "$MNT/counters/full/k/counter.value")"
echo "diskfull.sh: $okc of 200 increments succeeded on the full disk"
okl=
for i in $(seq 1 20); do
	if out=$(mkdir "$MNT/locks/trusty/full$i" 2>&1); then
		okl="$okl full$i"
	else
		case $out in
		*"No space left on device"* | *"Input/output error"*) pass ;;
		*) fail "mkdir of a lock on a full disk: $out" ;;
		esac
		check "a failed lock is not held" test ! -e "$MNT/locks/trusty/full$i"
	fi
done
for l in $okl; do check "lock $l held" test -d "$MNT/locks/trusty/$l"; done
expect_eq "lock take through ctl on a full disk fails cleanly or works" ok "$(
	exec 3<>"$MNT/locks/ctl" || exit
	if printf 'lock cs:trusty/fullctl\n' >&3 2>/dev/null; then
		r=$(cat <&3)
		case $r in "ok "* | "error "*) echo ok ;; *) echo "reply: $r" ;; esac
	else
		echo ok
	fi)"
mkdir "$MNT/counters/full/new$RANDOM" 2>/dev/null
check "daemon alive after counters and locks on a full disk" daemon_alive
try_publish "publish on a full disk" $n; r=$TP
n=$((n + 1))
expect_eq "a publish on a full disk fails" full "$r"

# --- space freed: everything works again ------------------------------------------
rm -f "$FILLER"
v=$(cat "$MNT/counters/full/k/counter.value")
check "counter.inc after freeing space" sh -c "echo 3 > '$MNT/counters/full/k/counter.inc'"
expect_eq "counts again" "$((v + 3))" "$(cat "$MNT/counters/full/k/counter.value")"
check "lock after freeing space" mkdir "$MNT/locks/trusty/afterfull"
for l in $okl; do rmdir "$MNT/locks/trusty/$l"; done
try_publish "publish after freeing space" $n; r=$TP
expect_eq "publishing works again" ok "$r"
n=$((n + 1))
try_publish "another publish after freeing space" $n; r=$TP
expect_eq "and again" ok "$r"
check "mysql still whole" test "$(cat "$MNT/charms/trusty/mysql/0/sha256")" = "$(sha256sum <"$MNT/charms/trusty/mysql/0/archive.charm" | cut -d' ' -f1)"

state=$(store_state)
value=$(cat "$MNT/counters/full/k/counter.value")
stop_daemon
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1
check "--check clean after disk full: $(cat "$T/check.out")" test $? -eq 0
check "sqlite integrity_check" test "$(sqlite3 "$STORE/charmfs.db" 'PRAGMA integrity_check')" = ok
start_daemon
expect_eq "the store is the same after a remount" "$state" "$(store_state)"
expect_eq "the counter is the same after a remount" "$value" "$(cat "$MNT/counters/full/k/counter.value")"
check "daemon still running" daemon_alive
finish
