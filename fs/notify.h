/*
 * Kernel cache invalidation. A request handler that changed the store
 * queues what the kernel may have cached (entries, including negative ones,
 * and inode attributes), then waits until a dedicated thread has told the
 * kernel, so the change is visible on every path when the request returns
 * (SPEC §2). The kernel must not be told from the handler's own thread; the
 * caller must not queue an entry in a directory its own request has locked
 * (the parent of a rmdir, unlink, create or rename): the kernel updates
 * those itself.
 */
#ifndef CHARMFS_NOTIFY_H
#define CHARMFS_NOTIFY_H

#include <fuse_lowlevel.h>

#include "inode.h"

struct notifier;

int notify_start(struct fuse_session *se, struct inode_table *t, struct notifier **ret);
void notify_stop(struct notifier *n);

/* A batch of invalidations built by one request. */
struct notify_batch;

struct notify_batch *notify_batch_new(struct notifier *n);
/* Forget the entry name in the directory at parent_path (positive or negative). */
void notify_entry(struct notify_batch *b, const char *parent_path, const char *name);
/* Forget the attributes (and cached data) of the node at path. */
void notify_inode(struct notify_batch *b, const char *path);
/* Hands the batch to the notifier thread, waits for it (bounded) and frees it. */
void notify_batch_run(struct notify_batch *b);

/*
 * Puts data[len] into the kernel's page cache of inode ino at offset 0
 * (fuse_lowlevel_notify_store), so that reading a file whose content never
 * changes, opened with keep_cache, sends no READ. Unlike an invalidation
 * this is called on the handler's own thread: from the OPEN of that file,
 * before its reply, when the kernel holds no lock of the inode (it waits
 * for the OPEN) and the store takes only the locks of its pages. len must
 * not be past the size the kernel knows (the store would grow the file).
 * 0 or -errno (-ENOENT: the kernel holds no such inode); on failure
 * nothing is lost, reads ask as before. Any thread.
 */
int notify_store(struct notifier *n, uint64_t ino, const void *data, size_t len);

#endif
