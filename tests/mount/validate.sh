#!/bin/bash
# Validation (SPEC §4.2): one archive per rule that breaks it. Each makes cp
# fail with the rule's errno, records one publish-error event naming the
# problem, and changes nothing under charms/.
. "$SRCDIR/tests/mount/lib.sh"

# refuse WHAT ARCHIVE "strerror text" KEYWORD-REGEX [TARGET]: publishes
# ARCHIVE at publish/TARGET (default trusty/wordpress.charm) and checks the
# refusal. KEYWORD-REGEX (Python re, any case) must match the event's errors.
refuse() {
	local what=$1 archive=$2 msg=$3 key=$4 target=${5:-trusty/wordpress.charm}
	local before n verdict
	before=$(store_state)
	n=$(event_count)
	expect_errno "$what: cp" "$msg" cp "$archive" "$MNT/publish/$target"
	verdict=$(events_since "$n" | python3 -c '
import json, re, sys
lines = sys.stdin.read().splitlines()
if len(lines) != 1:
    sys.exit("expected one new event, got %r" % lines)
d = json.loads(lines[0])
errs = d.get("errors") or []
if d.get("kind") != "publish-error":
    sys.exit("event is not a publish-error: %s" % lines[0])
if not errs:
    sys.exit("publish-error event without errors: %s" % lines[0])
if not re.search(sys.argv[1], "\n".join(errs), re.I):
    sys.exit("errors do not name the problem (/%s/): %r" % (sys.argv[1], errs))
' "$key" 2>&1)
	if [ -z "$verdict" ]; then pass; else fail "$what: $verdict"; fi
	expect_eq "$what: charms/ unchanged" "$before" "$(store_state)"
}

# --- the archives, built in one Python run --------------------------------------
A=$T/a
mkdir -p "$A"
make_charm wordpress "$T/wp.charm"
make_charm mysql "$A/mysql.charm"
head -c 4096 /dev/urandom >"$A/garbage.charm"
printf 'x' >"$A/one.charm"
head -c $(($(stat -c %s "$T/wp.charm") / 2)) "$T/wp.charm" >"$A/truncated.charm"
head -c $(($(stat -c %s "$T/wp.charm") - 10)) "$T/wp.charm" >"$A/truncated2.charm"
# An escaping symlink made by zip -y from a real symlink.
copy_charm wordpress "$T/esc"
ln -s ../../../etc/passwd "$T/esc/lib/escape"
make_charm wordpress "$A/esclink.charm" "$T/esc"

pyzip "$A/nometa.charm" <<'PY'
import base64
A = os.path.dirname(sys.argv[1])
M = meta("wordpress")
def wp(path, **edit):
    new(os.path.join(A, path))
    sample("wordpress", edit=edit)
    return z

sample("wordpress", skip=("metadata.yaml",))
wp("nosummary.charm", **{"metadata.yaml": "\n".join(l for l in M.splitlines() if not l.startswith("summary:")) + "\n"})
wp("listsummary.charm", **{"metadata.yaml": M.replace("\nsummary: ", "\nsummary: [a, list]\nx: ")})
wp("nodesc.charm", **{"metadata.yaml": "name: wordpress\nsummary: no description\n"})
wp("noname.charm", **{"metadata.yaml": M.replace("name: wordpress\n", "")})
wp("badyaml.charm", **{"metadata.yaml": "name: wordpress\nsummary: [unclosed\n"})

wp("jujurel.charm", **{"metadata.yaml": M.replace("  website: http\n", "  website: http\n  juju-foo: http\n")})
wp("jujurel2.charm", **{"metadata.yaml": M.replace("  db: mysql\n", "  db: mysql\n  juju: mysql\n")})
wp("duprel.charm", **{"metadata.yaml": M.replace("  db: mysql\n", "  db: mysql\n  website: http\n")})
wp("nointerface.charm", **{"metadata.yaml": M.replace("  website: http\n", "  website:\n    scope: global\n")})
wp("sub.charm", **{"metadata.yaml": M.replace("name: wordpress\n", "name: wordpress\nsubordinate: true\n")})

OK = "options:\n  port:\n    type: int\n    default: 80\n    description: fine\n"
wp("badtype.charm", **{"config.yaml": OK + "  colours:\n    type: list\n    description: not a config type\n"})
wp("baddefault.charm", **{"config.yaml": "options:\n  port:\n    type: int\n    default: \"80\"\n    description: x\n"})
wp("baddefault2.charm", **{"config.yaml": "options:\n  cache-ratio:\n    type: float\n    default: 1\n    description: x\n"})
wp("baddefault3.charm", **{"config.yaml": "options:\n  debug:\n    type: boolean\n    default: \"false\"\n    description: x\n"})
wp("badcfgyaml.charm", **{"config.yaml": "options: [unclosed\n"})

# Python (like Go and Java) sets the UTF-8 flag (bit 11) on a non-ASCII name.
wp("utf8name.charm"); add("files/\u00fc.txt", "gr\u00fc\u00df\n")

wp("abslink.charm"); link("hooks/evil", "/etc/passwd")
wp("esclink2.charm"); link("hooks/sneaky", "../lib/../../outside")
wp("dotdot.charm"); add("../evil", "x")
wp("dotdot2.charm"); add("hooks/../../evil2", "x")
wp("absentry.charm"); add("/tmp/evil3", "x")
wp("dup.charm"); add("README.md", "again\n")
wp("dupmeta.charm"); add("metadata.yaml", "name: wordpress\nsummary: s\ndescription: d\n")
wp("fifo.charm"); add("lib/pipe", "", 0o644, stat.S_IFIFO)
wp("dev.charm"); add("lib/disk", "", 0o644, stat.S_IFBLK)
wp("chr.charm"); add("lib/tty", "", 0o644, stat.S_IFCHR)
wp("sock.charm"); add("lib/sock", "", 0o644, stat.S_IFSOCK)

big = "".join("  " + l + "\n" for l in base64.encodebytes(os.urandom(850 * 1024)).decode().splitlines())
assert len(big) > 1024 * 1024
wp("bigyaml.charm", **{"metadata.yaml": "name: wordpress\nsummary: big\ndescription: |\n" + big})
wp("bigcfg.charm", **{"config.yaml": OK + big.replace("  ", "# ")})

# Billion laughs under a key charmfs does not read: 11 levels of 10 aliases.
lol = "lol:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
for i in range(1, 12):
    lol += "  l%d: &l%d [%s]\n" % (i, i, ", ".join(["*l%d" % (i - 1)] * 10))
wp("aliases.charm", **{"metadata.yaml": M + lol})
wp("deep.charm", **{"metadata.yaml": M + "deep:\n  x: " + "[" * 200 + "]" * 200 + "\n"})
wp("deepcfg.charm", **{"config.yaml": OK + "extra:\n  x: " + "{a: " * 100 + "}" * 100 + "\n"})
# Entry names files/ could not serve: a component of 256 bytes, a whole name of 40,000.
wp("longcomp.charm"); add("lib/" + "c" * 256, "x")
wp("longname.charm"); add("lib/" + "/".join(["d" * 200] * 200), "x")
wp("okcomp.charm"); add("lib/" + "c" * 255, "x")
# A whole name of CHARM_ENTRY_MAX (4000) bytes publishes and is served from
# the tree on disk (100 KiB is not kept inline); one byte more is refused.
DEEP = "lib/" + "/".join("%02d" % i + "e" * 248 for i in range(15))
DEEP += "/" + "f" * (4000 - len(DEEP) - 1)
assert len(DEEP) == 4000
wp("deepname.charm"); add(DEEP, bytes(range(256)) * 400)
wp("name4001.charm"); add(DEEP + "g", "x")
# Within the YAML limits: exactly 100 aliases, 30 levels.
wp("okyaml.charm", **{"metadata.yaml": M + "anchors:\n  a: &a x\n  b: [" + ", ".join(["*a"] * 100) + "]\n  c: " + "[" * 30 + "1" + "]" * 30 + "\n"})

# For the small archive limits (max_archive=200000, max_expanded=4 MiB,
# max_ratio=50, max_entries=100), on haproxy.
def ha(path):
    new(os.path.join(A, path))
    sample("haproxy")
ha("entries.charm")
for i in range(150):
    add("lib/f%03d" % i, "x")
ha("archive.charm"); add("lib/blob", os.urandom(300 * 1024))
ha("expanded.charm"); add("lib/random", os.urandom(150 * 1024)); add("lib/zeros", bytes(4900 * 1024))
ha("ratio.charm"); add("lib/zeros", bytes(2 * 1024 * 1024))
ha("smallratio.charm"); add("lib/zeros", bytes(900 * 1024))
PY

# --- default limits -----------------------------------------------------------------
start_daemon
check "a good revision to protect" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 0" "0" "$(readlink "$MNT/charms/trusty/wordpress/latest")"

refuse "garbage bytes" "$A/garbage.charm" "Invalid argument" "zip|archive"
refuse "one-byte file" "$A/one.charm" "Invalid argument" "zip|archive"
refuse "truncated zip" "$A/truncated.charm" "Invalid argument" "zip|archive|truncat"
refuse "zip missing its end record" "$A/truncated2.charm" "Invalid argument" "zip|archive|truncat"

refuse "missing metadata.yaml" "$A/nometa.charm" "Invalid argument" "metadata"
refuse "missing summary" "$A/nosummary.charm" "Invalid argument" "summary"
refuse "summary not a string" "$A/listsummary.charm" "Invalid argument" "summary"
refuse "missing description" "$A/nodesc.charm" "Invalid argument" "description"
refuse "missing name" "$A/noname.charm" "Invalid argument" "name"
refuse "name mismatch (mysql at wordpress)" "$A/mysql.charm" "Invalid argument" "name|mysql"
refuse "metadata.yaml not YAML" "$A/badyaml.charm" "Invalid argument" "metadata|yaml"

refuse "relation named juju-*" "$A/jujurel.charm" "Invalid argument" "juju-foo"
refuse "relation named juju" "$A/jujurel2.charm" "Invalid argument" "juju"
refuse "duplicate relation name" "$A/duprel.charm" "Invalid argument" "website"
refuse "relation without interface" "$A/nointerface.charm" "Invalid argument" "website|interface"
refuse "subordinate without container require" "$A/sub.charm" "Invalid argument" "subordinate|container"

refuse "bad config type" "$A/badtype.charm" "Invalid argument" "colours|list"
refuse "string default for int" "$A/baddefault.charm" "Invalid argument" "port"
refuse "int default for float" "$A/baddefault2.charm" "Invalid argument" "cache-ratio"
refuse "string default for boolean" "$A/baddefault3.charm" "Invalid argument" "debug"
refuse "config.yaml not YAML" "$A/badcfgyaml.charm" "Invalid argument" "config"

refuse "absolute symlink" "$A/abslink.charm" "Invalid argument" "hooks/evil"
refuse "escaping symlink (zip -y)" "$A/esclink.charm" "Invalid argument" "lib/escape"
refuse "symlink escaping through lib/.." "$A/esclink2.charm" "Invalid argument" "hooks/sneaky"
refuse "../ entry" "$A/dotdot.charm" "Invalid argument" "evil|\\.\\."
refuse "hooks/../../ entry" "$A/dotdot2.charm" "Invalid argument" "evil2|\\.\\."
refuse "absolute entry" "$A/absentry.charm" "Invalid argument" "evil3|absolute"
refuse "duplicate entry" "$A/dup.charm" "Invalid argument" "README\\.md"
refuse "duplicate metadata.yaml" "$A/dupmeta.charm" "Invalid argument" "metadata\\.yaml"
refuse "fifo entry" "$A/fifo.charm" "Invalid argument" "lib/pipe"
refuse "block device entry" "$A/dev.charm" "Invalid argument" "lib/disk"
refuse "character device entry" "$A/chr.charm" "Invalid argument" "lib/tty"
refuse "socket entry" "$A/sock.charm" "Invalid argument" "lib/sock"

refuse "metadata.yaml over 1 MiB" "$A/bigyaml.charm" "File too large" "metadata\\.yaml"
refuse "config.yaml over 1 MiB" "$A/bigcfg.charm" "File too large" "config\\.yaml"
refuse "alias bomb (110 aliases)" "$A/aliases.charm" "Invalid argument" "alias"
refuse "metadata.yaml nesting 200 deep" "$A/deep.charm" "Invalid argument" "depth|nest|deep"
refuse "an entry name component of 256 bytes" "$A/longcomp.charm" "Invalid argument" "longer than 255"
refuse "an entry name of 40,000 bytes" "$A/longname.charm" "Invalid argument" "too long"
check "an entry name component of 255 bytes publishes" cp "$A/okcomp.charm" "$MNT/publish/precise/wordpress.charm"
check "and files/ serves it" test -f "$MNT/charms/precise/wordpress/$(readlink "$MNT/charms/precise/wordpress/latest")/files/lib/$(printf 'c%.0s' $(seq 255))"
refuse "an entry name of 4001 bytes" "$A/name4001.charm" "Invalid argument" "too long"
check "an entry name of 4000 bytes publishes" cp "$A/deepname.charm" "$MNT/publish/precise/wordpress.charm"
# Its path under the mount is longer than PATH_MAX: walk it one directory at a time.
expect_eq "and files/ serves it, from the tree" "$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(256)) * 400).hexdigest())')" "$(python3 - "$MNT/charms/precise/wordpress/1/files" <<'PY'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
deep = "lib/" + "/".join("%02d" % i + "e" * 248 for i in range(15))
parts = deep.split("/") + ["f" * (4000 - len(deep) - 1)]
for p in parts[:-1]:
    fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
f = os.open(parts[-1], os.O_RDONLY, dir_fd=fd)
print(hashlib.sha256(os.read(f, 1 << 20)).hexdigest())
PY
)"
refuse "config.yaml nesting 100 deep" "$A/deepcfg.charm" "Invalid argument" "depth|nest|deep"
check "100 aliases and 30 levels publish" cp "$A/okyaml.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 1" "1" "$(readlink "$MNT/charms/trusty/wordpress/latest")"

# Non-ASCII entry names: flagged UTF-8 (Python) and unflagged raw bytes (Info-ZIP).
check "UTF-8-flagged name publishes" cp "$A/utf8name.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "files/ shows the flagged name" "grüß" "$(cat "$MNT/charms/trusty/wordpress/2/files/files/ü.txt")"
copy_charm wordpress "$T/raw"
printf 'raw\n' >"$T/raw/lib/ä.txt"
(cd "$T/raw" && LC_ALL=C zip -qry "$A/rawname.charm" .)
check "Info-ZIP unflagged name publishes" cp "$A/rawname.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "files/ shows the unflagged name" "raw" "$(cat "$MNT/charms/trusty/wordpress/3/files/lib/ä.txt")"

# --- empty files ------------------------------------------------------------------------
before=$(store_state)
n=$(event_count)
lines=$(wc -l <"$LOG")
check "closing an empty file succeeds" bash -c ": > '$MNT/publish/trusty/wordpress.charm'"
check "touch of a new .charm succeeds" touch "$MNT/publish/trusty/newcharm.charm"
check "cp /dev/null succeeds" cp /dev/null "$MNT/publish/trusty/other.charm"
expect_eq "empty files publish nothing" "$before" "$(store_state)"
expect_eq "empty files add no event" "$n" "$(event_count)"
expect_eq "empty files log nothing" "$lines" "$(wc -l <"$LOG")"

# A redirection cannot see the close error, but the event log has it.
n=$(event_count)
cat "$A/garbage.charm" >"$MNT/publish/trusty/wordpress.charm" 2>/dev/null
expect_eq "cat > records a publish-error" "publish-error" "$(json_field "$(events_since "$n")" 'd["kind"]')"
expect_eq "store unchanged after cat >" "$before" "$(store_state)"
check "daemon still running" daemon_alive

# A huge sparse file renamed onto a .charm name is refused by its size, unread.
n=$(event_count)
check "truncate -s 100G of a temporary name" truncate -s 100G "$MNT/publish/trusty/huge.tmp"
expect_errno "mv of a 100 GiB sparse file" "File too large" mv "$MNT/publish/trusty/huge.tmp" "$MNT/publish/trusty/wordpress.charm"
expect_eq "100 GiB file: publish-error" "publish-error" "$(json_field "$(events_since "$n")" 'd["kind"]')"
expect_eq "100 GiB file: digest not computed" "unknown" "$(json_field "$(events_since "$n")" 'd["digest"]')"
rm -f "$MNT/publish/trusty/wordpress.charm"

# --- archive limits, with small values ------------------------------------------------
stop_daemon
start_daemon -o max_archive=200000,max_expanded=4194304,max_ratio=50,max_entries=100
make_charm haproxy "$T/ha.charm"
check "a normal charm fits the small limits" cp "$T/ha.charm" "$MNT/publish/trusty/haproxy.charm"
refuse "over max_entries" "$A/entries.charm" "File too large" "entries" trusty/haproxy.charm
refuse "over max_archive" "$A/archive.charm" "File too large" "archive|size|large" trusty/haproxy.charm
check "expanded test archive stays under max_archive" test "$(stat -c %s "$A/expanded.charm")" -lt 200000
refuse "over max_expanded" "$A/expanded.charm" "File too large" "expand" trusty/haproxy.charm
refuse "over max_ratio (zip bomb)" "$A/ratio.charm" "File too large" "ratio|times" trusty/haproxy.charm
check "a high ratio under 1 MiB expanded is accepted" cp "$A/smallratio.charm" "$MNT/publish/trusty/haproxy.charm"
expect_eq "haproxy latest -> 1" "1" "$(readlink "$MNT/charms/trusty/haproxy/latest")"
check "daemon still running" daemon_alive
finish
