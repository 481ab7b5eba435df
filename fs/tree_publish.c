/*
 * publish/ (SPEC §4.2): publishing by writing an archive. Every valid
 * series and ~user directory exists; incoming/ holds files for
 * publish/ctl. Files are scratch kept on disk (backend/scratch.h) under
 * the same relative path as below publish/, which a node keeps as an
 * offset into its path. A "*.charm" file in a series directory publishes
 * at the first close after data was written (INODE_DIRTY: written since
 * the last publish), or at a rename onto such a name, and that call
 * returns the result; publish/ctl is the transaction file that publishes
 * an incoming/ file to several URLs with an explicit digest.
 *
 * Scratch files change under any process's hands: nothing here is kept
 * with an inode (TREE_CACHE_NONE), and resolving costs no SQL.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "fsfile.h"
#include "request.h"
#include "banned.h"

enum publish_kind {
	PB_TOP,  /* /publish */
	PB_CTL,  /* /publish/ctl */
	PB_USER, /* /publish/~user */
	PB_DIR,  /* /publish/[~user/]series, /publish/incoming */
	PB_FILE, /* a scratch file in a PB_DIR */
};

struct publish_state {
	struct url url; /* user and series */
	bool incoming;  /* PB_DIR / PB_FILE under publish/incoming */
};
TREE_STATE_FITS(struct publish_state);

#define ST(n) TREE_STATE(n, struct publish_state)
#define CST(n) TREE_CSTATE(n, struct publish_state)

/* The scratch-relative path of a node below publish/ ("trusty/x.charm"). */
static const char *scratch_rel(const struct node *n)
{
	return n->path + strlen("/publish/");
}

static int publish_resolve(struct fs *fs, const struct comps *cp, struct node *n)
{
	struct publish_state *s = ST(n);
	struct stat st;
	size_t i = 1;

	n->kind = PB_TOP;
	if (cp->n == 1)
		return 0;
	if (cp->n == 2 && strcmp(cp->v[1], "ctl") == 0) {
		n->kind = PB_CTL;
		return 0;
	}
	if (strcmp(cp->v[1], "incoming") == 0) {
		s->incoming = true;
		i = 2;
	} else {
		if (tree_is_user(cp->v[i])) {
			snprintf(s->url.user, sizeof(s->url.user), "%s", cp->v[i] + 1);
			n->kind = PB_USER;
			if (++i == cp->n)
				return 0;
		}
		if (!url_valid_series(cp->v[i]))
			return -ENOENT;
		snprintf(s->url.series, sizeof(s->url.series), "%s", cp->v[i]);
		i++;
	}
	n->kind = PB_DIR;
	if (i == cp->n)
		return 0;
	if (i + 1 != cp->n)
		return -ENOENT;
	n->kind = PB_FILE;
	if (scratch_stat(fs->ctx.scratch, scratch_rel(n), &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	return 0;
}

static int publish_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	int r;

	switch ((enum publish_kind)n->kind) {
	case PB_TOP:
	case PB_USER:
		tree_group_mode(fs, st, S_IFDIR | 0775);
		return 0;
	case PB_DIR:
		/* Sticky: the group shares these directories, and only a file's owner (or
		 * root) may rename or remove it, so no member swaps another's file. */
		tree_group_mode(fs, st, S_IFDIR | S_ISVTX | (CST(n)->incoming ? 0770 : 0775));
		return 0;
	case PB_CTL:
		tree_group_mode(fs, st, S_IFREG | 0664);
		return 0;
	case PB_FILE:
		r = scratch_stat(fs->ctx.scratch, scratch_rel(n), st);
		st->st_nlink = 1;
		return r;
	}
	return -ENOENT;
}

struct list_adapter {
	tree_list_cb cb;
	void *ud;
	bool in_user; /* listing publish/~user: no ~user below */
	mode_t type;  /* S_IFDIR: users and series; S_IFREG: files */
};

static int list_scratch(void *ud, const char *name, const struct stat *st)
{
	struct list_adapter *a = ud;

	if (a->type == S_IFDIR) {
		/* Directories at publish/ and publish/~user level: users and series. */
		if (!S_ISDIR(st->st_mode) || strcmp(name, "incoming") == 0)
			return 0;
		if (!(name[0] == '~' ? url_valid_user(name + 1) && !a->in_user
				     : url_valid_series(name)))
			return 0;
		return a->cb(a->ud, name, S_IFDIR);
	}
	return S_ISREG(st->st_mode) ? a->cb(a->ud, name, S_IFREG) : 0;
}

static int publish_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
			void *ud)
{
	struct list_adapter a = { .cb = cb, .ud = ud, .type = S_IFDIR };
	int r;

	switch (n->kind) {
	case PB_TOP:
		r = cb(ud, "ctl", S_IFREG);
		if (r == 0)
			r = cb(ud, "incoming", S_IFDIR);
		return r ? r : scratch_list(fs->ctx.scratch, ".", list_scratch, &a);
	case PB_USER:
		a.in_user = true;
		return scratch_list(fs->ctx.scratch, scratch_rel(n), list_scratch, &a);
	case PB_DIR:
		a.type = S_IFREG;
		return scratch_list(fs->ctx.scratch, scratch_rel(n), list_scratch, &a);
	default:
		return -ENOTDIR;
	}
}

/* ---- publishing ---------------------------------------------------------------- */

/* For a PB_FILE: is the leaf a "*.charm" name in a series directory? */
static bool publishes(const struct node *n)
{
	const char *leaf = node_leaf(n);
	size_t len = strlen(leaf);

	return n->kind == PB_FILE && !CST(n)->incoming && len > 6 &&
	       strcmp(leaf + len - 6, ".charm") == 0;
}

/*
 * Publishes the scratch file at src to cs:[~user/]series/NAME where leaf is
 * "NAME.charm". Returns 0 or -errno; logs failures against log_path.
 */
static int publish_scratch(struct fs *fs, uid_t uid, const struct url *dir, const char *leaf,
			   const char *src, const char *log_path)
{
	char name[NAME_MAX + 1];
	struct strv errors = { 0 };
	struct url u;
	size_t len = strlen(leaf) - strlen(".charm");
	int rev = -1, r;

	snprintf(name, sizeof(name), "%.*s", (int)len, leaf);
	r = url_from_parts(dir->user, dir->series, name, &u);
	if (r < 0) {
		fs_fail("publish", log_path, EINVAL, "not a valid charm name");
		return -EINVAL;
	}
	struct store_publish_req req = { .path = src, .urls = &u, .n_urls = 1, .uid = uid };
	r = store_publish(fs->ctx.store, &req, &rev, &errors);
	if (r == 0 || r == -EINVAL || r == -EFBIG)
		charms_invalidate_publish(fs, &u, 1, r == 0 ? rev : -1);
	if (r < 0) {
		char *why = strv_join(&errors, "; ");
		fs_fail("publish", log_path, -r, why);
		free(why);
	}
	strv_clear(&errors);
	return r;
}

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
		charms_invalidate_publish(fs, rq->urls, rq->n_urls, r == 0 ? rev : -1);
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
static int publish_request(fuse_req_t req, struct fs *fs, const struct node *n, const char *data,
			   size_t size, struct buf *reply, bool *malformed)
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

/* ---- files --------------------------------------------------------------------- */

static int publish_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
			struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE, r;
	struct fh *h;

	if (n->kind == PB_CTL) {
		h = fh_new(fs, n, FH_CTL, acc);
		if (!h)
			return -ENOMEM;
		fi->direct_io = 1;
		*ret = h;
		return 0;
	}
	if (n->kind != PB_FILE)
		return -EISDIR;
	h = fh_new(fs, n, FH_RWFD, acc);
	if (!h)
		return -ENOMEM;
	r = scratch_openat(fs->ctx.scratch, scratch_rel(n), fi->flags & (O_ACCMODE | O_TRUNC), 0, 0,
			   0, &h->fd);
	if (r < 0) {
		fh_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

static int publish_create(fuse_req_t req, struct fs *fs, const struct node *parent,
			  const char *name, mode_t mode, struct fuse_file_info *fi,
			  struct fh **ret)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char *path, *rel = NULL;
	struct node n = *parent;
	struct fh *h = NULL;
	int r;

	if (parent->kind != PB_DIR)
		return -EACCES;
	path = fs_child_path(parent->path, name);
	if (path) {
		node_rebase(&n, path);
		n.kind = PB_FILE;
		n.leaf = (uint32_t)(strlen(path) - strlen(name));
		rel = strdup(scratch_rel(&n));
		h = fh_new(fs, &n, FH_RWFD, fi->flags & O_ACCMODE);
	}
	r = path && rel && h ? 0 : -ENOMEM;
	if (r == 0)
		r = scratch_openat(fs->ctx.scratch, rel,
				   O_CREAT | (fi->flags & (O_ACCMODE | O_EXCL | O_TRUNC)),
				   mode & ~ctx->umask, ctx->uid, ctx->gid, &h->fd);
	free(rel);
	free(path);
	if (r < 0) {
		fh_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

static void publish_write(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h,
			  const char *data, size_t size, off_t off)
{
	ssize_t n = pwrite(h->fd, data, size, off);

	if (n < 0) {
		int err = errno;
		char *path = inode_path(fs->inodes, ino);
		fs_fail("write", path ? path : "?", err, NULL);
		free(path);
		fuse_reply_err(req, err);
		return;
	}
	if (n > 0)
		inode_flag_set(fs->inodes, ino, INODE_DIRTY, true);
	fuse_reply_write(req, (size_t)n);
}

static void publish_flush(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h)
{
	char src[PATH_MAX];
	struct node n;
	char *path;
	int r;

	if (h->kind != FH_RWFD || !inode_flag_set(fs->inodes, ino, INODE_DIRTY, false)) {
		fuse_reply_err(req, 0);
		return;
	}
	r = fs_resolve_ino(fs, ino, &path, &n);
	if (r < 0) {
		/* Unlinked before it was closed: nothing to publish. */
		fuse_reply_err(req, 0);
		return;
	}
	r = 0;
	if (n.tree == &tree_publish && publishes(&n)) {
		scratch_path(fs->ctx.scratch, scratch_rel(&n), src, sizeof(src));
		r = publish_scratch(fs, fuse_req_ctx(req)->uid, &CST(&n)->url, node_leaf(&n), src,
				    path);
	}
	free(path);
	fuse_reply_err(req, -r);
}

/* ---- changes ------------------------------------------------------------------- */

static int publish_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent,
			 const char *name, mode_t mode)
{
	/* Valid series and ~user names always exist; anything else is not a URL part. */
	return parent->kind == PB_TOP || parent->kind == PB_USER ? -EINVAL : -EACCES;
}

static int publish_unlink(struct fs *fs, const struct node *n)
{
	return n->kind == PB_FILE ? scratch_unlink(fs->ctx.scratch, scratch_rel(n)) : -EACCES;
}

static int publish_rename(struct fs *fs, uid_t uid, const struct node *src,
			  const struct node *dst_dir, const char *from, const char *to,
			  unsigned flags)
{
	struct node dst;
	int r = 0;

	if (src->kind != PB_FILE || dst_dir->kind != PB_DIR)
		return -EACCES;
	dst = *dst_dir;
	node_rebase(&dst, to);
	dst.kind = PB_FILE;
	dst.leaf = (uint32_t)(strrchr(to, '/') + 1 - to);
	if (strlen(scratch_rel(&dst)) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (publishes(&dst)) {
		struct stat st;
		uint64_t ino = inode_find(fs->inodes, from);
		if (scratch_stat(fs->ctx.scratch, scratch_rel(src), &st) == 0 && st.st_size > 0) {
			char abs[PATH_MAX];
			scratch_path(fs->ctx.scratch, scratch_rel(src), abs, sizeof(abs));
			r = publish_scratch(fs, uid, &CST(&dst)->url, node_leaf(&dst), abs, to);
			if (r == 0 && ino)
				inode_flag_set(fs->inodes, ino, INODE_DIRTY, false);
		}
	}
	if (r == 0)
		r = scratch_rename(fs->ctx.scratch, scratch_rel(src), scratch_rel(&dst), flags);
	return r;
}

static int setattr_scratch(struct fs *fs, const struct node *n, const struct stat *a,
			   int to_set, struct fuse_file_info *fi)
{
	const char *rel = scratch_rel(n);
	int r = 0;

	if (to_set & FUSE_SET_ATTR_MODE)
		r = scratch_chmod(fs->ctx.scratch, rel, a->st_mode);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = scratch_chown(fs->ctx.scratch, rel,
				  to_set & FUSE_SET_ATTR_UID ? a->st_uid : (uid_t)-1,
				  to_set & FUSE_SET_ATTR_GID ? a->st_gid : (gid_t)-1);
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
		if (h && h->kind == FH_RWFD)
			r = ftruncate(h->fd, a->st_size) < 0 ? -errno : 0;
		else
			r = scratch_truncate(fs->ctx.scratch, rel, a->st_size);
	}
	if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec t[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			t[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			t[0] = a->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			t[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			t[1] = a->st_mtim;
		r = scratch_utimens(fs->ctx.scratch, rel, t);
	}
	return r;
}

static int publish_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			   int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	if (n->kind == PB_FILE) {
		*ret_timeout = tree_entry_timeout(n);
		return setattr_scratch(fs, n, attr, to_set, fi);
	}
	if (n->kind == PB_CTL)
		return fsfile_ctl_setattr(to_set);
	return -EACCES;
}

const struct tree_ops tree_publish = {
	.name = "publish",
	.type = S_IFDIR,
	.negative_timeout = NODE_TIMEOUT,
	.resolve = publish_resolve,
	.stat = publish_stat,
	.list = publish_list,
	.open = publish_open,
	.create = publish_create,
	.mkdir = publish_mkdir,
	.unlink = publish_unlink,
	.rename = publish_rename,
	.setattr = publish_setattr,
	.request = publish_request,
	.write = publish_write,
	.flush = publish_flush,
};
