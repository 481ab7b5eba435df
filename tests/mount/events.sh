#!/bin/bash
# The event log (SPEC §4.3, §4.1 events): one JSON object per line, oldest
# first, at the root and per URL; tail -f follows new events.
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
E=$MNT/events
check "events is a regular file" test -f "$E"
expect_eq "a new store has no events" "0" "$(stat -c %s "$E")"
expect_eq "and reads empty" "" "$(cat "$E")"

make_charm wordpress "$T/wp.charm"
copy_charm wordpress "$T/wp2"
echo more >>"$T/wp2/README.md"
make_charm wordpress "$T/wp2.charm" "$T/wp2"
make_charm mysql "$T/mysql.charm"
head -c 1000 /dev/urandom >"$T/bad.charm"

check "publish wordpress" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
check "publish mysql" cp "$T/mysql.charm" "$MNT/publish/trusty/mysql.charm"
cp "$T/bad.charm" "$MNT/publish/trusty/wordpress.charm" 2>/dev/null
check "publish wordpress again" cp "$T/wp2.charm" "$MNT/publish/~bob/trusty/wordpress.charm"
cp "$T/wp.charm" "$MNT/publish/incoming/wp.charm"
expect_eq "multi-URL publish" "ok 1" "$(exec 3<>"$MNT/publish/ctl" && echo "publish rev-x cs:trusty/wordpress cs:~bob/trusty/wordpress < incoming/wp.charm" >&3 && cat <&3)"

expect_eq "five lines" "5" "$(wc -l <"$E")"
expect_eq "st_size equals the bytes read" "$(wc -c <"$E")" "$(stat -c %s "$E")"
check "ends with a newline" test "$(tail -c1 "$E" | od -An -c | tr -d ' ')" = '\n'
check "one JSON object per line, in order, with the SPEC members" python3 - "$E" "$(date -u +%s)" <<'PY'
import calendar, json, re, sys, time
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "no final newline"
evs = [json.loads(l) for l in lines[:-1]]
for e in evs:
    assert isinstance(e, dict), e
    for k in ("kind", "urls", "digest", "errors", "warnings", "time"):
        assert k in e, "member %r missing in %s" % (k, e)
    assert isinstance(e["urls"], list) and all(isinstance(u, str) for u in e["urls"]), e
    assert isinstance(e["errors"], list) and isinstance(e["warnings"], list), e
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", e["time"])
    assert m, e
    if m.group(3) == "Z":
        t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
        assert abs(t - int(sys.argv[2])) < 600, "time is not now: %s" % e
kinds = [e["kind"] for e in evs]
assert kinds == ["published", "published", "publish-error", "published", "published"], kinds
assert [e["urls"] for e in evs] == [["cs:trusty/wordpress"], ["cs:trusty/mysql"], ["cs:trusty/wordpress"],
    ["cs:~bob/trusty/wordpress"], ["cs:trusty/wordpress", "cs:~bob/trusty/wordpress"]], evs
assert [evs[i]["revision"] for i in (0, 1, 3, 4)] == [0, 0, 0, 1], evs
assert evs[4]["digest"] == "rev-x", evs
assert evs[2]["errors"], evs
assert [e["time"] for e in evs] == sorted(e["time"] for e in evs), "not oldest first"
PY
expect_eq "event digest equals the revision's" "$(cat "$MNT/charms/trusty/mysql/0/digest")" "$(sed -n 2p "$E" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')"

check "the events file's mtime is its last event's time" python3 - "$E" <<'PY'
import calendar, json, os, sys, time
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])["time"]
t = calendar.timegm(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S"))
m = int(os.stat(sys.argv[1]).st_mtime)
assert m == t, "mtime %d, last event %s (%d)" % (m, last, t)
PY

# Per-URL events: the same lines, for that URL only.
expect_eq "trusty/wordpress events" "$(sed -n '1p;3p;5p' "$E")" "$(cat "$MNT/charms/trusty/wordpress/events")"
expect_eq "trusty/mysql events" "$(sed -n 2p "$E")" "$(cat "$MNT/charms/trusty/mysql/events")"
expect_eq "~bob/trusty/wordpress events" "$(sed -n '4p;5p' "$E")" "$(cat "$MNT/charms/~bob/trusty/wordpress/events")"
UE=$MNT/charms/trusty/wordpress/events
expect_eq "per-URL st_size equals the bytes read" "$(wc -c <"$UE")" "$(stat -c %s "$UE")"

# tail -f shows a new publish as it happens.
tail -n0 -f "$E" >"$T/tail.out" 2>/dev/null &
TAILPID=$!
tail -n0 -f "$UE" >"$T/tailurl.out" 2>/dev/null &
TAILPID2=$!
# tail_ready PID FILE: tail PID has FILE open at its end (bounded wait), so
# that a line appended afterwards must be shown.
tail_ready() {
	local i fd size
	size=$(stat -c %s "$2")
	for i in $(seq 1 100); do
		for fd in /proc/"$1"/fd/*; do
			if [ "$(readlink "$fd")" = "$2" ] &&
				grep -qx "pos:[[:space:]]*$size" /proc/"$1"/fdinfo/"${fd##*/}"; then
				return 0
			fi
		done
		sleep 0.05
	done
	return 1
}
check "tail -f of events is ready" tail_ready "$TAILPID" "$E"
check "tail -f of the URL's events is ready" tail_ready "$TAILPID2" "$UE"
copy_charm wordpress "$T/wp3"
echo third >>"$T/wp3/README.md"
make_charm wordpress "$T/wp3.charm" "$T/wp3"
check "publish while tail -f runs" cp "$T/wp3.charm" "$MNT/publish/trusty/wordpress.charm"
check "tail -f shows the new publish" wait_for_grep "$T/tail.out" '"revision":2' 150
check "tail -f of the URL's events shows it" wait_for_grep "$T/tailurl.out" '"revision":2' 150
cp "$T/bad.charm" "$MNT/publish/trusty/mysql.charm" 2>/dev/null
check "tail -f shows a publish-error" wait_for_grep "$T/tail.out" '"publish-error"' 150
kill "$TAILPID" "$TAILPID2"
wait "$TAILPID" "$TAILPID2" 2>/dev/null
expect_eq "tail saw exactly the two new lines" "$(tail -n2 "$E")" "$(cat "$T/tail.out")"
expect_eq "the URL's tail saw exactly its line" "$(tail -n1 "$UE")" "$(cat "$T/tailurl.out")"

# The events survive a remount, unchanged.
cp "$E" "$T/events.before"
# Let the clock pass the last event's second (bounded), so that a remount
# time could not be mistaken for the event time.
last=$(date -u -d "$(tail -n1 "$E" | python3 -c 'import json,sys; print(json.load(sys.stdin)["time"])')" +%s)
for i in $(seq 1 30); do [ "$(date +%s)" -gt "$last" ] && break; sleep 0.1; done
stop_daemon
start_daemon
check "events unchanged after remount" cmp -s "$T/events.before" "$E"
expect_eq "after a remount, events' mtime is still its last event's time" "$last" "$(stat -c %Y "$E")"
expect_eq "and the URL's latest keeps its publish time" "$(date -u -d "$(python3 -c "import json; print(json.load(open('$UE'.rsplit('/',1)[0] + '/latest/info'))['published'])")" +%s)" "$(stat -c %Y "${UE%/events}/latest")"
check "daemon still running" daemon_alive
finish
