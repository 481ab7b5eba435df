#!/bin/sh
# Shared body of the relation hooks; hooks/*-relation-* link here.
set -e
CHARM_DIR=${CHARM_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$CHARM_DIR/lib/common.sh"

juju-log "logrotate: $HOOK"
record "$HOOK"
case $HOOK in
juju-info-relation-joined)
	status-set active "rotating $(config-get frequency)"
	;;
juju-info-relation-departed)
	status-set blocked "no principal"
	;;
esac
