/*
 * The HTTP server: its lifecycle, the listening socket, resource limits,
 * routing by path and per-request state. The replies every handler uses
 * are in reply.c.
 *
 * libmicrohttpd runs a fixed pool of threads, each with its own epoll set
 * and share of the connections; a handler never blocks on the network (a
 * download is handed to MHD as a file descriptor and sent with sendfile),
 * so a slow client costs a connection slot and its memory pool, never a
 * thread. Connections, connections per client address, the memory per
 * connection (request line and headers) and idle time are all capped by
 * http_opts; request bodies are counted, dropped, and refused past
 * max_body with 413.
 *
 * The listening socket is made here rather than by MHD, so that a failure
 * (address in use, bad address) reaches the user with its errno, and so
 * that port 0 can be asked for and then reported.
 *
 * Downloads are counted in the completion callback, only when MHD reports
 * the response sent in full (MHD_REQUEST_TERMINATED_COMPLETED_OK): an
 * aborted transfer or a HEAD does not count (SPEC §4.11).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "banned.h"

#define CHARM_PREFIX "/charm/"
#define STATS_PREFIX "/stats/counter/"
#define RELEASES_PREFIX "/releases/"
#define BLITZ_PATH "/mu-35700a31-6bf320ca-a800b670-05f845ee"
/* Pool bytes MHD spends per query parameter (its header record), rounded up. */
#define PARAM_COST 64
#define LOG_INTERVAL 10
/*
 * Seconds within which a request's headers must be complete (from a new
 * connection, or from the end of the previous response on a kept-alive
 * one), however slowly they come (the watchdog below), so that clients
 * which send nothing or half a header cannot hold connections; from
 * complete headers to the end of the response, opts.timeout of idleness
 * applies.
 */
#define HEADER_TIMEOUT 10

void http_opts_default(struct http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stats = true;
	o->max_connections = 1024;
	o->max_per_ip = 512;
	o->timeout = 30;
	o->conn_memory = 64 * 1024;
	o->max_body = 64 * 1024;
	o->listen_fd = -1;
}

/* ---- dispatch ------------------------------------------------------------- */

static enum MHD_Result route(struct http_server *hs, struct http_req *rq,
			     struct MHD_Connection *c, const char *path)
{
	if (strcmp(path, "/") == 0)
		return http_reply_redirect(c, "https://juju.ubuntu.com");
	if (strcmp(path, "/charm-info") == 0)
		return http_serve_info(hs, c);
	if (strcmp(path, "/charm-event") == 0)
		return http_serve_event(hs, c);
	if (strncmp(path, CHARM_PREFIX, strlen(CHARM_PREFIX)) == 0)
		return http_serve_charm(hs, rq, c, path + strlen(CHARM_PREFIX));
	if (strncmp(path, STATS_PREFIX, strlen(STATS_PREFIX)) == 0)
		return http_serve_stats(hs, c, path + strlen(STATS_PREFIX));
	if (strncmp(path, RELEASES_PREFIX, strlen(RELEASES_PREFIX)) == 0)
		return http_serve_releases(hs, rq, c, path + strlen(RELEASES_PREFIX));
	if (strcmp(path, BLITZ_PATH) == 0)
		return http_reply_blitz(c);
	return http_reply_not_found(c);
}

/*
 * Called with the raw request target, before MHD parses its query into the
 * connection's memory pool: the request's state starts here. A %00 would be
 * cut silently by MHD's decoding; a query whose parameters would not fit
 * the pool (MHD 0.9 then stalls the connection until its timeout) is cut
 * off here, in MHD's buffer, so that it is not parsed, and refused with 414.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_server *hs = cls;
	struct http_req *rq = calloc(1, sizeof(*rq));
	char *q = strchr(uri, '?');
	size_t n = 1;

	(void)c;
	if (!rq)
		return NULL;
	rq->nul = strstr(uri, "%00") != NULL;
	if (q) {
		for (const char *p = q; *p; p++)
			n += *p == '&';
		if (strlen(uri) + n * PARAM_COST > hs->opts.conn_memory / 2) {
			rq->too_many = true;
			q[1] = '\0'; /* MHD's own copy of the line, which it parses next */
		}
	}
	return rq;
}

/* The first (headers) call: refusals that need no body, before any 100 Continue. */
static enum MHD_Result on_headers(struct http_server *hs, struct http_req *rq,
				  struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t len;

	if (rq->too_many) {
		rq->started = true;
		return http_reply_text(c, MHD_HTTP_URI_TOO_LONG, HTTP_TEXT_TYPE,
				       "request target too long\n");
	}
	if (rq->nul) {
		rq->started = true;
		return http_reply_text(c, MHD_HTTP_BAD_REQUEST, HTTP_TEXT_TYPE,
				       "%00 in the request target\n");
	}
	if (cl && parse_u64(cl, &len) == 0 && len > hs->opts.max_body) {
		rq->started = rq->too_large = true;
		return http_reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, HTTP_TEXT_TYPE,
				       "request body too large\n");
	}
	return MHD_YES;
}

static unsigned header_timeout(const struct http_opts *o)
{
	return o->timeout < HEADER_TIMEOUT ? o->timeout : HEADER_TIMEOUT;
}

/* ---- the header deadline --------------------------------------------------- */

/*
 * libmicrohttpd's timeout is for idleness: a client sending a header byte
 * every few seconds would hold its connection for ever. Every connection
 * is watched from its start, and from the end of each response, until its
 * next request's headers are complete; a watchdog thread shuts down the
 * socket of one that took longer than header_timeout(), and libmicrohttpd
 * then closes it as it would any connection its client dropped.
 */
struct conn_watch {
	int fd;
	bool waiting;        /* for the headers of a request */
	bool shut;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	struct conn_watch *prev, *next;
};

static void watch_arm(struct http_server *hs, struct conn_watch *w)
{
	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	w->deadline.tv_sec += header_timeout(&hs->opts);
	w->waiting = true;
}

static struct conn_watch *watch_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *hs = cls;
	struct conn_watch *w = *socket_context;
	const union MHD_ConnectionInfo *ci;

	pthread_mutex_lock(&hs->watch_lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		w = ci ? calloc(1, sizeof(*w)) : NULL;
		if (w) {
			w->fd = ci->connect_fd;
			watch_arm(hs, w);
			w->next = hs->watched;
			if (w->next)
				w->next->prev = w;
			hs->watched = w;
		}
		*socket_context = w;
	} else if (w) {
		/* Before libmicrohttpd closes the socket: the watchdog never touches a reused fd. */
		if (w->prev)
			w->prev->next = w->next;
		else
			hs->watched = w->next;
		if (w->next)
			w->next->prev = w->prev;
		free(w);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&hs->watch_lock);
}

static void watch_set(struct http_server *hs, struct MHD_Connection *c, bool waiting)
{
	struct conn_watch *w = watch_of(c);

	if (!w)
		return;
	pthread_mutex_lock(&hs->watch_lock);
	if (waiting)
		watch_arm(hs, w);
	else
		w->waiting = false;
	pthread_mutex_unlock(&hs->watch_lock);
}

static bool passed(const struct timespec *now, const struct timespec *t)
{
	return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

static void *watchdog_main(void *arg)
{
	struct http_server *hs = arg;
	struct timespec now, wake;

	pthread_mutex_lock(&hs->watch_lock);
	while (!hs->watch_stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (struct conn_watch *w = hs->watched; w; w = w->next) {
			if (w->waiting && !w->shut && passed(&now, &w->deadline)) {
				(void)shutdown(w->fd, SHUT_RDWR);
				w->shut = true;
			}
		}
		wake = now;
		wake.tv_nsec += 250 * 1000000L;
		if (wake.tv_nsec >= 1000000000L) {
			wake.tv_sec++;
			wake.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&hs->watch_cond, &hs->watch_lock, &wake);
	}
	pthread_mutex_unlock(&hs->watch_lock);
	return NULL;
}

static int watchdog_start(struct http_server *hs)
{
	pthread_condattr_t ca;
	int r;

	pthread_mutex_init(&hs->watch_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hs->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
	r = -pthread_create(&hs->watchdog, NULL, watchdog_main, hs);
	hs->watchdog_running = r == 0;
	return r;
}

static void watchdog_stop(struct http_server *hs)
{
	pthread_mutex_lock(&hs->watch_lock);
	hs->watch_stop = true;
	pthread_cond_broadcast(&hs->watch_cond);
	pthread_mutex_unlock(&hs->watch_lock);
	if (hs->watchdog_running)
		pthread_join(hs->watchdog, NULL);
	pthread_mutex_destroy(&hs->watch_lock);
	pthread_cond_destroy(&hs->watch_cond);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *path,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_server *hs = cls;
	struct http_req *rq = *con_cls;

	(void)version;
	if (!rq)
		return MHD_NO; /* on_uri had no memory */
	if (!rq->seen) {
		rq->seen = true;
		watch_set(hs, c, false);
		(void)MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, hs->opts.timeout);
		rq->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
		return on_headers(hs, rq, c);
	}
	if (*upload_data_size) {
		/* A body without Content-Length (chunked): counted, dropped, refused at its end. */
		(void)upload_data;
		rq->body += *upload_data_size;
		*upload_data_size = 0;
		if (rq->body > hs->opts.max_body)
			rq->too_large = true;
		return MHD_YES;
	}
	if (rq->started)
		return MHD_YES;
	rq->started = true;
	if (rq->too_large)
		return http_reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, HTTP_TEXT_TYPE,
				       "request body too large\n");
	return route(hs, rq, c, path);
}


static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *hs = cls;
	struct http_req *rq = *con_cls;

	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		(void)MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
						header_timeout(&hs->opts));
		watch_set(hs, c, true);
	}
	if (!rq)
		return;
	if (rq->count_bundle && !rq->head && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		http_count(hs, STORE_COUNT_BUNDLE, &rq->bundle_url);
	free(rq);
	*con_cls = NULL;
}

/* ---- the listening socket -------------------------------------------------- */

/* Splits ADDR:PORT, [V6]:PORT, :PORT or PORT into host and port strings. */
static int split_addr(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *h = "127.0.0.1";
	size_t hlen = strlen(h);
	uint64_t p;

	if (s[0] == '[') {
		const char *end = strstr(s, "]:");
		if (!end)
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else if ((colon = strrchr(s, ':'))) {
		if (colon != s) {
			h = s;
			hlen = (size_t)(colon - s);
		}
		if (memchr(h, ':', hlen))
			return -EINVAL;
	}
	if (hlen == 0 || hlen >= hostlen)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	s = colon ? colon + 1 : s;
	if (parse_u64(s, &p) < 0 || p > 65535 || strlen(s) >= portlen)
		return -EINVAL;
	memcpy(port, s, strlen(s) + 1);
	return 0;
}

static int listen_on(const char *addr_port, int *ret_fd, int *ret_port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	int fd = -1, one = 1, r, gai;

	if (split_addr(addr_port, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "http: bad address \"%s\": use ADDR:PORT, [ADDR]:PORT or PORT",
			 addr_port);
		return -EINVAL;
	}
	gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		snprintf(err, errlen, "http: %s: %s", host, gai_strerror(gai));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "http: cannot listen on %s: %s", addr_port, strerror(-r));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	*ret_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	*ret_fd = fd;
	return 0;
}

int http_listen(const char *addr_port, int *ret_fd, char *err, size_t errlen)
{
	int port;

	return listen_on(addr_port, ret_fd, &port, err, errlen);
}

/* The port of a listening socket from http_listen(). */
static int socket_port(int fd, int *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	*ret_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

static unsigned pool_size(const struct http_opts *o)
{
	long n;

	if (o->threads)
		return o->threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 2 ? 2 : n > 16 ? 16 : (unsigned)n;
}

/* The connection cap: the option, or a quarter of the descriptors left to the process. */
static unsigned connection_cap(const struct http_opts *o)
{
	struct rlimit rl;
	rlim_t q;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return o->max_connections;
	q = rl.rlim_cur / 4;
	return q < o->max_connections ? (unsigned)(q ? q : 1) : o->max_connections;
}

/* MHD's messages to opts.log, at most one per LOG_INTERVAL seconds. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *hs = cls;
	struct timespec now;
	char msg[512];
	size_t len;

	if (!hs->opts.log)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&hs->log_lock);
	if (hs->log_last && now.tv_sec - hs->log_last < LOG_INTERVAL) {
		hs->log_dropped++;
		pthread_mutex_unlock(&hs->log_lock);
		return;
	}
	len = (size_t)snprintf(msg, sizeof(msg), "http: ");
	vsnprintf(msg + len, sizeof(msg) - len, fmt, ap);
	len = strcspn(msg, "\n");
	if (hs->log_dropped)
		snprintf(msg + len, sizeof(msg) - len, " (and %u more messages)", hs->log_dropped);
	else
		msg[len] = '\0';
	hs->log_dropped = 0;
	hs->log_last = now.tv_sec ? now.tv_sec : 1;
	hs->opts.log(hs->opts.log_ud, msg);
	pthread_mutex_unlock(&hs->log_lock);
}

int http_start(struct store *s, const char *addr_port, const struct http_opts *o,
	       struct http_server **ret, char *err, size_t errlen)
{
	struct http_server *hs;
	int fd = -1, r;

	if (!o->max_connections || !o->conn_memory || !o->timeout) {
		snprintf(err, errlen, "http: connection limits must be positive");
		if (o->listen_fd >= 0)
			close(o->listen_fd);
		return -EINVAL;
	}
	hs = calloc(1, sizeof(*hs));
	if (!hs) {
		if (o->listen_fd >= 0)
			close(o->listen_fd);
		return -ENOMEM;
	}
	hs->store = s;
	hs->opts = *o;
	hs->max_connections = connection_cap(o);
	if (hs->max_connections < pool_size(o))
		hs->max_connections = pool_size(o); /* MHD needs one per thread */
	pthread_mutex_init(&hs->log_lock, NULL);
	if (o->listen_fd >= 0) {
		fd = o->listen_fd;
		r = socket_port(fd, &hs->port);
		if (r < 0) {
			snprintf(err, errlen, "http: %s: %s", addr_port, strerror(-r));
			close(fd);
		}
	} else {
		r = listen_on(addr_port, &fd, &hs->port, err, errlen);
	}
	if (r < 0) {
		pthread_mutex_destroy(&hs->log_lock);
		free(hs);
		return r;
	}
	r = watchdog_start(hs);
	if (r < 0) {
		snprintf(err, errlen, "http: cannot start its watchdog: %s", strerror(-r));
		close(fd);
		pthread_mutex_destroy(&hs->log_lock);
		free(hs);
		return r;
	}
	hs->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, hs, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, hs,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, hs, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, pool_size(o), MHD_OPTION_CONNECTION_LIMIT,
		hs->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, header_timeout(o), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		o->conn_memory, MHD_OPTION_NOTIFY_COMPLETED, on_completed, hs,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, hs, MHD_OPTION_END);
	if (!hs->daemon) {
		watchdog_stop(hs);
		/* MHD may or may not have closed fd on its way out; leave it rather than risk
		 * closing a descriptor another thread has since been given. */
		snprintf(err, errlen, "http: cannot start the server on %s", addr_port);
		pthread_mutex_destroy(&hs->log_lock);
		free(hs);
		return -EIO;
	}
	*ret = hs;
	return 0;
}

int http_port(const struct http_server *hs)
{
	return hs->port;
}

void http_stop(struct http_server *hs)
{
	if (!hs)
		return;
	MHD_stop_daemon(hs->daemon);
	watchdog_stop(hs);
	pthread_mutex_destroy(&hs->log_lock);
	free(hs);
}
