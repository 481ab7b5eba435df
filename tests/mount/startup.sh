#!/bin/bash
# Start-up (SPEC §2, Start-up errors): a bad start reports on stderr with
# status 2 or 1 and creates nothing; the mount always has default_permissions,
# the store path as its source, and a raised open-file soft limit.
. "$(dirname "$0")/lib.sh"

# refused STATUS MESSAGE [charmfs arguments...]: the start fails with STATUS,
# stderr names MESSAGE, the store is not created and nothing is mounted.
refused() {
	local want=$1 msg=$2 rc=0
	shift 2
	"$CHARMFS" -f "$@" 2>"$T/err" || rc=$?
	expect_eq "status of $*" "$want" "$rc"
	check "stderr of $* names '$msg'" grep -q -- "$msg" "$T/err"
	check "$* creates no store" test ! -e "$STORE"
	check "$* mounts nothing" sh -c "! mountpoint -q '$MNT'"
}

touch "$T/file"
refused 2 "unknown option" -o bogus_option "$STORE" "$MNT"
refused 2 "no such group" -o group=no-such-group-here "$STORE" "$MNT"
refused 1 "not a directory" "$STORE" "$T/file"
refused 1 "No such file" "$STORE" "$T/missing"
refused 1 "logfile" -o logfile="$T/no/such/dir/log" "$STORE" "$MNT"

start_daemon -o logfile="$T/charmfs.log"
expect_eq "mount source is the store" "$STORE" "$(findmnt -n -o SOURCE "$MNT")"
expect_eq "mount type" "fuse.charmfs" "$(findmnt -n -o FSTYPE "$MNT")"
check "default_permissions" sh -c "findmnt -n -o OPTIONS '$MNT' | grep -q default_permissions"
hard=$(awk '/^Max open files/ { print $5 }' /proc/$DAEMON_PID/limits)
soft=$(awk '/^Max open files/ { print $4 }' /proc/$DAEMON_PID/limits)
expect_eq "open-file soft limit raised to the hard limit" "$hard" "$soft"
check "logfile created" test -f "$T/charmfs.log"
finish
