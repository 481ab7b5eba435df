#!/bin/bash
# Concurrency (SPEC §2, §4.1, §4.2, §4.4, §4.5, §6): several processes
# publish, read, count, lock and delete at once for STRESS_SECONDS (20); then
# the store must be consistent: charmfs --check clean, SQLite integrity_check
# ok, every stored archive matching its SHA-256 after a remount, the revisions
# present exactly those published minus those deleted, every counter equal to
# the increments made (and download counters to the archive opens), no
# unexpected error in any worker, and no sanitizer report.
. "$SRCDIR/tests/mount/lib.sh"

SECS=${STRESS_SECONDS:-20}
NPUB=400
W=$T/work
mkdir -p "$W"

# Distinct archives: spa-N and spb-N for each publisher's own URL,
# shared-a-N and shared-b-N for the URL both publish to.
pyzip "$W/x.charm" <<PY
for p in "ab":
    for i in range($NPUB):
        for name, tag in (("sp" + p, "own"), ("shared", "shared")):
            new(os.path.join("$W", "%s-%s-%d.charm" % (name, p, i)))
            sample("logrotate", edit={
                "metadata.yaml": meta("logrotate").replace("name: logrotate", "name: " + name),
                "README.md": "%s %s %d\n" % (tag, p, i),
            })
PY

# slow WORKER WHAT START: records a call that took more than 30 s. A small
# publish, rmdir or increment takes well under a second here even with
# sanitizers; one that hangs means a request waited on another one (SPEC §2:
# a long wait never starves other requests). The bound is a hang detector,
# not a speed target: on a loaded 2-CPU machine a call took over 4 s once,
# which had made an earlier bound of 4 s fail CI for nothing.
slow() {
	local us=$((${EPOCHREALTIME/./} - ${3/./}))
	[ $us -lt 30000000 ] || echo "$2 took $((us / 1000)) ms" >>"$W/slow.$1"
}

# publisher P: publishes its own archives to trusty/spP (each must succeed)
# and, every third one, to trusty/shared (EBUSY while the other publisher
# holds that URL's lock is fine).
publisher() {
	local p=$1 i=0 out end=$((SECONDS + SECS)) s0
	while [ $SECONDS -lt $end ] && [ $i -lt $NPUB ]; do
		s0=$EPOCHREALTIME
		if ! out=$(cp "$W/sp$p-$p-$i.charm" "$MNT/publish/trusty/sp$p.charm" 2>&1); then
			echo "publish sp$p-$i: $out"
		fi
		slow pub-$p "publish of sp$p-$i" "$s0"
		s0=$EPOCHREALTIME
		if [ $((i % 3)) = 0 ] && ! out=$(cp "$W/shared-$p-$i.charm" "$MNT/publish/trusty/shared.charm" 2>&1); then
			# Both publishers write the same scratch file, as two cp's into one file
			# on any filesystem: EBUSY (the other holds the URL's lock), EINVAL (the
			# bytes at close were a mix of both archives), EEXIST at close (the bytes
			# were the other's archive, which it had just published: redundant), or
			# cp's O_EXCL create losing the race ("cannot create ... File exists").
			case $out in *"Device or resource busy"* | *"Invalid argument"* | \
				*"failed to close"*"File exists"* | *"cannot create"*"File exists"*) ;;
			*) echo "publish shared-$p-$i: $out" ;; esac
		fi
		slow pub-$p "publish of shared-$p-$i" "$s0"
		i=$((i + 1))
	done
	echo "$i" >"$W/published.$p"
}

# deleter: rmdir of random revisions of the publishers' URLs; logs each
# successful deletion as "URL N".
deleter() {
	local end=$((SECONDS + SECS)) u revs r out rc s0
	while [ $SECONDS -lt $end ]; do
		for u in spa spb shared; do
			revs=($(ls "$MNT/charms/trusty/$u" 2>/dev/null | grep -E '^[0-9]+$'))
			[ ${#revs[@]} -gt 2 ] || continue
			r=${revs[$((RANDOM % ${#revs[@]}))]}
			s0=$EPOCHREALTIME
			out=$(rmdir "$MNT/charms/trusty/$u/$r" 2>&1)
			rc=$?
			slow del "rmdir of $u/$r" "$s0"
			if [ $rc = 0 ]; then
				echo "$u $r" >>"$W/deleted"
			else
				case $out in
				*"No such file or directory"* | *"Device or resource busy"*) ;;
				*) echo "rmdir $u/$r: $out" ;;
				esac
			fi
		done
	done
}

# reader: opens random revisions' archive.charm (each open counts one
# download), re-verifies the SHA-256, reads the listings and events.
reader() {
	python3 - "$MNT" "$SECS" "$W/opens.json" <<'PY'
import hashlib, json, os, random, sys, time, errno
mnt, secs, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
end = time.time() + secs
opens = {}
def gone(e):
    return e.errno == errno.ENOENT
while time.time() < end:
    u = random.choice(["spa", "spb", "shared"])
    d = os.path.join(mnt, "charms/trusty", u)
    try:
        revs = [r for r in os.listdir(d) if r.isdigit()]
    except OSError as e:
        if not gone(e):
            print("listdir %s: %s" % (u, e))
        continue
    if not revs:
        continue
    r = random.choice(revs)
    try:
        f = open(os.path.join(d, r, "archive.charm"), "rb")
    except OSError as e:
        if not gone(e):
            print("open %s/%s/archive.charm: %s" % (u, r, e))
        continue
    opens[u] = opens.get(u, 0) + 1
    try:
        with f:
            data = f.read()
        sha = open(os.path.join(d, r, "sha256")).read().strip()
        readme = open(os.path.join(d, r, "files/README.md")).read()
        info = json.load(open(os.path.join(d, r, "info")))
    except OSError as e:
        if not gone(e):
            print("read %s/%s: %s" % (u, r, e))
        continue
    if hashlib.sha256(data).hexdigest() != sha:
        print("%s/%s: archive.charm does not match sha256" % (u, r))
    if info.get("sha256") != sha or info.get("revision") != int(r):
        print("%s/%s: info disagrees: %s" % (u, r, info))
    if u != "shared" and not readme.startswith("own %s " % u[2]):
        print("%s/%s: README from another charm: %r" % (u, r, readme))
    for line in open(os.path.join(mnt, "events")).read().splitlines()[-5:]:
        json.loads(line)
json.dump(opens, open(out, "w"))
PY
}

# counter N: increments stress/a, stress/b and stress/shared by random
# amounts, queries, and makes and removes empty keys of its own; records
# the sum of its successful increments per key.
counter() {
	python3 - "$MNT" "$SECS" "$W/counts.$1" "$1" <<'PY'
import json, os, random, sys, time
mnt, secs, out, me = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
end = time.time() + secs
C = os.path.join(mnt, "counters/stress")
made = {}
fds = {k: os.open(os.path.join(C, k, "counter.inc"), os.O_WRONLY) for k in ("a", "b", "shared")}
n = 0
while time.time() < end:
    k = random.choice(list(fds))
    amount = random.randint(1, 5)
    try:
        if amount == 1:
            os.write(fds[k], b"\n")
        else:
            os.write(fds[k], b"%d\n" % amount)
        made[k] = made.get(k, 0) + amount
    except OSError as e:
        print("inc %s: %s" % (k, e))
    n += 1
    if n % 50 == 0:
        try:
            fd = os.open(os.path.join(C, "counter.query"), os.O_RDWR)
            os.write(fd, b"prefix list format=json\n")
            json.loads(os.read(fd, 65536))
            os.close(fd)
            t = os.path.join(C, "tmp%s-%d" % (me, n))
            os.mkdir(t)
            os.rmdir(t)
        except (OSError, ValueError) as e:
            print("query/mkdir/rmdir: %s" % e)
json.dump(made, open(out, "w"))
PY
}

# locker: takes and releases its own locks with mkdir/rmdir and locks/ctl.
locker() {
	python3 - "$MNT" "$SECS" <<'PY'
import errno, os, sys, time
mnt, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
L = os.path.join(mnt, "locks")
n = 0
while time.time() < end:
    n += 1
    p = os.path.join(L, "trusty/lk%d" % (n % 7))
    try:
        os.mkdir(p)
        try:
            os.mkdir(p)
            print("second mkdir of a held lock succeeded")
        except OSError as e:
            if e.errno != errno.EEXIST:
                print("second mkdir: %s" % e)
        if len(open(os.path.join(p, "id")).read().strip()) != 32:
            print("bad lock id")
        os.rmdir(p)
        fd = os.open(os.path.join(L, "ctl"), os.O_RDWR)
        os.write(fd, b"lock cs:trusty/lkx cs:precise/lky\n")
        r = os.read(fd, 4096).decode().strip()
        os.close(fd)
        if not r.startswith("ok "):
            print("ctl lock: %s" % r)
            continue
        fd = os.open(os.path.join(L, "ctl"), os.O_RDWR)
        os.write(fd, ("unlock %s\n" % r[3:]).encode())
        r = os.read(fd, 4096).decode().strip()
        os.close(fd)
        if r != "ok":
            print("ctl unlock: %s" % r)
    except OSError as e:
        print("lock %s: %s" % (p, e))
for i in range(7):
    if os.path.exists(os.path.join(L, "trusty/lk%d" % i)):
        print("lock lk%d left held" % i)
PY
}

start_daemon
mkdir -p "$MNT/counters/stress/a" "$MNT/counters/stress/b" "$MNT/counters/stress/shared"
t0=$(date +%s)
pids=
publisher a >"$W/err.pub-a" 2>&1 & pids="$pids $!"
publisher b >"$W/err.pub-b" 2>&1 & pids="$pids $!"
deleter >"$W/err.del" 2>&1 & pids="$pids $!"
reader >"$W/err.read" 2>&1 & pids="$pids $!"
counter 1 >"$W/err.count1" 2>&1 & pids="$pids $!"
counter 2 >"$W/err.count2" 2>&1 & pids="$pids $!"
locker >"$W/err.lock" 2>&1 & pids="$pids $!"
wait $pids
echo "stress.sh: workers ran $(($(date +%s) - t0)) s (STRESS_SECONDS=$SECS); published $(cat "$W/published.a") + $(cat "$W/published.b"), deleted $(wc -l <"$W/deleted" 2>/dev/null || echo 0)"
for f in "$W"/err.*; do
	expect_eq "no unexpected error in ${f##*/err.}" "" "$(head -n 5 "$f")"
done
check "daemon alive after the stress" daemon_alive
for f in pub-a pub-b del; do
	expect_eq "no call of $f took over 30 s ($(wc -l <"$W/slow.$f" 2>/dev/null || echo 0) did)" "" "$(head -n 3 "$W/slow.$f" 2>/dev/null)"
done

# Counters: exactly the increments made.
for k in a b shared; do
	made=$(python3 -c '
import json, sys
print(sum(json.load(open(f)).get(sys.argv[1], 0) for f in sys.argv[2:]))' "$k" "$W"/counts.*)
	expect_eq "counter stress/$k equals the increments made" "$made" "$(cat "$MNT/counters/stress/$k/counter.value")"
done
# Downloads: one per successful open of archive.charm (publishing does not count).
for u in spa spb shared; do
	opened=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' "$W/opens.json" "$u")
	got=$(cat "$MNT/counters/charm-bundle/trusty/$u/counter.value" 2>/dev/null || echo 0)
	expect_eq "downloads of trusty/$u equal the opens" "$opened" "$got"
done

# The revisions present are exactly those published minus those deleted.
python3 - "$MNT" "$W/deleted" >"$W/revcheck" <<'PY'
import json, os, sys
mnt, deleted = sys.argv[1], sys.argv[2]
pub = {}
for line in open(os.path.join(mnt, "events")):
    d = json.loads(line)
    if d["kind"] == "published":
        for u in d["urls"]:
            pub.setdefault(u, set()).add(d["revision"])
dele = {}
if os.path.exists(deleted):
    for line in open(deleted):
        u, r = line.split()
        dele.setdefault("cs:trusty/" + u, set()).add(int(r))
for name in ("spa", "spb", "shared"):
    u = "cs:trusty/" + name
    d = os.path.join(mnt, "charms/trusty", name)
    have = {int(r) for r in os.listdir(d) if r.isdigit()} if os.path.isdir(d) else set()
    want = pub.get(u, set()) - dele.get(u, set())
    if dele.get(u, set()) - pub.get(u, set()):
        print("%s: deleted revisions never published: %s" % (u, sorted(dele[u] - pub.get(u, set()))))
    if have != want:
        print("%s: missing %s, unexpected %s" % (u, sorted(want - have), sorted(have - want)))
    if have and os.readlink(os.path.join(d, "latest")) != str(max(have)):
        print("%s: latest is not the highest revision" % u)
PY
expect_eq "revisions = published - deleted" "" "$(cat "$W/revcheck")"

values=$(cat "$MNT"/counters/stress/*/counter.value | xargs)
state=$(store_state)
stop_daemon
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1
check "--check clean after the stress: $(head -n 5 "$T/check.out")" test $? -eq 0
expect_eq "sqlite integrity_check" ok "$(sqlite3 "$STORE/charmfs.db" 'PRAGMA integrity_check')"

start_daemon
expect_eq "store the same after a remount" "$state" "$(store_state)"
expect_eq "counters the same after a remount" "$values" "$(cat "$MNT"/counters/stress/*/counter.value | xargs)"
bad=$(
	cd "$MNT/charms" || exit
	n=0
	for d in */*/[0-9]*; do
		n=$((n + 1))
		[ "$(sha256sum <"$d/archive.charm" | cut -d' ' -f1)" = "$(cat "$d/sha256")" ] || echo "$d"
	done
	[ $n -gt 0 ] || echo "no revisions at all"
)
expect_eq "every stored archive matches its sha256 after a remount" "" "$bad"
check "daemon still running" daemon_alive
finish
