/*
 * Shared between the files of the HTTP front end (not part of its API):
 * the server, the per-request state, reply helpers and the handlers.
 * Calls go one way: http.c (the server and its routing) -> api.c,
 * releases.c and download.c (the handlers; releases.c sends its archives
 * with download.c's http_send_file()) -> reply.c -> the core API (store.h,
 * storestate.h, query.h, and upgrade/serve.h for /releases/).
 *
 * Every handler queues exactly one response on the connection and returns
 * what MHD_queue_response() returned (MHD_NO closes the connection).
 */
#ifndef CHARMFS_HTTP_INTERNAL_H
#define CHARMFS_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include <microhttpd.h>

#include "http.h"
#include "store.h"
#include "storestate.h"
#include "url.h"

struct http_server {
	struct store *store;
	struct http_opts opts;
	struct MHD_Daemon *daemon;
	int port;
	unsigned max_connections;    /* opts' cap, lowered below RLIMIT_NOFILE */
	pthread_mutex_t log_lock;    /* MHD's messages, rate-limited */
	time_t log_last;
	unsigned log_dropped;
	/* The header deadline's watchdog (http.c): connections awaiting headers. */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond;
	struct conn_watch *watched;
	pthread_t watchdog;
	bool watchdog_running, watch_stop;
};

/* One request, from its headers to MHD's completion notice. */
struct http_req {
	bool seen;            /* the handler had its first (headers) call */
	bool head;            /* HEAD: headers only, never counted */
	bool started;         /* the request was routed (or refused) */
	bool nul;             /* %00 in the request target */
	bool too_many;        /* the query would not fit the connection's memory */
	bool too_large;       /* the body went past max_body */
	size_t body;          /* body bytes seen (and dropped) */
	bool count_bundle;    /* count bundle_url when the body was sent in full */
	struct url bundle_url;
};

#define HTTP_TEXT_TYPE "text/plain; charset=utf-8"

/* ---- reply.c: replies, counting, resolution (calls nothing else of http/) ---- */

/* Queues status with a body the response takes (free()d by MHD). */
enum MHD_Result http_reply_take(struct MHD_Connection *c, unsigned status, const char *ctype,
				char *body, size_t len);
/* Queues status with a copy of text (may be "" for an empty body). */
enum MHD_Result http_reply_text(struct MHD_Connection *c, unsigned status, const char *ctype,
				const char *text);
/* 404 with the original's body (Go's http.NotFound). */
enum MHD_Result http_reply_not_found(struct MHD_Connection *c);
/* 303 to location, with the original's body. */
enum MHD_Result http_reply_redirect(struct MHD_Connection *c, const char *location);
/* The blitz.io verification answer ("42", Connection: close). */
enum MHD_Result http_reply_blitz(struct MHD_Connection *c);

/* Whether this request may count: -o stats and no stats=0 in the query. */
bool http_stats_enabled(const struct http_server *hs, struct MHD_Connection *c);
/*
 * Adds 1 to kind:series:name[:user] for u. Failures are dropped, as the
 * original dropped them; counting never fails a request.
 */
void http_count(struct http_server *hs, enum store_count_kind kind, const struct url *u);

/* Resolves the series of u in place when it has none: 0 or -ENOENT/-EIO. */
int http_resolve(struct http_server *hs, struct url *u);

/* ---- api.c and download.c: the handlers (they call reply.c only) ---- */

enum MHD_Result http_serve_info(struct http_server *hs, struct MHD_Connection *c);
enum MHD_Result http_serve_event(struct http_server *hs, struct MHD_Connection *c);
enum MHD_Result http_serve_stats(struct http_server *hs, struct MHD_Connection *c,
				 const char *key);
enum MHD_Result http_serve_charm(struct http_server *hs, struct http_req *rq,
				 struct MHD_Connection *c, const char *path);

/* An open file to download, for http_send_file(). */
struct http_file {
	int fd;			 /* taken: closed whatever happens */
	uint64_t size;		 /* its size (fstat) */
	const char *etag;	 /* a strong entity tag, quoted: "\"...\"" */
	const char *disposition; /* Content-Disposition, or NULL for none */
};
/*
 * Queues the download of f as SPEC §4.11 asks of every download (download.c):
 * If-Match (412) and If-None-Match (304) against f->etag, one byte Range
 * (206, or 416) with If-Range, HEAD (headers only), the body sent from the
 * descriptor with sendfile. *ret_full is set when the answer is the whole
 * body with 200, what a counted download counts once it is sent in full.
 */
enum MHD_Result http_send_file(struct MHD_Connection *c, bool head, const struct http_file *f,
			       bool *ret_full);

/*
 * /releases/PATH (releases.c; PATH is what follows "/releases/"): the
 * release publisher protocol over upgrade/serve.h: `versions`, `latest`,
 * `VERSION` (application/json) and `VERSION/release` (http_send_file()).
 * 404 for anything else or a version that is not served; 500 with the
 * message as text for a store failure or a bad signature file.
 */
enum MHD_Result http_serve_releases(struct http_server *hs, struct http_req *rq,
				    struct MHD_Connection *c, const char *path);

#endif
