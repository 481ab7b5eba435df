#!/bin/bash
# Crash safety (SPEC §2 durability, §4.2, §4.4, §4.5, §6): kill -9 of the
# daemon at CRASH_ITERATIONS (50) random moments of a publish/count/lock
# workload. After each crash, charmfs --check is clean and every operation
# whose system call had returned success is present; an operation in flight
# at the kill may or may not be, but is whole either way.
#
# The moments are drawn from $RANDOM seeded with CRASH_SEED (printed, so a
# run can be repeated; the timing of the workload still varies).
. "$SRCDIR/tests/mount/lib.sh"

ITER=${CRASH_ITERATIONS:-50}
SEED=${CRASH_SEED:-$(( $(date +%s) % 32768 ))}
echo "crash.sh: $ITER iterations, CRASH_SEED=$SEED"
RANDOM=$SEED

J=$T/journal          # the workload's journal: "try OP ARG" before, "ok OP ARG" after success
C=$T/charms           # the prebuilt archives, c0000.charm ...
mkdir -p "$C"
NCHARMS=$((ITER * 30))

# Distinct small charms (logrotate renamed), one per publish attempt; each
# carries a nonce in README.md so its content is recognisable.
t0=$(date +%s)
pyzip "$C/c0000.charm" <<PY
for i in range($NCHARMS):
    if i:
        new(os.path.join("$C", "c%04d.charm" % i))
    name = "c%04d" % i
    sample("logrotate", edit={
        "metadata.yaml": meta("logrotate").replace("name: logrotate", "name: " + name),
        "README.md": "charm %s nonce %d\n" % (name, i * 7919),
    })
PY

# workload FIRST-CHARM: publishes, counts and takes/releases locks until a
# call fails (the daemon was killed), journaling every attempt and every
# success. Locks get fresh names; rmdir picks one the journal says is held.
workload() {
	local n=$1 op held=() k
	RANDOM=$2
	while :; do
		op=$((RANDOM % 10))
		if [ $op -lt 3 ] && [ "$n" -lt "$NCHARMS" ]; then
			k=$(printf 'c%04d' "$n")
			n=$((n + 1))
			echo "try pub $k" >>"$J"
			cp "$C/$k.charm" "$MNT/publish/trusty/$k.charm" 2>>"$T/wl.err" || break
			echo "ok pub $k" >>"$J"
		elif [ $op -lt 8 ]; then
			echo "try inc" >>"$J"
			{ echo >"$MNT/counters/crash/k/counter.inc"; } 2>>"$T/wl.err" || break
			echo "ok inc" >>"$J"
		elif [ $op -lt 9 ] || [ ${#held[@]} -eq 0 ]; then
			k=l$RANDOM$RANDOM
			echo "try lock $k" >>"$J"
			mkdir "$MNT/locks/trusty/$k" 2>>"$T/wl.err" || break
			echo "ok lock $k" >>"$J"
			held+=("$k")
		else
			k=${held[$((RANDOM % ${#held[@]}))]}
			held=($(printf '%s\n' "${held[@]}" | grep -vx -- "$k"))
			echo "try unlock $k" >>"$J"
			rmdir "$MNT/locks/trusty/$k" 2>>"$T/wl.err" || break
			echo "ok unlock $k" >>"$J"
		fi
	done
}

# verify STATE-FILE JOURNAL: checks the mounted store against the journal
# lines of one run and the state carried over from earlier runs (counter
# bounds, locks held or unknown), prints problems, updates the state.
verify() {
	python3 - "$MNT" "$C" "$1" "$2" <<'PY'
import json, os, sys, zipfile, hashlib
mnt, cdir, statef, journal = sys.argv[1:]
st = json.load(open(statef)) if os.path.exists(statef) else {"lo": 0, "hi": 0, "locks": {}}
probs = []
tries, oks = [], set()
for line in open(journal):
    w = line.split()
    if w[0] == "try":
        tries.append(tuple(w[1:]))
    else:
        oks.add(len(tries) - 1)  # ok always follows its own try
        assert tuple(w[1:]) == tries[-1], line

def content(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()
                if not i.is_dir() and i.filename.lstrip("./") != "revision"}

def check_charm(k, must):
    d = os.path.join(mnt, "charms/trusty", k)
    if not os.path.exists(os.path.join(d, "0")):
        if must:
            probs.append("published %s (cp returned 0) is missing" % k)
        elif os.path.exists(d) and os.listdir(d):
            probs.append("in-flight %s left a partial URL: %s" % (k, os.listdir(d)))
        return
    a = os.path.join(d, "0/archive.charm")
    data = open(a, "rb").read()
    sha = open(os.path.join(d, "0/sha256")).read().strip()
    if hashlib.sha256(data).hexdigest() != sha:
        probs.append("%s: archive.charm does not match its sha256" % k)
    if content(a) != content(os.path.join(cdir, k + ".charm")):
        probs.append("%s: stored content differs from the published archive" % k)
    readme = open(os.path.join(d, "0/files/README.md")).read()
    if ("charm %s " % k) not in readme:
        probs.append("%s: files/README.md is not its own: %r" % (k, readme))
    if os.readlink(os.path.join(d, "latest")) != "0":
        probs.append("%s: latest is not 0" % k)

pubs = {t[1] for t in tries if t[0] == "pub"}
for i, t in enumerate(tries):
    ok = i in oks
    if t[0] == "pub":
        check_charm(t[1], ok)
    elif t[0] == "inc":
        st["hi"] += 1
        if ok:
            st["lo"] += 1
    elif t[0] == "lock":
        st["locks"][t[1]] = "held" if ok else "unknown"
    elif t[0] == "unlock":
        st["locks"][t[1]] = "free" if ok else "unknown"

v = int(open(os.path.join(mnt, "counters/crash/k/counter.value")).read())
if not st["lo"] <= v <= st["hi"]:
    probs.append("counter %d outside [%d successful, %d attempted] increments" % (v, st["lo"], st["hi"]))
st["lo"] = st["hi"] = v

present = set(os.listdir(os.path.join(mnt, "locks/trusty")))
for k, s in list(st["locks"].items()):
    there = k in present
    if s == "held" and not there:
        probs.append("lock %s (mkdir returned 0) is gone" % k)
    if s == "free" and there:
        probs.append("lock %s (rmdir returned 0) is back" % k)
    if there:
        for f in ("id", "holder", "since", "expires"):
            if not open(os.path.join(mnt, "locks/trusty", k, f)).read().strip():
                probs.append("lock %s: empty %s" % (k, f))
    st["locks"][k] = "held" if there else "free"
for k in present - set(st["locks"]):
    if k in pubs:
        # SPEC §4.2: a crash before the publish returned leaves no trace but
        # the failed attempt; its update lock must not outlive the daemon.
        h = open(os.path.join(mnt, "locks/trusty", k, "holder")).read().strip()
        probs.append("publish of %s in flight at the kill left its update lock held (holder: %s)" % (k, h))
        st["locks"][k] = "held"  # reported once
    else:
        probs.append("lock %s was never taken" % k)

json.dump(st, open(statef, "w"))
print("\n".join(probs))
PY
}

start_daemon -o lock_timeout=86400
mkdir -p "$MNT/counters/crash/k" "$MNT/locks/trusty"
stop_daemon

echo "crash.sh: $NCHARMS archives built in $(($(date +%s) - t0)) s"
t0=$(date +%s)
next=0
ops=0
for it in $(seq 1 "$ITER"); do
	: >"$J"
	: >"$T/wl.err"
	start_daemon -o lock_timeout=86400
	workload "$next" "$((SEED + it))" &
	WL=$!
	# The deliberate random moment: 20 ms .. 1 s after the workload started.
	sleep "$(printf '0.%03d' $((20 + RANDOM % 980)))"
	if ! kill -0 "$WL" 2>/dev/null; then
		fail "iteration $it: the workload stopped before the kill: $(cat "$T/wl.err")"
	fi
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	# The dead mount stays until the workload has seen it fail, so that no
	# call lands in the bare mount point directory.
	if ! timeout 30 tail --pid="$WL" -f /dev/null; then
		fail "iteration $it: the workload hangs on the dead mount"
		kill "$WL"
	fi
	wait "$WL"
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	if grep -Ev "Transport endpoint is not connected|Software caused connection abort" "$T/wl.err" | grep -q .; then
		fail "iteration $it: a call failed other than by the crash: $(cat "$T/wl.err")"
	fi
	ops=$((ops + $(grep -c '^ok' "$J")))
	next=$(($(grep -c '^try pub' "$J") + next))

	if ! "$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1; then
		fail "iteration $it: --check after kill -9: $(cat "$T/check.out")"
		cp -a "$STORE" "$T/../charmfs-crash-store.$SEED.$it" 2>/dev/null
	else
		pass
	fi
	start_daemon -o lock_timeout=86400
	probs=$(verify "$T/state.json" "$J")
	if [ -n "$probs" ]; then
		fail "iteration $it (CRASH_SEED=$SEED): $probs"
		echo "end of the journal of iteration $it:" >&2
		tail -n 4 "$J" >&2
	else
		pass
	fi
	# A publish in flight at the kill can be repeated: it either stored
	# (EEXIST, up to date) or left nothing (publishes now), never EBUSY.
	k=$(grep '^try pub' "$J" | tail -n1 | cut -d' ' -f3)
	if [ -n "$k" ] && ! grep -qx "ok pub $k" "$J"; then
		if out=$(cp "$C/$k.charm" "$MNT/publish/trusty/$k.charm" 2>&1) || [ -z "${out##*File exists*}" ]; then
			pass
		else
			fail "iteration $it: repeating the publish of $k in flight at the kill: $out"
		fi
	fi
	stop_daemon
done
echo "crash.sh: $ops operations returned success over $ITER crashes, $next publishes attempted, $(($(date +%s) - t0)) s"

# Everything ever published is still there and whole.
start_daemon -o lock_timeout=86400
n=$(ls "$MNT/charms/trusty" | grep -c '^c[0-9]')
check "some publishes completed" test "$n" -gt 0
bad=$(python3 - "$MNT/charms/trusty" <<'PY'
import glob, hashlib, os, sys
for d in sorted(glob.glob(os.path.join(sys.argv[1], "c*/0"))):
    data = open(os.path.join(d, "archive.charm"), "rb").read()
    if hashlib.sha256(data).hexdigest() != open(os.path.join(d, "sha256")).read().strip():
        print(d)
PY
)
expect_eq "every stored archive matches its sha256" "" "$bad"
check "the counter has counted" test "$(cat "$MNT/counters/crash/k/counter.value")" -gt 0
make_charm wordpress "$T/wp.charm"
check "a normal publish after all crashes" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
check "daemon still running" daemon_alive
finish
