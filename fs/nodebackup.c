/*
 * Paths of backup/ (SPEC §4.10): a read-only view of the live snapshot
 * (backend/backup.c), which is itself a STOREDIR. backup/ itself resolves
 * without a snapshot, so listing the root or stat-ing backup/ costs
 * nothing; listing it or anything below takes or reuses one (without
 * extending its life: only open files do, backend/backup.h). Nothing here is cached by the kernel, so every access reaches
 * the daemon and a new snapshot is never hidden behind old entries.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "node.h"
#include "banned.h"

int node_resolve_backup(const struct node_ctx *c, const char *const *v, size_t n,
			struct node *ret)
{
	char dir[PATH_MAX];
	size_t off;
	struct stat st;
	int r;

	ret->kind = N_BACKUP;
	if (n == 1)
		return 0;
	r = backup_get(c->store, backup_now(), dir, sizeof(dir));
	if (r < 0)
		return r;
	off = (size_t)snprintf(ret->sub, sizeof(ret->sub), "%s", dir);
	for (size_t i = 1; i < n; i++) {
		int w = snprintf(ret->sub + off, sizeof(ret->sub) - off, "/%s", v[i]);
		if (w < 0 || (size_t)w >= sizeof(ret->sub) - off)
			return -ENAMETOOLONG;
		off += (size_t)w;
	}
	ret->kind = N_BK_ENTRY;
	return lstat(ret->sub, &st) < 0 ? -ENOENT : 0;
}

int node_stat_backup(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	if (n->kind == N_BACKUP) {
		/* The whole database: the owner's alone (SPEC §2, §4.10). */
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
		return 0;
	}
	if (lstat(n->sub, st) < 0)
		return -errno;
	/* Real modes, so that a copy is a usable STOREDIR; writes are refused at open. */
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	return 0;
}

int node_list_backup(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud)
{
	char dir[PATH_MAX];
	int r;

	if (n->kind != N_BACKUP)
		return node_list_real(AT_FDCWD, n->sub, cb, ud);
	r = backup_get(c->store, backup_now(), dir, sizeof(dir));
	return r < 0 ? r : node_list_real(AT_FDCWD, dir, cb, ud);
}
