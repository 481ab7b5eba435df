#!/usr/bin/env python3
"""Helper servers for tests/unit/test_relclient.c, on 127.0.0.1 only.

    relserver.py static DIR             files of DIR (http.server)
    relserver.py tls DIR CERT KEY       the same over TLS
    relserver.py stall                  200 chunked, then nothing
    relserver.py slow                   200 with a Content-Length, then 64 bytes each 0.1 s
    relserver.py chunked BYTES          200 chunked (no Content-Length), BYTES bytes
    relserver.py redirect-loop          302 to itself, always
    relserver.py redirect URL           302 to URL, always

Prints its port on stdout once it listens, then serves until its stdin
closes (the test ends) or 120 seconds pass, so that no server outlives
its test.
"""
import functools
import http.server
import os
import ssl
import sys
import threading
import time


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass


class Stall(Quiet):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        while True:
            time.sleep(1)


class Slow(Quiet):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        while True:
            self.wfile.write(b"s" * 64)
            self.wfile.flush()
            time.sleep(0.1)


class Chunked(Quiet):
    size = 0

    def do_GET(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        left = self.size
        while left > 0:
            n = min(left, 16384)
            self.wfile.write(b"%x\r\n" % n + b"c" * n + b"\r\n")
            left -= n
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Redirect(Quiet):
    target = None

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.target or self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Static(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


def main():
    mode = sys.argv[1]
    args = sys.argv[2:]
    wrap = None
    if mode == "static":
        handler = functools.partial(Static, directory=args[0])
    elif mode == "tls":
        handler = functools.partial(Static, directory=args[0])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args[1], args[2])
        wrap = ctx
    elif mode == "stall":
        handler = Stall
    elif mode == "slow":
        handler = Slow
    elif mode == "chunked":
        Chunked.size = int(args[0])
        handler = Chunked
    elif mode == "redirect-loop":
        handler = Redirect
    elif mode == "redirect":
        Redirect.target = args[0]
        handler = Redirect
    else:
        sys.exit("relserver.py: unknown mode " + mode)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None
    if wrap:
        # The handshake happens in the handler's thread, not in accept().
        srv.socket = wrap.wrap_socket(srv.socket, server_side=True,
                                      do_handshake_on_connect=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    threading.Timer(120, lambda: os._exit(1)).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
