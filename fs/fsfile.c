/*
 * Open files and the handlers that work on a file's path. A handle
 * (fsfile.h) is made by the tree's open() or create(); reads and writes
 * go by its kind — a descriptor, a snapshot buffer, a transaction file
 * holding its last reply, a stream the tree reads at each call — and to
 * the tree for what only it knows (writes, the close of a publish/ file).
 * create, setattr, unlink and rename resolve their paths and hand the
 * nodes to the tree; a tree without the operation gets the errno SPEC §5
 * gives (EACCES).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "fsfile.h"
#include "banned.h"

#define GENERATED_MAX (1 << 20)

static void fh_release(struct fs_handle *l)
{
	fh_free((struct fh *)l);
}

struct fh *fh_new(struct fs *fs, const struct node *n, enum fh_kind kind, int accmode)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->path = strdup(n->path);
	if (!h->path) {
		free(h);
		return NULL;
	}
	h->fs = fs;
	h->node = *n;
	node_rebase(&h->node, h->path);
	h->kind = kind;
	h->fd = -1;
	h->accmode = accmode;
	buf_init(&h->data, GENERATED_MAX);
	pthread_mutex_init(&h->lock, NULL);
	fs_handle_add(&h->link, fh_release);
	return h;
}

void fh_free(struct fh *h)
{
	if (!h)
		return;
	fs_handle_remove(&h->link);
	if (h->on_release)
		h->on_release(h);
	if (h->fd >= 0)
		close(h->fd);
	buf_free(&h->data);
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h);
}

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

/* A transaction file's write: one request, its reply replaces the last one. */
static void ctl_write(fuse_req_t req, struct fh *h, const char *data, size_t size)
{
	struct fs *fs = fs_of(req);
	bool malformed = false;
	int r;

	pthread_mutex_lock(&h->lock);
	buf_free(&h->data);
	h->cursor = 0;
	r = h->node.tree->request(req, fs, &h->node, data, size, &h->data, &malformed);
	/*
	 * A failed request is a reply, unless nobody can read it; an
	 * interrupted one (its caller gave up waiting) fails in any mode.
	 */
	if (r < 0 && r != -EINTR && !malformed && h->accmode != O_WRONLY)
		r = 0;
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
}

/* ---- open / create --------------------------------------------------------- */

/* The largest immutable content an open puts into the kernel's page cache itself. */
#define STORE_MAX (64 * 1024)

/*
 * An immutable snapshot (FH_BUF opened with keep_cache) goes into the
 * kernel's page cache before the OPEN's reply, once per inode, so that the
 * reads that follow are answered by the kernel: a cold `cat` of a small
 * file costs OPEN and RELEASE, not OPEN, READ and RELEASE. A READ still
 * works (the kernel may have dropped the pages since, or another open's
 * store is not done yet). The first open claims the inode, so only one
 * thread at a time can wait for its pages' locks.
 */
static void store_content(struct fs *fs, fuse_ino_t ino, const struct fh *h,
			  const struct fuse_file_info *fi)
{
	if (h->kind != FH_BUF || !fi->keep_cache || !h->data.len || h->data.len > STORE_MAX ||
	    !fs->notifier || inode_flag_set(fs->inodes, ino, INODE_STORED, true))
		return;
	if (notify_store(fs->notifier, ino, h->data.data, h->data.len) < 0)
		(void)inode_flag_set(fs->inodes, ino, INODE_STORED, false);
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
	r = n.tree->open ? n.tree->open(fs, &n, fi, &h) : -EISDIR;
	if (r < 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		fs_fail("open", path, -r, NULL);
	free(path);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	h->ino = ino;
	fi->fh = (uintptr_t)h;
	/* Nothing to do at close: the kernel need not ask (FOPEN_NOFLUSH). */
	if (!n.tree->flush)
		fi->noflush = 1;
	store_content(fs, ino, h, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(h);
}

void fsfile_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fh *h = NULL;
	char *ppath, *path = NULL;
	struct node pn, n;
	int r = fs_resolve_ino(fs, parent, &ppath, &pn);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	path = fs_child_path(ppath, name);
	if (!path)
		r = -ENOMEM;
	else if (!pn.tree->create)
		r = -EACCES;
	else
		r = pn.tree->create(req, fs, &pn, name, mode, fi, &h);
	if (r == 0)
		r = tree_resolve(fs, path, &n);
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r < 0) {
		fs_fail("create", path ? path : ppath, -r, NULL);
		fh_free(h);
		fuse_reply_err(req, -r);
	} else {
		h->ino = e.ino;
		fi->fh = (uintptr_t)h;
		if (fuse_reply_create(req, &e, fi) == -ENOENT)
			fh_free(h);
	}
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

/* The next slice of a transaction file's reply, from its cursor. */
static void ctl_read(fuse_req_t req, struct fh *h, size_t size)
{
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
}

void fsfile_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	struct buf b;
	int r;

	switch (h->kind) {
	case FH_FD:
	case FH_RWFD: {
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
	case FH_STREAM:
		buf_init(&b, size);
		r = h->node.tree->read(fs_of(req), h, (uint64_t)off, size, &b);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_buf(req, b.data, b.len);
		buf_free(&b);
		return;
	case FH_WRITE:
		fuse_reply_err(req, EBADF);
		return;
	case FH_CTL:
		ctl_read(req, h, size);
		return;
	}
}

void fsfile_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);

	if (h->kind == FH_CTL)
		ctl_write(req, h, data, size);
	else if (h->node.tree->write && (h->kind == FH_RWFD || h->kind == FH_WRITE))
		h->node.tree->write(req, fs_of(req), ino, h, data, size, off);
	else
		fuse_reply_err(req, EBADF);
}

void fsfile_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);

	if (h->node.tree->flush)
		h->node.tree->flush(req, fs_of(req), ino, h);
	else
		fuse_reply_err(req, 0);
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

	if (h->kind == FH_RWFD && (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		r = errno;
	fuse_reply_err(req, r);
}

/* ---- setattr / unlink / rename --------------------------------------------------- */

int fsfile_ctl_setattr(int to_set)
{
	return to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			  FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)
		       ? -EACCES
		       : 0;
}

struct stat_open {
	fuse_ino_t ino;
	struct stat *st;
};

static int stat_open_one(struct fs_handle *l, void *ud)
{
	struct stat_open *w = ud;
	struct fh *h = (struct fh *)l;

	if (l->release != fh_release || h->ino != w->ino || !h->node.tree->fstat || h->fd < 0)
		return 0;
	memset(w->st, 0, sizeof(*w->st));
	return h->node.tree->fstat(h->fs, h, w->st) < 0 ? 0 : 1;
}

int fsfile_stat_open(fuse_ino_t ino, struct stat *st)
{
	struct stat_open w = { ino, st };

	if (!fs_handles_find(stat_open_one, &w))
		return -ENOENT;
	if (!st->st_ino)
		st->st_ino = ino;
	return 0;
}

/*
 * setattr through an open handle of a file whose path names nothing any
 * more (ftruncate or fchmod of an unlinked file): the tree applies it to
 * the node as it was opened, the descriptor doing the work.
 */
static void setattr_open(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi, int err)
{
	struct fh *h = fi ? fh_of(fi) : NULL;
	double timeout = 0.0;
	struct stat st;
	int r = -err;

	if (h && h->fd >= 0 && h->node.tree->fstat && h->node.tree->setattr) {
		r = h->node.tree->setattr(req, fs, &h->node, attr, to_set, fi, &timeout);
		if (r == 0)
			r = fsfile_stat_open(ino, &st);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0.0);
}

void fsfile_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	double timeout = 0.0;
	struct stat st;
	struct node n;
	char *path;
	int r = fs_resolve_ino(fs, ino, &path, &n);

	if (r == -ENOENT || r == -ESTALE) {
		setattr_open(req, fs, ino, attr, to_set, fi, -r);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = n.tree->setattr ? n.tree->setattr(req, fs, &n, attr, to_set, fi, &timeout) : -EACCES;
	if (r == 0)
		r = tree_stat(fs, &n, &st);
	if (r < 0) {
		fs_fail("setattr", path, -r, NULL);
		fuse_reply_err(req, -r);
	} else {
		st.st_ino = ino;
		fuse_reply_attr(req, &st, timeout);
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
	r = path ? tree_resolve(fs, path, &n) : -ENOMEM;
	if (r == 0)
		r = n.tree->unlink ? n.tree->unlink(fs, &n) : -EACCES;
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
	struct node src, dst_dir;
	char *to_dir = strdup(to), *slash;
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
	r = tree_resolve(fs, from, &src);
	if (r == 0)
		r = tree_resolve(fs, to_dir, &dst_dir);
	if (r == 0 && (src.tree != dst_dir.tree || !src.tree->rename))
		r = -EACCES;
	if (r == 0)
		r = src.tree->rename(fs, uid, &src, &dst_dir, from, to, flags);
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
