/*
 * FUSE low-level operations: the request layer. Each handler turns its
 * inode number into a path (inode.c), resolves it to a node (tree.c),
 * calls the operation of the node's tree (tree.h) — NULL meaning "not
 * supported", answered here with the errno SPEC §5 gives — and replies
 * exactly once. The trees invalidate what the kernel may have cached when
 * they change the store (notify.c).
 *
 * Caching: entries and attributes are cached for a long time, negative
 * entries too; whatever the daemon changes on its own (a publish, a
 * deletion) is invalidated before the reply, listings under charms/ and
 * the `latest` links included, which the kernel keeps as well. Immutable
 * payloads (archives, extracted files, info) use keep_cache; generated and
 * control files use direct_io and are never cached.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "fsfile.h"
#include "banned.h"


static bool log_stderr;

void fs_log_init(bool to_stderr)
{
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog("charmfs", LOG_PID, LOG_DAEMON);
}

void fs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_stderr) {
		char line[2048];
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "charmfs: %s\n", line);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

char *fs_child_path(const char *parent, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", parent, name) < 0)
		return NULL;
	return p;
}

void fs_fail(const char *op, const char *path, int err, const char *why)
{
	fs_log(LOG_WARNING, "%s %s: %s%s%s", op, path[0] ? path : "/", strerror(err),
	       why && *why ? ": " : "", why ? why : "");
}

/* Keeps n, packed, with ino when its tree allows (tree.h, "Revalidation"). */
static void keep(struct fs *fs, uint64_t ino, const struct node *n)
{
	alignas(struct node) unsigned char packed[TREE_PACK_MAX];
	size_t len;

	if (tree_cache(n) != TREE_CACHE_STORE)
		return;
	len = tree_pack(n, packed);
	if (len)
		inode_keep(fs->inodes, ino, packed, len, n->gen);
}

int fs_resolve_ino(struct fs *fs, fuse_ino_t ino, char **ret_path, struct node *ret)
{
	alignas(struct node) unsigned char packed[TREE_PACK_MAX];
	int64_t gen = store_changed_ns(fs->ctx.store);
	char *path = inode_path(fs->inodes, ino);
	size_t len;
	int r;

	if (!path)
		return -ESTALE;
	len = inode_kept(fs->inodes, ino, packed, sizeof(packed), gen);
	if (len && tree_unpack(path, gen, packed, len, ret) == 0) {
		*ret_path = path;
		return 0;
	}
	r = tree_resolve(fs, path, ret);
	if (r < 0) {
		free(path);
		return r;
	}
	keep(fs, ino, ret);
	*ret_path = path;
	return 0;
}

int fs_make_entry(struct fs *fs, const char *path, const struct node *n,
		  struct fuse_entry_param *e)
{
	int r;

	memset(e, 0, sizeof(*e));
	r = tree_stat(fs, n, &e->attr);
	if (r < 0)
		return r;
	e->ino = inode_ref(fs->inodes, path);
	if (!e->ino)
		return -ENOMEM;
	if (!e->attr.st_ino)
		e->attr.st_ino = e->ino;
	e->attr_timeout = tree_attr_timeout(n);
	e->entry_timeout = tree_entry_timeout(n);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	char *ppath = inode_path(fs->inodes, parent), *path = NULL;
	struct node n;
	int r;

	if (!ppath) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	path = fs_child_path(ppath, name);
	r = path ? tree_resolve(fs, path, &n) : -ENOMEM;
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r == 0)
		keep(fs, e.ino, &n);
	if (r == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = tree_of_path(ppath)->negative_timeout;
		r = 0;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
	free(path);
	free(ppath);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		inode_forget(fs->inodes, v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	struct node n;
	char *path;
	int r;

	if (h && h->node.tree->fstat) {
		memset(&st, 0, sizeof(st));
		r = h->node.tree->fstat(fs, h, &st);
		if (!st.st_ino)
			st.st_ino = ino;
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_attr(req, &st, 0.0);
		return;
	}
	r = fs_resolve_ino(fs, ino, &path, &n);
	/* A file unlinked (or moved by someone else) while it is open. */
	if ((r == -ENOENT || r == -ESTALE) && fsfile_stat_open(ino, &st) == 0) {
		fuse_reply_attr(req, &st, 0.0);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = tree_stat(fs, &n, &st);
	if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		if (!st.st_ino)
			st.st_ino = ino;
		fuse_reply_attr(req, &st, tree_attr_timeout(&n));
	}
	free(path);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	char target[PATH_MAX];
	struct node n;
	char *path;
	int r = fs_resolve_ino(fs, ino, &path, &n);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = n.tree->readlink ? n.tree->readlink(fs, &n, target, sizeof(target)) : -EINVAL;
	free(path);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
}

/* ---- open handles ---------------------------------------------------------- */

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *handles;

void fs_handle_add(struct fs_handle *h, void (*release)(struct fs_handle *h))
{
	h->release = release;
	h->prev = NULL;
	pthread_mutex_lock(&handles_lock);
	h->next = handles;
	if (handles)
		handles->prev = h;
	handles = h;
	pthread_mutex_unlock(&handles_lock);
}

void fs_handle_remove(struct fs_handle *h)
{
	pthread_mutex_lock(&handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&handles_lock);
}

int fs_handles_find(int (*fn)(struct fs_handle *h, void *ud), void *ud)
{
	int r = 0;

	pthread_mutex_lock(&handles_lock);
	for (struct fs_handle *h = handles; h && !r; h = h->next)
		r = fn(h, ud);
	pthread_mutex_unlock(&handles_lock);
	return r;
}

void fs_handles_cleanup(void)
{
	while (handles)
		handles->release(handles); /* removes itself */
}

/* ---- directories ----------------------------------------------------------- */

struct dir_entry {
	char *name;
	mode_t type;
};

struct dir_handle {
	struct fs_handle link; /* first: the registry hands it back */
	char *path;
	struct fs *fs;
	struct node node;     /* as resolved at opendir, pointing at path */
	void *state;          /* the tree's opendir() state */
	bool listed;
	struct dir_entry *v;
	size_t n;
};

static int collect(void *ud, const char *name, mode_t type)
{
	struct dir_handle *d = ud;
	struct dir_entry *nv = realloc(d->v, (d->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	d->v = nv;
	nv[d->n].name = strdup(name);
	nv[d->n].type = type;
	if (!nv[d->n].name)
		return -ENOMEM;
	d->n++;
	return 0;
}

static void dir_clear(struct dir_handle *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	d->n = 0;
}

static void dir_free(struct dir_handle *d)
{
	if (!d)
		return;
	fs_handle_remove(&d->link);
	if (d->state)
		d->node.tree->releasedir(d->fs, d->state);
	dir_clear(d);
	free(d->v);
	free(d->path);
	free(d);
}

static void dir_release(struct fs_handle *h)
{
	dir_free((struct dir_handle *)h);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = calloc(1, sizeof(*d));
	int r = d ? fs_resolve_ino(fs, ino, &d->path, &d->node) : -ENOMEM;

	if (d)
		fs_handle_add(&d->link, dir_release);
	if (r < 0) {
		dir_free(d);
		fuse_reply_err(req, -r);
		return;
	}
	d->fs = fs;
	if (d->node.tree->opendir) {
		r = d->node.tree->opendir(fs, &d->node, &d->state);
		if (r < 0) {
			dir_free(d);
			fuse_reply_err(req, -r);
			return;
		}
	}
	fi->fh = (uintptr_t)d;
	if (d->node.tree->listing_cached && d->node.tree->listing_cached(&d->node)) {
		/* The kernel keeps the listing until we invalidate the directory. */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/*
 * Lists the directory at its first READDIR, not at opendir: the kernel
 * serves a listing it keeps (cache_readdir) without asking, and then the
 * listing would be made for nothing. The kernel reads one handle from one
 * thread at a time.
 */
static int dir_list(struct fs *fs, struct dir_handle *d)
{
	int r;

	if (d->listed)
		return 0;
	r = d->node.tree->list ? d->node.tree->list(fs, &d->node, d->state, collect, d) : -ENOTDIR;
	if (r < 0)
		dir_clear(d); /* nothing half-listed: the next READDIR starts again */
	d->listed = r == 0;
	return r;
}

/* A stable, non-zero d_ino for entries the kernel has not looked up. */
static ino_t dir_ino(struct fs *fs, const char *parent, const char *name)
{
	char *p = fs_child_path(parent, name);
	ino_t ino = p ? inode_number_hint(fs->inodes, p) : 1;

	free(p);
	return ino;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int r = buf ? dir_list(fs, d) : -ENOMEM;

	if (r < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		struct stat st = { 0 };
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->v[i - 2].name;
		size_t need;
		st.st_mode = i < 2 ? S_IFDIR : d->v[i - 2].type;
		st.st_ino = i == 0 ? ino : i == 1 ? 1 : dir_ino(fs, d->path, name);
		need = fuse_add_direntry(req, p, left, name, &st, (off_t)i + 1);
		if (need > left)
			break;
		p += need;
		left -= need;
	}
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

/*
 * READDIRPLUS: entries with their attributes, so that `ls -l` and `find`
 * need no LOOKUP per entry. Each entry returned takes a lookup reference.
 */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int r = buf ? dir_list(fs, d) : -ENOMEM;

	if (r < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		struct fuse_entry_param e = { 0 };
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->v[i - 2].name;
		char *path = NULL;
		struct node n;
		size_t need;
		if (i < 2) {
			e.attr.st_mode = S_IFDIR;
			e.attr.st_ino = i == 0 ? ino : 1;
		} else {
			path = fs_child_path(d->path, name);
			if (!path || tree_resolve(fs, path, &n) < 0 ||
			    fs_make_entry(fs, path, &n, &e) < 0) {
				/* Gone since opendir: skip it. */
				free(path);
				continue;
			}
		}
		need = fuse_add_direntry_plus(req, p, left, name, &e, (off_t)i + 1);
		if (need > left) {
			if (e.ino)
				inode_forget(fs->inodes, e.ino, 1);
			free(path);
			break;
		}
		free(path);
		p += need;
		left -= need;
	}
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dir_free((struct dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static int do_mkdir(fuse_req_t req, struct fs *fs, const char *path, const struct node *parent,
		    const char *name, mode_t mode)
{
	struct node n;

	if (tree_resolve(fs, path, &n) == 0)
		return -EEXIST;
	return parent->tree->mkdir ? parent->tree->mkdir(req, fs, parent, name, mode) : -EACCES;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	char *ppath, *path = NULL;
	struct node pn, n;
	int r = fs_resolve_ino(fs, parent, &ppath, &pn);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	path = fs_child_path(ppath, name);
	r = path ? do_mkdir(req, fs, path, &pn, name, mode) : -ENOMEM;
	if (r == 0)
		r = tree_resolve(fs, path, &n);
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r < 0) {
		fs_fail("mkdir", path ? path : ppath, -r, NULL);
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
	free(path);
	free(ppath);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
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
	if (r == 0 && n.tree->rmdir) {
		r = n.tree->rmdir(req, fs, &n, ppath);
	} else {
		if (r == 0)
			r = -EACCES;
		if (r != -ENOENT)
			fs_fail("rmdir", path ? path : ppath, -r, NULL);
	}
	free(path);
	free(ppath);
	fuse_reply_err(req, -r);
}

/* Replies to a request that made name in the directory at ppath (r: its result) with its entry. */
static void reply_made(fuse_req_t req, struct fs *fs, const char *op, char *ppath, const char *name,
		       int r)
{
	struct fuse_entry_param e;
	char *path = fs_child_path(ppath, name);
	struct node n;

	if (r == 0)
		r = path ? tree_resolve(fs, path, &n) : -ENOMEM;
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r < 0) {
		fs_fail(op, path ? path : ppath, -r, NULL);
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
	free(path);
	free(ppath);
}

/* Symbolic and hard links exist only where a tree makes them (a real directory). */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct node pn;
	char *ppath;
	int r = fs_resolve_ino(fs, parent, &ppath, &pn);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = pn.tree->symlink ? pn.tree->symlink(req, fs, &pn, name, link) : -EACCES;
	reply_made(req, fs, "symlink", ppath, name, r);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct node src, pn;
	char *spath = NULL, *ppath;
	int r = fs_resolve_ino(fs, parent, &ppath, &pn);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = fs_resolve_ino(fs, ino, &spath, &src);
	if (r == 0)
		r = src.tree == pn.tree && pn.tree->link ? pn.tree->link(fs, &src, &pn, name)
							  : -EACCES;
	free(spath);
	reply_made(req, fs, "link", ppath, name, r);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	char *ppath = inode_path(fs_of(req)->inodes, parent);

	fs_fail("mknod", ppath ? ppath : "?", EACCES, name);
	free(ppath);
	fuse_reply_err(req, EACCES);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv;

	if (statvfs(store_scratch_dir(fs->ctx.store), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* Stored files reach the kernel by splice, without a copy through our memory. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* `latest` is invalidated with the rest of a publish; the others never change. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	conn->max_write = 1024 * 1024;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = fsfile_setattr,
	.readlink = op_readlink,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.mknod = op_mknod,
	.unlink = fsfile_unlink,
	.rmdir = op_rmdir,
	.rename = fsfile_rename,
	.open = fsfile_open,
	.read = fsfile_read,
	.write = fsfile_write,
	.flush = fsfile_flush,
	.release = fsfile_release,
	.fsync = fsfile_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.create = fsfile_create,
};
