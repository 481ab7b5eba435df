/*
 * A real directory served read-write through a tree: packages/NAME/state/
 * (SPEC §4.6) and the event hooks under hooks/ (§4.7) are plain
 * directories beside the database, and a tree that shows one maps each of
 * its nodes to a directory descriptor and a path relative to it ("" for
 * the directory itself), then calls these helpers, which do what a local
 * filesystem does with the *at() system calls. Whatever the kernel checks
 * (permissions, O_EXCL, sticky bits) it checks on the real attributes,
 * which the helpers pass through unchanged; what the backing filesystem
 * refuses comes back as its errno.
 *
 * Nodes of a real directory change behind the kernel's back (hooks write
 * into them directly), so a tree using these answers TREE_CACHE_NONE,
 * volatile attributes and entry timeout 0: every path walk is checked.
 * An open file is its own descriptor (FH_RWFD, or FH_FD read-only), so
 * reads, writes, fstat and ftruncate of a file that was unlinked or
 * renamed while open keep working.
 *
 * Inode numbers: st_ino is the real inode number with REALDIR_INO_BIT
 * set, so that hard links show one number (cp -a keeps them) and no real
 * number meets one of the daemon's own.
 *
 * Threads: any FUSE worker thread; the helpers keep no state.
 */
#ifndef CHARMFS_REALDIR_H
#define CHARMFS_REALDIR_H

#include <stdbool.h>
#include <sys/stat.h>

#include "fs.h"
#include "fsfile.h"

#define REALDIR_INO_BIT (1ULL << 62)

/* lstat of rel (NULL or "" is the directory): the real attributes, st_ino marked. */
int realdir_stat(int dirfd, const char *rel, struct stat *st);
/* The symbolic link rel's target. -EINVAL when it is no link, -ENAMETOOLONG. */
int realdir_readlink(int dirfd, const char *rel, char *target, size_t len);
/* Lists rel through cb (tree_list_real). */
int realdir_list(int dirfd, const char *rel, tree_list_cb cb, void *ud);
/*
 * Opens rel as fi->flags ask (O_TRUNC, O_APPEND; never following a final
 * symlink the kernel did not resolve) into a new handle on n. 0 or -errno.
 */
int realdir_open(struct fs *fs, const struct node *n, int dirfd, const char *rel,
		 struct fuse_file_info *fi, struct fh **ret);
/*
 * Creates rel (the parent's path + "/" + name) as open(2) with O_CREAT
 * does, with exactly mode's permission bits, owned by the caller of req.
 * n is the parent node; the handle's node is resolved by the caller later
 * through its path, so *ret points at the parent's node until then.
 */
int realdir_create(fuse_req_t req, struct fs *fs, const struct node *parent, int dirfd,
		   const char *rel, mode_t mode, struct fuse_file_info *fi, struct fh **ret);
int realdir_mkdir(fuse_req_t req, int dirfd, const char *rel, mode_t mode);
int realdir_unlink(int dirfd, const char *rel);
int realdir_rmdir(int dirfd, const char *rel);
/* renameat2(); flags are RENAME_NOREPLACE and RENAME_EXCHANGE. */
int realdir_rename(int from_dirfd, const char *from, int to_dirfd, const char *to,
		   unsigned flags);
int realdir_link(int from_dirfd, const char *from, int to_dirfd, const char *to);
int realdir_symlink(fuse_req_t req, const char *target, int dirfd, const char *rel);
/*
 * chmod, chown, truncate and utimes as to_set asks; through the open
 * handle in fi when there is one (an unlinked file, ftruncate).
 */
int realdir_setattr(int dirfd, const char *rel, const struct stat *attr, int to_set,
		    struct fuse_file_info *fi);
/* The tree's write() for its handles: pwrite at off, replies itself. */
void realdir_write(fuse_req_t req, struct fh *h, const char *data, size_t size, off_t off);
/* fstat of an open handle (a getattr that names one). 0, or -EBADF when h has no descriptor. */
int realdir_fstat(const struct fh *h, struct stat *st);

#endif
