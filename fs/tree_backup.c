/*
 * backup/ (SPEC §4.10): a read-only view of the live snapshot
 * (backend/backup.c), which is itself a STOREDIR. backup/ itself resolves
 * without a snapshot, so listing the root or stat-ing backup/ costs
 * nothing; anything below takes or reuses one (without extending its
 * life: only open files and directories do, backup_hold()). A node keeps
 * the name of the snapshot it was resolved in (its directory below
 * STOREDIR); the real path of an entry is that directory followed by the
 * part of its path below backup/, and an open rebases it onto the live
 * snapshot. Nothing here is cached by the kernel or kept with an inode, so
 * every access reaches the daemon and a new snapshot is never hidden
 * behind old entries.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "fs.h"
#include "fsfile.h"
#include "banned.h"

enum backup_kind {
	BK_TOP,   /* /backup: the snapshot's root */
	BK_ENTRY, /* a file or directory of the snapshot */
};

/* The snapshot an entry was resolved in: its directory, below STOREDIR. */
#define SNAP_MAX 64
struct backup_state {
	char snap[SNAP_MAX]; /* the directory without store_dir()'s prefix; "" if it did not fit */
};
TREE_STATE_FITS(struct backup_state);

#define ST(n) TREE_STATE(n, struct backup_state)
#define CST(n) TREE_CSTATE(n, struct backup_state)

/* n's path below backup/ ("" or "/..."). */
static const char *below(const struct node *n)
{
	return n->path + strlen("/backup");
}

/*
 * The real path of n into real[len]: in the snapshot n was resolved in,
 * or (when its name did not fit the node) the live one.
 */
static int real_path(struct fs *fs, const struct node *n, char *real, size_t len)
{
	char dir[PATH_MAX];
	int r = 0;

	if (CST(n)->snap[0])
		snprintf(dir, sizeof(dir), "%s%s", store_dir(fs->ctx.store), CST(n)->snap);
	else
		r = backup_get(fs->ctx.store, backup_now(), dir, sizeof(dir));
	if (r < 0)
		return r;
	if ((size_t)snprintf(real, len, "%s%s", dir, below(n)) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int backup_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	const char *top = store_dir(fs->ctx.store);
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n = strlen(top);
	struct stat st;
	int r;

	ret->kind = BK_TOP;
	if (cp->n == 1)
		return 0;
	ret->kind = BK_ENTRY;
	r = backup_get(fs->ctx.store, backup_now(), dir, sizeof(dir));
	if (r < 0)
		return r;
	if (strncmp(dir, top, n) == 0 && strlen(dir + n) < SNAP_MAX)
		snprintf(ST(ret)->snap, SNAP_MAX, "%s", dir + n);
	if ((size_t)snprintf(real, sizeof(real), "%s%s", dir, below(ret)) >= sizeof(real))
		return -ENAMETOOLONG;
	return lstat(real, &st) < 0 ? -ENOENT : 0;
}

static int backup_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	char real[PATH_MAX];
	int r;

	if (n->kind == BK_TOP) {
		/* The whole database: the owner's alone (SPEC §2, §4.10). */
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
		return 0;
	}
	r = real_path(fs, n, real, sizeof(real));
	if (r < 0)
		return r;
	if (lstat(real, st) < 0)
		return -errno;
	/* Real modes, so that a copy is a usable STOREDIR; writes are refused at open. */
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = fs->ctx.uid;
	st->st_gid = fs->ctx.gid;
	return 0;
}

/*
 * n's real path in the live snapshot, which is held until backup_put():
 * the snapshot n was resolved in may have lapsed since.
 */
static int hold(struct fs *fs, const struct node *n, char *live, size_t len)
{
	char real[PATH_MAX];
	int r = real_path(fs, n, real, sizeof(real));

	return r < 0 ? r : backup_hold(fs->ctx.store, backup_now(), real, live, len);
}

/* An open directory under backup/ keeps the snapshot, as an open file does (SPEC §4.10). */
static int backup_opendir(struct fs *fs, const struct node *n, void **ret_dirstate)
{
	char live[PATH_MAX];
	char *copy;
	int r;

	if (n->kind != BK_ENTRY)
		return 0;
	r = hold(fs, n, live, sizeof(live));
	if (r < 0)
		return r;
	copy = strdup(live);
	if (!copy) {
		backup_put(fs->ctx.store, backup_now());
		return -ENOMEM;
	}
	*ret_dirstate = copy;
	return 0;
}

static void backup_releasedir(struct fs *fs, void *dirstate)
{
	backup_put(fs->ctx.store, backup_now());
	free(dirstate);
}

static int backup_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
		       void *ud)
{
	char dir[PATH_MAX];
	int r;

	if (dirstate)
		return tree_list_real(AT_FDCWD, dirstate, cb, ud);
	r = n->kind == BK_TOP ? backup_get(fs->ctx.store, backup_now(), dir, sizeof(dir))
			      : real_path(fs, n, dir, sizeof(dir));
	return r < 0 ? r : tree_list_real(AT_FDCWD, dir, cb, ud);
}

static int backup_readlink(struct fs *fs, const struct node *n, char *target, size_t len)
{
	char real[PATH_MAX];
	ssize_t got;
	int r;

	if (n->kind != BK_ENTRY)
		return -EINVAL;
	r = real_path(fs, n, real, sizeof(real));
	if (r < 0)
		return r;
	got = readlink(real, target, len - 1);
	if (got < 0)
		return -errno;
	target[got] = '\0';
	return 0;
}

static void put_snapshot(struct fh *h)
{
	backup_put(h->fs->ctx.store, backup_now());
}

static int backup_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
		       struct fh **ret)
{
	char live[PATH_MAX];
	struct fh *h;
	int r;

	if (n->kind != BK_ENTRY)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	h = fh_new(fs, n, FH_FD, O_RDONLY);
	if (!h)
		return -ENOMEM;
	r = hold(fs, n, live, sizeof(live));
	if (r == 0) {
		h->on_release = put_snapshot;
		h->fd = open(live, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (h->fd < 0)
			r = -errno;
	}
	if (r < 0) {
		fh_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

static double backup_entry_timeout(const struct node *n)
{
	return 0.0;
}

static bool backup_volatile(const struct node *n)
{
	return true;
}

const struct tree_ops tree_backup = {
	.name = "backup",
	.type = S_IFDIR,
	.negative_timeout = 0.0,
	.resolve = backup_resolve,
	.stat = backup_stat,
	.list = backup_list,
	.opendir = backup_opendir,
	.releasedir = backup_releasedir,
	.readlink = backup_readlink,
	.open = backup_open,
	.entry_timeout = backup_entry_timeout,
	.attr_volatile = backup_volatile,
};
