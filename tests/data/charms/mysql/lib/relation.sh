#!/bin/sh
# Shared body of the relation hooks; hooks/*-relation-* link here.
set -e
CHARM_DIR=${CHARM_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$CHARM_DIR/lib/common.sh"

juju-log "mysql: $HOOK"
record "$HOOK"
case $HOOK in
db-relation-joined)
	put clients "$(unit-get private-address)"
	;;
db-relation-departed)
	rm -f "$STATE/clients"
	;;
esac
