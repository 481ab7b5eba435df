/*
 * Paths of the state trees. locks/ mirrors the URL path form
 * ([~user/]series/name): every valid series and ~user directory exists,
 * and a name directory exists exactly while its URL holds an unexpired
 * lock, with the lock's id, holder, since and expires as files. Expiry is
 * decided at each request from the clock, and the kernel may cache a lock
 * entry only for the lock's remaining life (node_entry_timeout()).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "banned.h"

static const char *const lock_files[] = {
	[LF_EXPIRES] = "expires", [LF_HOLDER] = "holder", [LF_ID] = "id", [LF_SINCE] = "since",
};

int node_resolve_locks(const struct node_ctx *c, const char *const *v, size_t n,
		       struct node *ret)
{
	size_t i = 1;

	ret->kind = N_LOCKS;
	if (n == 1)
		return 0;
	if (n == 2 && strcmp(v[1], "ctl") == 0) {
		ret->kind = N_LOCK_CTL;
		return 0;
	}
	if (v[i][0] == '~') {
		if (!url_valid_user(v[i] + 1))
			return -ENOENT;
		snprintf(ret->url.user, sizeof(ret->url.user), "%s", v[i] + 1);
		ret->kind = N_LK_USER;
		if (++i == n)
			return 0;
	}
	if (!url_valid_series(v[i]))
		return -ENOENT;
	snprintf(ret->url.series, sizeof(ret->url.series), "%s", v[i]);
	ret->kind = N_LK_SERIES;
	if (++i == n)
		return 0;
	if (!url_valid_name(v[i]))
		return -ENOENT;
	snprintf(ret->url.name, sizeof(ret->url.name), "%s", v[i]);
	if (store_lock_get(c->store, &ret->url, &ret->lock) < 0)
		return -ENOENT;
	ret->kind = N_LK_NAME;
	if (++i == n)
		return 0;
	if (i + 1 != n)
		return -ENOENT;
	for (size_t f = 0; f < ARRAY_SIZE(lock_files); f++) {
		if (strcmp(v[i], lock_files[f]) == 0) {
			ret->kind = N_LK_FILE;
			ret->lfile = (enum lock_file)f;
			return 0;
		}
	}
	return -ENOENT;
}

int node_content_locks(const struct node *n, struct buf *out)
{
	char ts[32];

	switch (n->lfile) {
	case LF_ID:
		return buf_addf(out, "%s\n", n->lock.id);
	case LF_HOLDER:
		return buf_addf(out, "pid %ld uid %lu command %s\n", (long)n->lock.pid,
				(unsigned long)n->lock.uid,
				n->lock.command[0] ? n->lock.command : "-");
	case LF_SINCE:
		format_rfc3339(n->lock.since, ts);
		return buf_addf(out, "%s\n", ts);
	case LF_EXPIRES:
		format_rfc3339(n->lock.expires, ts);
		return buf_addf(out, "%s\n", ts);
	}
	return -EINVAL;
}

int node_stat_locks(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	struct buf b;
	int r;

	switch (n->kind) {
	case N_LOCKS:
	case N_LK_USER:
	case N_LK_SERIES:
		node_group_mode(c, st, S_IFDIR | 0775);
		return 0;
	case N_LOCK_CTL:
		node_group_mode(c, st, S_IFREG | 0664);
		return 0;
	case N_LK_NAME:
		/* Group-writable so that the group renews it with touch (utimensat). */
		node_group_mode(c, st, S_IFDIR | 0775);
		st->st_mtim.tv_sec = n->lock.since;
		st->st_atim.tv_sec = n->lock.expires;
		st->st_ctim.tv_sec = n->lock.since;
		return 0;
	case N_LK_FILE:
		node_group_mode(c, st, S_IFREG | 0444);
		st->st_mtim.tv_sec = n->lock.since;
		st->st_ctim.tv_sec = n->lock.since;
		buf_init(&b, 4096);
		r = node_content_locks(n, &b);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		return r;
	default:
		return -ENOENT;
	}
}

struct adapter {
	node_list_cb cb;
	void *ud;
	const char *prefix;
};

static int list_adapt(void *ud, const char *name)
{
	struct adapter *a = ud;
	char tmp[NAME_MAX + 2];

	snprintf(tmp, sizeof(tmp), "%s%s", a->prefix, name);
	return a->cb(a->ud, tmp, S_IFDIR);
}

int node_list_locks(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud)
{
	struct adapter a = { .cb = cb, .ud = ud, .prefix = "" };
	int r;

	switch (n->kind) {
	case N_LOCKS:
		r = cb(ud, "ctl", S_IFREG);
		a.prefix = "~";
		if (r == 0)
			r = store_lock_list(c->store, NULL, NULL, list_adapt, &a);
		a.prefix = "";
		return r ? r : store_lock_list(c->store, "", NULL, list_adapt, &a);
	case N_LK_USER:
		return store_lock_list(c->store, n->url.user, NULL, list_adapt, &a);
	case N_LK_SERIES:
		return store_lock_list(c->store, n->url.user, n->url.series, list_adapt, &a);
	case N_LK_NAME:
		for (size_t f = 0; f < ARRAY_SIZE(lock_files); f++) {
			r = cb(ud, lock_files[f], S_IFREG);
			if (r < 0)
				return r;
		}
		return 0;
	default:
		return -ENOTDIR;
	}
}
