/*
 * The FUSE adapter: the low-level operations table and the daemon state it
 * works on. fs/ is the only part of charmfs that includes <fuse*.h>.
 */
#ifndef CHARMFS_FS_H
#define CHARMFS_FS_H

#include <stdbool.h>
#include <fuse_lowlevel.h>

#include "inode.h"
#include "node.h"
#include "notify.h"

struct fs_config {
	unsigned lock_timeout;    /* seconds */
	bool stats;
	unsigned hook_timeout;
	char *upgrade_url;
	char *upgrade_key;
	unsigned upgrade_interval;
	bool upgrade_auto;
	char *http;
	char *group;              /* -o group=NAME, or NULL */
	char *logfile;            /* -o logfile=PATH, or NULL */
	unsigned prune_age;
	bool sync_full;
	bool read_only;
	struct charm_limits limits;
};

struct fs {
	struct node_ctx ctx;
	struct fs_config cfg;
	struct inode_table *inodes;
	struct notifier *notifier;
	struct fuse_session *se;
};

extern const struct fuse_lowlevel_ops fs_ops;

/*
 * Every open file and directory handle, so that the ones the kernel never
 * released (an unmount while they were open) are freed at exit. A handle
 * embeds a struct fs_handle and names the function that frees it.
 */
struct fs_handle {
	struct fs_handle *prev, *next;
	void (*release)(struct fs_handle *h);
};
void fs_handle_add(struct fs_handle *h, void (*release)(struct fs_handle *h));
void fs_handle_remove(struct fs_handle *h);
/* Releases every handle still open; no request may run. */
void fs_handles_cleanup(void);

/* Helpers shared by the handlers in fs.c and fsfile.c. */
struct fs *fs_of(fuse_req_t req);
/* parent + "/" + name, newly allocated; NULL on ENOMEM. */
char *fs_child_path(const char *parent, const char *name);
/* Logs a failed change: operation, path and cause (SPEC §2). */
void fs_fail(const char *op, const char *path, int err, const char *why);
/* Resolves ino; on success *ret_path is the node's path (caller frees). */
int fs_resolve_ino(struct fs *fs, fuse_ino_t ino, char **ret_path, struct node *ret);
/* Fills an entry for a resolved node and takes a lookup reference. */
int fs_make_entry(struct fs *fs, const char *path, const struct node *n,
		  struct fuse_entry_param *e);
/* Describes the process behind req as a lock holder; comm receives its command. */
void req_holder(fuse_req_t req, struct lock_holder *h, char *comm, size_t len);
/* Counts one download of u's archive (unless -o stats=0). */
void fs_count_download(struct fs *fs, const struct url *u);
/* Adds u's entry under locks/ (taken or released) to b. */
void fs_invalidate_lock(struct notify_batch *b, const struct url *u);
/* Invalidates what a publish to urls (revision, or -1 after a failure) changed. */
void fs_invalidate_publish(struct fs *fs, const struct url *urls, size_t n, int revision);

/* Logs one line to syslog, or to stderr when running in the foreground. */
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fs_log_init(bool to_stderr);

#endif
