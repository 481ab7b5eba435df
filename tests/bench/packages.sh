#!/bin/bash
# Package benchmark (issue 13): deploying PK_N packages of a small charm with
# no-op hooks (install, config-changed, start) end to end through the mount
# (mkdir, write version, then one settle), against the same number of hook
# processes forked directly (the floor: 3 x PK_N `sh -c true`); and the
# round trip of one `config-get` from inside a hook (CG_N calls, minus the
# cost of exec'ing a trivial binary as many times). Prints numbers, asserts
# nothing on time; not part of `make check`.
#
#   tests/bench/packages.sh
#
# Environment: CHARMFS (a non-sanitizer build's charmfs, with its
# hooks/charmfs-hook-tool beside it; default /tmp/b-opt/charmfs), PK_N (100),
# CG_N (500). Build: mkdir -p /tmp/b-opt && cd /tmp/b-opt &&
#   /work/main/configure CFLAGS='-O2 -g' && make -j2 charmfs hooks/charmfs-hook-tool
set -euo pipefail

CHARMFS=${CHARMFS:-/tmp/b-opt/charmfs}
PK_N=${PK_N:-100}
CG_N=${CG_N:-500}
[ -x "$CHARMFS" ] || { echo "packages.sh: no $CHARMFS (see the header)" >&2; exit 1; }

T=$(mktemp -d /tmp/charmfs-pkgbench.XXXXXX)
MNT=$T/mnt
mkdir -p "$MNT" "$T/charm/hooks"
PID=
cleanup() {
	[ -n "$PID" ] && { fusermount3 -u "$MNT" 2>/dev/null; wait "$PID" 2>/dev/null; }
	rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }

cat >"$T/charm/metadata.yaml" <<'YAML'
name: noop
summary: hooks that do nothing
description: For the package benchmark.
YAML
cat >"$T/charm/config.yaml" <<'YAML'
options:
  n:
    type: int
    default: 0
    description: how many config-get calls config-changed makes
YAML
cat >"$T/charm/hooks/install" <<'HOOK'
#!/bin/sh
exit 0
HOOK
cp "$T/charm/hooks/install" "$T/charm/hooks/start"
cat >"$T/charm/hooks/config-changed" <<'HOOK'
#!/bin/sh
n=$(config-get n)
[ "$n" -gt 0 ] || exit 0
a=$(date +%s%N)
i=0
while [ $i -lt "$n" ]; do config-get n >/dev/null; i=$((i + 1)); done
b=$(date +%s%N)
i=0
while [ $i -lt "$n" ]; do /bin/true; i=$((i + 1)); done
c=$(date +%s%N)
echo "$a $b $c" >"$CHARMFS_STATE_DIR/timing"
# The socket round trip alone: the tool's request, without exec'ing the tool.
cat >"$CHARMFS_STATE_DIR/rtt.py" <<'PY'
import json, os, socket, struct, sys, time
n = int(sys.argv[1])
addr = os.environ["JUJU_AGENT_SOCKET_ADDRESS"]
addr = "\0" + addr[1:] if addr.startswith("@") else addr
req = json.dumps({"context": os.environ["JUJU_CONTEXT_ID"], "command": sys.argv[2],
                  "args": sys.argv[3:], "cwd": "/"}).encode()
msg = struct.pack(">I", len(req)) + req
t = []
for _ in range(n):
    a = time.perf_counter()
    s = socket.socket(socket.AF_UNIX)
    s.connect(addr)
    s.sendall(msg)
    hdr = s.recv(4, socket.MSG_WAITALL)
    body = s.recv(struct.unpack(">I", hdr)[0], socket.MSG_WAITALL)
    s.close()
    t.append(time.perf_counter() - a)
    assert json.loads(body)["code"] == 0, body
t.sort()
print("%.3f %.3f" % (t[len(t) // 2] * 1000, t[len(t) * 99 // 100] * 1000))
PY
python3 "$CHARMFS_STATE_DIR/rtt.py" "$n" config-get n >"$CHARMFS_STATE_DIR/rtt"
python3 "$CHARMFS_STATE_DIR/rtt.py" "$n" is-leader >"$CHARMFS_STATE_DIR/rtt-leader"
HOOK
chmod 0755 "$T/charm/hooks"/*
(cd "$T/charm" && zip -qry ../noop.charm .)

"$CHARMFS" -f "$T/store" "$MNT" 2>"$T/log" &
PID=$!
for _ in $(seq 400); do [ -e "$MNT/changes/ctl" ] && break; sleep 0.025; done
cp "$T/noop.charm" "$MNT/publish/trusty/noop.charm"
settle() {
	python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR); os.write(fd, b"settle 600\n")
r = os.read(fd, 100).decode().strip()
sys.exit(r != "ok")' "$MNT/changes/ctl"
}
settle

# The floor: as many hook processes, forked directly.
a=$(now)
for _ in $(seq $((3 * PK_N))); do sh -c true; done
b=$(now)
floor=$(ms "$a" "$b")

a=$(now)
for i in $(seq "$PK_N"); do
	mkdir "$MNT/packages/p$i"
	echo cs:trusty/noop-0 >"$MNT/packages/p$i/version"
done
w=$(now)
settle
b=$(now)
total=$(ms "$a" "$b")
writes=$(ms "$a" "$w")
bad=$(cat "$MNT"/packages/*/change/status | grep -vc '^Done$' || true)
echo "deploy $PK_N packages (3 no-op hooks each) + settle: $total ms" \
	"($(echo "scale=1; $PK_N * 1000 / $total" | bc) packages/s; the writes $writes ms," \
	"hooks and engine $(echo "$total - $writes" | bc) ms); $((3 * PK_N)) sh -c true forked" \
	"directly: $floor ms; ratio $(echo "scale=2; $total / $floor" | bc)x; packages not ok: $bad"

echo "{\"n\": $CG_N}" >"$MNT/packages/p1/settings"
settle
read -r a b c <"$T/store/packages/p1/state/timing"
echo "config-get: $CG_N calls $(ms "$a" "$b") ms, $CG_N execs of /bin/true $(ms "$b" "$c") ms:" \
	"round trip $(echo "scale=3; ($b - $a) / $CG_N / 1000000" | bc) ms per call," \
	"$(echo "scale=3; (($b - $a) - ($c - $b)) / $CG_N / 1000000" | bc) ms beyond an exec"
read -r med p99 <"$T/store/packages/p1/state/rtt"
read -r lmed lp99 <"$T/store/packages/p1/state/rtt-leader"
echo "config-get's socket round trip (request to reply, no exec): median $med ms, p99 $p99 ms;" \
	"is-leader's (no store call): median $lmed ms, p99 $lp99 ms"
