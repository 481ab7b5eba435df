#!/bin/bash
# The charm store HTTP API (-o http=127.0.0.1:PORT, SPEC §4.11), against the
# real daemon: charm-info and charm-event shapes and counters as the
# original, downloads equal to archive.charm, Range / HEAD / If-None-Match
# per RFC 9110, /stats/counter status codes, and 200 concurrent clients for
# 20 s with no error and no thread or memory growth afterwards.
. "$SRCDIR/tests/mount/lib.sh"

# Keep ASan's quarantine small so that memory growth measures the daemon.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"
: "${HTTP_LOAD_SECONDS:=20}"
: "${HTTP_LOAD_CLIENTS:=200}"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
B=http://127.0.0.1:$PORT
start_daemon -o "http=127.0.0.1:$PORT"

for i in $(seq 1 400); do
	curl -s -o /dev/null "$B/charm-info" && break
	sleep 0.025
done
check "server answers" curl -sf -o /dev/null "$B/charm-info"

make_charm wordpress "$T/wp.charm"
make_charm mysql "$T/my.charm"
copy_charm wordpress "$T/wp2"
echo "second revision" >>"$T/wp2/README.md"
make_charm wordpress "$T/wp2.charm" "$T/wp2"
check "publish wordpress precise" cp "$T/wp.charm" "$MNT/publish/precise/wordpress.charm"
check "publish wordpress oneiric" cp "$T/wp.charm" "$MNT/publish/oneiric/wordpress.charm"
check "publish mysql precise" cp "$T/my.charm" "$MNT/publish/precise/mysql.charm"
W=$MNT/charms/precise/wordpress/0
SHA=$(cat "$W/sha256")
DIGEST=$(cat "$W/digest")

count() { curl -s "$B/stats/counter/$1"; }

# ---- charm-info: the acceptance query, exact shapes and counters ----------
info0=$(count charm-info:precise:wordpress)
miss0=$(count charm-missing:oneiric:non-existent)
expect_eq "counter starts at 0" "0" "$info0"
check "charm-info shapes" python3 - "$B" "$SHA" "$DIGEST" <<'PY'
import json, sys, urllib.parse, urllib.request
base, sha, digest = sys.argv[1:4]
urls = ["cs:precise/wordpress", "cs:oneiric/non-existent", "cs:wordpress", "cs:/bad",
        "gopher:archie-server"]
q = urllib.parse.urlencode([("charms", u) for u in urls])
with urllib.request.urlopen(base + "/charm-info?" + q) as r:
    assert r.status == 200 and r.headers["Content-Type"] == "application/json", r.headers
    body = r.read().decode()
ok = {"canonical-url": "cs:precise/wordpress", "revision": 0, "sha256": sha, "digest": digest}
want = {
    "cs:precise/wordpress": ok,
    "cs:oneiric/non-existent": {"revision": 0, "errors": ["entry not found"]},
    "cs:wordpress": ok,
    "cs:/bad": {"revision": 0, "errors": ['charm URL has invalid series: "cs:/bad"']},
    "gopher:archie-server": {"revision": 0,
                             "errors": ['charm URL has invalid schema: "gopher:archie-server"']},
}
got = json.loads(body)
assert got == want, (got, want)
assert list(got) == sorted(got), "keys sorted as Go sorts map keys"
PY
expect_eq "charm-info counted (full + resolved)" "2" "$(count charm-info:precise:wordpress)"
expect_eq "charm-missing counted" "1" "$(count charm-missing:oneiric:non-existent)"
curl -s -o /dev/null "$B/charm-info?charms=cs:precise/wordpress&stats=0"
expect_eq "stats=0 does not count" "2" "$(count charm-info:precise:wordpress)"

# ---- charm-event -------------------------------------------------------------
check "publish revision 1" cp "$T/wp2.charm" "$MNT/publish/precise/wordpress.charm"
DIGEST1=$(cat "$MNT/charms/precise/wordpress/1/digest")
check "charm-event" python3 - "$B" "$DIGEST" "$DIGEST1" <<'PY'
import json, re, sys, urllib.parse, urllib.request
base, d0, d1 = sys.argv[1:4]
def get(params):
    with urllib.request.urlopen(base + "/charm-event?" + urllib.parse.urlencode(params)) as r:
        assert r.status == 200
        return json.loads(r.read())
e = get([("charms", "cs:precise/wordpress")])["cs:precise/wordpress"]
assert e["kind"] == "published" and e["revision"] == 1 and e["digest"] == d1, e
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["time"]), e
e = get([("charms", "cs:precise/wordpress@" + d0)])["cs:precise/wordpress"]
assert e["revision"] == 0 and e["digest"] == d0, e
both = [("charms", "cs:precise/wordpress@" + d1), ("charms", "cs:precise/wordpress@" + d0)]
got = get(both)
assert list(got) == ["cs:precise/wordpress"] and got["cs:precise/wordpress"]["revision"] == 0, got
got = get(both + [("long_keys", "1")])
assert len(got) == 2 and got["cs:precise/wordpress@" + d1]["revision"] == 1, got
got = get([("charms", "cs:precise/nothing"), ("charms", "cs:/bad")])
assert got["cs:precise/nothing"] == {"kind": "", "revision": 0, "errors": ["entry not found"]}, got
assert got["cs:/bad"]["kind"] == "" and got["cs:/bad"]["revision"] == 0, got
PY
expect_eq "charm-event counted" "6" "$(count charm-event:precise:wordpress)"

# ---- downloads ------------------------------------------------------------------
A=$MNT/charms/precise/wordpress/1/archive.charm
cp "$A" "$T/a1"
SIZE=$(stat -c %s "$T/a1")
SHA1=$(sha256sum <"$T/a1" | cut -d' ' -f1)
b0=$(count charm-bundle:precise:wordpress)
expect_eq "download status" "200" "$(curl -s -o "$T/dl" -w '%{http_code}' "$B/charm/precise/wordpress")"
check "download equals archive.charm" cmp "$T/dl" "$T/a1"
check "series resolved" cmp <(curl -s "$B/charm/wordpress") "$T/a1"
expect_eq "unknown charm" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$B/charm/precise/nothing")"
expect_eq "bad URL" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$B/charm/precise/Bad")"
expect_eq "range status" "206" "$(curl -s -r 10-99 -o "$T/part" -w '%{http_code}' "$B/charm/precise/wordpress")"
check "range body" cmp "$T/part" <(dd if="$T/a1" bs=1 skip=10 count=90 2>/dev/null)
expect_eq "range header" "bytes 10-99/$SIZE" \
	"$(curl -s -r 10-99 -D - -o /dev/null "$B/charm/precise/wordpress" | tr -d '\r' | sed -n 's/^Content-Range: //Ip')"
expect_eq "unsatisfiable" "416" "$(curl -s -r "$SIZE-" -o /dev/null -w '%{http_code}' "$B/charm/precise/wordpress")"
HEAD=$(curl -s -I "$B/charm/precise/wordpress" | tr -d '\r')
expect_eq "HEAD status" "HTTP/1.1 200 OK" "$(echo "$HEAD" | head -1)"
expect_eq "HEAD length" "$SIZE" "$(echo "$HEAD" | sed -n 's/^Content-Length: //Ip')"
expect_eq "ETag" "\"$SHA1\"" "$(echo "$HEAD" | sed -n 's/^ETag: //Ip')"
expect_eq "If-None-Match" "304" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"$SHA1\"" "$B/charm/precise/wordpress")"
expect_eq "If-None-Match other" "200" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "x"' "$B/charm/precise/wordpress?stats=0")"
# Two full bodies counted; the range, 416, HEAD and 304 were not.
for i in $(seq 1 100); do [ "$(count charm-bundle:precise:wordpress)" = $((b0 + 2)) ] && break; sleep 0.02; done
expect_eq "downloads counted when sent in full" "$((b0 + 2))" "$(count charm-bundle:precise:wordpress)"

# ---- /stats/counter --------------------------------------------------------------
st() { curl -s -o "$T/st" -w '%{http_code}' "$B/stats/counter/$1"; }
expect_eq "empty key" "403" "$(st '')"
expect_eq "lone star" "403" "$(st '*')"
expect_eq "slash" "404" "$(st 'a/b')"
expect_eq "bad by" "400" "$(st 'charm-info:*?by=month')"
expect_eq "bad by body" "Invalid 'by' value: \"month\"" "$(cat "$T/st")"
expect_eq "bad format" "400" "$(st 'charm-info:*?format=xml')"
expect_eq "prefix sum" "200" "$(st 'charm-info:*')"
expect_eq "prefix sum value" "2" "$(cat "$T/st")"
expect_eq "list" "charm-info:precise:*  2" "$(curl -s "$B/stats/counter/charm-info:*?list=1")"
expect_eq "json" '[["charm-info:precise:*",2]]' "$(curl -s "$B/stats/counter/charm-info:*?list=1&format=json")"

# ---- header deadline: slow clients are closed, others still served -------------
# A connection that sends half a request line, one that sends nothing, and
# one that completed a request and then sends half of the next, and one that
# trickles a header byte every 2 s (never idle for long) are closed by the
# server after its 10 s header deadline (well before the 30 s allowed once
# headers are complete); requests made meanwhile are answered.
check "slow clients are closed by the header deadline" python3 - "$PORT" <<'PY'
import socket, sys, threading, time, urllib.request
port = int(sys.argv[1])
LIMIT = 20  # the deadline is 10 s; the idle timeout after headers is 30 s
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(LIMIT + 10)
    return s
t0 = time.monotonic()
half = conn()
half.sendall(b"GET /charm-info?charms=cs:wor")
silent = conn()
trickle = conn()
def drip():
    try:
        for b in b"GET /charm-info?charms=cs:" + b"w" * 100:
            trickle.send(bytes([b]))
            time.sleep(2)
    except OSError:
        pass
threading.Thread(target=drip, daemon=True).start()
kept = conn()
kept.sendall(b"GET /charm-info HTTP/1.1\r\nHost: x\r\n\r\n")
got = b""
while b"\r\n\r\n" not in got or not got.endswith(b"}"):
    d = kept.recv(4096)
    assert d, "kept-alive connection closed early"
    got += d
assert got.startswith(b"HTTP/1.1 200"), got[:100]
kept.sendall(b"GET /charm-info HT")
for i in range(3):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/charm-info?charms=cs:wordpress") as r:
        assert r.status == 200 and b"sha256" in r.read()
for name, s in (("half line", half), ("nothing", silent), ("half next request", kept),
                ("trickle", trickle)):
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    took = time.monotonic() - t0
    if took > LIMIT:
        sys.exit(f"{name}: still open after {took:.1f} s")
    s.close()
PY

# ---- load: 200 clients, 20 s, no error, no growth ---------------------------------
cat >"$T/load.py" <<'PY'
import hashlib, http.client, json, sys, threading, time

port, pid, clients, seconds, size, sha = sys.argv[1:7]
clients, seconds, size = int(clients), float(seconds), int(size)

def proc():
    st = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status"))
    return int(st["Threads"]), int(st["VmRSS"].split()[0])

errors, done = [], [0]
lock = threading.Lock()

def client(n, until):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    i = 0
    while time.time() < until:
        i += 1
        try:
            if (n + i) % 2:
                c.request("GET", "/charm/precise/wordpress?stats=0")
                r = c.getresponse()
                body = r.read()
                ok = r.status == 200 and len(body) == size and (
                    i % 10 or hashlib.sha256(body).hexdigest() == sha)
            else:
                c.request("GET", "/charm-info?charms=cs:wordpress&charms=cs:precise/mysql&stats=0")
                r = c.getresponse()
                j = json.loads(r.read())
                ok = r.status == 200 and j["cs:wordpress"]["sha256"] == sha
            if not ok:
                raise RuntimeError("bad answer")
            with lock:
                done[0] += 1
        except Exception as e:
            with lock:
                errors.append(repr(e))
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    c.close()

def run(secs):
    until = time.time() + secs
    ts = [threading.Thread(target=client, args=(n, until)) for n in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

run(3)  # warm-up: pools, caches and thread stacks reach their steady size
time.sleep(1)
t0, m0 = proc()
run(seconds)
time.sleep(2)
t1, m1 = proc()
print(f"requests={done[0]} errors={len(errors)} threads {t0}->{t1} rss {m0}->{m1} KiB")
if errors:
    print("first errors:", errors[:5])
sys.exit(1 if errors or t1 > t0 or m1 - m0 > 32 * 1024 else 0)
PY
check "200 clients for ${HTTP_LOAD_SECONDS}s" python3 "$T/load.py" "$PORT" "$DAEMON_PID" \
	"$HTTP_LOAD_CLIENTS" "$HTTP_LOAD_SECONDS" "$SIZE" "$SHA1"
check "server still answers" curl -sf -o /dev/null "$B/charm-info"
finish
