/*
 * packages/ (SPEC §4.6): one directory per package, its files read from
 * and written to the package core (pkg.h) at every request. A write of
 * version, settings or enabled is the whole new value and returns the
 * core's answer (direct_io, as SPEC §4 says of files whose writes trigger
 * work); the hooks it starts run as changes of the engine.
 *
 *   packages/               0755 root: mkdir NAME makes a package (root only)
 *   packages/NAME/          0755: rmdir removes the package (stop, remove)
 *     version  enabled      0644 rw      settings  0600 rw (root's alone)
 *     checksum status       0444 r       log       0600 r (root's alone)
 *     change                symlink to ../../changes/ID, the newest change
 *     charm/                the deployed tree, read-only
 *     state/                0700, a real read-write directory (realdir.h)
 *
 * Hooks change status, log and state/ behind the kernel's back and a
 * removal ends by itself, so nothing here is cached: TREE_CACHE_NONE,
 * volatile attributes, entry timeout 0.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "fsfile.h"
#include "pkg.h"
#include "realdir.h"
#include "banned.h"

enum packages_kind {
	PK_TOP,	   /* /packages */
	PK_PKG,	   /* /packages/NAME */
	PK_FILE,   /* /packages/NAME/{version,...} */
	PK_CHANGE, /* /packages/NAME/change */
	PK_CHARM,  /* /packages/NAME/charm[/...] */
	PK_STATE,  /* /packages/NAME/state[/...] */
};

enum pkg_file { PF_CHECKSUM, PF_ENABLED, PF_LOG, PF_SETTINGS, PF_STATUS, PF_VERSION };

static const struct {
	const char *name;
	mode_t mode;
} pkg_files[] = {
	[PF_CHECKSUM] = { "checksum", 0444 }, [PF_ENABLED] = { "enabled", 0644 },
	[PF_LOG] = { "log", 0600 },	       [PF_SETTINGS] = { "settings", 0600 },
	[PF_STATUS] = { "status", 0444 },     [PF_VERSION] = { "version", 0644 },
};

struct packages_state {
	uint32_t name; /* offset in the path of the package's name */
	uint32_t sub;  /* PK_CHARM, PK_STATE: offset of the path inside the directory */
	int file;      /* PK_FILE: enum pkg_file */
};
TREE_STATE_FITS(struct packages_state);

#define ST(n) TREE_STATE(n, struct packages_state)
#define CST(n) TREE_CSTATE(n, struct packages_state)

/* The package's name: a copy out of the path (it is followed by more components). */
static void pkg_name(const struct node *n, char *out, size_t len)
{
	const char *p = n->path + CST(n)->name;
	size_t l = strcspn(p, "/");

	snprintf(out, len, "%.*s", (int)l, p);
}

static const char *real_sub(const struct node *n)
{
	return n->path + CST(n)->sub;
}

static bool is_real(const struct node *n)
{
	return n->kind == PK_CHARM || n->kind == PK_STATE;
}

/* The directory descriptor of a real node's package directory (caller closes). */
static int real_dirfd(struct fs *fs, const struct node *n, int *ret)
{
	char name[NAME_MAX + 1];

	pkg_name(n, name, sizeof(name));
	return pkg_dir_at(fs->ctx.store, name, n->kind == PK_CHARM ? PKG_DIR_CHARM : PKG_DIR_STATE,
			  ret);
}

static int pkg_exists(struct fs *fs, const char *name)
{
	struct pkg_info pi;
	int r = pkg_get(fs->ctx.store, name, &pi);

	if (r == 0)
		pkg_info_free(&pi);
	return r;
}

static int packages_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	struct packages_state *s = ST(ret);
	struct stat st;
	int r, dirfd;

	ret->kind = PK_TOP;
	if (cp->n == 1)
		return 0;
	s->name = comps_off(cp, 1);
	if (cp->n == 2) {
		ret->kind = PK_PKG;
		return pkg_exists(fs, cp->v[1]);
	}
	if (strcmp(cp->v[2], "charm") == 0 || strcmp(cp->v[2], "state") == 0) {
		ret->kind = cp->v[2][0] == 'c' ? PK_CHARM : PK_STATE;
		s->sub = cp->n > 3 ? comps_off(cp, 3) : (uint32_t)strlen(cp->path);
		r = real_dirfd(fs, ret, &dirfd);
		if (r < 0)
			return r;
		r = realdir_stat(dirfd, real_sub(ret), &st);
		close(dirfd);
		return r;
	}
	if (cp->n != 3)
		return -ENOENT;
	r = pkg_exists(fs, cp->v[1]);
	if (r < 0)
		return r;
	if (strcmp(cp->v[2], "change") == 0) {
		ret->kind = PK_CHANGE;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(pkg_files); i++)
		if (strcmp(cp->v[2], pkg_files[i].name) == 0) {
			ret->kind = PK_FILE;
			s->file = (int)i;
			return 0;
		}
	return -ENOENT;
}

/* ---- content ------------------------------------------------------------------ */

/* A package file's content into out; its modification time (ns) into *ret_ns. */
static int file_content(struct fs *fs, const struct node *n, struct buf *out, int64_t *ret_ns)
{
	char name[NAME_MAX + 1];
	struct pkg_info pi;
	int r;

	pkg_name(n, name, sizeof(name));
	r = pkg_get(fs->ctx.store, name, &pi);
	if (r < 0)
		return r;
	switch ((enum pkg_file)CST(n)->file) {
	case PF_VERSION:
		*ret_ns = pi.version_ns;
		r = pi.version[0] ? buf_addf(out, "%s\n", pi.version) : 0;
		break;
	case PF_SETTINGS:
		*ret_ns = pi.settings_ns;
		r = buf_addf(out, "%s\n", pi.settings);
		break;
	case PF_CHECKSUM:
		*ret_ns = pi.settings_ns;
		r = buf_addf(out, "%s\n", pi.checksum);
		break;
	case PF_ENABLED:
		*ret_ns = pi.enabled_ns;
		r = buf_addf(out, "%d\n", pi.enabled ? 1 : 0);
		break;
	case PF_STATUS:
		*ret_ns = pi.status_ns;
		r = buf_addf(out, "%s\n", pi.status);
		break;
	case PF_LOG:
		*ret_ns = pi.log_ns;
		r = pkg_log_read(fs->ctx.store, name, 0, (size_t)pi.log_size, out);
		break;
	}
	pkg_info_free(&pi);
	return r;
}

/* ---- attributes and listings ----------------------------------------------------- */

static int real_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	int dirfd, r = real_dirfd(fs, n, &dirfd);

	if (r < 0)
		return r;
	r = realdir_stat(dirfd, real_sub(n), st);
	close(dirfd);
	/* The deployed tree is the store's: nobody writes it through the mount. */
	if (r == 0 && n->kind == PK_CHARM)
		st->st_mode &= ~(mode_t)0222;
	return r;
}

static int packages_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	char name[NAME_MAX + 1];
	struct pkg_info pi;
	struct buf b;
	int64_t ns = 0;
	int r;

	switch ((enum packages_kind)n->kind) {
	case PK_TOP:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case PK_PKG:
	case PK_CHANGE:
		pkg_name(n, name, sizeof(name));
		r = pkg_get(fs->ctx.store, name, &pi);
		if (r < 0)
			return r;
		if (n->kind == PK_PKG) {
			st->st_mode = S_IFDIR | 0755;
			st->st_nlink = 4;
			tree_set_time(st, pi.created_ns);
		} else {
			char target[64];
			st->st_mode = S_IFLNK | 0777;
			st->st_size = snprintf(target, sizeof(target), "../../changes/%lld",
					       (long long)pi.change_id);
			tree_set_time(st, pi.version_ns > pi.settings_ns ? pi.version_ns
									  : pi.settings_ns);
			r = pi.change_id > 0 ? 0 : -ENOENT;
		}
		pkg_info_free(&pi);
		return r;
	case PK_FILE:
		st->st_mode = S_IFREG | pkg_files[CST(n)->file].mode;
		if (CST(n)->file == PF_LOG) {
			/* Its size without reading up to PKG_LOG_MAX bytes of it. */
			pkg_name(n, name, sizeof(name));
			r = pkg_get(fs->ctx.store, name, &pi);
			if (r < 0)
				return r;
			st->st_size = (off_t)pi.log_size;
			tree_set_time(st, pi.log_ns);
			pkg_info_free(&pi);
			return 0;
		}
		buf_init(&b, SIZE_MAX);
		r = file_content(fs, n, &b, &ns);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		if (r == 0)
			tree_set_time(st, ns);
		return r;
	case PK_CHARM:
	case PK_STATE:
		return real_stat(fs, n, st);
	}
	return -ENOENT;
}

/* What a package directory lists, in order (change only once there is one). */
static const struct {
	const char *name;
	mode_t type;
} pkg_listing[] = {
	{ "change", S_IFLNK },	 { "charm", S_IFDIR },	 { "checksum", S_IFREG },
	{ "enabled", S_IFREG },	 { "log", S_IFREG },	 { "settings", S_IFREG },
	{ "state", S_IFDIR },	 { "status", S_IFREG },	 { "version", S_IFREG },
};

static int packages_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
			 void *ud)
{
	struct tree_dirs a = { cb, ud, NULL };
	char name[NAME_MAX + 1];
	struct pkg_info pi;
	int r = 0, dirfd;

	switch ((enum packages_kind)n->kind) {
	case PK_TOP:
		return pkg_list(fs->ctx.store, tree_list_dirs, &a);
	case PK_PKG:
		pkg_name(n, name, sizeof(name));
		r = pkg_get(fs->ctx.store, name, &pi);
		if (r < 0)
			return r;
		for (size_t i = 0; r == 0 && i < ARRAY_SIZE(pkg_listing); i++)
			if (pi.change_id > 0 || strcmp(pkg_listing[i].name, "change") != 0)
				r = cb(ud, pkg_listing[i].name, pkg_listing[i].type);
		pkg_info_free(&pi);
		return r;
	case PK_CHARM:
	case PK_STATE:
		r = real_dirfd(fs, n, &dirfd);
		if (r < 0)
			return r;
		r = realdir_list(dirfd, real_sub(n), cb, ud);
		close(dirfd);
		return r;
	default:
		return -ENOTDIR;
	}
}

static int packages_readlink(struct fs *fs, const struct node *n, char *target, size_t len)
{
	char name[NAME_MAX + 1];
	struct pkg_info pi;
	int r, dirfd;

	if (is_real(n)) {
		r = real_dirfd(fs, n, &dirfd);
		if (r < 0)
			return r;
		r = realdir_readlink(dirfd, real_sub(n), target, len);
		close(dirfd);
		return r;
	}
	if (n->kind != PK_CHANGE)
		return -EINVAL;
	pkg_name(n, name, sizeof(name));
	r = pkg_get(fs->ctx.store, name, &pi);
	if (r < 0)
		return r;
	r = pi.change_id > 0 ? 0 : -ENOENT;
	if (r == 0)
		snprintf(target, len, "../../changes/%lld", (long long)pi.change_id);
	pkg_info_free(&pi);
	return r;
}

/* ---- making and removing ------------------------------------------------------------ */

static int packages_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent,
			  const char *name, mode_t mode)
{
	int r, dirfd;
	char rel[PATH_MAX];

	if (parent->kind == PK_TOP)
		return pkg_create(fs->ctx.store, name);
	if (parent->kind != PK_STATE)
		return -EACCES;
	r = real_dirfd(fs, parent, &dirfd);
	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%s%s%s", real_sub(parent), real_sub(parent)[0] ? "/" : "",
		 name);
	r = realdir_mkdir(req, dirfd, rel, mode);
	close(dirfd);
	return r;
}

/* The path inside the real directory of parent's child name into rel[len]. */
static int child_rel(const struct node *parent, const char *name, char *rel, size_t len)
{
	const char *sub = real_sub(parent);
	int n = snprintf(rel, len, "%s%s%s", sub, sub[0] ? "/" : "", name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int packages_create(fuse_req_t req, struct fs *fs, const struct node *parent,
			   const char *name, mode_t mode, struct fuse_file_info *fi,
			   struct fh **ret)
{
	char rel[PATH_MAX];
	int r, dirfd;

	if (parent->kind != PK_STATE)
		return -EACCES;
	r = child_rel(parent, name, rel, sizeof(rel));
	if (r == 0)
		r = real_dirfd(fs, parent, &dirfd);
	if (r < 0)
		return r;
	r = realdir_create(req, fs, parent, dirfd, rel, mode, fi, ret);
	close(dirfd);
	return r;
}

static int packages_symlink(fuse_req_t req, struct fs *fs, const struct node *parent,
			    const char *name, const char *target)
{
	char rel[PATH_MAX];
	int r, dirfd;

	if (parent->kind != PK_STATE)
		return -EACCES;
	r = child_rel(parent, name, rel, sizeof(rel));
	if (r == 0)
		r = real_dirfd(fs, parent, &dirfd);
	if (r < 0)
		return r;
	r = realdir_symlink(req, target, dirfd, rel);
	close(dirfd);
	return r;
}

/* Whether a and b are in the state/ directory of one package. */
static bool same_state(const struct node *a, const struct node *b)
{
	char na[NAME_MAX + 1], nb[NAME_MAX + 1];

	if (a->kind != PK_STATE || b->kind != PK_STATE)
		return false;
	pkg_name(a, na, sizeof(na));
	pkg_name(b, nb, sizeof(nb));
	return strcmp(na, nb) == 0;
}

static int packages_link(struct fs *fs, const struct node *src, const struct node *parent,
			 const char *name)
{
	char rel[PATH_MAX];
	int r, dirfd;

	if (!same_state(src, parent) || !real_sub(src)[0])
		return src->kind == PK_STATE && parent->kind == PK_STATE ? -EXDEV : -EACCES;
	r = child_rel(parent, name, rel, sizeof(rel));
	if (r == 0)
		r = real_dirfd(fs, parent, &dirfd);
	if (r < 0)
		return r;
	r = realdir_link(dirfd, real_sub(src), dirfd, rel);
	close(dirfd);
	return r;
}

static int packages_rmdir(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath)
{
	char name[NAME_MAX + 1];
	int r, dirfd;

	if (n->kind == PK_PKG) {
		pkg_name(n, name, sizeof(name));
		r = pkg_remove(fs->ctx.store, name);
	} else if (n->kind == PK_STATE && real_sub(n)[0]) {
		r = real_dirfd(fs, n, &dirfd);
		if (r == 0) {
			r = realdir_rmdir(dirfd, real_sub(n));
			close(dirfd);
		}
	} else {
		r = -EACCES;
	}
	if (r == 0)
		inode_detach(fs->inodes, n->path);
	else if (r != -ENOENT)
		fs_fail("rmdir", n->path, -r, NULL);
	return r;
}

static int packages_unlink(struct fs *fs, const struct node *n)
{
	int r, dirfd;

	if (n->kind != PK_STATE || !real_sub(n)[0])
		return -EACCES;
	r = real_dirfd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_unlink(dirfd, real_sub(n));
	close(dirfd);
	return r;
}

static int packages_rename(struct fs *fs, uid_t uid, const struct node *src,
			   const struct node *dst_dir, const char *from, const char *to,
			   unsigned flags)
{
	char rel[PATH_MAX];
	const char *leaf = strrchr(to, '/') + 1;
	int r, dirfd;

	if (!same_state(src, dst_dir) || !real_sub(src)[0])
		return -EACCES;
	r = child_rel(dst_dir, leaf, rel, sizeof(rel));
	if (r == 0)
		r = real_dirfd(fs, src, &dirfd);
	if (r < 0)
		return r;
	r = realdir_rename(dirfd, real_sub(src), dirfd, rel, flags);
	close(dirfd);
	return r;
}

/* ---- open files ----------------------------------------------------------------- */

static bool writable(int file)
{
	return file == PF_VERSION || file == PF_SETTINGS || file == PF_ENABLED;
}

static int packages_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
			 struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE, r, dirfd;
	struct fh *h;

	if (is_real(n)) {
		if (n->kind == PK_CHARM && acc != O_RDONLY)
			return -EACCES;
		r = real_dirfd(fs, n, &dirfd);
		if (r < 0)
			return r;
		r = realdir_open(fs, n, dirfd, real_sub(n), fi, ret);
		close(dirfd);
		return r;
	}
	if (n->kind != PK_FILE)
		return -EISDIR;
	if (acc != O_RDONLY && !writable(CST(n)->file))
		return -EACCES;
	h = fh_new(fs, n, acc == O_RDONLY ? FH_STREAM : FH_WRITE, acc);
	if (!h)
		return -ENOMEM;
	fi->direct_io = 1;
	*ret = h;
	return 0;
}

static int packages_read(struct fs *fs, struct fh *h, uint64_t off, size_t size, struct buf *out)
{
	struct buf b;
	int64_t ns;
	int r;

	buf_init(&b, SIZE_MAX);
	r = file_content(fs, &h->node, &b, &ns);
	if (r == 0 && off < b.len)
		r = buf_add(out, b.data + off, b.len - off < size ? b.len - off : size);
	buf_free(&b);
	return r;
}

/* enabled: "1" or "0", one newline allowed. */
static int parse_enabled(const char *data, size_t len, bool *ret)
{
	if (len && data[len - 1] == '\n')
		len--;
	if (len != 1 || (data[0] != '0' && data[0] != '1'))
		return -EINVAL;
	*ret = data[0] == '1';
	return 0;
}

/*
 * The kernel keeps a symbolic link's target (FUSE_CAP_CACHE_SYMLINKS):
 * after a write that recorded a change, the package's change link is
 * invalidated before the reply, so that it shows the new change at once.
 */
static void invalidate_change(struct fs *fs, const struct node *n)
{
	char name[NAME_MAX + 1], path[PATH_MAX];
	struct notify_batch *b = notify_batch_new(fs->notifier);

	pkg_name(n, name, sizeof(name));
	snprintf(path, sizeof(path), "/%s/%s/change", tree_packages.name, name);
	notify_inode(b, path);
	notify_batch_run(b);
}

/* Applies the value written so far (h->data) to the package. */
static int apply(struct fs *fs, struct fh *h, struct strv *errors)
{
	char name[NAME_MAX + 1];
	bool on;

	pkg_name(&h->node, name, sizeof(name));
	switch ((enum pkg_file)CST(&h->node)->file) {
	case PF_VERSION:
		return pkg_set_version(fs->ctx.store, name, h->data.data, h->data.len, errors);
	case PF_SETTINGS:
		return pkg_set_settings(fs->ctx.store, name, h->data.data, h->data.len, errors);
	case PF_ENABLED:
		if (parse_enabled(h->data.data, h->data.len, &on) < 0)
			return strv_errf(errors, -EINVAL, NULL, "enabled takes 1 or 0");
		return pkg_set_enabled(fs->ctx.store, name, on);
	default:
		return -EACCES;
	}
}

/*
 * A write of version, settings or enabled: the whole value, or its next
 * piece when it continues the last write (a value longer than one write
 * is applied whole again). The write returns what applying it returned.
 */
static void packages_write(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h,
			   const char *data, size_t size, off_t off)
{
	struct strv errors = { 0 };
	char *why;
	int r;

	if (is_real(&h->node)) {
		realdir_write(req, h, data, size, off);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (off == 0 || (size_t)off != h->data.len)
		h->data.len = 0;
	r = buf_add(&h->data, data, size);
	if (r == 0)
		r = apply(fs, h, &errors);
	pthread_mutex_unlock(&h->lock);
	if (r < 0) {
		why = strv_join(&errors, "; ");
		fs_fail("write", h->path, -r, why);
		free(why);
		fuse_reply_err(req, -r);
	} else {
		invalidate_change(fs, &h->node);
		fuse_reply_write(req, size);
	}
	strv_clear(&errors);
}

static int packages_fstat(struct fs *fs, struct fh *h, struct stat *st)
{
	if (is_real(&h->node) && h->fd >= 0)
		return realdir_fstat(h, st);
	return tree_stat(fs, &h->node, st);
}

static int packages_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			    int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	int r, dirfd;

	if (n->kind == PK_FILE)
		return writable(CST(n)->file) ? fsfile_ctl_setattr(to_set) : -EACCES;
	if (n->kind != PK_STATE)
		return -EACCES;
	r = real_dirfd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_setattr(dirfd, real_sub(n), attr, to_set, fi);
	close(dirfd);
	return r;
}

/* ---- caching -------------------------------------------------------------------- */

static double packages_entry_timeout(const struct node *n)
{
	return n->kind == PK_TOP ? NODE_TIMEOUT : 0.0;
}

static bool packages_volatile(const struct node *n)
{
	return n->kind != PK_TOP;
}

const struct tree_ops tree_packages = {
	.name = "packages",
	.type = S_IFDIR,
	.negative_timeout = 0.0,
	.resolve = packages_resolve,
	.stat = packages_stat,
	.list = packages_list,
	.readlink = packages_readlink,
	.open = packages_open,
	.create = packages_create,
	.mkdir = packages_mkdir,
	.rmdir = packages_rmdir,
	.unlink = packages_unlink,
	.rename = packages_rename,
	.symlink = packages_symlink,
	.link = packages_link,
	.setattr = packages_setattr,
	.fstat = packages_fstat,
	.read = packages_read,
	.write = packages_write,
	.entry_timeout = packages_entry_timeout,
	.attr_volatile = packages_volatile,
};
