/*
 * FUSE low-level operations. Each handler turns its inode number into a
 * path (inode.c), resolves the path (node.c), calls the store or the
 * scratch area, invalidates what the kernel may have cached when the store
 * changed (notify.c), and replies exactly once.
 *
 * Caching: entries and attributes are cached for a long time, negative
 * entries too; whatever the daemon changes on its own (a publish, a
 * deletion) is invalidated before the reply, listings under charms/ and
 * the `latest` links included, which the kernel keeps as well. Immutable
 * payloads (archives, extracted files, info) use keep_cache; generated and
 * control files use direct_io and are never cached.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "backup.h"
#include "fs.h"
#include "fsfile.h"
#include "banned.h"

#define TIMEOUT NODE_TIMEOUT

static bool log_stderr;

void fs_log_init(bool to_stderr)
{
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog("charmfs", LOG_PID, LOG_DAEMON);
}

void fs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_stderr) {
		char line[2048];
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "charmfs: %s\n", line);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

char *fs_child_path(const char *parent, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", parent, name) < 0)
		return NULL;
	return p;
}

void fs_fail(const char *op, const char *path, int err, const char *why)
{
	fs_log(LOG_WARNING, "%s %s: %s%s%s", op, path[0] ? path : "/", strerror(err),
	       why && *why ? ": " : "", why ? why : "");
}

/* Resolves ino to a node; the path is returned for logging and children. */
int fs_resolve_ino(struct fs *fs, fuse_ino_t ino, char **ret_path, struct node *ret)
{
	char *path = inode_path(fs->inodes, ino);
	int r;

	if (!path)
		return -ESTALE;
	r = node_resolve(&fs->ctx, path, ret);
	if (r < 0) {
		free(path);
		return r;
	}
	*ret_path = path;
	return 0;
}

static double attr_timeout(const struct node *n)
{
	return node_volatile(n) ? 0.0 : node_entry_timeout(n);
}

int fs_make_entry(struct fs *fs, const char *path, const struct node *n,
		  struct fuse_entry_param *e)
{
	int r;

	memset(e, 0, sizeof(*e));
	r = node_stat(&fs->ctx, n, &e->attr);
	if (r < 0)
		return r;
	e->ino = inode_ref(fs->inodes, path);
	if (!e->ino)
		return -ENOMEM;
	e->attr.st_ino = e->ino;
	e->attr_timeout = attr_timeout(n);
	e->entry_timeout = node_entry_timeout(n);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	char *ppath = inode_path(fs->inodes, parent), *path = NULL;
	struct node n;
	int r;

	if (!ppath) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	path = fs_child_path(ppath, name);
	r = path ? node_resolve(&fs->ctx, path, &n) : -ENOMEM;
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r == -ENOENT) {
		/* Locks come and go by the clock and by other front ends: no negative caching. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = strncmp(ppath, "/locks", 6) == 0 ||
					  strncmp(ppath, "/counters", 9) == 0 ||
					  strncmp(ppath, "/backup", 7) == 0
					  ? 0.0
					  : TIMEOUT;
		r = 0;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
	free(path);
	free(ppath);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		inode_forget(fs->inodes, v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	struct node n;
	char *path;
	int r = fs_resolve_ino(fs, ino, &path, &n);

	if (r == 0) {
		r = node_stat(&fs->ctx, &n, &st);
		free(path);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, attr_timeout(&n));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	char target[PATH_MAX];
	struct node n;
	char *path;
	int r = fs_resolve_ino(fs, ino, &path, &n);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (n.kind == N_CH_LATEST) {
		snprintf(target, sizeof(target), "%d", n.revision);
	} else if (n.kind == N_BK_ENTRY) {
		ssize_t len = readlink(n.sub, target, sizeof(target) - 1);
		if (len < 0)
			r = -errno;
		else
			target[len] = '\0';
	} else if (n.kind == N_CH_TREE && n.rev.in_db) {
		struct buf b;
		buf_init(&b, sizeof(target) - 1);
		r = n.fent.kind == STORE_FILE_LINK ? node_content(&fs->ctx, &n, &b) : -EINVAL;
		if (r == 0)
			snprintf(target, sizeof(target), "%.*s", (int)b.len, b.data ? b.data : "");
		buf_free(&b);
	} else if (n.kind == N_CH_TREE) {
		char rel[PATH_MAX];
		int dirfd;
		r = node_real_at(&fs->ctx, &n, &dirfd, rel, sizeof(rel));
		ssize_t len = r < 0 ? 0 : readlinkat(dirfd, rel, target, sizeof(target) - 1);
		if (len < 0)
			r = -errno;
		else
			target[len] = '\0';
	} else {
		r = -EINVAL;
	}
	free(path);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
}

/* ---- open handles ---------------------------------------------------------- */

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *handles;

void fs_handle_add(struct fs_handle *h, void (*release)(struct fs_handle *h))
{
	h->release = release;
	h->prev = NULL;
	pthread_mutex_lock(&handles_lock);
	h->next = handles;
	if (handles)
		handles->prev = h;
	handles = h;
	pthread_mutex_unlock(&handles_lock);
}

void fs_handle_remove(struct fs_handle *h)
{
	pthread_mutex_lock(&handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&handles_lock);
}

void fs_handles_cleanup(void)
{
	while (handles)
		handles->release(handles); /* removes itself */
}

/* ---- directories ----------------------------------------------------------- */

struct dir_entry {
	char *name;
	mode_t type;
};

struct dir_handle {
	struct fs_handle link; /* first: the registry hands it back */
	char *path;
	struct node node; /* as resolved at opendir */
	struct store *backup; /* a directory of a backup snapshot, which it keeps live */
	bool listed;
	struct dir_entry *v;
	size_t n;
};

static int collect(void *ud, const char *name, mode_t type)
{
	struct dir_handle *d = ud;
	struct dir_entry *nv = realloc(d->v, (d->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	d->v = nv;
	nv[d->n].name = strdup(name);
	nv[d->n].type = type;
	if (!nv[d->n].name)
		return -ENOMEM;
	d->n++;
	return 0;
}

static void dir_clear(struct dir_handle *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	d->n = 0;
}

static void dir_free(struct dir_handle *d)
{
	if (!d)
		return;
	fs_handle_remove(&d->link);
	if (d->backup)
		backup_put(d->backup, backup_now());
	dir_clear(d);
	free(d->v);
	free(d->path);
	free(d);
}

static void dir_release(struct fs_handle *h)
{
	dir_free((struct dir_handle *)h);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = calloc(1, sizeof(*d));
	int r = d ? fs_resolve_ino(fs, ino, &d->path, &d->node) : -ENOMEM;

	if (d)
		fs_handle_add(&d->link, dir_release);
	if (r < 0) {
		dir_free(d);
		fuse_reply_err(req, -r);
		return;
	}
	if (d->node.kind == N_BK_ENTRY) {
		/* An open directory under backup/ keeps the snapshot, as an open file does (SPEC §4.10). */
		char real[PATH_MAX];
		r = backup_hold(fs->ctx.store, backup_now(), d->node.sub, real, sizeof(real));
		if (r < 0) {
			dir_free(d);
			fuse_reply_err(req, -r);
			return;
		}
		d->backup = fs->ctx.store;
		snprintf(d->node.sub, sizeof(d->node.sub), "%s", real);
	}
	fi->fh = (uintptr_t)d;
	if (node_listing_notified(&d->node)) {
		/* The kernel keeps the listing until we invalidate the directory. */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/*
 * Lists the directory at its first READDIR, not at opendir: the kernel
 * serves a listing it keeps (cache_readdir) without asking, and then the
 * listing would be made for nothing. The kernel reads one handle from one
 * thread at a time.
 */
static int dir_list(struct fs *fs, struct dir_handle *d)
{
	int r;

	if (d->listed)
		return 0;
	r = node_list(&fs->ctx, &d->node, collect, d);
	if (r < 0)
		dir_clear(d); /* nothing half-listed: the next READDIR starts again */
	d->listed = r == 0;
	return r;
}

/* A stable, non-zero d_ino for entries the kernel has not looked up. */
static ino_t dir_ino(struct fs *fs, const char *parent, const char *name)
{
	char *p = fs_child_path(parent, name);
	ino_t ino = p ? inode_number_hint(fs->inodes, p) : 1;

	free(p);
	return ino;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int r = buf ? dir_list(fs, d) : -ENOMEM;

	if (r < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		struct stat st = { 0 };
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->v[i - 2].name;
		size_t need;
		st.st_mode = i < 2 ? S_IFDIR : d->v[i - 2].type;
		st.st_ino = i == 0 ? ino : i == 1 ? 1 : dir_ino(fs, d->path, name);
		need = fuse_add_direntry(req, p, left, name, &st, (off_t)i + 1);
		if (need > left)
			break;
		p += need;
		left -= need;
	}
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

/*
 * READDIRPLUS: entries with their attributes, so that `ls -l` and `find`
 * need no LOOKUP per entry. Each entry returned takes a lookup reference.
 */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int r = buf ? dir_list(fs, d) : -ENOMEM;

	if (r < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		struct fuse_entry_param e = { 0 };
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->v[i - 2].name;
		char *path = NULL;
		struct node n;
		size_t need;
		if (i < 2) {
			e.attr.st_mode = S_IFDIR;
			e.attr.st_ino = i == 0 ? ino : 1;
		} else {
			path = fs_child_path(d->path, name);
			if (!path || node_resolve(&fs->ctx, path, &n) < 0 ||
			    fs_make_entry(fs, path, &n, &e) < 0) {
				/* Gone since opendir: skip it. */
				free(path);
				continue;
			}
		}
		need = fuse_add_direntry_plus(req, p, left, name, &e, (off_t)i + 1);
		if (need > left) {
			if (e.ino)
				inode_forget(fs->inodes, e.ino, 1);
			free(path);
			break;
		}
		free(path);
		p += need;
		left -= need;
	}
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dir_free((struct dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The holder of a lock taken by this request: its process, user and command. */
void req_holder(fuse_req_t req, struct lock_holder *h, char *comm, size_t len)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char path[64];
	FILE *f;

	h->pid = ctx->pid;
	h->uid = ctx->uid;
	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)ctx->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, (int)len, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	h->command = comm;
}

static int take_lock_dir(fuse_req_t req, struct fs *fs, const struct node *parent,
			 const char *name)
{
	struct strv over = { 0 };
	struct lock_holder h;
	char comm[64], id[LOCK_ID_LEN + 1];
	struct url u;
	int r = url_from_parts(parent->url.user, parent->url.series, name, &u);

	if (r < 0)
		return -EINVAL;
	req_holder(req, &h, comm, sizeof(comm));
	r = store_lock_take(fs->ctx.store, &u, 1, &h, fs->ctx.lock_timeout, id, &over);
	for (size_t i = 0; i < over.n; i++)
		fs_log(LOG_NOTICE, "lock-expired %s", over.v[i]);
	strv_clear(&over);
	return r;
}

static int make_counter_key(struct fs *fs, const struct node *parent, const char *name)
{
	const char *tok[COUNTER_MAX_DEPTH];
	size_t n = node_tokens(parent, tok);

	if (n == COUNTER_MAX_DEPTH || counter_token_valid(name) < 0)
		return -EINVAL;
	tok[n++] = name;
	return store_counter_mkkey(fs->ctx.store, tok, n);
}

static int do_mkdir(fuse_req_t req, struct fs *fs, const char *path, const struct node *parent,
		    const char *name)
{
	struct node n;

	if (node_resolve(&fs->ctx, path, &n) == 0)
		return -EEXIST;
	switch (parent->kind) {
	case N_LK_SERIES:
		return take_lock_dir(req, fs, parent, name);
	case N_CNT_DIR:
		return make_counter_key(fs, parent, name);
	case N_CHARMS:
	case N_CH_USER:
	case N_PUBLISH:
	case N_PUB_USER:
	case N_LOCKS:
	case N_LK_USER:
		/* Valid series and ~user names always exist; anything else is not a URL part. */
		return -EINVAL;
	default:
		return -EACCES;
	}
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	char *ppath, *path = NULL;
	struct node pn, n;
	int r = fs_resolve_ino(fs, parent, &ppath, &pn);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	path = fs_child_path(ppath, name);
	r = path ? do_mkdir(req, fs, path, &pn, name) : -ENOMEM;
	if (r == 0)
		r = node_resolve(&fs->ctx, path, &n);
	if (r == 0)
		r = fs_make_entry(fs, path, &n, &e);
	if (r < 0) {
		fs_fail("mkdir", path ? path : ppath, -r, NULL);
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
	free(path);
	free(ppath);
}

/* "/TOP[/~user]/series", then "/name" when with_name: u's directory under charms/ or locks/. */
static void url_dir(char *out, size_t len, const char *top, const struct url *u, bool with_name)
{
	snprintf(out, len, "/%s%s%s/%s%s%s", top, u->user[0] ? "/~" : "", u->user, u->series,
		 with_name ? "/" : "", with_name ? u->name : "");
}

/*
 * The listings a change of u's revisions may change: charms/, charms/~user,
 * the series and the name. The kernel caches them (node_listing_notified()).
 */
static void invalidate_listings(struct notify_batch *b, const struct url *u)
{
	char dir[512];

	notify_inode(b, "/charms");
	if (u->user[0]) {
		snprintf(dir, sizeof(dir), "/charms/~%s", u->user);
		notify_inode(b, dir);
	}
	url_dir(dir, sizeof(dir), "charms", u, false);
	notify_inode(b, dir);
	url_dir(dir, sizeof(dir), "charms", u, true);
	notify_inode(b, dir);
}

/* A name's dentry, negative before its first publish and after its last rmdir. */
static void invalidate_name(struct notify_batch *b, const struct url *u)
{
	char dir[512];

	url_dir(dir, sizeof(dir), "charms", u, false);
	notify_entry(b, dir, u->name);
}

void fs_invalidate_lock(struct notify_batch *b, const struct url *u)
{
	char dir[512];

	url_dir(dir, sizeof(dir), "locks", u, false);
	notify_entry(b, dir, u->name);
}

static void invalidate_url(struct notify_batch *b, const struct url *u, int revision)
{
	char name[512], child[600];

	invalidate_name(b, u);
	invalidate_listings(b, u);
	url_dir(name, sizeof(name), "charms", u, true);
	if (revision >= 0) {
		snprintf(child, sizeof(child), "%d", revision);
		notify_entry(b, name, child);
	}
	snprintf(child, sizeof(child), "%s/latest", name);
	notify_inode(b, child);
	snprintf(child, sizeof(child), "%s/events", name);
	notify_inode(b, child);
	/* The publish held the URL's lock while it ran. */
	fs_invalidate_lock(b, u);
}

void fs_invalidate_publish(struct fs *fs, const struct url *urls, size_t n, int revision)
{
	struct notify_batch *b = notify_batch_new(fs->notifier);

	for (size_t i = 0; i < n; i++)
		invalidate_url(b, &urls[i], revision);
	notify_inode(b, "/events");
	notify_batch_run(b);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	char *ppath, *path = NULL;
	struct node n;
	int r = fs_resolve_ino(fs, parent, &ppath, &n);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	path = fs_child_path(ppath, name);
	r = path ? node_resolve(&fs->ctx, path, &n) : -ENOMEM;
	if (r == 0 && (n.kind == N_LK_NAME || n.kind == N_CNT_DIR)) {
		/* A lock or a counter key: gone from the database, nothing else to tell. */
		const char *tok[COUNTER_MAX_DEPTH];
		r = n.kind == N_LK_NAME
			    ? store_lock_release_url(fs->ctx.store, &n.url)
			    : store_counter_rmkey(fs->ctx.store, tok, node_tokens(&n, tok));
		if (r == 0)
			inode_detach(fs->inodes, path);
		else
			fs_fail("rmdir", path, -r, NULL);
		free(path);
		free(ppath);
		fuse_reply_err(req, -r);
		return;
	}
	if (r == 0 && n.kind != N_CH_REV && n.kind != N_CH_NAME)
		r = -EACCES;
	if (r == 0)
		r = store_delete(fs->ctx.store, &n.url, n.kind == N_CH_REV ? n.revision : -1,
				 fuse_req_ctx(req)->uid);
	if (r == 0) {
		struct notify_batch *b = notify_batch_new(fs->notifier);
		char latest[PATH_MAX];
		inode_detach(fs->inodes, path);
		invalidate_listings(b, &n.url);
		if (n.kind == N_CH_REV) {
			int last;
			snprintf(latest, sizeof(latest), "%s/latest", ppath);
			notify_inode(b, latest);
			if (store_latest(fs->ctx.store, &n.url, &last) == -ENOENT)
				invalidate_name(b, &n.url);
		}
		notify_batch_run(b);
	} else if (r != -ENOENT) {
		fs_fail("rmdir", path ? path : ppath, -r, NULL);
	}
	free(path);
	free(ppath);
	fuse_reply_err(req, -r);
}

/* Links, symlinks and device nodes have no place anywhere in the tree. */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	char *ppath = inode_path(fs_of(req)->inodes, parent);

	fs_fail("symlink", ppath ? ppath : "?", EACCES, name);
	free(ppath);
	fuse_reply_err(req, EACCES);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	char *ppath = inode_path(fs_of(req)->inodes, parent);

	fs_fail("link", ppath ? ppath : "?", EACCES, name);
	free(ppath);
	fuse_reply_err(req, EACCES);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	char *ppath = inode_path(fs_of(req)->inodes, parent);

	fs_fail("mknod", ppath ? ppath : "?", EACCES, name);
	free(ppath);
	fuse_reply_err(req, EACCES);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv;

	if (statvfs(store_scratch_dir(fs->ctx.store), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* Stored files reach the kernel by splice, without a copy through our memory. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* `latest` is invalidated with the rest of a publish; the others never change. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	conn->max_write = 1024 * 1024;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = fsfile_setattr,
	.readlink = op_readlink,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.mknod = op_mknod,
	.unlink = fsfile_unlink,
	.rmdir = op_rmdir,
	.rename = fsfile_rename,
	.open = fsfile_open,
	.read = fsfile_read,
	.write = fsfile_write,
	.flush = fsfile_flush,
	.release = fsfile_release,
	.fsync = fsfile_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.create = fsfile_create,
};
