/*
 * hooks/ (SPEC §4.7): one folder per event and any/, each a real
 * directory (realdir.h) of STOREDIR/hooks whose regular files are the
 * event's hooks, registered with `cp` and run by the store's event hooks
 * (evhook.h) in name order. Writing is root's alone (SPEC §2): the folders
 * are 0755 root, and the kernel checks that on their real attributes.
 * Every change here tells the event hooks to look again (evhook_touch()).
 *
 *   hooks/                 0555: the folders, fixed
 *   hooks/EVENT/           0755 root: create, write, chmod, rename, unlink, symlink
 *   hooks/EVENT/NAME       the hook, as copied in
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evhook.h"
#include "fs.h"
#include "fsfile.h"
#include "realdir.h"
#include "banned.h"

enum hooks_kind {
	HK_TOP,	   /* /hooks */
	HK_FOLDER, /* /hooks/EVENT */
	HK_HOOK,   /* /hooks/EVENT/NAME */
};

struct hooks_state {
	uint32_t event; /* offset in the path of the folder's name */
};
TREE_STATE_FITS(struct hooks_state);

#define CST(n) TREE_CSTATE(n, struct hooks_state)

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The folders, any/ and every event (evhook.h), sorted by name, into v; their number. */
static size_t folders(const char *v[], size_t max)
{
	size_t n = 0;

	v[n++] = EVHOOK_ANY;
	for (size_t i = 0; evhook_events[i] && n < max; i++)
		v[n++] = evhook_events[i];
	qsort(v, n, sizeof(*v), by_name);
	return n;
}

static struct evhooks *evhooks_of(struct fs *fs)
{
	return store_evhooks(fs->ctx.store);
}

static void event_of(const struct node *n, char *out, size_t len)
{
	const char *p = n->path + CST(n)->event;

	snprintf(out, len, "%.*s", (int)strcspn(p, "/"), p);
}

/* The folder's descriptor (caller closes). */
static int folder_fd(struct fs *fs, const struct node *n, int *ret)
{
	char ev[64];

	event_of(n, ev, sizeof(ev));
	return evhook_dir_at(evhooks_of(fs), ev, ret);
}

/* r, after telling the event hooks to look again when it is a success. */
static int touched(struct fs *fs, int r)
{
	if (r == 0)
		evhook_touch(evhooks_of(fs));
	return r;
}

/* The hook's name inside its folder ("" for the folder itself). */
static const char *rel_of(const struct node *n)
{
	return n->kind == HK_HOOK ? node_leaf(n) : "";
}

static int hooks_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	struct stat st;
	int r, dirfd;

	ret->kind = HK_TOP;
	if (cp->n == 1)
		return 0;
	if (cp->n > 3 || !evhook_event_valid(cp->v[1], true))
		return -ENOENT;
	TREE_STATE(ret, struct hooks_state)->event = comps_off(cp, 1);
	ret->kind = cp->n == 2 ? HK_FOLDER : HK_HOOK;
	if (ret->kind == HK_FOLDER)
		return 0;
	r = folder_fd(fs, ret, &dirfd);
	if (r < 0)
		return r;
	r = realdir_stat(dirfd, rel_of(ret), &st);
	close(dirfd);
	return r;
}

static int hooks_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	int r, dirfd;

	if (n->kind == HK_TOP) {
		const char *v[32];
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + folders(v, ARRAY_SIZE(v));
		return 0;
	}
	r = folder_fd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_stat(dirfd, rel_of(n), st);
	close(dirfd);
	return r;
}

static int hooks_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
		      void *ud)
{
	int r = 0, dirfd;

	if (n->kind == HK_TOP) {
		const char *v[32];
		size_t count = folders(v, ARRAY_SIZE(v));
		for (size_t i = 0; r == 0 && i < count; i++)
			r = cb(ud, v[i], S_IFDIR);
		return r;
	}
	if (n->kind != HK_FOLDER)
		return -ENOTDIR;
	r = folder_fd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_list(dirfd, "", cb, ud);
	close(dirfd);
	return r;
}

static int hooks_readlink(struct fs *fs, const struct node *n, char *target, size_t len)
{
	int r, dirfd;

	if (n->kind != HK_HOOK)
		return -EINVAL;
	r = folder_fd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_readlink(dirfd, rel_of(n), target, len);
	close(dirfd);
	return r;
}

static int hooks_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
		      struct fh **ret)
{
	int r, dirfd;

	if (n->kind != HK_HOOK)
		return -EISDIR;
	r = folder_fd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_open(fs, n, dirfd, rel_of(n), fi, ret);
	close(dirfd);
	return (fi->flags & O_ACCMODE) != O_RDONLY ? touched(fs, r) : r;
}

static int hooks_create(fuse_req_t req, struct fs *fs, const struct node *parent,
			const char *name, mode_t mode, struct fuse_file_info *fi, struct fh **ret)
{
	int r, dirfd;

	if (parent->kind != HK_FOLDER)
		return -EACCES;
	r = folder_fd(fs, parent, &dirfd);
	if (r < 0)
		return r;
	r = realdir_create(req, fs, parent, dirfd, name, mode, fi, ret);
	close(dirfd);
	return touched(fs, r);
}

static int hooks_symlink(fuse_req_t req, struct fs *fs, const struct node *parent,
			 const char *name, const char *target)
{
	int r, dirfd;

	if (parent->kind != HK_FOLDER)
		return -EACCES;
	r = folder_fd(fs, parent, &dirfd);
	if (r < 0)
		return r;
	r = realdir_symlink(req, target, dirfd, name);
	close(dirfd);
	return touched(fs, r);
}

static int hooks_unlink(struct fs *fs, const struct node *n)
{
	int r, dirfd;

	if (n->kind != HK_HOOK)
		return -EACCES;
	r = folder_fd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_unlink(dirfd, rel_of(n));
	close(dirfd);
	return touched(fs, r);
}

/* A rename between folders (a hook moved to another event) or inside one. */
static int hooks_rename(struct fs *fs, uid_t uid, const struct node *src,
			const struct node *dst_dir, const char *from, const char *to,
			unsigned flags)
{
	int r, from_fd, to_fd;

	if (src->kind != HK_HOOK || dst_dir->kind != HK_FOLDER)
		return -EACCES;
	r = folder_fd(fs, src, &from_fd);
	if (r < 0)
		return r;
	r = folder_fd(fs, dst_dir, &to_fd);
	if (r == 0) {
		r = realdir_rename(from_fd, rel_of(src), to_fd, strrchr(to, '/') + 1, flags);
		close(to_fd);
	}
	close(from_fd);
	return touched(fs, r);
}

static int hooks_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			 int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	int r, dirfd;

	if (n->kind != HK_HOOK)
		return -EACCES;
	r = folder_fd(fs, n, &dirfd);
	if (r < 0)
		return r;
	r = realdir_setattr(dirfd, rel_of(n), attr, to_set, fi);
	close(dirfd);
	return touched(fs, r);
}

static void hooks_write(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h,
			const char *data, size_t size, off_t off)
{
	realdir_write(req, h, data, size, off);
}

static int hooks_fstat(struct fs *fs, struct fh *h, struct stat *st)
{
	return realdir_fstat(h, st);
}

/* Hooks are files root changes directly too: nothing is cached but the fixed top. */
static double hooks_entry_timeout(const struct node *n)
{
	return n->kind == HK_HOOK ? 0.0 : NODE_TIMEOUT;
}

static bool hooks_volatile(const struct node *n)
{
	return n->kind != HK_TOP;
}

const struct tree_ops tree_hooks = {
	.name = "hooks",
	.type = S_IFDIR,
	.negative_timeout = 0.0,
	.resolve = hooks_resolve,
	.stat = hooks_stat,
	.list = hooks_list,
	.readlink = hooks_readlink,
	.open = hooks_open,
	.create = hooks_create,
	.symlink = hooks_symlink,
	.unlink = hooks_unlink,
	.rename = hooks_rename,
	.setattr = hooks_setattr,
	.write = hooks_write,
	.fstat = hooks_fstat,
	.entry_timeout = hooks_entry_timeout,
	.attr_volatile = hooks_volatile,
};
