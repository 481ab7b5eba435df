#!/bin/bash
# Benchmark of the HTTP API (-o http) against nginx on 127.0.0.1:
#   1. download throughput of a 100 MiB archive (/charm/precise/wordpress),
#      nginx serving the same bytes from disk (sendfile on);
#   2. requests/s of /charm-info?charms=cs:precise/wordpress&stats=0,
#      nginx serving the same JSON as a static file;
#   3. requests/s of the same /charm-info with counting on (for reference).
# Prints each figure and the ratios (targets: download >= 0.8, charm-info >= 0.5).
#
# Needs wrk, nginx, zip, curl, python3. CHARMFS names the daemon; before the
# daemon starts the server itself, HTTPD_CMD may name a stand-in run as
# `$HTTPD_CMD STOREDIR 127.0.0.1:PORT ARCHIVE URL` that publishes then serves.
# nginx runs on a private configuration in a temporary directory and is
# stopped at the end. Durations: BENCH_SECONDS (10), connections: BENCH_CONNS (64).
set -u

: "${BENCH_SECONDS:=10}"
: "${BENCH_CONNS:=64}"
for tool in wrk nginx zip curl python3; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 77; }
done
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

T=$(mktemp -d "${TMPDIR:-/tmp}/charmfs-bench.XXXXXX")
chmod 755 "$T"
SERVER_PID= NGINX_PID= MNT=$T/mnt
cleanup() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	if [ -n "$SERVER_PID" ]; then
		if [ -z "${HTTPD_CMD:-}" ]; then
			fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
		else
			kill "$SERVER_PID" 2>/dev/null
		fi
		wait "$SERVER_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
	for _ in $(seq 1 800); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.025
	done
	echo "bench: $1 does not answer" >&2
	exit 1
}

# A 100 MiB charm: the wordpress sample plus incompressible data, stored (zip -0).
cp -a "$SRCDIR/tests/data/charms/wordpress" "$T/big"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/big/data.bin"
(cd "$T/big" && zip -0 -qry "$T/big.charm" .)

PORT=$(free_port)
B=http://127.0.0.1:$PORT
if [ -n "${HTTPD_CMD:-}" ]; then
	$HTTPD_CMD "$T/store" "127.0.0.1:$PORT" "$T/big.charm" cs:precise/wordpress 2>"$T/server.log" &
	SERVER_PID=$!
	wait_http "$B/charm-info"
else
	: "${CHARMFS:?CHARMFS must name the charmfs binary}"
	mkdir -p "$MNT"
	"$CHARMFS" -f -o "http=127.0.0.1:$PORT" "$T/store" "$MNT" 2>"$T/server.log" &
	SERVER_PID=$!
	wait_http "$B/charm-info"
	cp "$T/big.charm" "$MNT/publish/precise/wordpress.charm" || exit 1
fi

INFO="/charm-info?charms=cs%3Aprecise%2Fwordpress&stats=0"
mkdir -p "$T/www/charm/precise"
curl -sf -o "$T/www/charm/precise/wordpress" "$B/charm/precise/wordpress" || exit 1
curl -sf -o "$T/www/charm-info" "$B$INFO" || exit 1
echo "archive: $(stat -c %s "$T/www/charm/precise/wordpress") bytes; charm-info body: $(cat "$T/www/charm-info")"

NPORT=$(free_port)
mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes auto;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	server {
		listen 127.0.0.1:$NPORT;
		root $T/www;
		location = /charm-info { default_type application/json; }
		location /charm/ { default_type application/octet-stream; }
	}
}
EOF
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" &
NGINX_PID=$!
N=http://127.0.0.1:$NPORT
wait_http "$N/charm-info"

# wrk_run URL CONNS: prints "requests/s bytes/s".
wrk_run() {
	wrk -t2 -c"$2" -d"${BENCH_SECONDS}s" "$1" >"$T/wrk.out" 2>&1
	python3 - "$T/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", t).group(1))
m = re.search(r"Transfer/sec:\s*([\d.]+)([KMG]?B)", t)
mult = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[m.group(2)]
errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", t)
if errs:
    print("wrk reported errors:", errs.group(0), file=sys.stderr)
print(f"{rps:.1f} {float(m.group(1)) * mult:.0f}")
PY
}

read -r _ dl_ours <<<"$(wrk_run "$B/charm/precise/wordpress?stats=0" 8)"
read -r _ dl_nginx <<<"$(wrk_run "$N/charm/precise/wordpress" 8)"
read -r info_ours _ <<<"$(wrk_run "$B$INFO" "$BENCH_CONNS")"
read -r info_nginx _ <<<"$(wrk_run "$N/charm-info" "$BENCH_CONNS")"
read -r info_counted _ <<<"$(wrk_run "$B/charm-info?charms=cs%3Aprecise%2Fwordpress" "$BENCH_CONNS")"

python3 - "$dl_ours" "$dl_nginx" "$info_ours" "$info_nginx" "$info_counted" <<'PY'
import sys
dl_o, dl_n, in_o, in_n, in_c = map(float, sys.argv[1:])
mib = 1024 * 1024
print(f"download   charmfs {dl_o / mib:9.1f} MiB/s   nginx {dl_n / mib:9.1f} MiB/s   ratio {dl_o / dl_n:.2f} (target 0.80)")
print(f"charm-info charmfs {in_o:9.1f} req/s   nginx {in_n:9.1f} req/s   ratio {in_o / in_n:.2f} (target 0.50)")
print(f"charm-info with counting: {in_c:.1f} req/s")
PY
