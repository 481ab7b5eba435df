/*
 * charms/ (SPEC §4.1): the store, read-only. A path is matched level by
 * level ([~user/]series/name/{N,latest,events}/...); existence is asked of
 * the store (a name directory exists while it has revisions); every valid
 * series and ~user directory exists even when empty. A revision's
 * archive.charm is its stored blob; metadata.yaml, config.yaml and files/
 * come from the database when the revision's tree is kept there (in_db),
 * else from its extracted tree under the store (store_tree_at()); info,
 * sha256, digest and size are generated. Deleting is rmdir of a revision
 * or a name; what a publish or a deletion changes is invalidated here
 * (charms_invalidate_publish()), listings and `latest` included, which the
 * kernel caches (listing_cached).
 *
 * Everything but the events files depends only on what publishes and
 * deletions change, so resolved files are kept with their inodes while the
 * store's change time stands (tree.h, TREE_CACHE_STORE); directories and
 * links are resolved again, which the store's read cache makes cheap.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "fs.h"
#include "fsfile.h"
#include "banned.h"

enum charms_kind {
	CH_TOP,    /* /charms */
	CH_USER,   /* /charms/~user */
	CH_SERIES, /* /charms/[~user/]series */
	CH_NAME,   /* .../name */
	CH_LATEST, /* .../name/latest */
	CH_EVENTS, /* .../name/events */
	CH_REV,    /* .../name/N */
	CH_FILE,   /* .../name/N/{archive.charm,metadata.yaml,...} */
	CH_TREE,   /* .../name/N/files[/...] */
};

enum rev_file { RF_ARCHIVE, RF_METADATA, RF_CONFIG, RF_INFO, RF_SHA256, RF_DIGEST, RF_SIZE };

struct charms_state {
	struct url url;       /* user, series, name as far as the path goes */
	int revision;         /* CH_LATEST, CH_REV and below */
	enum rev_file file;   /* CH_FILE */
	uint32_t sub;         /* CH_TREE: offset in the path of the path inside files/ */
	struct store_rev rev; /* CH_LATEST, CH_REV and below */
	struct store_file fent; /* CH_TREE when rev.in_db: the entry, from the database */
};
TREE_STATE_FITS(struct charms_state);

#define ST(n) TREE_STATE(n, struct charms_state)
#define CST(n) TREE_CSTATE(n, struct charms_state)

static const char *const rev_files[] = {
	[RF_ARCHIVE] = "archive.charm", [RF_CONFIG] = "config.yaml", [RF_DIGEST] = "digest",
	[RF_INFO] = "info",		[RF_METADATA] = "metadata.yaml", [RF_SHA256] = "sha256",
	[RF_SIZE] = "size",
};

/* The names in a revision directory, in listing order. */
static const char *const rev_listing[] = {
	"archive.charm", "config.yaml", "digest", "files", "info", "metadata.yaml", "sha256", "size",
};

/* The path inside files/ of a CH_TREE node ("" for files/ itself). */
static const char *tree_sub(const struct node *n)
{
	return n->path + CST(n)->sub;
}

/*
 * Where the file behind archive.charm, metadata.yaml, config.yaml and
 * files/... is, for the *at() calls: *ret_dirfd and rel relative to it
 * (store_tree_at()). 0 or -ENAMETOOLONG.
 */
static int real_at(struct fs *fs, const struct node *n, const char *file, int *ret_dirfd,
		   char *rel, size_t len)
{
	const struct charms_state *s = CST(n);

	if (n->kind == CH_FILE && s->file == RF_ARCHIVE) {
		*ret_dirfd = AT_FDCWD;
		store_blob_path(fs->ctx.store, s->rev.sha256, rel, len);
		return 0;
	}
	if (!file)
		file = n->kind == CH_FILE ? rev_files[s->file] : tree_sub(n);
	return store_tree_at(fs->ctx.store, s->rev.sha256, file, ret_dirfd, rel, len);
}

/* lstat() of file (NULL: the one n names) in n's extracted tree: 0 or -errno. */
static int lstat_real(struct fs *fs, const struct node *n, const char *file, struct stat *st)
{
	char rel[PATH_MAX];
	int dirfd, r = real_at(fs, n, file, &dirfd, rel, sizeof(rel));

	if (r == 0 && fstatat(dirfd, rel, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	return r;
}

/* ---- resolving -------------------------------------------------------------- */

static int resolve_rev_child(struct fs *fs, const struct comps *cp, size_t i, struct node *n)
{
	struct charms_state *s = ST(n);
	struct stat st;
	bool yaml = strcmp(cp->v[i], "metadata.yaml") == 0 || strcmp(cp->v[i], "config.yaml") == 0;
	bool tree = !s->rev.in_db && (strcmp(cp->v[i], "files") == 0 || yaml);

	if (tree && store_tree_ready(fs->ctx.store, s->rev.sha256) < 0)
		return -EIO;
	if (strcmp(cp->v[i], "files") == 0) {
		n->kind = CH_TREE;
		s->sub = i + 1 < cp->n ? comps_off(cp, i + 1) : (uint32_t)strlen(n->path);
		if (s->rev.in_db)
			return store_file_get(fs->ctx.store, &s->rev, tree_sub(n), &s->fent);
		return lstat_real(fs, n, NULL, &st) < 0 ? -ENOENT : 0;
	}
	if (i + 1 != cp->n)
		return -ENOENT;
	for (size_t f = 0; f < ARRAY_SIZE(rev_files); f++) {
		if (strcmp(cp->v[i], rev_files[f]) != 0)
			continue;
		n->kind = CH_FILE;
		s->file = (enum rev_file)f;
		if (f == RF_CONFIG && s->rev.in_db)
			return s->rev.has_config ? 0 : -ENOENT;
		if (f == RF_CONFIG && lstat_real(fs, n, NULL, &st) < 0)
			return -ENOENT;
		return 0;
	}
	return -ENOENT;
}

static int resolve_name_child(struct fs *fs, const struct comps *cp, size_t i, struct node *n)
{
	struct charms_state *s = ST(n);

	if (i + 1 == cp->n && strcmp(cp->v[i], "latest") == 0) {
		int r = store_latest(fs->ctx.store, &s->url, &s->revision);
		n->kind = CH_LATEST;
		return r < 0 ? r : store_get_rev(fs->ctx.store, &s->url, s->revision, &s->rev);
	}
	if (i + 1 == cp->n && strcmp(cp->v[i], "events") == 0) {
		int latest;
		n->kind = CH_EVENTS;
		return store_latest(fs->ctx.store, &s->url, &latest) < 0 ? -ENOENT : 0;
	}
	if (!tree_parse_rev(cp->v[i], &s->revision))
		return -ENOENT;
	if (store_get_rev(fs->ctx.store, &s->url, s->revision, &s->rev) < 0)
		return -ENOENT;
	n->kind = CH_REV;
	if (i + 1 == cp->n)
		return 0;
	return resolve_rev_child(fs, cp, i + 1, n);
}

static int charms_resolve(struct fs *fs, const struct comps *cp, struct node *n)
{
	struct charms_state *s = ST(n);
	size_t i = 1;
	int latest;

	s->revision = -1;
	s->url.revision = -1;
	snprintf(s->url.schema, sizeof(s->url.schema), "cs");
	n->kind = CH_TOP;
	if (cp->n == 1)
		return 0;
	if (tree_is_user(cp->v[i])) {
		snprintf(s->url.user, sizeof(s->url.user), "%s", cp->v[i] + 1);
		n->kind = CH_USER;
		if (++i == cp->n)
			return 0;
	}
	if (!url_valid_series(cp->v[i]))
		return -ENOENT;
	snprintf(s->url.series, sizeof(s->url.series), "%s", cp->v[i]);
	n->kind = CH_SERIES;
	if (++i == cp->n)
		return 0;
	if (!url_valid_name(cp->v[i]))
		return -ENOENT;
	snprintf(s->url.name, sizeof(s->url.name), "%s", cp->v[i]);
	n->kind = CH_NAME;
	if (++i < cp->n)
		return resolve_name_child(fs, cp, i, n);
	return store_latest(fs->ctx.store, &s->url, &latest) < 0 ? -ENOENT : 0;
}

/* ---- content and attributes ---------------------------------------------------- */

/* Whether n's content comes from the database (else from a file: real_at()). */
static bool in_db(const struct node *n)
{
	const struct charms_state *s = CST(n);

	if (n->kind == CH_TREE)
		return s->rev.in_db && (s->fent.kind != STORE_FILE_REG || s->fent.inline_data);
	return n->kind == CH_FILE && s->file != RF_ARCHIVE &&
	       ((s->file != RF_METADATA && s->file != RF_CONFIG) || s->rev.in_db);
}

static int rev_info(const struct node *n, struct buf *out)
{
	const struct charms_state *s = CST(n);
	char url[URL_STR_MAX], ts[32];
	struct url u = s->url;
	json_t *o;
	char *text;
	int r;

	u.revision = s->revision;
	url_format(&u, url, sizeof(url));
	format_rfc3339(s->rev.published_ns / 1000000000, ts);
	o = json_pack("{s:s, s:i, s:s, s:s, s:I, s:s}", "canonical-url", url, "revision",
		      s->revision, "sha256", s->rev.sha256, "digest", s->rev.digest, "size",
		      (json_int_t)s->rev.size, "published", ts);
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

/* Content of a file in_db() says is in the database, into out. */
static int content(struct fs *fs, const struct node *n, struct buf *out)
{
	const struct charms_state *s = CST(n);

	if (n->kind == CH_TREE) {
		if (s->fent.kind == STORE_FILE_LINK)
			return store_file_target(fs->ctx.store, &s->rev, tree_sub(n), out);
		return s->fent.kind == STORE_FILE_REG
			       ? store_file_data(fs->ctx.store, &s->rev, tree_sub(n), out)
			       : -EISDIR;
	}
	switch (s->file) {
	case RF_METADATA:
	case RF_CONFIG:
		if (!s->rev.in_db)
			return -EINVAL;
		return store_file_data(fs->ctx.store, &s->rev, rev_files[s->file], out);
	case RF_SHA256:
		return buf_addf(out, "%s\n", s->rev.sha256);
	case RF_DIGEST:
		return buf_addf(out, "%s\n", s->rev.digest);
	case RF_SIZE:
		return buf_addf(out, "%llu\n", (unsigned long long)s->rev.size);
	case RF_INFO:
		return rev_info(n, out);
	default:
		return -EINVAL;
	}
}

/* The S_IF* type of a files/ entry kept in the database (STORE_FILE_*). */
static mode_t file_type(int kind)
{
	return kind == STORE_FILE_DIR ? S_IFDIR : kind == STORE_FILE_LINK ? S_IFLNK : S_IFREG;
}

static int stat_real(struct fs *fs, const struct node *n, struct stat *st)
{
	int r = lstat_real(fs, n, NULL, st);

	if (r < 0)
		return r;
	st->st_mode &= ~(mode_t)0222;
	st->st_uid = fs->ctx.uid;
	st->st_gid = fs->ctx.gid;
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	tree_set_time(st, CST(n)->rev.published_ns);
	return 0;
}

static int stat_generated(struct fs *fs, const struct node *n, struct stat *st)
{
	const struct charms_state *s = CST(n);
	uint64_t size = 0;
	struct buf b;
	int r = 0;

	if (n->kind == CH_FILE && (s->file == RF_METADATA || s->file == RF_CONFIG)) {
		size = s->file == RF_METADATA ? s->rev.meta_size : s->rev.config_size;
	} else if (n->kind == CH_FILE) {
		buf_init(&b, 1 << 16);
		r = content(fs, n, &b);
		size = b.len;
		buf_free(&b);
	} else if (n->kind == CH_LATEST) {
		char tmp[16];
		size = (uint64_t)snprintf(tmp, sizeof(tmp), "%d", s->revision);
	} else if (n->kind == CH_EVENTS) {
		r = store_events_size(fs->ctx.store, &s->url, &size);
	}
	st->st_size = (off_t)size;
	return r;
}

static int charms_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	const struct charms_state *s = CST(n);

	if (n->kind >= CH_REV || n->kind == CH_LATEST)
		tree_set_time(st, s->rev.published_ns);
	switch ((enum charms_kind)n->kind) {
	case CH_TOP:
	case CH_USER:
	case CH_REV:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case CH_SERIES:
	case CH_NAME:
		/* Their entries are removed by rmdir: the owner's alone (SPEC §4.1). */
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case CH_LATEST:
		st->st_mode = S_IFLNK | 0777;
		return stat_generated(fs, n, st);
	case CH_EVENTS:
		st->st_mode = S_IFREG | 0444;
		tree_set_time(st, store_events_ns(fs->ctx.store));
		return stat_generated(fs, n, st);
	case CH_FILE:
		if (!in_db(n))
			return stat_real(fs, n, st);
		st->st_mode = S_IFREG | 0444;
		return stat_generated(fs, n, st);
	case CH_TREE:
		if (!s->rev.in_db)
			return stat_real(fs, n, st);
		st->st_mode = file_type(s->fent.kind) | (s->fent.mode & 0555);
		st->st_nlink = s->fent.kind == STORE_FILE_DIR ? 2 : 1;
		st->st_size = (off_t)s->fent.size;
		st->st_blocks = (blkcnt_t)((s->fent.size + 511) / 512);
		return 0;
	}
	return -ENOENT;
}

static int charms_readlink(struct fs *fs, const struct node *n, char *target, size_t len)
{
	const struct charms_state *s = CST(n);
	char rel[PATH_MAX];
	ssize_t got;
	int dirfd, r;

	if (n->kind == CH_LATEST) {
		snprintf(target, len, "%d", s->revision);
		return 0;
	}
	if (n->kind != CH_TREE)
		return -EINVAL;
	if (s->rev.in_db) {
		struct buf b;
		buf_init(&b, len - 1);
		r = s->fent.kind == STORE_FILE_LINK ? content(fs, n, &b) : -EINVAL;
		if (r == 0)
			snprintf(target, len, "%.*s", (int)b.len, b.data ? b.data : "");
		buf_free(&b);
		return r;
	}
	r = real_at(fs, n, NULL, &dirfd, rel, sizeof(rel));
	got = r < 0 ? 0 : readlinkat(dirfd, rel, target, len - 1);
	if (got < 0)
		return -errno;
	target[got] = '\0';
	return r;
}

/* ---- listing ---------------------------------------------------------------- */

static int tree_entry(void *ud, const char *name, int kind)
{
	struct tree_dirs *a = ud;

	return a->cb(a->ud, name, file_type(kind));
}

static int list_tree(struct fs *fs, const struct node *n, tree_list_cb cb, void *ud)
{
	struct tree_dirs a = { cb, ud, NULL };
	char rel[PATH_MAX];
	int dirfd, r;

	if (CST(n)->rev.in_db)
		return store_file_list(fs->ctx.store, &CST(n)->rev, tree_sub(n), tree_entry, &a);
	r = real_at(fs, n, NULL, &dirfd, rel, sizeof(rel));
	return r < 0 ? r : tree_list_real(dirfd, rel, cb, ud);
}

static int list_name_dir(struct fs *fs, const struct node *n, tree_list_cb cb, void *ud)
{
	int *revs = NULL, r;
	size_t count = 0;
	char tmp[16];

	r = store_list_revisions(fs->ctx.store, &CST(n)->url, &revs, &count);
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

static int list_rev(struct fs *fs, const struct node *n, tree_list_cb cb, void *ud)
{
	const struct charms_state *s = CST(n);
	struct stat st;
	bool has_config = s->rev.has_config;
	int r = 0;

	if (!s->rev.in_db) {
		if (store_tree_ready(fs->ctx.store, s->rev.sha256) < 0)
			return -EIO;
		has_config = lstat_real(fs, n, rev_files[RF_CONFIG], &st) == 0;
	}
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(rev_listing); i++) {
		if (!has_config && strcmp(rev_listing[i], "config.yaml") == 0)
			continue;
		r = cb(ud, rev_listing[i], strcmp(rev_listing[i], "files") ? S_IFREG : S_IFDIR);
	}
	return r;
}

static int charms_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
		       void *ud)
{
	const struct charms_state *s = CST(n);
	struct tree_dirs a = { .cb = cb, .ud = ud };
	int r;

	switch (n->kind) {
	case CH_TOP:
		a.prefix = "~";
		r = store_list_users(fs->ctx.store, tree_list_dirs, &a);
		a.prefix = NULL;
		return r ? r : store_list_series(fs->ctx.store, "", tree_list_dirs, &a);
	case CH_USER:
		return store_list_series(fs->ctx.store, s->url.user, tree_list_dirs, &a);
	case CH_SERIES:
		return store_list_names(fs->ctx.store, s->url.user, s->url.series, tree_list_dirs, &a);
	case CH_NAME:
		return list_name_dir(fs, n, cb, ud);
	case CH_REV:
		return list_rev(fs, n, cb, ud);
	case CH_TREE:
		return list_tree(fs, n, cb, ud);
	default:
		return -ENOTDIR;
	}
}

/* ---- open files --------------------------------------------------------------- */

static void count_download(struct fs *fs, const struct url *u)
{
	int r;

	if (!fs->ctx.stats)
		return;
	r = store_count(fs->ctx.store, STORE_COUNT_BUNDLE, u);
	if (r < 0)
		fs_log(LOG_WARNING, "cannot count a download of %s: %s", u->name, strerror(-r));
}

static int open_real(struct fs *fs, const struct node *n, struct fh *h)
{
	char rel[PATH_MAX];
	int dirfd, r = real_at(fs, n, NULL, &dirfd, rel, sizeof(rel));

	if (r < 0)
		return r;
	h->fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (h->fd < 0)
		return -errno;
	/* Archives and tree files are read front to back: double the readahead. */
	(void)posix_fadvise(h->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static int charms_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
		       struct fh **ret)
{
	const struct charms_state *s = CST(n);
	int acc = fi->flags & O_ACCMODE;
	struct fh *h;
	bool real;
	int r;

	if (n->kind == CH_EVENTS) {
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(fs, n, FH_STREAM, acc);
		if (!h)
			return -ENOMEM;
		fi->direct_io = 1;
		*ret = h;
		return 0;
	}
	if (n->kind != CH_FILE && n->kind != CH_TREE)
		return -EISDIR;
	if (acc != O_RDONLY)
		return -EACCES;
	real = !in_db(n);
	if (real && n->kind == CH_TREE && s->rev.in_db &&
	    store_tree_ready(fs->ctx.store, s->rev.sha256) < 0)
		return -EIO;
	h = fh_new(fs, n, real ? FH_FD : FH_BUF, acc);
	if (!h)
		return -ENOMEM;
	r = real ? open_real(fs, n, h) : content(fs, n, &h->data);
	fi->keep_cache = 1;
	if (r < 0) {
		fh_free(h);
		return r;
	}
	if (n->kind == CH_FILE && s->file == RF_ARCHIVE)
		count_download(fs, &s->url);
	*ret = h;
	return 0;
}

static int charms_read(struct fs *fs, struct fh *h, uint64_t off, size_t size, struct buf *out)
{
	return store_events_read(fs->ctx.store, &CST(&h->node)->url, off, size, out);
}

/* ---- changes: mkdir, rmdir, invalidation ------------------------------------------ */

static int charms_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent,
			const char *name, mode_t mode)
{
	/* Valid series and ~user names always exist; anything else is not a URL part. */
	return parent->kind == CH_TOP || parent->kind == CH_USER ? -EINVAL : -EACCES;
}

/* "/TOP[/~user]/series", then "/name" when with_name: u's directory under charms/ or locks/. */
static void url_dir(char *out, size_t len, const struct url *u, bool with_name)
{
	snprintf(out, len, "/charms%s%s/%s%s%s", u->user[0] ? "/~" : "", u->user, u->series,
		 with_name ? "/" : "", with_name ? u->name : "");
}

/*
 * The listings a change of u's revisions may change: charms/, charms/~user,
 * the series and the name. The kernel caches them (listing_cached).
 */
static void invalidate_listings(struct notify_batch *b, const struct url *u)
{
	char dir[512];

	notify_inode(b, "/charms");
	if (u->user[0]) {
		snprintf(dir, sizeof(dir), "/charms/~%s", u->user);
		notify_inode(b, dir);
	}
	url_dir(dir, sizeof(dir), u, false);
	notify_inode(b, dir);
	url_dir(dir, sizeof(dir), u, true);
	notify_inode(b, dir);
}

/* A name's dentry, negative before its first publish and after its last rmdir. */
static void invalidate_name(struct notify_batch *b, const struct url *u)
{
	char dir[512];

	url_dir(dir, sizeof(dir), u, false);
	notify_entry(b, dir, u->name);
}

static void invalidate_url(struct notify_batch *b, const struct url *u, int revision)
{
	char name[512], child[600];

	invalidate_name(b, u);
	invalidate_listings(b, u);
	url_dir(name, sizeof(name), u, true);
	if (revision >= 0) {
		snprintf(child, sizeof(child), "%d", revision);
		notify_entry(b, name, child);
	}
	snprintf(child, sizeof(child), "%s/latest", name);
	notify_inode(b, child);
	snprintf(child, sizeof(child), "%s/events", name);
	notify_inode(b, child);
	/* The publish held the URL's lock while it ran. */
	locks_invalidate(b, u);
}

void charms_invalidate_publish(struct fs *fs, const struct url *urls, size_t n, int revision)
{
	struct notify_batch *b = notify_batch_new(fs->notifier);

	for (size_t i = 0; i < n; i++)
		invalidate_url(b, &urls[i], revision);
	notify_inode(b, "/events");
	notify_batch_run(b);
}

static int charms_rmdir(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath)
{
	const struct charms_state *s = CST(n);
	int r = 0;

	if (n->kind != CH_REV && n->kind != CH_NAME)
		r = -EACCES;
	if (r == 0)
		r = store_delete(fs->ctx.store, &s->url, n->kind == CH_REV ? s->revision : -1,
				 fuse_req_ctx(req)->uid);
	if (r == 0) {
		struct notify_batch *b = notify_batch_new(fs->notifier);
		char latest[PATH_MAX];
		inode_detach(fs->inodes, n->path);
		invalidate_listings(b, &s->url);
		if (n->kind == CH_REV) {
			int last;
			snprintf(latest, sizeof(latest), "%s/latest", ppath);
			notify_inode(b, latest);
			if (store_latest(fs->ctx.store, &s->url, &last) == -ENOENT)
				invalidate_name(b, &s->url);
		}
		notify_batch_run(b);
	} else if (r != -ENOENT) {
		fs_fail("rmdir", n->path, -r, NULL);
	}
	return r;
}

/* ---- caching ------------------------------------------------------------------ */

/*
 * A kept file node (charms_pack()): ~110 bytes where struct charms_state
 * has ~500, most of them fixed-size strings. After the fixed part come
 * the URL's user, series and name and, for info and digest only, the
 * revision's digest, each NUL-terminated.
 */
struct charms_packed {
	int64_t rev_id;
	int64_t published_ns;
	uint64_t size, meta_size, config_size;
	uint64_t fent_size;
	int32_t revision;
	uint32_t sub;
	uint16_t fent_mode;
	uint8_t kind, file, fent_kind, flags;
	uint8_t sha256[32];
};
enum { PK_IN_DB = 0x1, PK_HAS_CONFIG = 0x2, PK_INLINE = 0x4 };

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends s and its NUL to out[*pos, len): false when it does not fit. */
static bool pack_str(unsigned char *out, size_t len, size_t *pos, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > len - *pos)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	return true;
}

/* Reads a NUL-terminated string of data[*pos, len) into out[size]: false when there is none. */
static bool unpack_str(const unsigned char *data, size_t len, size_t *pos, char *out, size_t size)
{
	const unsigned char *end = *pos < len ? memchr(data + *pos, '\0', len - *pos) : NULL;
	size_t n = end ? (size_t)(end - (data + *pos)) : 0;

	if (!end || n >= size)
		return false;
	memcpy(out, data + *pos, n + 1);
	*pos += n + 1;
	return true;
}

static bool has_digest(const struct node *n)
{
	return n->kind == CH_FILE && (CST(n)->file == RF_INFO || CST(n)->file == RF_DIGEST);
}

static size_t charms_pack(const struct node *n, void *out, size_t len)
{
	const struct charms_state *s = CST(n);
	struct charms_packed p = {
		.rev_id = s->rev.id,
		.published_ns = s->rev.published_ns,
		.size = s->rev.size,
		.meta_size = s->rev.meta_size,
		.config_size = s->rev.config_size,
		.fent_size = s->fent.size,
		.revision = s->revision,
		.sub = s->sub,
		.fent_mode = (uint16_t)s->fent.mode,
		.kind = (uint8_t)n->kind,
		.file = (uint8_t)s->file,
		.fent_kind = (uint8_t)s->fent.kind,
		.flags = (uint8_t)((s->rev.in_db ? PK_IN_DB : 0) |
				   (s->rev.has_config ? PK_HAS_CONFIG : 0) |
				   (s->fent.inline_data ? PK_INLINE : 0)),
	};
	size_t pos = sizeof(p);

	if (strlen(s->rev.sha256) != 2 * sizeof(p.sha256) || s->fent.mode > UINT16_MAX ||
	    len < sizeof(p))
		return 0;
	for (size_t i = 0; i < sizeof(p.sha256); i++) {
		int hi = hex_nibble(s->rev.sha256[2 * i]);
		int lo = hex_nibble(s->rev.sha256[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		p.sha256[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, &p, sizeof(p));
	if (!pack_str(out, len, &pos, s->url.user) || !pack_str(out, len, &pos, s->url.series) ||
	    !pack_str(out, len, &pos, s->url.name) ||
	    (has_digest(n) && !pack_str(out, len, &pos, s->rev.digest)))
		return 0;
	return pos;
}

static int charms_unpack(struct node *n, const void *data, size_t len)
{
	struct charms_state *s = ST(n);
	struct charms_packed p;
	size_t pos = sizeof(p);

	if (len < sizeof(p))
		return -EINVAL;
	memcpy(&p, data, sizeof(p));
	n->kind = p.kind;
	snprintf(s->url.schema, sizeof(s->url.schema), "cs");
	s->url.revision = -1;
	s->revision = p.revision;
	s->file = (enum rev_file)p.file;
	s->sub = p.sub;
	s->rev.revision = p.revision; /* a publish gives each of its URLs the number */
	hex_encode(p.sha256, sizeof(p.sha256), s->rev.sha256);
	s->rev.size = p.size;
	s->rev.published_ns = p.published_ns;
	s->rev.id = p.rev_id;
	s->rev.in_db = p.flags & PK_IN_DB;
	s->rev.has_config = p.flags & PK_HAS_CONFIG;
	s->rev.meta_size = p.meta_size;
	s->rev.config_size = p.config_size;
	s->fent.kind = p.fent_kind;
	s->fent.mode = p.fent_mode;
	s->fent.size = p.fent_size;
	s->fent.inline_data = p.flags & PK_INLINE;
	if (!unpack_str(data, len, &pos, s->url.user, sizeof(s->url.user)) ||
	    !unpack_str(data, len, &pos, s->url.series, sizeof(s->url.series)) ||
	    !unpack_str(data, len, &pos, s->url.name, sizeof(s->url.name)) ||
	    (has_digest(n) && !unpack_str(data, len, &pos, s->rev.digest, sizeof(s->rev.digest))) ||
	    pos != len)
		return -EINVAL;
	return 0;
}

static bool charms_volatile(const struct node *n)
{
	return n->kind == CH_EVENTS;
}

static bool charms_listing_cached(const struct node *n)
{
	return n->kind != CH_LATEST && n->kind != CH_EVENTS && n->kind != CH_FILE;
}

/*
 * Files are kept with their inodes; directories and links are resolved
 * again, from the store's read cache (a probe or two, no SQL): an
 * `ls -lR` opens every directory and reads every link, and keeping a node
 * for each cost ~35 MiB with 10,000 charms.
 */
static enum tree_cache charms_cache(const struct node *n)
{
	const struct charms_state *s = CST(n);

	if (n->kind == CH_FILE)
		return TREE_CACHE_STORE;
	if (n->kind == CH_TREE && (!s->rev.in_db || s->fent.kind == STORE_FILE_REG))
		return tree_sub(n)[0] ? TREE_CACHE_STORE : TREE_CACHE_NONE;
	return TREE_CACHE_NONE;
}

const struct tree_ops tree_charms = {
	.name = "charms",
	.type = S_IFDIR,
	.negative_timeout = NODE_TIMEOUT,
	.resolve = charms_resolve,
	.stat = charms_stat,
	.list = charms_list,
	.readlink = charms_readlink,
	.open = charms_open,
	.read = charms_read,
	.mkdir = charms_mkdir,
	.rmdir = charms_rmdir,
	.attr_volatile = charms_volatile,
	.listing_cached = charms_listing_cached,
	.cache = charms_cache,
	.pack = charms_pack,
	.unpack = charms_unpack,
};
