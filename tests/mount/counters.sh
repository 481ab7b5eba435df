#!/bin/bash
# counters/: the original store's statistics as files (SPEC §4.4), download
# counting (§4.1), concurrency and durability of increments.
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
C=$MNT/counters

# count KEY N: adds N to the key through counter.inc.
count() {
	mkdir -p "$C/$1" && echo "$2" > "$C/$1/counter.inc"
}

# query DIR REQUEST: the reply of a counter.query transaction.
query() {
	exec 3<>"$1/counter.query"
	printf '%s\n' "$2" >&3
	cat <&3
	exec 3>&-
}

# The original's example.
count a/b 1; count a/c 3; count a/c/d 5; count a/c/e 7
expect_eq "a total" 16 "$(cat "$C/a/counter.total")"
expect_eq "a:c value" 3 "$(cat "$C/a/c/counter.value")"
expect_eq "a:c total" 12 "$(cat "$C/a/c/counter.total")"
expect_eq "a list" "$(printf 'a:c:*  12\na:c    3\na:b    1')" "$(cat "$C/a/counter.list")"
expect_eq "root total" 16 "$(cat "$C/counter.total")"
check "st_size is the content size" test "$(stat -c %s "$C/a/counter.list")" = "$(cat "$C/a/counter.list" | wc -c)"

# The sums example.
count x/b/c 10; count x/b 7; count x/z/b 3
expect_eq "x:b:c" 10 "$(cat "$C/x/b/c/counter.value")"
expect_eq "x:b" 7 "$(cat "$C/x/b/counter.value")"
expect_eq "x:z:b" 3 "$(cat "$C/x/z/b/counter.value")"
expect_eq "x:b:c:*" 0 "$(cat "$C/x/b/c/counter.total")"
expect_eq "x:b:*" 10 "$(cat "$C/x/b/counter.total")"
expect_eq "x:*" 20 "$(cat "$C/x/counter.total")"
check "unknown key absent" test ! -e "$C/nothere"
cat "$C/nothere/counter.total" 2>/dev/null
check "reading an unknown key creates nothing" test ! -e "$C/nothere"

# Answers without list carry no key column, in any format.
expect_eq "exact text" 3 "$(query "$C/a/c" "exact format=text")"
expect_eq "prefix csv" 12 "$(query "$C/a/c" "prefix format=csv")"
expect_eq "prefix json" "[[12]]" "$(query "$C/a/c" "prefix format=json")"
expect_eq "list json" '[["a:c:*",12],["a:c",3],["a:b",1]]' "$(query "$C/a" "prefix list format=json")"
expect_eq "list csv" "$(printf 'a:c:*,12\na:c,3\na:b,1')" "$(query "$C/a" "prefix list format=csv")"
expect_eq "bad query" EINVAL "$(errno_of "os.write(os.open('$C/a/counter.query', os.O_RDWR), b'by=month\n')")"

# Reserved names and bad tokens.
expect_eq "reserved token" EINVAL "$(errno_of "os.mkdir('$C/counter.x')")"
expect_eq "star token" EINVAL "$(errno_of "os.mkdir('$C/*')")"
expect_eq "non-UTF-8 token" EINVAL "$(errno_of "os.mkdir(b'$C/\\xff')")"
expect_eq "bad increment" EINVAL "$(errno_of "os.write(os.open('$C/a/counter.inc', os.O_WRONLY), b'-3\n')")"
expect_eq "rmdir of a counted key" ENOTEMPTY "$(errno_of "os.rmdir('$C/a/c')")"
check "mkdir then rmdir of an empty key" bash -c "mkdir '$C/empty' && rmdir '$C/empty'"
expect_eq "counter.value is read-only" EACCES "$(errno_of "open('$C/a/counter.value', 'w')")"

# 4 processes x 1,000 writes to counter.inc count exactly 4,000.
mkdir -p "$C/race"
pids=
for p in 1 2 3 4; do
	python3 -c "
import os
fd = os.open('$C/race/counter.inc', os.O_WRONLY)
for i in range(1000):
    os.write(fd, b'\n')
" &
	pids="$pids $!"
done
wait $pids
expect_eq "concurrent increments" 4000 "$(cat "$C/race/counter.value")"

# Downloads count each open of archive.charm, visible when the open returns.
make_charm wordpress "$T/wp.charm"
cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
A=$MNT/charms/trusty/wordpress/0/archive.charm
cat "$A" > /dev/null
expect_eq "one download" 1 "$(cat "$C/charm-bundle/trusty/wordpress/counter.value")"
python3 -c "
f = open('$A', 'rb')
print(open('$C/charm-bundle/trusty/wordpress/counter.value').read().strip())
" > "$T/during"
expect_eq "counted at open" 2 "$(cat "$T/during")"
check "info reads do not count" cat "$MNT/charms/trusty/wordpress/0/info" > /dev/null
expect_eq "still two" 2 "$(cat "$C/charm-bundle/trusty/wordpress/counter.value")"

# Counts survive an unmount and a kill -9 after the writes returned.
kill_daemon
start_daemon
expect_eq "after kill -9" 4000 "$(cat "$C/race/counter.value")"
expect_eq "downloads after kill -9" 2 "$(cat "$C/charm-bundle/trusty/wordpress/counter.value")"
stop_daemon

# -o stats=0: downloads are not counted.
start_daemon -o stats=0
cat "$A" > /dev/null
expect_eq "stats=0" 2 "$(cat "$C/charm-bundle/trusty/wordpress/counter.value")"
stop_daemon

# --check verifies that counters and their rollups agree.
check "--check with counters" "$CHARMFS" --check "$STORE"
sqlite3 "$STORE/charmfs.db" "UPDATE counter_keys SET count = count + 1 WHERE k = (SELECT k FROM counter_keys WHERE count > 0 LIMIT 1)"
expect_errno "--check finds a damaged counter" "counter key" "$CHARMFS" --check "$STORE"
finish
