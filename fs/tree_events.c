/*
 * The events file at the root (SPEC §4.3): every charm event, read live
 * from the store at each read so that `tail -f` follows growth; its size
 * and time are the store's at each getattr (never cached).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>

#include "fs.h"
#include "fsfile.h"
#include "banned.h"

static int events_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	return cp->n == 1 ? 0 : -ENOENT;
}

static int events_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	uint64_t size = 0;
	int r;

	st->st_mode = S_IFREG | 0444;
	tree_set_time(st, store_events_ns(fs->ctx.store));
	r = store_events_size(fs->ctx.store, NULL, &size);
	st->st_size = (off_t)size;
	return r;
}

static int events_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
		       struct fh **ret)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	*ret = fh_new(fs, n, FH_STREAM, O_RDONLY);
	if (!*ret)
		return -ENOMEM;
	fi->direct_io = 1;
	return 0;
}

static int events_read(struct fs *fs, struct fh *h, uint64_t off, size_t size, struct buf *out)
{
	return store_events_read(fs->ctx.store, NULL, off, size, out);
}

static bool events_volatile(const struct node *n)
{
	return true;
}

const struct tree_ops tree_events = {
	.name = "events",
	.type = S_IFREG,
	.negative_timeout = NODE_TIMEOUT,
	.resolve = events_resolve,
	.stat = events_stat,
	.open = events_open,
	.read = events_read,
	.attr_volatile = events_volatile,
};
