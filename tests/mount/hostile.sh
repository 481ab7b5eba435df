#!/bin/bash
# Hostile input through the mount (SPEC §4, §5, §6), beyond validate.sh and
# errors.sh: oversized and NUL-carrying request lines, hostile names in
# publish/ and counters/, absurdly deep counter keys, a 10,000-entry zip,
# zip entry names with NUL or invalid UTF-8, YAML that attacks the parser.
# Each is refused with the right errno, the daemon stays up (a normal
# operation works afterwards) and charms/ is unchanged.
. "$SRCDIR/tests/mount/lib.sh"

# eno WHAT ERRNO PYTHON-CODE
eno() {
	expect_eq "$1" "$2" "$(errno_of "$3")"
}

# eno_in WHAT "ERRNO ERRNO..." PYTHON-CODE: the errno is one of a set.
eno_in() {
	local got
	got=$(errno_of "$3")
	case " $2 " in
	*" $got "*) pass ;;
	*) fail "$1: expected one of [$2], got [$got]" ;;
	esac
}

# still_fine WHAT: the daemon is up, serves a normal request, and charms/
# is as it was before the hostile input ($BEFORE).
still_fine() {
	check "$1: daemon alive" daemon_alive
	check "$1: a normal read works" test -d "$MNT/charms/trusty/wordpress/$(readlink "$MNT/charms/trusty/wordpress/latest")"
	expect_eq "$1: charms/ unchanged" "$BEFORE" "$(store_state)"
}

# refuse WHAT ARCHIVE ERRNO [TARGET]: the publish's close() fails with ERRNO
# and stores nothing.
refuse() {
	local target=${4:-trusty/wordpress.charm}
	BEFORE=$(store_state)
	eno "$1" "$3" "
fd = os.open('$MNT/publish/$target', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
try:
    os.write(fd, open('$2', 'rb').read())
finally:
    os.close(fd)"
	still_fine "$1"
}

A=$T/a
mkdir -p "$A"
make_charm wordpress "$T/wp.charm"

# The hostile archives. Names with NUL or invalid UTF-8 cannot be written by
# zipfile directly: a placeholder of the same length is patched in the bytes
# (local header and central directory alike).
pyzip "$A/placeholder-nul.charm" <<'PY'
A = os.path.dirname(sys.argv[1])
sample("wordpress", edit={"lib/NULNAME": "x\n"})
new(os.path.join(A, "placeholder-utf8.charm"))
sample("wordpress", edit={"lib/\u00e9\u00e9.txt": "x\n"})   # UTF-8 flag set
new(os.path.join(A, "placeholder-hook.charm"))
sample("wordpress", edit={"hooks/NULNAMEX": "#!/bin/sh\n"})
new(os.path.join(A, "entries.charm"))
sample("haproxy")
for i in range(10000):
    add("lib/f%05d" % i, "")
new(os.path.join(A, "cfgaliases.charm"))
sample("wordpress", edit={"config.yaml": config("wordpress") + "lol:\n  l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n" +
    "".join("  l%d: &l%d [%s]\n" % (i, i, ", ".join(["*l%d" % (i - 1)] * 10)) for i in range(1, 12))})
new(os.path.join(A, "merges.charm"))
sample("wordpress", edit={"metadata.yaml": meta("wordpress") + "m0: &m0 {a: 1}\n" +
    "".join("m%d: &m%d {<<: [%s]}\n" % (i, i, ", ".join(["*m%d" % (i - 1)] * 10)) for i in range(1, 12))})
new(os.path.join(A, "deepflow.charm"))
sample("wordpress", edit={"metadata.yaml": meta("wordpress") + "deep: " + "[" * 100000 + "]" * 100000 + "\n"})
new(os.path.join(A, "deepmap.charm"))
sample("wordpress", edit={"metadata.yaml": meta("wordpress") + "deep: " + "{a: " * 50000 + "1" + "}" * 50000 + "\n"})
new(os.path.join(A, "deepblock.charm"))
sample("wordpress", edit={"metadata.yaml": meta("wordpress") + "".join(" " * i + "k%d:\n" % i for i in range(1000)) + " " * 1000 + "v\n"})
new(os.path.join(A, "badutf8yaml.charm"))
sample("wordpress", edit={"metadata.yaml": meta("wordpress").encode() + b"summary2: \xff\xfe\xc0\x80\n"})
new(os.path.join(A, "nulyaml.charm"))
sample("wordpress", edit={"metadata.yaml": meta("wordpress").replace("name: wordpress", "name: wordpress\x00evil")})
PY
python3 - "$A" <<'PY'
import sys, os
A = sys.argv[1]
def patch(src, dst, old, new):
    data = open(os.path.join(A, src), "rb").read()
    assert len(old) == len(new) and data.count(old) == 2, (src, data.count(old))
    open(os.path.join(A, dst), "wb").write(data.replace(old, new))
patch("placeholder-nul.charm", "nulname.charm", b"lib/NULNAME", b"lib/NUL\x00AME")
patch("placeholder-nul.charm", "nulname2.charm", b"lib/NULNAME", b"lib/\x00ULNAME")
patch("placeholder-hook.charm", "nulhook.charm", b"hooks/NULNAMEX", b"hooks/install\x00")
patch("placeholder-utf8.charm", "badutf8.charm", "lib/\u00e9\u00e9".encode(), b"lib/\xff\xfe\xc0\x80")
patch("placeholder-utf8.charm", "overlong.charm", "lib/\u00e9\u00e9".encode(), b"lib/\xc0\xae\xc0\xae")
PY

start_daemon -o max_entries=100
check "publish the charm to protect" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
BEFORE=$(store_state)

# --- request lines over 8 KiB, NUL bytes --------------------------------------------
for f in publish/ctl locks/ctl counters/counter.query; do
	eno "$f: a 16 KiB request line (read-write)" EINVAL "
fd = os.open('$MNT/$f', os.O_RDWR)
os.write(fd, b'lock cs:trusty/' + b'a' * 16384 + b'\n')"
	eno "$f: a 1 MiB request line (write-only)" EINVAL "
fd = os.open('$MNT/$f', os.O_WRONLY)
os.write(fd, b'x' * (1 << 20) + b'\n')"
	eno "$f: a request line without a newline, 9000 bytes" EINVAL "
fd = os.open('$MNT/$f', os.O_WRONLY)
os.write(fd, b'y' * 9000)
os.close(fd)"
	still_fine "$f: long lines"
done
eno "publish/ctl: NUL inside a URL" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/wordpress\x00evil < incoming/x\n')"
eno "publish/ctl: NUL in the file name" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/wordpress < incoming/x\x00/../../etc/passwd\n')"
cp "$T/wp.charm" "$MNT/publish/incoming/x"
latest=$(readlink "$MNT/charms/trusty/wordpress/latest" 2>/dev/null)
eno "publish/ctl: the same URL twice" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/wordpress cs:trusty/wordpress < incoming/x\n')"
eno "publish/ctl: a malformed lock id" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/wordpress < incoming/x lock=../../etc\n')"
eno "publish/ctl: a lock id in capitals" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d cs:trusty/wordpress < incoming/x lock=0123456789ABCDEF0123456789ABCDEF\n')"
eno "publish/ctl: a digest that is not UTF-8" EINVAL "
fd = os.open('$MNT/publish/ctl', os.O_WRONLY)
os.write(fd, b'publish d\xc3\x28 cs:trusty/wordpress < incoming/x\n')"
expect_eq "none of them published" "$latest" "$(readlink "$MNT/charms/trusty/wordpress/latest" 2>/dev/null)"
rm -f "$MNT/publish/incoming/x"
eno "locks/ctl: NUL inside a URL" EINVAL "
fd = os.open('$MNT/locks/ctl', os.O_RDWR)
os.write(fd, b'lock cs:trusty/a\x00b\n')"
eno "locks/ctl: NUL before the newline" EINVAL "
fd = os.open('$MNT/locks/ctl', os.O_RDWR)
os.write(fd, b'lock cs:trusty/nulcheck\x00\n')"
check "locks/ctl: no lock taken by the NUL requests" test ! -e "$MNT/locks/trusty/a" -a ! -e "$MNT/locks/trusty/nulcheck"
eno "locks/ctl: invalid UTF-8 in a URL" EINVAL "
fd = os.open('$MNT/locks/ctl', os.O_RDWR)
os.write(fd, b'lock cs:trusty/\xff\xfe\n')"
eno "locks/ctl: unlock with a NUL-carrying id" EINVAL "
fd = os.open('$MNT/locks/ctl', os.O_RDWR)
os.write(fd, b'unlock ' + b'0' * 16 + b'\x00' + b'0' * 15 + b'\n')"
eno "counter.query: NUL between words" EINVAL "
fd = os.open('$MNT/counters/counter.query', os.O_RDWR)
os.write(fd, b'exact\x00list\n')"
still_fine "NUL bytes"

# --- counter.query garbage --------------------------------------------------------------
mkdir -p "$MNT/counters/h/k"
echo 2 >"$MNT/counters/h/k/counter.inc"
for q in 'format=xml' 'by=year' 'start=2020-13-45' 'stop=notadate' 'start=2020-02-30' \
	'start=99999999-01-01' 'start=' '=' 'list=1' 'exact exact=1' 'by=' 'format=' \
	'start=2020-01-01T00:00:00' 'prefix format=json%00' '\xff'; do
	eno "counter.query garbage [$q]" EINVAL "
fd = os.open('$MNT/counters/h/counter.query', os.O_RDWR)
os.write(fd, b'''$q''' + b'\n')"
done
eno "counter.query binary garbage" EINVAL "
fd = os.open('$MNT/counters/h/counter.query', os.O_RDWR)
os.write(fd, bytes(range(1, 256)).replace(b'\n', b'') + b'\n')"
expect_eq "counter.query still answers" "2" "$(exec 3<>"$MNT/counters/h/counter.query" && echo "prefix" >&3 && cat <&3)"
eno "counter.inc garbage" EINVAL "os.write(os.open('$MNT/counters/h/k/counter.inc', os.O_WRONLY), b'1\x002\n')"
eno "counter.inc overflow" EOVERFLOW "os.write(os.open('$MNT/counters/h/k/counter.inc', os.O_WRONLY), b'99999999999999999999999999\n')"
eno "counter.inc huge write" EOVERFLOW "os.write(os.open('$MNT/counters/h/k/counter.inc', os.O_WRONLY), b'1' * (1 << 20))"
eno "counter.inc of 2^32 + 1" EOVERFLOW "os.write(os.open('$MNT/counters/h/k/counter.inc', os.O_WRONLY), b'4294967297\n')"
eno "counter.inc of INT64_MAX" EOVERFLOW "os.write(os.open('$MNT/counters/h/k/counter.inc', os.O_WRONLY), b'9223372036854775807')"
expect_eq "counter unchanged by the garbage" 2 "$(cat "$MNT/counters/h/k/counter.value")"
check "counter.inc of 2^32 (the most one write adds)" sh -c "echo 4294967296 >'$MNT/counters/h/k/counter.inc'"
check "counter.inc with leading zeros" sh -c "echo 0000000000000000000000000003 >'$MNT/counters/h/k/counter.inc'"
expect_eq "counter counts the largest write" 4294967301 "$(cat "$MNT/counters/h/k/counter.value")"
# A counter.inc opened before its key's rmdir must not bring the key back.
mkdir "$MNT/counters/h/gone"
eno "counter.inc after its key's rmdir" ENOENT "
fd = os.open('$MNT/counters/h/gone/counter.inc', os.O_WRONLY)
os.rmdir('$MNT/counters/h/gone')
os.write(fd, b'1\n')"
check "the removed key stays removed" test ! -e "$MNT/counters/h/gone"
still_fine "counter.query garbage"

# --- hostile counter tokens -------------------------------------------------------------
for t in 'a\nb' 'a\tb' '\x01' 'x\x7f' '\r' 'a\x1bb' '\x1b[31mred'; do
	eno "counter token with control characters [$t]" EINVAL "os.mkdir(b'$MNT/counters/h/' + b'$t')"
done
eno "counter token too long (300 bytes)" EINVAL "os.mkdir('$MNT/counters/h/' + 'a' * 300)"
eno_in "counter token of invalid UTF-8" "EINVAL OK" "os.mkdir(b'$MNT/counters/h/\xff\xfe')"
python3 - "$MNT/counters/h" >"$T/keys" <<'PY'
import os, sys
for n in os.listdir(sys.argv[1]):
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in n):
        print(repr(n))
PY
expect_eq "no key with a control character exists" "" "$(cat "$T/keys")"

# 200-level deep counter keys: refused past the depth limit, no crash, the
# levels that were made count.
deep=$MNT/counters/deep
p=$deep
for i in $(seq 1 200); do p=$p/k; done
out=$(mkdir -p "$p" 2>&1)
rc=$?
case $rc:$out in
0:) pass ;;
*"Invalid argument"* | *"File name too long"*) pass ;;
*) fail "mkdir -p of a 200-level key: $out" ;;
esac
check "200-level mkdir: daemon alive" daemon_alive
d=$deep
while [ -d "$d/k" ]; do d=$d/k; done
levels=$(($(echo "${d#$deep}" | tr -cd / | wc -c) + 1))
echo "hostile.sh: counter keys went $levels levels deep"
check "the deepest key counts" sh -c "echo 7 > '$d/counter.inc'"
expect_eq "the deepest key's value" 7 "$(cat "$d/counter.value")"
expect_eq "deep/ total includes it" 7 "$(cat "$deep/counter.total")"
check "deep/ counter.list reads" cat "$deep/counter.list" >/dev/null
check "deep/ by-day reads" cat "$deep/counter.by-day" >/dev/null
eno_in "mkdir one level deeper than the deepest" "EINVAL ENAMETOOLONG" "os.mkdir('$d/k')"
still_fine "deep counter keys"

# --- hostile names in publish/ -----------------------------------------------------------
P=$MNT/publish/trusty
eno "create a *.charm of invalid UTF-8" EINVAL "
fd = os.open(b'$P/\xff\xfe.charm', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open('$T/wp.charm', 'rb').read())
os.close(fd)"
eno "create a *.charm with control characters" EINVAL "
fd = os.open(b'$P/word\npress.charm', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open('$T/wp.charm', 'rb').read())
os.close(fd)"
# Temporary names: any name is accepted (SPEC §4.2) -- but a name the store
# directory cannot hold may fail with ENAMETOOLONG; never anything else.
eno "a temporary name of invalid UTF-8" OK "
fd = os.open(b'$P/.\xff\xfe.tmp', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'junk')
os.close(fd)
assert os.stat(b'$P/.\xff\xfe.tmp').st_size == 4
assert b'.\xff\xfe.tmp' in os.listdir(b'$P')
os.unlink(b'$P/.\xff\xfe.tmp')"
for n in 255 256 1000 1024; do
	eno_in "a $n-byte temporary name" "OK ENAMETOOLONG" "
fd = os.open('$P/' + 'x' * $n, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'junk')
os.close(fd)
os.unlink('$P/' + 'x' * $n)"
	eno_in "a $n-byte *.charm name" "EINVAL ENAMETOOLONG" "
fd = os.open('$P/' + 'x' * ($n - 6) + '.charm', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open('$T/wp.charm', 'rb').read())
os.close(fd)"
done
eno_in "a 1000-byte name in charms/" "ENOENT ENAMETOOLONG" "os.stat('$MNT/charms/trusty/' + 'a' * 1000)"
eno_in "a 1000-byte name in locks/" "EINVAL ENAMETOOLONG" "os.mkdir('$MNT/locks/trusty/' + 'a' * 1000)"
eno_in "a 1000-byte series in publish/" "EINVAL ENAMETOOLONG" "os.mkdir('$MNT/publish/' + 'a' * 1000)"
eno "rename of a temporary name onto an invalid-UTF-8 *.charm" EINVAL "
fd = os.open('$P/tmp.part', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open('$T/wp.charm', 'rb').read())
os.close(fd)
os.rename('$P/tmp.part', b'$P/\xc3\x28.charm')"
rm -f "$P/tmp.part"
check "publish/trusty lists" ls "$P" >/dev/null
still_fine "hostile names"

# --- hostile archives -------------------------------------------------------------------
refuse "a 10,000-entry zip with max_entries=100" "$A/entries.charm" EFBIG trusty/haproxy.charm
refuse "an entry name with a NUL" "$A/nulname.charm" EINVAL
refuse "an entry name starting with NUL" "$A/nulname2.charm" EINVAL
refuse "a hook name ending in NUL" "$A/nulhook.charm" EINVAL
refuse "an entry name of invalid UTF-8 (UTF-8 flag set)" "$A/badutf8.charm" EINVAL
refuse "an entry name with overlong UTF-8 dots" "$A/overlong.charm" EINVAL
refuse "alias bomb in config.yaml" "$A/cfgaliases.charm" EINVAL
refuse "merge-key bomb in metadata.yaml" "$A/merges.charm" EINVAL
refuse "100,000 nested flow sequences" "$A/deepflow.charm" EINVAL
refuse "50,000 nested flow mappings" "$A/deepmap.charm" EINVAL
refuse "1,000 nested block mappings" "$A/deepblock.charm" EINVAL
refuse "invalid UTF-8 in metadata.yaml" "$A/badutf8yaml.charm" EINVAL
refuse "a NUL in metadata.yaml" "$A/nulyaml.charm" EINVAL

# The daemon still publishes normally.
copy_charm wordpress "$T/wp2"
echo more >>"$T/wp2/README.md"
make_charm wordpress "$T/wp2.charm" "$T/wp2"
check "a normal publish after all that" cp "$T/wp2.charm" "$MNT/publish/trusty/wordpress.charm"
check "it is the latest" cmp -s "$T/wp2/README.md" "$MNT/charms/trusty/wordpress/latest/files/README.md"
stop_daemon
"$CHARMFS" --check "$STORE" >"$T/check.out" 2>&1
check "--check clean: $(head -n 3 "$T/check.out")" test $? -eq 0
finish
