/*
 * The FUSE adapter: the low-level operations table and the daemon state it
 * works on. fs/ is the only part of charmfs that includes <fuse*.h>.
 */
#ifndef CHARMFS_FS_H
#define CHARMFS_FS_H

#include <stdbool.h>
#include <fuse_lowlevel.h>

#include "inode.h"
#include "tree.h"
#include "notify.h"

struct fs_config {
	unsigned lock_timeout;    /* seconds */
	bool stats;
	unsigned hook_timeout;
	char *upgrade_url;
	char *upgrade_key;
	char *upgrade_ca;
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
/*
 * Calls fn(h, ud) for each open handle, under the registry's lock (a
 * handle cannot be freed meanwhile; fn must not open or close one), until
 * fn returns non-zero; returns that value, or 0.
 */
int fs_handles_find(int (*fn)(struct fs_handle *h, void *ud), void *ud);
/* Releases every handle still open; no request may run. */
void fs_handles_cleanup(void);

/* Helpers shared by the request layer (fs.c, fsfile.c) and the trees; any thread. */
struct fs *fs_of(fuse_req_t req);
/* parent + "/" + name, newly allocated; NULL on ENOMEM. */
char *fs_child_path(const char *parent, const char *name);
/* Logs a failed change: operation, path and cause (SPEC §2). */
void fs_fail(const char *op, const char *path, int err, const char *why);
/*
 * Resolves ino (or takes the node kept with it, tree.h); on success
 * *ret_path is the node's path (caller frees) and ret points at it.
 * -ESTALE for an unknown inode, else tree_resolve()'s errors.
 */
int fs_resolve_ino(struct fs *fs, fuse_ino_t ino, char **ret_path, struct node *ret);
/* Fills an entry for n, resolved from path, and takes a lookup reference. 0 or -errno. */
int fs_make_entry(struct fs *fs, const char *path, const struct node *n,
		  struct fuse_entry_param *e);

/* Logs one line to syslog, or to stderr when running in the foreground. */
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fs_log_init(bool to_stderr);

#endif
