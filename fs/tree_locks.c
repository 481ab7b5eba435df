/*
 * locks/ (SPEC §4.5): update locks. The tree mirrors the URL path form
 * ([~user/]series/name): every valid series and ~user directory exists,
 * and a name directory exists exactly while its URL holds an unexpired
 * lock, with the lock's id, holder, since and expires as files. mkdir
 * takes a lock, rmdir releases it, touch renews it; locks/ctl is the
 * transaction file that takes several at once or releases one by LOCKID.
 *
 * Expiry is decided at each request from the clock: nothing is kept with
 * an inode (TREE_CACHE_NONE), lookups are never cached negatively, and the
 * kernel may cache a lock entry only for the lock's remaining life.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fs.h"
#include "fsfile.h"
#include "banned.h"

enum locks_kind {
	LK_TOP,    /* /locks */
	LK_CTL,    /* /locks/ctl */
	LK_USER,   /* /locks/~user */
	LK_SERIES, /* /locks/[~user/]series */
	LK_NAME,   /* /locks/[~user/]series/name: a held lock */
	LK_FILE,   /* .../name/{id,holder,since,expires} */
};

enum lock_file { LF_EXPIRES, LF_HOLDER, LF_ID, LF_SINCE };

struct locks_state {
	struct url url;        /* user, series, name as far as the path goes */
	struct lock_info lock; /* LK_NAME, LK_FILE */
	enum lock_file file;   /* LK_FILE */
};
TREE_STATE_FITS(struct locks_state);

#define ST(n) TREE_STATE(n, struct locks_state)
#define CST(n) TREE_CSTATE(n, struct locks_state)

static const char *const lock_files[] = {
	[LF_EXPIRES] = "expires", [LF_HOLDER] = "holder", [LF_ID] = "id", [LF_SINCE] = "since",
};

static int locks_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	struct locks_state *s = ST(ret);
	const char *const *v = cp->v;
	size_t i = 1, n = cp->n;

	s->url.revision = -1;
	snprintf(s->url.schema, sizeof(s->url.schema), "cs");
	ret->kind = LK_TOP;
	if (n == 1)
		return 0;
	if (n == 2 && strcmp(v[1], "ctl") == 0) {
		ret->kind = LK_CTL;
		return 0;
	}
	if (v[i][0] == '~') {
		if (!url_valid_user(v[i] + 1))
			return -ENOENT;
		snprintf(s->url.user, sizeof(s->url.user), "%s", v[i] + 1);
		ret->kind = LK_USER;
		if (++i == n)
			return 0;
	}
	if (!url_valid_series(v[i]))
		return -ENOENT;
	snprintf(s->url.series, sizeof(s->url.series), "%s", v[i]);
	ret->kind = LK_SERIES;
	if (++i == n)
		return 0;
	if (!url_valid_name(v[i]))
		return -ENOENT;
	snprintf(s->url.name, sizeof(s->url.name), "%s", v[i]);
	if (store_lock_get(fs->ctx.store, &s->url, &s->lock) < 0)
		return -ENOENT;
	ret->kind = LK_NAME;
	if (++i == n)
		return 0;
	if (i + 1 != n)
		return -ENOENT;
	for (size_t f = 0; f < ARRAY_SIZE(lock_files); f++) {
		if (strcmp(v[i], lock_files[f]) == 0) {
			ret->kind = LK_FILE;
			s->file = (enum lock_file)f;
			return 0;
		}
	}
	return -ENOENT;
}

static int content(const struct node *n, struct buf *out)
{
	const struct lock_info *l = &CST(n)->lock;
	char ts[32];

	switch (CST(n)->file) {
	case LF_ID:
		return buf_addf(out, "%s\n", l->id);
	case LF_HOLDER:
		return buf_addf(out, "pid %ld uid %lu command %s\n", (long)l->pid,
				(unsigned long)l->uid, l->command[0] ? l->command : "-");
	case LF_SINCE:
		format_rfc3339(l->since, ts);
		return buf_addf(out, "%s\n", ts);
	case LF_EXPIRES:
		format_rfc3339(l->expires, ts);
		return buf_addf(out, "%s\n", ts);
	}
	return -EINVAL;
}

static int locks_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	const struct lock_info *l = &CST(n)->lock;
	struct buf b;
	int r;

	switch ((enum locks_kind)n->kind) {
	case LK_TOP:
	case LK_USER:
	case LK_SERIES:
		tree_group_mode(fs, st, S_IFDIR | 0775);
		return 0;
	case LK_CTL:
		tree_group_mode(fs, st, S_IFREG | 0664);
		return 0;
	case LK_NAME:
		/* Group-writable so that the group renews it with touch (utimensat). */
		tree_group_mode(fs, st, S_IFDIR | 0775);
		st->st_mtim.tv_sec = l->since;
		st->st_atim.tv_sec = l->expires;
		st->st_ctim.tv_sec = l->since;
		return 0;
	case LK_FILE:
		tree_group_mode(fs, st, S_IFREG | 0444);
		st->st_mtim.tv_sec = l->since;
		st->st_ctim.tv_sec = l->since;
		buf_init(&b, 4096);
		r = content(n, &b);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		return r;
	}
	return -ENOENT;
}

static int locks_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
		      void *ud)
{
	const struct locks_state *s = CST(n);
	struct tree_dirs a = { .cb = cb, .ud = ud, .prefix = "" };
	int r;

	switch (n->kind) {
	case LK_TOP:
		r = cb(ud, "ctl", S_IFREG);
		a.prefix = "~";
		if (r == 0)
			r = store_lock_list(fs->ctx.store, NULL, NULL, tree_list_dirs, &a);
		a.prefix = "";
		return r ? r : store_lock_list(fs->ctx.store, "", NULL, tree_list_dirs, &a);
	case LK_USER:
		return store_lock_list(fs->ctx.store, s->url.user, NULL, tree_list_dirs, &a);
	case LK_SERIES:
		return store_lock_list(fs->ctx.store, s->url.user, s->url.series, tree_list_dirs, &a);
	case LK_NAME:
		for (size_t f = 0; f < ARRAY_SIZE(lock_files); f++) {
			r = cb(ud, lock_files[f], S_IFREG);
			if (r < 0)
				return r;
		}
		return 0;
	default:
		return -ENOTDIR;
	}
}

/* ---- taking and releasing ----------------------------------------------------------- */

void locks_invalidate(struct notify_batch *b, const struct url *u)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "/locks%s%s/%s", u->user[0] ? "/~" : "", u->user, u->series);
	notify_entry(b, dir, u->name);
}

static void invalidate_urls(struct fs *fs, const struct url *urls, size_t n)
{
	struct notify_batch *b = notify_batch_new(fs->notifier);

	for (size_t i = 0; i < n; i++)
		locks_invalidate(b, &urls[i]);
	notify_batch_run(b);
}

/* The holder of a lock taken by this request: its process, user and command. */
static void req_holder(fuse_req_t req, struct lock_holder *h, char *comm, size_t len)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char path[64];
	FILE *f;

	h->pid = ctx->pid;
	h->uid = ctx->uid;
	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)ctx->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, (int)len, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	h->command = comm;
}

static int locks_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent, const char *name,
		       mode_t mode)
{
	const struct locks_state *s = CST(parent);
	struct strv over = { 0 };
	struct lock_holder h;
	char comm[64], id[LOCK_ID_LEN + 1];
	struct url u;
	int r;

	if (parent->kind == LK_TOP || parent->kind == LK_USER)
		/* Valid series and ~user names always exist; anything else is not a URL part. */
		return -EINVAL;
	if (parent->kind != LK_SERIES)
		return -EACCES;
	if (url_from_parts(s->url.user, s->url.series, name, &u) < 0)
		return -EINVAL;
	req_holder(req, &h, comm, sizeof(comm));
	r = store_lock_take(fs->ctx.store, &u, 1, &h, fs->ctx.lock_timeout, id, &over);
	for (size_t i = 0; i < over.n; i++)
		fs_log(LOG_NOTICE, "lock-expired %s", over.v[i]);
	strv_clear(&over);
	return r;
}

static int locks_rmdir(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath)
{
	int r = n->kind == LK_NAME ? store_lock_release_url(fs->ctx.store, &CST(n)->url) : -EACCES;

	/* A lock is gone from the database: nothing else to tell. */
	if (r == 0)
		inode_detach(fs->inodes, n->path);
	else
		fs_fail("rmdir", n->path, -r, NULL);
	return r;
}

static int locks_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			 int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	int r;

	if (n->kind == LK_CTL)
		return fsfile_ctl_setattr(to_set);
	if (n->kind != LK_NAME || !(to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		return -EACCES;
	r = store_lock_renew(fs->ctx.store, &CST(n)->url, fs->ctx.lock_timeout);
	return r < 0 ? r : tree_resolve(fs, n->path, n);
}

/* ---- locks/ctl ------------------------------------------------------------------------ */

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
static int locks_request(fuse_req_t req, struct fs *fs, const struct node *n, const char *data,
			 size_t size, struct buf *reply, bool *malformed)
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
			invalidate_urls(fs, rq->urls, rq->n_urls);
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
		invalidate_urls(fs, held.v, held.n);
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

static int locks_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
		      struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE;
	struct fh *h;
	int r = 0;

	if (n->kind == LK_CTL) {
		h = fh_new(fs, n, FH_CTL, acc);
	} else if (n->kind == LK_FILE) {
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(fs, n, FH_BUF, acc);
		if (h)
			r = content(n, &h->data);
	} else {
		return -EISDIR;
	}
	if (!h)
		return -ENOMEM;
	if (r < 0) {
		fh_free(h);
		return r;
	}
	fi->direct_io = 1;
	*ret = h;
	return 0;
}

/* ---- caching ----------------------------------------------------------------------- */

static double locks_entry_timeout(const struct node *n)
{
	int64_t left;

	if (n->kind != LK_NAME && n->kind != LK_FILE)
		return NODE_TIMEOUT;
	left = CST(n)->lock.expires - lock_now();
	return left > 0 ? (double)left : 0.0;
}

const struct tree_ops tree_locks = {
	.name = "locks",
	.type = S_IFDIR,
	/* Locks come and go by the clock and by other front ends: no negative caching. */
	.negative_timeout = 0.0,
	.resolve = locks_resolve,
	.stat = locks_stat,
	.list = locks_list,
	.open = locks_open,
	.mkdir = locks_mkdir,
	.rmdir = locks_rmdir,
	.setattr = locks_setattr,
	.request = locks_request,
	.entry_timeout = locks_entry_timeout,
};
