/*
 * upgrade/releases/ (SPEC §4.9): the releases this charmfs serves under
 * /releases/ of its HTTP API (upgrade/serve.h), a real read-write
 * directory (realdir.h) over STOREDIR/releases:
 *
 *   upgrade/releases/                   0755 root: mkdir VERSION (a valid version)
 *   upgrade/releases/VERSION/           release, signature, and dot-names only
 *   upgrade/releases/VERSION/release    the archive, as copied in
 *   upgrade/releases/VERSION/signature  its hex signature (charmfs --sign-release)
 *
 * Writing is root's alone: the directories are root's and 0755, and the
 * kernel checks that on their real attributes (default_permissions); a
 * file keeps the mode and owner it was made with. The names are the
 * serving core's rules (serve_version_name(), serve_file_name(),
 * serve_version_check()): a name that breaks them is EINVAL, a version of
 * the same precedence as another's EEXIST; so are directories below a
 * version, and symbolic links anywhere (what is served is directories and
 * regular files only). Dot-names are allowed in a version so that cp,
 * rsync and editors can write a temporary and rename it into place.
 * Removing is free: rm -r of a version works.
 *
 * Root may also change STOREDIR/releases directly, so nothing here is
 * cached: volatile attributes, entry timeout 0 (the fixed releases/ itself
 * excepted), TREE_CACHE_NONE.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "fsfile.h"
#include "inode.h"
#include "realdir.h"
#include "serve.h"
#include "tree_releases.h"
#include "banned.h"

enum releases_level {
	RL_TOP,	    /* upgrade/releases */
	RL_VERSION, /* upgrade/releases/VERSION */
	RL_DEEP,    /* anything below a version: its files (and what root put there directly) */
};

struct releases_state {
	int level;    /* enum releases_level */
	uint32_t sub; /* offset in the path of the part below upgrade/releases/ */
};
TREE_STATE_FITS(struct releases_state);

#define ST(n) TREE_STATE(n, struct releases_state)
#define CST(n) TREE_CSTATE(n, struct releases_state)

/* n's path inside STOREDIR/releases ("" for the directory itself). */
static const char *real_sub(const struct node *n)
{
	return n->path + CST(n)->sub;
}

static int dir_fd(struct fs *fs, int *ret)
{
	return serve_dir_at(store_dir(fs->ctx.store), ret);
}

/* The path inside the real directory of parent's child name into rel[len]. */
static int child_rel(const struct node *parent, const char *name, char *rel, size_t len)
{
	const char *sub = real_sub(parent);
	int n = snprintf(rel, len, "%s%s%s", sub, sub[0] ? "/" : "", name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The version a node of level RL_VERSION or below is in, into out[len]. */
static void version_of(const struct node *n, char *out, size_t len)
{
	const char *p = real_sub(n);

	snprintf(out, len, "%.*s", (int)strcspn(p, "/"), p);
}

/* Whether name may be made in the directory parent: a file (is_dir false) or a directory. */
static int may_make(struct fs *fs, const struct node *parent, const char *name, bool is_dir,
		    const char *except)
{
	char version[NAME_MAX + 1];

	switch ((enum releases_level)CST(parent)->level) {
	case RL_TOP:
		return is_dir ? serve_version_check(store_dir(fs->ctx.store), name, except)
			      : -EINVAL;
	case RL_VERSION:
		version_of(parent, version, sizeof(version));
		return !is_dir && serve_version_name(version) && serve_file_name(name) ? 0
										       : -EINVAL;
	case RL_DEEP:
		break;
	}
	return -EINVAL;
}

/* ---- the operations ------------------------------------------------------------ */

static int releases_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	struct releases_state *s = ST(ret);
	struct stat st;
	int r, dirfd;

	s->level = cp->n == 2 ? RL_TOP : cp->n == 3 ? RL_VERSION : RL_DEEP;
	s->sub = cp->n > 2 ? comps_off(cp, 2) : (uint32_t)strlen(cp->path);
	r = dir_fd(fs, &dirfd);
	if (r < 0)
		return r;
	r = realdir_stat(dirfd, real_sub(ret), &st);
	close(dirfd);
	return r;
}

static int releases_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	int dirfd, r = dir_fd(fs, &dirfd);

	if (r < 0)
		return r;
	r = realdir_stat(dirfd, real_sub(n), st);
	close(dirfd);
	return r;
}

static int releases_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
			 void *ud)
{
	int dirfd, r = dir_fd(fs, &dirfd);

	if (r < 0)
		return r;
	r = realdir_list(dirfd, real_sub(n), cb, ud);
	close(dirfd);
	return r;
}

static int releases_readlink(struct fs *fs, const struct node *n, char *target, size_t len)
{
	int dirfd, r = dir_fd(fs, &dirfd);

	if (r < 0)
		return r;
	r = realdir_readlink(dirfd, real_sub(n), target, len);
	close(dirfd);
	return r;
}

static int releases_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
			 struct fh **ret)
{
	int dirfd, r = dir_fd(fs, &dirfd);

	if (r < 0)
		return r;
	r = realdir_open(fs, n, dirfd, real_sub(n), fi, ret);
	close(dirfd);
	return r;
}

/*
 * What a create or mkdir of name under parent needs: the check that it may
 * be made there, its path relative to the releases directory (rel, of
 * PATH_MAX bytes) and that directory's descriptor (the caller closes it).
 */
static int make_at(struct fs *fs, const struct node *parent, const char *name, bool dir,
		   char *rel, int *ret_dirfd)
{
	int r = may_make(fs, parent, name, dir, NULL);

	if (r == 0)
		r = child_rel(parent, name, rel, PATH_MAX);
	return r < 0 ? r : dir_fd(fs, ret_dirfd);
}

static int releases_create(fuse_req_t req, struct fs *fs, const struct node *parent,
			   const char *name, mode_t mode, struct fuse_file_info *fi,
			   struct fh **ret)
{
	char rel[PATH_MAX];
	int dirfd, r = make_at(fs, parent, name, false, rel, &dirfd);

	if (r < 0)
		return r;
	r = realdir_create(req, fs, parent, dirfd, rel, mode, fi, ret);
	close(dirfd);
	return r;
}

static int releases_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent,
			  const char *name, mode_t mode)
{
	char rel[PATH_MAX];
	int dirfd, r = make_at(fs, parent, name, true, rel, &dirfd);

	if (r < 0)
		return r;
	r = realdir_mkdir(req, dirfd, rel, mode);
	close(dirfd);
	return r;
}

static int releases_rmdir(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath)
{
	int dirfd, r = CST(n)->level == RL_TOP ? -EACCES : dir_fd(fs, &dirfd);

	if (r == 0) {
		r = realdir_rmdir(dirfd, real_sub(n));
		close(dirfd);
	}
	if (r == 0)
		inode_detach(fs->inodes, n->path);
	else if (r != -ENOENT)
		fs_fail("rmdir", n->path, -r, NULL);
	return r;
}

static int releases_unlink(struct fs *fs, const struct node *n)
{
	int dirfd, r = CST(n)->level == RL_TOP ? -EACCES : dir_fd(fs, &dirfd);

	if (r < 0)
		return r;
	r = realdir_unlink(dirfd, real_sub(n));
	close(dirfd);
	return r;
}

/*
 * A rename inside releases/: a version directory to another version's
 * name, or a file of a version (cp's and rsync's temporaries) to a name a
 * version may hold, in the same or another version.
 */
static int releases_rename(struct fs *fs, uid_t uid, const struct node *src,
			   const struct node *dst_dir, const char *from, const char *to,
			   unsigned flags)
{
	char rel[PATH_MAX], version[NAME_MAX + 1];
	const char *leaf = strrchr(to, '/') + 1;
	struct stat st;
	int dirfd, r;

	if (CST(src)->level == RL_TOP)
		return -EACCES;
	r = dir_fd(fs, &dirfd);
	if (r < 0)
		return r;
	r = realdir_stat(dirfd, real_sub(src), &st);
	if (r == 0) {
		version_of(src, version, sizeof(version));
		r = may_make(fs, dst_dir, leaf, S_ISDIR(st.st_mode),
			     CST(src)->level == RL_VERSION ? version : NULL);
	}
	if (r == 0)
		r = child_rel(dst_dir, leaf, rel, sizeof(rel));
	if (r == 0)
		r = realdir_rename(dirfd, real_sub(src), dirfd, rel, flags);
	close(dirfd);
	return r;
}

/* What is served is directories and regular files: no symbolic links. */
static int releases_symlink(fuse_req_t req, struct fs *fs, const struct node *parent,
			    const char *name, const char *target)
{
	return -EINVAL;
}

static int releases_link(struct fs *fs, const struct node *src, const struct node *parent,
			 const char *name)
{
	char rel[PATH_MAX];
	struct stat st;
	int dirfd, r = -EACCES;

	if (CST(src)->level != RL_TOP)
		r = may_make(fs, parent, name, false, NULL);
	if (r == 0)
		r = child_rel(parent, name, rel, sizeof(rel));
	if (r == 0)
		r = dir_fd(fs, &dirfd);
	if (r < 0)
		return r;
	r = realdir_stat(dirfd, real_sub(src), &st);
	if (r == 0 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r == 0)
		r = realdir_link(dirfd, real_sub(src), dirfd, rel);
	close(dirfd);
	return r;
}

static int releases_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			    int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	int dirfd, r = dir_fd(fs, &dirfd);

	if (r < 0)
		return r;
	r = realdir_setattr(dirfd, real_sub(n), attr, to_set, fi);
	close(dirfd);
	return r;
}

static void releases_write(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h,
			   const char *data, size_t size, off_t off)
{
	realdir_write(req, h, data, size, off);
}

static int releases_fstat(struct fs *fs, struct fh *h, struct stat *st)
{
	return h->fd >= 0 ? realdir_fstat(h, st) : releases_stat(fs, &h->node, st);
}

static double releases_entry_timeout(const struct node *n)
{
	return CST(n)->level == RL_TOP ? NODE_TIMEOUT : 0.0;
}

static bool releases_volatile(const struct node *n)
{
	return true;
}

const struct tree_ops releases_ops = {
	.name = RELEASES_NAME,
	.type = S_IFDIR,
	.negative_timeout = 0.0,
	.resolve = releases_resolve,
	.stat = releases_stat,
	.list = releases_list,
	.readlink = releases_readlink,
	.open = releases_open,
	.create = releases_create,
	.mkdir = releases_mkdir,
	.rmdir = releases_rmdir,
	.unlink = releases_unlink,
	.rename = releases_rename,
	.symlink = releases_symlink,
	.link = releases_link,
	.setattr = releases_setattr,
	.write = releases_write,
	.fstat = releases_fstat,
	.entry_timeout = releases_entry_timeout,
	.attr_volatile = releases_volatile,
};
