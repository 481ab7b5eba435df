/*
 * The hook tool server (toolsrv.h): a Unix stream socket (non-blocking)
 * and HOOK_TOOLSRV_WORKERS long-lived threads that each wait for it, accept
 * a connection and serve it. Long-lived, because the ops read the store,
 * whose database connections are per thread: a thread per call would open
 * one per call (that was 0.6 ms of a config-get's 0.7). Each connection
 * carries one length-prefixed JSON request and gets one reply; the tool's
 * work is toolcmd.c's.
 *
 * Authentication has two steps. The kernel's SO_PEERCRED says who connected:
 * only the daemon's own uid or root may talk to it (a hook runs as the
 * daemon's user). Then the request's context id must be one that
 * hook_toolsrv_context_add() handed out and that was not removed yet: the id
 * is 128 random bits, known only to the hook's processes (its environment),
 * and it binds the call to one unit, so a hook can act only on its own
 * package, and only while it runs.
 *
 * Untrusted input is bounded everywhere: the length prefix is checked
 * against HOOK_TOOL_MSG_MAX before any byte of the body is read, a
 * connection must send its request within HOOK_TOOLSRV_TIMEOUT seconds,
 * and the decoder (hook_tool_request_parse(), also the fuzz target's entry)
 * limits every string and the argument count. Replies are sent with
 * MSG_NOSIGNAL, so a caller that went away never raises SIGPIPE in the
 * daemon.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "toolcmd.h"
#include "toolsrv.h"
#include "banned.h"

struct context {
	char id[HOOK_CONTEXT_ID_SIZE];
	char *unit;
	char *hook;
};

struct hook_toolsrv {
	char *address;
	bool is_path;
	int fd;
	int wake[2];
	pthread_t threads[HOOK_TOOLSRV_WORKERS];
	size_t n_threads;
	uid_t uid;
	const struct hook_tool_ops *ops;
	void *ud;

	pthread_mutex_t mu; /* guards what follows */
	struct context *ctx;
	size_t nctx, capctx;
};

/* ---- the request decoder ------------------------------------------------- */

void hook_tool_request_free(struct hook_tool_request *req)
{
	if (!req)
		return;
	free(req->context);
	free(req->command);
	free(req->cwd);
	strv_clear(&req->args);
	free(req);
}

/* A member that must be a string without NUL bytes of at most max bytes (min 1 when nonempty). */
static int get_string(json_t *root, const char *name, size_t max, bool nonempty, char **ret,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(root, name);
	const char *s = json_string_value(v);

	if (!s)
		return errf(err, errlen, -EBADMSG, "%s is not a string", name);
	if (strlen(s) != json_string_length(v) || json_string_length(v) > max ||
	    (nonempty && !*s))
		return errf(err, errlen, -EBADMSG, "%s %s", name,
			    !*s ? "is empty" : "is too long or holds a NUL byte");
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int hook_tool_request_parse(const char *buf, size_t len, struct hook_tool_request **ret,
			    char *err, size_t errlen)
{
	struct hook_tool_request *req = NULL;
	json_error_t jerr;
	json_t *root, *args, *v;
	size_t i;
	int r;

	if (len > HOOK_TOOL_MSG_MAX)
		return errf(err, errlen, -EBADMSG, "request too large");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return errf(err, errlen, -EBADMSG, "request is not JSON: %s", jerr.text);
	r = errf(err, errlen, -EBADMSG, "request is not a JSON object");
	if (!json_is_object(root))
		goto out;
	r = -ENOMEM;
	req = calloc(1, sizeof(*req));
	if (!req)
		goto out;
	r = get_string(root, "context", HOOK_TOOL_NAME_MAX, true, &req->context, err, errlen);
	if (r == 0)
		r = get_string(root, "command", HOOK_TOOL_NAME_MAX, true, &req->command, err,
			       errlen);
	if (r == 0)
		r = get_string(root, "cwd", HOOK_TOOL_CWD_MAX, true, &req->cwd, err, errlen);
	if (r < 0)
		goto out;
	r = errf(err, errlen, -EBADMSG, "Dir is not absolute");
	if (req->cwd[0] != '/')
		goto out;
	args = json_object_get(root, "args");
	r = errf(err, errlen, -EBADMSG, "args is not an array of at most %d strings",
		 HOOK_TOOL_ARGS_MAX);
	if (!json_is_array(args) || json_array_size(args) > HOOK_TOOL_ARGS_MAX)
		goto out;
	json_array_foreach(args, i, v) {
		const char *s = json_string_value(v);
		r = errf(err, errlen, -EBADMSG, "argument %zu is not a string without NUL bytes", i);
		if (!s || strlen(s) != json_string_length(v))
			goto out;
		r = strv_push(&req->args, s);
		if (r < 0)
			goto out;
	}
	*ret = TAKE_PTR(req);
	r = 0;
out:
	hook_tool_request_free(req);
	json_decref(root);
	return r;
}

/* ---- contexts ---------------------------------------------------------------- */

int hook_toolsrv_context_add(struct hook_toolsrv *srv, const char *unit, const char *hook,
			     char ret_id[HOOK_CONTEXT_ID_SIZE])
{
	unsigned char raw[(HOOK_CONTEXT_ID_SIZE - 1) / 2];
	struct context c = { 0 };
	ssize_t n;
	int r = 0;

	if (!unit || !*unit)
		return -EINVAL;
	do
		n = getrandom(raw, sizeof(raw), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(raw))
		return -EIO;
	hex_encode(raw, sizeof(raw), c.id);
	c.unit = strdup(unit);
	c.hook = strdup(hook ? hook : "");
	if (!c.unit || !c.hook) {
		free(c.unit);
		free(c.hook);
		return -ENOMEM;
	}
	pthread_mutex_lock(&srv->mu);
	if (srv->nctx == srv->capctx) {
		size_t ncap = srv->capctx ? 2 * srv->capctx : 8;
		struct context *v = reallocarray(srv->ctx, ncap, sizeof(*v));
		if (v) {
			srv->ctx = v;
			srv->capctx = ncap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0)
		srv->ctx[srv->nctx++] = c;
	pthread_mutex_unlock(&srv->mu);
	if (r < 0) {
		free(c.unit);
		free(c.hook);
		return r;
	}
	memcpy(ret_id, c.id, HOOK_CONTEXT_ID_SIZE);
	return 0;
}

void hook_toolsrv_context_remove(struct hook_toolsrv *srv, const char *id)
{
	pthread_mutex_lock(&srv->mu);
	for (size_t i = 0; i < srv->nctx; i++) {
		if (strcmp(srv->ctx[i].id, id) != 0)
			continue;
		free(srv->ctx[i].unit);
		free(srv->ctx[i].hook);
		srv->ctx[i] = srv->ctx[--srv->nctx];
		break;
	}
	pthread_mutex_unlock(&srv->mu);
}

/* A copy of the unit of context id (caller frees), or NULL (unknown id, or ENOMEM). */
static char *context_unit(struct hook_toolsrv *srv, const char *id, bool *ret_known)
{
	char *unit = NULL;

	*ret_known = false;
	pthread_mutex_lock(&srv->mu);
	for (size_t i = 0; i < srv->nctx; i++) {
		if (strcmp(srv->ctx[i].id, id) == 0) {
			*ret_known = true;
			unit = strdup(srv->ctx[i].unit);
			break;
		}
	}
	pthread_mutex_unlock(&srv->mu);
	return unit;
}

/* ---- one connection ---------------------------------------------------------- */

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t k = recv(fd, c, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ECONNRESET;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_full(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Sends {"code","stdout","stderr"}; an encoding too large becomes an error reply. */
static int send_reply(int fd, int code, const char *out, size_t outlen, const char *errtext,
		      size_t errlen)
{
	json_t *o = json_object();
	char *text = NULL;
	unsigned char hdr[4];
	size_t n;
	int r = -ENOMEM;

	if (!o || json_object_set_new(o, "code", json_integer(code)) < 0 ||
	    json_object_set_new(o, "stdout", json_text(out, outlen)) < 0 ||
	    json_object_set_new(o, "stderr", json_text(errtext, errlen)) < 0)
		goto out;
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		goto out;
	n = strlen(text);
	if (n > HOOK_TOOL_MSG_MAX) {
		static const char big[] = "{\"code\":1,\"stdout\":\"\",\"stderr\":\"ERROR output too large\\n\"}";
		free(text);
		text = strdup(big);
		if (!text)
			goto out;
		n = strlen(text);
	}
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	r = send_full(fd, hdr, sizeof(hdr));
	if (r == 0)
		r = send_full(fd, text, n);
out:
	free(text);
	json_decref(o);
	return r;
}

/* The jujuc client's wording for a refused request: "error: bad request: ...", exit 1. */
static int send_bad_request(int fd, const char *fmt, ...) PRINTF(2, 3);
static int send_bad_request(int fd, const char *fmt, ...)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "error: bad request: ");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(msg);
	msg[n] = '\n';
	return send_reply(fd, 1, "", 0, msg, (size_t)n + 1);
}

static bool peer_allowed(const struct hook_toolsrv *srv, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	return cred.uid == srv->uid || cred.uid == 0;
}

/* Reads one framed request of at most HOOK_TOOL_MSG_MAX bytes and drops it. */
static void discard_request(int fd)
{
	unsigned char hdr[4];
	char chunk[4096];
	uint32_t len;

	if (read_full(fd, hdr, sizeof(hdr)) < 0)
		return;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > HOOK_TOOL_MSG_MAX)
		return;
	while (len > 0) {
		uint32_t n = len < sizeof(chunk) ? len : (uint32_t)sizeof(chunk);
		if (read_full(fd, chunk, n) < 0)
			return;
		len -= n;
	}
}

static void serve(struct hook_toolsrv *srv, int fd)
{
	struct timeval tv = { .tv_sec = HOOK_TOOLSRV_TIMEOUT };
	struct hook_tool_request *req = NULL;
	struct hook_tool_reply reply;
	unsigned char hdr[4];
	char err[512], qid[300], *body = NULL, *unit = NULL;
	uint32_t len;
	bool known;
	int r;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	hook_tool_reply_init(&reply);
	if (!peer_allowed(srv, fd)) {
		/* Its request is read (bounded) and dropped first: the refusal then always arrives. */
		discard_request(fd);
		(void)send_bad_request(fd, "permission denied");
		goto out;
	}
	if (read_full(fd, hdr, sizeof(hdr)) < 0)
		goto out;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > HOOK_TOOL_MSG_MAX) {
		(void)send_bad_request(fd, "request too large (%u bytes, at most %d)", len,
				       HOOK_TOOL_MSG_MAX);
		goto out;
	}
	body = malloc(len ? len : 1);
	if (!body || read_full(fd, body, len) < 0)
		goto out;
	r = hook_tool_request_parse(body, len, &req, err, sizeof(err));
	if (r < 0) {
		(void)send_bad_request(fd, "%s", r == -ENOMEM ? "out of memory" : err);
		goto out;
	}
	unit = context_unit(srv, req->context, &known);
	if (!known) {
		(void)send_bad_request(fd, "invalid context id %s",
				       go_quote_fixed(qid, sizeof(qid), req->context,
						      strlen(req->context), 0));
		goto out;
	}
	if (!unit || !hook_tool_known(req->command)) {
		(void)send_bad_request(fd, unit ? "unknown command: %s" : "out of memory%.0s",
				       req->command);
		goto out;
	}
	r = hook_tool_dispatch(srv->ops, srv->ud, unit, req->command, req->args.n, req->args.v,
			       &reply);
	if (r == -EFBIG)
		(void)send_reply(fd, 1, "", 0, "ERROR output too large\n", 23);
	else if (r < 0)
		(void)send_bad_request(fd, "%s", strerror(-r));
	else
		(void)send_reply(fd, reply.code, reply.out.data ? reply.out.data : "", reply.out.len,
				 reply.err.data ? reply.err.data : "", reply.err.len);
out:
	hook_tool_reply_free(&reply);
	hook_tool_request_free(req);
	free(unit);
	free(body);
}

/* Waits until fd is readable or the server is woken to stop; false when stopping. */
static bool wait_readable(struct hook_toolsrv *srv, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = srv->fd, .events = POLLIN },
			       { .fd = srv->wake[0], .events = POLLIN } };

	for (;;) {
		int n = poll(p, 2, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (p[1].revents)
			return false;
		return true;
	}
}

/* One worker: waits for a connection, serves it, until the server is woken to stop. */
static void *worker_thread(void *arg)
{
	struct hook_toolsrv *srv = arg;

	while (wait_readable(srv, -1)) {
		int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/* Another worker took it (EAGAIN), or out of descriptors: wait a little. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
				(void)poll(NULL, 0, 100);
			continue;
		}
		/* The connection itself blocks (with serve()'s own time limits). */
		serve(srv, fd);
		close(fd);
	}
	return NULL;
}

/* ---- the server ------------------------------------------------------------------ */

static int make_addr(const char *address, struct sockaddr_un *sa, socklen_t *ret_len)
{
	size_t n = strlen(address);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || (address[0] == '@' && n == 1))
		return -EINVAL;
	if (address[0] == '@') {
		if (n > sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path + 1, address + 1, n - 1);
		*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return 0;
	}
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, address, n);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* Removes a socket left at path by a daemon that is gone; a live one or a non-socket stays. */
static int clear_stale(const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, len);
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Wakes every worker for good and waits for them (each ends its call first). */
static void stop_workers(struct hook_toolsrv *srv)
{
	if (!srv->n_threads)
		return;
	while (write(srv->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < srv->n_threads; i++)
		pthread_join(srv->threads[i], NULL);
	srv->n_threads = 0;
}

int hook_toolsrv_open(const char *address, const struct hook_tool_ops *ops, void *ud,
		      struct hook_toolsrv **ret)
{
	struct hook_toolsrv *srv;
	struct sockaddr_un sa;
	socklen_t salen;
	bool bound = false;
	int r;

	r = make_addr(address, &sa, &salen);
	if (r < 0)
		return r;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->fd = srv->wake[0] = srv->wake[1] = -1;
	srv->ops = ops;
	srv->ud = ud;
	srv->uid = geteuid();
	srv->is_path = address[0] != '@';
	pthread_mutex_init(&srv->mu, NULL);
	r = -ENOMEM;
	srv->address = strdup(address);
	if (!srv->address)
		goto fail;
	r = srv->is_path ? clear_stale(&sa, salen) : 0;
	if (r < 0)
		goto fail;
	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->fd < 0 || bind(srv->fd, (struct sockaddr *)&sa, salen) < 0) {
		r = -errno;
		goto fail;
	}
	bound = srv->is_path;
	if (listen(srv->fd, 64) < 0 || pipe2(srv->wake, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	for (r = 0; r == 0 && srv->n_threads < HOOK_TOOLSRV_WORKERS; srv->n_threads++)
		r = -pthread_create(&srv->threads[srv->n_threads], NULL, worker_thread, srv);
	if (r < 0) {
		srv->n_threads--;
		goto fail;
	}
	*ret = srv;
	return 0;
fail:
	stop_workers(srv);
	if (bound)
		(void)unlink(address);
	if (srv->fd >= 0)
		close(srv->fd);
	if (srv->wake[0] >= 0) {
		close(srv->wake[0]);
		close(srv->wake[1]);
	}
	pthread_mutex_destroy(&srv->mu);
	free(srv->address);
	free(srv);
	return r;
}

const char *hook_toolsrv_address(const struct hook_toolsrv *srv)
{
	return srv->address;
}

void hook_toolsrv_close(struct hook_toolsrv *srv)
{
	if (!srv)
		return;
	stop_workers(srv);
	close(srv->fd);
	if (srv->is_path)
		(void)unlink(srv->address);
	close(srv->wake[0]);
	close(srv->wake[1]);
	for (size_t i = 0; i < srv->nctx; i++) {
		free(srv->ctx[i].unit);
		free(srv->ctx[i].hook);
	}
	free(srv->ctx);
	pthread_mutex_destroy(&srv->mu);
	free(srv->address);
	free(srv);
}

int hook_tool_host_address(char *out, size_t outlen)
{
	char addr[INET_ADDRSTRLEN] = "127.0.0.1";
	struct ifaddrs *ifs, *i;

	if (getifaddrs(&ifs) == 0) {
		for (i = ifs; i; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
			    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr,
				      sizeof(addr)))
				break;
			snprintf(addr, sizeof(addr), "127.0.0.1");
		}
		freeifaddrs(ifs);
	}
	if (strlen(addr) >= outlen)
		return -ENOSPC;
	memcpy(out, addr, strlen(addr) + 1);
	return 0;
}
