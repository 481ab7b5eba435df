/*
 * The original charm store's HTTP API (SPEC §4.11), served from the store
 * by libmicrohttpd on its own threads: /charm-info, /charm-event,
 * /charm/PATH downloads (with ETag, Range and HEAD) and /stats/counter/KEY.
 *
 * Calling sequence:
 *   http_opts_default(&o); o.stats = ...;
 *   http_start(store, "127.0.0.1:8080", &o, &srv, err, sizeof(err));
 *   ... the server answers on its own threads ...
 *   http_stop(srv);        before store_close()
 *
 * Resources are bounded by the options: connections in total and per
 * client address, memory per connection (which bounds the request line and
 * headers), request bodies, idle time, and a fixed pool of threads, each
 * multiplexing its connections with epoll, so slow clients cannot take
 * every thread.
 */
#ifndef CHARMFS_HTTP_H
#define CHARMFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"
#include "util.h"

struct http_server;

struct http_opts {
	bool stats;                   /* count as the original did (-o stats) */
	unsigned threads;             /* polling threads; 0: one per CPU, 2 to 16 */
	unsigned max_connections;     /* in total */
	unsigned max_per_ip;          /* per client address; 0: no limit */
	unsigned timeout;             /* seconds a connection may stay idle */
	size_t conn_memory;           /* bytes per connection: request line + headers */
	size_t max_body;              /* request body bytes accepted (and dropped) */
	/* MHD's own messages (accept failures...), at most one per 10 s; NULL: none. */
	void (*log)(void *ud, const char *msg);
	void *log_ud;
	/*
	 * A socket from http_listen() to serve on (addr_port then only names it
	 * in messages), or -1: http_start() makes its own. http_start() takes
	 * it over whatever it returns.
	 */
	int listen_fd;
};

/* stats on, 1024 connections, 512 per address, 30 s, 64 KiB, 64 KiB, no log, no socket. */
void http_opts_default(struct http_opts *o);

/*
 * Starts serving s on addr_port: "ADDR:PORT", "[V6ADDR]:PORT", ":PORT" or
 * "PORT" (the last two bind 127.0.0.1); PORT 0 picks a free port (see
 * http_port()). s must outlive the server. Returns 0, -EINVAL for a bad
 * address or option, or the errno of socket/bind/listen (-EADDRINUSE...),
 * with a message for the user in err.
 *
 * The connection cap is max_connections or a quarter of the RLIMIT_NOFILE
 * soft limit found at the call, whichever is lower (a connection may hold a
 * socket and an archive), so that the rest of the process keeps descriptors.
 */
int http_start(struct store *s, const char *addr_port, const struct http_opts *o,
	       struct http_server **ret, char *err, size_t errlen) WUR;

/*
 * Makes the listening socket for addr_port (as http_start() would) without
 * serving yet, so that a daemon can report a bad or busy address before it
 * creates or opens anything; pass it in http_opts.listen_fd. Returns 0, or
 * -EINVAL / the errno of socket/bind/listen with a message in err.
 */
int http_listen(const char *addr_port, int *ret_fd, char *err, size_t errlen) WUR;

/* The TCP port the server listens on. */
int http_port(const struct http_server *hs);

/*
 * Stops accepting, closes every connection and waits for the server's
 * threads. Accepts NULL.
 */
void http_stop(struct http_server *hs);

#endif
