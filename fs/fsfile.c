/*
 * Open files. A file handle is one of: a read-only descriptor on a stored
 * archive or extracted file, a snapshot of a small generated file, a view
 * of an events log (read live, so `tail -f` sees growth), a scratch file in
 * publish/, or a transaction file (publish/ctl) holding its last reply.
 *
 * Publishing from publish/ happens at the first flush (close) after data
 * was written, or at a rename onto a "*.charm" name, and that call returns
 * the result. An inode's INODE_DIRTY flag records "written since the last
 * publish", so data published at a rename is not published again at the
 * following close, and closing an untouched file publishes nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "fs.h"
#include "fsctl.h"
#include "fsfile.h"
#include "request.h"
#include "banned.h"

#define GENERATED_MAX (1 << 20)

enum fh_kind { FH_FD, FH_BUF, FH_EVENTS, FH_CTL, FH_SCRATCH, FH_INC };

struct fh {
	struct fs_handle link; /* first: the registry hands it back */
	enum fh_kind kind;
	int fd;
	int accmode;
	struct buf data;      /* FH_BUF: content; FH_CTL: the last reply */
	size_t cursor;        /* FH_CTL: read position in the reply */
	bool all_events;      /* FH_EVENTS: the root events file */
	struct url url;       /* FH_EVENTS: whose events */
	enum node_kind ctl;   /* FH_CTL: which transaction file */
	struct node *node;    /* FH_INC, counter.query: the counter key */
	struct store *backup; /* set: an open file of backup/ (keeps its snapshot live) */
	pthread_mutex_t lock; /* FH_CTL */
	_Atomic int64_t next_off; /* FH_FD: where a sequential reader reads next */
	_Atomic int64_t ra_end;   /* FH_FD: how far readahead was asked for */
};

static void fh_free(struct fh *h);

static void fh_release(struct fs_handle *l)
{
	fh_free((struct fh *)l);
}

static struct fh *fh_new(enum fh_kind kind, int accmode)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->fd = -1;
	h->accmode = accmode;
	buf_init(&h->data, GENERATED_MAX);
	pthread_mutex_init(&h->lock, NULL);
	fs_handle_add(&h->link, fh_release);
	return h;
}

static void fh_free(struct fh *h)
{
	if (!h)
		return;
	fs_handle_remove(&h->link);
	if (h->backup)
		backup_put(h->backup, backup_now());
	if (h->fd >= 0)
		close(h->fd);
	buf_free(&h->data);
	pthread_mutex_destroy(&h->lock);
	free(h->node);
	free(h);
}

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

/* ---- publishing from scratch files ------------------------------------------ */

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
		fs_invalidate_publish(fs, &u, 1, r == 0 ? rev : -1);
	if (r < 0) {
		char *why = strv_join(&errors, "; ");
		fs_fail("publish", log_path, -r, why);
		free(why);
	}
	strv_clear(&errors);
	return r;
}

static int publish_node(struct fs *fs, uid_t uid, const struct node *n, const char *path)
{
	char src[PATH_MAX];

	scratch_path(fs->ctx.scratch, n->sub, src, sizeof(src));
	return publish_scratch(fs, uid, &n->url, n->leaf, src, path);
}

static void ctl_write(fuse_req_t req, struct fh *h, const char *data, size_t size)
{
	struct fs *fs = fs_of(req);
	bool malformed = false;
	int r;

	pthread_mutex_lock(&h->lock);
	buf_free(&h->data);
	h->cursor = 0;
	if (h->ctl == N_LOCK_CTL)
		r = fsctl_locks_line(req, fs, data, size, &h->data, &malformed);
	else if (h->ctl == N_CNT_QUERY)
		r = fsctl_counter_line(fs, h->node, data, size, &h->data, &malformed);
	else
		r = fsctl_publish_line(req, fs, data, size, &h->data, &malformed);
	/* A failed request is a reply, unless nobody can read it. */
	if (r < 0 && !malformed && h->accmode != O_WRONLY)
		r = 0;
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
}

/* ---- open / create --------------------------------------------------------- */

static int open_real(struct fs *fs, const struct node *n, struct fh *h)
{
	char rel[PATH_MAX];
	int dirfd, r = node_real_at(&fs->ctx, n, &dirfd, rel, sizeof(rel));

	if (r < 0)
		return r;
	h->fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (h->fd < 0)
		return -errno;
	/* Archives and tree files are read front to back: double the readahead. */
	(void)posix_fadvise(h->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static int open_node(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
		     struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE;
	struct fh *h = NULL;
	int r = 0;

	switch (n->kind) {
	case N_CH_FILE:
	case N_CH_TREE:
		if (acc != O_RDONLY)
			return -EACCES;
		bool real = !node_in_db(n);
		if (real && n->kind == N_CH_TREE && n->rev.in_db) {
			r = node_tree_ready(&fs->ctx, n);
			if (r < 0)
				return r;
		}
		h = fh_new(real ? FH_FD : FH_BUF, acc);
		if (!h)
			return -ENOMEM;
		r = real ? open_real(fs, n, h) : node_content(&fs->ctx, n, &h->data);
		fi->keep_cache = 1;
		if (r == 0 && n->kind == N_CH_FILE && n->file == RF_ARCHIVE)
			fs_count_download(fs, &n->url);
		break;
	case N_BK_ENTRY: {
		char live[PATH_MAX];
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(FH_FD, acc);
		if (!h)
			return -ENOMEM;
		/* The snapshot n was resolved in may have lapsed: open the file in the live one. */
		r = backup_hold(fs->ctx.store, backup_now(), n->sub, live, sizeof(live));
		if (r < 0)
			break;
		h->backup = fs->ctx.store;
		h->fd = open(live, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (h->fd < 0)
			r = -errno;
		break;
	}
	case N_CNT_FILE:
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(FH_BUF, acc);
		if (!h)
			return -ENOMEM;
		h->data.max = 64 << 20;
		r = node_content_counters(&fs->ctx, n, &h->data);
		fi->direct_io = 1;
		break;
	case N_CNT_INC:
	case N_CNT_QUERY:
		if (n->kind == N_CNT_INC && acc == O_RDONLY)
			return -EACCES;
		h = fh_new(n->kind == N_CNT_INC ? FH_INC : FH_CTL, acc);
		if (!h)
			return -ENOMEM;
		h->ctl = n->kind;
		h->data.max = 64 << 20;
		h->node = malloc(sizeof(*n));
		if (!h->node)
			r = -ENOMEM;
		else
			*h->node = *n;
		fi->direct_io = 1;
		break;
	case N_EVENTS:
	case N_CH_EVENTS:
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(FH_EVENTS, acc);
		if (!h)
			return -ENOMEM;
		h->all_events = n->kind == N_EVENTS;
		h->url = n->url;
		fi->direct_io = 1;
		break;
	case N_PUB_CTL:
	case N_LOCK_CTL:
		h = fh_new(FH_CTL, acc);
		if (!h)
			return -ENOMEM;
		h->ctl = n->kind;
		fi->direct_io = 1;
		break;
	case N_LK_FILE:
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(FH_BUF, acc);
		if (!h)
			return -ENOMEM;
		r = node_content_locks(n, &h->data);
		fi->direct_io = 1;
		break;
	case N_PUB_FILE:
		h = fh_new(FH_SCRATCH, acc);
		if (!h)
			return -ENOMEM;
		r = scratch_openat(fs->ctx.scratch, n->sub, fi->flags & (O_ACCMODE | O_TRUNC), 0, 0,
				   0, &h->fd);
		break;
	default:
		return -EISDIR;
	}
	if (r < 0) {
		fh_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

void fsfile_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fh *h = NULL;
	struct node n;
	char *path;
	int r = fs_resolve_ino(fs, ino, &path, &n);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = open_node(fs, &n, fi, &h);
	if (r < 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		fs_fail("open", path, -r, NULL);
	free(path);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(h);
}

void fsfile_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct fh *h = NULL;
	char *ppath, *path = NULL, *rel = NULL;
	struct node pn, n;
	int r = fs_resolve_ino(fs, parent, &ppath, &pn);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	path = fs_child_path(ppath, name);
	if (!path)
		r = -ENOMEM;
	else if (pn.kind != N_PUB_DIR)
		r = -EACCES;
	if (r == 0) {
		rel = fs_child_path(pn.sub, name);
		h = fh_new(FH_SCRATCH, fi->flags & O_ACCMODE);
		r = rel && h ? 0 : -ENOMEM;
	}
	if (r == 0)
		r = scratch_openat(fs->ctx.scratch, rel,
				   O_CREAT | (fi->flags & (O_ACCMODE | O_EXCL | O_TRUNC)),
				   mode & ~ctx->umask, ctx->uid, ctx->gid, &h->fd);
	if (r == 0)
		r = node_resolve(&fs->ctx, path, &n);
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r < 0) {
		fs_fail("create", path ? path : ppath, -r, NULL);
		fh_free(h);
		fuse_reply_err(req, -r);
	} else {
		fi->fh = (uintptr_t)h;
		if (fuse_reply_create(req, &e, fi) == -ENOENT)
			fh_free(h);
	}
	free(rel);
	free(path);
	free(ppath);
}

/* ---- read / write ------------------------------------------------------------ */

/*
 * Replies with a copy of data[off, off+size). The copy matters: once the
 * kernel has the reply it may release the file at once, on another thread,
 * and the handle's memory must not be what writev() is still looking at
 * (ASan checks the iovec after the call returns).
 */
static void reply_slice(fuse_req_t req, const char *data, size_t len, size_t off, size_t size)
{
	size_t n = off < len ? (len - off < size ? len - off : size) : 0;
	char *copy = n ? malloc(n) : NULL;

	if (n && !copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n)
		memcpy(copy, data + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

#define RA_WINDOW (8 << 20)

/*
 * A sequential reader of a stored file (an archive download, a big file in
 * files/) gets the disk's readahead RA_WINDOW bytes ahead of it, asked for
 * in RA_WINDOW/2 steps: the kernel's own readahead below a FUSE read is
 * a few hundred KiB, too little to keep the disk busy. A reader that seeks
 * (unzip reading the central directory, a Range request) asks for nothing.
 */
static void read_ahead(struct fh *h, off_t off, size_t size)
{
	int64_t end = (int64_t)off + (int64_t)size, ra = atomic_load(&h->ra_end);

	if (atomic_exchange(&h->next_off, end) != (int64_t)off || off == 0)
		return;
	if (end + RA_WINDOW / 2 <= ra)
		return;
	if (ra < end)
		ra = end;
	atomic_store(&h->ra_end, ra + RA_WINDOW);
	(void)posix_fadvise(h->fd, ra, RA_WINDOW, POSIX_FADV_WILLNEED);
}

void fsfile_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	struct buf b;
	int r;

	switch (h->kind) {
	case FH_FD:
	case FH_SCRATCH: {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		if (h->kind == FH_FD)
			read_ahead(h, off, size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, 0);
		return;
	}
	case FH_BUF:
		reply_slice(req, h->data.data, h->data.len, (size_t)off, size);
		return;
	case FH_EVENTS:
		buf_init(&b, size);
		r = store_events_read(fs_of(req)->ctx.store, h->all_events ? NULL : &h->url,
				      (uint64_t)off, size, &b);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_buf(req, b.data, b.len);
		buf_free(&b);
		return;
	case FH_INC:
		fuse_reply_err(req, EBADF);
		return;
	case FH_CTL: {
		size_t cur, n;
		char *copy;
		pthread_mutex_lock(&h->lock);
		cur = h->cursor;
		n = cur < h->data.len ? (h->data.len - cur < size ? h->data.len - cur : size) : 0;
		copy = n ? malloc(n) : NULL;
		if (copy)
			memcpy(copy, h->data.data + cur, n);
		if (copy || !n)
			h->cursor += n;
		pthread_mutex_unlock(&h->lock);
		if (n && !copy)
			fuse_reply_err(req, ENOMEM);
		else
			fuse_reply_buf(req, copy, n);
		free(copy);
		return;
	}
	}
}

void fsfile_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fh *h = fh_of(fi);
	ssize_t n;

	switch (h->kind) {
	case FH_SCRATCH:
		n = pwrite(h->fd, data, size, off);
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
		return;
	case FH_CTL:
		ctl_write(req, h, data, size);
		return;
	case FH_INC: {
		int r = fsctl_counter_inc(fs, h->node, data, size);
		if (r < 0) {
			char *path = inode_path(fs->inodes, ino);
			fs_fail("write", path ? path : "counter.inc", -r, NULL);
			free(path);
			fuse_reply_err(req, -r);
		} else {
			fuse_reply_write(req, size);
		}
		return;
	}
	default:
		fuse_reply_err(req, EBADF);
		return;
	}
}

void fsfile_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fh *h = fh_of(fi);
	struct node n;
	char *path;
	int r;

	if (h->kind != FH_SCRATCH || !inode_flag_set(fs->inodes, ino, INODE_DIRTY, false)) {
		fuse_reply_err(req, 0);
		return;
	}
	r = fs_resolve_ino(fs, ino, &path, &n);
	if (r < 0) {
		/* Unlinked before it was closed: nothing to publish. */
		fuse_reply_err(req, 0);
		return;
	}
	r = node_publishes(&n) ? publish_node(fs, fuse_req_ctx(req)->uid, &n, path) : 0;
	free(path);
	fuse_reply_err(req, -r);
}

void fsfile_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fh_free(fh_of(fi));
	fuse_reply_err(req, 0);
}

void fsfile_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int r = 0;

	if (h->kind == FH_SCRATCH && (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		r = errno;
	fuse_reply_err(req, r);
}

/* ---- setattr / unlink / rename --------------------------------------------------- */

static int setattr_scratch(struct fs *fs, const struct node *n, const struct stat *a,
			   int to_set, struct fuse_file_info *fi)
{
	int r = 0;

	if (to_set & FUSE_SET_ATTR_MODE)
		r = scratch_chmod(fs->ctx.scratch, n->sub, a->st_mode);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = scratch_chown(fs->ctx.scratch, n->sub,
				  to_set & FUSE_SET_ATTR_UID ? a->st_uid : (uid_t)-1,
				  to_set & FUSE_SET_ATTR_GID ? a->st_gid : (gid_t)-1);
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		struct fh *h = fi ? fh_of(fi) : NULL;
		if (h && h->kind == FH_SCRATCH)
			r = ftruncate(h->fd, a->st_size) < 0 ? -errno : 0;
		else
			r = scratch_truncate(fs->ctx.scratch, n->sub, a->st_size);
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
		r = scratch_utimens(fs->ctx.scratch, n->sub, t);
	}
	return r;
}

void fsfile_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	struct node n;
	char *path;
	int r = fs_resolve_ino(fs, ino, &path, &n);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (n.kind == N_PUB_FILE)
		r = setattr_scratch(fs, &n, attr, to_set, fi);
	else if (n.kind == N_LK_NAME && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		r = store_lock_renew(fs->ctx.store, &n.url, fs->ctx.lock_timeout);
	else if (n.kind == N_PUB_CTL || n.kind == N_LOCK_CTL || n.kind == N_CNT_INC ||
		 n.kind == N_CNT_QUERY)
		r = to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)
			    ? -EACCES
			    : 0;
	else
		r = -EACCES;
	if (r == 0 && n.kind == N_LK_NAME)
		r = node_resolve(&fs->ctx, path, &n);
	if (r == 0)
		r = node_stat(&fs->ctx, &n, &st);
	if (r < 0) {
		fs_fail("setattr", path, -r, NULL);
		fuse_reply_err(req, -r);
	} else {
		st.st_ino = ino;
		fuse_reply_attr(req, &st, n.kind == N_PUB_FILE ? node_entry_timeout(&n) : 0.0);
	}
	free(path);
}

void fsfile_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	char *ppath, *path = NULL;
	struct node n;
	int r = fs_resolve_ino(fs, parent, &ppath, &n);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	path = fs_child_path(ppath, name);
	r = path ? node_resolve(&fs->ctx, path, &n) : -ENOMEM;
	if (r == 0 && n.kind != N_PUB_FILE)
		r = -EACCES;
	if (r == 0)
		r = scratch_unlink(fs->ctx.scratch, n.sub);
	if (r == 0)
		inode_detach(fs->inodes, path);
	else
		fs_fail("unlink", path ? path : ppath, -r, NULL);
	free(path);
	free(ppath);
	fuse_reply_err(req, -r);
}

static int do_rename(struct fs *fs, uid_t uid, const char *from, const char *to,
		     unsigned flags)
{
	struct node src, dst_dir, dst;
	char *to_dir = strdup(to), *slash;
	const char *leaf;
	int r;

	/* An exchange would publish nothing, a whiteout means nothing here. */
	if (flags & (RENAME_EXCHANGE | RENAME_WHITEOUT)) {
		fs_fail("rename", from, EINVAL, "RENAME_EXCHANGE and RENAME_WHITEOUT are refused");
		free(to_dir);
		return -EINVAL;
	}
	if (!to_dir)
		return -ENOMEM;
	slash = strrchr(to_dir, '/');
	*slash = '\0';
	leaf = slash + 1;
	r = node_resolve(&fs->ctx, from, &src);
	if (r == 0)
		r = node_resolve(&fs->ctx, to_dir, &dst_dir);
	if (r == 0 && (src.kind != N_PUB_FILE || dst_dir.kind != N_PUB_DIR))
		r = -EACCES;
	if (r == 0) {
		dst = dst_dir;
		dst.kind = N_PUB_FILE;
		dst.leaf = leaf;
		if ((size_t)snprintf(dst.sub, sizeof(dst.sub), "%s/%s", dst_dir.sub, leaf) >=
		    sizeof(dst.sub))
			r = -ENAMETOOLONG;
	}
	if (r == 0 && node_publishes(&dst)) {
		struct stat st;
		uint64_t ino = inode_find(fs->inodes, from);
		if (scratch_stat(fs->ctx.scratch, src.sub, &st) == 0 && st.st_size > 0) {
			char abs[PATH_MAX];
			scratch_path(fs->ctx.scratch, src.sub, abs, sizeof(abs));
			r = publish_scratch(fs, uid, &dst.url, leaf, abs, to);
			if (r == 0 && ino)
				inode_flag_set(fs->inodes, ino, INODE_DIRTY, false);
		}
	}
	if (r == 0)
		r = scratch_rename(fs->ctx.scratch, src.sub, dst.sub, flags);
	if (r == 0)
		inode_rename(fs->inodes, from, to);
	free(to_dir);
	return r;
}

void fsfile_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	char *p1 = inode_path(fs->inodes, parent), *p2 = inode_path(fs->inodes, newparent);
	char *from = p1 ? fs_child_path(p1, name) : NULL;
	char *to = p2 ? fs_child_path(p2, newname) : NULL;
	int r = from && to ? do_rename(fs, fuse_req_ctx(req)->uid, from, to, flags) : -ESTALE;

	if (r < 0 && r != -EEXIST && r != -EINVAL && r != -EFBIG && r != -EBUSY)
		fs_fail("rename", from ? from : "?", -r, to);
	fuse_reply_err(req, -r);
	free(from);
	free(to);
	free(p1);
	free(p2);
}
