/*
 * The publish/ scratch area: plain files kept on disk under
 * STOREDIR/scratch, addressed by paths relative to publish/ such as
 * "trusty/wordpress.charm", "~bob/trusty/x.tmp" or "incoming/big.charm".
 * Parent directories are made on demand. The area is emptied when the store
 * opens, so a remount starts with an empty publish/.
 *
 * All functions return 0 or -errno and are thread-safe (they use *at()
 * calls on one directory descriptor).
 */
#ifndef CHARMFS_SCRATCH_H
#define CHARMFS_SCRATCH_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"

struct scratch;

int scratch_open(const char *dir, struct scratch **ret) WUR;
void scratch_close(struct scratch *sc);

/* The absolute path of rel into out. */
void scratch_path(const struct scratch *sc, const char *rel, char *out, size_t len);
/* lstat of a scratch file; -ENOENT when absent. */
int scratch_stat(struct scratch *sc, const char *rel, struct stat *ret) WUR;
/*
 * Opens (flags as open(2), O_CREAT allowed) a scratch file, making parent
 * directories. A created file gets exactly mode & 0777 (the daemon's umask
 * does not apply: the caller masks with its requester's) and, when the
 * process is root, is owned by uid:gid. An O_CREAT open without O_EXCL
 * that finds the file existing opens it unchanged, and for writing only
 * when uid is 0 or owns it (-EACCES otherwise): a create that lost a race
 * never writes another user's file. Without O_CREAT, uid and gid are
 * not used: the kernel checked access (default_permissions).
 */
int scratch_openat(struct scratch *sc, const char *rel, int flags, mode_t mode, uid_t uid,
		   gid_t gid, int *ret_fd) WUR;
int scratch_unlink(struct scratch *sc, const char *rel) WUR;
/* rename(2) between scratch paths; flags as renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE). */
int scratch_rename(struct scratch *sc, const char *from, const char *to, unsigned flags) WUR;
int scratch_chmod(struct scratch *sc, const char *rel, mode_t mode) WUR;
int scratch_chown(struct scratch *sc, const char *rel, uid_t uid, gid_t gid) WUR;
int scratch_truncate(struct scratch *sc, const char *rel, off_t size) WUR;
/* times[2] as utimensat (UTIME_NOW / UTIME_OMIT allowed). */
int scratch_utimens(struct scratch *sc, const char *rel, const struct timespec times[2]) WUR;

/* Who asks: a user, its primary group and its supplementary groups. */
struct scratch_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
};
/*
 * Could the caller read a file with this stat itself, by the kernel's
 * rules (root reads anything; else the owner, group or other bits, the
 * first class that applies)? publish/ctl publishes only such a file.
 */
bool scratch_readable_by(const struct stat *st, const struct scratch_caller *who);

typedef int (*scratch_cb)(void *ud, const char *name, const struct stat *st);
/* Calls cb for each file and directory directly in reldir, sorted by name. */
int scratch_list(struct scratch *sc, const char *reldir, scratch_cb cb, void *ud) WUR;

#endif
