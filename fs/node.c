/*
 * Path resolution for the tree of SPEC §4. A path is split into its
 * components and matched level by level; existence below charms/ is asked
 * of the store (a name directory exists while it has revisions), existence
 * below publish/ of the scratch area. Every valid series and ~user
 * directory exists in charms/ and publish/ even when empty, so that
 * `cp x publish/precise/y.charm` and `mkdir -p` work on a new store.
 *
 * Listings are sorted and therefore stable; generated files report the
 * exact size a read returns.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "node.h"
#include "banned.h"

#define MAX_DEPTH 256

static const char *const rev_files[] = {
	[RF_ARCHIVE] = "archive.charm", [RF_CONFIG] = "config.yaml", [RF_DIGEST] = "digest",
	[RF_INFO] = "info",		[RF_METADATA] = "metadata.yaml", [RF_SHA256] = "sha256",
	[RF_SIZE] = "size",
};

/* The names in a revision directory, in listing order. */
static const char *const rev_listing[] = {
	"archive.charm", "config.yaml", "digest", "files", "info", "metadata.yaml", "sha256", "size",
};

struct comps {
	char buf[PATH_MAX];
	const char *v[MAX_DEPTH];
	size_t n;
};

static int split(const char *path, struct comps *c)
{
	size_t len = strlen(path);
	char *p;

	if (len >= sizeof(c->buf))
		return -ENAMETOOLONG;
	memcpy(c->buf, path, len + 1);
	c->n = 0;
	for (p = c->buf; *p;) {
		while (*p == '/')
			*p++ = '\0';
		if (!*p)
			break;
		if (c->n == MAX_DEPTH)
			return -ENAMETOOLONG;
		c->v[c->n++] = p;
		while (*p && *p != '/')
			p++;
	}
	return 0;
}

static bool is_user(const char *s)
{
	return s[0] == '~' && url_valid_user(s + 1);
}

/* Parses a non-negative decimal revision without leading zeros. */
static bool parse_rev(const char *s, int *ret)
{
	if (s[0] == '0' && s[1])
		return false;
	return parse_nonneg_int(s, ret) == 0;
}

static int lstat_real(const struct node_ctx *c, const struct node *n, struct stat *st);

static int resolve_rev_child(const struct node_ctx *c, const struct comps *cp, size_t i,
			     struct node *n)
{
	struct stat st;
	bool yaml = strcmp(cp->v[i], "metadata.yaml") == 0 || strcmp(cp->v[i], "config.yaml") == 0;
	bool tree = !n->rev.in_db && (strcmp(cp->v[i], "files") == 0 || yaml);

	if (tree && store_tree_ready(c->store, n->rev.sha256) < 0)
		return -EIO;
	if (strcmp(cp->v[i], "files") == 0) {
		size_t off = 0;
		n->kind = N_CH_TREE;
		n->sub[0] = '\0';
		for (size_t j = i + 1; j < cp->n; j++) {
			int w = snprintf(n->sub + off, sizeof(n->sub) - off, "%s%s",
					 off ? "/" : "", cp->v[j]);
			if (w < 0 || (size_t)w >= sizeof(n->sub) - off)
				return -ENAMETOOLONG;
			off += (size_t)w;
		}
		if (n->rev.in_db)
			return store_file_get(c->store, &n->rev, n->sub, &n->fent);
		return lstat_real(c, n, &st) < 0 ? -ENOENT : 0;
	}
	if (i + 1 != cp->n)
		return -ENOENT;
	for (size_t f = 0; f < ARRAY_SIZE(rev_files); f++) {
		if (strcmp(cp->v[i], rev_files[f]) != 0)
			continue;
		n->kind = N_CH_FILE;
		n->file = (enum rev_file)f;
		if (f == RF_CONFIG && n->rev.in_db)
			return n->rev.has_config ? 0 : -ENOENT;
		if (f == RF_CONFIG && lstat_real(c, n, &st) < 0)
			return -ENOENT;
		return 0;
	}
	return -ENOENT;
}

static int resolve_name_child(const struct node_ctx *c, const struct comps *cp, size_t i,
			      struct node *n)
{
	if (i + 1 == cp->n && strcmp(cp->v[i], "latest") == 0) {
		int r = store_latest(c->store, &n->url, &n->revision);
		n->kind = N_CH_LATEST;
		return r < 0 ? r : store_get_rev(c->store, &n->url, n->revision, &n->rev);
	}
	if (i + 1 == cp->n && strcmp(cp->v[i], "events") == 0) {
		int latest;
		n->kind = N_CH_EVENTS;
		return store_latest(c->store, &n->url, &latest) < 0 ? -ENOENT : 0;
	}
	if (!parse_rev(cp->v[i], &n->revision))
		return -ENOENT;
	if (store_get_rev(c->store, &n->url, n->revision, &n->rev) < 0)
		return -ENOENT;
	n->kind = N_CH_REV;
	if (i + 1 == cp->n)
		return 0;
	return resolve_rev_child(c, cp, i + 1, n);
}

static int resolve_charms(const struct node_ctx *c, const struct comps *cp, struct node *n)
{
	size_t i = 1;
	int latest;

	n->kind = N_CHARMS;
	if (cp->n == 1)
		return 0;
	if (is_user(cp->v[i])) {
		snprintf(n->url.user, sizeof(n->url.user), "%s", cp->v[i] + 1);
		n->kind = N_CH_USER;
		if (++i == cp->n)
			return 0;
	}
	if (!url_valid_series(cp->v[i]))
		return -ENOENT;
	snprintf(n->url.series, sizeof(n->url.series), "%s", cp->v[i]);
	n->kind = N_CH_SERIES;
	if (++i == cp->n)
		return 0;
	if (!url_valid_name(cp->v[i]))
		return -ENOENT;
	snprintf(n->url.name, sizeof(n->url.name), "%s", cp->v[i]);
	n->kind = N_CH_NAME;
	if (++i < cp->n)
		return resolve_name_child(c, cp, i, n);
	return store_latest(c->store, &n->url, &latest) < 0 ? -ENOENT : 0;
}

static int resolve_publish(const struct node_ctx *c, const struct comps *cp, struct node *n)
{
	size_t i = 1, off = 0;
	struct stat st;

	n->kind = N_PUBLISH;
	if (cp->n == 1)
		return 0;
	if (cp->n == 2 && strcmp(cp->v[1], "ctl") == 0) {
		n->kind = N_PUB_CTL;
		return 0;
	}
	if (strcmp(cp->v[1], "incoming") == 0) {
		n->incoming = true;
		i = 2;
	} else {
		if (is_user(cp->v[i])) {
			snprintf(n->url.user, sizeof(n->url.user), "%s", cp->v[i] + 1);
			n->kind = N_PUB_USER;
			if (++i == cp->n)
				return 0;
		}
		if (!url_valid_series(cp->v[i]))
			return -ENOENT;
		snprintf(n->url.series, sizeof(n->url.series), "%s", cp->v[i]);
		i++;
	}
	for (size_t j = 1; j < i; j++)
		off += (size_t)snprintf(n->sub + off, sizeof(n->sub) - off, "%s%s", j > 1 ? "/" : "",
					cp->v[j]);
	n->kind = N_PUB_DIR;
	if (i == cp->n)
		return 0;
	if (i + 1 != cp->n)
		return -ENOENT;
	if ((size_t)snprintf(n->sub + off, sizeof(n->sub) - off, "/%s", cp->v[i]) >=
	    sizeof(n->sub) - off)
		return -ENAMETOOLONG;
	n->kind = N_PUB_FILE;
	if (scratch_stat(c->scratch, n->sub, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	return 0;
}

int node_resolve(const struct node_ctx *c, const char *path, struct node *ret)
{
	struct comps cp;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->revision = -1;
	ret->url.revision = -1;
	snprintf(ret->url.schema, sizeof(ret->url.schema), "cs");
	r = split(path, &cp);
	if (r < 0)
		return r;
	ret->leaf = cp.n ? path + (cp.v[cp.n - 1] - cp.buf) : path;
	if (cp.n == 0) {
		ret->kind = N_ROOT;
		return 0;
	}
	if (strcmp(cp.v[0], "events") == 0 && cp.n == 1) {
		ret->kind = N_EVENTS;
		return 0;
	}
	if (strcmp(cp.v[0], "charms") == 0)
		return resolve_charms(c, &cp, ret);
	if (strcmp(cp.v[0], "publish") == 0)
		return resolve_publish(c, &cp, ret);
	if (strcmp(cp.v[0], "locks") == 0)
		return node_resolve_locks(c, cp.v, cp.n, ret);
	if (strcmp(cp.v[0], "counters") == 0)
		return node_resolve_counters(c, cp.v, cp.n, ret);
	if (strcmp(cp.v[0], "backup") == 0)
		return node_resolve_backup(c, cp.v, cp.n, ret);
	return -ENOENT;
}

int node_real_at(const struct node_ctx *c, const struct node *n, int *ret_dirfd, char *rel,
		 size_t len)
{
	if (n->kind == N_CH_FILE && n->file == RF_ARCHIVE) {
		*ret_dirfd = AT_FDCWD;
		store_blob_path(c->store, n->rev.sha256, rel, len);
		return 0;
	}
	return store_tree_at(c->store, n->rev.sha256,
			     n->kind == N_CH_FILE ? rev_files[n->file] : n->sub, ret_dirfd, rel, len);
}

/* lstat() of the file behind n: 0 or -errno. */
static int lstat_real(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	char rel[PATH_MAX];
	int dirfd, r = node_real_at(c, n, &dirfd, rel, sizeof(rel));

	if (r == 0 && fstatat(dirfd, rel, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	return r;
}

bool node_in_db(const struct node *n)
{
	if (n->kind == N_CH_TREE)
		return n->rev.in_db && (n->fent.kind != STORE_FILE_REG || n->fent.inline_data);
	return n->kind == N_CH_FILE && n->file != RF_ARCHIVE &&
	       ((n->file != RF_METADATA && n->file != RF_CONFIG) || n->rev.in_db);
}

int node_tree_ready(const struct node_ctx *c, const struct node *n)
{
	return store_tree_ready(c->store, n->rev.sha256) < 0 ? -EIO : 0;
}

int node_content(const struct node_ctx *c, const struct node *n, struct buf *out)
{
	char url[URL_STR_MAX], ts[32];
	struct url u = n->url;
	json_t *o;
	char *text;
	int r;

	if (n->kind == N_CH_TREE) {
		if (n->fent.kind == STORE_FILE_LINK)
			return store_file_target(c->store, &n->rev, n->sub, out);
		return n->fent.kind == STORE_FILE_REG ? store_file_data(c->store, &n->rev, n->sub, out)
						      : -EISDIR;
	}
	switch (n->file) {
	case RF_METADATA:
	case RF_CONFIG:
		if (!n->rev.in_db)
			return -EINVAL;
		return store_file_data(c->store, &n->rev, rev_files[n->file], out);
	case RF_SHA256:
		return buf_addf(out, "%s\n", n->rev.sha256);
	case RF_DIGEST:
		return buf_addf(out, "%s\n", n->rev.digest);
	case RF_SIZE:
		return buf_addf(out, "%llu\n", (unsigned long long)n->rev.size);
	case RF_INFO:
		break;
	default:
		return -EINVAL;
	}
	u.revision = n->revision;
	url_format(&u, url, sizeof(url));
	format_rfc3339(n->rev.published_ns / 1000000000, ts);
	o = json_pack("{s:s, s:i, s:s, s:s, s:I, s:s}", "canonical-url", url, "revision",
		      n->revision, "sha256", n->rev.sha256, "digest", n->rev.digest, "size",
		      (json_int_t)n->rev.size, "published", ts);
	if (!o)
		return -ENOMEM;
	text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	r = buf_addf(out, "%s\n", text);
	free(text);
	return r;
}

bool node_volatile(const struct node *n)
{
	return n->kind == N_EVENTS || n->kind == N_CH_EVENTS || n->kind == N_CNT_FILE ||
	       n->kind == N_BACKUP || n->kind == N_BK_ENTRY;
}

bool node_listing_notified(const struct node *n)
{
	return n->kind == N_CHARMS || n->kind == N_CH_USER || n->kind == N_CH_SERIES ||
	       n->kind == N_CH_NAME || n->kind == N_CH_REV || n->kind == N_CH_TREE;
}

double node_entry_timeout(const struct node *n)
{
	if (n->kind == N_BACKUP || n->kind == N_BK_ENTRY)
		return 0.0;
	if (n->kind == N_LK_NAME || n->kind == N_LK_FILE) {
		int64_t left = n->lock.expires - lock_now();
		return left > 0 ? (double)left : 0.0;
	}
	return NODE_TIMEOUT;
}

bool node_publishes(const struct node *n)
{
	size_t len = strlen(n->leaf);

	return n->kind == N_PUB_FILE && !n->incoming && len > 6 &&
	       strcmp(n->leaf + len - 6, ".charm") == 0;
}

/* The S_IF* type of a files/ entry kept in the database (STORE_FILE_*). */
static mode_t file_type(int kind)
{
	return kind == STORE_FILE_DIR ? S_IFDIR : kind == STORE_FILE_LINK ? S_IFLNK : S_IFREG;
}

static void set_time(struct stat *st, int64_t ns)
{
	st->st_mtim.tv_sec = ns / 1000000000;
	st->st_mtim.tv_nsec = ns % 1000000000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static int stat_real(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	int r = lstat_real(c, n, st);

	if (r < 0)
		return r;
	st->st_mode &= ~(mode_t)0222;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	set_time(st, n->rev.published_ns);
	return 0;
}

static int stat_generated(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	struct buf b;
	uint64_t size = 0;
	int r = 0;

	if (n->kind == N_CH_FILE && (n->file == RF_METADATA || n->file == RF_CONFIG)) {
		size = n->file == RF_METADATA ? n->rev.meta_size : n->rev.config_size;
	} else if (n->kind == N_CH_FILE) {
		buf_init(&b, 1 << 16);
		r = node_content(c, n, &b);
		size = b.len;
		buf_free(&b);
	} else if (n->kind == N_CH_LATEST) {
		char tmp[16];
		size = (uint64_t)snprintf(tmp, sizeof(tmp), "%d", n->revision);
	} else if (n->kind == N_EVENTS || n->kind == N_CH_EVENTS) {
		r = store_events_size(c->store, n->kind == N_EVENTS ? NULL : &n->url, &size);
	}
	st->st_size = (off_t)size;
	return r;
}

void node_group_mode(const struct node_ctx *c, struct stat *st, mode_t type_mode)
{
	st->st_mode = c->has_group ? type_mode : type_mode & ~(mode_t)S_IWGRP;
	st->st_gid = c->has_group ? c->group : c->gid;
	if (S_ISDIR(type_mode))
		st->st_nlink = 2;
}

int node_stat(const struct node_ctx *c, const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	set_time(st, (n->kind >= N_CH_REV && n->kind <= N_CH_TREE) || n->kind == N_CH_LATEST
			     ? n->rev.published_ns
			     : store_changed_ns(c->store));
	switch (n->kind) {
	case N_ROOT:
	case N_CHARMS:
	case N_CH_USER:
	case N_CH_REV:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case N_CH_SERIES:
	case N_CH_NAME:
		/* Their entries are removed by rmdir: the owner's alone (SPEC §4.1). */
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case N_PUBLISH:
	case N_PUB_USER:
		node_group_mode(c, st, S_IFDIR | 0775);
		return 0;
	case N_PUB_DIR:
		/* Sticky: the group shares these directories, and only a file's owner (or
		 * root) may rename or remove it, so no member swaps another's file. */
		node_group_mode(c, st, S_IFDIR | S_ISVTX | (n->incoming ? 0770 : 0775));
		return 0;
	case N_PUB_CTL:
		node_group_mode(c, st, S_IFREG | 0664);
		return 0;
	case N_PUB_FILE: {
		int r = scratch_stat(c->scratch, n->sub, st);
		st->st_nlink = 1;
		return r;
	}
	case N_CH_LATEST:
		st->st_mode = S_IFLNK | 0777;
		return stat_generated(c, n, st);
	case N_EVENTS:
	case N_CH_EVENTS:
		st->st_mode = S_IFREG | 0444;
		set_time(st, store_events_ns(c->store));
		return stat_generated(c, n, st);
	case N_CH_FILE:
		if (!node_in_db(n))
			return stat_real(c, n, st);
		st->st_mode = S_IFREG | 0444;
		return stat_generated(c, n, st);
	case N_CH_TREE:
		if (!n->rev.in_db)
			return stat_real(c, n, st);
		st->st_mode = file_type(n->fent.kind) | (n->fent.mode & 0555);
		st->st_nlink = n->fent.kind == STORE_FILE_DIR ? 2 : 1;
		st->st_size = (off_t)n->fent.size;
		st->st_blocks = (blkcnt_t)((n->fent.size + 511) / 512);
		return 0;
	default:
		if (n->kind >= N_BACKUP)
			return node_stat_backup(c, n, st);
		if (n->kind >= N_CNT_DIR)
			return node_stat_counters(c, n, st);
		return node_stat_locks(c, n, st);
	}
}

/* ---- listing ---------------------------------------------------------------- */

struct list_adapter {
	node_list_cb cb;
	void *ud;
	const char *prefix;
	mode_t type;
};

static int list_names(void *ud, const char *name)
{
	struct list_adapter *a = ud;
	char tmp[NAME_MAX + 2];

	if (a->prefix) {
		snprintf(tmp, sizeof(tmp), "%s%s", a->prefix, name);
		return a->cb(a->ud, tmp, a->type);
	}
	return a->cb(a->ud, name, a->type);
}

static int list_scratch(void *ud, const char *name, const struct stat *st)
{
	struct list_adapter *a = ud;

	if (a->type == S_IFDIR) {
		/* Directories at publish/ and publish/~user level: users and series. */
		if (!S_ISDIR(st->st_mode) || strcmp(name, "incoming") == 0)
			return 0;
		if (!(name[0] == '~' ? url_valid_user(name + 1) && !a->prefix
				     : url_valid_series(name)))
			return 0;
		return a->cb(a->ud, name, S_IFDIR);
	}
	return S_ISREG(st->st_mode) ? a->cb(a->ud, name, S_IFREG) : 0;
}

int node_list_real(int dirfd, const char *real, node_list_cb cb, void *ud)
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

struct tree_lister {
	node_list_cb cb;
	void *ud;
};

static int tree_entry(void *ud, const char *name, int kind)
{
	struct tree_lister *l = ud;

	return l->cb(l->ud, name, file_type(kind));
}

static int list_tree(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud)
{
	struct tree_lister l = { cb, ud };
	char rel[PATH_MAX];
	int dirfd, r;

	if (n->rev.in_db)
		return store_file_list(c->store, &n->rev, n->sub, tree_entry, &l);
	r = node_real_at(c, n, &dirfd, rel, sizeof(rel));
	return r < 0 ? r : node_list_real(dirfd, rel, cb, ud);
}

static int list_name_dir(const struct node_ctx *c, const struct node *n, node_list_cb cb,
			 void *ud)
{
	int *revs = NULL, r;
	size_t count = 0;
	char tmp[16];

	r = store_list_revisions(c->store, &n->url, &revs, &count);
	if (r < 0)
		return r;
	/* Revisions in numeric order first, then the two fixed names. */
	for (size_t i = 0; r == 0 && i < count; i++) {
		snprintf(tmp, sizeof(tmp), "%d", revs[i]);
		r = cb(ud, tmp, S_IFDIR);
	}
	free(revs);
	if (r == 0)
		r = cb(ud, "events", S_IFREG);
	if (r == 0)
		r = cb(ud, "latest", S_IFLNK);
	return r;
}

static int list_rev(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud)
{
	struct node cfg = *n;
	struct stat st;
	bool has_config = n->rev.has_config;
	int r = 0;

	if (!n->rev.in_db) {
		if (store_tree_ready(c->store, n->rev.sha256) < 0)
			return -EIO;
		cfg.kind = N_CH_FILE;
		cfg.file = RF_CONFIG;
		has_config = lstat_real(c, &cfg, &st) == 0;
	}
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(rev_listing); i++) {
		if (!has_config && strcmp(rev_listing[i], "config.yaml") == 0)
			continue;
		r = cb(ud, rev_listing[i], strcmp(rev_listing[i], "files") ? S_IFREG : S_IFDIR);
	}
	return r;
}

int node_list(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud)
{
	struct list_adapter a = { .cb = cb, .ud = ud, .type = S_IFDIR };
	int r;

	switch (n->kind) {
	case N_ROOT:
		r = cb(ud, "backup", S_IFDIR);
		if (r == 0)
			r = cb(ud, "charms", S_IFDIR);
		if (r == 0)
			r = cb(ud, "counters", S_IFDIR);
		if (r == 0)
			r = cb(ud, "events", S_IFREG);
		if (r == 0)
			r = cb(ud, "locks", S_IFDIR);
		return r ? r : cb(ud, "publish", S_IFDIR);
	case N_CHARMS:
		a.prefix = "~";
		r = store_list_users(c->store, list_names, &a);
		a.prefix = NULL;
		return r ? r : store_list_series(c->store, "", list_names, &a);
	case N_CH_USER:
		return store_list_series(c->store, n->url.user, list_names, &a);
	case N_CH_SERIES:
		return store_list_names(c->store, n->url.user, n->url.series, list_names, &a);
	case N_CH_NAME:
		return list_name_dir(c, n, cb, ud);
	case N_CH_REV:
		return list_rev(c, n, cb, ud);
	case N_CH_TREE:
		return list_tree(c, n, cb, ud);
	case N_PUBLISH:
		r = cb(ud, "ctl", S_IFREG);
		if (r == 0)
			r = cb(ud, "incoming", S_IFDIR);
		return r ? r : scratch_list(c->scratch, ".", list_scratch, &a);
	case N_PUB_USER: {
		char rel[URL_USER_MAX + 2];
		snprintf(rel, sizeof(rel), "~%s", n->url.user);
		a.prefix = "~";
		return scratch_list(c->scratch, rel, list_scratch, &a);
	}
	case N_PUB_DIR:
		a.type = S_IFREG;
		return scratch_list(c->scratch, n->sub, list_scratch, &a);
	case N_LOCKS:
	case N_LK_USER:
	case N_LK_SERIES:
	case N_LK_NAME:
		return node_list_locks(c, n, cb, ud);
	case N_CNT_DIR:
		return node_list_counters(c, n, cb, ud);
	case N_BACKUP:
	case N_BK_ENTRY:
		return node_list_backup(c, n, cb, ud);
	default:
		return -ENOTDIR;
	}
}
