#!/bin/sh
# Regenerates the seed corpora under tests/fuzz/corpus/ from tests/data/charms
# and the literal examples below. Run from anywhere: sh tests/fuzz/mkcorpus.sh
# Needs zip(1) and python3 (for the hand-damaged zips). Overwrites the seeds
# it knows and leaves any other file (e.g. a saved crash input) in place.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
c=$top/tests/fuzz/corpus
mkdir -p "$c/url" "$c/meta" "$c/config" "$c/charm" "$c/request"

seed() { # dir name content
	printf '%s' "$3" >"$c/$1/$2"
}

# ---- url: the grammar of SPEC §3, valid and refused -----------------------
i=0
for u in cs:trusty/wordpress cs:~user/trusty/wordpress-42 local:precise/mysql-1 \
	wordpress wordpress-3 trusty/haproxy ~bob.smith/logrotate cs:~a1/xenial/my-app-0 \
	local:name cs:foo-007 cs:foo-2147483648 cs:foo-2147483647 ls:trusty/x cs:/bad \
	cs:trusty/ cs:a/b/c cs:~u/a/b/c local:~user/trusty/x cs:ctl/x cs:incoming/x \
	cs:trusty/Wordpress cs:trusty/word--press cs:trusty/wp- cs:~x/foo cs:~/foo \
	'cs:trusty/caf\303\251' 'cs:"quoted"\\x' cs: : cs:trusty/foo-1-2 cs:trusty/a-1b; do
	i=$((i + 1))
	printf '%b' "$u" >"$c/url/$(printf '%02d' $i)"
done
printf 'cs:trusty/\001\177\377\342\200\250x' >"$c/url/ctl-bytes"
python3 -c "import sys; sys.stdout.write('cs:trusty/' + 'a' * 70)" >"$c/url/long-name"

# ---- meta and config: the sample charms and small broken documents --------
for ch in wordpress mysql haproxy logrotate; do
	cp "$top/tests/data/charms/$ch/metadata.yaml" "$c/meta/$ch.yaml"
	cp "$top/tests/data/charms/$ch/config.yaml" "$c/config/$ch.yaml"
done
seed meta minimal.yaml 'name: x
summary: s
description: d
'
seed meta long-form.yaml 'name: db
summary: s
description: d
subordinate: true
requires:
  juju-info:
    interface: juju-info
    scope: container
    limit: 1
    optional: false
provides: {api: http, admin: {interface: http, limit: 2}}
'
seed meta anchors.yaml 'name: &n foo
summary: *n
description: !!str 12
peers: &p {ring: ring}
provides: *p
'
seed meta bad-top.yaml '- a
- b
'
seed meta bad-role.yaml 'name: x
summary: s
description: d
requires: [db]
'
seed meta bad-scope.yaml 'name: x
summary: s
description: d
requires: {a: {interface: b, scope: nowhere, limit: -1}}
'
seed meta unclosed.yaml 'name: "x
summary: [s'
seed meta tags.yaml '%YAML 1.1
--- !!map
name: !!str x
summary: !!null
description: !foo d
subordinate: !!bool yes
...
--- second
'
seed meta empty.yaml ''
seed meta deep.yaml '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'
seed config minimal.yaml 'options: {}
'
seed config types.yaml 'options:
  s: {type: string, default: "x", description: d}
  i: {type: int, default: 9223372036854775807}
  f: {type: float, default: .inf}
  f2: {type: float, default: 1e309}
  b: {type: boolean, default: off}
  n: {type: string, default: ~}
  h: {type: int, default: 0x1f}
'
seed config bad-type.yaml 'options:
  x: {type: integer, default: 1}
'
seed config bad-default.yaml 'options:
  x: {type: int, default: "one"}
  y: {type: boolean, default: 2}
  z: {type: float, default: [1]}
'
seed config dup.yaml 'options:
  a: {type: string}
  a: {type: int}
'
seed config not-map.yaml 'options: [a, b]
'
seed config alias-bomb.yaml 'a: &a [x, x, x, x]
b: &b [*a, *a, *a, *a]
c: &c [*b, *b, *b, *b]
options: {d: {type: string, default: *c}}
'
seed config bad-utf8.yaml "$(printf 'options:\n  \377: {type: string}\n')"

# ---- charm: tiny valid zips and damaged ones --------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mk() { # name: builds $tmp/$name from files already in $tmp/$name.d
	(cd "$tmp/$1.d" && zip -q -X -r -y -9 "$tmp/$1.zip" .)
	cp "$tmp/$1.zip" "$c/charm/$1.zip"
}
mkdir -p "$tmp/min.d"
printf 'name: min\nsummary: s\ndescription: d\n' >"$tmp/min.d/metadata.yaml"
mk min
mkdir -p "$tmp/hooks.d/hooks" "$tmp/hooks.d/lib"
printf 'name: hk\nsummary: s\ndescription: d\nrequires: {db: mysql}\n' >"$tmp/hooks.d/metadata.yaml"
printf 'options:\n  t: {type: string, default: x}\n' >"$tmp/hooks.d/config.yaml"
printf '#!/bin/sh\n' >"$tmp/hooks.d/hooks/install"
printf '#!/bin/sh\n' >"$tmp/hooks.d/lib/rel.sh"
chmod 0755 "$tmp/hooks.d/lib/rel.sh"
ln -s ../lib/rel.sh "$tmp/hooks.d/hooks/db-relation-joined"
printf '3' >"$tmp/hooks.d/revision"
mk hooks
mkdir -p "$tmp/escape.d/hooks"
printf 'name: esc\nsummary: s\ndescription: d\n' >"$tmp/escape.d/metadata.yaml"
ln -s ../../etc/passwd "$tmp/escape.d/hooks/install"
mk escape
mkdir -p "$tmp/nometa.d"
printf 'hello\n' >"$tmp/nometa.d/README"
mk nometa
mkdir -p "$tmp/badcfg.d"
printf 'name: bc\nsummary: s\ndescription: d\n' >"$tmp/badcfg.d/metadata.yaml"
printf 'options: [x]\n' >"$tmp/badcfg.d/config.yaml"
mk badcfg
mkdir -p "$tmp/stored.d"
printf 'name: st\nsummary: s\ndescription: d\n' >"$tmp/stored.d/metadata.yaml"
printf 'data\n' >"$tmp/stored.d/file"
(cd "$tmp/stored.d" && zip -q -X -0 "$c/charm/stored.zip" metadata.yaml file)
python3 - "$c/charm" <<'PY'
import sys
d = sys.argv[1]
z = open(d + "/min.zip", "rb").read()
open(d + "/min-truncated.zip", "wb").write(z[: len(z) // 2])
open(d + "/min-nocd.zip", "wb").write(z[: z.find(b"PK\x01\x02")])
b = bytearray(z); i = z.find(b"PK\x01\x02"); b[i + 46] = ord("/"); b[30] = ord("/")
open(d + "/min-abs-name.zip", "wb").write(bytes(b))
b = bytearray(z); b[z.find(b"PK\x05\x06") + 10] = 0xff
open(d + "/min-count.zip", "wb").write(bytes(b))
open(d + "/not-a-zip.zip", "wb").write(b"PK\x03\x04 this is not a zip\n")
open(d + "/empty.zip", "wb").write(b"PK\x05\x06" + b"\0" * 18)
PY

# ---- request: publish/ctl lines --------------------------------------------
D=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
seed request ok-one "publish $D cs:trusty/wordpress < incoming/wp.charm
"
seed request ok-many "publish $D cs:trusty/wordpress cs:~bob/xenial/wp	cs:precise/wp < incoming/x lock=0123456789abcdef0123456789abcdef"
seed request bad-revision "publish $D cs:trusty/wordpress-3 < incoming/wp.charm"
seed request bad-series "publish $D cs:wordpress < incoming/wp.charm"
seed request bad-local "publish $D local:trusty/wordpress < incoming/wp.charm"
seed request bad-file "publish $D cs:trusty/wp < incoming/../x"
seed request bad-lock "publish $D cs:trusty/wp < incoming/x lock= lock=a"
seed request two-locks "publish $D cs:trusty/wp < incoming/x lock=a lock=b"
seed request ok-lock "publish sha256:x cs:trusty/a < incoming/f lock=0123456789abcdef0123456789abcdef
"
seed request bad-lock-upper "publish sha256:x cs:trusty/a < incoming/f lock=0123456789abcdef0123456789ABCDEF
"
seed request bad-dup-url "publish sha256:x cs:trusty/a cs:trusty/a < incoming/f
"
printf 'publish sha256:\377\376 cs:trusty/a < incoming/f\n' >"$c/request/bad-digest-utf8"
seed request no-lt "publish $D cs:trusty/wp incoming/x"
seed request unknown "unpublish cs:trusty/wp"
seed request empty "
"
printf 'publish %s cs:trusty/wp < incoming/x\nsecond line\n' "$D" >"$c/request/two-lines"
printf 'publish %s cs:trusty/wp\0 < incoming/x' "$D" >"$c/request/nul"
echo "corpus written to $c"
