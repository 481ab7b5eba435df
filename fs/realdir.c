/*
 * A real directory served read-write (realdir.h): each helper is one or
 * two *at() system calls on the tree's directory descriptor, with the
 * errno of the backing filesystem as its answer. Files are created with
 * the caller's exact mode (the daemon's umask does not apply: the kernel
 * applied the caller's already) and, when the caller is not the daemon's
 * user, handed to the caller as a local filesystem would.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "realdir.h"
#include "banned.h"

static const char *at(const char *rel)
{
	return rel && rel[0] ? rel : ".";
}

int realdir_stat(int dirfd, const char *rel, struct stat *st)
{
	if (fstatat(dirfd, at(rel), st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	st->st_ino |= REALDIR_INO_BIT;
	return 0;
}

int realdir_fstat(const struct fh *h, struct stat *st)
{
	if (h->fd < 0)
		return -EBADF;
	if (fstat(h->fd, st) < 0)
		return -errno;
	st->st_ino |= REALDIR_INO_BIT;
	return 0;
}

int realdir_readlink(int dirfd, const char *rel, char *target, size_t len)
{
	ssize_t n = readlinkat(dirfd, at(rel), target, len);

	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	target[n] = '\0';
	return 0;
}

int realdir_list(int dirfd, const char *rel, tree_list_cb cb, void *ud)
{
	return tree_list_real(dirfd, at(rel), cb, ud);
}

static int open_flags(const struct fuse_file_info *fi)
{
	/* What the kernel leaves to us; O_CREAT/O_EXCL only in create. */
	return (fi->flags & (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME)) |
	       O_CLOEXEC | O_NOFOLLOW;
}

static int new_handle(struct fs *fs, const struct node *n, int fd, struct fuse_file_info *fi,
		      struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE;
	struct fh *h = fh_new(fs, n, acc == O_RDONLY ? FH_FD : FH_RWFD, acc);

	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	/* Hooks change these files directly: never trust the page cache across opens. */
	fi->keep_cache = 0;
	*ret = h;
	return 0;
}

int realdir_open(struct fs *fs, const struct node *n, int dirfd, const char *rel,
		 struct fuse_file_info *fi, struct fh **ret)
{
	int fd = openat(dirfd, at(rel), open_flags(fi));

	if (fd < 0)
		return -errno;
	return new_handle(fs, n, fd, fi, ret);
}

/* Gives what the daemon created to the caller, as a local filesystem would. */
static int hand_over(fuse_req_t req, int dirfd, const char *rel)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	if (c->uid == geteuid() && c->gid == getegid())
		return 0;
	return fchownat(dirfd, at(rel), c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int realdir_create(fuse_req_t req, struct fs *fs, const struct node *parent, int dirfd,
		   const char *rel, mode_t mode, struct fuse_file_info *fi, struct fh **ret)
{
	int flags = open_flags(fi) | O_CREAT | (fi->flags & O_EXCL);
	int fd = openat(dirfd, rel, flags, mode & 07777), r;

	if (fd < 0)
		return -errno;
	r = fchmod(fd, mode & 07777) < 0 ? -errno : hand_over(req, dirfd, rel);
	if (r < 0) {
		close(fd);
		(void)unlinkat(dirfd, rel, 0);
		return r;
	}
	return new_handle(fs, parent, fd, fi, ret);
}

int realdir_mkdir(fuse_req_t req, int dirfd, const char *rel, mode_t mode)
{
	int r;

	if (mkdirat(dirfd, rel, mode & 07777) < 0)
		return -errno;
	r = fchmodat(dirfd, rel, mode & 07777, 0) < 0 ? -errno : hand_over(req, dirfd, rel);
	if (r < 0) {
		(void)unlinkat(dirfd, rel, AT_REMOVEDIR);
		return r;
	}
	return 0;
}

int realdir_unlink(int dirfd, const char *rel)
{
	return unlinkat(dirfd, rel, 0) < 0 ? -errno : 0;
}

int realdir_rmdir(int dirfd, const char *rel)
{
	return unlinkat(dirfd, rel, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int realdir_rename(int from_dirfd, const char *from, int to_dirfd, const char *to,
		   unsigned flags)
{
	return renameat2(from_dirfd, from, to_dirfd, to, flags) < 0 ? -errno : 0;
}

int realdir_link(int from_dirfd, const char *from, int to_dirfd, const char *to)
{
	return linkat(from_dirfd, from, to_dirfd, to, 0) < 0 ? -errno : 0;
}

int realdir_symlink(fuse_req_t req, const char *target, int dirfd, const char *rel)
{
	int r;

	if (symlinkat(target, dirfd, rel) < 0)
		return -errno;
	r = hand_over(req, dirfd, rel);
	if (r < 0)
		(void)unlinkat(dirfd, rel, 0);
	return r;
}

static int set_size(int dirfd, const char *rel, off_t size, const struct fh *h)
{
	int fd, r = 0;

	if (h && h->fd >= 0 && h->accmode != O_RDONLY)
		return ftruncate(h->fd, size) < 0 ? -errno : 0;
	fd = openat(dirfd, at(rel), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0)
		r = -errno;
	close(fd);
	return r;
}

static struct timespec stamp(bool set, bool now, struct timespec t)
{
	if (!set)
		t.tv_nsec = UTIME_OMIT;
	else if (now)
		t.tv_nsec = UTIME_NOW;
	return t;
}

int realdir_setattr(int dirfd, const char *rel, const struct stat *attr, int to_set,
		    struct fuse_file_info *fi)
{
	const struct fh *h = fi ? (const struct fh *)(uintptr_t)fi->fh : NULL;
	int fd = h && h->fd >= 0 ? h->fd : -1;
	uid_t uid = to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
	gid_t gid = to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

	if ((to_set & FUSE_SET_ATTR_MODE) &&
	    (fd >= 0 ? fchmod(fd, attr->st_mode & 07777)
		     : fchmodat(dirfd, at(rel), attr->st_mode & 07777, 0)) < 0)
		return -errno;
	if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    (fd >= 0 ? fchown(fd, uid, gid)
		     : fchownat(dirfd, at(rel), uid, gid, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		int r = set_size(dirfd, rel, attr->st_size, h);
		if (r < 0)
			return r;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec ts[2] = {
			stamp(to_set & FUSE_SET_ATTR_ATIME, to_set & FUSE_SET_ATTR_ATIME_NOW,
			      attr->st_atim),
			stamp(to_set & FUSE_SET_ATTR_MTIME, to_set & FUSE_SET_ATTR_MTIME_NOW,
			      attr->st_mtim),
		};
		if ((fd >= 0 ? futimens(fd, ts)
			     : utimensat(dirfd, at(rel), ts, AT_SYMLINK_NOFOLLOW)) < 0)
			return -errno;
	}
	return 0;
}

void realdir_write(fuse_req_t req, struct fh *h, const char *data, size_t size, off_t off)
{
	ssize_t n = (h->fd < 0 || h->accmode == O_RDONLY) ? (errno = EBADF, -1)
			     : pwrite(h->fd, data, size, off);

	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}
