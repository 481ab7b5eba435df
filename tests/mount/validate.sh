#!/bin/bash
# Validation (SPEC §4.2): one archive per rule that breaks it. Each makes cp
# fail with the rule's errno, records one publish-error event naming the
# problem, and changes nothing under charms/.
. "$SRCDIR/tests/mount/lib.sh"

WPDIR=$SRCDIR/tests/data/charms/wordpress
WPMETA=$(metadata_of wordpress)

# refuse WHAT ARCHIVE "strerror text" KEYWORD-REGEX [TARGET]: publishes
# ARCHIVE at publish/TARGET (default trusty/wordpress.charm) and checks the
# refusal. KEYWORD-REGEX (grep -iE) must match the event's errors.
refuse() {
	local what=$1 archive=$2 msg=$3 key=$4 target=${5:-trusty/wordpress.charm}
	local before n ev errs
	before=$(store_state)
	n=$(event_count)
	expect_errno "$what: cp" "$msg" cp "$archive" "$MNT/publish/$target"
	ev=$(events_since "$n")
	if [ "$(printf '%s\n' "$ev" | grep -c .)" != 1 ]; then
		fail "$what: expected one new event, got: $ev"
	elif [ "$(json_field "$ev" 'd["kind"]')" != publish-error ]; then
		fail "$what: event is not a publish-error: $ev"
	else
		errs=$(json_field "$ev" '"\n".join(d.get("errors") or [])')
		if [ -z "$errs" ]; then
			fail "$what: publish-error event without errors: $ev"
		elif ! printf '%s\n' "$errs" | grep -qiE -- "$key"; then
			fail "$what: errors do not name the problem (/$key/): $errs"
		else
			pass
		fi
	fi
	expect_eq "$what: charms/ unchanged" "$before" "$(store_state)"
}

# wp_meta SED-SCRIPT: prints wordpress's metadata.yaml edited by sed.
wp_meta() {
	printf '%s\n' "$WPMETA" | sed -e "$1"
}

start_daemon
make_charm wordpress "$T/wp.charm"
check "a good revision to protect" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 0" "0" "$(readlink "$MNT/charms/trusty/wordpress/latest")"

# --- not a zip --------------------------------------------------------------
head -c 4096 /dev/urandom >"$T/garbage.charm"
refuse "garbage bytes" "$T/garbage.charm" "Invalid argument" "zip|archive"
printf 'x' >"$T/one.charm"
refuse "one-byte file" "$T/one.charm" "Invalid argument" "zip|archive"
head -c $(($(stat -c %s "$T/wp.charm") / 2)) "$T/wp.charm" >"$T/truncated.charm"
refuse "truncated zip" "$T/truncated.charm" "Invalid argument" "zip|archive|truncat"
head -c $(($(stat -c %s "$T/wp.charm") - 10)) "$T/wp.charm" >"$T/truncated2.charm"
refuse "zip missing its end record" "$T/truncated2.charm" "Invalid argument" "zip|archive|truncat"

# --- metadata.yaml ------------------------------------------------------------
pyzip "$T/nometa.charm" <<'PY'
sample("wordpress", skip=("metadata.yaml",))
PY
refuse "missing metadata.yaml" "$T/nometa.charm" "Invalid argument" "metadata"

wp_meta '/^summary:/d' >"$T/meta"
pyzip "$T/nosummary.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "missing summary" "$T/nosummary.charm" "Invalid argument" "summary"

wp_meta 's/^summary:.*/summary: [a, list]/' >"$T/meta"
pyzip "$T/listsummary.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "summary not a string" "$T/listsummary.charm" "Invalid argument" "summary"

wp_meta '/^description:/,/^requires:/{/^requires:/!d}' >"$T/meta"
pyzip "$T/nodesc.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "missing description" "$T/nodesc.charm" "Invalid argument" "description"

wp_meta '/^name:/d' >"$T/meta"
pyzip "$T/noname.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "missing name" "$T/noname.charm" "Invalid argument" "name"

make_charm mysql "$T/mysql.charm"
refuse "name mismatch (mysql at wordpress)" "$T/mysql.charm" "Invalid argument" "name|mysql"

printf 'name: wordpress\nsummary: [unclosed\n' >"$T/meta"
pyzip "$T/badyaml.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "metadata.yaml not YAML" "$T/badyaml.charm" "Invalid argument" "metadata|yaml"

# --- relations -----------------------------------------------------------------
wp_meta 's/^  website: http$/  website: http\n  juju-foo: http/' >"$T/meta"
pyzip "$T/jujurel.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "relation named juju-*" "$T/jujurel.charm" "Invalid argument" "juju-foo"

wp_meta 's/^  db: mysql$/  db: mysql\n  juju: mysql/' >"$T/meta"
pyzip "$T/jujurel2.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "relation named juju" "$T/jujurel2.charm" "Invalid argument" "juju"

wp_meta 's/^  db: mysql$/  db: mysql\n  website: http/' >"$T/meta"
pyzip "$T/duprel.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "duplicate relation name" "$T/duprel.charm" "Invalid argument" "website"

wp_meta 's/^  website: http$/  website:\n    scope: global/' >"$T/meta"
pyzip "$T/nointerface.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "relation without interface" "$T/nointerface.charm" "Invalid argument" "website|interface"

wp_meta 's/^name: wordpress$/name: wordpress\nsubordinate: true/' >"$T/meta"
pyzip "$T/sub.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "subordinate without container require" "$T/sub.charm" "Invalid argument" "subordinate|container"

# --- config.yaml ------------------------------------------------------------------
cat >"$T/config" <<'EOF'
options:
  port:
    type: int
    default: 80
    description: fine
  colours:
    type: list
    description: not a config type
EOF
pyzip "$T/badtype.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "bad config type" "$T/badtype.charm" "Invalid argument" "colours|list"

cat >"$T/config" <<'EOF'
options:
  port:
    type: int
    default: "80"
    description: a string default for an int
EOF
pyzip "$T/baddefault.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "string default for int" "$T/baddefault.charm" "Invalid argument" "port"

cat >"$T/config" <<'EOF'
options:
  cache-ratio:
    type: float
    default: 1
    description: an int default is not a float default
EOF
pyzip "$T/baddefault2.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "int default for float" "$T/baddefault2.charm" "Invalid argument" "cache-ratio"

cat >"$T/config" <<'EOF'
options:
  debug:
    type: boolean
    default: "false"
    description: a string default for a boolean
EOF
pyzip "$T/baddefault3.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "string default for boolean" "$T/baddefault3.charm" "Invalid argument" "debug"

printf 'options: [unclosed\n' >"$T/config"
pyzip "$T/badcfgyaml.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "config.yaml not YAML" "$T/badcfgyaml.charm" "Invalid argument" "config"

# --- entries: symlinks, special files, names ------------------------------------
pyzip "$T/abslink.charm" <<'PY'
sample("wordpress")
link("hooks/evil", "/etc/passwd")
PY
refuse "absolute symlink" "$T/abslink.charm" "Invalid argument" "hooks/evil"

# An escaping symlink made by zip -y from a real symlink.
copy_charm wordpress "$T/esc"
ln -s ../../../etc/passwd "$T/esc/lib/escape"
make_charm wordpress "$T/esclink.charm" "$T/esc"
refuse "escaping symlink (zip -y)" "$T/esclink.charm" "Invalid argument" "lib/escape"

pyzip "$T/esclink2.charm" <<'PY'
sample("wordpress")
link("hooks/sneaky", "../lib/../../outside")
PY
refuse "symlink escaping through lib/.." "$T/esclink2.charm" "Invalid argument" "hooks/sneaky"

pyzip "$T/dotdot.charm" <<'PY'
sample("wordpress")
add("../evil", "x")
PY
refuse "../ entry" "$T/dotdot.charm" "Invalid argument" "evil|\\.\\."

pyzip "$T/dotdot2.charm" <<'PY'
sample("wordpress")
add("hooks/../../evil2", "x")
PY
refuse "hooks/../../ entry" "$T/dotdot2.charm" "Invalid argument" "evil2|\\.\\."

pyzip "$T/absentry.charm" <<'PY'
sample("wordpress")
add("/tmp/evil3", "x")
PY
refuse "absolute entry" "$T/absentry.charm" "Invalid argument" "evil3|absolute"

pyzip "$T/dup.charm" <<'PY'
sample("wordpress")
add("README.md", "again\n")
PY
refuse "duplicate entry" "$T/dup.charm" "Invalid argument" "README.md"

pyzip "$T/dupmeta.charm" <<'PY'
sample("wordpress")
add("metadata.yaml", "name: wordpress\nsummary: s\ndescription: d\n")
PY
refuse "duplicate metadata.yaml" "$T/dupmeta.charm" "Invalid argument" "metadata.yaml"

pyzip "$T/fifo.charm" <<'PY'
sample("wordpress")
add("lib/pipe", "", 0o644, stat.S_IFIFO)
PY
refuse "fifo entry" "$T/fifo.charm" "Invalid argument" "lib/pipe"

pyzip "$T/dev.charm" <<'PY'
sample("wordpress")
add("lib/disk", "", 0o644, stat.S_IFBLK)
PY
refuse "device entry" "$T/dev.charm" "Invalid argument" "lib/disk"

pyzip "$T/chr.charm" <<'PY'
sample("wordpress")
add("lib/tty", "", 0o644, stat.S_IFCHR)
PY
refuse "character device entry" "$T/chr.charm" "Invalid argument" "lib/tty"

pyzip "$T/sock.charm" <<'PY'
sample("wordpress")
add("lib/sock", "", 0o644, stat.S_IFSOCK)
PY
refuse "socket entry" "$T/sock.charm" "Invalid argument" "lib/sock"

# --- YAML limits ------------------------------------------------------------------
python3 - "$T/meta" <<'PY'
import base64, os, sys
body = base64.encodebytes(os.urandom(850 * 1024)).decode()
with open(sys.argv[1], "w") as f:
    f.write("name: wordpress\nsummary: big\ndescription: |\n")
    for line in body.splitlines():
        f.write("  " + line + "\n")
PY
check "big metadata.yaml is over 1 MiB" test "$(stat -c %s "$T/meta")" -gt 1048576
pyzip "$T/bigyaml.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "metadata.yaml over 1 MiB" "$T/bigyaml.charm" "File too large" "metadata.yaml"

python3 - "$T/config" <<'PY'
import base64, os, sys
with open(sys.argv[1], "w") as f:
    f.write("options:\n  port:\n    type: int\n    default: 80\n    description: fine\n")
    for line in base64.encodebytes(os.urandom(850 * 1024)).decode().splitlines():
        f.write("# " + line + "\n")
PY
pyzip "$T/bigcfg.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "config.yaml over 1 MiB" "$T/bigcfg.charm" "File too large" "config.yaml"

# Billion laughs under a key charmfs does not read: 10 levels of 10 aliases.
{
	printf '%s\n' "$WPMETA"
	echo 'lol:'
	echo '  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'
	for i in $(seq 1 10); do
		p=$((i - 1))
		echo "  l$i: &l$i [*l$p, *l$p, *l$p, *l$p, *l$p, *l$p, *l$p, *l$p, *l$p, *l$p]"
	done
} >"$T/meta"
pyzip "$T/aliases.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "alias bomb (110 aliases)" "$T/aliases.charm" "Invalid argument" "alias"

{
	printf '%s\n' "$WPMETA"
	echo 'deep:'
	printf '  x: %s%s\n' "$(printf '[%.0s' $(seq 1 200))" "$(printf ']%.0s' $(seq 1 200))"
} >"$T/meta"
pyzip "$T/deep.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
refuse "nesting 200 deep" "$T/deep.charm" "Invalid argument" "depth|nest|deep"

{
	echo 'options:'
	echo '  port:'
	echo '    type: int'
	echo '    default: 80'
	echo '    description: fine'
	echo 'extra:'
	printf '  x: %s%s\n' "$(printf '{a: %.0s' $(seq 1 100))" "$(printf '}%.0s' $(seq 1 100))"
} >"$T/config"
pyzip "$T/deepcfg.charm" <<PY
sample("wordpress", edit={"config.yaml": open("$T/config").read()})
PY
refuse "config.yaml nesting 100 deep" "$T/deepcfg.charm" "Invalid argument" "depth|nest|deep"

# Within the YAML limits: 100 aliases and 30 levels are accepted.
{
	printf '%s\n' "$WPMETA"
	echo 'anchors:'
	echo '  a: &a x'
	printf '  b: [%s*a]\n' "$(printf '*a, %.0s' $(seq 1 99))"
	printf '  c: %s1%s\n' "$(printf '[%.0s' $(seq 1 30))" "$(printf ']%.0s' $(seq 1 30))"
} >"$T/meta"
pyzip "$T/okyaml.charm" <<PY
sample("wordpress", edit={"metadata.yaml": open("$T/meta").read()})
PY
check "100 aliases and 30 levels publish" cp "$T/okyaml.charm" "$MNT/publish/trusty/wordpress.charm"
expect_eq "latest -> 1" "1" "$(readlink "$MNT/charms/trusty/wordpress/latest")"

# --- empty files ----------------------------------------------------------------------
before=$(store_state)
n=$(event_count)
lines=$(wc -l <"$LOG")
check "closing an empty file succeeds" sh -c ": > '$MNT/publish/trusty/wordpress.charm'"
check "touch of a new .charm succeeds" touch "$MNT/publish/trusty/newcharm.charm"
check "cp /dev/null succeeds" cp /dev/null "$MNT/publish/trusty/other.charm"
expect_eq "empty files publish nothing" "$before" "$(store_state)"
expect_eq "empty files add no event" "$n" "$(event_count)"
expect_eq "empty files log nothing" "$lines" "$(wc -l <"$LOG")"

# A redirection cannot see the close error, but the event log has it.
n=$(event_count)
cat "$T/garbage.charm" >"$MNT/publish/trusty/wordpress.charm"
expect_eq "cat > records a publish-error" "publish-error" "$(json_field "$(events_since "$n")" 'd["kind"]')"
expect_eq "store unchanged after cat >" "$before" "$(store_state)"

check "daemon still running" daemon_alive

# --- archive limits, with small values ----------------------------------------------
stop_daemon
start_daemon -o max_archive=200000,max_expanded=4194304,max_ratio=50,max_entries=100
make_charm haproxy "$T/ha.charm"
check "a normal charm fits the small limits" cp "$T/ha.charm" "$MNT/publish/trusty/haproxy.charm"

pyzip "$T/entries.charm" <<'PY'
sample("haproxy")
for i in range(150):
    add("lib/f%03d" % i, "x")
PY
refuse "over max_entries" "$T/entries.charm" "File too large" "entries" trusty/haproxy.charm

pyzip "$T/archive.charm" <<'PY'
sample("haproxy")
add("lib/blob", os.urandom(300 * 1024))
PY
refuse "over max_archive" "$T/archive.charm" "File too large" "archive|size|large" trusty/haproxy.charm

pyzip "$T/expanded.charm" <<'PY'
sample("haproxy")
add("lib/random", os.urandom(150 * 1024))
add("lib/zeros", bytes(4900 * 1024))
PY
check "expanded test archive stays under max_archive" test "$(stat -c %s "$T/expanded.charm")" -lt 200000
refuse "over max_expanded" "$T/expanded.charm" "File too large" "expanded|uncompressed" trusty/haproxy.charm

pyzip "$T/ratio.charm" <<'PY'
sample("haproxy")
add("lib/zeros", bytes(2 * 1024 * 1024))
PY
refuse "over max_ratio (zip bomb)" "$T/ratio.charm" "File too large" "ratio|compress" trusty/haproxy.charm

pyzip "$T/smallratio.charm" <<'PY'
sample("haproxy")
add("lib/zeros", bytes(900 * 1024))
PY
check "a high ratio under 1 MiB expanded is accepted" cp "$T/smallratio.charm" "$MNT/publish/trusty/haproxy.charm"
expect_eq "haproxy latest -> 1" "1" "$(readlink "$MNT/charms/trusty/haproxy/latest")"

check "daemon still running" daemon_alive
finish
