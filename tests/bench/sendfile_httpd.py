#!/usr/bin/env python3
"""A small static file server for tests/bench/upgrade.sh, on 127.0.0.1.

    sendfile_httpd.py sendfile DIR     files of DIR, each body sent with sendfile(2)
    sendfile_httpd.py httpserver DIR   files of DIR through http.server's own copy
                                       loop (what `python3 -m http.server` does)

Both answer GET and HEAD with HTTP/1.1, a Content-Length and keep-alive, so
that the two clients compared by the benchmark get the same responses. The
first mode leaves the copying to the kernel, so that the server is not what
limits a download; the second is there to show how much the usual
`python3 -m http.server` would limit it.

Prints its port on stdout once it listens, then serves until its stdin
closes (the benchmark ends) or BENCH_SERVER_SECONDS (600) pass, so that no
server outlives its benchmark.
"""
import functools
import http.server
import os
import sys
import threading


class Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass


class Sendfile(Quiet):
    """send_head() opens the file and sends the headers; the body goes by sendfile."""

    def do_GET(self):
        f = self.send_head()
        if not f:
            return
        try:
            self.wfile.flush()
            self.connection.sendfile(f)
        finally:
            f.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("sendfile", "httpserver"):
        sys.exit("usage: sendfile_httpd.py sendfile|httpserver DIR")
    cls = Sendfile if sys.argv[1] == "sendfile" else Quiet
    handler = functools.partial(cls, directory=sys.argv[2])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    limit = int(os.environ.get("BENCH_SERVER_SECONDS", "600"))
    threading.Timer(limit, lambda: os._exit(1)).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
