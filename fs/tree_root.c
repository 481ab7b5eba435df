/*
 * The root directory: it lists the top-level trees of tree.c's table, and
 * nothing can be made or removed in it.
 */
#include "config.h"

#include <errno.h>

#include "fs.h"
#include "banned.h"

static int root_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	return cp->n == 0 ? 0 : -ENOENT;
}

static int root_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	return 0;
}

static int root_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
		     void *ud)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < tree_top_count; i++)
		r = cb(ud, tree_top[i]->name, tree_top[i]->type);
	return r;
}

const struct tree_ops tree_root = {
	.name = "",
	.type = S_IFDIR,
	.negative_timeout = NODE_TIMEOUT,
	.resolve = root_resolve,
	.stat = root_stat,
	.list = root_list,
};
