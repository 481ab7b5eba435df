#!/bin/bash
# The tree exists, a publish by cp creates a complete revision directory.
. "$SRCDIR/tests/mount/lib.sh"

start_daemon
make_charm wordpress "$T/wp.charm"

expect_eq "root listing" "backup changes charms counters events hooks locks packages publish upgrade" "$(ls "$MNT" | xargs)"
check "cp publishes" cp "$T/wp.charm" "$MNT/publish/trusty/wordpress.charm"
R=$MNT/charms/trusty/wordpress/0
for f in archive.charm metadata.yaml config.yaml files info sha256 digest size; do
	check "$f exists" test -e "$R/$f"
done
expect_eq "latest" "0" "$(readlink "$MNT/charms/trusty/wordpress/latest")"
expect_eq "sha256 file" "$(sha256sum < "$R/archive.charm" | cut -d' ' -f1)" "$(cat "$R/sha256")"
expect_eq "revision entry" "0" "$(unzip -p "$R/archive.charm" revision)"
check "install hook executable" test -x "$R/files/hooks/install"
check "info is JSON" python3 -c "
import json,sys
d=json.load(open('$R/info'))
assert set(d)=={'canonical-url','revision','sha256','digest','size','published'}, d
assert d['canonical-url']=='cs:trusty/wordpress-0' and d['revision']==0
"
finish
