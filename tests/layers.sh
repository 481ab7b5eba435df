#!/bin/sh
# The layers of doc/internals.md, checked on the source and the build:
#   - no SQLite outside backend/: fs/ and http/ neither name sqlite3 nor
#     include <sqlite3.h> through any header (the compiler's dependency files);
#   - no FUSE header outside fs/, no libmicrohttpd header outside http/,
#     and no backend-internal header (db.h, store_int.h, ...) in either;
#   - hooks/ (libcharmfs_hooks.la) is POSIX over backend/util.h: no SQLite,
#     no FUSE, no libmicrohttpd, no backend-internal header, no such symbol;
#   - the core library (libcharmfs.a) uses no fuse_ or MHD_ symbol, the HTTP
#     library no fuse_ or sqlite3_ one, and the daemon's fs/ objects no
#     sqlite3_ or MHD_ one;
#   - no cycle between the object files of the core library, nor of the
#     HTTP library (objgraph.py);
#   - hooks/ includes no SQLite, FUSE, libmicrohttpd or backend-internal
#     header, and its library uses none of their symbols and has no cycle;
#   - upgrade/ likewise, with util.h, url.h and charm.h its only backend headers.
# Run from the build directory (make check); SRCDIR is the source tree.
set -u
src=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=$(pwd)
status=0

bad() {
	echo "FAIL: $*"
	status=1
}

# Source: the files themselves.
hits=$(cd "$src" && grep -l sqlite3 fs/*.[ch] http/*.[ch] 2>/dev/null)
[ -z "$hits" ] || bad "sqlite3 named in: $hits"
hits=$(cd "$src" && grep -lE '#[[:space:]]*include[[:space:]]*[<"]fuse' \
	$(ls -d backend http hooks upgrade 2>/dev/null) -r --include='*.[ch]')
[ -z "$hits" ] || bad "a FUSE header outside fs/: $hits"
hits=$(cd "$src" && grep -lE '#[[:space:]]*include[[:space:]]*[<"]microhttpd' \
	$(ls -d backend fs hooks upgrade 2>/dev/null) -r --include='*.[ch]')
[ -z "$hits" ] || bad "a libmicrohttpd header outside http/: $hits"

hits=$(cd "$src" && grep -lE '#[[:space:]]*include[[:space:]]*"(db|store_int|counterlog|backup_int|storetree|worker)\.h"' \
	fs/*.[ch] http/*.[ch])
[ -z "$hits" ] || bad "a backend-internal header in a front end: $hits"

hits=$(cd "$src" && ls hooks/*.[ch] >/dev/null 2>&1 &&
	grep -lE 'sqlite3|#[[:space:]]*include[[:space:]]*"(db|store_int|counterlog|backup_int|storetree|worker|engine_int|charm_int)\.h"' \
		hooks/*.[ch])
[ -z "$hits" ] || bad "SQLite or a backend-internal header in hooks/: $hits"

# Build: what every object really included.
deps() { ls "$build/$1/.deps/"*.P* 2>/dev/null; }
[ -n "$(deps fs)" ] && [ -n "$(deps backend)" ] && [ -n "$(deps http)" ] ||
	bad "no dependency files under $build/{fs,backend,http}/.deps"
for f in $(deps fs) $(deps http); do
	grep -q 'sqlite3\.h' "$f" && bad "sqlite3.h reaches $(basename "$f")"
done
for f in $(deps backend); do
	grep -qE '/fuse[^/]*\.h|microhttpd\.h' "$f" && bad "a front end's header reaches $(basename "$f")"
done
for f in $(deps hooks); do
	grep -qE '/fuse[^/]*\.h|microhttpd\.h|sqlite3\.h' "$f" && bad "a library's header reaches $(basename "$f")"
done

# Symbols.
core=$build/.libs/libcharmfs.a
http=$build/.libs/libcharmfs_http.a
for lib in "$core" "$http"; do
	[ -f "$lib" ] || bad "missing $lib"
done
syms() { nm -u "$@" 2>/dev/null | awk '$1 == "U" { print $2 }'; }
hits=$(syms "$core" | grep -E '^(fuse_|MHD_)' | sort -u | head -5)
[ -z "$hits" ] || bad "the core library uses: $hits"
hits=$(syms "$http" | grep -E '^(fuse_|sqlite3_)' | sort -u | head -5)
[ -z "$hits" ] || bad "the HTTP library uses: $hits"
hooks=$build/.libs/libcharmfs_hooks.a
if [ -f "$hooks" ]; then
	hits=$(syms "$hooks" | grep -E '^(fuse_|MHD_|sqlite3_)' | sort -u | head -5)
	[ -z "$hits" ] || bad "the hooks library uses: $hits"
	python3 "$src/tests/objgraph.py" "$hooks" || bad "a cycle among the hooks library's files"
elif [ -d "$src/hooks" ]; then
	bad "missing $hooks"
fi
fsobj=$(ls "$build"/fs/charmfs-*.o 2>/dev/null)
[ -n "$fsobj" ] || bad "no fs/ objects in $build/fs"
hits=$(syms $fsobj | grep -E '^(sqlite3_|MHD_)' | sort -u | head -5)
[ -z "$hits" ] || bad "fs/ uses: $hits"

# Cycles.
python3 "$src/tests/objgraph.py" "$core" || bad "a cycle among the core library's files"
python3 "$src/tests/objgraph.py" "$http" || bad "a cycle among the HTTP library's files"

# hooks/ (libcharmfs_hooks.la): the core's rules, and no SQLite nor
# backend-internal header either (util.h is its only backend header).
hits=$(cd "$src" && grep -lE '#[[:space:]]*include[[:space:]]*[<"](sqlite3|db|store_int|counterlog|backup_int|storetree|worker)\.h"?' \
	hooks/*.[ch] 2>/dev/null)
[ -z "$hits" ] || bad "SQLite or a backend-internal header in hooks/: $hits"
for f in $(deps hooks); do
	grep -qE 'sqlite3\.h|/fuse[^/]*\.h|microhttpd\.h' "$f" && bad "a forbidden header reaches $(basename "$f")"
done
hooks=$build/.libs/libcharmfs_hooks.a
if [ -f "$hooks" ]; then
	hits=$(syms "$hooks" | grep -E '^(fuse_|MHD_|sqlite3_)' | sort -u | head -5)
	[ -z "$hits" ] || bad "the hooks library uses: $hits"
	python3 "$src/tests/objgraph.py" "$hooks" || bad "a cycle among the hooks library's files"
fi

# upgrade/ (libcharmfs_upgrade.la): the hooks/ rules, and of backend/ only
# the public util.h, url.h and charm.h (and banned.h), and for the agent the
# core API's store.h, upgstate.h, engine.h, pkg.h, evhook.h and the hook
# agent's agent.h; its own headers are its own business. No SQLite, FUSE or libmicrohttpd header or symbol.
if [ -d "$src/upgrade" ]; then
	for f in "$src"/upgrade/*.[ch]; do
		for h in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case $h in
			config.h | util.h | url.h | charm.h | banned.h | store.h | upgstate.h) ;;
			engine.h | pkg.h | evhook.h | agent.h) ;; # the agent: the core API and the hook agent
			*) [ -f "$src/upgrade/$h" ] || bad "$(basename "$f") includes $h" ;;
			esac
		done
	done
	hits=$(grep -lE 'sqlite3|#[[:space:]]*include[[:space:]]*[<"](fuse|microhttpd)' \
		"$src"/upgrade/*.[ch] 2>/dev/null)
	[ -z "$hits" ] || bad "SQLite, FUSE or libmicrohttpd in upgrade/: $hits"
	for f in $(deps upgrade); do
		grep -qE 'sqlite3\.h|/fuse[^/]*\.h|microhttpd\.h' "$f" && bad "a forbidden header reaches $(basename "$f")"
	done
	upgrade=$build/.libs/libcharmfs_upgrade.a
	if [ -f "$upgrade" ]; then
		hits=$(syms "$upgrade" | grep -E '^(fuse_|MHD_|sqlite3_)' | sort -u | head -5)
		[ -z "$hits" ] || bad "the upgrade library uses: $hits"
		python3 "$src/tests/objgraph.py" "$upgrade" || bad "a cycle among the upgrade library's files"
	else
		bad "missing $upgrade"
	fi
fi

[ $status -eq 0 ] && echo "layers: ok"
exit $status
