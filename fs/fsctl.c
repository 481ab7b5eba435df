/*
 * The request side of the transaction files: parsing a request line,
 * running it against the store and writing the reply. File handles, reply
 * cursors and the write-only rule stay in fsfile.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fsctl.h"
#include "request.h"
#include "banned.h"

/* ---- publish/ctl -------------------------------------------------------------- */

/* Could the caller of req read the file of st itself? */
static bool caller_reads(fuse_req_t req, const struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[256];
	int n = ctx->uid == 0 ? 0 : fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
	struct scratch_caller who = {
		.uid = ctx->uid,
		.gid = ctx->gid,
		.groups = groups,
		/* Unknown (or too many to fit) groups count for nothing: refuse rather than guess. */
		.n_groups = n > 0 && n <= (int)ARRAY_SIZE(groups) ? (size_t)n : 0,
	};

	return scratch_readable_by(st, &who);
}

static int ctl_publish(fuse_req_t req, struct fs *fs, const struct req_publish *rq,
		       struct buf *reply)
{
	char rel[REQ_FILE_MAX + 16], src[PATH_MAX];
	struct strv errors = { 0 };
	struct stat st;
	int rev = -1, r;

	snprintf(rel, sizeof(rel), "incoming/%s", rq->file);
	if (scratch_stat(fs->ctx.scratch, rel, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)buf_addf(reply, "error no such file: %s\n", rel);
		return -ENOENT;
	}
	if (!caller_reads(req, &st)) {
		(void)buf_addf(reply, "error %s: you could not read it yourself\n", rel);
		fs_fail("publish", "/publish/ctl", EACCES, rel);
		return -EACCES;
	}
	scratch_path(fs->ctx.scratch, rel, src, sizeof(src));
	struct store_publish_req preq = {
		.uid = fuse_req_ctx(req)->uid,
		.path = src,
		.urls = rq->urls,
		.n_urls = rq->n_urls,
		.digest = rq->digest,
		.lock_id = rq->lock[0] ? rq->lock : NULL,
	};
	r = store_publish(fs->ctx.store, &preq, &rev, &errors);
	if (r == 0 || r == -EINVAL || r == -EFBIG)
		fs_invalidate_publish(fs, rq->urls, rq->n_urls, r == 0 ? rev : -1);
	if (r == 0) {
		(void)buf_addf(reply, "ok %d\n", rev);
	} else {
		char *why = strv_join(&errors, "; ");
		(void)buf_addf(reply, "error %s\n", why && *why ? why : strerror(-r));
		fs_fail("publish", "/publish/ctl", -r, why);
		free(why);
	}
	strv_clear(&errors);
	return r;
}

/* publish/ctl: returns 0, -EINVAL (unparsable: the write fails) or the request's error. */
int fsctl_publish_line(fuse_req_t req, struct fs *fs, const char *data, size_t size, struct buf *reply,
			    bool *malformed)
{
	struct req_publish rq;
	char err[256];
	int r = req_parse_publish(data, size, &rq, err, sizeof(err));

	if (r < 0) {
		(void)buf_addf(reply, "error %s\n", err);
		fs_fail("write", "/publish/ctl", EINVAL, err);
		*malformed = true;
		return r;
	}
	return ctl_publish(req, fs, &rq, reply);
}

static void invalidate_lock_urls(struct fs *fs, const struct url *urls, size_t n)
{
	struct notify_batch *b = notify_batch_new(fs->notifier);

	for (size_t i = 0; i < n; i++)
		fs_invalidate_lock(b, &urls[i]);
	notify_batch_run(b);
}

struct url_list {
	struct url *v;
	size_t n;
};

static int collect_url(void *ud, const char *s)
{
	struct url_list *l = ud;
	struct url *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	l->v = nv;
	if (url_parse(s, &nv[l->n], NULL, 0) == 0)
		l->n++;
	return 0;
}

/* locks/ctl: `lock URL...` replies "ok LOCKID"; `unlock LOCKID` replies "ok". */
int fsctl_locks_line(fuse_req_t req, struct fs *fs, const char *data, size_t size,
			  struct buf *reply, bool *malformed)
{
	struct strv over = { 0 };
	struct lock_holder h;
	struct lock_req *rq = malloc(sizeof(*rq));
	char err[256], comm[64], id[LOCK_ID_LEN + 1];
	int r;

	if (!rq)
		return -ENOMEM;
	r = lock_parse_request(data, size, rq, err, sizeof(err));
	if (r < 0) {
		(void)buf_addf(reply, "error %s\n", err);
		fs_fail("write", "/locks/ctl", EINVAL, err);
		*malformed = true;
		free(rq);
		return r;
	}
	if (rq->kind == LOCK_REQ_LOCK) {
		req_holder(req, &h, comm, sizeof(comm));
		r = store_lock_take(fs->ctx.store, rq->urls, rq->n_urls, &h, fs->ctx.lock_timeout, id,
				    &over);
		if (r == 0) {
			(void)buf_addf(reply, "ok %s\n", id);
			invalidate_lock_urls(fs, rq->urls, rq->n_urls);
		} else if (r == -EEXIST) {
			r = -EBUSY;
			(void)buf_addf(reply, "error charm update in progress\n");
		}
		for (size_t i = 0; i < over.n; i++)
			fs_log(LOG_NOTICE, "lock-expired %s", over.v[i]);
	} else {
		struct url_list held = { 0 };
		/* Unlocking a lock that expired and was taken over is a no-op. */
		r = store_lock_release(fs->ctx.store, rq->id, collect_url, &held);
		invalidate_lock_urls(fs, held.v, held.n);
		free(held.v);
		if (r == -ENOENT)
			r = 0;
		if (r == 0)
			(void)buf_addf(reply, "ok\n");
	}
	if (r < 0 && !reply->len)
		(void)buf_addf(reply, "error %s\n", strerror(-r));
	if (r < 0)
		fs_fail("write", "/locks/ctl", -r, NULL);
	strv_clear(&over);
	free(rq);
	return r;
}

/* counter.query: answers a query about the directory's key. */
int fsctl_counter_line(struct fs *fs, const struct node *n, const char *data, size_t size,
			    struct buf *reply, bool *malformed)
{
	const char *tok[COUNTER_MAX_DEPTH];
	struct counter_req req;
	enum counter_fmt fmt;
	char err[256];
	int r = counter_parse_query(data, size, &req, &fmt, err, sizeof(err));

	if (r < 0) {
		(void)buf_addf(reply, "error %s\n", err);
		fs_fail("write", "counter.query", EINVAL, err);
		*malformed = true;
		return r;
	}
	req.tokens = tok;
	req.n = node_tokens(n, tok);
	r = store_counter_report(fs->ctx.store, &req, fmt, reply);
	if (r < 0) {
		buf_free(reply);
		(void)buf_addf(reply, "error %s\n", strerror(-r));
	}
	return r;
}

/*
 * counter.inc: a write adds 1 (empty or blank data) or the positive integer
 * written, at most COUNTER_LOG_MAX_COUNT (EOVERFLOW beyond).
 */
int fsctl_counter_inc(struct fs *fs, const struct node *n, const char *data, size_t size)
{
	const char *tok[COUNTER_MAX_DEPTH];
	char num[32];
	uint64_t count = 1;
	size_t len = size;

	if (memchr(data, '\0', size))
		return -EINVAL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		len--;
	for (size_t i = 0; i < len; i++)
		if (data[i] < '0' || data[i] > '9')
			return -EINVAL;
	while (len > 1 && data[0] == '0') {
		data++;
		len--;
	}
	if (len) {
		/* Any number of digits is a number: one too big is EOVERFLOW, not malformed. */
		if (len >= sizeof(num))
			return -EOVERFLOW;
		memcpy(num, data, len);
		num[len] = '\0';
		if (parse_u64(num, &count) < 0)
			return -EOVERFLOW;
		if (count == 0)
			return -EINVAL;
	}
	if (n->n_tokens == 0)
		return -EINVAL;
	return store_counter_inc(fs->ctx.store, tok, node_tokens(n, tok), count, true);
}

void fs_count_download(struct fs *fs, const struct url *u)
{
	int r;

	if (!fs->ctx.stats)
		return;
	r = store_count(fs->ctx.store, STORE_COUNT_BUNDLE, u);
	if (r < 0)
		fs_log(LOG_WARNING, "cannot count a download of %s: %s", u->name, strerror(-r));
}
