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

# ---- one line is at most 16 KiB: long lists are cut, saying how many ----------
# evcheck FILE: every line is a JSON object of at most 16384 bytes with its newline.
evcheck() {
	python3 - "$1" <<'PY'
import json, sys
data = open(sys.argv[1], "rb").read()
assert data.endswith(b"\n"), "no final newline"
for l in data.split(b"\n")[:-1]:
    assert len(l) + 1 <= 16384, "line of %d bytes" % (len(l) + 1)
    assert isinstance(json.loads(l.decode("ascii")), dict), l[:200]
PY
}
# lastev KEY|PYTHON-EXPR: the last event of FILE ($E by default) as e, evaluated.
lastev() {
	python3 -c 'import json, sys; e = json.loads(open(sys.argv[1], "rb").read().splitlines()[-1]); print(eval(sys.argv[2]))' "${2:-$E}" "$1"
}
# cut_ok E KEY TOTAL: e[KEY] lists some entries, then "… and N more", N + shown = TOTAL.
cut_ok() {
	python3 - "$E" "$1" "$2" <<'PY'
import json, re, sys
e = json.loads(open(sys.argv[1], "rb").read().splitlines()[-1])
lst, total = e[sys.argv[2]], int(sys.argv[3])
m = re.fullmatch("\u2026 and (\\d+) more", lst[-1])
assert m, lst[-1]
assert len(lst) > 10, "only %d entries kept" % len(lst)
assert len(lst) - 1 + int(m.group(1)) == total, (len(lst) - 1, m.group(1), total)
assert all(len(json.dumps(x)) <= 1024 for x in lst), "a string over 1024 bytes"
PY
}
pyzip "$T/many-errors.charm" <<'PY'
add("metadata.yaml", meta("wordpress"))
for i in range(3000):
    add("../escape-%04d" % i, "x")
PY
check "an archive with 3000 bad entries is refused" test "$(errno_of "import shutil; shutil.copyfile('$T/many-errors.charm', '$MNT/publish/trusty/wordpress.charm')")" = EINVAL
check "events stay valid and short" evcheck "$E"
expect_eq "the refusal is a publish-error" "publish-error" "$(lastev 'e["kind"]')"
check "its 3000 errors are cut, saying how many were left out" cut_ok errors 3000
check "the URL's events too" evcheck "$UE"
pyzip "$T/long-error.charm" <<'PY'
add("metadata.yaml", meta("wordpress"))
add("../" + "\u00e9" * 2000, "x")
PY
check "an archive with a 4003-byte bad name is refused" test "$(errno_of "import shutil; shutil.copyfile('$T/long-error.charm', '$MNT/publish/trusty/wordpress.charm')")" = EINVAL
check "the event stays short" evcheck "$E"
check "its long error is cut, ending in …" python3 -c '
import json, sys
e = json.loads(open(sys.argv[1], "rb").read().splitlines()[-1])
assert e["errors"] and all(len(json.dumps(x)) <= 1024 for x in e["errors"]), e
assert any(x.endswith("\u2026") and "\u00e9" * 100 in x for x in e["errors"]), e' "$E"
# A charm that publishes, with 4000 warnings (relation hooks made executable).
pyzip "$T/many-warnings.charm" <<'PY'
rels = ["r%04d" % i for i in range(1000)]
add("metadata.yaml", "name: wordpress\nsummary: s\ndescription: d\nprovides:\n" +
    "".join("  %s: http\n" % r for r in rels))
for r in rels:
    for h in ("joined", "changed", "departed", "broken"):
        add("hooks/%s-relation-%s" % (r, h), "#!/bin/sh\n", mode=0o644)
PY
check "a charm with 4000 hooks to make executable publishes" cp "$T/many-warnings.charm" "$MNT/publish/trusty/wordpress.charm"
check "events stay valid and short" evcheck "$E"
expect_eq "it is published" "published" "$(lastev 'e["kind"]')"
check "its 4000 warnings are cut, saying how many were left out" cut_ok warnings 4000

# ---- a digest that is not UTF-8 is refused; events stay valid ------------
# (Other text that is not UTF-8, such as entry names, is replaced by U+FFFD:
# test_store's test_event_cut.)
cp "$T/wp.charm" "$MNT/publish/incoming/wp.charm"
expect_eq "a digest with bytes that are not UTF-8 is refused" "error digest is not valid UTF-8" \
	"$(exec 3<>"$MNT/publish/ctl" && { printf 'publish d\xff\xfe-x cs:trusty/wordpress < incoming/wp.charm\n' >&3 2>/dev/null; cat <&3; })"
expect_eq "a UTF-8 digest publishes" "ok 4" "$(exec 3<>"$MNT/publish/ctl" && printf 'publish d\xc3\xa9-x cs:trusty/wordpress < incoming/wp.charm\n' >&3 && cat <&3)"
check "events stay valid" evcheck "$E"
expect_eq "the event has the digest" "d\\xe9-x" "$(lastev 'e["digest"].encode("unicode_escape").decode()')"
expect_eq "the revision's digest keeps its bytes" "$(printf 'd\xc3\xa9-x')" "$(cat "$MNT/charms/trusty/wordpress/4/digest")"

# ---- rmdir records a deleted event with the caller's uid ------------------
n=$(wc -l <"$E")
tail -n0 -f "$E" >"$T/tail-del.out" 2>/dev/null &
TAILPID=$!
tail -n0 -f "$UE" >"$T/tailurl-del.out" 2>/dev/null &
TAILPID2=$!
check "tail -f of events is ready" tail_ready "$TAILPID" "$E"
check "tail -f of the URL's events is ready" tail_ready "$TAILPID2" "$UE"
check "rmdir of a revision" rmdir "$MNT/charms/trusty/wordpress/1"
check "tail -f shows the deletion" wait_for_grep "$T/tail-del.out" '"deleted"' 150
check "tail -f of the URL's events shows it" wait_for_grep "$T/tailurl-del.out" '"deleted"' 150
kill "$TAILPID" "$TAILPID2"
wait "$TAILPID" "$TAILPID2" 2>/dev/null
expect_eq "one more event" "$((n + 1))" "$(wc -l <"$E")"
expect_eq "events st_size follows" "$(wc -c <"$E")" "$(stat -c %s "$E")"
check "the deleted event" python3 - "$E" "$(id -u)" "$(date -u +%s)" <<'PY'
import calendar, json, sys, time
e = json.loads(open(sys.argv[1], "rb").read().splitlines()[-1])
assert list(e) == ["kind", "urls", "revisions", "uid", "time"], e
assert e["kind"] == "deleted" and e["urls"] == ["cs:trusty/wordpress"], e
assert e["revisions"] == [1] and e["uid"] == int(sys.argv[2]), e
t = calendar.timegm(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ"))
assert abs(t - int(sys.argv[3])) < 600, e
PY
expect_eq "the URL's events show it" "$(tail -n1 "$E")" "$(tail -n1 "$UE")"
check "rmdir of a whole URL" rmdir "$MNT/charms/~bob/trusty/wordpress"
expect_eq "its event lists every revision" '["deleted", ["cs:~bob/trusty/wordpress"], [0, 1], 0]' \
	"$(lastev 'json.dumps([e["kind"], e["urls"], e["revisions"], e["uid"]])')"
check "events stay valid" evcheck "$E"

# ---- publish events carry the publisher's uid ------------------------------
expect_eq "root's publish event names uid 0" "0" "$(lastev 'e["uid"]' "$MNT/charms/trusty/mysql/events")"
# A member of the -o group= group publishes through close, rename and
# publish/ctl (tests/mount/access.sh creates the users; so does this).
GRP=charmfs-t
U3=charmfs-u3
PORT=$(free_port)
ROOT_TESTS=
[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && command -v useradd >/dev/null && ROOT_TESTS=1
if [ -z "$ROOT_TESTS" ]; then
	stop_daemon
	start_daemon -o "http=127.0.0.1:$PORT"
fi
if [ -n "$ROOT_TESTS" ]; then
	for _ in $(seq 1 100); do
		id -nG "$U3" 2>/dev/null | tr ' ' '\n' | grep -qx "$GRP" && break
		getent group "$GRP" >/dev/null || groupadd "$GRP" 2>/dev/null
		id "$U3" >/dev/null 2>&1 || useradd -M -N -s /bin/sh -G "$GRP" "$U3" 2>/dev/null
		usermod -aG "$GRP" "$U3" 2>/dev/null || sleep 0.1
	done
	as3() { setpriv --reuid="$U3" --regid="$(id -g "$U3")" --init-groups -- "$@"; }
	UID3=$(id -u "$U3")
	chmod 0755 "$T"
	stop_daemon
	start_daemon -o "allow_other,default_permissions,group=$GRP,http=127.0.0.1:$PORT"
	make_charm haproxy "$T/haproxy.charm"
	chmod 0644 "$T"/*.charm
	check "$U3 publishes at close" as3 cp "$T/haproxy.charm" "$MNT/publish/trusty/haproxy.charm"
	expect_eq "the event names $U3" "published $UID3" "$(lastev 'e["kind"] + " " + str(e["uid"])')"
	check "$U3 publishes at a rename" as3 sh -c 'cp "$1" "$2/.tmp" && mv "$2/.tmp" "$2/wordpress.charm"' - "$T/wp2.charm" "$MNT/publish/precise"
	expect_eq "that event names $U3" "published $UID3 cs:precise/wordpress" "$(lastev 'e["kind"] + " " + str(e["uid"]) + " " + e["urls"][0]')"
	chmod 0644 "$T/bad.charm"
	check "$U3's bad archive is refused" test "$(as3 /usr/bin/python3 -c "
import shutil
try:
    shutil.copyfile('$T/bad.charm', '$MNT/publish/precise/haproxy.charm')
except OSError as e:
    print(e.errno)")" = "$(python3 -c 'import errno; print(errno.EINVAL)')"
	expect_eq "its publish-error names $U3" "publish-error $UID3" "$(lastev 'e["kind"] + " " + str(e["uid"])')"
	check "$U3 writes publish/incoming" as3 cp "$T/mysql.charm" "$MNT/publish/incoming/u3.charm"
	expect_eq "$U3 publishes through publish/ctl" "ok 0" "$(as3 bash -c 'exec 3<>"$1" && echo "publish ctl-digest cs:precise/mysql < incoming/u3.charm" >&3 && cat <&3' - "$MNT/publish/ctl")"
	expect_eq "that event names $U3" "published $UID3 ctl-digest" "$(lastev 'e["kind"] + " " + str(e["uid"]) + " " + e["digest"]')"
	check "events stay valid" evcheck "$E"
fi
# The HTTP API's charm-event reports the last publish event, not a deletion.
for i in $(seq 1 400); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/charm-event" && break
	sleep 0.025
done
expect_eq "the last event of trusty/wordpress is a deletion" "deleted" "$(lastev 'e["kind"]' "$UE")"
expect_eq "charm-event shows its last publish" "published 4" "$(curl -s "http://127.0.0.1:$PORT/charm-event?charms=cs:trusty/wordpress" | python3 -c 'import json, sys; e = json.load(sys.stdin)["cs:trusty/wordpress"]; print(e["kind"], e["revision"])')"
check "daemon still running" daemon_alive
finish
