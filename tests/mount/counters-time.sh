#!/bin/bash
# counters/ over time (SPEC §4.4, reference "Counters"): day buckets labelled
# with the UTC day start, week buckets labelled with the following Sunday
# (weeks counted from Sunday 2012-01-01), start/stop filters (stop
# inclusive: through the end of its day) and the text, csv and json formats
# of counter.query, with counts made at controlled dates.
#
# The daemon takes the time of an increment from time(2). Each session runs
# it under libfaketime (LD_PRELOAD, FAKETIME="@YYYY-MM-DD hh:mm:ss": the
# clock starts at that UTC instant and advances normally, so timed waits in
# the daemon and SQLite behave). The library is preloaded directly rather
# than through faketime(1), which forks and would leave DAEMON_PID pointing
# at itself instead of the daemon. Sanitizer builds need
# verify_asan_link_order=0, since the preload comes before the ASan runtime.
# Session instants stay at least 30 s away from the next midnight; the
# store persists across the restarts. Skipped (77) without libfaketime.
. "$SRCDIR/tests/mount/lib.sh"

LIBFAKETIME=${LIBFAKETIME:-}
if [ -z "$LIBFAKETIME" ]; then
	for f in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 \
		/usr/local/lib/faketime/libfaketimeMT.so.1; do
		[ -e "$f" ] && LIBFAKETIME=$f && break
	done
fi
if [ -z "$LIBFAKETIME" ]; then
	echo "SKIP: libfaketime not found (apt-get install faketime)" >&2
	exit 77
fi

# at_date CMD...: runs the daemon at $FAKE_AT (UTC), in place (exec).
FAKE_AT=
at_date() {
	TZ=UTC LD_PRELOAD=$LIBFAKETIME FAKETIME="@$FAKE_AT" \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 exec "$@"
}
DAEMON_WRAPPER=at_date
C=$MNT/counters

# session "YYYY-MM-DD hh:mm:ss" KEY N [KEY N...]: restarts the daemon at
# that instant and adds N to each KEY through counter.inc.
session() {
	stop_daemon
	FAKE_AT=$1
	shift
	start_daemon
	while [ $# -gt 0 ]; do
		mkdir -p "$C/$1" && printf '%s\n' "$2" >"$C/$1/counter.inc" ||
			fail "count $1 $2 at $FAKE_AT"
		shift 2
	done
}

# query DIR REQUEST: the reply of a counter.query transaction, then "|"
# (so that trailing newlines are compared too).
query() {
	exec 3<>"$1/counter.query"
	printf '%s\n' "$2" >&3
	cat <&3
	exec 3>&-
	printf '|'
}

# file PATH: the content of a file, then "|".
file() {
	cat "$1"
	printf '|'
}

# Sanity: the preload works and the daemon sees the fake date.
session "2012-01-01 00:00:30" a/b 1
expect_eq "faketime reaches the daemon: a:b by-day" "2012-01-01  1
|" "$(file "$C/a/b/counter.by-day")"
expect_eq "first week of 2012 is labelled 2012-01-08" "2012-01-08  1
|" "$(file "$C/a/b/counter.by-week")"

session "2012-05-01 10:00:00" a/b 2 a/c 3 a/c/d 4   # Tuesday
session "2012-05-03 23:00:00" a/b 5 a/c/d 6         # Thursday, late
session "2012-05-04 00:30:00" a/c 7 a 11            # Friday, just after
session "2012-05-05 23:59:00" a/c/e 20              # Saturday: last day of the week
session "2012-05-06 00:00:30" a/b 8                 # Sunday: a new week
session "2012-12-31 12:00:00" a/c/d 10              # Monday; its week ends in 2013
session "2013-03-10 12:00:00" x/y 9                 # Sunday

# Per key and day:         a:b  a:c  a:c:d  a:c:e  a   x:y
#   2012-01-01 (w 01-08)    1
#   2012-05-01 (w 05-06)    2    3    4
#   2012-05-03 (w 05-06)    5         6
#   2012-05-04 (w 05-06)         7                11
#   2012-05-05 (w 05-06)                     20
#   2012-05-06 (w 05-13)    8
#   2012-12-31 (w 2013-01-06)             10
#   2013-03-10 (w 2013-03-17)                          9

# The counts survived the restarts.
expect_eq "a value" 11 "$(cat "$C/a/counter.value")"
expect_eq "a total" 66 "$(cat "$C/a/counter.total")"
expect_eq "root total" 86 "$(cat "$C/counter.total")"
expect_eq "a list" "a:c:*  40
a:b    16
a:c    10
|" "$(file "$C/a/counter.list")"

# counter.by-day / by-week: the key itself and every key under it.
expect_eq "a by-day" "2012-01-01  1
2012-05-01  9
2012-05-03  11
2012-05-04  18
2012-05-05  20
2012-05-06  8
2012-12-31  10
|" "$(file "$C/a/counter.by-day")"
expect_eq "a by-week (reference: 05-01 and 05-03 fall in the week of 2012-05-06)" "2012-01-08  1
2012-05-06  58
2012-05-13  8
2013-01-06  10
|" "$(file "$C/a/counter.by-week")"
expect_eq "root by-day" "2012-01-01  1
2012-05-01  9
2012-05-03  11
2012-05-04  18
2012-05-05  20
2012-05-06  8
2012-12-31  10
2013-03-10  9
|" "$(file "$C/counter.by-day")"
expect_eq "root by-week" "2012-01-08  1
2012-05-06  58
2012-05-13  8
2013-01-06  10
2013-03-17  9
|" "$(file "$C/counter.by-week")"
expect_eq "a:b by-week" "2012-01-08  1
2012-05-06  7
2012-05-13  8
|" "$(file "$C/a/b/counter.by-week")"
expect_eq "a:c by-day (a:c, a:c:d, a:c:e)" "2012-05-01  7
2012-05-03  6
2012-05-04  7
2012-05-05  20
2012-12-31  10
|" "$(file "$C/a/c/counter.by-day")"
expect_eq "x:y by-week (a Sunday starts the next week)" "2013-03-17  9
|" "$(file "$C/x/y/counter.by-week")"
mkdir "$C/a/empty"
expect_eq "by-day of a key without counts: one undated zero" "0
|" "$(file "$C/a/empty/counter.by-day")"
rmdir "$C/a/empty"
check "st_size of by-week is its content size" \
	test "$(stat -c %s "$C/a/counter.by-week")" = "$(cat "$C/a/counter.by-week" | wc -c)"

# start/stop: stop is inclusive (05-03 23:00 counts), start takes its whole day.
expect_eq "prefix by=day 05-01..05-03 text" "2012-05-01  9
2012-05-03  11
|" "$(query "$C/a" "prefix by=day start=2012-05-01 stop=2012-05-03")"
expect_eq "prefix by=day 05-01..05-03 csv" "2012-05-01,9
2012-05-03,11
|" "$(query "$C/a" "prefix by=day start=2012-05-01 stop=2012-05-03 format=csv")"
expect_eq "prefix by=day 05-01..05-03 json" '[["2012-05-01",9],["2012-05-03",11]]|' \
	"$(query "$C/a" "prefix by=day start=2012-05-01 stop=2012-05-03 format=json")"
expect_eq "single day start=stop" "2012-05-03  11
|" "$(query "$C/a" "prefix by=day start=2012-05-03 stop=2012-05-03")"
expect_eq "stop=2012-05-03 sum includes 23:00" "21
|" "$(query "$C/a" "prefix stop=2012-05-03")"
expect_eq "start=2012-05-04 sum" "45
|" "$(query "$C/a" "prefix start=2012-05-04")"
expect_eq "exact a:c 05-02..05-04 (00:30 on the start side)" "7
|" "$(query "$C/a/c" "exact start=2012-05-02 stop=2012-05-04")"
expect_eq "exact filtered, format=text" "7
|" "$(query "$C/a/c" "exact start=2012-05-02 stop=2012-05-04 format=text")"
expect_eq "exact filtered, format=csv" "7
|" "$(query "$C/a/c" "exact start=2012-05-02 stop=2012-05-04 format=csv")"
expect_eq "exact filtered, format=json" "[[7]]|" \
	"$(query "$C/a/c" "exact start=2012-05-02 stop=2012-05-04 format=json")"
expect_eq "exact by=day (the key itself only)" "2012-05-04  11
|" "$(query "$C/a" "exact by=day")"
expect_eq "empty range: one undated zero" "0
|" "$(query "$C/a" "prefix by=day start=2012-06-01 stop=2012-06-30")"
expect_eq "empty range json" "[[0]]|" \
	"$(query "$C/a" "prefix by=day start=2012-06-01 stop=2012-06-30 format=json")"
expect_eq "stop before start" EINVAL \
	"$(errno_of "os.write(os.open('$C/a/counter.query', os.O_RDWR), b'by=day start=2012-05-04 stop=2012-05-03\n')")"

# by=week: prefix leaves a's own 11 out; a filter cuts weeks at day granularity.
expect_eq "prefix by=week" "2012-01-08  1
2012-05-06  47
2012-05-13  8
2013-01-06  10
|" "$(query "$C/a" "prefix by=week")"
expect_eq "prefix by=week 05-01..05-03 text" "2012-05-06  20
|" "$(query "$C/a" "prefix by=week start=2012-05-01 stop=2012-05-03")"
expect_eq "prefix by=week from mid-week (start=2012-05-04)" "2012-05-06  27
2012-05-13  8
2013-01-06  10
|" "$(query "$C/a" "prefix by=week start=2012-05-04")"
expect_eq "prefix by=week csv" "2012-01-08,1
2012-05-06,47
2012-05-13,8
2013-01-06,10
|" "$(query "$C/a" "prefix by=week format=csv")"
expect_eq "prefix by=week json" '[["2012-01-08",1],["2012-05-06",47],["2012-05-13",8],["2013-01-06",10]]|' \
	"$(query "$C/a" "prefix by=week format=json")"

# Lists: earlier time first, then larger count; keys padded to the longest + 2.
expect_eq "prefix list by=day 05-01..05-04 text" "a:c:*  2012-05-01  4
a:c    2012-05-01  3
a:b    2012-05-01  2
a:c:*  2012-05-03  6
a:b    2012-05-03  5
a:c    2012-05-04  7
|" "$(query "$C/a" "prefix list by=day start=2012-05-01 stop=2012-05-04")"
expect_eq "prefix list by=day 05-01..05-04 csv" "a:c:*,2012-05-01,4
a:c,2012-05-01,3
a:b,2012-05-01,2
a:c:*,2012-05-03,6
a:b,2012-05-03,5
a:c,2012-05-04,7
|" "$(query "$C/a" "prefix list by=day start=2012-05-01 stop=2012-05-04 format=csv")"
expect_eq "prefix list by=day 05-01..05-04 json" '[["a:c:*","2012-05-01",4],["a:c","2012-05-01",3],["a:b","2012-05-01",2],["a:c:*","2012-05-03",6],["a:b","2012-05-03",5],["a:c","2012-05-04",7]]|' \
	"$(query "$C/a" "prefix list by=day start=2012-05-01 stop=2012-05-04 format=json")"
expect_eq "prefix list by=week" "a:b    2012-01-08  1
a:c:*  2012-05-06  30
a:c    2012-05-06  10
a:b    2012-05-06  7
a:b    2012-05-13  8
a:c:*  2013-01-06  10
|" "$(query "$C/a" "prefix list by=week")"
expect_eq "prefix list, stop inclusive, no buckets" "a:c:*  10
a:b    8
a:c    3
|" "$(query "$C/a" "prefix list stop=2012-05-03")"
expect_eq "root list by=week from 2012-12-01 (a's own count is before)" "a:*  2013-01-06  10
x:*  2013-03-17  9
|" "$(query "$C" "prefix list by=week start=2012-12-01")"
expect_eq "root list by=week from 2012-12-01 json" '[["a:*","2013-01-06",10],["x:*","2013-03-17",9]]|' \
	"$(query "$C" "prefix list by=week start=2012-12-01 format=json")"
expect_eq "exact list by=day of a:b, stop=2012-05-03" "a:b  2012-01-01  1
a:b  2012-05-01  2
a:b  2012-05-03  5
|" "$(query "$C/a/b" "exact list by=day stop=2012-05-03")"
expect_eq "list of an empty range" "|" "$(query "$C/a" "prefix list by=day start=2014-01-01")"
expect_eq "list of an empty range json" "[]|" "$(query "$C/a" "prefix list by=day start=2014-01-01 format=json")"

finish
