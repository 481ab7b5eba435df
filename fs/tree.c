/*
 * The table of top-level trees and what they share: splitting a path,
 * dispatching its resolution to the tree its first component names, the
 * attributes every node starts from, ownership modes and real directory
 * listings. Adding a tree is one line in tree_top[] (kept sorted: the
 * root lists it in this order) and its file tree_NAME.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "banned.h"

const struct tree_ops *const tree_top[] = {
	&tree_backup,
	&tree_changes,
	&tree_charms,
	&tree_counters,
	&tree_events,
	&tree_hooks,
	&tree_locks,
	&tree_packages,
	&tree_publish,
	&tree_upgrade,
};
const size_t tree_top_count = ARRAY_SIZE(tree_top);

static int split(const char *path, struct comps *c)
{
	size_t len = strlen(path);
	char *p;

	if (len >= sizeof(c->buf))
		return -ENAMETOOLONG;
	memcpy(c->buf, path, len + 1);
	c->path = path;
	c->n = 0;
	for (p = c->buf; *p;) {
		while (*p == '/')
			*p++ = '\0';
		if (!*p)
			break;
		if (c->n == TREE_MAX_DEPTH)
			return -ENAMETOOLONG;
		c->v[c->n++] = p;
		while (*p && *p != '/')
			p++;
	}
	return 0;
}

static const struct tree_ops *top_named(const char *name, size_t len)
{
	for (size_t i = 0; i < tree_top_count; i++)
		if (strlen(tree_top[i]->name) == len && memcmp(tree_top[i]->name, name, len) == 0)
			return tree_top[i];
	return NULL;
}

const struct tree_ops *tree_of_path(const char *path)
{
	const struct tree_ops *t;

	path += strspn(path, "/");
	t = top_named(path, strcspn(path, "/"));
	return t ? t : &tree_root;
}

int tree_resolve(struct fs *fs, const char *path, struct node *ret)
{
	struct comps c, *cp = &c;
	const struct tree_ops *t;
	int r;

	memset(ret, 0, offsetof(struct node, state));
	memset(ret->state, 0, sizeof(ret->state));
	ret->path = path;
	ret->gen = store_changed_ns(fs->ctx.store);
	r = split(path, cp);
	if (r < 0)
		return r;
	ret->leaf = cp->n ? comps_off(cp, cp->n - 1) : 0;
	t = cp->n ? top_named(cp->v[0], strlen(cp->v[0])) : &tree_root;
	if (!t)
		return -ENOENT;
	ret->tree = t;
	return t->resolve(fs, cp, ret);
}

void tree_set_time(struct stat *st, int64_t ns)
{
	st->st_mtim.tv_sec = ns / 1000000000;
	st->st_mtim.tv_nsec = ns % 1000000000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

int tree_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = fs->ctx.uid;
	st->st_gid = fs->ctx.gid;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	tree_set_time(st, store_changed_ns(fs->ctx.store));
	return n->tree->stat(fs, n, st);
}

double tree_entry_timeout(const struct node *n)
{
	return n->tree->entry_timeout ? n->tree->entry_timeout(n) : NODE_TIMEOUT;
}

double tree_attr_timeout(const struct node *n)
{
	return n->tree->attr_volatile && n->tree->attr_volatile(n) ? 0.0 : tree_entry_timeout(n);
}

enum tree_cache tree_cache(const struct node *n)
{
	return n->tree->cache ? n->tree->cache(n) : TREE_CACHE_NONE;
}

size_t tree_pack(const struct node *n, void *out)
{
	if (!n->tree->pack) {
		memcpy(out, n, sizeof(*n));
		return sizeof(*n);
	}
	return n->tree->pack(n, out, TREE_PACK_MAX);
}

int tree_unpack(const char *path, int64_t gen, const void *data, size_t len, struct node *ret)
{
	const struct tree_ops *t = tree_of_path(path);
	const char *slash = strrchr(path, '/');

	if (!t->unpack) {
		if (len != sizeof(*ret))
			return -EINVAL;
		memcpy(ret, data, len);
		node_rebase(ret, path);
		return 0;
	}
	memset(ret, 0, offsetof(struct node, state));
	memset(ret->state, 0, sizeof(ret->state));
	ret->tree = t;
	ret->path = path;
	ret->leaf = slash ? (uint32_t)(slash + 1 - path) : 0;
	ret->gen = gen;
	return t->unpack(ret, data, len);
}

void tree_group_mode(const struct fs *fs, struct stat *st, mode_t type_mode)
{
	st->st_mode = fs->ctx.has_group ? type_mode : type_mode & ~(mode_t)S_IWGRP;
	st->st_gid = fs->ctx.has_group ? fs->ctx.group : fs->ctx.gid;
	if (S_ISDIR(type_mode))
		st->st_nlink = 2;
}

int tree_list_real(int dirfd, const char *real, tree_list_cb cb, void *ud)
{
	struct dirent **v = NULL;
	int count, r = 0;

	count = scandirat(dirfd, real, &v, NULL, alphasort);
	if (count < 0)
		return -errno;
	for (int i = 0; i < count; i++) {
		const char *name = v[i]->d_name;
		if (r == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
			r = cb(ud, name, DTTOIF(v[i]->d_type));
		free(v[i]);
	}
	free(v);
	return r;
}

bool tree_parse_rev(const char *s, int *ret)
{
	if (s[0] == '0' && s[1])
		return false;
	return parse_nonneg_int(s, ret) == 0;
}

bool tree_is_user(const char *s)
{
	return s[0] == '~' && url_valid_user(s + 1);
}

int tree_list_dirs(void *ud, const char *name)
{
	const struct tree_dirs *a = ud;
	char tmp[NAME_MAX + 2];

	if (!a->prefix || !a->prefix[0])
		return a->cb(a->ud, name, S_IFDIR);
	snprintf(tmp, sizeof(tmp), "%s%s", a->prefix, name);
	return a->cb(a->ud, tmp, S_IFDIR);
}
